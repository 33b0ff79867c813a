"""
The children's privilege separation and sandbox: seccomp mode, no new
privileges, and (as root) the unprivileged user and the empty root. A
build with test hooks (make TESTHOOKS=1 BUILD=build/hooks) proves that a
forbidden system call kills the matcher and takes the daemon down.
"""

import asyncio
import os
import pwd
import re
import time
from pathlib import Path

import pytest

from drserver import REPO, Server
from helpers import pair

pytestmark = pytest.mark.daemon_only


def children(pid):
    kids = []
    for task in Path("/proc/%d/task" % pid).iterdir():
        kids += [int(x) for x in (task / "children").read_text().split()]
    return kids


def status(pid):
    return dict(line.split(":\t", 1) for line in
                Path("/proc/%d/status" % pid).read_text().splitlines()
                if ":\t" in line)


async def settled_children(srv, timeout=10):
    """
    The children, once each has loaded its filter: with PREFORK, a front
    still starting (slowly, under the sanitizers) may not have yet, though
    the kernel already queues connections on its socket.
    """
    want = 1 + int(srv.settings.get("PREFORK") or 1)
    deadline = time.monotonic() + timeout
    while True:
        kids = children(srv.proc.pid)
        if len(kids) == want and all(
                status(k)["Seccomp"].strip() == "2" for k in kids):
            return kids
        if time.monotonic() > deadline:
            return kids
        await asyncio.sleep(0.05)


async def test_children_run_sandboxed(start_server):
    srv = start_server()
    a, b = await pair(srv)                  # the children are at work
    kids = await settled_children(srv)
    for k in kids:
        st = status(k)
        assert st["Seccomp"].strip() == "2", st["Seccomp"]
        assert st["NoNewPrivs"].strip() == "1"
        if os.geteuid() == 0:
            uid = pwd.getpwnam("_devroulette").pw_uid
            assert st["Uid"].split() == [str(uid)] * 4, st["Uid"]
            assert st["Gid"].split()[0] == \
                str(pwd.getpwnam("_devroulette").pw_gid)
            assert st["Groups"].split() == \
                [str(pwd.getpwnam("_devroulette").pw_gid)]
            assert os.readlink("/proc/%d/root" % k) == "/var/empty"
            assert os.readlink("/proc/%d/cwd" % k) == "/var/empty"
    # The parent keeps its privileges and no filter.
    assert status(srv.proc.pid)["Seccomp"].strip() == "0"
    a.msg("still working under the filter")
    await b.expect("msg", text="still working under the filter")
    a.abort()
    b.abort()


def test_unprivileged_start_is_logged(start_server):
    srv = start_server()
    out = srv.output()
    assert ("not started as root" in out) == (os.geteuid() != 0), out


def hooks_daemon():
    p = Path(os.environ.get("DR_HOOKS_DAEMON",
                            REPO / "build/hooks/bin/devrouletted"))
    assert p.exists(), "build it: make TESTHOOKS=1 BUILD=build/hooks"
    return p


def test_forbidden_syscall_kills_matcher_and_daemon(tmp_path, monkeypatch):
    monkeypatch.setenv("DEVROULETTED", str(hooks_daemon()))
    srv = Server(tmp_path / "hooks", {"DR_TEST_MATCHER_OPEN": "1"})
    try:
        srv.start()
    except AssertionError as e:         # it may die before listening
        out = str(e)
    else:
        deadline = time.monotonic() + 10
        while srv.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv.proc.poll() == 1, "daemon still running"
        out = srv.output()
    assert re.search(r"matcher \(pid \d+\) was killed by signal 31", out), \
        out
    assert "exiting" in out


def test_hooks_build_without_trigger_runs_normally(tmp_path, monkeypatch):
    monkeypatch.setenv("DEVROULETTED", str(hooks_daemon()))
    srv = Server(tmp_path / "hooks").start()
    time.sleep(0.3)
    assert srv.running
    srv.stop()
