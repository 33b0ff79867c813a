"""PROTOCOL.md section 1: RFC 6455 framing, pings, liveness, frame budget."""

import asyncio
import time

import pytest

import helpers
from helpers import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT,
                     client, close_payload, connect, frame_bytes)


async def hello_socket(srv, **kw):
    ws = await connect(srv, **kw)
    await ws.hello()
    return ws


# ---- 1002 ---------------------------------------------------------------------

async def test_unmasked_client_frame_closes_1002(shared_server):
    ws = await hello_socket(shared_server)
    ws.send_frame(OP_TEXT, b'{"t":"beat"}', mask=False)
    await ws.expect_close(1002)


async def test_unmasked_ping_closes_1002(shared_server):
    ws = await hello_socket(shared_server)
    ws.send_frame(OP_PING, b"x", mask=False)
    await ws.expect_close(1002)


@pytest.mark.parametrize("rsv", [1, 2, 4, 7])
async def test_reserved_bits_close_1002(shared_server, rsv):
    ws = await hello_socket(shared_server)
    ws.send_frame(OP_TEXT, b'{"t":"beat"}', rsv=rsv)
    await ws.expect_close(1002)


async def test_reserved_bit_on_ping_closes_1002(shared_server):
    ws = await hello_socket(shared_server)
    ws.send_frame(OP_PING, b"x", rsv=4)
    await ws.expect_close(1002)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
async def test_unknown_opcode_closes_1002(shared_server, opcode):
    ws = await hello_socket(shared_server)
    ws.send_frame(opcode, b"x")
    await ws.expect_close(1002)


async def test_fragmented_ping_closes_1002(shared_server):
    ws = await hello_socket(shared_server)
    ws.send_frame(OP_PING, b"abc", fin=False)
    await ws.expect_close(1002)


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG])
async def test_control_frame_of_126_bytes_closes_1002(shared_server, opcode):
    ws = await hello_socket(shared_server)
    ws.send_frame(opcode, b"p" * 126)
    await ws.expect_close(1002)


async def test_continuation_without_message_closes_1002(shared_server):
    ws = await hello_socket(shared_server)
    ws.send_frame(OP_CONT, b'{"t":"beat"}')
    await ws.expect_close(1002)


async def test_new_text_frame_inside_fragmented_message_closes_1002(
        shared_server):
    ws = await hello_socket(shared_server)
    ws.send_frame(OP_TEXT, b'{"t":', fin=False)
    ws.send_frame(OP_TEXT, b'"beat"}')
    await ws.expect_close(1002)


# ---- 1003, 1007 -----------------------------------------------------------------

async def test_binary_frame_closes_1003(shared_server):
    ws = await hello_socket(shared_server)
    ws.send_frame(OP_BINARY, b'{"t":"beat"}')
    await ws.expect_close(1003)


async def test_fragmented_binary_message_closes_1003(shared_server):
    ws = await hello_socket(shared_server)
    ws.send_frame(OP_BINARY, b'{"t":', fin=False)
    ws.send_frame(OP_CONT, b'"beat"}')
    await ws.expect_close(1003)


@pytest.mark.parametrize("bad", [
    b"\xff", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
    b"\x80", b"\xe2\x82",
], ids=["ff", "overlong2", "overlong3", "surrogate", "above10ffff",
        "lone_continuation", "truncated_at_end"])
async def test_invalid_utf8_text_closes_1007(shared_server, bad):
    ws = await hello_socket(shared_server)
    ws.send_frame(OP_TEXT, b'{"t":"msg","text":"a' + bad +
                  (b'"}' if bad != b"\xe2\x82" else b""))
    await ws.expect_close(1007)


async def test_invalid_utf8_split_across_fragments_closes_1007(shared_server):
    ws = await hello_socket(shared_server)
    # E2 82 starts a 3-byte sequence; the next fragment breaks it
    ws.send_frame(OP_TEXT, b'{"t":"msg","text":"\xe2\x82', fin=False)
    ws.send_frame(OP_CONT, b'("}')
    await ws.expect_close(1007)


