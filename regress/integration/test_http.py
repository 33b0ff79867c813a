"""PROTOCOL.md section 1: HTTP, the upgrade, admission (and section 7)."""

import asyncio
import time

import pytest

import helpers
from helpers import (connect, client, fresh_ip, http_exchange, pad_request,
                     refused, upgrade_request, tcp_connect, ws_key)


def req(method, path, extra=()):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# ---- /healthz and 426 ---------------------------------------------------

@pytest.mark.parametrize("path", ["/healthz", "/healthz?", "/healthz?x=1&y"])
async def test_healthz_get_answers_200_ok_and_closes(shared_server, path):
    r = await http_exchange(shared_server.port, req("GET", path))
    assert r.status == 200, r
    assert r.body == b"ok\n", r
    assert r.closed, "connection not closed after the answer"


@pytest.mark.parametrize("method,path", [
    ("GET", "/"), ("GET", "/index.html"), ("GET", "/healthzz"),
    ("GET", "/healthz/x"), ("GET", "/x?healthz"),
    ("POST", "/healthz"), ("HEAD", "/healthz"), ("PUT", "/"),
])
async def test_non_upgrade_request_answers_426_and_closes(shared_server,
                                                          method, path):
    extra = ["Content-Length: 0"] if method in ("POST", "PUT") else []
    r = await http_exchange(shared_server.port, req(method, path, extra))
    assert r.status == 426, r
    assert r.closed, "connection not closed after 426"


# ---- bad upgrades: 400 ---------------------------------------------------

def _b64(n):
    import base64
    import os
    return base64.b64encode(os.urandom(n)).decode()


BAD_UPGRADES = {
    "key_15_bytes": dict(key=_b64(15)),
    "key_17_bytes": dict(key=_b64(17)),
    "key_not_base64": dict(key="!!!!!!!!!!!!!!!!!!!!!!=="),
    "key_empty": dict(key=""),
    "key_missing": dict(key=False),
    "version_8": dict(version="8"),
    "version_14": dict(version="14"),
    "version_missing": dict(version=None),
    "method_post": dict(method="POST"),
    "method_put": dict(method="PUT"),
    "upgrade_h2c": dict(upgrade="h2c"),
    "upgrade_missing": dict(upgrade=None),
    "connection_missing": dict(connection=None),
    "connection_keepalive_only": dict(connection="keep-alive"),
    "connection_upgraded_not_token": dict(connection="upgraded"),
}


@pytest.mark.parametrize("defect", sorted(BAD_UPGRADES))
async def test_bad_upgrade_answers_400_and_closes(shared_server, defect):
    kw = dict(BAD_UPGRADES[defect])
    extra = []
    if kw.get("method") in ("POST", "PUT"):
        extra = ["Content-Length: 0"]
    r = await http_exchange(shared_server.port,
                            upgrade_request(shared_server.port, extra=extra,
                                            **kw))
    assert r.status == 400, r
    assert r.closed, "connection not closed after 400"


@pytest.mark.parametrize("headers", [
    ["Sec-WebSocket-Version: 13"],
    ["Sec-WebSocket-Key: " + ws_key()],
    ["Upgrade: websocket"],
    ["Connection: Upgrade"],
])
async def test_any_upgrade_header_makes_it_an_attempt_answered_400(
        shared_server, headers):
    # an incomplete upgrade attempt to /healthz is a bad upgrade, not 200
    r = await http_exchange(shared_server.port, req("GET", "/healthz",
                                                    headers))
    assert r.status == 400, r
    assert r.closed


async def test_version_8_answer_400_carries_version_13(shared_server):
    r = await http_exchange(shared_server.port,
                            upgrade_request(shared_server.port, version="8"))
    assert r.status == 400, r
    assert r.header("sec-websocket-version") == "13", r


