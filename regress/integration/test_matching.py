"""PROTOCOL.md section 4: matching, rooms, their order and their end."""

import asyncio
import time

import pytest

from helpers import client, clients, dumps, frame_bytes, OP_TEXT, pair


async def end_room(a, b, how="skip"):
    await asyncio.sleep(0.03)     # > SKIP_INTERVAL_MS of the base settings
    a.send({"t": how})
    await a.expect("ended", reason=how)
    await b.expect("ended", reason="peer_left")


@pytest.mark.parametrize("first", ["skipper", "skipped"])
async def test_former_partners_wait_unmatched_newcomer_gets_earlier(
        start_server, first):
    srv = start_server()
    a, b = await pair(srv)
    await end_room(a, b)
    x, y = (a, b) if first == "skipper" else (b, a)
    assert (await x.join())["waiting"] == 1
    assert (await y.join())["waiting"] == 2     # no immediate rematch
    await x.quiet(0.3)
    await y.quiet(0)
    c = await client(srv)
    assert (await c.join())["waiting"] == 3
    mc = await c.matched()
    mx = await x.matched()
    assert mc["peer"] == mx["you"] and mx["peer"] == mc["you"]
    await y.quiet(0.2)
    d = await client(srv)
    assert (await d.join())["waiting"] == 2
    await d.matched()
    await y.matched()


async def test_queue_is_fifo_across_modes_task_and_open(start_server):
    srv = start_server()
    a, b = await pair(srv)                       # a: task, b: open
    await end_room(a, b)
    assert (await b.join(mode="open"))["waiting"] == 1
    assert (await a.join(mode="task"))["waiting"] == 2
    c = await client(srv)
    await c.join(mode="task")
    mc = await c.matched()
    mb = await b.matched()                       # b waited longest
    assert mc["peer"] == mb["you"]
    await a.quiet(0.2)


async def test_new_room_on_both_sides_clears_rematch_rule(start_server):
    srv = start_server()
    a, b = await pair(srv)
    await end_room(a, b)
    c, d = await clients(srv, 2)
    await pair(srv, a, c)                        # a's newer room
    await end_room(a, c)
    await pair(srv, b, d)                        # b's newer room
    await end_room(b, d)
    await pair(srv, a, b)                        # may meet again


async def test_new_room_on_one_side_only_keeps_rule(start_server):
    srv = start_server()
    a, b = await pair(srv)
    await end_room(a, b)
    c = await client(srv)
    await pair(srv, a, c)                        # a's newer room; b's is a
    await end_room(a, c)
    assert (await b.join())["waiting"] == 1
    assert (await a.join())["waiting"] == 2
    await a.quiet(0.3)


async def test_debug_queue_apart_from_task_and_open(start_server):
    srv = start_server(DEVROULETTE_ALLOW_DEBUG=1)
    a, b, c, d = await clients(srv, 4)
    assert (await a.join(mode="debug"))["waiting"] == 1
    assert (await b.join(mode="task"))["waiting"] == 1   # its own queue
    await a.quiet(0.2)
    await b.quiet(0)
    assert (await c.join(mode="debug"))["waiting"] == 2
    mc = await c.matched()
    ma = await a.matched()
    assert mc["peer"] == ma["you"]
    assert (await d.join(mode="open"))["waiting"] == 2
    await d.matched()
    await b.matched()


async def test_matched_reaches_both_with_distinct_crossed_handles(
        shared_server):
    a, b = await pair(shared_server)
    ma, mb = a.last_matched, b.last_matched
    assert ma["you"] != ma["peer"]
    assert (ma["you"], ma["peer"]) == (mb["peer"], mb["you"])


@pytest.mark.parametrize("then", ["skip", "report", "done", "close"])
async def test_messages_sent_before_ended_arrive_before_ended(shared_server,
                                                             then):
    a, b = await pair(shared_server)
    data = frame_bytes(OP_TEXT, dumps({"t": "msg", "text": "last words"}))
    if then == "close":
        data += frame_bytes(0x8, b"\x03\xe8")
    else:
        data += frame_bytes(OP_TEXT, dumps({"t": then}))
    a.send_raw(data)                             # one write, one segment
    await b.expect("msg", text="last words")
    await b.expect("ended", reason="peer_left")


