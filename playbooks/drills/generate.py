#!/usr/bin/env python3
"""Writes the log files of the bundled drill scenarios (standard library only).

Every address is from the documentation ranges (192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24) or private ranges; no real malware, no
real domain. Timestamps are ISO syslog times a few seconds apart, so the
correlation rules (ten failures in ten minutes, …) see them as one burst.
Run from this folder: python3 generate.py
"""
import os, random

random.seed(7)
T0 = "2026-11-26T09:00:{:02d}+07:00"

def write(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")

def t(i):
    return "2026-11-26T09:{:02d}:{:02d}+07:00".format(i // 60, i % 60)

# 1. mail brute force ending in a successful login
atk = "203.0.113.45"
users = ["vanthu", "ketoan", "chutich", "vanphong", "motcua"]
fail = []
for i in range(14):
    u = users[i % len(users)]
    if i % 2:
        fail.append(f"{t(i*3)} mail postfix/smtpd[4{i:03d}]: warning: unknown[{atk}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username={u}@xamyyen.example")
    else:
        fail.append(f"{t(i*3)} mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<{u}@xamyyen.example>, method=PLAIN, rip={atk}, lip=10.20.30.25, session=<s{i}>")
write("mail-bruteforce/failures.log", fail)
write("mail-bruteforce/success.log", [
    f"{t(60)} mail dovecot: imap-login: Login: user=<ketoan@xamyyen.example>, method=PLAIN, rip={atk}, lip=10.20.30.25, mpid=5123, TLS, session=<ok1>",
    f"{t(64)} mail postfix/smtpd[4200]: 6B1F2C0A11: client=unknown[{atk}], sasl_method=LOGIN, sasl_username=ketoan@xamyyen.example",
])

# 2. web shell uploaded to the portal, then the portal defaced
web = "198.51.100.23"
def clf(i):
    return "26/Nov/2026:10:{:02d}:{:02d} +0700".format(i // 60, i % 60)
write("webshell-defacement/access.log", [
    f'{web} - - [{clf(0)}] "GET /lien-he HTTP/1.1" 200 5120 "-" "Mozilla/5.0 (X11; Linux x86_64)"',
    f'{web} - - [{clf(5)}] "POST /wp-admin/admin-ajax.php?action=upload HTTP/1.1" 200 64 "-" "Mozilla/5.0 (X11; Linux x86_64)"',
    f'{web} - - [{clf(9)}] "GET /wp-content/uploads/2026/11/tin-tuc.php?cmd=id HTTP/1.1" 200 41 "-" "Mozilla/5.0 (X11; Linux x86_64)"',
    f'{web} - - [{clf(14)}] "GET /wp-content/uploads/2026/11/tin-tuc.php?cmd=ls%20-la HTTP/1.1" 200 880 "-" "Mozilla/5.0 (X11; Linux x86_64)"',
    f'{web} - - [{clf(20)}] "POST /wp-content/uploads/2026/11/tin-tuc.php?cmd=cp%20hacked.html%20index.html HTTP/1.1" 200 12 "-" "Mozilla/5.0 (X11; Linux x86_64)"',
])

# 3. a PC beaconing over DNS to generated names
pc = "10.20.30.77"
names = ["".join(random.choice("bcdfghjklmnpqrstvwxz0123456789") for _ in range(12)) + ".top" for _ in range(12)]
write("dns-beaconing/queries.log", [
    f"{t(i*5)} ns1 named[464]: client @0x7f3a {pc}#{40000+i} ({n}): query: {n} IN A +" for i, n in enumerate(names)
])

# 4. a phishing mail whose attachment the mail server's antivirus catches
write("phishing-attachment/mail.log", [
    f"{t(0)} mail postfix/smtpd[5100]: 9C2E1F0B22: client=unknown[192.0.2.140]",
    f"{t(1)} mail postfix/cleanup[5101]: 9C2E1F0B22: message-id=<thong-bao-thue@ho-tro-thue.example>",
    f"{t(2)} mail clamd[811]: /var/spool/amavis/tmp/parts/p003: Trojan.Doc.Dropper-1234 FOUND",
    f"{t(3)} mail postfix/qmgr[5102]: 9C2E1F0B22: from=<ho-tro@ho-tro-thue.example>, size=48211, nrcpt=3 (queue active)",
])

# 5. internal scanning before ransomware: one PC probes the LAN's file shares
scanner = "10.20.30.66"
lines = []
for i in range(40):
    dst = f"10.20.30.{10+i}"
    port = 445 if i % 2 == 0 else 3389
    lines.append(f"{t(i)} gw kernel: [UFW BLOCK] IN=eth1 OUT=eth0 SRC={scanner} DST={dst} LEN=52 TOS=0x00 PREC=0x00 TTL=128 ID={1000+i} DF PROTO=TCP SPT={50000+i} DPT={port} WINDOW=64240 RES=0x00 SYN URGP=0")
lines.append(f"{t(50)} fs01 clamd[902]: /srv/share/ke-toan/README-GIAI-MA.txt.exe: Trojan.Ransom.Test-0001 FOUND")
write("scan-ransomware/firewall.log", lines)
