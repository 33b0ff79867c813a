#!/usr/bin/python3
"""make install and the etc/ examples (issue 6).

Prints one "ok - name" or "not ok - name" line a check, TAP style, and
exits 1 if any failed.  Run from anywhere, after `make`:

    /usr/bin/python3 regress/install/test_install.py

Checks: the exact tree `make install DESTDIR=... PREFIX=/usr/local` lays
out, with modes and owners; the unit and rc.d script name SBINDIR;
`systemd-analyze verify` on the unit, warnings included; the hardening
the unit promises, and that the daemon runs with exactly its capability
bounding set and needs each capability it keeps; the rc.d script under
sh -n and with a stand-in rc.subr; every setting of the example
environment file is a real setting with its documented default; the
Caddyfile validates and proxies to the daemon's default address; each
manual page has the sections and names every flag of its program, and
devroulettectl(8) and devroulette-protocol(7) name every command, JSON
member, message, error code, close code and setting.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / "bin"
ETC = REPO / "etc"

failed = 0


def report(name, good, diag=""):
    global failed
    if good:
        print(f"ok - {name}")
    else:
        failed += 1
        print(f"not ok - {name}")
        for line in str(diag).splitlines()[:40]:
            print(f"#   {line}")
    sys.stdout.flush()


def skip(name, why):
    print(f"ok - {name} # SKIP {why}")


def run(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 600)
    return subprocess.run(argv, **kw)


def make_install(destdir, prefix):
    return run(["make", "-s", "-C", str(REPO), "install",
                f"DESTDIR={destdir}", f"PREFIX={prefix}"])


def tree(root):
    """{relative path: (kind, mode, uid)} of everything under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st = p.lstat()
            kind = "d" if p.is_dir() and not p.is_symlink() else \
                "l" if p.is_symlink() else "f"
            out["/" + str(p.relative_to(root))] = \
                (kind, st.st_mode & 0o7777, st.st_uid)
    return out


def settings_table():
    """Section 8 of docs/PROTOCOL.md: {variable: default}."""
    text = (REPO / "docs/PROTOCOL.md").read_text()
    sec = text.split("## 8. Server settings", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(2) for m in
            re.finditer(r"^\| `([A-Z_]+)` \| `([^`]*)`", sec, re.M)}


