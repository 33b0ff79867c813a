"""
Tests of devroulette(1)'s Claude Code integration: init and uninstall on
settings.json, the hooks, the background agent and the chat window.

Everything runs with a private HOME, XDG_CONFIG_HOME and XDG_RUNTIME_DIR
(the real ~/.claude is never touched), against the real daemon with short
timers, or a scripted fake server that records what the agent sends.  A
"Claude Code task" is a pair of hook calls around a fake transcript that
the test grows (or stops growing); the window is a tmux window opened
through $DEVROULETTE_TERMINAL on a private tmux server.

Each check prints "ok - name" or "not ok - name"; the last line is
"N passed, N failed".  Run with Debian's /usr/bin/python3.
"""

import asyncio
import ctypes
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402  (the daemon, tmux and proof-of-work helpers)

BIN = e2e.BIN
CLIENT = os.path.realpath(os.path.join(BIN, "devroulette"))

check = e2e.check    # one tally for e2e's and ours


def wait_until(fn, timeout=10, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


class Home:
    """A private user: HOME, config and runtime directories."""

    def __init__(self, tmp, name):
        self.dir = os.path.join(tmp, name)
        self.home = os.path.join(self.dir, "home")
        self.cfg = os.path.join(self.dir, "cfg")
        self.run = os.path.join(self.dir, "run")
        for d in (self.home, self.cfg, self.run):
            os.makedirs(d, mode=0o700)
        self.claude = os.path.join(self.home, ".claude")
        self.settings = os.path.join(self.claude, "settings.json")
        self.env = {"HOME": self.home, "XDG_CONFIG_HOME": self.cfg,
                    "XDG_RUNTIME_DIR": self.run, "LANG": "C.UTF-8",
                    "LC_ALL": "C.UTF-8", "PATH": os.environ.get(
                        "PATH", "/usr/bin:/bin")}

    def accept_terms(self):
        d = os.path.join(self.cfg, "devroulette")
        os.makedirs(d, mode=0o700, exist_ok=True)
        with open(os.path.join(d, "accepted"), "w") as f:
            f.write("terms 1\n")

    def run_cmd(self, *args, env=None, stdin=None, timeout=20):
        e = dict(self.env)
        e.update(env or {})
        return subprocess.run([CLIENT] + list(args), capture_output=True,
                              env=e, input=stdin, timeout=timeout)

    def backups(self):
        if not os.path.isdir(self.claude):
            return []
        return sorted(f for f in os.listdir(self.claude)
                      if ".devroulette-" in f and f.endswith(".bak"))


# --- init and uninstall -----------------------------------------------------

REAL_SETTINGS = """{
    "$schema": "https://json.schemastore.org/claude-code-settings.json",
    "model": "opus",
    "permissions": {
        "allow": ["Bash(npm run lint)", "Bash(git diff:*)"],
        "deny": ["Read(./.env)"],
        "additionalDirectories": []
    },
    "env": {"FOO": "bar", "N": "1"},
    "hooks": {
        "PreToolUse": [
            {
                "matcher": "Bash",
                "hooks": [
                    {"type": "command",
                     "command": "~/.local/bin/guard --strict \\"$X\\"",
                     "timeout": 10}
                ]
            }
        ],
        "UserPromptSubmit": [
            {"hooks": [{"type": "command",
                        "command": "python3 ~/.claude/log_prompt.py"}]}
        ],
        "Stop": [
            {"matcher": "",
             "hooks": [{"type": "command", "command": "notify-send done"},
                       {"type": "command", "command": "afplay ding.aiff",
                        "x-unknown": {"deep": [1, 2.50, -3e2, null, true]}}]}
        ],
        "Notification": [
            {"hooks": [{"type": "command", "command": "say hello"}]}
        ]
    },
    "statusLine": {"type": "command", "command": "~/bin/status"},
    "includeCoAuthoredBy": false,
    "cleanupPeriodDays": 30,
    "unknownTool": {"\\u00e9t\\u00e9": "caf\\u00e9 \\ud83d\\ude00",
                    "n": 12345678901234567890}
}
"""


def strip_ours(doc):
    """settings.json as a value, with our two entries taken out."""
    hooks = doc.get("hooks", {})
    for ev, verb in (("UserPromptSubmit", "prompt"), ("Stop", "stop")):
        groups = hooks.get(ev, [])
        keep = []
        for g in groups:
            hs = [h for h in g.get("hooks", []) if h.get("command") !=
                  "%s hook %s" % (CLIENT, verb)]
            if hs or not g.get("hooks"):
                g = dict(g)
                g["hooks"] = hs
                keep.append(g)
        if ev in hooks:
            hooks[ev] = keep
    return doc


def ordered(text):
    return json.loads(text, object_pairs_hook=lambda p: p)


def ours(doc, ev, verb):
    return [h for g in doc.get("hooks", {}).get(ev, [])
            for h in g.get("hooks", [])
            if h.get("command") == "%s hook %s" % (CLIENT, verb)]


def test_init(tmp):
    h = Home(tmp, "init")
    h.accept_terms()
    os.makedirs(h.claude)
    with open(h.settings, "w") as f:
        f.write(REAL_SETTINGS)
    os.chmod(h.settings, 0o640)
    orig = json.loads(REAL_SETTINGS)

    r = h.run_cmd("init", "ws://127.0.0.1:1/")
    text = open(h.settings).read()
    doc = json.loads(text)
    check(r.returncode == 0, "init: exits 0", r.stderr)
    check(len(ours(doc, "UserPromptSubmit", "prompt")) == 1 and
          len(ours(doc, "Stop", "stop")) == 1,
          "init: both hooks added, by absolute path", text)
    g = [g for g in doc["hooks"]["Stop"] if ours({"hooks": {"Stop": [g]}},
                                                "Stop", "stop")]
    check(g == [{"hooks": [{"type": "command", "command":
                            CLIENT + " hook stop"}]}],
          "init: the entry is Claude Code's hook format", g)
    check(strip_ours(json.loads(text)) == orig,
          "init: every other key and hook kept", text)
    before = [k for k, _ in ordered(REAL_SETTINGS)]
    after = [k for k, _ in ordered(text)]
    check(before == after, "init: key order kept", after)
    check("12345678901234567890" in text and "2.50" in text and
          "-3e2" in text, "init: numbers kept as written", text)
    check(stat.S_IMODE(os.stat(h.settings).st_mode) == 0o640,
          "init: file mode kept")
    b = h.backups()
    check(len(b) == 1 and open(os.path.join(h.claude, b[0])).read() ==
          REAL_SETTINGS, "init: timestamped backup of the old bytes", b)
    url = os.path.join(h.cfg, "devroulette", "url")
    salt = os.path.join(h.cfg, "devroulette", "salt")
    check(os.path.exists(url) and open(url).read() ==
          "ws://127.0.0.1:1/\n", "init: server URL recorded")
    check(os.path.exists(salt) and
          re.fullmatch(r"[0-9a-f]{64}\n", open(salt).read()) and
          stat.S_IMODE(os.stat(salt).st_mode) == 0o600,
          "init: a random salt, mode 0600")
    leftovers = [f for f in os.listdir(h.claude) if f not in
                 ["settings.json"] + b]
    check(not leftovers, "init: no temporary file left", leftovers)

    first = open(h.settings, "rb").read()
    salt1 = open(salt).read()
    r = h.run_cmd("init", "ws://127.0.0.1:1/")
    check(r.returncode == 0 and open(h.settings, "rb").read() == first and
          len(h.backups()) == 1 and open(salt).read() == salt1,
          "init twice: byte-identical, no second backup, same salt",
          r.stdout + r.stderr)

    r = h.run_cmd("uninstall")
    text = open(h.settings).read()
    check(r.returncode == 0 and json.loads(text) == orig and
          [k for k, _ in ordered(text)] == before,
          "uninstall: exactly our two entries removed", text)
    check(len(h.backups()) == 2, "uninstall: backup first", h.backups())
    check(stat.S_IMODE(os.stat(h.settings).st_mode) == 0o640,
          "uninstall: file mode kept")
    second = open(h.settings, "rb").read()
    r = h.run_cmd("uninstall")
    check(r.returncode == 0 and open(h.settings, "rb").read() == second and
          len(h.backups()) == 2, "uninstall twice: nothing changes")

    # Their own entries with a devroulette-like name stay.
    r = h.run_cmd("init")
    doc = json.loads(open(h.settings).read())
    check(r.returncode == 0 and open(url).read() == "ws://127.0.0.1:8787\n"
          or open(url).read().strip() == os.environ.get("DEVROULETTE_URL"),
          "init without URL: the built-in default recorded")

    # Environment URL.
    r = h.run_cmd("init", env={"DEVROULETTE_URL": "ws://localhost:2/"})
    check(r.returncode == 0 and open(url).read() == "ws://localhost:2/\n",
          "init: DEVROULETTE_URL recorded when no URL is given")
    r = h.run_cmd("init", "ws://192.0.2.7/")
    check(r.returncode == 1 and b"wss://" in r.stderr,
          "init: ws:// to another host refused")


def test_init_malformed(tmp):
    h = Home(tmp, "malformed")
    h.accept_terms()
    os.makedirs(h.claude)
    bad = '{\n  "model": "opus",\n  "hooks": {"Stop": [}\n}\n'
    with open(h.settings, "w") as f:
        f.write(bad)
    r = h.run_cmd("init")
    check(r.returncode == 1 and b"not valid JSON" in r.stderr and
          b"left untouched" in r.stderr, "malformed: refused with a clear "
          "message", r.stderr)
    check(open(h.settings).read() == bad and not h.backups() and
          sorted(os.listdir(h.claude)) == ["settings.json"],
          "malformed: file untouched, no backup")
    check(not os.path.exists(os.path.join(h.cfg, "devroulette", "url")),
          "malformed: nothing recorded")
    r = h.run_cmd("uninstall")
    check(r.returncode == 1 and open(h.settings).read() == bad,
          "malformed: uninstall refuses too")
    for text, name in (('{"hooks": []}', "hooks not an object"),
                       ('[1, 2]', "not an object"),
                       ('{"a": 1} // comment', "a comment")):
        with open(h.settings, "w") as f:
            f.write(text)
        r = h.run_cmd("init")
        check(r.returncode == 1 and open(h.settings).read() == text,
              "malformed: %s refused" % name, r.stderr)


def test_init_missing(tmp):
    h = Home(tmp, "missing")
    h.accept_terms()
    r = h.run_cmd("init")
    ok = os.path.exists(h.settings)
    doc = json.loads(open(h.settings).read()) if ok else {}
    check(r.returncode == 0 and ok and
          len(ours(doc, "UserPromptSubmit", "prompt")) == 1 and
          not h.backups(), "missing ~/.claude: directory and file made",
          r.stderr)
    r = h.run_cmd("uninstall")
    check(r.returncode == 0 and json.loads(open(h.settings).read()) == {},
          "missing: uninstall leaves {}")

    # A symbolic link (dotfile managers) stays a link.
    h = Home(tmp, "symlink")
    h.accept_terms()
    os.makedirs(h.claude)
    real = os.path.join(h.dir, "dotfiles-settings.json")
    with open(real, "w") as f:
        f.write('{"model": "x"}\n')
    os.symlink(real, h.settings)
    r = h.run_cmd("init")
    check(r.returncode == 0 and os.path.islink(h.settings) and
          "hook prompt" in open(real).read(),
          "symlinked settings.json: the target changes, the link stays",
          r.stderr)

    # Terms not accepted and no terminal: refused, nothing changed.
    h = Home(tmp, "noterms")
    r = h.run_cmd("init", stdin=b"")
    check(r.returncode == 1 and b"terms" in r.stderr and
          not os.path.exists(h.settings),
          "init: refused until the terms are accepted", r.stderr)


# --- the agent ----------------------------------------------------------------

DELAY_MS = 1500         # DEVROULETTE_TASK_DELAY_MS (30000 in use)
BEAT_MS = 500           # DEVROULETTE_BEAT_MS: "still growing" is 2 beats
TMUX_SOCK = "dragent%d" % os.getpid()
KEEP = "drk"            # the tmux session the windows open in


def tmux(*args):
    r = subprocess.run(["tmux", "-L", TMUX_SOCK, "-f", "/dev/null"] +
                       list(args), capture_output=True, text=True)
    return r.stdout


def windows():
    """The chat windows the agent opened (named drchat)."""
    out = tmux("list-windows", "-t", "=%s:" % KEEP, "-F", "#{window_id} "
               "#{window_name}")
    return [w.split()[0] for w in out.splitlines() if w.endswith(" drchat")]


def window_text(wid):
    return tmux("capture-pane", "-p", "-J", "-t", wid)


TERMINAL = ("tmux -L %s -f /dev/null new-window -d -t =%s: -n drchat {}" %
            (TMUX_SOCK, KEEP))


class Agent:
    """A private user whose Claude Code tasks the hooks report."""

    def __init__(self, tmp, name, url, terminal=TERMINAL, delay=DELAY_MS):
        self.h = Home(tmp, name)
        self.h.accept_terms()
        r = self.h.run_cmd("init", url)
        if r.returncode != 0:
            raise RuntimeError("init: %r" % r.stderr)
        self.env = {"DEVROULETTE_TASK_DELAY_MS": str(delay),
                    "DEVROULETTE_BEAT_MS": str(BEAT_MS)}
        if terminal is not None:
            self.env["DEVROULETTE_TERMINAL"] = terminal
        self.rundir = os.path.join(self.h.run, "devroulette")

    def hook(self, verb, data, env=None, stdin_open=False):
        """Run a hook; (seconds, return code, stdout, stderr)."""
        e = dict(self.h.env)
        e.update(self.env)
        e.update(env or {})
        # Claude Code writes the JSON at once: when it fits in a pipe, it
        # is there before the hook starts, so a busy machine (the
        # integration tests run alongside) slows this script, not the
        # hook's input, which it reads for 25 ms at most.
        ready = None
        if not stdin_open and len(data) <= 32768:
            ready, w = os.pipe()
            os.write(w, data)
            os.close(w)
        t0 = time.perf_counter()
        p = subprocess.Popen([CLIENT, "hook", verb], env=e,
                             stdin=ready if ready is not None else
                             subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        if ready is not None:
            os.close(ready)
        # No timeouts in wait(): with one, Python polls with sleeps that
        # grow to 50 ms.  A hook that hangs is killed after 10 s instead.
        guard = threading.Timer(10, p.kill)
        guard.start()
        if ready is not None:
            out, err = p.communicate()
            dt = time.perf_counter() - t0
        elif stdin_open:
            p.stdin.write(data)
            p.stdin.flush()
            p.wait()
            dt = time.perf_counter() - t0
            p.stdin.close()
            out, err = p.stdout.read(), p.stderr.read()
        else:
            out, err = p.communicate(data)
            dt = time.perf_counter() - t0
        guard.cancel()
        return dt, p.returncode, out, err

    def pid(self):
        try:
            with open(os.path.join(self.rundir, "agent.lock")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def alive(self):
        pid = self.pid()
        if pid is None:
            return False
        try:
            with open("/proc/%d/status" % pid) as f:
                return "\nState:\tZ" not in f.read()
        except OSError:
            return False

    def status(self):
        r = self.h.run_cmd("status")
        return r.stdout.decode(errors="replace")

    def stop(self):
        """End the agent (by its pid) and collect it."""
        pid = self.pid()
        if pid is None:
            return None
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            return None
        try:
            wait_until(lambda: not self.alive(), 8)
            _, st = os.waitpid(pid, 0)
            return st
        except ChildProcessError:
            return None


class Task:
    """A fake Claude Code task: a session id and a transcript."""

    def __init__(self, agent, name):
        self.a = agent
        self.sid = "%s-%s" % (name, secrets.token_hex(8))
        self.path = os.path.join(agent.h.dir, "%s.jsonl" % name)
        with open(self.path, "w") as f:
            f.write('{"type":"user"}\n')
        self.growing = threading.Event()
        self.thread = None

    def json(self, event):
        return json.dumps({"session_id": self.sid,
                           "transcript_path": self.path,
                           "cwd": self.a.h.home,
                           "permission_mode": "default",
                           "hook_event_name": event,
                           "prompt": "refactor everything, carefully"}
                          ).encode()

    def prompt(self, env=None):
        r = self.a.hook("prompt", self.json("UserPromptSubmit"), env)
        self.grow()
        return r

    def stop(self):
        self.still()
        return self.a.hook("stop", self.json("Stop"))

    def grow(self):
        if self.thread is not None:
            return
        self.growing.set()

        def run():
            while self.growing.is_set():
                with open(self.path, "a") as f:
                    f.write('{"type":"assistant"}\n')
                time.sleep(0.1)
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def still(self):
        self.growing.clear()
        if self.thread is not None:
            self.thread.join()
        self.thread = None


def ws_session(url, fn):
    """Run fn(ws) on a fresh, ready socket to the real daemon."""
    async def go():
        async with websockets.connect(url) as ws:
            hello = json.loads(await ws.recv())
            await ws.send(json.dumps({"t": "pow", "nonce": e2e.pow_solve(
                hello["challenge"], hello["bits"])}))
            while json.loads(await ws.recv())["t"] != "ready":
                pass
            return await fn(ws)
    return asyncio.run(go())


def insights(url):
    async def ask(ws):
        await ws.send('{"t":"insights"}')
        while True:
            m = json.loads(await ws.recv())
            if m["t"] == "insights":
                return m
    try:
        return ws_session(url, ask)
    except Exception:       # the test fails on the value
        return {}


def waiting(url):
    return insights(url).get("waiting", -1)


class Partner:
    """Another developer on the real daemon, in a thread."""

    def __init__(self, url, say=()):
        self.url = url
        self.say = list(say)
        self.matched = threading.Event()
        self.ended = threading.Event()
        self.got = []
        self.quit = threading.Event()
        self.t = threading.Thread(target=lambda: asyncio.run(self.run()),
                                  daemon=True)
        self.t.start()

    async def run(self):
        try:
            async with websockets.connect(self.url) as ws:
                hello = json.loads(await ws.recv())
                await ws.send(json.dumps({"t": "pow", "nonce":
                                          e2e.pow_solve(hello["challenge"],
                                                        hello["bits"])}))
                await ws.send(json.dumps({"t": "join", "v": 1, "key":
                                          secrets.token_hex(32),
                                          "mode": "open"}))
                last = 0
                while not self.quit.is_set():
                    if time.time() - last > 0.5:
                        await ws.send('{"t":"beat"}')
                        last = time.time()
                    try:
                        m = json.loads(await asyncio.wait_for(ws.recv(),
                                                              0.1))
                    except asyncio.TimeoutError:
                        continue
                    self.got.append(m)
                    if m["t"] == "matched":
                        self.matched.set()
                        for text in self.say:
                            await ws.send(json.dumps({"t": "msg",
                                                      "text": text}))
                    if m["t"] == "ended":
                        self.ended.set()
                await ws.send('{"t":"done"}')
        except Exception as e:      # reported through got
            self.got.append({"t": "exception", "e": repr(e)})
        self.ended.set()

    def texts(self):
        return [m.get("text") for m in self.got if m["t"] == "msg"]

    def stop(self):
        self.quit.set()
        self.t.join(5)


def test_hooks_fast(tmp):
    """Hooks print nothing and return within 50 ms whatever happens."""
    down = "ws://127.0.0.1:%d/" % e2e.free_port()
    a = Agent(tmp, "fast", down)
    t = Task(a, "fast")
    cases = [
        ("prompt, no agent yet, server down", "prompt",
         t.json("UserPromptSubmit"), {}),
        ("prompt, agent running, server down", "prompt",
         t.json("UserPromptSubmit"), {}),
        ("stop", "stop", t.json("Stop"), {}),
        ("garbage", "prompt", b"\x00\xff not json {{{", {}),
        ("empty input", "prompt", b"", {}),
        ("a JSON array", "stop", b"[1,2,3]", {}),
        ("wrong types", "prompt", b'{"session_id": 5, "transcript_path": '
         b'[], "hook_event_name": null}', {}),
        ("relative transcript", "prompt", b'{"session_id": "x", '
         b'"transcript_path": "t.jsonl"}', {}),
        ("1 MB prompt", "prompt", json.dumps(
            {"session_id": "big", "transcript_path": t.path,
             "prompt": "x" * (1 << 20)}).encode(), {}),
        ("unknown verb", "bogus", t.json("Stop"), {}),
        ("broken config", "prompt", t.json("UserPromptSubmit"),
         {"XDG_CONFIG_HOME": "/nonexistent/x", "HOME": "/nonexistent"}),
        ("no runtime dir", "prompt", t.json("UserPromptSubmit"),
         {"XDG_RUNTIME_DIR": "/nonexistent/run"}),
    ]
    # What starting any program costs here (a sanitiser's start-up, a
    # busy machine) is not the hook's: 50 ms on top of the least of it.
    base = min(a.hook("none", b"")[0] for _ in range(5))
    limit = 0.05 + max(0.0, base - 0.005)
    for name, verb, data, env in cases:
        # Starting the agent is measured once: later runs would not.
        n = 1 if name.startswith("prompt, no agent") else 3
        runs = [a.hook(verb, data, env) for _ in range(n)]
        dt = min(r[0] for r in runs)
        check(all(r[1] == 0 and r[2] == b"" for r in runs) and dt < limit,
              "hook %s: exit 0, no output, %.1f ms" % (name, dt * 1000),
              "rc=%r out=%r err=%r" % runs[0][1:])
        if name.startswith("prompt, no agent"):
            check(wait_until(a.alive, 5), "hook prompt starts the agent")
    runs = [a.hook("prompt", b'{"session_id": "open", "transcript_path": '
                   b'"/x"', stdin_open=True) for _ in range(3)]
    dt = min(r[0] for r in runs)
    check(all(r[1] == 0 and r[2] == b"" for r in runs) and dt < limit,
          "hook with standard input never closed: %.1f ms" % (dt * 1000))
    e = dict(a.h.env)
    r = subprocess.run([CLIENT, "hook"], env=e, capture_output=True,
                       stdin=subprocess.DEVNULL)
    check(r.returncode == 0 and r.stdout == b"" and r.stderr == b"",
          "hook without a verb: exit 0, silent")
    st = a.stop()
    check(st is None or os.WIFEXITED(st), "agent: clean exit", st)


def test_agent_files(tmp, url):
    a = Agent(tmp, "files", url)
    t = Task(a, "files")
    t.prompt()
    sock = os.path.join(a.rundir, "agent.sock")
    # The lock names the agent a moment before its socket exists.
    ok = wait_until(lambda: a.alive() and os.path.exists(sock), 5)
    check(ok and stat.S_IMODE(os.stat(a.rundir).st_mode) == 0o700 and
          stat.S_ISSOCK(os.stat(sock).st_mode) and
          stat.S_IMODE(os.stat(sock).st_mode) == 0o600,
          "agent: private directory 0700, socket 0600")
    pid = a.pid()
    t2 = Task(a, "files2")
    t2.prompt()
    time.sleep(0.3)
    s = a.status()
    check(a.pid() == pid and s.count("task ") == 2,
          "one agent per user: a second task goes to it", s)
    check("hooks: installed" in s and "server: %s" % url in s and
          "agent: running (pid %d)" % pid in s, "status: hooks, server, "
          "agent", s)
    # A second agent started by hand refuses: the lock is held.
    r = a.h.run_cmd("agent", "-d", timeout=5)
    check(r.returncode == 1 and b"already running" in r.stderr,
          "a second agent refuses to start", r.stderr)
    t.still()
    t2.still()
    a.stop()


def test_before_delay(tmp, srv):
    """The task ends before the delay: nothing ever reaches the server."""
    a = Agent(tmp, "early", srv.url)
    p = Partner(srv.url)
    check(wait_until(lambda: waiting(srv.url) == 1, 5),
          "early: a partner waits")
    t = Task(a, "early")
    t.prompt()
    time.sleep(DELAY_MS / 1000 * 0.6)
    t.stop()
    time.sleep(DELAY_MS / 1000 * 1.5)
    check(not p.matched.is_set() and waiting(srv.url) == 1 and
          not windows(), "task ends before the delay: no queue, no window")
    p.stop()
    a.stop()


def test_alone_then_stop(tmp, srv):
    """Queued, nobody else comes, the task ends: done, nothing shown."""
    a = Agent(tmp, "alone", srv.url)
    t = Task(a, "alone")
    t.prompt()
    check(not wait_until(lambda: waiting(srv.url) == 1,
                         DELAY_MS / 1000 * 0.5),
          "alone: not queued before the delay")
    check(wait_until(lambda: waiting(srv.url) == 1, 5),
          "alone: queued after the delay")
    check("looking for a partner" in a.status(), "status: looking")
    t0 = time.time()
    t.stop()
    check(wait_until(lambda: waiting(srv.url) == 0, 3) and
          time.time() - t0 < 2, "alone: the task stops, the place goes")
    time.sleep(1)
    check(not windows(), "alone: no window was ever shown")
    check("agent: running" in a.status() and "idle" in a.status(),
          "alone: the agent is idle again")
    a.stop()


def test_match(tmp, srv):
    """A window at the instant of a match; it is the chat."""
    a = Agent(tmp, "match", srv.url)
    t1 = Task(a, "one")
    t2 = Task(a, "two")
    t1.prompt()
    time.sleep(0.3)
    t2.prompt()
    check(wait_until(lambda: waiting(srv.url) == 1, 5),
          "two tasks: queued")
    time.sleep(DELAY_MS / 1000)
    check(waiting(srv.url) == 1 and not windows(),
          "two overlapping tasks: one queue place, no window yet")
    p = Partner(srv.url, say=["hello from a stranger \u00e9t\u00e9"])
    ok = p.matched.wait(5)
    t0 = time.time()
    ok = ok and wait_until(lambda: len(windows()) == 1, 5)
    dt = time.time() - t0
    check(ok and dt < 1.5, "a window at the match (%.2f s)" % dt)
    w = windows()[0] if windows() else None
    check(w is not None and wait_until(
        lambda: "hello from a stranger \u00e9t\u00e9" in window_text(w), 5),
        "the window shows the partner's message", w and window_text(w))
    check(w is not None and "You are now chatting with" in window_text(w),
          "the window says who", w and window_text(w))
    if w is not None:
        tmux("send-keys", "-t", w, "-l", "hi, waiting on Claude too?")
        tmux("send-keys", "-t", w, "Enter")
    check(wait_until(lambda: "hi, waiting on Claude too?" in p.texts(), 5),
          "a line typed in the window reaches the partner", p.got)
    time.sleep(1)
    check(len(windows()) == 1, "two overlapping tasks: one window")
    check("chatting" in a.status(), "status: chatting")
    # The chat is the user's now: the task stopping does not end it.
    t1.stop()
    t2.stop()
    time.sleep(1)
    check(len(windows()) == 1 and not p.ended.is_set(),
          "the tasks end, the chat stays")
    # Closing the window ends the agent's connection.
    if w is not None:
        tmux("kill-window", "-t", w)
    check(p.ended.wait(5) and any(m.get("reason") == "peer_left" for m in
                                  p.got if m["t"] == "ended"),
          "closing the window ends the chat for the partner", p.got)
    check(wait_until(lambda: "idle" in a.status(), 5),
          "the agent is idle after the window closed")
    p.stop()
    # Another long task reopens it.
    check(wait_until(lambda: waiting(srv.url) == 0, 3), "nobody waits")
    t3 = Task(a, "three")
    t3.prompt()
    check(wait_until(lambda: waiting(srv.url) == 1, 5),
          "another long task queues again")
    p = Partner(srv.url)
    check(p.matched.wait(5) and wait_until(lambda: len(windows()) == 1, 5),
          "... and reopens the window")
    w = windows()[0] if windows() else None
    if w is not None:
        wait_until(lambda: "You are now chatting" in window_text(w), 5)
        tmux("send-keys", "-t", w, "C-c")
    check(p.ended.wait(5) and wait_until(lambda: not windows(), 5),
          "Ctrl-C in the window: the chat ends, the window goes")
    p.stop()
    t3.stop()
    a.stop()


def test_no_window(tmp, srv):
    """No way to show a window: the agent does not queue at all."""
    a = Agent(tmp, "nowin", srv.url, terminal=None)
    t = Task(a, "nowin")
    t.prompt()
    time.sleep(DELAY_MS / 1000 + 1.5)
    check(waiting(srv.url) == 0, "no window possible: never queued")
    check("no window can be shown" in a.status(),
          "status: says no window can be shown", a.status())
    t.stop()
    a.stop()

    # A window that fails to open: the partner is let go at once.
    a = Agent(tmp, "badwin", srv.url, terminal="false {}")
    t = Task(a, "badwin")
    t.prompt()
    check(wait_until(lambda: waiting(srv.url) == 1, 5),
          "failing terminal: queued")
    p = Partner(srv.url)
    check(p.matched.wait(5) and p.ended.wait(5),
          "a window that cannot open: the partner is let go", p.got)
    check("window" in a.status(), "status: the window problem",
          a.status())
    p.stop()
    t.stop()
    a.stop()


def test_transcript_private(tmp, srv):
    """The transcript is stat()ed, never opened."""
    a = Agent(tmp, "strace", srv.url)
    log = os.path.join(a.h.dir, "strace.log")
    e = dict(a.h.env)
    e.update(a.env)
    tr = subprocess.Popen(["strace", "-f", "-qq", "-e",
                           "trace=open,openat,openat2,creat,truncate,"
                           "execve", "-o", log, CLIENT, "agent", "-d"],
                          env=e, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    ok = wait_until(a.alive, 10)
    t = Task(a, "private")
    t.prompt()
    check(ok and wait_until(lambda: waiting(srv.url) == 1, 8),
          "strace: the agent queues for a growing transcript")
    p = Partner(srv.url)
    check(p.matched.wait(5) and wait_until(lambda: len(windows()) == 1, 5),
          "strace: matched, window open")
    for w in windows():
        tmux("kill-window", "-t", w)
    p.ended.wait(5)
    t.stop()
    time.sleep(0.5)
    tr.send_signal(signal.SIGTERM)
    try:
        tr.wait(10)
    except subprocess.TimeoutExpired:
        tr.kill()
    a.stop()
    text = open(log).read() if os.path.exists(log) else ""
    check(text and "openat" in text and t.path not in text and
          os.path.basename(t.path) not in text,
          "strace: the transcript is never opened",
          [x for x in text.splitlines() if "private" in x])
    p.stop()

    # A transcript nobody may read still shows it grows.
    a = Agent(tmp, "unreadable", srv.url)
    t = Task(a, "unreadable")
    os.chmod(t.path, 0o200)
    if os.geteuid() == 0:
        # Root reads anything: the agent and hooks run as nobody.
        nobody = 65534
        for d in (a.h.dir, a.h.home, a.h.cfg, a.h.run):
            for root, dirs, files in os.walk(d):
                for n in dirs + files:
                    os.lchown(os.path.join(root, n), nobody, nobody)
            os.chown(d, nobody, nobody)
        os.chown(t.path, 0, 0)
        wrap = ["setpriv", "--reuid=%d" % nobody, "--regid=%d" % nobody,
                "--clear-groups"]
    else:
        wrap = []
    e = dict(a.h.env)
    e.update(a.env)
    r = subprocess.run(wrap + ["cat", t.path], env=e, capture_output=True)
    check(r.returncode != 0, "unreadable: the agent's user cannot read it")
    t.grow()
    subprocess.run(wrap + [CLIENT, "hook", "prompt"], env=e,
                   input=t.json("UserPromptSubmit"), capture_output=True)
    check(wait_until(lambda: waiting(srv.url) == 1, 8),
          "unreadable transcript that grows: the task is queued")
    t.growing.clear()
    subprocess.run(wrap + [CLIENT, "hook", "stop"], env=e,
                   input=t.json("Stop"), capture_output=True)
    check(wait_until(lambda: waiting(srv.url) == 0, 5),
          "unreadable: stop leaves the queue")
    t.still()
    a.stop()


def test_tmux_split(tmp, srv):
    """Inside tmux (no $DEVROULETTE_TERMINAL): a split of Claude's pane."""
    sock = tmux("display-message", "-p", "-t", "=%s:" % KEEP,
                "#{socket_path}").strip()
    pid = tmux("display-message", "-p", "-t", "=%s:" % KEEP,
               "#{pid}").strip()
    pane = tmux("display-message", "-p", "-t", "=%s:" % KEEP,
                "#{pane_id}").strip()
    a = Agent(tmp, "split", srv.url, terminal=None)
    t = Task(a, "split")
    t.prompt(env={"TMUX": "%s,%s,0" % (sock, pid), "TMUX_PANE": pane})
    check(wait_until(lambda: waiting(srv.url) == 1, 5),
          "tmux: queued (a window can be shown)")
    panes = lambda: tmux("list-panes", "-t", "=%s:" % KEEP, "-F",
                         "#{pane_id}").split()
    check(panes() == [pane], "tmux: one pane before the match")
    p = Partner(srv.url, say=["split hello"])
    check(p.matched.wait(5) and wait_until(lambda: len(panes()) == 2, 5),
          "tmux: the match splits Claude Code's pane", panes())
    new = [x for x in panes() if x != pane]
    check(new and wait_until(lambda: "split hello" in
                             window_text(new[0]), 5),
          "tmux: the split is the chat")
    if new:
        tmux("send-keys", "-t", new[0], "C-c")
    check(p.ended.wait(5) and wait_until(lambda: panes() == [pane], 5),
          "tmux: leaving closes the split")
    p.stop()
    t.stop()
    a.stop()


def test_one_agent(tmp, srv):
    """Hooks racing to start the agent: one agent gets every task."""
    a = Agent(tmp, "race", srv.url)
    tasks = [Task(a, "race%d" % i) for i in range(6)]
    e = dict(a.h.env)
    e.update(a.env)
    go = threading.Barrier(len(tasks))

    def hook(t):
        go.wait()
        subprocess.run([CLIENT, "hook", "prompt"], env=e,
                       input=t.json("UserPromptSubmit"),
                       capture_output=True)
    threads = [threading.Thread(target=hook, args=(t,)) for t in tasks]
    for x in threads:
        x.start()
    for x in threads:
        x.join(10)
    ok = wait_until(lambda: a.status().count("task ") == len(tasks), 6)
    check(ok, "racing hooks: one agent has all %d tasks" % len(tasks),
          a.status())
    me = os.getpid()
    agents = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().split(b"\0")
            with open("/proc/%s/status" % d) as f:
                st = f.read()
        except OSError:
            continue
        if (cmd[:1] and os.path.basename(cmd[0]) == b"devroulette" and
                b"agent" in cmd and
                "\nState:\tZ" not in st and
                os.environ.get("HOME", "") is not None and
                "PPid:\t%d\n" % me in st):
            agents.append(d)
    check(len(agents) == 1, "racing hooks: one agent process", agents)
    # Collect the losers too.
    for _ in range(len(tasks)):
        try:
            os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
    a.stop()


def test_attach_refused(tmp, srv):
    """chat --attach by hand, with no chat: refused, said why."""
    a = Agent(tmp, "byhand", srv.url)
    t = Task(a, "byhand")
    t.prompt()
    sock = os.path.join(a.rundir, "agent.sock")
    wait_until(lambda: a.alive() and os.path.exists(sock), 5)
    tmux("new-window", "-d", "-t", "=%s:" % KEEP, "-n", "byhand",
         "%s chat --attach %s; echo EXIT=$?; sleep 60" % (CLIENT, sock))
    ok = wait_until(lambda: "Press Enter" in window_text("=%s:byhand" %
                                                      KEEP), 5)
    check(ok and "no chat to show" in window_text("=%s:byhand" % KEEP),
          "chat --attach with no chat: refused, the reason stays on screen",
          window_text("=%s:byhand" % KEEP))
    tmux("send-keys", "-t", "=%s:byhand" % KEEP, "Enter")
    check(wait_until(lambda: "EXIT=1" in window_text("=%s:byhand" % KEEP),
                     5), "... until Enter; exit 1")
    tmux("kill-window", "-t", "=%s:byhand" % KEEP)
    t.stop()
    a.stop()


# --- the agent's timers: idle exit, the window's deadline -------------------

IDLE_MS = 800           # DEVROULETTE_IDLE_MS (ten minutes in use)
CLOSE_S = 1.0           # client_agent.c AGENT_CLOSE_MS: nameless, still open


def lock_free(path):
    """Whether nobody holds the agent's lock (flock, as the agent takes it)."""
    import fcntl
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def reap(pid):
    """The exit status of a process our subreaper collects, or None."""
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return None


def test_idle_exit(tmp):
    """No task, no chat, nobody connected: the agent exits, cleanly."""
    down = "ws://127.0.0.1:%d/" % e2e.free_port()
    a = Agent(tmp, "idle", down, delay=60000)
    a.env["DEVROULETTE_IDLE_MS"] = str(IDLE_MS)
    sock = os.path.join(a.rundir, "agent.sock")
    lock = os.path.join(a.rundir, "agent.lock")
    t = Task(a, "idle")
    t.prompt()
    check(wait_until(lambda: a.alive() and os.path.exists(sock), 5),
          "idle: the hook starts the agent")
    pid = a.pid()
    time.sleep(2 * IDLE_MS / 1000)
    check(a.alive() and a.pid() == pid and not lock_free(lock),
          "idle: a task that has not stopped keeps the agent")
    t.stop()
    t0 = time.time()
    time.sleep(IDLE_MS / 1000 * 0.6)
    check(a.alive(), "idle: not gone before the idle time")
    gone = wait_until(lambda: not a.alive(), IDLE_MS / 1000 + CLOSE_S + 5)
    dt = time.time() - t0
    st = reap(pid)
    check(gone and dt >= IDLE_MS / 1000 and st is not None and
          os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0,
          "idle: the agent exits by itself, status 0 (%.1f s)" % dt, st)
    check(lock_free(lock) and not os.path.exists(sock),
          "idle: lock let go, socket removed")
    t2 = Task(a, "idle2")
    t2.prompt()
    check(wait_until(lambda: a.alive() and os.path.exists(sock), 5) and
          a.pid() != pid and a.status().count("task ") == 1,
          "idle: the next hook starts a fresh agent with its task",
          a.status())
    t2.still()
    a.stop()


def hand_agent(a, name, env):
    """`agent -d` started here, logging to a file: (process, log path)."""
    log = os.path.join(a.h.dir, "%s.log" % name)
    e = dict(a.h.env)
    e.update(a.env)
    e.update(env)
    with open(log, "w") as f:
        p = subprocess.Popen([CLIENT, "agent", "-d"], env=e,
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=f)
    return p, log


def exit_code(p, timeout=10):
    """A hand-started agent's exit status; killed if it does not exit."""
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def logged(path, text):
    try:
        with open(path) as f:
            return text in f.read()
    except OSError:
        return False


def test_idle_race(tmp):
    """A prompt at the instant the agent exits for idleness is not lost."""
    down = "ws://127.0.0.1:%d/" % e2e.free_port()
    a = Agent(tmp, "irace", down, delay=60000)
    sock = os.path.join(a.rundir, "agent.sock")
    lock = os.path.join(a.rundir, "agent.lock")

    # The hook connects and writes while the agent, having decided to
    # exit, is stalled (DEVROULETTE_IDLE_PAUSE_MS) before it removes its
    # socket: the connection waits in the backlog, and keeps the agent.
    p, log = hand_agent(a, "irace1", {"DEVROULETTE_IDLE_MS": "300",
                                      "DEVROULETTE_IDLE_PAUSE_MS": "1500"})
    check(wait_until(lambda: logged(log, "idle for"), 6) and
          os.path.exists(sock), "race: the agent decides to exit")
    t = Task(a, "irace1")
    dt, rc, out, err = t.prompt()
    check(rc == 0 and out == b"", "race: the hook returns at once")
    check(wait_until(lambda: logged(log, "staying"), 6) and
          p.poll() is None and os.path.exists(sock) and
          a.pid() == p.pid and a.status().count("task ") == 1,
          "race: a task sent as the agent was exiting keeps it, with the "
          "task", open(log).read())
    t.stop()
    rc = exit_code(p)
    check(rc == 0 and lock_free(lock) and not os.path.exists(sock),
          "race: once the task stops, idle again: exits")

    # The hook comes when the socket has no name: it starts an agent,
    # which waits for the lock and takes the task over.
    p, log = hand_agent(a, "irace2", {"DEVROULETTE_IDLE_MS": "300"})
    check(wait_until(lambda: logged(log, "no name now"), 6) and
          not os.path.exists(sock), "race: the socket's name goes first")
    t = Task(a, "irace2")
    t.prompt()
    rc = exit_code(p)
    check(rc == 0, "race: the old agent exits", rc)
    check(wait_until(lambda: a.alive() and a.pid() != p.pid and
                     os.path.exists(sock), 6) and
          a.status().count("task ") == 1,
          "race: a task sent as the socket went reaches the next agent",
          a.status())
    t.still()
    a.stop()


def test_attach_timeout(tmp, srv):
    """A window that never attaches: the partner is let go at the deadline."""
    hang = os.path.join(tmp, "hangterm")
    with open(hang, "w") as f:
        f.write("#!/bin/sh\nsleep 8\n")
    os.chmod(hang, 0o755)
    # The first way fails after 2 s, the next one hangs: the deadline
    # runs from the match, not from the last way tried.
    a = Agent(tmp, "noattach", srv.url, terminal="sleep 2; false")
    a.env["DEVROULETTE_ATTACH_MS"] = "2500"
    t = Task(a, "noattach")
    t.prompt(env={"DISPLAY": ":99", "TERMINAL": hang})
    check(wait_until(lambda: waiting(srv.url) == 1, 5),
          "no attach: queued")
    p = Partner(srv.url)
    ok = p.matched.wait(5)
    t0 = time.time()
    ended = ok and p.ended.wait(8)
    dt = time.time() - t0
    check(ended and 2.2 <= dt < 4.0,
          "no attach: the partner is let go %.1f s after the match "
          "(DEVROULETTE_ATTACH_MS 2.5 s)" % dt, p.got)
    check(any(m.get("t") == "ended" and m.get("reason") == "peer_left"
              for m in p.got), "no attach: the partner is told: peer_left",
          p.got)
    s = a.status()
    check("did not come up" in s and wait_until(lambda: "idle" in
                                                a.status(), 3),
          "no attach: status says so; the agent is idle", s)
    time.sleep(DELAY_MS / 1000 + 1)
    check(waiting(srv.url) == 0,
          "no attach: the task does not queue again")
    p.stop()
    t.stop()
    a.stop()


def test_attach_deadline_says(tmp):
    """What the agent sends when the window misses its deadline: done."""
    rec = Recorder(match=True)
    a = Agent(tmp, "attachsays", rec.url, terminal="true {}")
    a.env["DEVROULETTE_ATTACH_MS"] = "1500"
    t = Task(a, "attachsays")
    t.prompt()
    ok = wait_until(lambda: "(matched)" in rec.types(), 5)
    ok = ok and rec.closed.wait(6)
    m = [x for x, d in rec.msgs if d["t"] == "(matched)"]
    after = [(x - m[0], d["t"]) for x, d in rec.msgs if m and x > m[0]]
    talk = [k for _, k in after if k != "beat"]
    check(ok and talk == ["done"] and 1.3 <= after[-1][0] < 3,
          "no attach: the agent says done at the deadline, nothing else",
          after)
    s = a.status()
    check("did not come up" in s, "no attach: status says so", s)
    t.stop()
    a.stop()


def test_stop_hook_active(tmp):
    """A Stop is a Stop, stop_hook_active or not."""
    rec = Recorder()
    a = Agent(tmp, "shactive", rec.url)
    t = Task(a, "shactive")

    def stop(active):
        d = json.loads(t.json("Stop"))
        d["stop_hook_active"] = active
        return a.hook("stop", json.dumps(d).encode())
    t.prompt()
    check(wait_until(lambda: "join" in rec.types(), 5),
          "stop_hook_active: queued")
    stop(False)
    check(wait_until(lambda: "done" in rec.types(), 3),
          "stop_hook_active: Stop leaves the queue")
    # Another Stop hook blocked that stop: Claude Code works on, with no
    # prompt, and stops again with stop_hook_active set.
    time.sleep(DELAY_MS / 1000 + 1)
    check(rec.types().count("join") == 1,
          "stop_hook_active: the work after a blocked Stop is not watched")
    dt, rc, out, _ = stop(True)
    check(rc == 0 and out == b"", "stop_hook_active: the hook is silent")
    n = len(rec.msgs)
    t.prompt()
    check(wait_until(lambda: rec.types().count("join") == 2, 5),
          "stop_hook_active: the next prompt is a new task")
    stop(True)
    check(wait_until(lambda: "done" in [d["t"] for _, d in rec.msgs[n:]],
                     3), "stop_hook_active set: the Stop still ends the task")
    t.still()
    a.stop()


# --- the fake server: what exactly the agent says ---------------------------

class Recorder:
    """hello, ready, queued (and matched, if match); records every message
    with its time."""

    def __init__(self, match=False):
        self.match = match
        self.port = e2e.free_port()
        self.url = "ws://127.0.0.1:%d/" % self.port
        self.msgs = []
        self.closed = threading.Event()
        self.ready = threading.Event()
        threading.Thread(target=self.thread, daemon=True).start()
        self.ready.wait(10)

    def thread(self):
        async def handler(ws, path=None):
            await ws.send(json.dumps({"t": "hello", "v": 1, "challenge":
                                      "0" * 32, "bits": 0,
                                      "deadline_ms": 10000}))
            try:
                async for m in ws:
                    d = json.loads(m)
                    self.msgs.append((time.time(), d))
                    if d["t"] == "pow":
                        await ws.send('{"t":"ready"}')
                    elif d["t"] == "join":
                        await ws.send('{"t":"queued","waiting":1}')
                        if self.match:
                            self.msgs.append((time.time(), {"t": "(matched)"}))
                            await ws.send('{"t":"matched","you":"calm-otter",'
                                          '"peer":"kind-lynx"}')
                    elif d["t"] == "done":
                        await ws.close(1000)
            except websockets.ConnectionClosed:
                pass
            self.closed.set()

        async def main():
            async with websockets.serve(handler, "127.0.0.1", self.port):
                self.ready.set()
                await asyncio.Future()
        asyncio.run(main())

    def types(self):
        return [d["t"] for _, d in self.msgs]


def test_protocol(tmp):
    rec = Recorder()
    a = Agent(tmp, "proto", rec.url)
    t = Task(a, "proto")
    t.prompt()
    ok = wait_until(lambda: "join" in rec.types(), 5)
    joins = [d for _, d in rec.msgs if d["t"] == "join"]
    salt = bytes.fromhex(open(os.path.join(a.h.cfg, "devroulette",
                                           "salt")).read().strip())
    key = hmac.new(salt, t.sid.encode(), hashlib.sha256).hexdigest()
    check(ok and joins and joins[0] == {"t": "join", "v": 1, "key": key,
                                        "mode": "task"},
          "join: task mode, key = HMAC-SHA256(salt, session id)", joins)
    check(t.sid not in json.dumps(rec.msgs) and
          t.path not in json.dumps(rec.msgs),
          "nothing of the session id or transcript is sent")
    time.sleep(2)
    beats = [x for x, d in rec.msgs if d["t"] == "beat"]
    check(len(beats) >= 2, "beats while the transcript grows (%d)" %
          len(beats))
    t.still()
    t_still = time.time()
    time.sleep(2 * BEAT_MS / 1000 + 2)
    late = [x for x, d in rec.msgs if d["t"] == "beat" and
            x > t_still + 2 * BEAT_MS / 1000 + 0.3]
    check(not late, "no beats once the transcript stops growing", late)
    t.grow()
    time.sleep(1.5)
    check([x for x, d in rec.msgs if d["t"] == "beat" and x > t_still +
           2 * BEAT_MS / 1000 + 0.3], "beats again when it grows again")
    n = len(rec.msgs)
    t.stop()
    check(wait_until(lambda: "done" in [d["t"] for _, d in rec.msgs[n:]],
                     3) and rec.closed.wait(3),
          "the task stops before a match: done is sent",
          rec.types()[n:])
    check(not windows(), "protocol: no window")
    a.stop()


# --- main -------------------------------------------------------------------

def main():
    if not os.access(CLIENT, os.X_OK):
        print("not ok - client binary %s missing" % CLIENT)
        print("0 passed, 1 failed")
        return 1
    tmp = tempfile.mkdtemp(prefix="dragent.")
    os.chmod(tmp, 0o755)
    # Agents are double-forked away from the hooks: collect them here.
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)     # PR_SET_CHILD_SUBREAPER
    srv = None
    tmux("new-session", "-d", "-s", KEEP, "-x", "100", "-y", "40",
         "sleep 3600")
    try:
        test_init(tmp)
        test_init_malformed(tmp)
        test_init_missing(tmp)
        test_hooks_fast(tmp)
        test_protocol(tmp)
        test_stop_hook_active(tmp)
        test_attach_deadline_says(tmp)
        test_idle_exit(tmp)
        test_idle_race(tmp)
        if os.access(e2e.DAEMON, os.X_OK):
            srv = e2e.Server(tmp, BEAT_TIMEOUT_MS="2500",
                             PING_INTERVAL_MS="2000")
            test_agent_files(tmp, srv.url)
            test_before_delay(tmp, srv)
            test_alone_then_stop(tmp, srv)
            test_match(tmp, srv)
            test_no_window(tmp, srv)
            test_tmux_split(tmp, srv)
            test_one_agent(tmp, srv)
            test_attach_refused(tmp, srv)
            test_attach_timeout(tmp, srv)
            test_transcript_private(tmp, srv)
        else:
            check(False, "server: %s missing" % e2e.DAEMON)
    finally:
        if srv is not None:
            srv.stop()
        sock = tmux("display-message", "-p", "-t", "=%s:" % KEEP,
                    "#{socket_path}").strip()
        tmux("kill-server")
        if sock.endswith("/" + TMUX_SOCK):
            try:
                os.unlink(sock)
            except OSError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (e2e.passed, e2e.failed))
    return 1 if e2e.failed else 0


if __name__ == "__main__":
    sys.exit(main())
