#!/usr/bin/env python3
"""Write the seed corpora in fuzz/corpus/ (run from anywhere; rewrites
them).  Each seed is something a real peer sends: handshakes, frames and
messages from docs/PROTOCOL.md, IPC records as the front writes them, and
hostile terminal text.  Kept small: libFuzzer grows the rest."""

import os
import struct

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
MASK = b"\x37\xfa\x21\x3d"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def put(name, seeds):
    d = os.path.join(TOP, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    for i, (label, data) in enumerate(seeds):
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, "%02d-%s" % (i, label)), "wb") as f:
            f.write(data)


def frame(payload, op=1, fin=True, mask=MASK, rsv=0):
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    n = len(payload)
    mbit = 0x80 if mask is not None else 0
    if n < 126:
        h = bytes([b0, mbit | n])
    elif n <= 0xFFFF:
        h = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else:
        h = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    if mask is None:
        return h + payload
    body = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return h + mask + body


def head(line, *hdrs, host="example.com"):
    lines = [line]
    if host is not None:
        lines.append("Host: " + host)
    lines += list(hdrs)
    return "\r\n".join(lines) + "\r\n\r\n"


UPGRADE = ("Upgrade: websocket", "Connection: Upgrade",
           "Sec-WebSocket-Key: " + KEY, "Sec-WebSocket-Version: 13")


def http():
    pad = "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: "
    big = pad + "a" * (8192 - len(pad) - 4) + "\r\n\r\n"
    return [
        ("upgrade", head("GET / HTTP/1.1", *UPGRADE)),
        ("subproto", head("GET /chat HTTP/1.1", *UPGRADE,
                          "Sec-WebSocket-Protocol: chat, devroulette.v1")),
        ("xff", head("GET / HTTP/1.1", *UPGRADE,
                     "X-Forwarded-For: 203.0.113.7, 10.0.0.1",
                     "X-Forwarded-For: 2001:db8::1%eth0")),
        ("xff-v6", head("GET / HTTP/1.1", *UPGRADE,
                        "X-Forwarded-For: [::1]:80, ::ffff:1.2.3.4,,")),
        ("caddy", head("GET / HTTP/1.1", "User-Agent: Go-http-client/1.1",
                       "Connection: keep-alive, Upgrade",
                       "Sec-WebSocket-Key: " + KEY,
                       "Sec-WebSocket-Version: 13",
                       "Upgrade: WebSocket", "X-Forwarded-For: 127.1.2.3",
                       "X-Forwarded-Host: chat.example",
                       "X-Forwarded-Proto: https",
                       host="chat.example")),
        ("healthz", head("GET /healthz?probe=1 HTTP/1.1")),
        ("healthz-10", head("GET /healthz HTTP/1.0", host=None)),
        ("post", head("POST /healthz HTTP/1.1", "Content-Length: 0")),
        ("version8", head("GET / HTTP/1.1", "Upgrade: websocket",
                          "Connection: Upgrade", "Sec-WebSocket-Key: " + KEY,
                          "Sec-WebSocket-Version: 13, 8")),
        ("two-hosts", head("GET / HTTP/1.1", "Host: b", *UPGRADE)),
        ("obs-fold", head("GET / HTTP/1.1", "X-A: 1", " folded", *UPGRADE)),
        ("bare-lf", "GET / HTTP/1.1\nHost: x\n\n"),
        ("space-colon", head("GET / HTTP/1.1", "Upgrade : websocket")),
        ("with-frame", head("GET / HTTP/1.1", *UPGRADE).encode() +
         frame('{"t":"beat"}')),
        ("8192", big),
        ("8193", big[:-4] + "a\r\n\r\n"),
    ]


def frames():
    return [
        ("text", frame('{"t":"beat"}')),
        ("unmasked", frame("hi", mask=None)),
        ("ping-pong", frame("ping", op=9) + frame("", op=10)),
        ("close", frame(struct.pack(">H", 1000) + b"bye", op=8)),
        ("close-1", frame(b"\x03", op=8)),
        ("len126", frame("x" * 200)),
        ("len127", frame("y" * 70000)[:40]),
        ("fragments", frame("{\"t\":", fin=False) +
         frame("\"be", op=0, fin=False) + frame("at\"}", op=0)),
        ("nonminimal", bytes([0x81, 0xFE, 0x00, 0x05]) + MASK + b"hello"),
        ("rsv", frame("x", rsv=4)),
        ("binary", frame(b"\x00\x01", op=2)),
    ]


