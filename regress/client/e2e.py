"""
End-to-end tests of devroulette(1): real clients in tmux sessions on a
private tmux server, typed into with send-keys and read with capture-pane.

Two servers are used:
  - the real daemon ($BIN/devrouletted -d), or DR_PEER_CMD (a whole command
    line, e.g. "node /tmp/node-ws/server.js") for the Node peer; the
    hostile partner is a raw WebSocket client (python3-websockets);
  - a scripted fake server (python3-websockets) for what a real server
    never does, or not on cue: unsanitised text, HTTP 403/503, close
    4001/4005/1001, idle, a long text to wrap.

Daemons of their own, with settings that make them refuse, give the HTTP
refusals (403, 429, 503) and the closes 4000, 4002 and 4003 for real.

Each check prints "ok - name" or "not ok - name"; the last line is
"N passed, N failed".  Run with Debian's /usr/bin/python3.
"""

import asyncio
import base64
import hashlib
import http
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import websockets

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BIN = os.environ.get("BIN", os.path.join(REPO, "bin"))
CLIENT = os.path.join(BIN, "devroulette")
DAEMON = os.path.join(BIN, "devrouletted")
TMUX_SOCK = "drclient%d" % os.getpid()

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


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


# --- tmux -----------------------------------------------------------------

def tmux(*args):
    r = subprocess.run(["tmux", "-L", TMUX_SOCK, "-f", "/dev/null"] +
                       list(args), capture_output=True, text=True)
    return r.stdout


