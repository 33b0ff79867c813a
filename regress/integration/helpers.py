"""
Client side of the devroulette end-to-end tests.

Everything here speaks to the server over plain sockets (socket module,
driven by asyncio streams): a small RFC 6455 client that writes frames of
any shape (masked or not, any RSV bits, any opcode, fragments, lengths) and
reads the server's frames one by one, with the PROTOCOL.md messages on top.
The websockets library is used only in the interoperability tests.

Nothing here sleeps on a protocol default: every timer a test waits for
comes from the settings its server was started with.
"""

import asyncio
import base64
import hashlib
import itertools
import json
import os
import re
import secrets
import socket
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA

DEFAULT_TIMEOUT = float(os.environ.get("DR_TEST_TIMEOUT", "3"))

HANDLE_RE = re.compile(r"^[a-z-]{3,32}$")
CHALLENGE_RE = re.compile(r"^[0-9a-f]{32}$")

# Exact member sets of every server-to-client message (PROTOCOL.md 3).
SERVER_MEMBERS = {
    "hello": {"t", "v", "challenge", "bits", "deadline_ms"},
    "ready": {"t"},
    "queued": {"t", "waiting"},
    "matched": {"t", "you", "peer"},
    "msg": {"t", "text"},
    "ended": {"t", "reason"},
    "error": {"t", "code", "msg"},
}
INSIGHTS_MEMBERS = {"t", "online", "waiting", "rooms", "convos", "messages"}
INSIGHTS_ROOM_MEMBERS = INSIGHTS_MEMBERS | {"room_messages", "room_seconds"}
ERROR_CODES = {"bad_frame", "state", "pow", "rate", "too_long", "empty",
               "skip_rate", "join_rate", "key_in_use", "insights_rate"}
ENDED_REASONS = {"skip", "report", "peer_left", "idle", "limit"}


# --------------------------------------------------------------------------
# small utilities
# --------------------------------------------------------------------------

_ip_counter = itertools.count()
_ip_base = os.getpid() % 97  # two suites in parallel use different addresses


