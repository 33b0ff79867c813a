"""
devroulette behind a real Caddy (Debian's caddy): wss:// end to end, TLS
failures the client explains, and client identity through X-Forwarded-For
(PROTOCOL.md section 2, TRUSTED_PROXY_HOPS).

Two Caddy processes, both offline: no ACME, admin off, storage, HOME and
XDG directories in a temporary directory, no trust store installation.
  - "main": every site `tls internal` (Caddy's own CA) for localhost, each
    a reverse_proxy to one daemon: chat (TRUSTED_PROXY_HOPS=1), hops1
    (TRUSTED_PROXY_HOPS=1, MAX_SOCKETS_PER_IP=1), hops0 (the default 0,
    MAX_SOCKETS_PER_IP=1);
  - "wrongname": a certificate from a test CA made here with openssl whose
    only DNS name is chat.test (CN=localhost, so Caddy serves it for
    localhost; OpenSSL ignores the CN when there are DNS names).

Clients run in tmux through regress/client/e2e.py's helpers.  Each check
prints "ok - name" or "not ok - name"; the last line is "N passed, N
failed".  Run with Debian's /usr/bin/python3.
"""

import asyncio
import base64
import glob
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "client"))
import e2e  # noqa: E402  (tmux panes, the daemon, proof of work)
from e2e import Pane, Server, free_port, pow_solve, restored, tmux  # noqa

CADDY = os.environ.get("CADDY", "/usr/bin/caddy")

check = e2e.check    # one tally for e2e's and ours


# --- a test CA and a certificate for the wrong name -------------------------

def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_test_ca(d):
    ca, cakey = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-keyout", cakey, "-out", ca, "-subj", "/CN=devroulette test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    key, csr = os.path.join(d, "cn.key"), os.path.join(d, "cn.csr")
    crt, ext = os.path.join(d, "cn.pem"), os.path.join(d, "cn.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:chat.test\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
            "-out", csr, "-subj", "/CN=localhost")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey,
            "-CAcreateserial", "-days", "2", "-out", crt, "-extfile", ext)
    return ca, crt, key


# --- Caddy ----------------------------------------------------------------

GLOBAL = """{
	admin off
	auto_https disable_redirects
	local_certs
	skip_install_trust
	storage file_system %(storage)s
	http_port %(http)d
	https_port %(https)d
	default_sni localhost
	servers {
		protocols h1 h2
	}
}
"""

SITE = """localhost:%(port)d {
	bind 127.0.0.1
	tls %(tls)s
	reverse_proxy 127.0.0.1:%(upstream)d
}
"""


