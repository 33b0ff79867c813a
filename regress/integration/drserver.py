"""
The server under test: how it is started, configured and stopped.

  DEVROULETTED   path of the daemon (default: bin/devrouletted under the
                 repository root), started as `$DEVROULETTED -d [args]`;
  DR_PEER_CMD    a whole command line instead (e.g. `node
                 /tmp/node-ws/server.js`, the Node peer);
  DR_PREFORK     the daemon's PREFORK (default 1): the whole suite can run
                 against several front processes.
"""

import asyncio
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = float(os.environ.get("DR_START_TIMEOUT", "15"))
STOP_TIMEOUT = float(os.environ.get("DR_STOP_TIMEOUT", "6"))

SETTINGS = ("HOST", "PORT", "TRUSTED_PROXY_HOPS", "MAX_TOTAL_SOCKETS",
            "MAX_SOCKETS_PER_IP", "JOINS_PER_MIN", "POW_BITS",
            "POW_DEADLINE_MS", "HANDSHAKE_TIMEOUT_MS", "PING_INTERVAL_MS",
            "BEAT_TIMEOUT_MS", "MSG_INTERVAL_MS", "MSG_MAX_CHARS",
            "SKIP_INTERVAL_MS", "ROOM_MAX_MSGS", "ROOM_IDLE_MS",
            "BAN_AFTER_VIOLATIONS", "BAN_MS", "MAX_OUTBUF",
            "DEVROULETTE_ALLOW_DEBUG", "STATE_DIR", "CONTROL_SOCKET",
            "PREFORK")

# Every timer is set explicitly; limits that a test does not exercise are
# set so they cannot interfere (large caps, short intervals).
BASE_SETTINGS = {
    "HOST": "127.0.0.1",
    "TRUSTED_PROXY_HOPS": "0",
    "MAX_TOTAL_SOCKETS": "10000",
    "MAX_SOCKETS_PER_IP": "50",
    "JOINS_PER_MIN": "10000",
    "POW_BITS": "4",
    "POW_DEADLINE_MS": "20000",
    "HANDSHAKE_TIMEOUT_MS": "5000",
    "PING_INTERVAL_MS": "15000",
    "BEAT_TIMEOUT_MS": "30000",
    "MSG_INTERVAL_MS": "20",
    "MSG_MAX_CHARS": "500",
    "SKIP_INTERVAL_MS": "20",
    "ROOM_MAX_MSGS": "200",
    "ROOM_IDLE_MS": "600000",
    "BAN_AFTER_VIOLATIONS": "100000",
    "BAN_MS": "900000",
    "MAX_OUTBUF": "65536",
    "DEVROULETTE_ALLOW_DEBUG": "0",
    "PREFORK": os.environ.get("DR_PREFORK", "1"),
}

SANITIZER_RE = re.compile(r"AddressSanitizer|LeakSanitizer|"
                          r"UndefinedBehaviorSanitizer|runtime error:")


def peer_mode():
    return bool(os.environ.get("DR_PEER_CMD"))


def server_argv(args=()):
    peer = os.environ.get("DR_PEER_CMD")
    if peer:
        return shlex.split(peer) + list(args)
    d = os.environ.get("DEVROULETTED", "bin/devrouletted")
    p = Path(d)
    if not p.is_absolute():
        p = REPO / p
    return [str(p), "-d"] + list(args)


def server_env(settings):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    for k, v in settings.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server process under test."""

    def __init__(self, tmpdir, overrides=None, args=(), state_dir=None):
        self.tmpdir = Path(tmpdir)
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.state_dir = Path(state_dir) if state_dir else \
            self.tmpdir / "state"
        self.state_dir.mkdir(exist_ok=True)
        self.settings = dict(BASE_SETTINGS)
        self.settings["STATE_DIR"] = str(self.state_dir)
        self.settings["CONTROL_SOCKET"] = str(self.tmpdir / "ctl.sock")
        self.settings.update({k: (None if v is None else str(v))
                              for k, v in (overrides or {}).items()})
        self.args = list(args)
        self.proc = None
        self.port = None
        self.runs = 0
        self.exit_codes = []

    def ms(self, name):
        """A timer setting, in seconds."""
        return int(self.settings[name]) / 1000.0

    def start(self):
        self.port = free_port()
        self.settings["PORT"] = str(self.port)
        self.runs += 1
        self.out_path = self.tmpdir / ("out.%d.log" % self.runs)
        self.err_path = self.tmpdir / ("err.%d.log" % self.runs)
        with open(self.out_path, "wb") as out, \
                open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                server_argv(self.args), env=server_env(self.settings),
                stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                cwd=str(REPO))
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise AssertionError("server exited (%d) at start:\n%s" %
                                     (rc, self.output()))
            try:
                with socket.create_connection(("127.0.0.1", self.port),
                                              timeout=0.5):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError("server not listening after %.0f s:\n%s"
                                     % (START_TIMEOUT, self.output()))
            time.sleep(0.02)
        return self

    def output(self, run=None):
        """stdout and stderr of run (default: every run so far)."""
        runs = [run] if run else range(1, self.runs + 1)
        text = ""
        for r in runs:
            for p in (self.tmpdir / ("out.%d.log" % r),
                      self.tmpdir / ("err.%d.log" % r)):
                if p.exists():
                    text += p.read_bytes().decode("utf-8", "replace")
        return text

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def terminate(self):
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout=STOP_TIMEOUT):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("server still running %.0f s after SIGTERM"
                                 ":\n%s" % (timeout, self.output()[-3000:]))
        self.exit_codes.append(rc)
        return rc

    async def wait_async(self, timeout=STOP_TIMEOUT):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.wait(0.1 if self.proc.poll() is None else 1)

    async def stop_async(self):
        """stop() without blocking the event loop (clients keep running)."""
        if self.proc.poll() is None:
            self.terminate()
        rc = await self.wait_async()
        self.proc = None
        self.check_exit(rc)

    def stop(self):
        """SIGTERM; asserts exit status 0 and a clean log."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.terminate()
        rc = self.wait()
        self.proc = None
        self.check_exit(rc)

    def check_exit(self, rc):
        out = self.output(self.runs)
        assert rc == 0, "server exited %s after SIGTERM:\n%s" % (
            rc, out[-3000:])
        m = SANITIZER_RE.search(out)
        assert not m, "sanitizer report in server output:\n%s" % (
            out[max(0, m.start() - 200):][:4000])

    def counters_files(self):
        return sorted(p for p in self.state_dir.rglob("*"))




def module_server(tmp_path_factory, name, **settings):
    """Generator for a module-scoped fixture: one server with settings."""
    srv = Server(tmp_path_factory.mktemp(name), settings)
    srv.start()
    yield srv
    srv.stop()