def fresh_ip():
    """A loopback address no other client of this run used."""
    n = next(_ip_counter)
    return "127.%d.%d.%d" % (10 + _ip_base + n // 62500 % 100,
                             n // 250 % 250 + 1, n % 250 + 2)


def rand_key():
    return secrets.token_hex(32)


def leading_zero_bits(digest):
    v = int.from_bytes(digest, "big")
    return len(digest) * 8 - v.bit_length()


def pow_digest(challenge, nonce):
    return hashlib.sha256(challenge.encode("ascii") +
                          nonce.encode("ascii")).digest()


def _nonces():
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for i in itertools.count(1):
        s, n = "", i
        while n:
            n, r = divmod(n, len(alphabet))
            s = alphabet[r] + s
        yield s


def solve_pow(challenge, bits):
    """A nonce whose digest has at least `bits` leading zero bits."""
    for nonce in _nonces():
        if leading_zero_bits(pow_digest(challenge, nonce)) >= bits:
            return nonce


def nonce_with_exact_bits(challenge, zeros):
    """A nonce whose digest has exactly `zeros` leading zero bits."""
    for nonce in _nonces():
        if leading_zero_bits(pow_digest(challenge, nonce)) == zeros:
            return nonce


def ws_key():
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


def ws_accept(key):
    return base64.b64encode(
        hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


async def wait_for(aw, timeout, what):
    try:
        return await asyncio.wait_for(aw, timeout)
    except asyncio.TimeoutError:
        raise AssertionError("timed out after %.1f s waiting for %s"
                             % (timeout, what)) from None


# --------------------------------------------------------------------------
# TCP and HTTP
# --------------------------------------------------------------------------

OPEN = set()  # every connection a test opened; closed after each test
CREATED = []  # every WS of the running test (server_faults are checked)


async def tcp_connect(port, ip=None, host="127.0.0.1", rcvbuf=None):
    """A TCP connection to host:port from source address ip."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf:      # before connect: it sets the window offered
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((ip or fresh_ip(), 0))
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await wait_for(asyncio.get_running_loop().sock_connect(
            sock, (host, port)), DEFAULT_TIMEOUT, "TCP connect")
        reader, writer = await asyncio.open_connection(sock=sock,
                                                       limit=1 << 20)
    except BaseException:
        sock.close()
        raise
    OPEN.add(writer)
    return reader, writer


class HttpResponse:
    def __init__(self, status, reason, headers, body, closed, raw_head):
        self.status = status
        self.reason = reason
        self.headers = headers      # lower-case name -> list of values
        self.body = body
        self.closed = closed        # the server closed the connection
        self.raw_head = raw_head

    def header(self, name):
        v = self.headers.get(name.lower())
        return None if v is None else ", ".join(v)

    def __repr__(self):
        return "<HTTP %s %r body=%r closed=%s>" % (
            self.status, self.headers, self.body[:80], self.closed)


def parse_head(raw):
    text = raw.decode("latin-1")
    lines = text.split("\r\n")
    m = re.match(r"^HTTP/1\.1 (\d{3})(?: (.*))?$", lines[0])
    assert m, "bad status line from server: %r" % lines[0]
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        assert sep, "bad header line from server: %r" % line
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(m.group(1)), m.group(2) or "", headers


async def read_head(reader, timeout):
    raw = await wait_for(reader.readuntil(b"\r\n\r\n"), timeout,
                         "the HTTP answer")
    return raw


async def http_exchange(port, request, ip=None, timeout=DEFAULT_TIMEOUT):
    """
    Sends request (bytes), reads the answer. For a non-101 answer, reads the
    body to EOF (every non-101 answer closes the connection) and reports
    whether the server closed it within timeout.
    """
    reader, writer = await tcp_connect(port, ip)
    try:
        writer.write(request)
        await writer.drain()
        try:
            raw = await read_head(reader, timeout)
        except asyncio.IncompleteReadError as e:
            raise AssertionError("connection closed without an answer "
                                 "(got %r)" % e.partial) from None
        status, reason, headers = parse_head(raw[:-4])
        if status == 101:
            return HttpResponse(status, reason, headers, b"", False, raw)
        body = b""
        closed = False
        try:
            body = await asyncio.wait_for(reader.read(), timeout)
            closed = True
        except asyncio.TimeoutError:
            pass
        except ConnectionError:
            closed = True
        return HttpResponse(status, reason, headers, body, closed, raw)
    finally:
        writer.transport.abort()
        OPEN.discard(writer)


def upgrade_request(port=None, path="/", method="GET", key=None,
                    version="13", upgrade="websocket", connection="Upgrade",
                    extra=(), host=None):
    """An upgrade request; pass None for a header to leave it out."""
    lines = ["%s %s HTTP/1.1" % (method, path),
             "Host: %s" % (host or "127.0.0.1:%s" % (port or 80))]
    if upgrade is not None:
        lines.append("Upgrade: " + upgrade)
    if connection is not None:
        lines.append("Connection: " + connection)
    if key is not False:
        lines.append("Sec-WebSocket-Key: " + (ws_key() if key is None
                                              else key))
    if version is not None:
        lines.append("Sec-WebSocket-Version: " + version)
    lines.extend(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def pad_request(request, size):
    """request grown to exactly size bytes with an X-Pad header."""
    head = request[:-2]                      # without the final CRLF
    fixed = len(head) + len(b"X-Pad: \r\n") + 2
    n = size - fixed
    assert n >= 0
    out = head + b"X-Pad: " + b"a" * n + b"\r\n\r\n"
    assert len(out) == size
    return out


class HandshakeRefused(AssertionError):
    def __init__(self, response):
        super().__init__("handshake refused: %r" % (response,))
        self.response = response


# --------------------------------------------------------------------------
# WebSocket frames
# --------------------------------------------------------------------------

def frame_bytes(opcode, payload=b"", fin=True, rsv=0, mask=True,
                mask_key=None, length=None):
    """One client frame. length overrides the payload length field."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0xF)
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return hdr + payload
    k = mask_key if mask_key is not None else secrets.token_bytes(4)
    masked = bytes(b ^ k[i & 3] for i, b in enumerate(payload))
    return hdr + k + masked


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class Frame:
    __slots__ = ("fin", "rsv", "opcode", "payload", "masked", "at")

    def __init__(self, fin, rsv, opcode, payload, masked, at):
        self.fin, self.rsv, self.opcode = fin, rsv, opcode
        self.payload, self.masked, self.at = payload, masked, at

    @property
    def close_code(self):
        if len(self.payload) >= 2:
            return struct.unpack("!H", self.payload[:2])[0]
        return None

    def __repr__(self):
        return "<frame op=%d fin=%d len=%d %r>" % (
            self.opcode, self.fin, len(self.payload), self.payload[:60])


class Closed(AssertionError):
    """The socket was closed (code: the server's close code, None: dropped)."""

    def __init__(self, code, what=""):
        super().__init__("socket closed (%s) while waiting for %s" % (
            "dropped, no close frame" if code is None else "close %d" % code,
            what or "a message"))
        self.code = code


class WS:
    """
    One client WebSocket. A reader task takes the server's frames off the
    wire into a queue (so timeouts never cut a frame in half), answers pings
    when auto_pong, answers a close frame with a close frame (once), and
    checks what the server may not do (masked frames, RSV bits, fragmented
    control frames).
    """

    def __init__(self, reader, writer, ip, response, auto_pong=True):
        self.reader, self.writer, self.ip = reader, writer, ip
        self.response = response
        self.auto_pong = auto_pong
        self.frames = asyncio.Queue()
        self.pings = []             # server pings (Frame), in order
        self.close_sent = False
        self.echo_close = True      # answer the server's close frame
        self.close_received = None  # the server's close Frame
        self.eof_at = None          # monotonic time the TCP stream ended
        self.eof = asyncio.Event()
        self.server_faults = []
        self.challenge = None
        self.bits = None
        self.last_matched = None
        self.task = asyncio.get_running_loop().create_task(self._read())

    # ---- reading -------------------------------------------------------

    async def _read(self):
        r = self.reader
        try:
            while True:
                b0, b1 = await r.readexactly(2)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", await r.readexactly(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", await r.readexactly(8))[0]
                masked = bool(b1 & 0x80)
                key = await r.readexactly(4) if masked else None
                payload = await r.readexactly(n) if n else b""
                if masked:
                    payload = bytes(b ^ key[i & 3]
                                    for i, b in enumerate(payload))
                f = Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, payload,
                          masked, time.monotonic())
                if masked:
                    self.server_faults.append("masked frame %r" % f)
                if f.rsv:
                    self.server_faults.append("RSV bits set %r" % f)
                if f.opcode >= 8 and (not f.fin or len(payload) > 125):
                    self.server_faults.append("bad control frame %r" % f)
                if f.opcode == OP_PING:
                    self.pings.append(f)
                    if self.auto_pong and not self.close_sent:
                        self._write(frame_bytes(OP_PONG, payload))
                elif f.opcode == OP_CLOSE:
                    if self.close_received is None:
                        self.close_received = f
                    if not self.close_sent and self.echo_close:
                        self.close_sent = True
                        code = f.close_code
                        self._write(frame_bytes(
                            OP_CLOSE, close_payload(code) if code else b""))
                self.frames.put_nowait(f)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self.eof_at = time.monotonic()
            self.eof.set()
            # as any client would: the server ended the stream, so do we
            self.writer.transport.abort()
            self.frames.put_nowait(None)

    async def next_frame(self, timeout=DEFAULT_TIMEOUT, what="a frame"):
        """The next frame, None at EOF (repeatedly)."""
        f = await wait_for(self.frames.get(), timeout, what)
        if f is None:
            self.frames.put_nowait(None)    # EOF stays visible
        return f

    async def next_data_frame(self, timeout=DEFAULT_TIMEOUT, what="a frame"):
        """Next frame that is not a ping or pong (close and None included)."""
        deadline = time.monotonic() + timeout
        while True:
            f = await self.next_frame(max(0.001, deadline - time.monotonic()),
                                      what)
            if f is None or f.opcode not in (OP_PING, OP_PONG):
                return f

    async def recv_text(self, timeout=DEFAULT_TIMEOUT, what="a message"):
        """The next text message (reassembled); raises Closed at a close."""
        deadline = time.monotonic() + timeout
        parts, first = [], None
        while True:
            f = await self.next_data_frame(
                max(0.001, deadline - time.monotonic()), what)
            if f is None:
                raise Closed(None if self.close_received is None
                             else self.close_received.close_code, what)
            if f.opcode == OP_CLOSE:
                raise Closed(f.close_code, what)
            if first is None:
                assert f.opcode == OP_TEXT, \
                    "server sent %r, expected a text frame" % f
                first = f
            else:
                assert f.opcode == OP_CONT, "bad continuation %r" % f
            parts.append(f.payload)
            if f.fin:
                data = b"".join(parts)
                try:
                    return data.decode("utf-8")
                except UnicodeDecodeError:
                    raise AssertionError(
                        "server sent invalid UTF-8: %r" % data) from None

    async def recv(self, timeout=DEFAULT_TIMEOUT, what="a message"):
        """The next JSON message from the server, as a dict."""
        text = await self.recv_text(timeout, what)
        try:
            m = json.loads(text)
        except ValueError:
            raise AssertionError("server sent non-JSON %r" % text) from None
        assert isinstance(m, dict) and isinstance(m.get("t"), str), \
            "server sent %r" % text
        check_server_message(m)
        return m

    async def expect(self, t, timeout=DEFAULT_TIMEOUT, **fields):
        m = await self.recv(timeout, what="%r %r" % (t, fields or ""))
        assert m["t"] == t, "expected %r %r, got %r" % (t, fields, m)
        for k, v in fields.items():
            assert m.get(k) == v, "expected %r %r, got %r" % (t, fields, m)
        return m

    async def expect_error(self, code, timeout=DEFAULT_TIMEOUT):
        m = await self.recv(timeout, what="error %s" % code)
        assert m["t"] == "error" and m["code"] == code, \
            "expected error %s, got %r" % (code, m)
        return m

    async def expect_close(self, code, timeout=DEFAULT_TIMEOUT,
                           tcp_close=True):
        """
        The next frame (pings and pongs aside) is a close frame with code,
        and then (tcp_close) the server closes the TCP connection.
        """
        f = await self.next_data_frame(timeout, "close %s" % code)
        if f is None:
            raise AssertionError("expected close %s, the connection was "
                                 "dropped without a close frame" % code)
        if f.opcode != OP_CLOSE:
            body = f.payload.decode("utf-8", "replace")
            raise AssertionError("expected close %s, got %r" % (code, body))
        assert f.close_code == code, \
            "expected close %s, got close %s" % (code, f.close_code)
        if len(f.payload) > 2:
            f.payload[2:].decode("utf-8")   # the reason must be UTF-8
        if tcp_close:
            await wait_for(self.eof.wait(), DEFAULT_TIMEOUT,
                           "the TCP close after close %s" % code)
        return f

    async def expect_drop(self, timeout=DEFAULT_TIMEOUT):
        """The connection ends without a close frame; returns EOF time."""
        f = await self.next_data_frame(timeout, "the connection to drop")
        if f is not None:
            raise AssertionError("expected a drop without close frame, "
                                 "got %r" % f)
        return self.eof_at

    async def poll_frame(self, timeout):
        """The next frame, None at EOF, False if none came within timeout.
        (One level of wait_for only: Python 3.11's nested wait_for can
        swallow a timeout when a frame arrives at the deadline.)"""
        try:
            f = await asyncio.wait_for(self.frames.get(), max(0, timeout))
        except asyncio.TimeoutError:
            return False
        if f is None:
            self.frames.put_nowait(None)
        return f

    async def quiet(self, seconds):
        """Nothing but pings/pongs arrives for seconds (and no close)."""
        deadline = time.monotonic() + seconds
        while True:
            f = await self.poll_frame(deadline - time.monotonic())
            if f is False:
                return
            if f is None:
                raise AssertionError(
                    "connection closed (%s) where nothing was expected" % (
                        "dropped, no close frame"
                        if self.close_received is None
                        else "close %s" % self.close_received.close_code))
            if f.opcode not in (OP_PING, OP_PONG):
                raise AssertionError("unexpected frame %r" % f)

    async def still_open(self):
        """Proves the socket is open and responsive: a ping gets its pong."""
        token = secrets.token_hex(4).encode()
        self.send_frame(OP_PING, token)
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while True:
            f = await self.next_frame(max(0.001, deadline - time.monotonic()),
                                      "a pong")
            if f is None or f.opcode == OP_CLOSE:
                raise AssertionError("socket closed (%s), expected it open" %
                                     (f and f.close_code))
            if f.opcode == OP_PONG and f.payload == token:
                return
            if f.opcode not in (OP_PING, OP_PONG):
                raise AssertionError("unexpected frame %r" % f)

    # ---- writing -------------------------------------------------------

    def _write(self, data):
        if not self.writer.is_closing():
            self.writer.write(data)

    def send_raw(self, data):
        self._write(data)

    def send_frame(self, opcode, payload=b"", **kw):
        if opcode == OP_CLOSE:
            self.close_sent = True
        self._write(frame_bytes(opcode, payload, **kw))

    def send_text(self, text):
        self.send_frame(OP_TEXT, text)

    def send(self, obj):
        self.send_text(obj if isinstance(obj, str) else dumps(obj))

    def abort(self):
        """Drops the TCP connection (no close frame)."""
        self.writer.transport.abort()
        OPEN.discard(self.writer)

    async def close(self, code=1000, timeout=2):
        """Close handshake, then wait for the server to close TCP."""
        if not self.close_sent and not self.eof.is_set():
            self.send_frame(OP_CLOSE, close_payload(code))
        try:
            await asyncio.wait_for(self.eof.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        self.abort()

    # ---- protocol ------------------------------------------------------

    async def hello(self, timeout=DEFAULT_TIMEOUT):
        m = await self.expect("hello", timeout)
        self.challenge, self.bits = m["challenge"], m["bits"]
        return m

    async def pow(self):
        self.send({"t": "pow", "nonce": solve_pow(self.challenge, self.bits)})
        await self.expect("ready")

    async def join(self, key=None, mode="task", v=1):
        """Sends a join, returns the queued message."""
        self.key = key or rand_key()
        self.send({"t": "join", "v": v, "key": self.key, "mode": mode})
        return await self.expect("queued")

    async def matched(self, timeout=DEFAULT_TIMEOUT):
        m = await self.expect("matched", timeout)
        self.last_matched = m
        return m

    def msg(self, text):
        self.send({"t": "msg", "text": text})

    async def insights(self):
        self.send({"t": "insights"})
        return await self.expect("insights")


def check_server_message(m):
    """Exact member set and types of what the server sends (section 3)."""
    t = m["t"]
    if t == "insights":
        keys = set(m)
        assert keys in (INSIGHTS_MEMBERS, INSIGHTS_ROOM_MEMBERS), \
            "insights members %r" % m
        for k in keys - {"t"}:
            assert type(m[k]) is int and m[k] >= 0, "insights %r" % m
        return
    assert t in SERVER_MEMBERS, "unknown message from server %r" % m
    assert set(m) == SERVER_MEMBERS[t], "members of %r" % m
    if t == "hello":
        assert m["v"] == 1 and type(m["v"]) is int, m
        assert isinstance(m["challenge"], str) and \
            CHALLENGE_RE.match(m["challenge"]), m
        assert type(m["bits"]) is int and type(m["deadline_ms"]) is int, m
    elif t == "queued":
        assert type(m["waiting"]) is int and m["waiting"] >= 1, m
    elif t == "matched":
        assert isinstance(m["you"], str) and HANDLE_RE.match(m["you"]), m
        assert isinstance(m["peer"], str) and HANDLE_RE.match(m["peer"]), m
        assert m["you"] != m["peer"], m
    elif t == "msg":
        assert isinstance(m["text"], str), m
    elif t == "ended":
        assert m["reason"] in ENDED_REASONS, m
    elif t == "error":
        assert m["code"] in ERROR_CODES, m
        assert isinstance(m["msg"], str) and m["msg"].strip(), m


# --------------------------------------------------------------------------
# connecting
# --------------------------------------------------------------------------

async def connect(srv, ip=None, path="/", auto_pong=True, extra=(),
                  request=None, timeout=DEFAULT_TIMEOUT, rcvbuf=None):
    """
    A WebSocket to srv from source address ip (fresh if None). Raises
    HandshakeRefused (with .response) unless the answer is 101.
    """
    ip = ip or fresh_ip()
    reader, writer = await tcp_connect(srv.port, ip, rcvbuf=rcvbuf)
    key = ws_key()
    req = request or upgrade_request(srv.port, path=path, key=key,
                                     extra=extra)
    writer.write(req)
    try:
        raw = await read_head(reader, timeout)
    except asyncio.IncompleteReadError as e:
        writer.transport.abort()
        OPEN.discard(writer)
        raise AssertionError("connection closed without an answer to the "
                             "handshake (got %r)" % e.partial) from None
    except BaseException:
        writer.transport.abort()
        OPEN.discard(writer)
        raise
    status, reason, headers = parse_head(raw[:-4])
    resp = HttpResponse(status, reason, headers, b"", False, raw)
    if status != 101:
        try:
            resp.body = await asyncio.wait_for(reader.read(), timeout)
            resp.closed = True
        except (asyncio.TimeoutError, ConnectionError):
            pass
        writer.transport.abort()
        OPEN.discard(writer)
        raise HandshakeRefused(resp)
    if request is None:
        assert resp.header("sec-websocket-accept") == ws_accept(key), \
            "bad Sec-WebSocket-Accept in %r" % resp
        assert (resp.header("upgrade") or "").lower() == "websocket", resp
        assert "upgrade" in (resp.header("connection") or "").lower(), resp
    ws = WS(reader, writer, ip, resp, auto_pong=auto_pong)
    OPEN.add(ws)
    CREATED.append(ws)
    return ws


async def refused(srv, ip=None, **kw):
    """The status of a refused handshake (fails if it is accepted)."""
    try:
        ws = await connect(srv, ip, **kw)
    except HandshakeRefused as e:
        assert e.response.closed, \
            "the server kept the connection open after %d" % \
            e.response.status
        return e.response.status
    ws.abort()
    raise AssertionError("handshake from %s accepted, expected a refusal"
                         % ip)


async def client(srv, ip=None, **kw):
    """A WebSocket that has had hello and whose pow was accepted."""
    ws = await connect(srv, ip, **kw)
    await ws.hello()
    await ws.pow()
    return ws


async def clients(srv, n, ip=None, **kw):
    return await asyncio.gather(*(client(srv, ip, **kw) for _ in range(n)))


async def pair(srv, a=None, b=None, mode="task", mode_b=None):
    """
    Two ready sockets (made unless given) joined in order a, b and matched
    with each other. Returns (a, b).
    """
    a = a or await client(srv)
    b = b or await client(srv)
    q = await a.join(mode=mode)
    assert q["waiting"] == 1, "expected an empty queue, got %r" % q
    q = await b.join(mode=mode_b or ("open" if mode == "task" else mode))
    assert q["waiting"] == 2, "queued when matched at once: %r" % q
    ma = await a.matched()
    mb = await b.matched()
    assert ma["you"] == mb["peer"] and ma["peer"] == mb["you"], (ma, mb)
    return a, b


async def expect_banned(ws, after=None):
    """
    Close 4002; the error frame of the violation that caused the ban
    (`after`) may come first.
    """
    f = await ws.next_data_frame(what="close 4002")
    if f is not None and f.opcode == OP_TEXT and after is not None:
        m = json.loads(f.payload)
        assert m.get("t") == "error" and m.get("code") == after, m
        f = await ws.next_data_frame(what="close 4002")
    assert f is not None, "dropped without close frame, expected 4002"
    assert f.opcode == OP_CLOSE, "expected close 4002, got %r" % f
    assert f.close_code == 4002, "expected close 4002, got %s" % f.close_code


async def close_all():
    """Closes every connection the test left open (close handshake)."""
    conns = list(OPEN)
    OPEN.clear()
    wss = [c for c in conns if isinstance(c, WS)]
    await asyncio.gather(*(w.close(timeout=1) for w in wss),
                         return_exceptions=True)
    for c in conns:
        if not isinstance(c, WS):
            c.transport.abort()
    for w in wss:
        w.task.cancel()


async def sleep_ms(ms):
    await asyncio.sleep(ms / 1000.0)