def relay_ws():
    def seed(cfg, cut, *fr):
        return bytes([cfg, cut]) + b"".join(fr)

    def plain(payload, op=1, fin=True):
        # A zero mask leaves the JSON readable to the mutator.
        return frame(payload, op=op, fin=fin, mask=b"\0\0\0\0")
    key = "0123456789abcdef" * 4
    join = frame('{"t":"join","v":1,"key":"%s","mode":"task"}' % key)
    pjoin = plain('{"t":"join","v":1,"key":"%s","mode":"open"}' % key)
    return [
        ("pow-join-chat", seed(0x00, 1, frame('{"t":"pow","nonce":"abc"}'),
                               join, frame('{"t":"msg","text":"hello"}'),
                               frame('{"t":"insights"}'),
                               frame('{"t":"skip"}'),
                               frame('{"t":"done"}'))),
        ("plain-chat", seed(0x10, 8, plain('{"t":"pow","nonce":"Zz9"}'),
                            plain('{"t":"beat"}'), pjoin,
                            plain('{"t":"msg","text":"hi\\t\\u202e"}'),
                            plain('{"t":"msg",', fin=False),
                            plain('"text":""}', op=0),
                            plain('{"t":"report"}'), pjoin,
                            plain(b"\x03\xe8ok", op=8))),
        ("room-fragments", seed(0x03, 7,
                                frame('{"t":"msg",', fin=False),
                                frame("x", op=9),
                                frame('"text":"\\u001b[31mhi"}', op=0),
                                frame('{"t":"report"}'),
                                frame(struct.pack(">H", 1001), op=8))),
        ("ready-keyinuse", seed(0x0a, 3, join, frame('{"t":"beat"}'),
                                join, frame('{"t":"msg","text":"x"}'))),
        ("flood-ban", seed(0x42, 0, *([frame("", op=9)] * 30))),
        ("bad-utf8", seed(0x03, 5, frame(b"\xc3", fin=False),
                          frame(b"\x28", op=0))),
        ("slow-reader", seed(0x07, 2, *([frame("p" * 100, op=9)] * 3))),
        ("debug-refused", seed(0x02, 9,
                               plain('{"t":"join","v":1,"key":"%s",'
                                     '"mode":"debug"}' % key))),
        ("65-frames", seed(0x03, 0, plain('{', fin=False),
                           *([plain(" ", op=0, fin=False)] * 64),
                           plain("}", op=0))),
        ("join-rate", seed(0x02, 3, *([pjoin, plain('{"t":"beat"}'),
                                        plain('{"t":"skip"}')] * 4))),
        ("debug-v2", seed(0x02, 9,
                          frame('{"t":"join","v":2,"key":"%s",'
                                '"mode":"debug"}' % key))),
        ("close-bad", seed(0x01, 4, frame(b"\x03\xed", op=8))),
        ("too-big", seed(0x03, 6, bytes([0x81, 0xFF]) +
                         struct.pack(">Q", 1 << 20) + MASK + b"a" * 8)),
    ]


def msgs():
    key = "f" * 64
    return [
        ("pow", '{"t":"pow","nonce":"a1B2c3"}'),
        ("join", '{"t":"join","v":1,"key":"%s","mode":"task"}' % key),
        ("join-open", '{"mode":"open","key":"%s","t":"join","v":1.0}' % key),
        ("join-debug", '{"t":"join","v":1e0,"key":"%s","mode":"debug"}' % key),
        ("join-v", '{"t":"join","v":1e400,"key":"%s","mode":"task"}' % key),
        ("beat", '{"t":"beat"}'),
        ("msg", '{"t":"msg","text":"hello, world"}'),
        ("msg-esc", '{"t":"msg","text":"a\\"b\\\\c\\/\\b\\f\\n\\r\\t'
         '\\u00e9\\ud83d\\ude00\\u0000"}'),
        ("msg-utf8", '{"t":"msg","text":"caf\u00e9 \u202e \U0001f600"}'),
        ("lone", '{"t":"msg","text":"\\ud800"}'),
        ("escaped-name", '{"\\u0074":"skip"}'),
        ("report", '{"t":"report"}'),
        ("insights", ' {"t":"insights"} '),
        ("done", '{"t":"done"}'),
        ("dup", '{"t":"beat","t":"beat"}'),
        ("extra", '{"t":"skip","x":1}'),
        ("array", '[{"t":"beat"}]'),
        ("bom", '\ufeff{"t":"beat"}'),
    ]


def rec(typ, peer, payload=b"", dt=0):
    return struct.pack("=IIQ", typ, len(payload), (dt << 48) | peer) + payload


