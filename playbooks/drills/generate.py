#!/usr/bin/env python3
"""Writes the log files of the bundled drill scenarios (standard library only).

Every address is from the documentation ranges (192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24) or private ranges; no real malware, no
real domain. Timestamps are ISO syslog times a few seconds apart, so the
correlation rules (ten failures in ten minutes, …) see them as one burst.

phishing-attachment/mail.pcap is a classic pcap of one SMTP delivery whose
attachment is the EICAR anti-malware test string (harmless), for
`canhgac replay --yara bundled`. Its timestamps are fixed, so every run
writes the same bytes.
Run from anywhere: python3 generate.py (paths are relative to this folder)
"""
import base64, calendar, os, random, struct

os.chdir(os.path.dirname(os.path.abspath(__file__)))

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

# 6. the phishing mail itself, as a capture: one SMTP session, whose
# attachment decodes to the EICAR test string
def ip_checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF

def ip4(a):
    return bytes(int(x) for x in a.split("."))

def write_smtp_pcap(path):
    """One complete TCP session, client 192.0.2.140:49152 → mail server
    192.168.10.25:25: handshake, an SMTP delivery (message data cut into
    segments of at most 1400 bytes), FIN teardown. Classic pcap, Ethernet."""
    # The test string is split so this script is not itself flagged by an
    # antivirus; the checks make sure it is exactly the 68 standard bytes.
    eicar = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")
    assert len(eicar) == 68

    def b64_lines(data):
        e = base64.b64encode(data).decode("ascii")
        return [e[i:i + 76] for i in range(0, len(e), 76)]

    def word(text):  # RFC 2047 encoded word, UTF-8, base64
        return "=?UTF-8?B?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="

    boundary = "----=_Part_20261102_0815_7f3a9c"
    body_text = (
        "Kính gửi Quý đơn vị,\r\n\r\n"
        "Cục Thuế thông báo: đơn vị có khoản hoàn thuế giá trị gia tăng "
        "năm 2026 chưa được nhận. Để tránh bị hủy khoản hoàn, đề nghị cán bộ kế "
        "toán mở tệp đính kèm, điền thông tin tài khoản và gửi lại trước 17 giờ "
        "ngày 04/11/2026.\r\n\r\n"
        "Tệp đính kèm: hoan-thue.zip.exe (biểu mẫu xác nhận hoàn thuế).\r\n\r\n"
        "Trân trọng,\r\n"
        "Bộ phận hỗ trợ người nộp thuế\r\n"
        "Cục Thuế\r\n"
    )
    msg = [
        "Return-Path: <ho-tro@ho-tro-thue.example>",
        "From: " + word("Cục Thuế - Hỗ trợ") + " <ho-tro@ho-tro-thue.example>",
        "To: <ketoan@phuong-tan-an.example>",
        "Subject: " + word("Thông báo hoàn thuế"),
        "Date: Mon, 02 Nov 2026 15:14:58 +0700",
        "Message-ID: <20261102081458.7f3a9c@ho-tro-thue.example>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="' + boundary + '"',
        "",
        "This is a multi-part message in MIME format.",
        "",
        "--" + boundary,
        "Content-Type: text/plain; charset=UTF-8",
        "Content-Transfer-Encoding: base64",
        "",
        *b64_lines(body_text.encode("utf-8")),
        "",
        "--" + boundary,
        'Content-Type: application/octet-stream; name="hoan-thue.zip.exe"',
        "Content-Transfer-Encoding: base64",
        'Content-Disposition: attachment; filename="hoan-thue.zip.exe"',
        "",
        *b64_lines(eicar),
        "",
        "--" + boundary + "--",
        "",
    ]
    # dot-stuffing (RFC 5321 4.5.2), then the end-of-data line
    data = "".join(("." + l if l.startswith(".") else l) + "\r\n" for l in msg)
    data = data.encode("ascii") + b".\r\n"

    C, S = "c", "s"  # who sends
    # (sender, payload) of the SMTP dialogue; a DATA body is cut below
    dialogue = [
        (S, b"220 mail.phuong-tan-an.example ESMTP Postfix\r\n"),
        (C, b"EHLO ho-tro-thue.example\r\n"),
        (S, b"250-mail.phuong-tan-an.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
            b"250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 DSN\r\n"),
        (C, b"MAIL FROM:<ho-tro@ho-tro-thue.example>\r\n"),
        (S, b"250 2.1.0 Ok\r\n"),
        (C, b"RCPT TO:<ketoan@phuong-tan-an.example>\r\n"),
        (S, b"250 2.1.5 Ok\r\n"),
        (C, b"DATA\r\n"),
        (S, b"354 End data with <CR><LF>.<CR><LF>\r\n"),
        (C, data),
        (S, b"250 2.0.0 Ok: queued as 4F1A2B3C5D\r\n"),
        (C, b"QUIT\r\n"),
        (S, b"221 2.0.0 Bye\r\n"),
    ]

    ends = {
        C: dict(mac=bytes.fromhex("020000000001"), ip=ip4("192.0.2.140"), port=49152,
                seq=0x1A2B3C4D, ipid=0x3A10, win=64240, ttl=52),
        S: dict(mac=bytes.fromhex("020000000002"), ip=ip4("192.168.10.25"), port=25,
                seq=0x5E6F7081, ipid=0x7C20, win=65160, ttl=64),
    }
    FIN, SYN, PSH, ACK = 0x01, 0x02, 0x08, 0x10
    t0 = calendar.timegm((2026, 11, 2, 8, 15, 0)) * 1_000_000  # µs
    packets = []  # (µs, frame)
    clock = [t0]

    def send(who, flags, payload=b"", gap_us=2000):
        me, peer = ends[who], ends[S if who == C else C]
        opts = b""
        if flags & SYN:  # MSS 1460, so the 1400-byte segments fit
            opts = struct.pack("!BBH", 2, 4, 1460)
        off = (20 + len(opts)) // 4
        ack = peer["seq"] if flags & ACK else 0
        hdr = struct.pack("!HHIIBBHHH", me["port"], peer["port"], me["seq"], ack,
                          off << 4, flags, me["win"], 0, 0) + opts
        seg = hdr + payload
        pseudo = me["ip"] + peer["ip"] + struct.pack("!BBH", 0, 6, len(seg))
        csum = ip_checksum(pseudo + seg)
        seg = seg[:16] + struct.pack("!H", csum) + seg[18:]
        iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), me["ipid"], 0x4000,
                          me["ttl"], 6, 0, me["ip"], peer["ip"])
        iph = iph[:10] + struct.pack("!H", ip_checksum(iph)) + iph[12:]
        frame = peer["mac"] + me["mac"] + b"\x08\x00" + iph + seg
        clock[0] += gap_us
        packets.append((clock[0], frame))
        me["ipid"] = (me["ipid"] + 1) & 0xFFFF
        me["seq"] = (me["seq"] + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF

    # three-way handshake (the client's SYN opens the capture at t0)
    clock[0] -= 2000
    send(C, SYN)
    send(S, SYN | ACK, gap_us=1200)
    send(C, ACK, gap_us=1300)
    for who, payload in dialogue:
        if len(payload) <= 1400:
            send(who, PSH | ACK, payload, gap_us=4000 if who == S else 3000)
            continue
        # message data: segments of at most 1400 bytes, each acknowledged
        for i in range(0, len(payload), 1400):
            chunk = payload[i:i + 1400]
            last = i + 1400 >= len(payload)
            send(who, (PSH | ACK) if last else ACK, chunk, gap_us=1000)
            send(S if who == C else C, ACK, gap_us=800)
    # teardown: the client closes after 221, the server answers with its FIN
    send(C, FIN | ACK, gap_us=1500)
    send(S, FIN | ACK, gap_us=1200)
    send(C, ACK, gap_us=1300)

    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # linktype 1: Ethernet
    for us, frame in packets:
        out += struct.pack("<IIII", us // 1_000_000, us % 1_000_000, len(frame), len(frame)) + frame
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(out)

write_smtp_pcap("phishing-attachment/mail.pcap")