@pytest.mark.parametrize("variant", [
    dict(path="/"), dict(path="/any/path?x=1"),
    dict(connection="keep-alive, Upgrade"), dict(connection="upgrade"),
    dict(upgrade="WebSocket"),
])
async def test_valid_upgrade_variants_accepted_on_any_path(shared_server,
                                                           variant):
    key = ws_key()
    reader, writer = await tcp_connect(shared_server.port)
    writer.write(upgrade_request(shared_server.port, key=key, **variant))
    raw = await helpers.read_head(reader, 3)
    status, _, headers = helpers.parse_head(raw[:-4])
    assert status == 101, raw
    assert headers["sec-websocket-accept"] == [helpers.ws_accept(key)]
    writer.transport.abort()


# ---- head size and time ---------------------------------------------------

async def test_head_of_exactly_8192_bytes_accepted(shared_server):
    r = pad_request(upgrade_request(shared_server.port), 8192)
    ws = await connect(shared_server, request=r)
    await ws.hello()


async def test_head_of_8193_bytes_answers_431(shared_server):
    r = pad_request(upgrade_request(shared_server.port), 8193)
    resp = await http_exchange(shared_server.port, r)
    assert resp.status == 431, resp
    assert resp.closed


async def test_head_over_8192_bytes_non_upgrade_answers_431(shared_server):
    r = pad_request(req("GET", "/healthz"), 8193)
    resp = await http_exchange(shared_server.port, r)
    assert resp.status == 431, resp


async def test_oversized_bad_upgrade_answers_431_before_400(shared_server):
    r = pad_request(upgrade_request(shared_server.port, version="8"), 9000)
    resp = await http_exchange(shared_server.port, r)
    assert resp.status == 431, resp


async def test_slow_head_closed_without_answer_after_handshake_timeout(
        start_server):
    srv = start_server(HANDSHAKE_TIMEOUT_MS=500)
    limit = srv.ms("HANDSHAKE_TIMEOUT_MS")
    reader, writer = await tcp_connect(srv.port)
    t0 = time.monotonic()
    whole = upgrade_request(srv.port)
    writer.write(whole[:30])       # part of the head, then nothing
    await asyncio.sleep(limit * 0.4)
    writer.write(whole[30:60])     # bytes keep coming, head never ends
    data = await helpers.wait_for(reader.read(), limit + 3,
                                  "the server to close a slow handshake")
    elapsed = time.monotonic() - t0
    assert data == b"", "expected no answer, got %r" % data
    assert elapsed >= limit * 0.8, \
        "closed after %.2f s, HANDSHAKE_TIMEOUT_MS is %.2f s" % (elapsed,
                                                                 limit)


async def test_silent_tcp_connection_closed_after_handshake_timeout(
        start_server):
    srv = start_server(HANDSHAKE_TIMEOUT_MS=400)
    limit = srv.ms("HANDSHAKE_TIMEOUT_MS")
    reader, writer = await tcp_connect(srv.port)
    t0 = time.monotonic()
    data = await helpers.wait_for(reader.read(), limit + 3,
                                  "the server to close an idle connection")
    assert data == b""
    assert time.monotonic() - t0 >= limit * 0.8


async def test_complete_head_within_handshake_timeout_is_accepted(
        start_server):
    srv = start_server(HANDSHAKE_TIMEOUT_MS=600)
    reader, writer = await tcp_connect(srv.port)
    whole = upgrade_request(srv.port)
    writer.write(whole[:20])
    await asyncio.sleep(srv.ms("HANDSHAKE_TIMEOUT_MS") * 0.5)
    writer.write(whole[20:])
    raw = await helpers.read_head(reader, 3)
    assert raw.startswith(b"HTTP/1.1 101"), raw


# ---- subprotocol, extensions ----------------------------------------------

@pytest.mark.parametrize("offer", ["devroulette.v1", "foo, devroulette.v1",
                                   "devroulette.v1, foo"])
async def test_subprotocol_devroulette_v1_selected_when_offered(
        shared_server, offer):
    ws = await connect(shared_server,
                       extra=["Sec-WebSocket-Protocol: " + offer])
    assert ws.response.header("sec-websocket-protocol") == "devroulette.v1"
    await ws.hello()


