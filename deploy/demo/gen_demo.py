#!/usr/bin/env python3
"""Deterministic generator for canhgac's bundled demo data.

Writes, next to this script:

* demo.pcap -- classic pcap (Ethernet, microsecond timestamps) of about twelve
  minutes of traffic seen on the LAN side of the gateway of a fictional commune
  ward office (10.20.30.0/24) on 2026-11-20 from 08:00:00 UTC;
* demo.log  -- sshd / nginx / postfix lines from the same ward's servers for
  the same events, with matching times, addresses and source ports.

Everything is made up by the canhgac project: hosts use documentation address
ranges (198.51.100.0/24, 203.0.113.0/24), reserved names (.example, .test) and
documentation MAC addresses (00:00:5e:00:53:xx). Payloads are inert strings;
the "encrypted" SSH records are random bytes. No real malware, no real
credentials.

Standard library only. The output is byte-for-byte the same on every run:

    python3 deploy/demo/gen_demo.py
"""

import base64
import datetime
import email.utils
import os
import random
import struct

SEED = 20261120
BASE = datetime.datetime(2026, 11, 20, 8, 0, 0, tzinfo=datetime.timezone.utc)
BASE_TS = int(BASE.timestamp())
HERE = os.path.dirname(os.path.abspath(__file__))

rng = random.Random(SEED)

# --- the ward's network ------------------------------------------------------
GW = "10.20.30.1"          # gateway, also the LAN's DNS resolver
PORTAL = "10.20.30.10"     # ward web portal (nginx) + sshd, host "portal-phuong"
MAIL = "10.20.30.12"       # ward mail relay (postfix), host "mail-phuong"
CITIZEN = "203.0.113.80"   # provincial citizen-services portal
SCANNER = "203.0.113.66"   # external scanner
C2 = "198.51.100.23"       # demo "C2" beacon endpoint
BEACON_HOST = "10.20.30.55"

CITIZEN_NAME = "dichvucong.tinh-demo.example"
WARD_NAME = "ubnd-phuong.example"
C2_NAME = "update-check.example-c2.test"

DNS_ZONE = {
    CITIZEN_NAME: CITIZEN,
    WARD_NAME: PORTAL,
    C2_NAME: C2,
    "time.example.net": "198.51.100.5",
    "cdn.example.net": "203.0.113.90",
    "ocsp.example.net": "198.51.100.40",
    "mail." + WARD_NAME: MAIL,
}

LINUX = {GW, PORTAL, MAIL}
EXT_TTL = {CITIZEN: 57, SCANNER: 46, C2: 49}

UA_EDGE = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
           "(KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0")
UA_CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
             "(KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36")
UA_SCANNER = "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0"
UA_BEACON = "canhgac-demo-beacon/1.0"

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def in_lan(ip):
    return ip.startswith("10.20.30.")


def mac(ip):
    # Off-LAN addresses are reached through the gateway's MAC.
    last = int(ip.rsplit(".", 1)[1]) if in_lan(ip) else 1
    return bytes([0x00, 0x00, 0x5E, 0x00, 0x53, last])


def ipb(ip):
    return bytes(int(x) for x in ip.split("."))


def ttl(ip):
    if in_lan(ip):
        return 64 if ip in LINUX else 128
    return EXT_TTL.get(ip, 52)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ts(t):
    """Offset in seconds from BASE -> aware datetime."""
    return BASE + datetime.timedelta(seconds=t)


# --- capture -------------------------------------------------------------------
class Capture:
    def __init__(self):
        self.pkts = []
        self.ipid = {}

    def ip(self, t, src, dst, proto, l4, df):
        ident = self.ipid.get(src)
        if ident is None:
            ident = rng.randrange(1, 0xFFFF)
        self.ipid[src] = (ident + 1) & 0xFFFF
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident,
                          0x4000 if df else 0, ttl(src), proto, 0, ipb(src), ipb(dst))
        hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
        frame = mac(dst) + mac(src) + b"\x08\x00" + hdr + l4
        self.pkts.append((round(t * 1e6), len(self.pkts), frame))

    def tcp(self, t, src, sport, dst, dport, seq, ack, flags, payload=b"", win=64240, opts=b""):
        off = (20 + len(opts)) // 4
        hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                          off << 4, flags, win, 0, 0) + opts
        pseudo = ipb(src) + ipb(dst) + struct.pack("!BBH", 0, 6, len(hdr) + len(payload))
        c = csum(pseudo + hdr + payload)
        hdr = hdr[:16] + struct.pack("!H", c) + hdr[18:]
        self.ip(t, src, dst, 6, hdr + payload, True)

    def udp(self, t, src, sport, dst, dport, payload):
        hdr = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
        pseudo = ipb(src) + ipb(dst) + struct.pack("!BBH", 0, 17, 8 + len(payload))
        c = csum(pseudo + hdr + payload) or 0xFFFF
        hdr = hdr[:6] + struct.pack("!H", c)
        self.ip(t, src, dst, 17, hdr + payload, False)

    def write(self, path):
        self.pkts.sort(key=lambda p: (p[0], p[1]))
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for us, _, frame in self.pkts:
                sec, usec = divmod(BASE_TS * 1_000_000 + us, 1_000_000)
                f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
                f.write(frame)


