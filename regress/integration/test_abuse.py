"""PROTOCOL.md section 6 (violations, bans) and the 403 of section 1."""

import asyncio

import pytest

import helpers
from helpers import (OP_BINARY, OP_TEXT, client, clients, connect,
                     expect_banned, fresh_ip,
                     http_exchange, nonce_with_exact_bits, pair, rand_key,
                     refused, upgrade_request)


async def test_violations_reach_limit_ban_closes_all_ip_sockets_4002(
        start_server):
    srv = start_server(BAN_AFTER_VIOLATIONS=3)
    x = fresh_ip()
    s1 = await client(srv, x)
    partner = await client(srv)
    await pair(srv, s1, partner)
    s2 = await connect(srv, x)
    await s2.hello()                       # before ready
    s3 = await client(srv, x)
    await s3.join()                        # queued
    bystander = await client(srv)          # another address
    s1.send("not json")
    await s1.expect_error("bad_frame")
    s1.send("[1]")
    await s1.expect_error("bad_frame")
    await s1.quiet(0.1)
    s3.send('{"t":"beat","x":1}')          # third violation of that IP
    await expect_banned(s3, after="bad_frame")
    await expect_banned(s1)
    await expect_banned(s2)
    await partner.expect("ended", reason="peer_left")
    assert await refused(srv, x) == 403
    await bystander.still_open()
    other = await client(srv)
    assert (await other.join())["waiting"] == 1


async def test_ban_expires_after_ban_ms(start_server):
    srv = start_server(BAN_AFTER_VIOLATIONS=1, BAN_MS=700)
    x = fresh_ip()
    ws = await client(srv, x)
    ws.send("{")
    await expect_banned(ws, after="bad_frame")
    t_ban = asyncio.get_running_loop().time()
    assert await refused(srv, x) == 403
    await asyncio.sleep(srv.ms("BAN_MS") * 0.4)
    assert await refused(srv, x) == 403
    await asyncio.sleep(max(0, t_ban + srv.ms("BAN_MS") + 0.2 -
                            asyncio.get_running_loop().time()))
    again = await client(srv, x)
    await again.still_open()


async def test_bad_upgrade_from_banned_ip_answers_400(start_server):
    srv = start_server(BAN_AFTER_VIOLATIONS=1)
    x = fresh_ip()
    ws = await client(srv, x)
    ws.send("{")
    await expect_banned(ws, after="bad_frame")
    r = await http_exchange(srv.port, upgrade_request(srv.port, version="8"),
                            ip=x)
    assert r.status == 400, r
    r = await http_exchange(srv.port, b"GET /healthz HTTP/1.1\r\n"
                            b"Host: x\r\n\r\n", ip=x)
    assert r.status == 200, r


async def test_ban_resets_violation_count(start_server):
    srv = start_server(BAN_AFTER_VIOLATIONS=2, BAN_MS=500)
    x = fresh_ip()
    ws = await client(srv, x)
    ws.send("{")
    await ws.expect_error("bad_frame")
    ws.send("{")
    await expect_banned(ws, after="bad_frame")
    await asyncio.sleep(srv.ms("BAN_MS") + 0.2)
    ws = await client(srv, x)
    ws.send("{")
    await ws.expect_error("bad_frame")     # one violation: not banned
    await ws.quiet(0.2)
    await ws.still_open()


# ---- what counts ---------------------------------------------------------------

async def _pow(srv, x):
    ws = await connect(srv, x)
    await ws.hello()
    for _ in range(2):
        ws.send({"t": "pow", "nonce": nonce_with_exact_bits(ws.challenge, 0)})
        await ws.recv()


async def _bad_frame(srv, x):
    ws = await client(srv, x)
    for _ in range(2):
        ws.send('{"t":"beat","t":"beat"}')
        await ws.recv()


async def _rate(srv, x):
    a, b = await pair(srv, await client(srv, x))
    a.msg("one")
    await b.expect("msg")
    a.msg("two")
    await a.expect_error("rate")
    a.msg("three")


async def _too_long(srv, x):
    a, b = await pair(srv, await client(srv, x))
    a.msg("abcd")
    await a.expect_error("too_long")
    await asyncio.sleep(0.05)
    a.msg("abcde")


async def _empty(srv, x):
    a, b = await pair(srv, await client(srv, x))
    a.msg("  ")
    await a.expect_error("empty")
    await asyncio.sleep(0.05)
    a.msg("\t")


async def _skip_rate(srv, x):
    a, b = await pair(srv, await client(srv, x))
    a.send({"t": "skip"})
    await a.expect("ended")
    await pair(srv, a)
    a.send({"t": "skip"})
    await a.expect_error("skip_rate")
    a.send({"t": "report"})