async def test_no_subprotocol_answered_when_none_offered(shared_server):
    ws = await connect(shared_server)
    assert ws.response.header("sec-websocket-protocol") is None
    await ws.hello()


async def test_no_extension_negotiated_when_deflate_offered(shared_server):
    ws = await connect(shared_server, extra=[
        "Sec-WebSocket-Extensions: permessage-deflate; "
        "client_max_window_bits"])
    assert ws.response.header("sec-websocket-extensions") is None
    await ws.hello()
    await ws.pow()      # uncompressed frames both ways


# ---- admission --------------------------------------------------------------

async def test_max_total_sockets_reached_answers_503(start_server):
    srv = start_server(MAX_TOTAL_SOCKETS=2)
    a = await connect(srv)
    await connect(srv)              # not ready: still counts
    assert await refused(srv) == 503
    await a.close()                 # until it is closed
    b = await connect(srv)
    await b.hello()


async def test_bad_upgrade_answers_400_before_503(start_server):
    srv = start_server(MAX_TOTAL_SOCKETS=1)
    await connect(srv)
    r = await http_exchange(srv.port, upgrade_request(srv.port, version="8"))
    assert r.status == 400, r


async def test_max_sockets_per_ip_reached_answers_429_other_ip_fine(
        start_server):
    srv = start_server(MAX_SOCKETS_PER_IP=2)
    ip = fresh_ip()
    first = await connect(srv, ip)
    await client(srv, ip)
    assert await refused(srv, ip) == 429
    other = await connect(srv, fresh_ip())
    await other.hello()
    await first.close()
    again = await connect(srv, ip)
    await again.hello()


async def test_503_checked_before_429(start_server):
    srv = start_server(MAX_TOTAL_SOCKETS=2, MAX_SOCKETS_PER_IP=2)
    ip = fresh_ip()
    await connect(srv, ip)
    await connect(srv, ip)
    assert await refused(srv, ip) == 503


async def test_dropped_socket_frees_its_admission_slot(start_server):
    srv = start_server(MAX_SOCKETS_PER_IP=1)
    ip = fresh_ip()
    a = await client(srv, ip)
    a.abort()                       # TCP gone, no close frame
    deadline = time.monotonic() + 3
    while True:
        try:
            b = await connect(srv, ip)
            break
        except helpers.HandshakeRefused as e:
            assert e.response.status == 429
            assert time.monotonic() < deadline, "slot never freed"
            await asyncio.sleep(0.05)
    await b.hello()


# ---- interoperability with a standard client --------------------------------

async def test_standard_websocket_client_can_chat(shared_server):
    """The websockets library (RFC 6455 client) gets through every step."""
    import json
    import websockets

    async def ws_client():
        c = await websockets.connect(
            "ws://127.0.0.1:%d/" % shared_server.port,
            local_addr=(fresh_ip(), 0), subprotocols=["devroulette.v1"],
            ping_interval=None, close_timeout=2, open_timeout=3)
        assert c.subprotocol == "devroulette.v1"
        hello = json.loads(await c.recv())
        assert hello["t"] == "hello"
        nonce = helpers.solve_pow(hello["challenge"], hello["bits"])
        await c.send(json.dumps({"t": "pow", "nonce": nonce}))
        assert json.loads(await c.recv()) == {"t": "ready"}
        return c

    a = await ws_client()
    b = await ws_client()
    try:
        await a.send(helpers.dumps({"t": "join", "v": 1, "mode": "debug",
                                    "key": helpers.rand_key()}))
        assert json.loads(await a.recv()) == {"t": "queued", "waiting": 1}
        await b.send(helpers.dumps({"t": "join", "v": 1, "mode": "debug",
                                    "key": helpers.rand_key()}))
        assert json.loads(await b.recv()) == {"t": "queued", "waiting": 2}
        assert json.loads(await a.recv())["t"] == "matched"
        assert json.loads(await b.recv())["t"] == "matched"
        await a.send(helpers.dumps({"t": "msg", "text": "h\u00e9llo \U0001f600"}))
        assert json.loads(await b.recv()) == {"t": "msg",
                                              "text": "h\u00e9llo \U0001f600"}
        await a.send('{"t":"done"}')
        assert json.loads(await b.recv()) == {"t": "ended",
                                              "reason": "peer_left"}
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(a.recv(), 3)
        await asyncio.wait_for(a.wait_closed(), 3)
        assert a.close_code == 1000
    finally:
        await a.close()
        await b.close()