cap = Capture()
LOG = []  # (t, line)

_ports = {}


def eport(ip):
    """Next ephemeral source port of a host."""
    if ip not in _ports:
        _ports[ip] = rng.randrange(49700, 60000) if ip != SCANNER else rng.randrange(33000, 40000)
    _ports[ip] += rng.randrange(1, 4)
    return _ports[ip]


def rtt_of(ip):
    """Round trip between the capture point and a host."""
    if in_lan(ip):
        return 0.0002 + rng.random() * 0.0003
    if ip == SCANNER:
        return 0.17 + rng.random() * 0.02
    return 0.028 + rng.random() * 0.012


def syslog(t, host, prog, msg):
    stamp = ts(t).strftime("%b %d %H:%M:%S")  # RFC 3164 TIMESTAMP ("Nov 20 08:03:12")
    LOG.append((t, f"{stamp} {host} {prog}: {msg}"))


# --- TCP -------------------------------------------------------------------------
class Conn:
    """A TCP connection; 'c' is the client side, 's' the server side."""

    def __init__(self, t, cli, srv, sport, cport=None):
        self.t = t + rng.random() * 0.05  # keep timestamps off round numbers
        self.ep = {"c": (cli, cport or eport(cli)), "s": (srv, sport)}
        self.rtt = {"c": rtt_of(cli), "s": rtt_of(srv)}
        self.win = {"c": 64240,
                    "s": 65160 if srv in LINUX else 65535}
        self.nxt = {"c": rng.getrandbits(32), "s": rng.getrandbits(32)}
        self.unacked = {"c": 0, "s": 0}
        self.last = None

    @property
    def cport(self):
        return self.ep["c"][1]

    @staticmethod
    def other(side):
        return "s" if side == "c" else "c"

    def _pkt(self, t, side, flags, payload=b"", opts=b""):
        o = self.other(side)
        (src, sp), (dst, dp) = self.ep[side], self.ep[o]
        ack = self.nxt[o] if flags & ACK else 0
        cap.tcp(t, src, sp, dst, dp, self.nxt[side], ack, flags, payload, self.win[side], opts)
        self.nxt[side] = (self.nxt[side] + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF

    def when(self, side, proc):
        if self.last == side:
            return self.t + proc
        return self.t + self.rtt[side] + proc

    def open(self):
        opts = struct.pack("!BBH", 2, 4, 1460) + b"\x01\x01\x04\x02"
        self._pkt(self.t, "c", SYN, opts=opts)
        self.t += self.rtt["s"]
        self._pkt(self.t, "s", SYN | ACK, opts=opts)
        self.t += self.rtt["c"]
        self._pkt(self.t, "c", ACK)
        self.last = "c"
        return self

    def send(self, side, data, proc=0.0005):
        """side sends data proc seconds after it saw the last packet; returns
        the capture time of the first segment."""
        o = self.other(side)
        t = self.when(side, proc)
        if self.unacked[side] and self.last != side and proc > 0.04:
            self._pkt(self.t + self.rtt[side] + 0.04, side, ACK)  # delayed ACK
            self.unacked[side] = 0
        first = t
        chunks = [data[i:i + 1460] for i in range(0, len(data), 1460)]
        for i, ch in enumerate(chunks):
            self._pkt(t, side, ACK | (PSH if i == len(chunks) - 1 else 0), ch)
            self.unacked[o] += 1
            if self.unacked[o] >= 2:
                self._pkt(t + self.rtt[o], o, ACK)
                self.unacked[o] = 0
            last_t = t
            t += 0.00008 + rng.random() * 0.00006
        self.unacked[side] = 0
        self.t, self.last = last_t, side
        return first

    def close(self, side, proc=0.0005):
        o = self.other(side)
        t = self.when(side, proc)
        if self.unacked[side] and self.last != side and proc > 0.04:
            self._pkt(self.t + self.rtt[side] + 0.04, side, ACK)
        self._pkt(t, side, FIN | ACK)
        t += self.rtt[o]
        self._pkt(t, o, FIN | ACK)
        t += self.rtt[side]
        self._pkt(t, side, ACK)
        self.unacked = {"c": 0, "s": 0}
        self.t, self.last = t, side
        return t


# --- DNS -------------------------------------------------------------------------
def qname(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def dns_lookup(t, cli, name):
    """A query from cli to the gateway's resolver and its answer."""
    t += rng.random() * 0.05
    qid = rng.getrandbits(16)
    sport = eport(cli)
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname(name) + struct.pack("!HH", 1, 1)
    cap.udp(t, cli, sport, GW, 53, q)
    addr = DNS_ZONE[name]
    cached = in_lan(addr)
    t2 = t + (0.0004 if cached else 0.012 + rng.random() * 0.025)
    ans = (struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + qname(name) + struct.pack("!HH", 1, 1)
           + struct.pack("!HHHIH", 0xC00C, 1, 1, 300, 4) + ipb(addr))
    cap.udp(t2, GW, 53, cli, sport, ans)
    return t2


# --- HTTP content ------------------------------------------------------------------
TTHC = [
    "Đăng ký khai sinh", "Đăng ký kết hôn", "Chứng thực bản sao từ bản chính",
    "Xác nhận tình trạng hôn nhân", "Đăng ký thường trú", "Cấp bản sao trích lục hộ tịch",
    "Đăng ký khai tử", "Chứng thực chữ ký", "Hỗ trợ hộ nghèo", "Cấp giấy phép xây dựng nhà ở",
    "Đăng ký hộ kinh doanh", "Xác nhận cư trú", "Đăng ký giám hộ", "Thay đổi, cải chính hộ tịch",
]
NEWS = [
    "Lịch tiếp công dân tháng 11", "Thông báo thu thuế đất phi nông nghiệp",
    "Kết quả giải quyết hồ sơ tuần 46", "Hướng dẫn nộp hồ sơ trực tuyến mức độ toàn trình",
    "Tuyên truyền phòng, chống lừa đảo qua mạng", "Kế hoạch tiêm chủng mở rộng",
]
FOOTER = "Dữ liệu minh họa của dự án canhgac — không phải trang thật."


def html(title, items, n):
    lis = "".join(
        f'<li><a href="/thu-tuc/{i:04d}">{rng.choice(items)}</a> — '
        f"mã hồ sơ mẫu {rng.randrange(1000, 9999)}, thời hạn {rng.randrange(1, 15)} ngày làm việc</li>\n"
        for i in range(n))
    return (f'<!DOCTYPE html>\n<html lang="vi">\n<head><meta charset="utf-8"><title>{title}</title>\n'
            '<link rel="stylesheet" href="/static/css/main.css">\n'
            '<script src="/static/js/app.js" defer></script></head>\n<body>\n'
            f'<header><img src="/static/img/quoc-huy.png" alt="logo"><h1>{title}</h1></header>\n'
            f"<main><ul>\n{lis}</ul></main>\n<footer>{FOOTER}</footer>\n</body>\n</html>\n").encode()


def css(n):
    return "".join(f".khoi-{i} {{ margin: {i % 7}px; color: #{rng.getrandbits(24):06x}; }}\n"
                   for i in range(n)).encode()


def js(n):
    return ("// canhgac demo script (inert)\n" + "".join(
        f"function buoc{i}(el) {{ if (el) {{ el.dataset.buoc = '{i}'; }} return {i}; }}\n"
        for i in range(n))).encode()


def png(n):
    return b"\x89PNG\r\n\x1a\n" + rng.randbytes(n)


CITIZEN_SITE = {
    "/": ("text/html; charset=utf-8", html("Cổng Dịch vụ công tỉnh (minh họa)", TTHC, 28)),
    "/static/css/main.css": ("text/css", css(45)),
    "/static/js/app.js": ("application/javascript", js(70)),
    "/static/img/quoc-huy.png": ("image/png", png(2300)),
    "/thu-tuc-hanh-chinh": ("text/html; charset=utf-8", html("Thủ tục hành chính", TTHC, 36)),
    "/thu-tuc-hanh-chinh?linh-vuc=ho-tich": ("text/html; charset=utf-8", html("Lĩnh vực hộ tịch", TTHC[:8], 22)),
    "/tra-cuu-ho-so": ("text/html; charset=utf-8", html("Tra cứu hồ sơ", TTHC, 12)),
    "/dang-nhap": ("text/html; charset=utf-8", html("Đăng nhập", TTHC, 4)),
    "/ca-nhan": ("text/html; charset=utf-8", html("Trang cá nhân", TTHC, 16)),
}

WARD_SITE = {
    "/": ("text/html; charset=utf-8", html("UBND phường (minh họa)", NEWS, 18)),
    "/static/site.css": ("text/css", css(30)),
    "/static/logo.png": ("image/png", png(1800)),
    "/tin-tuc": ("text/html; charset=utf-8", html("Tin tức", NEWS, 20)),
    "/lich-tiep-cong-dan": ("text/html; charset=utf-8", html("Lịch tiếp công dân", NEWS, 10)),
    "/robots.txt": ("text/plain", b"User-agent: *\nDisallow: /quan-tri/\n"),
    "/tra-cuu": ("text/html; charset=utf-8",
                 "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Tra cứu</title></head>\n"
                 "<body><p>Không tìm thấy hồ sơ phù hợp.</p></body></html>\n".encode()),
}

NGINX_ERR = {
    403: b"<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n"
         b"<center><h1>403 Forbidden</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
    404: b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
         b"<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
}
REASON = {200: "OK", 302: "Found", 304: "Not Modified", 403: "Forbidden", 404: "Not Found"}
LAST_MOD = "Mon, 02 Nov 2026 01:30:00 GMT"


def http_req(method, path, host, ua, extra=(), body=b""):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"User-Agent: {ua}"]
    lines += list(extra)
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def http_resp(t, status, ctype=None, body=b"", keep=True, extra=()):
    lines = [f"HTTP/1.1 {status} {REASON[status]}", "Server: nginx",
             "Date: " + email.utils.formatdate(BASE_TS + t, usegmt=True)]
    if status != 304:
        lines += [f"Content-Type: {ctype or 'text/html'}", f"Content-Length: {len(body)}"]
    lines.append("Connection: keep-alive" if keep else "Connection: close")
    if status in (200, 304) and ctype and not ctype.startswith("text/html"):
        lines.append(f"Last-Modified: {LAST_MOD}")
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body if status != 304 else b"")