class Pane:
    """One devroulette in its own tmux session."""

    def __init__(self, name, url, cfg, width=100, height=50, extra=(),
                 env=None):
        self.name = "=drt-%s:" % name  # "=": exactly that session
        self.height = height
        e = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
             "XDG_CONFIG_HOME": cfg, "HOME": cfg, "TERM": "screen"}
        e.update(env or {})
        envs = " ".join("%s=%s" % (k, shq(v)) for k, v in e.items())
        args = " ".join(shq(a) for a in extra)
        # After the client: its exit status and the terminal's modes.
        cmd = ("env %s %s %s start %s; echo EXIT=$?; stty -a | "
               "tr ' ;' '\\n\\n' | grep -E '^-?(icanon|echo)$' | "
               "tr '\\n' ' '; echo; sleep 600" %
               (envs, shq(CLIENT), args, shq(url)))
        tmux("new-session", "-d", "-s", "drt-" + name, "-x", str(width), "-y",
             str(height), cmd)

    def screen(self):
        return tmux("capture-pane", "-p", "-J", "-t", self.name)

    def flat(self):
        """The rows joined by spaces: a sentence the chat wrapped is
        whole again."""
        return " ".join(r.strip() for r in self.rows() if r.strip())

    def wait_flat(self, pattern, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            if re.search(pattern, self.flat()):
                return True
            time.sleep(0.1)
        return False

    def pid(self):
        """The client's process id: the pane's shell runs it."""
        sh = self.fmt("#{pane_pid}")
        r = subprocess.run(["ps", "-o", "pid=", "--ppid", sh],
                           capture_output=True, text=True)
        pids = r.stdout.split()
        return int(pids[0]) if pids else None

    def paste(self, text):
        """A paste, bracketed if the application asked for it."""
        tmux("set-buffer", "-b", "bp", text)
        tmux("paste-buffer", "-p", "-b", "bp", "-t", self.name, "-d")

    def rows(self):
        return tmux("capture-pane", "-p", "-t", self.name).split("\n")

    def send(self, *keys):
        tmux("send-keys", "-t", self.name, *keys)

    def type(self, text):
        tmux("send-keys", "-t", self.name, "-l", text)
        tmux("send-keys", "-t", self.name, "Enter")

    def wait(self, pattern, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            s = self.screen()
            if re.search(pattern, s):
                return True
            time.sleep(0.1)
        return False

    def wait_more(self, text, n, timeout=10):
        """Until text shows more than n times."""
        end = time.time() + timeout
        while time.time() < end:
            if self.screen().count(text) > n:
                return True
            time.sleep(0.1)
        return False

    def fmt(self, f):
        return tmux("display-message", "-p", "-t", self.name, f).strip()

    def kill(self):
        tmux("kill-session", "-t", self.name)


def shq(s):
    return "'" + str(s).replace("'", "'\\''") + "'"


# --- servers --------------------------------------------------------------

class Server:
    def __init__(self, tmp, **settings):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(dir=tmp)
        env = dict(os.environ)
        env.update({"HOST": "127.0.0.1", "PORT": str(self.port),
                    "STATE_DIR": self.dir,
                    "CONTROL_SOCKET": os.path.join(self.dir, "ctl.sock"),
                    "POW_BITS": "4", "JOINS_PER_MIN": "1000",
                    "MAX_SOCKETS_PER_IP": "50", "PING_INTERVAL_MS": "5000",
                    "BEAT_TIMEOUT_MS": "25000"})
        env.update(settings)
        peer = os.environ.get("DR_PEER_CMD")
        argv = peer.split() if peer else [DAEMON, "-d"]
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.url = "ws://127.0.0.1:%d/" % self.port
        if not wait_port(self.port):
            raise RuntimeError("server did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(6)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def pow_solve(challenge, bits):
    n = 0
    while True:
        nonce = "n%d" % n
        d = hashlib.sha256((challenge + nonce).encode()).digest()
        v = int.from_bytes(d, "big")
        if v >> (256 - bits) == 0 if bits else True:
            return nonce
        n += 1


def raw_ws(port):
    """A WebSocket from this address, held open by hand: the upgrade and
    nothing else.  Returns the socket and the answer's status line."""
    s = socket.create_connection(("127.0.0.1", port), 5)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               "\r\n" % key).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(4096)
        if not b:
            break
        head += b
    return s, head.split(b"\r\n")[0].decode(errors="replace")


def raw_ws_text(s, text):
    """One masked text frame (under 126 bytes)."""
    p = text.encode()
    mask = os.urandom(4)
    s.sendall(bytes([0x81, 0x80 | len(p)]) + mask +
              bytes(c ^ mask[i % 4] for i, c in enumerate(p)))


HOSTILE = [
    "\x1b[31mRED\x1b[0m plain",
    "\x1b]52;c;SGFja2VkIQ==\x07clip",
    "\x1b]8;;http://evil.example/\x1b\\linktext\x1b]8;;\x1b\\",
    "\x1b]2;PWNED\x07title",
    "\u202eevil\u202c bidi \u2066x\u2069",
    "\x9b31m c1 \x9d0;PWNED2\x9c done",
    "\x1bPqdcs\x1b\\ dcs gone \x1b[2J\x1b[H cleared?",
    "\u754c" * 500,
]


def hostile_ok(pane, check_title=True):
    """What the hostile texts must never leave on a screen."""
    s = pane.screen()
    bad = [m for m in ("[31m", "]52", "]8;;", "PWNED", "\u202e", "\u2066",
                       "qdcs", "[2J", "SGFja2Vk") if m in s]
    title = pane.fmt("#{pane_title}")
    buffers = tmux("list-buffers")
    return bad, title, buffers


class PeerClient:
    """A raw WebSocket partner on the real server, run in a thread."""

    def __init__(self, url, texts):
        self.url = url
        self.texts = texts
        self.matched = threading.Event()
        self.done = threading.Event()
        self.got = []
        self.error = None
        self.t = threading.Thread(target=lambda: asyncio.run(self.run()),
                                  daemon=True)
        self.t.start()

    async def run(self):
        try:
            async with websockets.connect(self.url) as ws:
                hello = json.loads(await ws.recv())
                await ws.send(json.dumps({"t": "pow", "nonce": pow_solve(
                    hello["challenge"], hello["bits"])}))
                await ws.send(json.dumps({"t": "join", "v": 1, "key":
                                          secrets.token_hex(32),
                                          "mode": "open"}))
                while True:
                    m = json.loads(await ws.recv())
                    if m["t"] == "ready":
                        continue
                    if m["t"] == "matched":
                        break
                self.matched.set()
                for t in self.texts:
                    await ws.send(json.dumps({"t": "msg", "text": t}))
                    await asyncio.sleep(1.15)
                    await ws.send(json.dumps({"t": "beat"}))
                await ws.send(json.dumps({"t": "done"}))
        except Exception as e:      # reported by the test
            self.error = repr(e)
        self.done.set()


# --- the scripted fake server ---------------------------------------------

class FakeServer:
    """Speaks just enough of the protocol, badly on purpose."""

    def __init__(self):
        self.port = free_port()
        self.url = "ws://127.0.0.1:%d" % self.port
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.conns = {}
        t = threading.Thread(target=self.thread, daemon=True)
        t.start()
        self.ready.wait(10)

    def thread(self):
        asyncio.set_event_loop(self.loop)

        async def main():
            async with websockets.serve(self.handler, "127.0.0.1",
                                        self.port,
                                        process_request=self.request):
                self.ready.set()
                await asyncio.Future()
        self.loop.run_until_complete(main())

    async def request(self, path, headers):
        self.conns[path] = self.conns.get(path, 0) + 1
        if path.startswith("/http403"):
            return (http.HTTPStatus(403), [], b"banned\n")
        if path.startswith("/http503"):
            return (http.HTTPStatus(503), [], b"full\n")
        return None

    async def handler(self, ws, path):
        await ws.send(json.dumps({"t": "hello", "v": 1, "challenge":
                                  "0" * 32, "bits": 2,
                                  "deadline_ms": 10000}))
        if path.startswith("/close4005"):
            await ws.close(4005)
            return
        if path.startswith("/close4001"):
            await ws.close(4001)
            return
        await ws.recv()                         # pow, not checked
        await ws.send(json.dumps({"t": "ready"}))
        if path.startswith("/close1001"):
            if self.conns.get(path, 0) == 1:
                await ws.close(1001)
                return
        await ws.recv()                         # join
        await ws.send(json.dumps({"t": "queued", "waiting": 1}))
        await ws.send(json.dumps({"t": "matched", "you": "\x1b[31mme",
                                  "peer": "evil-peer"}))
        if path.startswith("/hostile"):
            for t in HOSTILE:
                await ws.send(json.dumps({"t": "msg", "text": t}))
            await ws.send('{"t":"msg","text":"\\ud800lone"}')
            await ws.send('{"t":"nonsense","x":1}')
            await ws.send('[1,2,3]')
            await ws.send('not json at all')
            await ws.send(json.dumps({"t": "msg", "text": "after junk"}))
        if path.startswith("/idle"):
            await ws.send(json.dumps({"t": "ended", "reason": "idle"}))
        if path.startswith("/wrap"):
            await ws.send(json.dumps({"t": "msg", "text": WRAP_TEXT}))
        try:
            async for m in ws:
                if path.startswith("/idle") and '"join"' in m:
                    await ws.send(json.dumps({"t": "queued",
                                              "waiting": 7}))
        except websockets.ConnectionClosed:
            pass


# --- tests ----------------------------------------------------------------

def restored(pane):
    """The client has exited and the shell's terminal is sane again: line
    mode, echo, the main screen, and no bracketed paste (a paste would
    show its brackets, echoed as ^[[200~)."""
    ok = pane.wait(r"EXIT=\d+\n.*icanon", 8)
    if ok:
        pane.paste("zq" + "z")
        ok = pane.wait("zqz", 5)
    s = pane.screen()
    return (ok and "-icanon" not in s and "-echo" not in s and
            "200~" not in s and pane.fmt("#{alternate_on}") == "0"), s


def input_row(pane):
    return pane.rows()[pane.height - 1]


def test_cli(tmp):
    def run(*args, env=None):
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run([CLIENT] + list(args), capture_output=True,
                              text=True, env=e, stdin=subprocess.DEVNULL)
    r = run("--help")
    check(r.returncode == 0 and "start [URL]" in r.stdout, "cli: --help")
    r = run("--version")
    check(r.returncode == 0 and r.stdout.startswith("devroulette "),
          "cli: --version")
    r = run("bogus")
    check(r.returncode == 1 and "usage:" in r.stderr, "cli: bad command")
    r = run("--debug", "start", env={"DEVROULETTE_DEV": ""})
    check(r.returncode == 1 and "DEVROULETTE_DEV=1" in r.stderr,
          "cli: --debug needs DEVROULETTE_DEV=1")
    r = run("start", "ws://192.0.2.1:1/")
    check(r.returncode == 1 and "wss://" in r.stderr,
          "cli: ws:// to a remote host refused without --insecure")
    r = run("start", "http://localhost/")
    check(r.returncode == 1 and "ws://" in r.stderr, "cli: bad URL")
    r = run("start", "wss://localhost:1/",
            env={"DEVROULETTE_CA": os.path.join(tmp, "nope.pem")})
    check(r.returncode == 1 and "DEVROULETTE_CA" in r.stderr,
          "cli: DEVROULETTE_CA that cannot be loaded")


def test_terms(tmp, url):
    cfg = tempfile.mkdtemp(dir=tmp)
    p = Pane("terms", url, cfg)
    ok = p.wait("18 or older", 5)
    p.type("no")
    check(ok and p.wait(r"Not accepted.*\n.*EXIT=1", 5),
          "terms: refusing the notice does not start")
    p.kill()
    p = Pane("terms2", url, cfg)
    p.wait("18 or older", 5)
    p.type("yes")
    ok = p.wait("connecting|waiting for a dev", 8)
    saved = os.path.exists(os.path.join(cfg, "devroulette", "accepted"))
    check(ok and saved, "terms: accepted once and remembered", p.screen())
    p.send("C-c")
    p.wait("EXIT=", 5)
    p.kill()
    p = Pane("terms3", url, cfg)
    check(p.wait("waiting for a dev", 8) and "18 or older" not in
          p.screen(), "terms: not asked again")
    p.send("C-c")
    p.kill()


def test_chat(tmp, srv, cfg):
    a = Pane("a", srv.url, cfg)
    check(a.wait(r"waiting for a dev \(1 waiting\)", 10),
          "status: waiting for a dev (N waiting)", a.screen())
    b = Pane("b", srv.url, cfg)
    ok = a.wait("You are now chatting with", 10) and \
        b.wait("You are now chatting with", 10)
    check(ok and "chatting with" in a.rows()[a.height - 2],
          "matching: both clients matched", a.screen() + b.screen())
    ha = re.search(r"you are ([a-z-]+)\)", a.screen())
    hb = re.search(r"you are ([a-z-]+)\)", b.screen())
    ha = ha.group(1) if ha else "?"
    hb = hb.group(1) if hb else "?"

    a.type("hello from a")
    check(b.wait(re.escape(ha) + ": hello from a"),
          "message a -> b", b.screen())
    time.sleep(1.2)
    b.type("hi back from b \u65e5\u672c")
    check(a.wait(re.escape(hb) + ": hi back from b \u65e5\u672c"),
          "message b -> a (wide characters)", a.screen())

    time.sleep(1.2)
    for i in range(4):
        a.send("-l", "burst %d" % i)
        a.send("Enter")
    check(a.wait(r"burst 3 \(pending\)", 3),
          "pacing: lines typed fast are shown pending", a.screen())
    ok = b.wait(r"burst 0.*\n.*burst 1.*\n.*burst 2.*\n.*burst 3", 10)
    check(ok and "not delivered" not in a.screen() and
          a.wait(r"burst 3\s*$", 3) is not None and
          "(pending)" not in a.screen(),
          "pacing: all sent in order, none refused", a.screen() +
          b.screen())

    a.type("x" * 501)
    check(a.wait("Line too long: 501 characters, the limit is 500"),
          "too long: refused locally with the count", a.screen())

    # A paste of several lines: one message each.
    tmux("set-buffer", "-b", "p", "pasted one\npasted two\npasted three\n")
    tmux("paste-buffer", "-b", "p", "-t", a.name, "-d")
    check(b.wait(r"pasted one.*\n.*pasted two.*\n.*pasted three", 10),
          "paste: multi-line paste sent as successive messages",
          b.screen())

    a.type("/insights")
    check(a.wait(r"Now: \d+ online, \d+ waiting, \d+ chats\. All time") and
          a.wait(r"This chat: \d+ messages? in"), "/insights shown",
          a.screen())

    a.type("/help")
    check(a.wait("/report") and a.wait("/skip"), "/help lists commands")

    a.type("/frobnicate")
    check(a.wait("Unknown command /frobnicate"), "unknown command refused")

    # Resize: the layout follows the window.
    tmux("resize-window", "-t", a.name, "-x", "50", "-y", "12")
    time.sleep(0.5)
    rows = a.rows()
    check(len(rows) >= 12 and "chatting with" in rows[10] and
          rows[11].startswith(">"), "resize: redrawn at 50x12",
          "\n".join(rows))
    tmux("resize-window", "-t", a.name, "-x", "100", "-y", "50")

    time.sleep(0.7)
    a.type("/skip")
    check(a.wait("You skipped") and b.wait("left the chat"),
          "/skip: ends the chat for both", a.screen() + b.screen())
    check(a.wait("waiting for a dev") and
          b.wait("partner left - waiting for a dev"),
          "/skip: both requeued by themselves", a.screen() + b.screen())

    c = Pane("c", srv.url, cfg)
    ok = c.wait("You are now chatting with")
    two = r"You are now chatting with(.|\n)*You are now chatting"
    x, y = (a, b) if a.wait(two, 3) else (b, a)
    check(ok and x.wait(two, 1), "requeue: a waiting client meets a "
          "newcomer", c.screen() + a.screen() + b.screen())
    time.sleep(0.7)
    n = x.screen().count("left the chat")
    c.type("/report")
    check(c.wait("You reported") and x.wait_more("left the chat", n),
          "/report: reported and moved on", c.screen() + x.screen())
    # c meets the other one now (x was its last partner).
    check(c.wait(r"You reported(.|\n)*You are now chatting") and
          y.wait(two), "requeue after /report", c.screen() + y.screen())
    time.sleep(0.7)
    n = y.screen().count("left the chat")
    c.type("/quit")
    ok, s = restored(c)
    check(ok and "EXIT=0" in s, "/quit: exits 0, terminal restored", s)
    check(y.wait_more("left the chat", n),
          "/quit: partner told the partner left", y.screen())

    b.send("C-d")
    ok, s = restored(b)
    check(ok and "EXIT=0" in s, "Ctrl-D: exits, terminal restored", s)
    a.send("C-c")
    ok, s = restored(a)
    check(ok and "EXIT=0" in s, "Ctrl-C: exits, terminal restored", s)
    for p in (a, b, c):
        p.kill()


def test_paste(tmp, srv, cfg):
    """Bracketed paste: pasted text is text, and only Enter sends."""
    a = Pane("pa", srv.url, cfg)
    a.wait("waiting for a dev", 10)
    b = Pane("pb", srv.url, cfg)
    ok = a.wait("You are now chatting with", 10) and \
        b.wait("You are now chatting with", 10)
    check(ok, "paste: matched", a.screen() + b.screen())
    ha = re.search(r"you are ([a-z-]+)\)", a.screen())
    ha = ha.group(1) if ha else "?"

    a.paste("/quit is a command\n/usr/bin/x\n")
    ok = a.wait(re.escape("> /quit is a command\u21b5/usr/bin/x"), 5)
    s = a.screen()
    check(ok and "you: /quit" not in s and "EXIT=" not in s,
          "paste: line breaks do not send, a pasted /command is not run",
          s)
    a.send("Enter")
    ok = b.wait(re.escape(ha) + r": /quit is a command\s*\n.*" +
                re.escape(ha) + r": /usr/bin/x", 8)
    check(ok and "EXIT=" not in a.screen() and
          input_row(a).rstrip() == ">",
          "paste: Enter sends each pasted line as a message, as text",
          a.screen() + b.screen())

    a.send("-l", "\x1b[200~one\x03two\x04\x15\x7fthree\x1b[201~")
    ok = a.wait(r"> onetwothree\s*$", 5)
    check(ok and "EXIT=" not in a.screen(),
          "paste: control keys inside a paste do nothing", a.screen())
    a.send("C-u")
    check(a.wait(r"\n>\s*$", 3), "paste: keys work again after it",
          a.screen())

    a.paste("y" * 600)
    ok = a.wait(r"600/500 chars", 5)
    a.send("Enter")
    check(ok and a.wait_flat("Line too long: 600 characters, the limit is "
                             "500"),
          "paste: bounded by the message limit like typed text",
          a.screen())

    # A paste whose end never comes: after a second, keys are keys.
    a.send("-l", "\x1b[200~half")
    ok = a.wait(r"> half\s*$", 5)
    time.sleep(1.2)
    a.send("C-u")
    check(ok and a.wait(r"\n>\s*$", 3),
          "paste: a paste never ended stops after a second", a.screen())

    pid = a.pid()
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
    ok, s = restored(a)
    check(pid is not None and ok and "EXIT=0" in s,
          "SIGTERM: exits 0, terminal and paste mode restored", s)
    b.send("C-c")
    ok, s = restored(b)
    check(ok and "EXIT=0" in s, "paste: Ctrl-C restores paste mode", s)
    a.kill()
    b.kill()


WRAP_SHORT = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot",
              "golf", "hotel", "india", "juliet", "kilo", "lima", "mike"]
WRAP_WIDE = "\u65e5\u672c\u8a9e\u306e\u6587\u5b57\u5217"   # 14 cells
WRAP_LONG = "q" * 45
WRAP_TEXT = " ".join(WRAP_SHORT[:5] + [WRAP_WIDE] + WRAP_SHORT[5:] +
                     [WRAP_LONG, "end"])


def test_wrap(tmp, fake, cfg):
    """Long lines wrap at spaces; only a word wider than a row breaks."""
    p = Pane("wrap", fake.url + "/wrap", cfg, width=30, height=24)
    ok = p.wait(r"q end\b", 10)
    rows = p.rows()
    words = set(" ".join(rows).split())
    cut = [w for w in WRAP_SHORT + [WRAP_WIDE] if w not in words]
    check(ok and not cut, "wrap: no word is cut at the end of a row",
          "cut: %r\n%s" % (cut, "\n".join(rows)))
    check("".join(rows).count("q") == len(WRAP_LONG) and
          all(len(r) <= 30 for r in rows),
          "wrap: a word wider than the row is broken, nothing lost",
          "\n".join(rows))
    p.send("C-c")
    p.kill()


def held_out(tmp, cfg, label, pattern, **settings):
    """A WebSocket held open by hand keeps the client out until it
    closes: the client says why, retries, and gets in."""
    srv = Server(tmp, **settings)
    try:
        hold, st = raw_ws(srv.port)
        p = Pane("held" + label.split()[-1], srv.url, cfg)
        ok = p.wait_flat(pattern)
        hold.close()
        check(st.startswith("HTTP/1.1 101") and ok and
              p.wait("waiting for a dev", 8),
              "%s: explained, retried until it passes" % label, p.flat())
        p.send("C-c")
        ok, s = restored(p)
        check(ok and "EXIT=0" in s, "%s: Ctrl-C exits 0" % label, s)
        p.kill()
    finally:
        srv.stop()


def test_refusals(tmp, cfg):
    """A real daemon refuses, in each of the ways it can; the client says
    which, and stops (status 1) only when waiting will not help."""
    held_out(tmp, cfg, "HTTP 429", r"too many connections from your "
             r"address to 127\.0\.0\.1 \(the server's MAX_SOCKETS_PER_IP, "
             r"3 by default\); trying again in 1 s", MAX_SOCKETS_PER_IP="1")
    held_out(tmp, cfg, "HTTP 503", r"127\.0\.0\.1 is full: it holds all "
             r"the connections it takes \(the server's MAX_TOTAL_SOCKETS\); "
             r"trying again in 1 s", MAX_TOTAL_SOCKETS="1")

    srv = Server(tmp, BAN_AFTER_VIOLATIONS="1")
    try:
        p = Pane("r4002", srv.url, cfg)
        ok = p.wait("waiting for a dev", 10)
        bad, st = raw_ws(srv.port)
        raw_ws_text(bad, "x")           # bad_frame: a violation, the ban
        ok2, s = restored(p)
        bad.close()
        check(ok and ok2 and re.search(
            r"127\.0\.0\.1 has just banned your address after too many "
            r"refused messages from it, for a while \(the server's BAN_MS, "
            r"15 minutes by default\)", s) and "EXIT=1" in s,
            "close 4002: banned now, said so, exits 1", s)
        p.kill()
        p = Pane("r403", srv.url, cfg)
        ok, s = restored(p)
        check(ok and re.search(
            r"127\.0\.0\.1 refuses your address: it is banned for a while "
            r"\(the server's BAN_MS, 15 minutes by default\)", s) and
            "usually" not in s and "just banned" not in s and
            "EXIT=1" in s, "HTTP 403: banned before, said so, exits 1", s)
        p.kill()
    finally:
        srv.stop()

    srv = Server(tmp, BEAT_TIMEOUT_MS="1000", DEVROULETTE_ALLOW_DEBUG="0")
    try:
        # The client beats every 10 s: this server wants one a second.
        p = Pane("r4000", srv.url, cfg)
        check(p.wait_flat(r"127\.0\.0\.1 closed the connection: our "
                          r"heartbeat did not reach it in time; trying "
                          r"again in 1 s"),
              "close 4000: explained, retried", p.flat())
        p.send("C-c")
        ok, s = restored(p)
        check(ok and "EXIT=0" in s, "close 4000: Ctrl-C exits 0", s)
        p.kill()
        p = Pane("r4003", srv.url, cfg, extra=("--debug",),
                 env={"DEVROULETTE_DEV": "1"})
        ok, s = restored(p)
        check(ok and "127.0.0.1 does not allow debug mode (its "
              "DEVROULETTE_ALLOW_DEBUG is not 1)" in s and "EXIT=1" in s,
              "close 4003: debug refused, exits 1", s)
        p.kill()
    finally:
        srv.stop()


def test_hostile_partner(tmp, srv, cfg):
    h = Pane("h", srv.url, cfg)
    h.wait("waiting for a dev", 10)
    peer = PeerClient(srv.url, HOSTILE)
    check(peer.matched.wait(10) and h.wait("You are now chatting"),
          "hostile partner: matched", h.screen())
    peer.done.wait(30)
    time.sleep(0.5)
    s = h.screen()
    bad, title, buffers = hostile_ok(h)
    check(peer.error is None, "hostile partner: all sent", peer.error)
    check(not bad, "hostile partner: no escape sequence on screen", bad)
    check("PWNED" not in title, "hostile partner: title unchanged", title)
    check(buffers.strip() == "", "hostile partner: no OSC 52 clipboard",
          buffers)
    check("\u754c" * 20 in s.replace("\n", ""),
          "hostile partner: 500 wide characters drawn", s)
    check(all(w in s for w in ("RED plain", "clip", "linktext", "title",
                               "evil", "c1", "dcs gone")),
          "hostile partner: the plain text survives", s)
    check(h.wait("left the chat"), "hostile partner: left", s)
    h.send("C-c")
    ok, s = restored(h)
    check(ok, "hostile partner: terminal restored", s)
    h.kill()


def test_fake(tmp, cfg):
    fake = FakeServer()
    p = Pane("f1", fake.url + "/hostile", cfg)
    ok = p.wait("after junk", 10)
    s = p.screen()
    bad, title, buffers = hostile_ok(p)
    check(ok and not bad and "PWNED" not in title and not buffers.strip(),
          "unsanitised server text: cleaned again by the client",
          "%r %r\n%s" % (bad, title, s))
    p.send("C-c")
    ok, s = restored(p)
    check(ok, "unsanitised server text: terminal restored", s)
    p.kill()

    p = Pane("f2", fake.url + "/http403", cfg)
    ok, s = restored(p)
    check(ok and "banned" in s and "EXIT=1" in s, "HTTP 403: banned", s)
    p.kill()

    p = Pane("f3", fake.url + "/http503", cfg)
    check(p.wait_flat(r"is full: .*; trying again in 1 s") and
          p.wait_flat(r"trying again in 2 s", 5), "HTTP 503: full, backoff",
          p.screen())
    p.send("C-c")
    p.kill()

    p = Pane("f4", fake.url + "/close4005", cfg)
    ok, s = restored(p)
    check(ok and "upgrade devroulette" in s and "EXIT=1" in s,
          "close 4005: upgrade", s)
    p.kill()

    p = Pane("f8", fake.url + "/close4001", cfg)
    check(p.wait_flat(r"closed the connection: the proof of work took "
                      r"longer than it allows; trying again in 1 s"),
          "close 4001: explained, retried", p.flat())
    p.send("C-c")
    ok, s = restored(p)
    check(ok and "EXIT=0" in s, "close 4001: Ctrl-C exits 0", s)
    p.kill()

    test_wrap(tmp, fake, cfg)

    p = Pane("f5", fake.url + "/close1001", cfg)
    check(p.wait("is restarting") and p.wait("You are now chatting", 8),
          "close 1001: reconnects", p.screen())
    p.send("C-c")
    p.kill()

    p = Pane("f6", fake.url + "/idle", cfg)
    ok = p.wait("after a long silence") and p.wait("Press Enter for a new")
    time.sleep(1)
    check(ok and "waiting for a dev" not in p.screen() and
          "chat ended - Enter" in p.screen(), "idle: asks, no requeue",
          p.screen())
    p.send("Enter")
    check(p.wait(r"waiting for a dev \(7 waiting\)"),
          "idle: Enter requeues", p.screen())
    p.send("C-c")
    p.kill()

    port = free_port()
    p = Pane("f7", "ws://127.0.0.1:%d/" % port, cfg)
    check(p.wait(r"cannot reach 127\.0\.0\.1 port %d: .*trying again in "
                 r"1 s" % port) and p.wait("retrying in", 3),
          "unreachable: explained, retried with backoff", p.screen())
    p.send("C-c")
    ok, s = restored(p)
    check(ok, "unreachable: Ctrl-C while retrying restores", s)
    p.kill()


def main():
    if not os.access(CLIENT, os.X_OK):
        print("not ok - client binary %s missing" % CLIENT)
        print("0 passed, 1 failed")
        return 1
    tmp = tempfile.mkdtemp(prefix="drclient.")
    cfg = os.path.join(tmp, "cfg")
    os.makedirs(os.path.join(cfg, "devroulette"))
    with open(os.path.join(cfg, "devroulette", "accepted"), "w") as f:
        f.write("terms 1\n")
    srv = None
    # A session for the whole run: tmux exits with its last session, and a
    # new session racing a server on its way out would fail.
    tmux("new-session", "-d", "-s", "drt-keep", "sleep 3600")
    try:
        test_cli(tmp)
        if os.environ.get("DR_PEER_CMD") or os.access(DAEMON, os.X_OK):
            srv = Server(tmp)
            test_terms(tmp, srv.url)
            test_chat(tmp, srv, cfg)
            test_paste(tmp, srv, cfg)
            test_hostile_partner(tmp, srv, cfg)
            test_refusals(tmp, cfg)
        else:
            check(False, "server: %s missing" % DAEMON)
        test_fake(tmp, cfg)
    finally:
        if srv is not None:
            srv.stop()
        tmux("kill-server")
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
