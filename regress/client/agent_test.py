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

passed = 0
failed = 0


def check(cond, name, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok - %s" % name, flush=True)
    else:
        failed += 1
        print("not ok - %s" % name, flush=True)
        if detail:
            lines = [x for x in str(detail).splitlines() if x.strip()]
            for line in lines[-40:]:
                print("#   %s" % line, flush=True)


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


# --- main -------------------------------------------------------------------

def main():
    if not os.access(CLIENT, os.X_OK):
        print("not ok - client binary %s missing" % CLIENT)
        print("0 passed, 1 failed")
        return 1
    tmp = tempfile.mkdtemp(prefix="dragent.")
    try:
        test_init(tmp)
        test_init_malformed(tmp)
        test_init_missing(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