def nginx_line(t, cli, method, path, status, nbytes, referer, ua):
    stamp = ts(t).strftime("%d/%b/%Y:%H:%M:%S +0000")
    LOG.append((t, f'{cli} - - [{stamp}] "{method} {path} HTTP/1.1" {status} {nbytes} "{referer}" "{ua}"'))


BROWSER_HDRS = ("Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                "Accept-Language: vi-VN,vi;q=0.9,en-US;q=0.8,en;q=0.7",
                "Accept-Encoding: gzip, deflate", "Connection: keep-alive")


def browse(t, cli, srv, host, site, steps, ua, logged=False, idle_close=15.0):
    """One keep-alive browser connection. steps: (think, method, path, body, cached)."""
    c = Conn(t, cli, srv, 80).open()
    ref = ""
    for think, method, path, body, cached in steps:
        hdrs = list(BROWSER_HDRS)
        if ref:
            hdrs.append(f"Referer: http://{host}{ref}")
        if cached:
            hdrs.append(f"If-Modified-Since: {LAST_MOD}")
        if body:
            hdrs.append("Content-Type: application/x-www-form-urlencoded")
        c.send("c", http_req(method, path, host, ua, hdrs, body), think)
        if method == "POST":
            status, ctype, rbody = 302, "text/html", b""
            extra = ("Location: /ca-nhan", "Set-Cookie: phien=demo-" + "%08x" % rng.getrandbits(32) + "; HttpOnly")
        else:
            ctype, rbody = site[path.split("?")[0] if path not in site else path]
            status, extra = (304, ()) if cached else (200, ())
        proc = 0.003 + rng.random() * (0.04 if ctype.startswith("text/html") else 0.004)
        st = c.send("s", http_resp(c.t + c.rtt["s"] + proc, status, ctype, rbody, extra=extra), proc)
        if logged:
            nginx_line(st, cli, method, path, status, 0 if status == 304 else len(rbody),
                       f"http://{host}{ref}" if ref else "-", ua)
        if path.split("?")[0] in ("/", "/tin-tuc", "/thu-tuc-hanh-chinh", "/dang-nhap", "/tra-cuu-ho-so",
                                  "/lich-tiep-cong-dan"):
            ref = path
    c.close("s", idle_close)
    return c.t


