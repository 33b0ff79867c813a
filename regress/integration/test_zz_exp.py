import asyncio, time, sys, subprocess, socket, os
import helpers, pytest
from helpers import client, pair, fresh_ip
from pathlib import Path

async def slow_connect(srv, ip=None, mss=536, rcvbuf=2048):
    ip = ip or fresh_ip()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
    sock.bind((ip, 0))
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", srv.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
    helpers.OPEN.add(writer)
    writer.write(helpers.upgrade_request(srv.port))
    raw = await helpers.read_head(reader, 3)
    assert raw.startswith(b"HTTP/1.1 101"), raw
    ws = helpers.WS(reader, writer, ip, None)
    helpers.OPEN.add(ws); helpers.CREATED.append(ws)
    await ws.hello(); await ws.pow()
    return ws

@pytest.mark.parametrize("i", range(6))
async def test_slow(start_server, i):
    srv = start_server(MAX_OUTBUF=4096, MSG_INTERVAL_MS=0, MSG_MAX_CHARS=16000, _args=("-v",))
    victim = await slow_connect(srv)
    sender = await client(srv)
    await pair(srv, victim, sender)
    victim.writer.transport.pause_reading()
    t0 = time.monotonic()
    text = "x" * 15000
    sent = 0
    while time.monotonic() - t0 < 20:
        sender.msg(text)
        sent += 1
        m = await sender.poll_frame(0.06)
        if m not in (False, None):
            break