async def test_invalid_utf8_in_non_final_fragment_closes_1007(shared_server):
    ws = await hello_socket(shared_server)
    ws.send_frame(OP_TEXT, b'{"t":"msg","text":"\xff', fin=False)
    ws.send_frame(OP_CONT, b'"}')
    await ws.expect_close(1007)


async def test_valid_utf8_split_across_fragments_accepted(shared_server):
    ws = await client(shared_server)
    data = '{"t":"msg","text":"\u20ac"}'.encode()
    cut = data.index(b"\xe2") + 1          # inside the euro sign
    ws.send_frame(OP_TEXT, data[:cut], fin=False)
    ws.send_frame(OP_CONT, data[cut:])
    # schema passes, and a ready socket not in a room gets `state`
    await ws.expect_error("state")


# ---- 1009 ---------------------------------------------------------------------

def padded_msg(size):
    """A text message of exactly size bytes: a `msg` JSON object."""
    base = b'{"t":"msg","text":""}'
    return base[:-2] + b"a" * (size - len(base)) + base[-2:]


async def test_single_frame_of_16KiB_plus_1_closes_1009(shared_server):
    ws = await client(shared_server)
    ws.send_frame(OP_TEXT, padded_msg(16 * 1024 + 1))
    await ws.expect_close(1009)


async def test_message_of_exactly_16KiB_accepted(shared_server):
    ws = await client(shared_server)
    ws.send_frame(OP_TEXT, padded_msg(16 * 1024))
    await ws.expect_error("state")     # not in a room: parsed, not closed


async def test_fragmented_message_of_16KiB_plus_1_closes_1009(shared_server):
    ws = await client(shared_server)
    data = padded_msg(16 * 1024 + 1)
    ws.send_frame(OP_TEXT, data[:8192], fin=False)
    ws.send_frame(OP_CONT, data[8192:])
    await ws.expect_close(1009)


async def test_fragmented_message_of_16KiB_accepted(shared_server):
    ws = await client(shared_server)
    data = padded_msg(16 * 1024)
    ws.send_frame(OP_TEXT, data[:5000], fin=False)
    ws.send_frame(OP_CONT, data[5000:10000], fin=False)
    ws.send_frame(OP_CONT, data[10000:])
    await ws.expect_error("state")


