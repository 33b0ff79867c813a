"""devroulettectl(8) and the control socket, against the real daemon."""

import asyncio
import json
import os
import pwd
import socket
import stat
import struct
import subprocess
import threading
from pathlib import Path

import pytest

from drserver import REPO, Server
from helpers import client, fresh_ip, pair

pytestmark = pytest.mark.daemon_only

# daemon/devrouletted.h
IMSG_CTL_STATS, IMSG_CTL_LOG_VERBOSE, IMSG_CTL_LOG_BRIEF, IMSG_CTL_BANS = \
    600, 601, 602, 603
IMSG_CTL_STATS_REPLY, IMSG_CTL_BAN, IMSG_CTL_OK, IMSG_CTL_END, \
    IMSG_CTL_ERROR = 650, 651, 652, 653, 654
CTL_VERSION = 1
CTL_MAX_CLIENTS = 8


def ctl_path():
    d = Path(os.environ.get("DEVROULETTED", "bin/devrouletted"))
    if not d.is_absolute():
        d = REPO / d
    return str(d.parent / "devroulettectl")


def ctl(srv_or_path, *args, user=None):
    path = srv_or_path if isinstance(srv_or_path, str) else \
        srv_or_path.settings["CONTROL_SOCKET"]
    argv = [ctl_path(), "-s", path] + list(args)
    if user:
        argv = ["runuser", "-u", user, "--"] + argv
    return subprocess.run(argv, capture_output=True, text=True, timeout=10)


def stats_json(srv):
    r = ctl(srv, "-j", "stats")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def request(path, type_, payload):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall(struct.pack("=IIQ", type_, len(payload), 0) + payload)
    replies = []
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 16:
            t, n, _ = struct.unpack("=IIQ", buf[:16])
            if len(buf) < 16 + n:
                break
            replies.append((t, buf[16:16 + n]))
            buf = buf[16 + n:]
        if replies and replies[-1][0] in (IMSG_CTL_END, IMSG_CTL_ERROR):
            break
    s.close()
    return replies


async def test_stats_counts_known_traffic_exactly(start_server):
    srv = start_server()
    a, b = await pair(srv)
    a.msg("one")
    await b.expect("msg", text="one")
    await asyncio.sleep(0.03)
    b.msg("two")
    await a.expect("msg", text="two")
    await asyncio.sleep(0.03)
    a.send({"t": "report"})
    await a.expect("ended", reason="report")
    await b.expect("ended", reason="peer_left")
    c, d = await pair(srv)
    w = await client(srv)
    await w.join()
    await client(srv)                       # open, never joins
    s = await asyncio.to_thread(stats_json, srv)
    assert s["sockets"] == 6 and s["max_sockets"] == 10000
    assert s["waiting"] == 1 and s["rooms"] == 1 and s["bans"] == 0
    assert (s["connections"], s["convos"], s["messages"], s["reports"]) == \
        (6, 2, 2, 1)
    assert isinstance(s["uptime"], int) and s["uptime"] >= 0
    r = await asyncio.to_thread(ctl, srv, "stats")
    assert r.returncode == 0, r.stderr
    rows = dict(line.split(None, 1) for line in r.stdout.splitlines())
    assert rows["sockets"] == "6 / 10000" and rows["waiting"] == "1"
    assert rows["convos"] == "2" and rows["reports"] == "1"
    assert rows["messages"] == "2" and rows["connections"] == "6"
    for w_ in (a, b, c, d, w):
        w_.abort()


async def test_stats_totals_survive_restart(start_server):
    srv = start_server()
    a, b = await pair(srv)
    a.msg("x")
    await b.expect("msg")
    await srv.stop_async()
    srv.start()
    s = await asyncio.to_thread(stats_json, srv)
    assert (s["connections"], s["convos"], s["messages"]) == (2, 1, 1)
    assert s["sockets"] == 0 and s["rooms"] == 0


def test_control_socket_mode_and_group(server):
    st = os.stat(server.settings["CONTROL_SOCKET"])
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    if os.geteuid() == 0:
        import grp
        assert st.st_uid == 0
        assert grp.getgrgid(st.st_gid).gr_name == "_devroulette"


def test_control_socket_removed_at_shutdown(start_server):
    srv = start_server()
    path = srv.settings["CONTROL_SOCKET"]
    assert os.path.exists(path)
    srv.stop()
    assert not os.path.exists(path)


def test_second_daemon_on_same_control_socket_refused(start_server, tmp_path):
    srv = start_server()
    second = Server(tmp_path / "second",
                    {"CONTROL_SOCKET": srv.settings["CONTROL_SOCKET"]})
    with pytest.raises(AssertionError) as e:
        second.start()
    assert "another devrouletted is running" in str(e.value)
    assert os.path.exists(srv.settings["CONTROL_SOCKET"])
    assert stats_json(srv)["sockets"] == 0


def test_daemon_not_running(tmp_path):
    r = ctl(str(tmp_path / "nothing.sock"), "stats")
    assert r.returncode == 1 and "not running" in r.stderr
    assert r.stdout == ""


