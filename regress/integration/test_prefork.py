"""
PREFORK (D43): several front processes, one matcher.  The kernel spreads
connections over the fronts' SO_REUSEPORT sockets without regard to the
client, so every limit here would be exceeded if the fronts kept separate
books: many connections from one address land on several fronts, and only
the handoff to the address's owner keeps per-IP limits exact.
"""

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from drserver import server_argv, server_env
from test_sandbox import children, settled_children
from helpers import (HandshakeRefused, OP_PONG, OP_TEXT, client, connect,
                     dumps, expect_banned, frame_bytes, fresh_ip,
                     parse_head, read_head, refused, tcp_connect,
                     upgrade_request, ws_accept, ws_key)

pytestmark = pytest.mark.daemon_only

FRONTS = 3


def ctl_json(srv, what):
    ctl = Path(server_argv()[0]).parent / "devroulettectl"
    r = subprocess.run([str(ctl), "-s", srv.settings["CONTROL_SOCKET"], "-j",
                        what], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


async def status_of(srv, ip, **kw):
    """101 (the socket is kept open), or the refusal's status."""
    try:
        await connect(srv, ip, **kw)
        return 101
    except HandshakeRefused as e:
        return e.response.status


async def test_prefork_runs_that_many_sandboxed_fronts(start_server):
    srv = start_server(PREFORK=FRONTS)
    await client(srv)
    kids = await settled_children(srv)
    assert len(kids) == FRONTS + 1, kids
    for k in kids:
        st = Path("/proc/%d/status" % k).read_text()
        assert "\nSeccomp:\t2\n" in st, (k, st)
        assert "\nNoNewPrivs:\t1\n" in st, (k, st)


async def test_per_ip_socket_cap_is_exact_across_fronts(start_server):
    """Without the handoff, about FRONTS * 3 of 15 would be let in."""
    srv = start_server(PREFORK=FRONTS, MAX_SOCKETS_PER_IP=3)
    for _ in range(4):
        ip = fresh_ip()
        got = await asyncio.gather(*(status_of(srv, ip) for _ in range(15)))
        assert sorted(got) == [101] * 3 + [429] * 12, got


async def test_per_ip_cap_behind_a_proxy_is_exact(start_server):
    """Behind a proxy the address is in X-Forwarded-For, not the peer's."""
    srv = start_server(PREFORK=FRONTS, MAX_SOCKETS_PER_IP=2,
                       TRUSTED_PROXY_HOPS=1)
    who = "203.0.113.%d" % (os.getpid() % 200 + 1)
    xff = ("X-Forwarded-For: " + who,)
    got = await asyncio.gather(*(status_of(srv, fresh_ip(), extra=xff)
                                 for _ in range(12)))
    assert sorted(got) == [101] * 2 + [429] * 10, got


async def test_global_cap_is_exact_across_fronts(start_server):
    srv = start_server(PREFORK=FRONTS, MAX_TOTAL_SOCKETS=7)
    got = await asyncio.gather(*(status_of(srv, fresh_ip())
                                 for _ in range(24)))
    assert sorted(got) == [101] * 7 + [503] * 17, got
    assert ctl_json(srv, "stats")["sockets"] == 7


async def test_a_ban_holds_on_every_front(start_server):
    srv = start_server(PREFORK=FRONTS, BAN_AFTER_VIOLATIONS=1,
                       BAN_MS=600000)
    ip = fresh_ip()
    ws = await connect(srv, ip)
    await ws.hello()
    ws.send_text("{")
    await expect_banned(ws, after="bad_frame")
    got = await asyncio.gather(*(refused(srv, ip) for _ in range(12)))
    assert got == [403] * 12, got
    assert ctl_json(srv, "stats")["bans"] == 1
    assert len(ctl_json(srv, "bans")) == 1


async def test_joins_per_minute_count_across_fronts(start_server):
    srv = start_server(PREFORK=FRONTS, JOINS_PER_MIN=2,
                       MAX_SOCKETS_PER_IP=10)
    ip = fresh_ip()
    socks = await asyncio.gather(*(client(srv, ip) for _ in range(6)))
    codes = []
    for ws in socks:
        ws.send({"t": "join", "v": 1, "key": os.urandom(32).hex(),
                 "mode": "task"})
        m = await ws.recv()
        codes.append(m.get("code") if m["t"] == "error" else m["t"])
    assert codes.count("queued") + codes.count("matched") == 2, codes
    assert codes.count("join_rate") == 4, codes


async def test_chat_between_clients_of_every_front(start_server):
    """Twenty pairs from distinct addresses: rooms across fronts work."""
    srv = start_server(PREFORK=FRONTS)
    socks = await asyncio.gather(*(client(srv) for _ in range(40)))
    for ws in socks:
        await ws.join(mode="open")
    names = [await ws.matched() for ws in socks]
    for ws, m in zip(socks, names):
        ws.msg("from " + m["you"])
    for ws, m in zip(socks, names):
        got = await ws.expect("msg")
        assert got["text"] == "from " + m["peer"], (m, got)
    st = ctl_json(srv, "stats")
    assert st["sockets"] == 40 and st["rooms"] == 20, st
    m = await socks[0].insights()
    assert m["online"] == 40, m


async def test_bytes_after_the_head_follow_the_handoff(start_server):
    """
    A ping sent in the same write as the head: whichever front reads it,
    the front that admits the socket answers it (D43 hands the bytes on).
    """
    srv = start_server(PREFORK=FRONTS)
    for _ in range(12):
        reader, writer = await tcp_connect(srv.port, fresh_ip())
        key = ws_key()
        head = upgrade_request(srv.port, key=key)
        writer.write(head[:10])             # the head in two reads, too
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(head[10:] + frame_bytes(0x9, b"early"))
        raw = await read_head(reader, 5)
        status, _, headers = parse_head(raw[:-4])
        assert status == 101, raw
        assert headers["sec-websocket-accept"] == [ws_accept(key)], headers
        got = set()
        while len(got) < 2:
            b0, b1 = await asyncio.wait_for(reader.readexactly(2), 5)
            payload = await reader.readexactly(b1 & 0x7f)
            if b0 & 0x0f == OP_TEXT:
                assert json.loads(payload)["t"] == "hello"
                got.add("hello")
            elif b0 & 0x0f == OP_PONG:
                assert payload == b"early"
                got.add("pong")
        writer.transport.abort()


async def test_shutdown_closes_every_front(start_server):
    srv = start_server(PREFORK=FRONTS)
    socks = await asyncio.gather(*(client(srv) for _ in range(12)))
    srv.terminate()
    for ws in socks:
        await ws.expect_close(1001, timeout=5)
    await srv.stop_async()
    saved = json.loads((srv.state_dir / "counters").read_text())
    assert saved["connections"] >= 12, saved


@pytest.mark.parametrize("value", ["0", "17", "2x", ""])
def test_prefork_out_of_range_is_refused(tmp_path, value):
    env = server_env({"PREFORK": value, "STATE_DIR": str(tmp_path),
                      "PORT": "0", "HOST": "127.0.0.1",
                      "CONTROL_SOCKET": str(tmp_path / "ctl.sock")})
    r = subprocess.run(server_argv(), env=env, capture_output=True,
                       text=True, timeout=10)
    assert r.returncode != 0
    assert "PREFORK" in r.stderr, r.stderr


async def test_a_second_daemon_cannot_share_the_port(start_server, tmp_path):
    """SO_REUSEPORT would let it join the group; the daemon checks first."""
    srv = start_server(PREFORK=2)
    env = server_env({"PREFORK": "2", "STATE_DIR": str(srv.state_dir),
                      "PORT": str(srv.port), "HOST": "127.0.0.1",
                      "CONTROL_SOCKET": str(tmp_path / "other.sock")})
    r = subprocess.run(server_argv(), env=env, capture_output=True,
                       text=True, timeout=10)
    assert r.returncode != 0
    assert "bind" in r.stderr, r.stderr
    await client(srv)                    # the first one is unharmed


def hooks_server(tmp_path, monkeypatch, **settings):
    """
    The test-hooks build; by default every handoff fails as if the owner
    were gone (DR_TEST_HANDOFF_FAIL).
    """
    from test_sandbox import hooks_daemon
    from drserver import Server
    monkeypatch.setenv("DEVROULETTED", str(hooks_daemon()))
    settings.setdefault("DR_TEST_HANDOFF_FAIL", "1")
    settings["PREFORK"] = str(FRONTS)
    return Server(tmp_path / "hooks", settings).start()


async def test_direct_clients_land_on_their_owner(tmp_path, monkeypatch):
    """
    The steering program makes the kernel pick the owner's socket: with
    every handoff failing, direct clients still all get in.  Without it,
    about two in three would need a handoff and hear 503.
    """
    srv = hooks_server(tmp_path, monkeypatch)
    try:
        got = await asyncio.gather(*(status_of(srv, fresh_ip())
                                     for _ in range(30)))
        assert got == [101] * 30, got
        assert "handoff" not in srv.output()
    finally:
        srv.stop()


async def test_a_full_handoff_queue_makes_the_client_wait_not_fail(
        tmp_path, monkeypatch):
    """
    Each front's first 40 attempts to hand over find the owner's queue
    full (the hook answers EAGAIN): the connections wait, unread, and go
    when there is room; none is refused.
    """
    srv = hooks_server(tmp_path, monkeypatch, DR_TEST_HANDOFF_FAIL=None,
                       DR_TEST_HANDOFF_EAGAIN=40, TRUSTED_PROXY_HOPS=1)
    try:
        proxy = fresh_ip()
        who = ["198.51.100.%d" % i for i in range(1, 41)]
        socks = await asyncio.gather(*(
            client(srv, proxy, extra=("X-Forwarded-For: " + w,))
            for w in who))
        assert len(socks) == 40
        assert ctl_json(srv, "stats")["sockets"] == 40
        assert "handoff" not in srv.output()
    finally:
        srv.stop()


async def test_a_handoff_that_cannot_go_is_503_and_costs_nothing(
        tmp_path, monkeypatch):
    """
    Behind a proxy the kernel cannot know the client, so handoffs happen;
    one that cannot go is 503, the count of open WebSockets does not leak,
    and the log says so once, without addresses.
    """
    srv = hooks_server(tmp_path, monkeypatch, TRUSTED_PROXY_HOPS=1,
                       MAX_TOTAL_SOCKETS=100)
    try:
        proxy = fresh_ip()
        who = ["198.51.100.%d" % i for i in range(1, 31)]
        got = await asyncio.gather(*(
            status_of(srv, proxy, extra=("X-Forwarded-For: " + w,))
            for w in who))
        assert set(got) == {101, 503}, got
        assert ctl_json(srv, "stats")["sockets"] == got.count(101)
        out = srv.output()
        assert "handoff to front" in out and "answered 503" in out, out
        for w in who + [proxy]:
            assert w not in out
    finally:
        srv.stop()