async def _join_rate(srv, x):
    a, b, c = await clients(srv, 3, x)
    await a.join()
    b.send({"t": "join", "v": 1, "key": rand_key(), "mode": "task"})
    await b.expect_error("join_rate")
    c.send({"t": "join", "v": 1, "key": rand_key(), "mode": "task"})


async def _insights_rate(srv, x):
    a = await client(srv, x)
    await a.insights()
    a.send({"t": "insights"})
    await a.expect_error("insights_rate")
    a.send({"t": "insights"})


async def _ws_error(srv, x, frame, code):
    for _ in range(2):
        ws = await connect(srv, x)
        await ws.hello()
        ws.send_raw(frame)
        f = await ws.next_data_frame(what="close %d" % code)
        assert f is not None and f.opcode == 0x8, f
        assert f.close_code in (code, 4002), f.close_code


VIOLATIONS = {
    "pow": ({}, _pow),
    "bad_frame": ({}, _bad_frame),
    "rate": ({"MSG_INTERVAL_MS": 5000}, _rate),
    "too_long": ({"MSG_MAX_CHARS": 3}, _too_long),
    "empty": ({}, _empty),
    "skip_rate": ({"SKIP_INTERVAL_MS": 5000}, _skip_rate),
    "join_rate": ({"JOINS_PER_MIN": 1}, _join_rate),
    "insights_rate": ({}, _insights_rate),
    "ws_1002_unmasked": ({}, lambda s, x: _ws_error(
        s, x, helpers.frame_bytes(OP_TEXT, b"{}", mask=False), 1002)),
    "ws_1003_binary": ({}, lambda s, x: _ws_error(
        s, x, helpers.frame_bytes(OP_BINARY, b"{}"), 1003)),
    "ws_1007_utf8": ({}, lambda s, x: _ws_error(
        s, x, helpers.frame_bytes(OP_TEXT, b'"\xff"'), 1007)),
    "ws_1009_too_big": ({}, lambda s, x: _ws_error(
        s, x, helpers.frame_bytes(OP_TEXT, b" " * 16385), 1009)),
}


@pytest.mark.parametrize("kind", list(VIOLATIONS))
async def test_counted_error_is_a_violation(start_server, kind):
    settings, provoke = VIOLATIONS[kind]
    srv = start_server(BAN_AFTER_VIOLATIONS=2, **settings)
    x = fresh_ip()
    watcher = await client(srv, x)         # same address, does nothing
    await provoke(srv, x)
    await expect_banned(watcher)
    assert await refused(srv, x) == 403


async def test_state_and_key_in_use_errors_never_ban(start_server):
    srv = start_server(BAN_AFTER_VIOLATIONS=2)
    x = fresh_ip()
    a, b = await clients(srv, 2, x)
    await a.join()
    for _ in range(3):
        b.send({"t": "join", "v": 1, "key": a.key, "mode": "task"})
        await b.expect_error("key_in_use")
        b.send({"t": "skip"})
        await b.expect_error("state")
        a.send({"t": "pow", "nonce": "abc"})
        await a.expect_error("state")
    await a.quiet(0.2)
    await a.still_open()
    await b.still_open()
    c = await client(srv, x)
    await c.still_open()


async def test_closes_4001_4003_4005_are_not_violations(start_server):
    srv = start_server(BAN_AFTER_VIOLATIONS=1, POW_DEADLINE_MS=300,
                       DEVROULETTE_ALLOW_DEBUG=0)
    x = fresh_ip()
    watcher = await client(srv, x)
    a = await client(srv, x)
    a.send({"t": "join", "v": 2, "key": rand_key(), "mode": "task"})
    await a.expect_close(4005)
    b = await client(srv, x)
    b.send({"t": "join", "v": 1, "key": rand_key(), "mode": "debug"})
    await b.expect_close(4003)
    c = await connect(srv, x)
    await c.hello()
    await c.expect_close(4001, timeout=srv.ms("POW_DEADLINE_MS") + 3)
    await watcher.still_open()
    d = await client(srv, x)
    await d.still_open()


async def test_reports_never_ban_or_limit_the_reported(start_server):
    srv = start_server(BAN_AFTER_VIOLATIONS=1)
    x = fresh_ip()
    target = await client(srv, x)
    for i in range(3):
        await asyncio.sleep(0.03)
        reporter = await client(srv)
        await pair(srv, target, reporter)
        reporter.send({"t": "report"})
        await reporter.expect("ended", reason="report")
        await target.expect("ended", reason="peer_left")
    await target.still_open()
    assert (await target.join())["waiting"] == 1
    other = await client(srv, x)
    await other.still_open()