def env_file_settings(path):
    """The example file's commented assignments: {variable: value}."""
    out = {}
    for line in Path(path).read_text().splitlines():
        m = re.fullmatch(r"#([A-Z][A-Z_]*)=(\S*)", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def unit_settings(path):
    """[Service] of a unit: {key: [values]}."""
    out = {}
    section = None
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


EXPECTED = {
    "/usr": ("d", 0o755),
    "/usr/local": ("d", 0o755),
    "/usr/local/bin": ("d", 0o755),
    "/usr/local/bin/devroulette": ("f", 0o755),
    "/usr/local/sbin": ("d", 0o755),
    "/usr/local/sbin/devrouletted": ("f", 0o755),
    "/usr/local/sbin/devroulettectl": ("f", 0o755),
    "/usr/local/share": ("d", 0o755),
    "/usr/local/share/man": ("d", 0o755),
    "/usr/local/share/man/man1": ("d", 0o755),
    "/usr/local/share/man/man1/devroulette.1": ("f", 0o644),
    "/usr/local/share/man/man7": ("d", 0o755),
    "/usr/local/share/man/man7/devroulette-protocol.7": ("f", 0o644),
    "/usr/local/share/man/man8": ("d", 0o755),
    "/usr/local/share/man/man8/devrouletted.8": ("f", 0o644),
    "/usr/local/share/man/man8/devroulettectl.8": ("f", 0o644),
    "/usr/local/share/examples": ("d", 0o755),
    "/usr/local/share/examples/devroulette": ("d", 0o755),
    "/usr/local/share/examples/devroulette/Caddyfile": ("f", 0o644),
    "/usr/local/share/examples/devroulette/devrouletted.env": ("f", 0o644),
    "/usr/local/share/examples/devroulette/devrouletted.service":
        ("f", 0o644),
    "/usr/local/share/examples/devroulette/rc.d": ("d", 0o755),
    "/usr/local/share/examples/devroulette/rc.d/devrouletted": ("f", 0o644),
    "/var": ("d", 0o755),
    "/var/lib": ("d", 0o755),
    "/var/lib/devroulette": ("d", 0o755),
    "/var/empty": ("d", 0o755),
}


def test_tree(tmp):
    dest = tmp / "dest"
    r = make_install(dest, "/usr/local")
    report("make install DESTDIR PREFIX=/usr/local succeeds",
           r.returncode == 0, r.stdout + r.stderr)
    got = tree(dest)
    want = {k: v for k, v in EXPECTED.items()}
    diff = []
    for p in sorted(set(got) | set(want)):
        if p not in got:
            diff.append(f"missing {p}")
        elif p not in want:
            diff.append(f"unexpected {p}")
        elif got[p][:2] != want[p]:
            diff.append(f"{p}: {got[p][0]} {oct(got[p][1])}, want "
                        f"{want[p][0]} {oct(want[p][1])}")
    report("installed tree is exactly the expected one, modes included",
           not diff, "\n".join(diff))
    if os.geteuid() == 0:
        bad = [p for p, v in got.items() if v[2] != 0]
        report("installed as root, everything is owned by root", not bad,
               "\n".join(bad))
    else:
        skip("installed as root, everything is owned by root", "not root")

    same = []
    for src, dst in (("man/devrouletted.8", "man/man8/devrouletted.8"),
                     ("man/devroulettectl.8", "man/man8/devroulettectl.8"),
                     ("man/devroulette-protocol.7",
                      "man/man7/devroulette-protocol.7"),
                     ("man/devroulette.1", "man/man1/devroulette.1"),
                     ("etc/devrouletted.env",
                      "examples/devroulette/devrouletted.env"),
                     ("etc/Caddyfile", "examples/devroulette/Caddyfile"),
                     ("etc/devrouletted.service",
                      "examples/devroulette/devrouletted.service"),
                     ("etc/rc.d/devrouletted",
                      "examples/devroulette/rc.d/devrouletted"),
                     ("bin/devrouletted", None)):
        a = REPO / src
        b = dest / "usr/local/share" / dst if dst else \
            dest / "usr/local/sbin/devrouletted"
        if not b.exists() or a.read_bytes() != b.read_bytes():
            same.append(f"{b} is not a copy of {src}")
    report("installed files are the sources (PREFIX=/usr/local: no "
           "substitution)", not same, "\n".join(same))
    return dest


def test_prefix(tmp):
    dest = tmp / "dest-opt"
    r = make_install(dest, "/opt/dr")
    ex = dest / "opt/dr/share/examples/devroulette"
    good = r.returncode == 0 and (dest / "opt/dr/sbin/devrouletted").is_file()
    report("make install PREFIX=/opt/dr puts the programs under it", good,
           r.stdout + r.stderr)
    if not good:
        return
    unit = (ex / "devrouletted.service").read_text()
    rc = (ex / "rc.d/devrouletted").read_text()
    want_unit = (ETC / "devrouletted.service").read_text().replace(
        "/usr/local/sbin/", "/opt/dr/sbin/")
    want_rc = (ETC / "rc.d/devrouletted").read_text().replace(
        "/usr/local/sbin/", "/opt/dr/sbin/")
    report("the installed unit and rc.d script run SBINDIR's daemon",
           unit == want_unit and rc == want_rc and
           "ExecStart=/opt/dr/sbin/devrouletted -d" in unit and
           'daemon="/opt/dr/sbin/devrouletted"' in rc,
           unit)


def test_verify(tmp, dest):
    name = "systemd-analyze verify: the unit has no error and no warning"
    sa = shutil.which("systemd-analyze")
    if sa is None:
        skip(name, "systemd-analyze is not installed (Debian: systemd)")
        return
    # verify checks that ExecStart= and friends exist: point them at the
    # installed tree.
    sbin = dest / "usr/local/sbin"
    d = tmp / "verify"
    d.mkdir()
    unit = d / "devrouletted.service"
    unit.write_text((ETC / "devrouletted.service").read_text().replace(
        "/usr/local/sbin/", f"{sbin}/"))
    r = run([sa, "verify", "--man=no", str(unit)])
    report(name, r.returncode == 0 and not (r.stdout + r.stderr).strip(),
           r.stdout + r.stderr)
    # The check itself must see a mistake.
    bad = d / "bad.service"
    bad.write_text(unit.read_text().replace("ProtectSystem=strict",
                                            "ProtectSytem=strict"))
    r = run([sa, "verify", "--man=no", str(bad)])
    report("systemd-analyze verify reports a misspelt key (the check "
           "works)", "ProtectSytem" in r.stdout + r.stderr,
           r.stdout + r.stderr)


CAPS = ["CAP_SETUID", "CAP_SETGID", "CAP_SYS_CHROOT", "CAP_CHOWN",
        "CAP_KILL"]


def test_unit_content():
    s = unit_settings(ETC / "devrouletted.service")

    def one(k):
        return s.get(k, [None])[-1]
    want = {
        "Type": "exec",
        "ExecStart": "/usr/local/sbin/devrouletted -d",
        "ExecStartPre": "/usr/local/sbin/devrouletted -n",
        "EnvironmentFile": "-/etc/default/devrouletted",
        "Environment": "CONTROL_SOCKET=/run/devrouletted/devrouletted.sock",
        "KillMode": "mixed",
        "Restart": "on-failure",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "StateDirectory": "devroulette",
        "RuntimeDirectory": "devrouletted",
        "LimitNOFILE": "65536",
    }
    bad = [f"{k}={one(k)}, want {v}" for k, v in want.items() if one(k) != v]
    report("the unit: foreground daemon, environment file, KillMode=mixed, "
           "hardening, state and runtime directories", not bad,
           "\n".join(bad))
    caps = sorted((one("CapabilityBoundingSet") or "").split())
    report("the unit's capability bounding set is exactly " + " ".join(CAPS),
           caps == sorted(CAPS) and "User" not in s, caps)
    post = s.get("ExecStartPost", [])
    report("the unit links the default control socket to its runtime "
           "directory, and start waits for it",
           post[:1] == ["+/bin/ln -sfn devrouletted/devrouletted.sock"
                        " /run/devrouletted.sock"] and len(post) == 2 and
           '[ -S "$$CONTROL_SOCKET" ]' in post[1] and
           s.get("ExecStopPost") == ["+/bin/rm -f /run/devrouletted.sock"],
           (post, s.get("ExecStopPost")))


def start_daemon(tmp, tag, setpriv_args):
    """The daemon under setpriv with its own state, socket and port."""
    state = tmp / f"state-{tag}"
    state.mkdir()
    sock = tmp / f"ctl-{tag}.sock"
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "STATE_DIR": str(state),
           "CONTROL_SOCKET": str(sock), "PORT": "0"}
    log = open(tmp / f"log-{tag}", "w+")
    p = subprocess.Popen(["setpriv"] + setpriv_args +
                         ["--", str(BIN / "devrouletted"), "-d"], env=env,
                         stdout=log, stderr=subprocess.STDOUT)
    return p, sock, log


