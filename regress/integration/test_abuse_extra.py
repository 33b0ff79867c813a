"""
PROTOCOL.md sections 1, 2 and 6: the abuse rules the other files leave
open or check only loosely (docs/PROTOCOL.md D1, D6-D9, D17, D27, D41):

- the head deadline runs from the accept, not from the last byte; a head
  growing past 8 KiB in pieces is 431; half-open handshakes are not open
  WebSockets; 403 comes before 503;
- identity: a spoofed leftmost X-Forwarded-For entry cannot escape a ban
  nor frame someone else; with TRUSTED_PROXY_HOPS=0 the header is ignored
  for bans too; IPv6 bans cover the whole /64;
- violations are counted per IP, never summed across addresses;
- frames of any kind move neither the pow deadline nor the beat clock;
- a join in flight holds its JOINS_PER_MIN slot;
- a cluster of same-key sockets holds one place and cannot capture joiners;
- a slow reader over MAX_OUTBUF is dropped, a fast one with the same
  traffic is not, and nobody else notices;
- per-IP entries are forgotten once idle, and the table has a hard cap.
"""

import asyncio
import json
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

import helpers
from drserver import server_argv
from helpers import (OP_PING, OP_PONG, client, connect, expect_banned,
                     fresh_ip, frame_bytes, http_exchange, pair, rand_key,
                     refused, tcp_connect, upgrade_request)


def xff(*values):
    return ["X-Forwarded-For: " + v for v in values]


# ---- section 1: the head and admission ----------------------------------

async def test_head_deadline_runs_from_accept_not_from_last_byte(
        start_server):
    """A head dribbled a byte at a time never buys more time (slowloris)."""
    srv = start_server(HANDSHAKE_TIMEOUT_MS=500)
    limit = srv.ms("HANDSHAKE_TIMEOUT_MS")
    reader, writer = await tcp_connect(srv.port)
    t0 = time.monotonic()
    whole = upgrade_request(srv.port)
    got = None
    for i in range(len(whole) - 4):     # never the final CRLFCRLF
        writer.write(whole[i:i + 1])
        try:
            got = await asyncio.wait_for(reader.read(4096), 0.05)
            break
        except asyncio.TimeoutError:
            pass
        except ConnectionError:
            got = b""
            break
        if time.monotonic() - t0 > limit + 2.5:
            break
    elapsed = time.monotonic() - t0
    assert got == b"", "expected the connection closed without an " \
        "answer, got %r after %.2f s" % (got, elapsed)
    assert limit * 0.8 <= elapsed <= limit + 1.5, \
        "closed after %.2f s, HANDSHAKE_TIMEOUT_MS is %.2f s" % (elapsed,
                                                                 limit)


async def test_head_growing_past_8KiB_in_pieces_answers_431(shared_server):
    srv = shared_server
    reader, writer = await tcp_connect(srv.port)
    head = upgrade_request(srv.port)[:-2]       # no final empty line yet
    writer.write(head)
    pad = b"X-Pad: " + b"a" * 990 + b"\r\n"
    status = None
    for _ in range(12):                         # ~12 KiB in 1 KiB lines
        await asyncio.sleep(0.01)
        if reader.at_eof():
            break
        try:
            writer.write(pad)
            await writer.drain()
        except ConnectionError:
            break
    raw = await helpers.wait_for(reader.read(), 3, "the 431")
    status = raw.split(b"\r\n", 1)[0]
    assert status.startswith(b"HTTP/1.1 431"), raw[:200]


async def test_half_open_handshakes_are_not_open_websockets(start_server):
    """Connections still in their head hold no admission slot (D6)."""
    srv = start_server(MAX_TOTAL_SOCKETS=2, MAX_SOCKETS_PER_IP=1)
    ip = fresh_ip()
    part = upgrade_request(srv.port)[:40]
    for _ in range(6):
        _, w = await tcp_connect(srv.port, ip)
        w.write(part)
    await asyncio.sleep(0.1)
    a = await connect(srv, ip)          # the IP's one place
    await a.hello()
    b = await connect(srv)              # the second of two in all
    await b.hello()
    assert await refused(srv) == 503
    assert await refused(srv, ip) == 503        # 503 before 429 (D1)


async def test_banned_ip_answers_403_before_503(start_server):
    srv = start_server(MAX_TOTAL_SOCKETS=1, BAN_AFTER_VIOLATIONS=1)
    x = fresh_ip()
    ws = await client(srv, x)
    ws.send("{")
    await expect_banned(ws, after="bad_frame")
    holder = await connect(srv)                 # the one place, taken
    await holder.hello()
    assert await refused(srv) == 503
    assert await refused(srv, x) == 403


