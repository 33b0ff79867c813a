"""
A bounded flood (PROTOCOL.md sections 1 and 6, issue 3): from 200
addresses, about 3000 connections in about 10 s carrying half-open
handshakes, oversized and garbage heads, thousands of bad frames, frames
announcing huge payloads and wrong proofs of work, while two well-behaved
clients chat. The chat must go on unharmed (every message, in order, in
time) and the daemon's memory (the three processes' VmRSS) must stay
bounded. The figures are printed (pytest -s) for the record.
"""

import asyncio
import json
import random
import secrets
import time
from pathlib import Path

import pytest

import helpers
from drserver import server_argv
from helpers import (OP_BINARY, OP_PING, OP_TEXT, dumps, fresh_ip,
                     frame_bytes, nonce_with_exact_bits, pair, tcp_connect,
                     upgrade_request)

pytestmark = pytest.mark.daemon_only

FLOOD_IPS = 200
FLOOD_CONNECTIONS = 3000
FLOOD_SECONDS = 10.0
CONCURRENCY = 250               # open flood connections at once, at most
CHAT_EVERY = 0.15               # s between one client's messages
MAX_LATENCY = 1.5               # s from send to arrival, at most
MAX_GROWTH = 64 << 20           # bytes of VmRSS growth (plain build)
MAX_GROWTH_SAN = 256 << 20      # ASan keeps freed memory in quarantine


def daemon_pids(pid):
    pids = [pid]
    for task in Path("/proc/%d/task" % pid).iterdir():
        pids += [int(x) for x in (task / "children").read_text().split()]
    return pids


def rss(pids):
    """Sum of VmRSS of pids, in bytes."""
    total = 0
    for p in pids:
        for line in Path("/proc/%d/status" % p).read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def sanitized():
    with open(server_argv()[0], "rb") as f:
        return b"AddressSanitizer" in f.read()


class Tally:
    def __init__(self):
        self.counts = {}

    def add(self, what):
        self.counts[what] = self.counts.get(what, 0) + 1

    def __repr__(self):
        return " ".join("%s=%d" % kv for kv in sorted(self.counts.items()))


async def read_status(reader, timeout=4):
    """The status of the server's answer, "none" if it closed silently."""
    try:
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except asyncio.IncompleteReadError as e:
        return "none" if not e.partial else "partial"
    except ConnectionError:
        return "reset"
    except asyncio.TimeoutError:
        return "timeout"
    return raw[9:12].decode("latin-1")


async def read_frame(reader, timeout=4):
    """One server frame: (opcode, payload)."""
    hdr = await asyncio.wait_for(reader.readexactly(2), timeout)
    n = hdr[1] & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return hdr[0] & 0x0F, await reader.readexactly(n)


async def drain_to_close(reader, timeout=4):
    """Reads frames until the TCP stream ends; returns the close code."""
    code = None
    end = time.monotonic() + timeout
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return "timeout"
            op, payload = await read_frame(reader, left)
            if op == 0x8 and code is None:
                code = int.from_bytes(payload[:2], "big") \
                    if len(payload) >= 2 else 0
    except (asyncio.IncompleteReadError, ConnectionError):
        return code
    except asyncio.TimeoutError:
        return "timeout"


BAD_FRAMES = [
    frame_bytes(OP_TEXT, b"not json"),
    frame_bytes(OP_TEXT, b'{"t":"beat","t":"beat"}'),
    frame_bytes(OP_TEXT, b'{"t":"nope"}'),
    frame_bytes(OP_TEXT, b"[" * 200),
    frame_bytes(OP_TEXT, b'{"t":"pow","nonce":"' + b"z" * 40 + b'"}'),
    frame_bytes(OP_TEXT, b'"\\ud800"'),
]


async def flood_one(kind, port, ip, tally):
    reader, writer = await tcp_connect(port, ip)
    try:
        if kind == "half_open":
            # Part of a head, then nothing: closed at the deadline.
            writer.write(upgrade_request(port)[:60])
            tally.add("half_open:" + await read_status(reader))
        elif kind == "oversized":
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " +
                         b"a" * 9000)
            tally.add("oversized:" + await read_status(reader))
        elif kind == "garbage_head":
            writer.write(secrets.token_bytes(300) + b"\r\n\r\n")
            tally.add("garbage_head:" + await read_status(reader))
        else:
            writer.write(upgrade_request(port))
            status = await read_status(reader)
            if status != "101":
                tally.add("refused:" + status)
                return
            if kind == "bad_frames":
                # Bad JSON well over the budget, then an unmasked frame.
                writer.write(b"".join(random.choice(BAD_FRAMES)
                                      for _ in range(30)) +
                             frame_bytes(OP_TEXT, b"{}", mask=False))
            elif kind == "huge":
                writer.write(frame_bytes(OP_TEXT, b"",
                                         length=1 << 62)[:14])
            elif kind == "binary":
                writer.write(frame_bytes(OP_BINARY, b"\0" * 100))
            elif kind == "wrong_pow":
                hello = json.loads((await read_frame(reader))[1])
                nonce = nonce_with_exact_bits(hello["challenge"], 0)
                writer.write(frame_bytes(OP_TEXT, dumps(
                    {"t": "pow", "nonce": nonce})) * 12)
            elif kind == "ping_flood":
                writer.write(b"".join(frame_bytes(OP_PING, b"p" * 125)
                                      for _ in range(40)))
            tally.add("%s:%s" % (kind, await drain_to_close(reader)))
    finally:
        writer.transport.abort()
        helpers.OPEN.discard(writer)