class Caddy:
    def __init__(self, tmp, name, sites):
        """sites: (port, tls, upstream port) each."""
        self.dir = os.path.join(tmp, "caddy-" + name)
        for sub in ("home", "data", "config", "storage"):
            os.makedirs(os.path.join(self.dir, sub))
        self.storage = os.path.join(self.dir, "storage")
        conf = GLOBAL % {"storage": self.storage, "http": free_port(),
                         "https": free_port()}
        for port, tls, upstream in sites:
            conf += SITE % {"port": port, "tls": tls, "upstream": upstream}
        self.conf = os.path.join(self.dir, "Caddyfile")
        with open(self.conf, "w") as f:
            f.write(conf)
        env = {"PATH": "/usr/bin:/bin",
               "HOME": os.path.join(self.dir, "home"),
               "XDG_DATA_HOME": os.path.join(self.dir, "data"),
               "XDG_CONFIG_HOME": os.path.join(self.dir, "config")}
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(
            [CADDY, "run", "--config", self.conf, "--adapter", "caddyfile"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)

    @property
    def root(self):
        return os.path.join(self.storage, "pki", "authorities", "local",
                            "root.crt")

    def wait_tls(self, port, ca, timeout=15):
        """Until a handshake for localhost on port verifies against ca."""
        end = time.time() + timeout
        while time.time() < end and self.proc.poll() is None:
            try:
                ctx = ssl.create_default_context(cafile=ca)
                with socket.create_connection(("127.0.0.1", port), 1) as s:
                    with ctx.wrap_socket(s, server_hostname="localhost"):
                        return True
            except (OSError, ssl.SSLError):
                time.sleep(0.1)
        return False

    def logtext(self):
        self.log.flush()
        with open(os.path.join(self.dir, "log")) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(6)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# --- raw upgrades from a chosen source address ----------------------------

def upgrade(port, src, ca, xff=None):
    """The status of a WebSocket upgrade through Caddy from address src,
    and the socket (kept open by the caller: it holds a slot)."""
    s = socket.socket()
    s.settimeout(5)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["http/1.1"])
    t = ctx.wrap_socket(s, server_hostname="localhost")
    req = ("GET / HTTP/1.1\r\nHost: localhost:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
           "Sec-WebSocket-Version: 13\r\n" %
           (port, base64.b64encode(os.urandom(16)).decode()))
    if xff is not None:
        req += "X-Forwarded-For: %s\r\n" % xff
    t.sendall((req + "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        d = t.recv(4096)
        if not d:
            break
        head += d
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", head)
    return (int(m.group(1)) if m else 0), t


class Held:
    """Sockets kept open for the length of a test."""

    def __init__(self, port, ca):
        self.port, self.ca, self.socks = port, ca, []

    def status(self, src, xff=None):
        try:
            code, t = upgrade(self.port, src, self.ca, xff)
        except OSError as e:
            return repr(e)
        self.socks.append(t)
        return code

    def close(self):
        for t in self.socks:
            t.close()


# --- tests ----------------------------------------------------------------

def test_offline(main):
    check(os.path.exists(main.root),
          "caddy: internal CA root kept in the test's storage", main.root)
    log = main.logtext()
    check("acme" not in log.lower() and
          "trust store installation disabled" in log,
          "caddy: no ACME, no trust store installation", log)


async def wss_peer(url, ca, out):
    """A python3-websockets client over wss://: matched with a, one
    message each way."""
    ctx = ssl.create_default_context(cafile=ca)
    async with websockets.connect(url, ssl=ctx, open_timeout=10) as ws:
        hello = json.loads(await ws.recv())
        out["hello"] = hello.get("t")
        await ws.send(json.dumps({"t": "pow", "nonce": pow_solve(
            hello["challenge"], hello["bits"])}))
        await ws.send(json.dumps({"t": "join", "v": 1, "mode": "open",
                                  "key": secrets.token_hex(32)}))
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 15))
            if m["t"] == "matched":
                out["matched"] = m
                break
        await ws.send(json.dumps({"t": "msg", "text": "hello over wss"}))
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 15))
            if m["t"] == "msg":
                out["msg"] = m
                break
        await ws.send(json.dumps({"t": "done"}))


def test_chat(url, ca, cfg):
    env = {"DEVROULETTE_CA": ca}
    a = Pane("a", url, cfg, env=env)
    check(a.wait(r"waiting for a dev \(1 waiting\)", 10),
          "wss: first client through Caddy queued", a.screen())
    b = Pane("b", url, cfg, env=env)
    ok = a.wait("You are now chatting with", 10) and \
        b.wait("You are now chatting with", 10)
    check(ok, "wss: two clients through Caddy matched",
          a.screen() + b.screen())
    ha = re.search(r"you are ([a-z-]+)\)", a.screen())
    hb = re.search(r"you are ([a-z-]+)\)", b.screen())
    ha = ha.group(1) if ha else "?"
    hb = hb.group(1) if hb else "?"
    a.type("hello through caddy")
    check(b.wait(re.escape(ha) + ": hello through caddy"),
          "wss: message a -> b", b.screen())
    time.sleep(1.2)
    b.type("and back \u65e5\u672c")
    check(a.wait(re.escape(hb) + ": and back \u65e5\u672c"),
          "wss: message b -> a", a.screen())
    b.type("/quit")
    ok, s = restored(b)
    check(ok and "EXIT=0" in s, "wss: /quit exits 0", s)

    # a requeues by itself; a python3-websockets client meets it.
    a.wait("waiting for a dev", 10)
    out = {}

    def run():
        try:
            asyncio.run(wss_peer(url, ca, out))
        except Exception as e:      # reported below
            out["error"] = repr(e)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    if a.wait("hello over wss", 15):
        a.type("reply to python")
    t.join(15)
    err = out.get("error") or ("timed out" if t.is_alive() else None)
    check(out.get("hello") == "hello" and "matched" in out,
          "wss: python3-websockets client with the CA matched", err or out)
    check(a.wait(r": hello over wss"), "wss: python -> tmux client",
          a.screen())
    check(out.get("msg", {}).get("text") == "reply to python",
          "wss: tmux client -> python", err or out)
    a.send("C-c")
    ok, s = restored(a)
    check(ok and "EXIT=0" in s, "wss: Ctrl-C exits 0, terminal restored", s)
    a.kill()
    b.kill()