def wait_log(log, text, proc, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        log.seek(0)
        s = log.read()
        if text in s:
            return s
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    log.seek(0)
    return None if text not in log.read() else text


def children(pid):
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            st = (d / "stat").read_text()
        except OSError:
            continue
        if int(st.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(d.name))
    return out


def test_caps(tmp):
    names = ["daemon runs with only the unit's capabilities and no new "
             "privileges"] + \
        [f"daemon fails to start without {c}" for c in CAPS[:4]]
    if os.geteuid() != 0:
        for n in names:
            skip(n, "not root")
        return
    if shutil.which("setpriv") is None:
        for n in names:
            skip(n, "setpriv is not installed (Debian: util-linux)")
        return
    import pwd
    try:
        dr = pwd.getpwnam("_devroulette")
    except KeyError:
        for n in names:
            skip(n, "no user _devroulette (tools/deps.sh test makes it)")
        return
    bset = ",".join(["-all"] + ["+" + c[4:].lower() for c in CAPS])
    p, sock, log = start_daemon(tmp, "caps", [f"--bounding-set={bset}",
                                              "--no-new-privs"])
    diag = []
    try:
        up = wait_log(log, "listening on", p)
        # "listening on" comes before the forks: wait for both children
        # to be past their privilege drop.
        end = time.time() + 5
        while True:
            kids = children(p.pid)
            if len(kids) == 2 and all(
                    os.readlink(f"/proc/{k}/root") == "/var/empty"
                    for k in kids) or time.time() > end:
                break
            time.sleep(0.05)
        if not up:
            diag.append("did not start")
        if len(kids) != 2:
            diag.append(f"children: {kids}")
        for k in kids:
            st = Path(f"/proc/{k}/status").read_text()
            uid = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)", st, re.M)
            if [int(x) for x in uid.groups()] != [dr.pw_uid] * 3:
                diag.append(f"child {k}: {uid.group(0)}")
            if os.readlink(f"/proc/{k}/root") != "/var/empty":
                diag.append(f"child {k} root: "
                            f"{os.readlink(f'/proc/{k}/root')}")
        r = run([str(BIN / "devroulettectl"), "-s", str(sock), "-j",
                 "stats"], timeout=10)
        if r.returncode != 0 or json.loads(r.stdout or "{}").get(
                "max_sockets") != 10000:
            diag.append(f"devroulettectl: {r.stdout} {r.stderr}")
        st = sock.stat()
        if st.st_mode & 0o777 != 0o660 or st.st_gid != dr.pw_gid:
            diag.append(f"socket mode {oct(st.st_mode)} gid {st.st_gid}")
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = "timeout"
        if rc != 0:
            diag.append(f"exit status {rc}")
        log.seek(0)
        diag.append(log.read())
    report(names[0], len(diag) == 1, "\n".join(diag))

    for i, cap in enumerate(CAPS[:4]):
        rest = [c for c in CAPS if c != cap]
        bset = ",".join(["-all"] + ["+" + c[4:].lower() for c in rest])
        p, sock, log = start_daemon(tmp, f"no-{cap}",
                                    [f"--bounding-set={bset}",
                                     "--no-new-privs"])
        try:
            rc = p.wait(15)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGTERM)
            rc = p.wait(15)
        log.seek(0)
        out = log.read()
        why = {"CAP_SETUID": "setresuid", "CAP_SETGID": "setgroups",
               "CAP_SYS_CHROOT": "chroot", "CAP_CHOWN": "chown"}[cap]
        # A child's last words can lose the race with its exit status
        # (seen once under load): then its failure must still be logged.
        report(names[1 + i], rc == 1 and (
            f"{why}" in out and "Operation not permitted" in out or
            cap != "CAP_CHOWN" and "exited with status 1" in out),
            f"exit status {rc}\n{out}")