KINDS = ["half_open", "oversized", "garbage_head", "bad_frames",
         "bad_frames", "huge", "binary", "wrong_pow", "ping_flood",
         "half_open"]


async def chat(a, b, stop, log):
    """a and b take turns; every message carries its number and time."""
    n = 0
    while not stop.is_set():
        src, dst = (a, b) if n % 2 == 0 else (b, a)
        text = "m%05d" % n
        t = time.monotonic()
        src.msg(text)
        m = await dst.expect("msg", timeout=MAX_LATENCY + 2)
        log.append((text, m["text"], time.monotonic() - t))
        n += 1
        if n % 20 == 0:
            a.send({"t": "beat"})
            b.send({"t": "beat"})
        await asyncio.sleep(max(0, t + CHAT_EVERY - time.monotonic()))


@pytest.mark.timeout(90)
async def test_flood_leaves_chat_unharmed_and_memory_bounded(start_server):
    srv = start_server(MAX_SOCKETS_PER_IP=3, HANDSHAKE_TIMEOUT_MS=1000,
                       BAN_AFTER_VIOLATIONS=10, BAN_MS=2000,
                       POW_DEADLINE_MS=2000, MSG_INTERVAL_MS=100,
                       PING_INTERVAL_MS=5000)
    a, b = await pair(srv)
    pids = daemon_pids(srv.proc.pid)
    assert len(pids) == 2 + int(srv.settings["PREFORK"]), pids
    await asyncio.sleep(0.2)
    base = rss(pids)

    stop = asyncio.Event()
    log = []
    chat_task = asyncio.ensure_future(chat(a, b, stop, log))

    ips = [fresh_ip() for _ in range(FLOOD_IPS)]
    tally = Tally()
    sem = asyncio.Semaphore(CONCURRENCY)
    peak = [base]
    t0 = time.monotonic()
    pace = FLOOD_SECONDS / FLOOD_CONNECTIONS

    async def one(i):
        try:
            await flood_one(KINDS[i % len(KINDS)], srv.port,
                            ips[i % FLOOD_IPS], tally)
        except Exception as e:      # the flood may fail; the chat may not
            tally.add("client_error:" + type(e).__name__)
        finally:
            sem.release()

    async def sampler():
        while not stop.is_set():
            peak[0] = max(peak[0], rss(pids))
            await asyncio.sleep(0.1)

    sample_task = asyncio.ensure_future(sampler())
    tasks = []
    for i in range(FLOOD_CONNECTIONS):
        await sem.acquire()
        tasks.append(asyncio.ensure_future(one(i)))
        await asyncio.sleep(max(0, t0 + i * pace - time.monotonic()))
        if chat_task.done():
            break
    await asyncio.gather(*tasks)
    flood_time = time.monotonic() - t0
    await asyncio.sleep(0.3)
    stop.set()
    await chat_task                 # raises if a message failed to arrive
    await sample_task
    end = rss(pids)
    print("\nflood: %d connections from %d addresses in %.1f s; %r" % (
        len(tasks), FLOOD_IPS, flood_time, tally))
    print("chat: %d messages, max latency %.0f ms, mean %.1f ms" % (
        len(log), 1000 * max(x[2] for x in log),
        1000 * sum(x[2] for x in log) / len(log)))
    print("daemon VmRSS (%d processes): before %.1f MiB, peak %.1f MiB, "
          "after %.1f MiB, growth %.1f MiB" % (
              len(pids), base / 2**20, peak[0] / 2**20, end / 2**20,
              (peak[0] - base) / 2**20))

    # The chat went on: every message, in order, in time.
    assert [x[0] for x in log] == [x[1] for x in log]
    assert [x[0] for x in log] == ["m%05d" % i for i in range(len(log))]
    assert len(log) >= 0.5 * flood_time / CHAT_EVERY, len(log)
    assert max(x[2] for x in log) < MAX_LATENCY
    await a.still_open()
    await b.still_open()
    # The flood met the rules: 431 for the big heads, silence for the
    # half-open ones, closes or refusals for the rest.
    c = tally.counts
    assert c.get("oversized:431", 0) > 0
    assert c.get("half_open:none", 0) > 0
    assert not any(k.startswith("half_open:") and k != "half_open:none"
                   and not k.endswith("reset") for k in c), tally
    assert not any(k.endswith(":timeout") for k in c), tally
    assert c.get("bad_frames:4002", 0) + c.get("refused:403", 0) > 0, tally
    assert not any(k.startswith("client_error") for k in c), tally
    # Memory stayed bounded.
    limit = MAX_GROWTH_SAN if sanitized() else MAX_GROWTH
    assert peak[0] - base < limit, "VmRSS grew by %.1f MiB" % (
        (peak[0] - base) / 2**20)
    # And the daemon still takes newcomers.
    c1, c2 = await pair(srv)
    c1.msg("after the flood")
    await c2.expect("msg", text="after the flood")