ASSETS_C = ["/static/css/main.css", "/static/js/app.js", "/static/img/quoc-huy.png"]


def visit_citizen(t, cli, kind, ua=UA_EDGE, dns=True):
    if dns:
        t = dns_lookup(t, cli, CITIZEN_NAME) + 0.002
    fast = lambda: 0.002 + rng.random() * 0.01
    read = lambda: 4 + rng.random() * 20
    if kind == "A":     # first visit: home page, assets, list of procedures
        steps = [(0.001, "GET", "/", b"", False)] + [(fast(), "GET", a, b"", False) for a in ASSETS_C]
        steps += [(read(), "GET", "/thu-tuc-hanh-chinh", b"", False),
                  (read(), "GET", "/thu-tuc-hanh-chinh?linh-vuc=ho-tich", b"", False)]
    elif kind == "B":
        steps = [(0.001, "GET", "/", b"", False)] + [(fast(), "GET", a, b"", False) for a in ASSETS_C]
        steps += [(read(), "GET", "/tra-cuu-ho-so", b"", False)]
    elif kind == "C":   # returning visitor, assets cached
        steps = [(0.001, "GET", "/", b"", False)] + [(fast(), "GET", a, b"", True) for a in ASSETS_C]
        steps += [(read(), "GET", "/tra-cuu-ho-so", b"", False)]
    else:               # "L": log in over plain HTTP (policy violation)
        user = {"10.20.30.21": "tuphap.ntlan", "10.20.30.41": "vanthu.lvhung"}[cli]
        form = f"username={user}&password=DemoOnly%21{rng.randrange(1000, 9999)}&dieu_huong=%2Fca-nhan".encode()
        steps = [(0.001, "GET", "/dang-nhap", b"", False)] + [(fast(), "GET", a, b"", True) for a in ASSETS_C]
        steps += [(8 + rng.random() * 6, "POST", "/dang-nhap", form, False),
                  (0.003, "GET", "/ca-nhan", b"", False)]
    return browse(t, cli, CITIZEN, CITIZEN_NAME, CITIZEN_SITE, steps, ua)