def test_rcd(tmp):
    script = ETC / "rc.d/devrouletted"
    r = run(["sh", "-n", str(script)])
    report("rc.d script passes sh -n", r.returncode == 0, r.stderr)
    text = script.read_text()
    report("rc.d script: rc.subr style, no reload, the daemon as root",
           text.startswith("#!/bin/ksh\n") and
           'daemon="/usr/local/sbin/devrouletted"' in text and
           "\n. /etc/rc.d/rc.subr\n" in text and "\nrc_reload=NO\n" in text
           and text.rstrip().endswith("rc_cmd $1") and
           "daemon_user" not in text, text)
    # rc.subr's rc_exec runs the command with su -l, from a clean
    # environment: a stand-in runs it with env -i and starts it.
    d = tmp / "rcd"
    d.mkdir()
    (d / "rc.subr").write_text(
        'rc_exec() { env -i PATH=/usr/bin:/bin /bin/sh -c "$1"; }\n'
        'rc_cmd() { [ "$1" = start ] && rc_start; }\n')
    envf = d / "devrouletted.env"
    state = d / "state"
    state.mkdir()
    envf.write_text(f"# a comment\nPORT=9999\nSTATE_DIR={state}\n")
    (d / "rc").write_text(
        text.replace("/etc/rc.d/rc.subr", str(d / "rc.subr"))
        .replace('"/etc/devrouletted.env"', f'"{envf}"')
        .replace('daemon="/usr/local/sbin/devrouletted"',
                 'daemon="/usr/bin/env"'))
    r = run(["sh", str(d / "rc"), "start"], timeout=10)
    env = dict(line.split("=", 1) for line in r.stdout.splitlines()
               if "=" in line)
    report("rc.d script exports the settings of its file, and the control "
           "socket under /var/run",
           env.get("PORT") == "9999" and env.get("STATE_DIR") == str(state)
           and env.get("CONTROL_SOCKET") == "/var/run/devrouletted.sock",
           r.stdout + r.stderr)
    (d / "rc").write_text((d / "rc").read_text().replace(
        'daemon="/usr/bin/env"', f'daemon="{BIN / "devrouletted"} -n"'))
    r = run(["sh", str(d / "rc"), "start"], timeout=10)
    report("rc.d script starts the daemon with those settings (-n)",
           r.returncode == 0 and "configuration OK" in r.stderr,
           r.stdout + r.stderr)


# Settings this daemon adds to section 8's (docs/PROTOCOL.md D43).
OWN_SETTINGS = {"PREFORK": "1"}