def test_tls_failures(main_port, wrong_port, root, testca, cfg):
    """Each case: fatal (exit 1, no retry loop), names the host and why."""
    cases = [
        ("ip", "wss://127.0.0.1:%d/" % main_port, {"DEVROULETTE_CA": root},
         r"TLS with 127\.0\.0\.1 failed: certificate not accepted: "
         r"IP address mismatch",
         "wrong host: cert for localhost reached as 127.0.0.1"),
        ("dns", "wss://localhost:%d/" % wrong_port,
         {"DEVROULETTE_CA": testca},
         r"TLS with localhost failed: certificate not accepted: "
         r"hostname mismatch",
         "wrong host: cert for chat.test (CN localhost) reached as "
         "localhost"),
        ("noca", "wss://localhost:%d/" % main_port, {},
         r"TLS with localhost failed: certificate not accepted: "
         r"unable to get local issuer certificate \(a private server\? "
         r"set DEVROULETTE_CA to its CA file\)",
         "no DEVROULETTE_CA: Caddy's internal CA not trusted"),
        ("otherca", "wss://localhost:%d/" % main_port,
         {"DEVROULETTE_CA": testca},
         r"TLS with localhost failed: certificate not accepted: "
         r"unable to get local issuer certificate \(a private server\? "
         r"set DEVROULETTE_CA to its CA file\)",
         "DEVROULETTE_CA naming another CA: not trusted"),
    ]
    panes = [(Pane("tls-" + n, url, cfg, width=200, env=env), pat, name)
             for n, url, env, pat, name in cases]
    for p, pat, name in panes:
        ok, s = restored(p)
        check(ok and "EXIT=1" in s and re.search(
            r"devroulette: " + pat + r"\s*\n", s) is not None and
            "trying again" not in s, "tls: " + name, s)
        p.kill()


def test_identity(hops1_port, hops0_port, ca):
    h = Held(hops1_port, ca)
    try:
        r = [h.status("127.0.0.2"), h.status("127.0.0.2"),
             h.status("127.0.0.3")]
        check(r == [101, 429, 101], "TRUSTED_PROXY_HOPS=1: per-IP budget "
              "of the real client address (.2: 101, .2: 429, .3: 101)", r)
        # A client-supplied X-Forwarded-For changes nothing: .4 cannot
        # escape its budget, .5 cannot pass for .4.
        r = [h.status("127.0.0.4"),
             h.status("127.0.0.4", xff="10.9.8.7"),
             h.status("127.0.0.4", xff="10.9.8.7, 10.9.8.6"),
             h.status("127.0.0.5", xff="127.0.0.4")]
        check(r == [101, 429, 429, 101], "TRUSTED_PROXY_HOPS=1: spoofed "
              "X-Forwarded-For does not change the identity through Caddy",
              r)
    finally:
        h.close()
    h = Held(hops0_port, ca)
    try:
        r = [h.status("127.0.0.2"), h.status("127.0.0.3")]
        check(r == [101, 429], "TRUSTED_PROXY_HOPS=0: every client is "
              "Caddy's address (.2: 101, .3: 429)", r)
    finally:
        h.close()