def join(peer, keybyte, mode=1, dt=0):
    return rec(202, peer, bytes([keybyte]) * 32 + struct.pack("=I", mode), dt)


def ipc():
    OPEN, CLOSE, MSG, SKIP, REPORT, INS = 200, 201, 203, 204, 205, 206
    o = rec(OPEN, 1) + rec(OPEN, 2) + rec(OPEN, 3)
    return [
        ("chat", o + join(1, 0xaa) + join(2, 0xbb) +
         rec(MSG, 1, b"hi \x1b[31mthere") + rec(MSG, 2, b"  ", 200) +
         rec(INS, 1) + rec(SKIP, 2, dt=100) + join(2, 0xbb) + join(3, 0xcc) +
         rec(CLOSE, 3) + rec(CLOSE, 1)),
        ("key-in-use", o + join(1, 0x11) + join(2, 0x11) + join(3, 0x11, 2) +
         rec(CLOSE, 1) + join(2, 0x11)),
        ("idle-limit", o + join(1, 1) + join(2, 2) +
         b"".join(rec(MSG, 1 + i % 2, b"m%d" % i, 150) for i in range(5)) +
         join(1, 1) + join(3, 3) + rec(MSG, 3, b"x", 3000) +
         rec(REPORT, 1)),
        ("debug", o + join(1, 5, 3) + join(2, 6, 3) + join(3, 7, 1) +
         rec(INS, 3) + rec(INS, 3, dt=500) + rec(INS, 3, dt=600)),
        # Past the table's first size, then holes in its probe runs.
        ("many", b"".join(rec(OPEN, i) for i in range(1, 41)) +
         b"".join(join(i, i) for i in range(1, 41)) +
         b"".join(rec(CLOSE, i) for i in range(1, 41, 3)) +
         b"".join(rec(OPEN, i) for i in range(1, 41, 3)) +
         rec(INS, 40)),
        # rate, too_long, skip_rate, insights_rate, empty.
        ("rates", o + join(1, 1) + join(2, 2) + rec(MSG, 1, b"one") +
         rec(MSG, 1, b"two", 50) + rec(MSG, 2, b"z" * 30, 100) +
         rec(MSG, 2, b"\t\x1b[1m ") + rec(SKIP, 1) + join(1, 1) +
         join(3, 3) + rec(SKIP, 1, dt=10) + rec(INS, 3) + rec(INS, 3)),
        ("fatal-size", rec(OPEN, 1) + rec(SKIP, 1, b"x")),
        ("fatal-unknown", rec(OPEN, 1) + rec(MSG, 9, b"hi")),
        ("fatal-utf8", rec(OPEN, 4) + rec(MSG, 4, b"\xff")),
        ("short", rec(OPEN, 1)[:10]),
    ]


def sanitise():
    return [
        ("plain", "hello, world"),
        ("csi", "\x1b[1;31mred\x1b[0m and \x1b[2J\x1b[H"),
        ("osc-bel", "\x1b]0;title\x07after"),
        ("osc-st", "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"),
        ("dcs", "a\x1bPq#0;2;0;0;0\x1b\\b\x1bXsos\x9cc\x1b^pm\x1b\\"),
        ("c1", "x\u009b31my\u009dtitle\u0007z\u0090dcs\u009c!"),
        ("esc-one", "\x1b(B\x1b7\x1b\u00e9end\x1b"),
        ("bidi", "abc\u202edcb\u2066x\u2069\u200e\u200f\u061c"),
        ("controls", "tab\there\r\nline\x00nul\x7fdel\u0085nel"),
        ("unterminated", "keep\x1b]2;never ends"),
        ("kept", "\u200b\u2028\ufeff caf\u00e9 \U0001f600 e\u0301"),
        ("spaces", "   \t "),
        ("invalid", b"ok\xff\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82"),
    ]


def utf8():
    return [
        ("ascii", "hello"),
        ("two-three-four", "\u00e9\u20ac\U0001f600"),
        ("overlong", b"\xc0\xaf\xe0\x80\xaf\xf0\x80\x80\xaf"),
        ("surrogates", b"\xed\xa0\x80\xed\xbf\xbf\xed\x9f\xbf"),
        ("max", b"\xf4\x8f\xbf\xbf\xf4\x90\x80\x80"),
        ("truncated", b"ok\xe2\x82"),
        ("stray", b"\x80\xbf\xfe\xff"),
        ("bom-nel", "\ufeff\u0085\u2028"),
    ]