def test_env_file(tmp):
    table = settings_table()
    report("PROTOCOL.md section 8 lists the 22 settings", len(table) == 22,
           table)
    table.update(OWN_SETTINGS)
    got = env_file_settings(ETC / "devrouletted.env")
    report("example environment file: every setting of section 8 and "
           "D43, each with its default", got == table,
           "\n".join(f"{k}: file {got.get(k)}, protocol {table.get(k)}"
                     for k in sorted(set(got) | set(table))
                     if got.get(k) != table.get(k)))
    man = (REPO / "man/devrouletted.8").read_text()
    env_sec = man.split(".Sh ENVIRONMENT", 1)[1].split(".Sh ", 1)[0]
    documented = re.findall(r"^\.It Ev ([A-Z_]+)$", env_sec, re.M)
    report("devrouletted(8) documents exactly these settings",
           sorted(documented) == sorted(table), documented)
    lines = (ETC / "devrouletted.env").read_text().splitlines()
    active = [x for x in lines if x and not x.startswith("#")]
    report("example environment file changes no default (every setting "
           "commented)", not active, active)

    state = tmp / "envstate"
    state.mkdir()
    base = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    # The file with every line uncommented, as documented in its header.
    full = tmp / "devrouletted.env"
    full.write_text("\n".join(x[1:] if re.fullmatch(r"#[A-Z_]+=\S*", x)
                              else x for x in lines) + "\n")
    cmd = f"env $(grep -v '^#' {full} | xargs) STATE_DIR={state} " \
        f"{BIN / 'devrouletted'} -n"
    r = run(["sh", "-c", cmd], env=base, timeout=10)
    report("every setting uncommented: devrouletted -n says configuration OK",
           r.returncode == 0 and r.stderr.strip() == "configuration OK",
           r.stdout + r.stderr)
    # Each name is read by the daemon: an empty value is refused, naming it.
    unread = []
    for k in table:
        env = dict(base, STATE_DIR=str(state))
        env[k] = ""
        r = run([str(BIN / "devrouletted"), "-n"], env=env, timeout=10)
        if r.returncode != 1 or k not in r.stderr:
            unread.append(f"{k}: {r.returncode} {r.stderr.strip()}")
    report("every setting of the file is read by the daemon (an empty value "
           "stops it, naming the variable)", not unread, "\n".join(unread))


def test_caddy(tmp):
    name = "Caddyfile passes caddy validate"
    caddy = shutil.which("caddy")
    if caddy is None:
        skip(name, "caddy is not installed (Debian: caddy)")
        skip("Caddyfile proxies the site to the daemon's default HOST:PORT",
             "caddy is not installed")
        return
    cf = ETC / "Caddyfile"
    env = dict(os.environ, HOME=str(tmp), XDG_DATA_HOME=str(tmp / "data"),
               XDG_CONFIG_HOME=str(tmp / "config"))
    r = run([caddy, "validate", "--adapter", "caddyfile", "--config",
             str(cf)], env=env, timeout=60)
    report(name, r.returncode == 0, r.stdout + r.stderr)
    r = run([caddy, "adapt", "--adapter", "caddyfile", "--config", str(cf)],
            env=env, timeout=60)
    diag = r.stdout + r.stderr
    good = False
    try:
        cfg = json.loads(r.stdout)
        t = settings_table()
        servers = cfg["apps"]["http"]["servers"]
        routes = [rt for srv in servers.values() for rt in srv["routes"]]
        hosts = [h for rt in routes for m in rt.get("match", [])
                 for h in m.get("host", [])]
        dials = re.findall(r'"dial":\s*"([^"]+)"', json.dumps(cfg))
        good = hosts == ["chat.example.org"] and \
            dials == [f"{t['HOST']}:{t['PORT']}"] and "logs" not in \
            json.dumps(servers)
    except (ValueError, KeyError) as e:
        diag += f"\n{e!r}"
    report("Caddyfile proxies chat.example.org to the daemon's default "
           "HOST:PORT, with no access log", good, diag)


def getopt_letters(src):
    m = re.search(r'getopt(?:_long)?\(argc, argv, "([^"]*)"', src)
    return [c for c in m.group(1) if c != ":"] if m else None