# ---- robustness of the HTTP reader ---------------------------------------------

async def test_handshake_sent_one_byte_at_a_time_accepted(shared_server):
    reader, writer = await tcp_connect(shared_server.port)
    for b in upgrade_request(shared_server.port):
        writer.write(bytes([b]))
        await writer.drain()
        await asyncio.sleep(0.001)
    raw = await helpers.read_head(reader, 3)
    assert raw.startswith(b"HTTP/1.1 101 "), raw


async def test_frame_in_same_segment_as_handshake_handled(shared_server):
    reader, writer = await tcp_connect(shared_server.port)
    writer.write(upgrade_request(shared_server.port) +
                 helpers.frame_bytes(helpers.OP_PING, b"early"))
    raw = await helpers.read_head(reader, 3)
    assert raw.startswith(b"HTTP/1.1 101 "), raw
    ws = helpers.WS(reader, writer, None, None, auto_pong=False)
    helpers.OPEN.add(ws)
    hello = await ws.next_frame()
    assert hello.opcode == helpers.OP_TEXT and b'"hello"' in hello.payload
    pong = await ws.next_frame()
    assert pong.opcode == helpers.OP_PONG and pong.payload == b"early", pong


async def test_healthz_with_connection_keep_alive_answers_200_and_closes(
        shared_server):
    r = await http_exchange(shared_server.port, req(
        "GET", "/healthz", ["Connection: keep-alive"]))
    assert r.status == 200 and r.body == b"ok\n", r
    assert r.closed


async def test_pipelined_requests_answered_once_then_closed(shared_server):
    r = await http_exchange(shared_server.port,
                            req("GET", "/healthz") + req("GET", "/healthz"))
    assert r.status == 200 and r.body == b"ok\n", r
    assert r.closed


def _variant(name, port, key):
    r = upgrade_request(port, key=key)
    if name == "lowercase_names":
        return r.replace(b"Upgrade:", b"upgrade:").replace(
            b"Sec-WebSocket-Key:", b"sec-websocket-key:").replace(
            b"Connection:", b"CONNECTION:")
    if name == "upgrade_uppercase":
        return upgrade_request(port, key=key, upgrade="WEBSOCKET")
    if name == "900_headers":
        return upgrade_request(port, key=key,
                               extra=["A%d: b" % i for i in range(900)])
    if name == "7800_byte_path":
        return upgrade_request(port, key=key, path="/" + "p" * 7800)
    if name == "connection_on_two_lines":
        return upgrade_request(port, key=key, connection="keep-alive",
                               extra=["Connection: Upgrade"])
    if name == "connection_token_list_no_space":
        return upgrade_request(port, key=key, connection="Upgrade,keep-alive")
    if name == "optional_whitespace":
        return r.replace(b"Version: 13", b"Version:   13  ").replace(
            b"Key: " + key.encode(), b"Key:  " + key.encode() + b" ")
    raise AssertionError(name)


@pytest.mark.parametrize("name", [
    "lowercase_names", "upgrade_uppercase", "900_headers", "7800_byte_path",
    "connection_on_two_lines", "connection_token_list_no_space",
    "optional_whitespace"])
async def test_valid_handshake_spellings_accepted(shared_server, name):
    key = ws_key()
    ws = await connect(shared_server,
                       request=_variant(name, shared_server.port, key))
    assert ws.response.header("sec-websocket-accept") == \
        helpers.ws_accept(key), ws.response
    await ws.hello()