def visit_ward(t, cli, paths, ua=UA_EDGE):
    t = dns_lookup(t, cli, WARD_NAME) + 0.001
    steps = []
    for i, (p, cached) in enumerate(paths):
        think = 0.001 if i == 0 else (0.002 + rng.random() * 0.01 if p.startswith("/static") else 5 + rng.random() * 15)
        steps.append((think, "GET", p, b"", cached))
    return browse(t, cli, PORTAL, WARD_NAME, WARD_SITE, steps, ua, logged=True, idle_close=65.0)


# --- scanner -----------------------------------------------------------------------
def syn_scan(t, ports, open_ports, filtered):
    t += rng.random() * 0.05
    for p in ports:
        sp = eport(SCANNER)
        isn = rng.getrandbits(32)
        opts = struct.pack("!BBH", 2, 4, 1460)
        cap.tcp(t, SCANNER, sp, PORTAL, p, isn, 0, SYN, win=1024, opts=opts)
        r = rtt_of(PORTAL)
        if p in open_ports:
            sisn = rng.getrandbits(32)
            cap.tcp(t + r, PORTAL, p, SCANNER, sp, sisn, isn + 1, SYN | ACK, win=65160, opts=opts)
            cap.tcp(t + r + rtt_of(SCANNER), SCANNER, sp, PORTAL, p, isn + 1, 0, RST, win=0)
        elif p not in filtered:
            cap.tcp(t + r, PORTAL, p, SCANNER, sp, 0, isn + 1, RST | ACK, win=0)
        t += 0.0009 + rng.random() * 0.0015


def scanner_get(t, path):
    c = Conn(t, SCANNER, PORTAL, 80).open()
    req = http_req("GET", path, "10.20.30.10", UA_SCANNER, ("Accept: */*", "Connection: close"))
    c.send("c", req, 0.0003)
    base = path.split("?")[0]
    if base in WARD_SITE:
        status, (ctype, body) = 200, WARD_SITE[base]
    else:
        status = 403 if "/." in path else 404
        ctype, body = "text/html", NGINX_ERR[status]
    proc = 0.001 + rng.random() * 0.006
    st = c.send("s", http_resp(c.t + c.rtt["s"] + proc, status, ctype, body, keep=False), proc)
    nginx_line(st, SCANNER, "GET", path, status, len(body), "-", UA_SCANNER)
    c.close("s", 0.0002)
    return c.t


# --- SSH -----------------------------------------------------------------------------
def ssh_string(b):
    return struct.pack("!I", len(b)) + b


def ssh_pkt(payload):
    pad = 8 - ((5 + len(payload)) % 8)
    if pad < 4:
        pad += 8
    return struct.pack("!IB", 1 + len(payload) + pad, pad) + payload + rng.randbytes(pad)