async def send_paced_fragments(ws, nframes, data):
    """data in nframes fragments, at most 19 frames per 1.05 s."""
    cuts = [len(data) * i // nframes for i in range(nframes + 1)]
    chunks = [data[a:b] for a, b in zip(cuts, cuts[1:])]
    assert all(chunks) and len(chunks) == nframes
    for i, chunk in enumerate(chunks):
        if i and i % 19 == 0:
            await asyncio.sleep(1.05)
        ws.send_frame(OP_TEXT if i == 0 else OP_CONT, chunk,
                      fin=(i == nframes - 1))


@pytest.mark.timeout(30)
async def test_message_in_64_frames_accepted_in_65_closes_1009(shared_server):
    ok = await client(shared_server)
    bad = await client(shared_server)
    data = padded_msg(200)
    await asyncio.gather(send_paced_fragments(ok, 64, data),
                         send_paced_fragments(bad, 65, data))
    await ok.expect_error("state")
    await bad.expect_close(1009)


# ---- ping, pong, close ------------------------------------------------------------

@pytest.mark.parametrize("payload", [b"", b"abc", bytes(range(125))])
async def test_ping_answered_with_pong_carrying_same_payload(shared_server,
                                                             payload):
    ws = await hello_socket(shared_server, auto_pong=False)
    ws.send_frame(OP_PING, payload)
    f = await ws.next_frame(what="a pong")
    assert f is not None and f.opcode == OP_PONG, f
    assert f.payload == payload


async def test_ping_between_fragments_answered(shared_server):
    ws = await client(shared_server)
    ws.send_frame(OP_TEXT, b'{"t":"pow",', fin=False)
    ws.send_frame(OP_PING, b"mid")
    f = await ws.next_frame(what="a pong")
    assert f is not None and f.opcode == OP_PONG and f.payload == b"mid", f
    ws.send_frame(OP_CONT, b'"nonce":"abc"}')
    await ws.expect_error("state")


async def test_unsolicited_pong_ignored(shared_server):
    ws = await client(shared_server)
    ws.send_frame(OP_PONG, b"unsolicited")
    await ws.quiet(0.2)
    await ws.still_open()


@pytest.mark.parametrize("code", [1000, 1001, 4123])
async def test_close_answered_with_close_then_tcp_closed(shared_server, code):
    ws = await hello_socket(shared_server)
    ws.send_frame(OP_CLOSE, close_payload(code, b"bye"))
    f = await ws.next_data_frame(what="the close answer")
    assert f is not None and f.opcode == OP_CLOSE, f
    assert f.close_code in (code, None), f
    await helpers.wait_for(ws.eof.wait(), 3, "the TCP close")


async def test_empty_close_answered_with_close(shared_server):
    ws = await client(shared_server)
    ws.send_frame(OP_CLOSE, b"")
    f = await ws.next_data_frame(what="the close answer")
    assert f is not None and f.opcode == OP_CLOSE, f
    await helpers.wait_for(ws.eof.wait(), 3, "the TCP close")


# ---- server pings and liveness ---------------------------------------------------

async def test_server_pings_every_ping_interval(start_server):
    srv = start_server(PING_INTERVAL_MS=300)
    p = srv.ms("PING_INTERVAL_MS")
    ws = await client(srv)             # answers pings
    t0 = time.monotonic()
    await ws.quiet(5.2 * p)
    times = [t0] + [f.at for f in ws.pings]
    assert 3 <= len(ws.pings) <= 6, \
        "%d pings in %.1f s with PING_INTERVAL_MS %.0f" % (
            len(ws.pings), 5.2 * p, p * 1000)
    gaps = [b - a for a, b in zip(times[1:], times[2:])]
    assert all(0.6 * p <= g <= 2.0 * p for g in gaps), gaps
    await ws.still_open()


async def test_silent_socket_dropped_after_two_ping_intervals_no_close_frame(
        start_server):
    srv = start_server(PING_INTERVAL_MS=300, BEAT_TIMEOUT_MS=60000)
    p = srv.ms("PING_INTERVAL_MS")
    ws = await client(srv, auto_pong=False)
    last_sent = time.monotonic()       # the pow was the last frame we sent
    eof = await ws.expect_drop(timeout=2 * p + 3)
    silent = eof - last_sent
    assert silent >= 2 * p * 0.9, "dropped after %.2f s of silence" % silent
    assert ws.pings, "no ping arrived before the drop"
    assert ws.close_received is None


async def test_socket_sending_pongs_stays_alive(start_server):
    srv = start_server(PING_INTERVAL_MS=250, BEAT_TIMEOUT_MS=60000)
    ws = await client(srv, auto_pong=True)
    await ws.quiet(5 * srv.ms("PING_INTERVAL_MS"))
    await ws.still_open()


async def test_socket_sending_data_frames_stays_alive(start_server):
    srv = start_server(PING_INTERVAL_MS=250, BEAT_TIMEOUT_MS=60000)
    p = srv.ms("PING_INTERVAL_MS")
    ws = await client(srv, auto_pong=False)
    end = time.monotonic() + 5 * p
    while time.monotonic() < end:
        ws.send({"t": "beat"})
        await ws.quiet(p * 0.6)
    await ws.still_open()


async def test_socket_silent_before_ready_also_dropped(start_server):
    srv = start_server(PING_INTERVAL_MS=250)
    p = srv.ms("PING_INTERVAL_MS")
    ws = await connect(srv, auto_pong=False)
    t0 = time.monotonic()
    await ws.hello()
    eof = await ws.expect_drop(timeout=2 * p + 3)
    assert eof - t0 >= 2 * p * 0.8


# ---- frame budget ------------------------------------------------------------------

# The budget tests start on a socket that has sent nothing yet (the frames of
# the handshake's pow would count in the same second).

async def test_21_pings_in_a_second_only_20_answered(shared_server):
    ws = await hello_socket(shared_server, auto_pong=False)
    ws.send_raw(b"".join(frame_bytes(OP_PING, b"%02d" % i)
                         for i in range(21)))
    pongs = []
    end = time.monotonic() + 0.8
    while time.monotonic() < end:
        f = await ws.poll_frame(end - time.monotonic())
        if f is False:
            break
        assert f is not None and f.opcode == OP_PONG, f
        pongs.append(f.payload)
    assert pongs == [b"%02d" % i for i in range(20)], pongs


async def test_21_data_frames_in_a_second_21st_dropped_unanswered(
        shared_server):
    ws = await hello_socket(shared_server)
    # a beat before ready is answered `state` (not a violation)
    ws.send_raw(b"".join(frame_bytes(OP_TEXT, b'{"t":"beat"}')
                         for _ in range(21)))
    for _ in range(20):
        await ws.expect_error("state")
    await ws.quiet(0.5)


async def test_frame_budget_is_per_second(shared_server):
    ws = await hello_socket(shared_server, auto_pong=False)
    ws.send_raw(b"".join(frame_bytes(OP_PING, b"a") for _ in range(20)))
    for _ in range(20):
        f = await ws.next_frame()
        assert f.opcode == OP_PONG
    await asyncio.sleep(1.1)
    ws.send_raw(b"".join(frame_bytes(OP_PING, b"b") for _ in range(20)))
    for _ in range(20):
        f = await ws.next_frame()
        assert f.opcode == OP_PONG and f.payload == b"b", f


async def test_frames_over_budget_count_as_violations(start_server):
    srv = start_server(BAN_AFTER_VIOLATIONS=3)
    calm = await hello_socket(srv, auto_pong=False)
    flood = await hello_socket(srv, auto_pong=False)
    # two frames over budget: two violations, no ban
    calm.send_raw(b"".join(frame_bytes(OP_PING, b"c") for _ in range(22)))
    for _ in range(20):
        assert (await calm.next_frame()).opcode == OP_PONG
    await calm.quiet(1.1)
    await calm.still_open()
    # three over budget on another socket of another address: banned
    flood.send_raw(b"".join(frame_bytes(OP_PING, b"f") for _ in range(23)))
    for _ in range(20):
        assert (await flood.next_frame()).opcode == OP_PONG
    await flood.expect_close(4002)
    await calm.still_open()


# ---- close frames the server must refuse (RFC 6455 7.4, 5.5.1) ------------------

@pytest.mark.parametrize("payload", [b"\x03", close_payload(0),
                                     close_payload(999),
                                     close_payload(1005), close_payload(1006),
                                     close_payload(1015), close_payload(5000)],
                         ids=["one_byte", "0", "999", "1005", "1006", "1015",
                              "5000"])
async def test_close_with_invalid_payload_answered_1002(shared_server,
                                                        payload):
    ws = await hello_socket(shared_server)
    ws.send_frame(OP_CLOSE, payload)
    await ws.expect_close(1002)


async def test_close_reason_not_utf8_answered_1007(shared_server):
    ws = await hello_socket(shared_server)
    ws.send_frame(OP_CLOSE, close_payload(1000, b"\xff\xfe"))
    await ws.expect_close(1007)


async def test_frame_header_announcing_over_16KiB_closes_1009_at_once(
        shared_server):
    ws = await client(shared_server)
    # header and masking key only: the payload never comes
    ws.send_raw(frame_bytes(OP_TEXT, b"", length=16 * 1024 + 1))
    await ws.expect_close(1009)


async def test_fragment_header_pushing_message_over_16KiB_closes_1009(
        shared_server):
    ws = await client(shared_server)
    ws.send_frame(OP_TEXT, b"{" * 10000, fin=False)
    hdr = frame_bytes(OP_CONT, b"", fin=True, length=7000)
    ws.send_raw(hdr)                   # header only: the payload never comes
    await ws.expect_close(1009)