# ---- section 2: identity ---------------------------------------------------

async def test_spoofed_leftmost_entry_neither_escapes_nor_frames(
        start_server):
    """
    With TRUSTED_PROXY_HOPS=1 only the rightmost entry (what the proxy
    wrote) counts: a banned client prepending addresses is still banned,
    and another client naming the banned address on the left is not.
    """
    srv = start_server(TRUSTED_PROXY_HOPS=1, BAN_AFTER_VIOLATIONS=1)
    proxy = fresh_ip()                          # one proxy for everybody
    bad, good = "198.51.100.7", "203.0.113.9"
    ws = await client(srv, proxy, extra=xff(bad))
    ws.send("{")
    await expect_banned(ws, after="bad_frame")
    for spoof in (xff("192.0.2.1, " + bad), xff("192.0.2.1", bad),
                  xff(good + "," + bad), xff(", " + bad)):
        assert await refused(srv, proxy, extra=spoof) == 403, spoof
    for frame in (xff(bad + ", " + good), xff(bad, good)):
        ok = await client(srv, proxy, extra=frame)
        await ok.still_open()
        ok.abort()


async def test_hops_0_bans_the_peer_whatever_the_header_says(start_server):
    srv = start_server(TRUSTED_PROXY_HOPS=0, BAN_AFTER_VIOLATIONS=1)
    x, y = fresh_ip(), fresh_ip()
    ws = await client(srv, x)
    ws.send("{")
    await expect_banned(ws, after="bad_frame")
    assert await refused(srv, x, extra=xff(y)) == 403
    assert await refused(srv, x, extra=xff("::1")) == 403
    ok = await client(srv, y, extra=xff(x))     # naming x changes nothing
    await ok.still_open()


async def test_ipv6_ban_covers_the_whole_64(start_server):
    srv = start_server(TRUSTED_PROXY_HOPS=1, BAN_AFTER_VIOLATIONS=1)
    proxy = fresh_ip()
    ws = await client(srv, proxy, extra=xff("2001:db8:77:1::1"))
    ws.send("{")
    await expect_banned(ws, after="bad_frame")
    for same in ("2001:db8:77:1:ffff:ffff:ffff:ffff", "2001:db8:77:1::2",
                 "2001:0db8:0077:0001:1:2:3:4%eth0"):
        assert await refused(srv, proxy, extra=xff(same)) == 403, same
    for other in ("2001:db8:77:2::1", "2001:db8:77::1", "::ffff:1.2.3.4"):
        ok = await client(srv, proxy, extra=xff(other))
        await ok.still_open()
        ok.abort()


# ---- section 6: violations -------------------------------------------------

async def test_violations_are_counted_per_ip_never_summed(start_server):
    srv = start_server(BAN_AFTER_VIOLATIONS=3)
    x, y = fresh_ip(), fresh_ip()
    a = await client(srv, x)
    b = await client(srv, y)
    for ws in (a, b, a, b):                     # 2 each, 4 in all
        ws.send("[]")
        await ws.expect_error("bad_frame")
    await a.quiet(0.2)
    await a.still_open()
    await b.still_open()
    a.send("[]")                                # x's third
    await expect_banned(a, after="bad_frame")
    await b.still_open()
    assert await refused(srv, x) == 403
    c = await client(srv, y)
    await c.still_open()


async def test_bans_live_in_memory_only(start_server):
    srv = start_server(BAN_AFTER_VIOLATIONS=1, BAN_MS=600000)
    x = fresh_ip()
    ws = await client(srv, x)
    ws.send("{")
    await expect_banned(ws, after="bad_frame")
    assert await refused(srv, x) == 403
    await srv.stop_async()
    srv.start()                                 # same STATE_DIR
    again = await client(srv, x)
    await again.still_open()


# ---- the pow deadline and the beat clock ----------------------------------

async def test_frames_do_not_move_the_pow_deadline(start_server):
    """Pings, pongs and wrong answers keep a socket alive, never ready."""
    srv = start_server(POW_DEADLINE_MS=700)
    d = srv.ms("POW_DEADLINE_MS")
    ws = await connect(srv)
    await ws.hello()
    t0 = time.monotonic()
    end = t0 + d + 2
    closed = None
    n = 0
    while time.monotonic() < end and closed is None:
        n += 1
        ws.send_frame(OP_PING if n % 2 else OP_PONG, b"k")
        ws.send({"t": "beat"})                  # state: not a violation
        deadline = time.monotonic() + 0.12
        while closed is None:
            f = await ws.poll_frame(deadline - time.monotonic())
            if f is False:
                break
            assert f is not None, "dropped without close frame"
            if f.opcode == helpers.OP_CLOSE:
                closed = f.close_code
    elapsed = time.monotonic() - t0
    assert closed == 4001, "socket still open %.1f s after hello" % elapsed
    assert d * 0.8 <= elapsed <= d + 1.2, elapsed