def ssh_enc(n):
    """chacha20-poly1305 record: 4-byte (encrypted) length, payload, 16-byte tag."""
    return rng.randbytes(4 + ((n + 15) // 16) * 16 + 16)


KEX_LISTS = [
    b"curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,diffie-hellman-group14-sha256",
    b"ssh-ed25519,rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256",
    b"chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com",
    b"chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com",
    b"umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com",
    b"umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com",
    b"none,zlib@openssh.com", b"none,zlib@openssh.com", b"", b"",
]


def kexinit():
    return ssh_pkt(b"\x14" + rng.randbytes(16) + b"".join(ssh_string(x) for x in KEX_LISTS)
                   + b"\x00" + b"\x00\x00\x00\x00")


def ssh_setup(t, cli, client_banner):
    c = Conn(t, cli, PORTAL, 22).open()
    c.send("s", b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10\r\n", 0.003)
    c.send("c", client_banner, 0.001)
    c.send("c", kexinit(), 0.0004)
    c.send("s", kexinit(), 0.0008)
    c.send("c", ssh_pkt(b"\x1e" + ssh_string(rng.randbytes(32))), 0.002)
    reply = (b"\x1f" + ssh_string(ssh_string(b"ssh-ed25519") + ssh_string(rng.randbytes(32)))
             + ssh_string(rng.randbytes(32))
             + ssh_string(ssh_string(b"ssh-ed25519") + ssh_string(rng.randbytes(64))))
    c.send("s", ssh_pkt(reply) + ssh_pkt(b"\x15"), 0.004)
    c.send("c", ssh_pkt(b"\x15") + ssh_enc(28), 0.003)   # NEWKEYS + SERVICE_REQUEST
    c.send("s", ssh_enc(28), 0.0008)                      # SERVICE_ACCEPT
    return c


def ssh_bruteforce(t, user, attempts, pid):
    c = ssh_setup(t, SCANNER, b"SSH-2.0-Go\r\n")
    port = c.cport
    invalid = user != "root"
    c.send("c", ssh_enc(40 + len(user)), 0.002)           # USERAUTH_REQUEST "none"
    st = c.send("s", ssh_enc(40), 0.001)                  # USERAUTH_FAILURE
    if invalid:
        syslog(st, "portal-phuong", f"sshd[{pid}]", f"Invalid user {user} from {SCANNER} port {port}")
    for i in range(attempts):
        c.send("c", ssh_enc(60 + len(user)), 0.01 + rng.random() * 0.05)
        st = c.send("s", ssh_enc(40), 2.0 + rng.random() * 0.6)   # PAM failure delay
        if invalid:
            syslog(st - 0.002, "portal-phuong", f"sshd[{pid}]", "pam_unix(sshd:auth): check pass; user unknown")
        if i == 0:
            syslog(st - 0.001, "portal-phuong", f"sshd[{pid}]",
                   "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
                   f"rhost={SCANNER} " + ("" if invalid else f" user={user}"))
        syslog(st, "portal-phuong", f"sshd[{pid}]",
               f"Failed password for {'invalid user ' if invalid else ''}{user} from {SCANNER} port {port} ssh2")
    end = c.close("c", 0.02)
    who = f"invalid user {user}" if invalid else f"authenticating user {user}"
    syslog(end, "portal-phuong", f"sshd[{pid}]", f"Connection closed by {who} {SCANNER} port {port} [preauth]")
    syslog(end, "portal-phuong", f"sshd[{pid}]",
           f"PAM {attempts - 1} more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= "
           f"rhost={SCANNER} " + ("" if invalid else f" user={user}"))
    return end


def ssh_staff(t, cli, user, pid, session, duration):
    c = ssh_setup(t, cli, b"SSH-2.0-OpenSSH_for_Windows_9.5\r\n")
    port = c.cport
    c.send("c", ssh_enc(40 + len(user)), 0.002)           # none
    c.send("s", ssh_enc(40), 0.001)
    c.send("c", ssh_enc(100), 0.002)                      # publickey query
    c.send("s", ssh_enc(90), 0.001)                       # PK_OK
    c.send("c", ssh_enc(190), 0.01)                       # signed request
    st = c.send("s", ssh_enc(8), 0.004)                   # USERAUTH_SUCCESS
    fp = base64.b64encode(rng.randbytes(32)).decode().rstrip("=")
    syslog(st, "portal-phuong", f"sshd[{pid}]", f"Accepted publickey for {user} from {cli} port {port} ssh2: ED25519 SHA256:{fp}")
    syslog(st + 0.003, "portal-phuong", f"sshd[{pid}]", f"pam_unix(sshd:session): session opened for user {user}(uid=1001) by (uid=0)")
    syslog(st + 0.004, "portal-phuong", "systemd-logind[611]", f"New session {session} of user {user}.")
    c.send("c", ssh_enc(40), 0.002)                       # CHANNEL_OPEN session
    c.send("s", ssh_enc(24), 0.001)
    c.send("c", ssh_enc(120), 0.001)                      # pty-req, env, shell
    c.send("s", ssh_enc(600), 0.06)                       # motd + prompt
    end_at = st + duration
    while c.t < end_at - 10:
        for _ in range(rng.randrange(4, 14)):             # a typed command, echoed
            c.send("c", ssh_enc(4), 0.08 + rng.random() * 0.25)
            c.send("s", ssh_enc(4), 0.001)
        c.send("c", ssh_enc(4), 0.2)                      # Enter
        c.send("s", ssh_enc(rng.choice([200, 700, 1500, 2600])), 0.02 + rng.random() * 0.2)
        c.t += 8 + rng.random() * 20
    c.send("c", ssh_enc(16), 0.5)                         # exit
    c.send("s", ssh_enc(80), 0.01)                        # exit-status, EOF, CLOSE
    c.send("c", ssh_enc(40), 0.001)                       # DISCONNECT
    end = c.close("c", 0.0005)
    syslog(end, "portal-phuong", f"sshd[{pid}]", f"Received disconnect from {cli} port {port}:11: disconnected by user")
    syslog(end, "portal-phuong", f"sshd[{pid}]", f"Disconnected from user {user} {cli} port {port}")
    syslog(end + 0.002, "portal-phuong", f"sshd[{pid}]", f"pam_unix(sshd:session): session closed for user {user}")
    syslog(end + 0.004, "portal-phuong", "systemd-logind[611]", f"Session {session} logged out. Waiting for processes to exit.")
    syslog(end + 0.006, "portal-phuong", "systemd-logind[611]", f"Removed session {session}.")
    return end


# --- SMTP submission ------------------------------------------------------------------
def smtp_auth_brute(t, creds, pid):
    prog = f"postfix/submission/smtpd[{pid}]"
    c = Conn(t, SCANNER, MAIL, 587).open()
    syslog(c.t, "mail-phuong", prog, f"connect from unknown[{SCANNER}]")
    c.send("s", b"220 mail.ubnd-phuong.example ESMTP Postfix (Ubuntu)\r\n", 0.002)
    c.send("c", b"EHLO User\r\n", 0.001)
    c.send("s", b"250-mail.ubnd-phuong.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-ETRN\r\n"
                b"250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 CHUNKING\r\n", 0.001)
    for user, pw in creds:
        c.send("c", b"AUTH LOGIN\r\n", 0.001)
        c.send("s", b"334 VXNlcm5hbWU6\r\n", 0.0005)
        c.send("c", base64.b64encode(user.encode()) + b"\r\n", 0.001)
        c.send("s", b"334 UGFzc3dvcmQ6\r\n", 0.0005)
        c.send("c", base64.b64encode(pw.encode()) + b"\r\n", 0.001)
        st = c.send("s", b"535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6\r\n", 1.0 + rng.random() * 0.3)
        syslog(st, "mail-phuong", prog, f"warning: unknown[{SCANNER}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6")
    c.send("c", b"QUIT\r\n", 0.001)
    c.send("s", b"221 2.0.0 Bye\r\n", 0.0005)
    end = c.close("s", 0.0005)
    n = len(creds)
    syslog(end, "mail-phuong", prog, f"disconnect from unknown[{SCANNER}] ehlo=1 auth=0/{n} quit=1 commands=2/{n + 2}")
    return end


# --- beacon ------------------------------------------------------------------------------
def beacon(t, seq):
    c = Conn(t, BEACON_HOST, C2, 80).open()
    body = f"id=WARD-PC-55&seq={seq}&v=1.0&st=idle".encode()
    c.send("c", http_req("POST", "/gate.php", C2_NAME, UA_BEACON,
                         ("Content-Type: application/x-www-form-urlencoded", "Connection: close"), body), 0.0003)
    c.send("s", http_resp(c.t + c.rtt["s"], 200, "application/json", b'{"task":"none","sleep":90}', keep=False), 0.004)
    c.close("c", 0.001)
    return c.t


# --- timeline (seconds after 08:00:00 UTC) --------------------------------------------------
def main():
    # normal browsing to the provincial citizen-services portal
    visit_citizen(12.3, "10.20.30.21", "A")
    visit_citizen(30.8, "10.20.30.55", "A", UA_CHROME)
    visit_citizen(45.1, "10.20.30.22", "B")
    visit_citizen(150.6, "10.20.30.41", "A", UA_CHROME)
    visit_citizen(241.2, "10.20.30.21", "C", dns=False)
    visit_citizen(300.4, "10.20.30.35", "A")
    visit_citizen(402.7, "10.20.30.22", "C")
    visit_citizen(541.9, "10.20.30.21", "L")
    visit_citizen(611.5, "10.20.30.41", "L", UA_CHROME)
    visit_citizen(642.0, "10.20.30.55", "C", UA_CHROME, dns=False)

    # staff using the ward's own portal (logged by nginx)
    visit_ward(80.2, "10.20.30.35", [("/", False), ("/static/site.css", False), ("/static/logo.png", False),
                                     ("/tin-tuc", False)])
    visit_ward(455.3, "10.20.30.22", [("/", False), ("/static/site.css", False), ("/static/logo.png", False),
                                      ("/lich-tiep-cong-dan", False)])

    # other background lookups
    for t, cli, name in [(5.2, "10.20.30.41", "time.example.net"), (61.7, "10.20.30.22", "cdn.example.net"),
                         (133.4, "10.20.30.35", "ocsp.example.net"), (277.9, "10.20.30.41", "cdn.example.net"),
                         (365.0, "10.20.30.21", "mail." + WARD_NAME), (498.6, "10.20.30.22", "time.example.net"),
                         (583.2, "10.20.30.35", "cdn.example.net"), (690.4, "10.20.30.21", "ocsp.example.net")]:
        dns_lookup(t, cli, name)

    # 10.20.30.55 resolves the demo C2 name and beacons roughly every 90 s
    dns_lookup(118.4, BEACON_HOST, C2_NAME)
    dns_lookup(432.9, BEACON_HOST, C2_NAME)   # TTL 300 expired
    t = 118.5
    for i in range(7):
        if i == 4:
            t = 433.0
        beacon(t, i + 1)
        t += 85 + rng.random() * 10

    # external scanner 203.0.113.66 against the ward's portal
    syn_scan(184.6, [21, 22, 23, 25, 80, 110, 143, 443, 445, 587, 3306, 3389, 8080, 8443],
             open_ports={22, 80, 443, 587}, filtered={445, 3389})
    probes = [
        "/", "/robots.txt", "/wp-login.php", "/wordpress/wp-login.php", "/.env", "/api/.env",
        "/phpmyadmin/", "/phpMyAdmin/index.php", "/tra-cuu?id=1",
        "/tra-cuu?id=1%20UNION%20SELECT%20username,password%20FROM%20users--",
        "/tra-cuu?id=1%20UNION%20SELECT%20username,password%20FROM%20users--",
        "/tra-cuu?id=1%27%20UNION%20SELECT%20username,password%20FROM%20users--",
        "/tra-cuu?id=1%20union%20select%20null,null--",
        "/tra-cuu?id=1%20UNION%20SELECT%20username,password%20FROM%20users--",
        "/cgi-bin/tra-cuu.cgi?cmd=;cat%20/etc/passwd",
        "/tra-cuu?id=1&cmd=;cat%20/etc/passwd",
    ]
    t = 197.3
    for p in probes:
        scanner_get(t, p)
        t += 3 + rng.random() * 9 if "UNION" not in p.upper() else 14 + rng.random() * 16

    # ... then SSH password guessing against the same host
    ssh_bruteforce(391.2, "root", 3, 2417)
    ssh_bruteforce(402.5, "root", 3, 2421)
    ssh_bruteforce(414.8, "admin", 3, 2426)

    # ... and SASL guessing on the mail relay's submission port
    # (one AUTH attempt per connection, as many guessing tools do)
    for t, user, pw, pid in [(468.1, "admin", "admin123", 3011), (476.4, "info", "123456", 3013),
                             (489.7, "ketoan", "password", 3016), (497.2, "vanthu", "qwerty", 3018)]:
        smtp_auth_brute(t, [(user, pw)], pid)

    # a staff member logs in to the portal host with a key
    ssh_staff(560.4, "10.20.30.21", "tuphap.ntlan", 2590, 7, 120)

    cap.write(os.path.join(HERE, "demo.pcap"))
    LOG.sort(key=lambda x: x[0])
    with open(os.path.join(HERE, "demo.log"), "w", encoding="utf-8") as f:
        for _, line in LOG:
            f.write(line + "\n")
    print(f"demo.pcap: {len(cap.pkts)} packets; demo.log: {len(LOG)} lines")


if __name__ == "__main__":
    main()
