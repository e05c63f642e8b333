#!/usr/bin/env sh
# Installs what building and testing canhgac needs on Debian, if missing:
# libpcap-dev (live capture), libssl-dev (libcrypto, which the vendored
# libyara uses for PE signatures and the hash module), pkg-config, and
# Chromium with its WebDriver (the console test drives a real headless
# browser), poppler-utils (pdftotext reads the PDF reports back in the
# tests), and aiosmtpd from PyPI
# (the mail tests send to a real SMTP server on loopback). Uses sudo when
# not root.
set -eu
need=""
for pkg in libpcap-dev libssl-dev pkg-config chromium chromium-driver poppler-utils; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
done
if [ -n "$need" ]; then
    echo "canhgac: installing$need" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $need
fi
if ! python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
    echo "canhgac: installing aiosmtpd (pip)" >&2
    python3 -m pip install -q aiosmtpd 2>/dev/null || python3 -m pip install -q --break-system-packages aiosmtpd
fi
command -v cargo >/dev/null 2>&1 || { echo "canhgac: Rust (cargo) is needed: https://rustup.rs" >&2; exit 1; }