async def test_only_beat_moves_the_beat_clock_not_control_frames(
        start_server):
    srv = start_server(BEAT_TIMEOUT_MS=700)
    bt = srv.ms("BEAT_TIMEOUT_MS")
    ws = await client(srv)
    t0 = time.monotonic()
    closed = None
    n = 0
    while time.monotonic() < t0 + bt + 2 and closed is None:
        n += 1
        ws.send_frame(OP_PING if n % 2 else OP_PONG, b"p")
        ws.send({"t": "skip"})                  # state, not a violation
        deadline = time.monotonic() + 0.12
        while closed is None:
            f = await ws.poll_frame(deadline - time.monotonic())
            if f is False:
                break
            assert f is not None, "dropped without close frame"
            if f.opcode == helpers.OP_CLOSE:
                closed = f.close_code
    elapsed = time.monotonic() - t0
    assert closed == 4000, "socket still open %.1f s after ready" % elapsed
    assert bt * 0.8 <= elapsed <= bt + 1.2, elapsed


# ---- join_rate and key_in_use -------------------------------------------------

async def test_join_in_flight_holds_its_join_rate_slot(start_server):
    """Two joins from one IP in the same instant: only one takes the last
    place (the front holds a slot while the matcher answers)."""
    srv = start_server(JOINS_PER_MIN=1)
    for _ in range(3):
        ip = fresh_ip()
        a, b = await helpers.clients(srv, 2, ip)
        a.send_raw(frame_bytes(helpers.OP_TEXT, helpers.dumps(
            {"t": "join", "v": 1, "key": rand_key(), "mode": "task"})))
        b.send_raw(frame_bytes(helpers.OP_TEXT, helpers.dumps(
            {"t": "join", "v": 1, "key": rand_key(), "mode": "task"})))
        got = sorted([(await a.recv())["t"], (await b.recv())["t"]])
        assert got == ["error", "queued"], got
        for ws in (a, b):
            ws.abort()


async def test_same_key_cluster_holds_one_place_cannot_capture_joiners(
        start_server):
    srv = start_server()
    key = rand_key()
    cluster = await helpers.clients(srv, 6)     # six addresses, one key
    for ws in cluster:
        ws.send({"t": "join", "v": 1, "key": key, "mode": "task"})
    answers = [await ws.recv() for ws in cluster]
    queued = [ws for ws, m in zip(cluster, answers) if m["t"] == "queued"]
    assert len(queued) == 1, answers
    assert sorted(m.get("code", "") for m in answers) == \
        [""] + ["key_in_use"] * 5, answers
    holder = queued[0]
    others = [ws for ws in cluster if ws is not holder]
    # The first real joiner meets the cluster's one place...
    r1 = await client(srv)
    assert (await r1.join())["waiting"] == 2
    await r1.matched()
    await holder.matched()
    # ...which the rest cannot take again while the key is in a room,
    for ws in others:
        ws.send({"t": "join", "v": 1, "key": key, "mode": "open"})
        await ws.expect_error("key_in_use")
    # so every later joiner meets a real partner.
    reals = await helpers.clients(srv, 4)
    for i in (0, 2):
        assert (await reals[i].join())["waiting"] == 1
        assert (await reals[i + 1].join())["waiting"] == 2
        ma = await reals[i].matched()
        mb = await reals[i + 1].matched()
        assert ma["you"] == mb["peer"], (ma, mb)
    m = await r1.insights()
    assert m["waiting"] == 0 and m["rooms"] == 3, m
    for ws in others:
        await ws.quiet(0.05)


# ---- slow readers ---------------------------------------------------------------

