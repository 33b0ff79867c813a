"""
PROTOCOL.md section 9 (only aggregate counters on disk, nothing personal in
files or logs) and shutdown (section 7: 1001, no ended, exit 0).
"""

import asyncio
import json
import re

from helpers import (client, connect, expect_banned, fresh_ip, pair,
                     rand_key, tcp_connect, upgrade_request)

COUNTER_NAMES = ("connections", "convos", "messages", "reports")


def state_files(srv):
    return sorted(p for p in srv.state_dir.rglob("*"))


def read_counters(srv):
    """The one counters file in STATE_DIR (nothing else may be there)."""
    files = state_files(srv)
    assert len(files) == 1 and files[0].is_file(), \
        "STATE_DIR must hold only the counters file, holds %s" % [
            str(p.relative_to(srv.state_dir)) for p in files]
    text = files[0].read_text()
    try:
        data = json.loads(text)
    except ValueError:
        raise AssertionError("counters file %s is not JSON: %r" % (
            files[0].name, text[:200])) from None
    assert isinstance(data, dict), text
    for k in COUNTER_NAMES:
        assert type(data.get(k)) is int, "counter %r missing in %r" % (k,
                                                                      text)
    return {k: data[k] for k in COUNTER_NAMES}


async def traffic(srv, first_run):
    """
    Known traffic: 3 WebSockets (one never ready), 1 room, 2 relayed
    messages, 1 report, plus refused things that count for nothing.
    """
    a, b = await pair(srv)
    a.msg("first")
    await b.expect("msg", text="first")
    await asyncio.sleep(0.05)              # > MSG_INTERVAL_MS
    a.msg("x" * 600)                       # too_long: not relayed
    await a.expect_error("too_long")
    b.msg("second")
    await a.expect("msg", text="second")
    await asyncio.sleep(0.05)
    b.send({"t": "report"})
    await b.expect("ended", reason="report")
    await a.expect("ended", reason="peer_left")
    c = await connect(srv)
    await c.hello()
    await c.close()
    b.send({"t": "skip"})                  # refused: state
    await b.expect_error("state")
    m = await a.insights()
    assert (m["convos"], m["messages"]) == ((1, 2) if first_run else (2, 4)), m
    await a.close()
    await b.close()


async def test_state_dir_holds_only_counters_with_exact_totals(start_server):
    srv = start_server(MSG_MAX_CHARS=500)
    await traffic(srv, True)
    await srv.stop_async()
    assert read_counters(srv) == {"connections": 3, "convos": 1,
                                  "messages": 2, "reports": 1}


async def test_counters_survive_restart(start_server):
    srv = start_server()
    await traffic(srv, True)
    await srv.stop_async()
    srv.start()                            # same STATE_DIR
    w = await client(srv)
    m = await w.insights()
    assert (m["convos"], m["messages"]) == (1, 2), m
    await w.close()
    await traffic(srv, False)
    await srv.stop_async()
    assert read_counters(srv) == {"connections": 7, "convos": 2,
                                  "messages": 4, "reports": 2}


async def test_no_ip_key_handle_or_text_in_logs_or_state_dir(start_server):
    srv = start_server(_args=["-v"], BAN_AFTER_VIOLATIONS=2,
                       TRUSTED_PROXY_HOPS=1, DEVROULETTE_ALLOW_DEBUG=1)
    ip_a, ip_b, ip_c = fresh_ip(), fresh_ip(), fresh_ip()
    forwarded = "10.213.177.59"
    secrets_ = [ip_a, ip_b, ip_c, forwarded]
    a = await client(srv, ip_a)
    b = await client(srv, ip_b, extra=["X-Forwarded-For: " + forwarded])
    key_a, key_b = rand_key(), rand_key()
    await a.join(key=key_a)
    await b.join(key=key_b, mode="open")
    ma = await a.matched()
    assert (await b.matched())["you"] == ma["peer"]
    secrets_ += [key_a, key_b, ma["you"], ma["peer"]]
    text = "zebra cantaloupe 4711 whisper"
    secrets_.append(text)
    a.msg(text)
    await b.expect("msg", text=text)
    # a duplicate key, a debug room, a report, a ban: things worth logging
    d = await client(srv, ip_c)
    d.send({"t": "join", "v": 1, "key": key_a, "mode": "task"})
    await d.expect_error("key_in_use")
    b.send({"t": "report"})
    await b.expect("ended")
    await a.expect("ended")
    e, f = await client(srv), await client(srv)
    await pair(srv, e, f, mode="debug")
    secrets_ += [e.last_matched["you"], e.last_matched["peer"]]
    e.msg("debug " + text)
    await f.expect("msg")
    d.send("{")
    await d.expect_error("bad_frame")
    d.send("{")
    await expect_banned(d, after="bad_frame")
    await srv.stop_async()
    log = srv.output()
    blobs = [("log", log)] + [(str(p), p.read_bytes().decode("latin-1"))
                              for p in state_files(srv) if p.is_file()]
    for where, blob in blobs:
        for s in secrets_:
            assert s not in blob, "%r found in %s:\n%s" % (s, where,
                                                           blob[-2000:])
        # no address of the test's 127.x.y.z clients in any form
        for m in re.finditer(r"127\.(\d+)\.(\d+)\.(\d+)", blob):
            assert m.group(0) == "127.0.0.1", \
                "client address %s in %s" % (m.group(0), where)


async def test_sigterm_closes_every_websocket_1001_without_ended(
        start_server):
    srv = start_server()
    hello_only = await connect(srv)
    await hello_only.hello()
    ready = await client(srv)
    a, b = await pair(srv)
    queued = await client(srv)
    await queued.join()
    # a connection still in its handshake is dropped, never answered
    reader, writer = await tcp_connect(srv.port)
    writer.write(upgrade_request(srv.port)[:20])
    await asyncio.sleep(0.1)
    srv.terminate()
    for ws in (hello_only, ready, queued, a, b):
        await ws.expect_close(1001, timeout=5)    # nothing (no ended) first
    data = await asyncio.wait_for(reader.read(), 5)
    assert not data.startswith(b"HTTP/1.1 101"), data
    await srv.stop_async()


async def test_sigterm_right_after_start_exits_0(start_server):
    """SIGTERM as soon as the port accepts: handled, not fatal (15 tries)."""
    srv = start_server()
    await srv.stop_async()
    for _ in range(14):
        srv.start()
        await srv.stop_async()
    assert srv.exit_codes == [0] * 15, srv.exit_codes


async def test_sigterm_exits_0_even_if_a_client_never_answers_close(
        start_server):
    srv = start_server()
    mute = await client(srv)
    mute.echo_close = False                # keeps the TCP connection open
    other = await client(srv)
    srv.terminate()
    await mute.expect_close(1001, timeout=5, tcp_close=False)
    await other.expect_close(1001, timeout=5)
    await srv.stop_async()                 # exit 0 within DR_STOP_TIMEOUT