async def test_room_max_msgs_last_message_relayed_then_ended_limit(
        start_server):
    srv = start_server(ROOM_MAX_MSGS=3)
    a, b = await pair(srv)
    a.msg("m1")
    await b.expect("msg", text="m1")
    b.msg("m2")
    await a.expect("msg", text="m2")
    await a.quiet(0.1)
    await b.quiet(0)
    a.msg("m3")
    await b.expect("msg", text="m3")
    await b.expect("ended", reason="limit")
    await a.expect("ended", reason="limit")
    a.msg("m4")
    await a.expect_error("state")
    m = await b.insights()
    assert m["messages"] == 3 and m["rooms"] == 0, m


async def test_room_idle_ends_with_idle_for_both(start_server):
    srv = start_server(ROOM_IDLE_MS=600)
    idle = srv.ms("ROOM_IDLE_MS")
    a, b = await pair(srv)
    t0 = time.monotonic()
    await a.expect("ended", reason="idle", timeout=idle + 3)
    assert time.monotonic() - t0 >= idle * 0.8
    await b.expect("ended", reason="idle")


async def test_relayed_message_restarts_room_idle_clock(start_server):
    srv = start_server(ROOM_IDLE_MS=800)
    idle = srv.ms("ROOM_IDLE_MS")
    a, b = await pair(srv)
    await asyncio.sleep(idle * 0.6)
    a.msg("still here")
    await b.expect("msg", text="still here")
    t1 = time.monotonic()
    await b.expect("ended", reason="idle", timeout=idle + 3)
    assert time.monotonic() - t1 >= idle * 0.75, \
        "room ended %.2f s after a message, ROOM_IDLE_MS %.2f s" % (
            time.monotonic() - t1, idle)
    await a.expect("ended", reason="idle")


async def test_refused_message_does_not_restart_idle_clock(start_server):
    srv = start_server(ROOM_IDLE_MS=1000)
    idle = srv.ms("ROOM_IDLE_MS")
    a, b = await pair(srv)
    t0 = time.monotonic()
    await asyncio.sleep(idle * 0.5)
    a.msg("   ")
    await a.expect_error("empty")
    await b.expect("ended", reason="idle", timeout=idle + 3)
    assert time.monotonic() - t0 < idle * 1.4, "refused msg restarted idle"


async def test_queued_socket_not_ended_by_idle(start_server):
    srv = start_server(ROOM_IDLE_MS=300)
    a = await client(srv)
    await a.join()
    await a.quiet(srv.ms("ROOM_IDLE_MS") * 2)


async def test_room_max_msgs_1_first_message_relayed_then_limit(start_server):
    srv = start_server(ROOM_MAX_MSGS=1)
    a, b = await pair(srv)
    b.msg("only one")
    await a.expect("msg", text="only one")
    await a.expect("ended", reason="limit")
    await b.expect("ended", reason="limit")


async def test_simultaneous_skips_end_room_once_for_each(shared_server):
    a, b = await pair(shared_server)
    a.send_raw(frame_bytes(OP_TEXT, b'{"t":"skip"}'))
    b.send_raw(frame_bytes(OP_TEXT, b'{"t":"skip"}'))
    reasons = []
    for ws in (a, b):
        m = await ws.expect("ended")
        reasons.append(m["reason"])
        if m["reason"] == "peer_left":      # its own skip came too late
            await ws.expect_error("state")
        await ws.quiet(0.2)
    assert sorted(reasons) == ["peer_left", "skip"], reasons


async def test_msg_crossing_partner_skip_relayed_before_end_or_refused(
        shared_server):
    a, b = await pair(shared_server)
    a.send({"t": "skip"})
    b.msg("crossing")
    m = await a.recv()
    relayed = m == {"t": "msg", "text": "crossing"}
    if relayed:                            # b's msg was handled first
        m = await a.recv()
    assert m == {"t": "ended", "reason": "skip"}, m
    await b.expect("ended", reason="peer_left")
    if not relayed:                        # b's msg came after the end
        await b.expect_error("state")
    await a.quiet(0.2)
    await b.quiet(0)


async def test_key_freed_when_its_socket_disconnects_in_room(shared_server):
    a, b = await pair(shared_server)
    key = a.key
    a.abort()
    await b.expect("ended", reason="peer_left")
    c = await client(shared_server)
    assert (await c.join(key=key))["waiting"] == 1