def test_client_429(hops1_port, ca, cfg):
    """The real client told it is over its address's budget, via Caddy."""
    h = Held(hops1_port, ca)
    try:
        first = h.status("127.0.0.1")
        p = Pane("429", "wss://localhost:%d/" % hops1_port, cfg, width=200,
                 env={"DEVROULETTE_CA": ca})
        ok = p.wait(r"too many connections from your .*trying again", 8)
        check(first == 101 and ok, "client: 429 through Caddy explained "
              "and retried", "%r\n%s" % (first, p.screen()))
        p.send("C-c")
        p.kill()
    finally:
        h.close()


def main():
    for v in ("DEVROULETTE_CA", "SSL_CERT_FILE", "SSL_CERT_DIR",
              "DEVROULETTE_URL"):
        os.environ.pop(v, None)
    for prog in (e2e.CLIENT, e2e.DAEMON, CADDY):
        if not os.access(prog, os.X_OK):
            print("not ok - %s missing" % prog)
            print("0 passed, 1 failed")
            return 1
    tmp = tempfile.mkdtemp(prefix="drcaddy.")
    cfg = os.path.join(tmp, "cfg")
    os.makedirs(os.path.join(cfg, "devroulette"))
    with open(os.path.join(cfg, "devroulette", "accepted"), "w") as f:
        f.write("terms 1\n")
    servers, caddies = [], []
    tmux("new-session", "-d", "-s", "drt-keep", "sleep 3600")
    try:
        testca, crt, key = make_test_ca(tmp)
        chat = Server(tmp, TRUSTED_PROXY_HOPS="1")
        hops1 = Server(tmp, TRUSTED_PROXY_HOPS="1", MAX_SOCKETS_PER_IP="1")
        hops0 = Server(tmp, TRUSTED_PROXY_HOPS="0", MAX_SOCKETS_PER_IP="1")
        servers += [chat, hops1, hops0]
        p_chat, p_hops1, p_hops0, p_wrong = (free_port() for _ in range(4))
        main_caddy = Caddy(tmp, "main", [
            (p_chat, "internal", chat.port),
            (p_hops1, "internal", hops1.port),
            (p_hops0, "internal", hops0.port)])
        wrong = Caddy(tmp, "wrongname", [(p_wrong, "%s %s" % (crt, key),
                                          chat.port)])
        caddies += [main_caddy, wrong]
        up = all(main_caddy.wait_tls(p, main_caddy.root)
                 for p in (p_chat, p_hops1, p_hops0))
        check(up, "caddy: started, tls internal serving localhost",
              main_caddy.logtext())
        check(e2e.wait_port(p_wrong) and wrong.proc.poll() is None,
              "caddy: wrong-name site started",
              wrong.logtext())
        if up:
            test_offline(main_caddy)
            test_chat("wss://localhost:%d/" % p_chat, main_caddy.root, cfg)
            test_tls_failures(p_chat, p_wrong, main_caddy.root, testca, cfg)
            test_identity(p_hops1, p_hops0, main_caddy.root)
            test_client_429(p_hops1, main_caddy.root, cfg)
    finally:
        for c in caddies:
            c.stop()
        for s in servers:
            s.stop()
        tmux("kill-server")
        if e2e.failed:     # what the daemons and Caddy said
            for f in sorted(glob.glob(os.path.join(tmp, "*", "log"))):
                with open(f, errors="replace") as fp:
                    tail = fp.read().splitlines()[-15:]
                print("# %s:" % os.path.relpath(f, tmp))
                for line in tail:
                    print("#   %s" % line[:300])
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (e2e.passed, e2e.failed))
    return 1 if e2e.failed else 0


if __name__ == "__main__":
    sys.exit(main())