def test_manuals():
    man = REPO / "man"
    pages = {
        "devrouletted.8": "daemon/devrouletted.c",
        "devroulettectl.8": "ctl/devroulettectl.c",
        "devroulette.1": "client/devroulette.c",
        "devroulette-protocol.7": None,
    }
    for page, src in pages.items():
        text = (man / page).read_text() if (man / page).exists() else ""
        want = ["NAME", "SYNOPSIS" if src else "DESCRIPTION",
                "DESCRIPTION", "EXAMPLES", "SEE ALSO"]
        if src:
            want.append("EXIT STATUS")
        missing = [x for x in want if f"\n.Sh {x}\n" not in text]
        if src and (REPO / src).exists():
            for c in getopt_letters((REPO / src).read_text()) or ["?"]:
                if not re.search(rf"^\.(?:Op )?Fl [a-zA-Z]*{c}", text, re.M):
                    missing.append(f"flag -{c}")
        report(f"{page}: the sections it needs, every flag of its program",
               text and not missing, missing)

    ctl = (REPO / "ctl/devroulettectl.c").read_text()
    text = (man / "devroulettectl.8").read_text()
    cmds = [" ".join(w for w in m.groups() if w) for m in re.finditer(
        r'\{ \{ "([a-z]+)", (?:"([a-z]+)"|NULL) \}', ctl)]
    keys = re.findall(r'\\"([a-z_]+)\\":', ctl)
    missing = [c for c in cmds if f"\n.It Cm {c}\n" not in text] + \
        [k for k in keys if f".Dq {k}" not in text]
    report("devroulettectl(8): every command and every -j stats member",
           len(cmds) == 4 and len(keys) == 10 and not missing,
           (cmds, keys, missing))
    missing = [x for x in ("CONTROL_SOCKET", "/run/devrouletted.sock",
                           "0660", "_devroulette", "not running",
                           "permission denied", "version mismatch")
               if x not in text]
    report("devroulettectl(8): socket, permissions and every error case",
           not missing, missing)

    text = (man / "devrouletted.8").read_text()
    sig = text.split(".Sh SIGNALS", 1)[-1].split(".Sh ", 1)[0]
    files = text.split(".Sh FILES", 1)[-1].split(".Sh ", 1)[0]
    missing = [x for x in ("SIGTERM", "SIGINT", "SIGHUP") if x not in sig] + \
        [x for x in ("STATE_DIR/counters", "/var/empty",
                     "/run/devrouletted.sock") if x not in files]
    report("devrouletted(8): signals and files", not missing, missing)

    proto = (REPO / "docs/PROTOCOL.md").read_text()
    text = (man / "devroulette-protocol.7").read_text()
    head = proto.split("\n# Decisions", 1)[0]
    types = set(re.findall(r'\{"t":"([a-z]+)"', head))
    codes = set(re.findall(r"`([a-z_]+_rate|bad_frame|state|pow|rate|"
                           r"too_long|empty|key_in_use)`", head))
    closes = set(re.findall(r"`(1\d\d\d|4\d\d\d)`", head))
    reasons = {"skip", "report", "peer_left", "idle", "limit"}
    members = set(re.findall(r'"([a-z_]+)":', head)) - {"t"}
    missing = [f"message {t}" for t in sorted(types)
               if f'{{"t":"{t}"' not in text] + \
        [f"error {c}" for c in sorted(codes)
         if f".It {c}\n" not in text] + \
        [f"close {c}" for c in sorted(closes)
         if f".It {c}\n" not in text] + \
        [f"reason {r}" for r in sorted(reasons)
         if f".Dq {r}\n" not in text] + \
        [f"member {m}" for m in sorted(members) if f'"{m}"' not in text
         and f".Dq {m}" not in text] + \
        [f"setting {k}" for k in settings_table()
         if f".It Ev {k} Ta" not in text]
    report("devroulette-protocol(7): every message, member, error code, "
           "close code, end reason and setting of docs/PROTOCOL.md",
           len(types) == 14 and len(closes) == 11 and not missing,
           (sorted(types), sorted(codes), sorted(closes), missing))


def main():
    if not (BIN / "devrouletted").exists():
        print("not ok - bin/devrouletted is built (run make first)")
        return 1
    with tempfile.TemporaryDirectory(prefix="dr-install-") as t:
        tmp = Path(t)
        os.chmod(tmp, 0o755)
        dest = test_tree(tmp)
        test_prefix(tmp)
        test_verify(tmp, dest)
        test_unit_content()
        test_caps(tmp)
        test_rcd(tmp)
        test_env_file(tmp)
        test_caddy(tmp)
        test_manuals()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