def test_permission_denied(server):
    if os.geteuid() != 0:
        pytest.skip("needs root to run the tool as another user")
    os.chmod(os.path.dirname(server.settings["CONTROL_SOCKET"]), 0o755)
    r = ctl(server, "stats", user="nobody")
    assert r.returncode == 1 and "permission denied" in r.stderr, r.stderr


def test_unknown_and_ambiguous_commands(server):
    r = ctl(server, "frobnicate")
    assert r.returncode == 1 and "valid commands" in r.stderr
    r = ctl(server, "log", "loud")
    assert r.returncode == 1 and "valid commands" in r.stderr
    r = ctl(server)
    assert r.returncode == 1 and "usage" in r.stderr
    r = ctl(server, "st")                  # unambiguous prefix
    assert r.returncode == 0 and "uptime" in r.stdout


def test_log_verbose_and_brief(server):
    r = ctl(server, "log", "verbose")
    assert r.returncode == 0 and r.stdout == "ok\n"
    r = ctl(server, "log", "brief")
    assert r.returncode == 0 and r.stdout == "ok\n"
    out = server.output()
    assert "logging verbose" in out and "logging brief" in out


async def test_bans_show_count_and_time_never_address(start_server):
    srv = start_server(BAN_AFTER_VIOLATIONS=2, BAN_MS=60000)
    ip = fresh_ip()
    ws = await client(srv, ip)
    ws.send_text("not json")
    await ws.expect_error("bad_frame")
    ws.send_text("not json")
    await ws.expect_error("bad_frame")      # D28: the error, then the ban
    await ws.expect_close(4002)
    r = await asyncio.to_thread(ctl, srv, "bans")
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("1 active ban\n"), r.stdout
    secs = int(r.stdout.split()[0].rstrip("s"))
    assert 55 <= secs <= 60
    assert ip not in r.stdout
    r = await asyncio.to_thread(ctl, srv, "-j", "bans")
    assert json.loads(r.stdout) == [secs] or \
        json.loads(r.stdout) == [secs - 1]
    assert stats_json(srv)["bans"] == 1


def test_version_mismatch_refused_by_daemon(server):
    path = server.settings["CONTROL_SOCKET"]
    replies = request(path, IMSG_CTL_STATS, struct.pack("=I", 99))
    assert replies[-1][0] == IMSG_CTL_ERROR
    ver, = struct.unpack("=I", replies[-1][1][:4])
    assert ver == CTL_VERSION and b"version mismatch" in replies[-1][1]
    assert stats_json(server)["sockets"] == 0     # still serving


@pytest.mark.parametrize("type_,payload", [
    (IMSG_CTL_STATS, b""),
    (IMSG_CTL_STATS, b"\x01\x00\x00\x00extra"),
    (777, struct.pack("=I", CTL_VERSION)),
    (IMSG_CTL_STATS_REPLY, struct.pack("=I", CTL_VERSION)),
])
def test_malformed_requests_refused_daemon_stays_up(server, type_, payload):
    replies = request(server.settings["CONTROL_SOCKET"], type_, payload)
    assert replies and replies[-1][0] == IMSG_CTL_ERROR
    assert stats_json(server)["sockets"] == 0


def test_garbage_header_refused(server):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(server.settings["CONTROL_SOCKET"])
    s.sendall(struct.pack("=IIQ", IMSG_CTL_STATS, 0xffffffff, 0))
    assert s.recv(100) == b""               # dropped, not fatal
    s.close()
    assert stats_json(server)["sockets"] == 0


def test_bounded_number_of_control_clients(server):
    path = server.settings["CONTROL_SOCKET"]
    idle = []
    for _ in range(CTL_MAX_CLIENTS):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        idle.append(s)
    extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    extra.settimeout(5)
    extra.connect(path)
    assert extra.recv(100) == b""           # refused at once
    extra.close()
    for s in idle:
        s.close()
    for _ in range(50):                     # the slots come back
        r = ctl(server, "stats")
        if r.returncode == 0:
            break
    assert r.returncode == 0


def fake_daemon(path, answer):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def serve():
        c, _ = srv.accept()
        c.recv(100)
        c.sendall(answer)
        c.close()
        srv.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("answer,words", [
    (struct.pack("=IIQ", IMSG_CTL_ERROR, 4 + 16, 0) + struct.pack("=I", 2) +
     b"version mismatch", "control version 2"),
    (struct.pack("=IIQ", IMSG_CTL_STATS_REPLY, 8, 0) + b"\0" * 8,
     "version mismatch"),
    (struct.pack("=IIQ", 999, 0, 0), "version mismatch"),
])
def test_tool_reports_version_mismatch(tmp_path, answer, words):
    path = str(tmp_path / "fake.sock")
    t = fake_daemon(path, answer)
    r = ctl(path, "stats")
    t.join(5)
    assert r.returncode == 1 and words in r.stderr, r.stderr