async def stalled_client(srv, ip=None):
    """
    A ready socket that will stop reading: a small receive buffer and a
    small MSS keep the server's kernel send buffer small too (on loopback
    it would otherwise be sized for a 64 KiB MSS, megabytes).
    """
    ip = ip or fresh_ip()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    sock.bind((ip, 0))
    sock.setblocking(False)
    await helpers.wait_for(asyncio.get_running_loop().sock_connect(
        sock, ("127.0.0.1", srv.port)), 3, "TCP connect")
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
    helpers.OPEN.add(writer)
    writer.write(upgrade_request(srv.port))
    raw = await helpers.read_head(reader, 3)
    assert raw.startswith(b"HTTP/1.1 101 "), raw
    ws = helpers.WS(reader, writer, ip, None)
    helpers.OPEN.discard(writer)
    helpers.OPEN.add(ws)
    helpers.CREATED.append(ws)
    await ws.hello()
    await ws.pow()
    return ws


async def test_slow_reader_over_max_outbuf_dropped_nobody_else_affected(
        start_server):
    srv = start_server(MAX_OUTBUF=32768, MSG_INTERVAL_MS=0,
                       MSG_MAX_CHARS=16000)
    slow = await stalled_client(srv)
    fast = await client(srv)
    s1 = await client(srv)
    s2 = await client(srv)
    await pair(srv, slow, s1)
    await pair(srv, fast, s2)
    calm_a, calm_b = await pair(srv)
    slow.writer.transport.pause_reading()       # stops reading, stays up
    texts = ["%04d" % i + "x" * 12000 for i in range(40)]
    got = []

    async def fast_reader():
        while len(got) < len(texts):
            got.append((await fast.expect("msg", timeout=5))["text"])

    reader = asyncio.ensure_future(fast_reader())
    ended_at = None
    t0 = time.monotonic()
    for i, text in enumerate(texts):
        if ended_at is None:
            s1.msg(text)
        s2.msg(text)
        if i % 8 == 0:
            calm_a.msg("calm %d" % i)
            await calm_b.expect("msg", text="calm %d" % i)
        await asyncio.sleep(0.06)               # 16 frames/s: in budget
        if ended_at is None:
            f = await s1.poll_frame(0.005)
            if f not in (False, None):
                m = json.loads(f.payload)
                assert m == {"t": "ended", "reason": "peer_left"}, m
                ended_at = i
    if ended_at is None:
        await s1.expect("ended", reason="peer_left", timeout=3)
        ended_at = len(texts)
    # The stalled socket went after ~MAX_OUTBUF plus what the kernels
    # hold, long before the 500 KB its partner sent.
    assert ended_at < 20, "slow reader dropped only after %d messages" % \
        ended_at
    # msgs that crossed the end are refused `state` (section 3)
    while True:
        f = await s1.poll_frame(0.2)
        if f is False:
            break
        assert f is not None and json.loads(f.payload)["code"] == "state", f
    await helpers.wait_for(reader, 10, "the fast reader's messages")
    assert got == texts, "the fast reader lost or reordered messages"
    await s1.still_open()
    await s2.still_open()
    await fast.still_open()
    calm_b.msg("still here")
    await calm_a.expect("msg", text="still here")
    assert (await s1.insights())["online"] == 5
    # Dropped means no close frame: what was queued, then the end.
    slow.writer.transport.resume_reading()
    while True:
        f = await slow.next_frame(timeout=5, what="the end of the stream")
        if f is None:
            break
        assert f.opcode != helpers.OP_CLOSE, "a slow reader got %r" % f
    assert time.monotonic() - t0 < 20


# ---- per-IP state -------------------------------------------------------------------