def iptable():
    # fuzz_iptable.c: settings (cap - 1, limits, ban, sockets - 1), then
    # operations (enum op) with their argument bytes.
    ADMIT, AGAIN, CROWD, DETACH, VIOL, JOIN, ACCEPT, RELEASE, TIME, SWEEP, \
        BANS, QUERY, ORPHAN, SETTLE = range(14)
    LEAVE, ORPHANED, VIOLATE, BAN, JOINED, JOINING, STAY, STAY_JOIN = \
        range(0, 256, 32)

    def seed(cap, viol, joins, ipsocks, ban, socks, *ops):
        lim = (viol - 1) | (joins - 1) << 3 | (ipsocks - 1) << 6
        return bytes([cap - 1, lim, ban, socks - 1] +
                     [b for op in ops for b in op])

    def crowd(what, n):
        return (CROWD, what | (n - 1))
    return [
        ("crowd-leave", seed(8, 3, 3, 1, 60, 32,
                             crowd(LEAVE, 32), crowd(LEAVE, 32),
                             (TIME, 200), crowd(LEAVE, 9), (SWEEP,))),
        ("banned-last", seed(16, 2, 3, 1, 120, 64,
                             crowd(BAN, 12), crowd(VIOLATE, 6),
                             crowd(LEAVE, 32), (BANS, 0x20),
                             crowd(LEAVE, 32), (BANS, 0x80))),
        ("pinned-over-cap", seed(8, 3, 2, 2, 30, 64,
                                 crowd(STAY, 16), crowd(STAY_JOIN, 8),
                                 crowd(LEAVE, 4), (DETACH, 3),
                                 (DETACH, 0), (ACCEPT, 5), (RELEASE, 6),
                                 crowd(JOINING, 8), (SWEEP,))),
        ("orphaned-joins", seed(8, 3, 2, 2, 30, 64,
                                crowd(ORPHANED, 12), crowd(BAN, 4),
                                crowd(LEAVE, 16), (ADMIT, 0, 9), (JOIN, 0),
                                (ORPHAN, 0), (SETTLE, 0x80), (SETTLE, 3),
                                crowd(LEAVE, 16), (TIME, 255),
                                (SETTLE, 0x85), (SWEEP,), crowd(LEAVE, 16),
                                (TIME, 210), (SWEEP,))),
        ("joins-window", seed(8, 4, 2, 4, 30, 16,
                              (ADMIT, 0x00, 0x07), (AGAIN, 0),
                              (JOIN, 0), (ACCEPT, 0), (JOIN, 1),
                              (RELEASE, 1), (JOIN, 0), (JOIN, 1),
                              (TIME, 208), (JOIN, 1), (VIOL, 0),
                              (QUERY, 0), (DETACH, 0), (DETACH, 0),
                              (QUERY, 0), (SWEEP,), (TIME, 208),
                              (QUERY, 0), (SWEEP,))),
        ("ban-expiry", seed(8, 1, 3, 2, 10, 16,
                            (ADMIT, 0x80, 0x01), (AGAIN, 0), (VIOL, 1),
                            (AGAIN, 0), (BANS, 4), (QUERY, 0x80),
                            (TIME, 138), (BANS, 4), (QUERY, 0x80),
                            (AGAIN, 0), (SWEEP,), (TIME, 255),
                            (SWEEP,))),
        ("grow-shrink", seed(64, 8, 8, 1, 60, 128,
                             crowd(STAY, 32), crowd(STAY, 32),
                             crowd(STAY_JOIN, 32), crowd(LEAVE, 8),
                             *([(DETACH, 0)] * 90), (SWEEP,),
                             crowd(LEAVE, 32), (SWEEP,))),
        ("tiny-cap", seed(1, 2, 1, 1, 5, 4,
                          (ADMIT, 0, 1), (ADMIT, 0, 2), (DETACH, 0),
                          (ADMIT, 0, 3), (VIOL, 0), (VIOL, 0),
                          (ADMIT, 0, 4), (ADMIT, 0, 5), crowd(BAN, 4),
                          crowd(LEAVE, 4))),
        ("ban-forever", seed(4, 1, 1, 1, 255, 8,
                             crowd(BAN, 3), (BANS, 8), crowd(LEAVE, 8),
                             (TIME, 255), (SWEEP,), (BANS, 8))),
    ]


put("http", http())
put("frame", frames())
put("relay_ws", relay_ws())
put("msg", msgs())
put("ipc", ipc())
put("sanitise", sanitise())
put("utf8", utf8())
put("iptable", iptable())