def ctl_stats(srv):
    """devroulettectl -j stats, from next to the daemon under test."""
    ctl = Path(server_argv()[0]).parent / "devroulettectl"
    r = subprocess.run([str(ctl), "-s", srv.settings["CONTROL_SOCKET"], "-j",
                        "stats"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


SWEEP_RE = re.compile(r"^(\w+): relay_sweep: (\d+) idle addresses "
                      r"forgotten, (\d+) kept", re.M)


@pytest.mark.daemon_only
@pytest.mark.timeout(60)
async def test_idle_per_ip_entries_are_forgotten(start_server):
    """
    D41: an address's entry lives while it has sockets, a join or a
    violation in the window, or a ban; the sweep (every 10 s) then frees
    it. Observed through the front's debug log and the ban count.
    """
    srv = start_server(_args=("-v",), BAN_AFTER_VIOLATIONS=1, BAN_MS=1500)
    t_start = time.monotonic()
    clean = [fresh_ip() for _ in range(150)]
    banned = [fresh_ip() for _ in range(30)]
    sem = asyncio.Semaphore(50)

    async def visit(ip):
        async with sem:
            ws = await connect(srv, ip)
            await ws.hello()
            await ws.close()

    async def ban(ip):
        async with sem:
            ws = await client(srv, ip)
            ws.send("{")
            await expect_banned(ws, after="bad_frame")
            ws.abort()

    await asyncio.gather(*(visit(ip) for ip in clean),
                         *(ban(ip) for ip in banned))
    keeper = await client(srv)                  # one entry stays
    assert (await asyncio.to_thread(ctl_stats, srv))["bans"] == 30
    await asyncio.sleep(max(0, t_start + srv.ms("BAN_MS") + 0.3 -
                            time.monotonic()))
    assert (await asyncio.to_thread(ctl_stats, srv))["bans"] == 0
    # The first sweep comes 10 s after a front started; with PREFORK each
    # front sweeps the addresses it owns.
    fronts = int(srv.settings.get("PREFORK") or 1)
    deadline = t_start + 14
    while True:
        sweeps = SWEEP_RE.findall(srv.output())
        if len({p for p, _, _ in sweeps}) >= fronts or \
                time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
        keeper.send({"t": "beat"})
    assert sweeps, "no sweep logged:\n" + srv.output()[-2000:]
    forgotten = sum(int(f) for _, f, _ in sweeps)
    last = {p: int(k) for p, _, k in sweeps}
    kept = sum(last.values())
    assert forgotten == len(clean) + len(banned), sweeps
    assert kept == 1, sweeps
    await keeper.still_open()


@pytest.mark.daemon_only
async def test_per_ip_table_has_a_hard_cap(start_server):
    """
    D41: the table holds at most MAX_TOTAL_SOCKETS + max(MAX_TOTAL_SOCKETS,
    1024) entries. More banned addresses than that: some bans are
    forgotten (an eighth of the cap at a time), never an address that
    holds a socket.
    """
    srv = start_server(MAX_TOTAL_SOCKETS=10, MAX_SOCKETS_PER_IP=1,
                       BAN_AFTER_VIOLATIONS=1, BAN_MS=600000)
    cap = 10 + 1024
    keeper_ip = fresh_ip()
    keeper = await client(srv, keeper_ip)
    sem = asyncio.Semaphore(8)

    async def ban(ip):
        async with sem:
            ws = await connect(srv, ip)
            await ws.hello()
            ws.send("{")
            await expect_banned(ws, after="bad_frame")
            ws.abort()

    ips = [fresh_ip() for _ in range(cap + 200)]
    await asyncio.gather(*(ban(ip) for ip in ips))
    bans = (await asyncio.to_thread(ctl_stats, srv))["bans"]
    fronts = int(srv.settings.get("PREFORK") or 1)
    if fronts == 1:
        assert cap - cap // 8 <= bans < cap, "%d bans held" % bans
    else:
        # D43: each front holds its share of the cap for its addresses
        # (all of them overflow here); the keeper's entry is no ban.
        share = -(-cap // fronts)
        assert fronts * (share - share // 8) - 1 <= bans <= \
            fronts * share, "%d bans held in %d fronts" % (bans, fronts)
    assert "per-address table full" in srv.output()
    # The address holding a socket was never forgotten: still one place.
    assert await refused(srv, keeper_ip) == 429
    await keeper.still_open()
    keeper.send("{")                     # and its ban still works
    await expect_banned(keeper, after="bad_frame")
    assert await refused(srv, keeper_ip) == 403


@pytest.mark.timeout(60)
async def test_oldest_unfinished_handshake_makes_way(start_server):
    """
    D44: at most max(MAX_TOTAL_SOCKETS, 1024) heads in progress per front;
    one more connection closes the oldest, so silent clients can neither
    hold memory without bound nor keep a newcomer out.
    """
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2048 <= hard or hard == resource.RLIM_INFINITY:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    srv = start_server(PREFORK=1, MAX_TOTAL_SOCKETS=10,
                       HANDSHAKE_TIMEOUT_MS=30000)
    part = upgrade_request(srv.port)[:40]
    old_r, old_w = await tcp_connect(srv.port)
    old_w.write(part)
    await asyncio.sleep(0.2)
    rest = []
    for _ in range(1023):
        r, w = await tcp_connect(srv.port)
        w.write(part)
        rest.append(r)
    await asyncio.sleep(0.5)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(old_r.read(1), 0.2)
    ws = await connect(srv)                 # the 1025th: it gets in
    await ws.hello()
    assert await asyncio.wait_for(old_r.read(), 5) == b""   # closed, mute
    for r in rest[:50]:                     # the others are untouched
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(r.read(1), 0.01)
    out = srv.output()
    assert "unfinished handshakes dropped for newer connections" in out, \
        out[-2000:]
