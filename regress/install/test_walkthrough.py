#!/usr/bin/python3
"""README.md's "Run your own server", followed literally (issue 6).

Every ```sh block of that section runs, in order, in one `sh -ex`, from
the top of the source tree, as root: the README and this test are kept in
sync by construction, and a command that is wrong in the README fails
here.  Blocks in other languages (```caddyfile, ```console) are shown,
not run.

The system is a scratch copy, so nothing leaks out: the test re-executes
itself in new mount and network namespaces where /etc, /var and the
source tree are overlays on a tmpfs, /usr/local and /run are empty tmpfs,
and the user _devroulette is removed first so that the README's useradd
runs.  Only loopback networking exists.

There is no systemd inside: `systemctl` and `apt-get` are stand-ins on
PATH.  The systemctl one runs a unit the way systemd would in what
matters here: EnvironmentFile= and Environment=, StateDirectory= and
RuntimeDirectory=, ExecStartPre=, ExecStart= and ExecStartPost= (a "+"
line with full privileges, "$$" a "$"), Type=exec (no delay after the
start), and for the main process CapabilityBoundingSet= and
NoNewPrivileges= (setpriv), ProtectSystem=strict (every mount read-only
but /dev, /proc, /sys and the state and runtime directories),
ProtectHome=yes, PrivateTmp=yes, UMask= and LimitNOFILE=;
stop is KillMode=mixed (SIGTERM to the main process), then ExecStopPost=.
`daemon-reload` runs systemd-analyze verify on the installed units; for
caddy, reload validates /etc/caddy/Caddyfile.  Other hardening lines
(PrivateDevices=, Protect*Kernel*=, RestrictAddressFamilies=, ...) are
checked by systemd-analyze only.

Prints "ok - name" / "not ok - name" lines; skips (with a reason) only
when not root or when namespaces cannot be made.
"""

import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SELF = Path(__file__).resolve()
PY = "/usr/bin/python3"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
UNITS = Path("/etc/systemd/system")

failed = 0


def report(name, good, diag=""):
    global failed
    if good:
        print(f"ok - {name}")
    else:
        failed += 1
        print(f"not ok - {name}")
        for line in str(diag).splitlines()[-60:]:
            print(f"#   {line}")
    sys.stdout.flush()


def readme_blocks():
    """The ```sh blocks of "## Run your own server", in order."""
    text = (REPO / "README.md").read_text()
    sec = text.split("\n## Run your own server\n", 1)[1]
    sec = sec.split("\n## ", 1)[0]
    blocks = []
    for m in re.finditer(r"^( *)```sh\n(.*?)^\1```$", sec, re.M | re.S):
        indent = len(m.group(1))
        blocks.append("\n".join(line[indent:] for line in
                                m.group(2).splitlines()))
    return blocks


# --- the systemctl stand-in ------------------------------------------------

def parse_unit(path):
    out = {}
    section = None
    text = Path(path).read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def unit_env(u):
    env = {"PATH": PATH, "LANG": "C"}
    for e in u.get("Environment", []):
        for kv in shlex.split(e):
            k, v = kv.split("=", 1)
            env[k] = v
    for f in u.get("EnvironmentFile", []):
        optional = f.startswith("-")
        f = f.lstrip("-")
        if not os.path.exists(f):
            if optional:
                continue
            raise SystemExit(f"EnvironmentFile {f} missing")
        for line in Path(f).read_text().splitlines():
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            k, v = line.split("=", 1)
            env[k.strip()] = v.strip()
    return env


def state(name, what):
    return Path(os.environ["WALK_SCRATCH"]) / "units" / f"{name}.{what}"


def sandbox_spec(u):
    caps = (u.get("CapabilityBoundingSet") or [""])[-1].split()
    rw = []
    for d in u.get("StateDirectory", []):
        rw += [f"/var/lib/{x}" for x in d.split()]
    for d in u.get("RuntimeDirectory", []):
        rw += [f"/run/{x}" for x in d.split()]
    for d in u.get("ReadWritePaths", []):
        rw += [x.lstrip("-") for x in d.split()]
    last = {k: v[-1] for k, v in u.items()}
    return {"caps": caps, "rw": rw,
            "nnp": last.get("NoNewPrivileges") == "yes",
            "protect_system": last.get("ProtectSystem"),
            "protect_home": last.get("ProtectHome") == "yes",
            "private_tmp": last.get("PrivateTmp") == "yes",
            "umask": last.get("UMask"),
            "nofile": last.get("LimitNOFILE")}


def command(line, u):
    """argv for one Exec line; "+" lines run with full privileges."""
    full = line.startswith("+")
    # systemd's quoting is the shell's, and "$$" is a "$".
    argv = [w.replace("$$", "$") for w in shlex.split(line.lstrip("+-@:!"))]
    if full:
        return argv
    return ["unshare", "--mount", "--propagation", "private", PY, str(SELF),
            "--sandbox", json.dumps(sandbox_spec(u)), "--"] + argv


def sandbox(spec, argv):
    """In a fresh mount namespace: the unit's limits, then exec."""
    def mount(*a):
        subprocess.run(["mount"] + list(a), check=True)
    if spec["protect_system"] == "strict":
        mps = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            mp = line.split()[4].replace("\\040", " ")
            if not re.match(r"/(dev|proc|sys)(/|$)", mp):
                mps.append(mp)
        for mp in sorted(set(mps), key=len):
            subprocess.run(["mount", "-o", "remount,bind,ro", mp],
                           stderr=subprocess.DEVNULL)
        for p in spec["rw"]:
            mount("--bind", p, p)
            mount("-o", "remount,bind,rw", p)
    if spec["protect_home"]:
        for p in ("/home", "/root", "/run/user"):
            if os.path.isdir(p):
                mount("-t", "tmpfs", "-o", "ro,mode=0755", "none", p)
    if spec["private_tmp"]:
        for p in ("/tmp", "/var/tmp"):
            mount("-t", "tmpfs", "-o", "mode=1777", "none", p)
    if spec["umask"]:
        os.umask(int(spec["umask"], 8))
    if spec["nofile"]:
        import resource
        # Raising the hard limit needs CAP_SYS_RESOURCE, which systemd
        # has and a container may not: then as far as it goes.
        n = int(spec["nofile"])
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard != resource.RLIM_INFINITY and hard < n:
            n = hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    pre = ["setpriv"]
    if spec["caps"]:
        pre.append("--bounding-set=" + ",".join(
            ["-all"] + ["+" + c[4:].lower() for c in spec["caps"]]))
    if spec["nnp"]:
        pre.append("--no-new-privs")
    os.execvp("setpriv", pre + ["--"] + argv)


def svc_start(name):
    unit = UNITS / f"{name}.service"
    u = parse_unit(unit)
    env = unit_env(u)
    last = {k: v[-1] for k, v in u.items()}
    for d in u.get("StateDirectory", []):
        for x in d.split():
            os.makedirs(f"/var/lib/{x}", exist_ok=True)
            os.chmod(f"/var/lib/{x}",
                     int(last.get("StateDirectoryMode", "0755"), 8))
    for d in u.get("RuntimeDirectory", []):
        for x in d.split():
            os.makedirs(f"/run/{x}", exist_ok=True)
            os.chmod(f"/run/{x}",
                     int(last.get("RuntimeDirectoryMode", "0755"), 8))
    journal = open(state(name, "journal"), "a")
    for line in u.get("ExecStartPre", []):
        r = subprocess.run(command(line, u), env=env, stdout=journal,
                           stderr=journal)
        if r.returncode != 0:
            print(f"{name}: ExecStartPre failed", file=sys.stderr)
            return 1
    # The supervisor: runs the main process, keeps its exit status.
    for w in ("pid", "status"):
        state(name, w).unlink(missing_ok=True)
    if os.fork() == 0:
        os.setsid()
        devnull = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        p = subprocess.Popen(command(last["ExecStart"], u), env=env,
                             stdout=journal, stderr=journal)
        state(name, "pid").write_text(str(p.pid))
        rc = p.wait()
        state(name, "status").write_text(str(rc))
        os._exit(0)
    # Type=exec: started once the program runs; no grace period here
    # either, so the unit must wait for readiness itself if it needs to.
    end = time.time() + 10
    while not state(name, "pid").exists() and time.time() < end:
        time.sleep(0.01)
    for line in u.get("ExecStartPost", []):
        r = subprocess.run(command(line, u), env=env, stdout=journal,
                           stderr=journal)
        if r.returncode != 0:
            print(f"{name}: ExecStartPost failed", file=sys.stderr)
            return 1
    if state(name, "status").exists():
        print(f"{name}: main process exited", file=sys.stderr)
        return 1
    return 0


def svc_stop(name):
    u = parse_unit(UNITS / f"{name}.service")
    last = {k: v[-1] for k, v in u.items()}
    if not state(name, "pid").exists() or state(name, "status").exists():
        return 0
    pid = int(state(name, "pid").read_text())
    # KillMode=mixed: SIGTERM to the main process only.
    os.kill(pid, signal.SIGTERM)
    limit = float(last.get("TimeoutStopSec", "90s").rstrip("s"))
    end = time.time() + limit
    while not state(name, "status").exists() and time.time() < end:
        time.sleep(0.05)
    if not state(name, "status").exists():
        os.kill(pid, signal.SIGKILL)
    env = unit_env(u)
    journal = open(state(name, "journal"), "a")
    for line in u.get("ExecStopPost", []):
        subprocess.run(command(line, u), env=env, stdout=journal,
                       stderr=journal)
    for d in u.get("RuntimeDirectory", []):
        for x in d.split():
            shutil.rmtree(f"/run/{x}", ignore_errors=True)
    return 0


def systemctl(args):
    now = "--now" in args
    args = [a for a in args if a not in ("--now", "-q", "--quiet")]
    verb, names = args[0], [n.removesuffix(".service") for n in args[1:]]
    if verb == "daemon-reload":
        units = sorted(u for u in UNITS.glob("*.service")
                       if not u.is_symlink())
        r = subprocess.run(["systemd-analyze", "verify", "--man=no"] +
                           [str(u) for u in units], capture_output=True,
                           text=True)
        out = (r.stdout + r.stderr).strip()
        if out:
            print(out, file=sys.stderr)
        return 0 if r.returncode == 0 and not out else 1
    rc = 0
    for n in names:
        if n == "caddy":
            # Debian's caddy.service: reload is `caddy reload` of this file.
            rc |= subprocess.run(["caddy", "validate", "--adapter",
                                  "caddyfile", "--config",
                                  "/etc/caddy/Caddyfile"]).returncode
            continue
        if not (UNITS / f"{n}.service").exists():
            print(f"Unit {n}.service not found.", file=sys.stderr)
            return 5
        if verb == "enable" and not now:
            continue
        if verb in ("enable", "start", "restart"):
            if verb == "restart":
                svc_stop(n)
            if not state(n, "pid").exists() or state(n, "status").exists():
                rc |= svc_start(n)
        elif verb == "stop":
            rc |= svc_stop(n)
        elif verb == "reload":
            os.kill(int(state(n, "pid").read_text()), signal.SIGHUP)
        else:
            print(f"stand-in systemctl: {verb} unsupported", file=sys.stderr)
            return 1
    return rc


def apt_get(args):
    """Packages already installed need no network; others really install."""
    pkgs = [a for a in args[1:] if not a.startswith("-")]
    if args and args[0] == "install":
        missing = [p for p in pkgs if subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
            text=True).stdout != "install ok installed"]
        if not missing:
            print("stand-in apt-get: already installed: " + " ".join(pkgs))
            return 0
    os.execv("/usr/bin/apt-get", ["apt-get"] + args)


# --- the scratch system ----------------------------------------------------

def sh(cmd):
    subprocess.run(cmd, shell=True, check=True)


def setup(scratch):
    sh(f"mount -t tmpfs -o mode=0755 none {scratch}")
    for name, lower in (("etc", "/etc"), ("var", "/var"), ("src", REPO)):
        up, work = scratch / f"{name}-up", scratch / f"{name}-work"
        up.mkdir()
        work.mkdir()
        sh(f"mount -t overlay overlay -o lowerdir={lower},upperdir={up},"
           f"workdir={work} {lower}")
    sh("mount -t tmpfs -o mode=0755 none /usr/local")
    sh("mount -t tmpfs -o mode=0755 none /run")
    # A fresh server has no _devroulette: the README's useradd makes it.
    for f, n in (("passwd", 7), ("group", 4), ("shadow", 9), ("gshadow", 4)):
        p = Path("/etc") / f
        if p.exists():
            lines = [x for x in p.read_text().splitlines(True)
                     if not x.startswith("_devroulette:")]
            p.write_text("".join(lines))
    # Loopback up (SIOCSIFFLAGS IFF_UP|IFF_RUNNING|IFF_LOOPBACK).
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    import fcntl
    fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", 0x1 | 0x8 | 0x40))
    s.close()
    shims = scratch / "shims"
    shims.mkdir()
    for tool, mode in (("systemctl", "--systemctl"), ("apt-get", "--apt")):
        (shims / tool).write_text(
            f'#!/bin/sh\nexec {PY} {SELF} {mode} "$@"\n')
        (shims / tool).chmod(0o755)
    (scratch / "units").mkdir()
    return shims


def healthz(host, port):
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
    return data.decode(errors="replace")


def inside():
    scratch = Path(os.environ["WALK_SCRATCH"])
    shims = setup(scratch)
    try:
        return walk(scratch, shims)
    finally:
        p = state("devrouletted", "pid")
        if p.exists() and not state("devrouletted", "status").exists():
            subprocess.run(["pkill", "-KILL", "-s",
                            str(os.getsid(int(p.read_text())))])


def walk(scratch, shims):
    blocks = readme_blocks()
    report("README's walk-through has its sh blocks",
           len(blocks) >= 4, blocks)
    script = scratch / "walkthrough.sh"
    script.write_text("set -ex\n" + "\n".join(blocks) + "\n")
    env = {"PATH": f"{shims}:{PATH}", "HOME": "/root", "LANG": "C",
           "WALK_SCRATCH": str(scratch), "DEBIAN_FRONTEND": "noninteractive"}
    log = scratch / "walkthrough.log"
    with open(log, "w") as f:
        try:
            r = subprocess.run(["sh", str(script)], cwd=REPO, env=env,
                               stdout=f, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=900)
            rc = r.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    out = log.read_text()
    journal = state("devrouletted", "journal")
    jtext = journal.read_text() if journal.exists() else ""
    report("README walk-through runs to the end as written", rc == 0,
           out + "\n--- journal\n" + jtext)
    if not (UNITS / "devrouletted.service").exists():
        return 1

    # The stand-in's ProtectSystem=strict must really be read-only.
    u = parse_unit(UNITS / "devrouletted.service")
    r = subprocess.run(command("/bin/sh -c 'for d in /run /etc /usr/local "
                               "/var/lib /var/lib/devroulette "
                               "/run/devrouletted; do touch $d/.w 2>/dev/null "
                               "&& echo $d; rm -f $d/.w; done'", u),
                       capture_output=True, text=True, timeout=30)
    report("stand-in ProtectSystem=strict: only the state and runtime "
           "directories are writable", r.stdout.split() ==
           ["/var/lib/devroulette", "/run/devrouletted"],
           r.stdout + r.stderr)

    conf = unit_env(parse_unit(UNITS / "devrouletted.service")) \
        if (UNITS / "devrouletted.service").exists() else {}
    report("the settings it made: behind one proxy, the default address",
           conf.get("TRUSTED_PROXY_HOPS") == "1" and "HOST" not in conf and
           "PORT" not in conf, conf)

    pid = int(state("devrouletted", "pid").read_text()) \
        if state("devrouletted", "pid").exists() else None
    running = pid is not None and not state("devrouletted",
                                            "status").exists()
    report("devrouletted runs under the unit after the walk-through",
           running, jtext)
    try:
        dr = pwd.getpwnam("_devroulette")
    except KeyError:
        dr = None
    report("the README made the user _devroulette", dr is not None)

    r = subprocess.run(["devroulettectl", "-j", "stats"], env={"PATH": PATH},
                       capture_output=True, text=True, timeout=10)
    try:
        st = json.loads(r.stdout)
    except ValueError:
        st = {}
    report("devroulettectl -j stats at the default socket",
           r.returncode == 0 and st.get("sockets") == 0 and
           st.get("max_sockets") == 10000, r.stdout + r.stderr)

    link = Path("/run/devrouletted.sock")
    real = Path("/run/devrouletted/devrouletted.sock")
    good = link.is_symlink() and real.exists() and dr is not None
    if good:
        s = real.stat()
        good = s.st_mode & 0o777 == 0o660 and s.st_uid == 0 and \
            s.st_gid == dr.pw_gid
    report("control socket: 0660 root:_devroulette in /run/devrouletted, "
           "linked from /run/devrouletted.sock", good,
           subprocess.run("ls -la /run /run/devrouletted", shell=True,
                          capture_output=True, text=True).stdout)

    try:
        h = healthz("127.0.0.1", 8787)
    except OSError as e:
        h = repr(e)
    report("the daemon answers /healthz on 127.0.0.1:8787",
           h.startswith("HTTP/1.1 200") and h.endswith("\r\n\r\nok\n"), h)

    diag = []
    kids = []
    if running:
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    ppid = int((d / "stat").read_text().rsplit(")", 1)[1]
                               .split()[1])
                except (OSError, IndexError):
                    continue
                if ppid == pid:
                    kids.append(int(d.name))
        for k in kids:
            st = (Path(f"/proc/{k}/status")).read_text()
            uid = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)", st, re.M)
            cap = re.search(r"^CapEff:\s+(\S+)", st, re.M).group(1)
            root = os.readlink(f"/proc/{k}/root")
            if dr is None or [int(x) for x in uid.groups()] != \
                    [dr.pw_uid] * 3 or int(cap, 16) != 0 or \
                    root != "/var/empty":
                diag.append(f"{k}: {uid.group(0)} CapEff {cap} root {root}")
        pst = Path(f"/proc/{pid}/status").read_text()
        bnd = int(re.search(r"^CapBnd:\s+(\S+)", pst, re.M).group(1), 16)
        # setuid 7, setgid 6, sys_chroot 18, chown 0, kill 5
        want = (1 << 7) | (1 << 6) | (1 << 18) | (1 << 0) | (1 << 5)
        if bnd != want:
            diag.append(f"parent CapBnd {bnd:x}, want {want:x}")
        if not re.search(r"^NoNewPrivs:\s+1", pst, re.M):
            diag.append("parent without no_new_privs")
    report("children chrooted to /var/empty as _devroulette without "
           "capabilities; the parent keeps only the unit's",
           running and len(kids) == 2 and not diag,
           f"children {kids}\n" + "\n".join(diag))

    caddy = Path("/etc/caddy/Caddyfile")
    good = False
    cdiag = ""
    if caddy.exists() and shutil.which("caddy"):
        r = subprocess.run(["caddy", "adapt", "--adapter", "caddyfile",
                            "--config", str(caddy)], capture_output=True,
                           text=True, timeout=60)
        cdiag = r.stdout + r.stderr
        dials = re.findall(r'"dial":\s*"([^"]+)"', r.stdout)
        good = r.returncode == 0 and dials == ["127.0.0.1:8787"]
    report("/etc/caddy/Caddyfile proxies to the daemon's address", good,
           cdiag)

    r = subprocess.run(["systemctl", "stop", "devrouletted"],
                       env={"PATH": f"{shims}:{PATH}",
                            "WALK_SCRATCH": str(scratch)},
                       capture_output=True, text=True, timeout=60)
    status = state("devrouletted", "status")
    st = status.read_text() if status.exists() else None
    jtext = journal.read_text() if journal.exists() else ""
    counters = Path("/var/lib/devroulette/counters")
    try:
        c = json.loads(counters.read_text())
    except (OSError, ValueError):
        c = None
    report("systemctl stop: exit status 0, counters saved, sockets gone",
           st == "0" and c is not None and sorted(c) == sorted(
               ["connections", "convos", "messages", "reports"]) and
           not os.path.lexists("/run/devrouletted.sock") and
           not os.path.exists("/run/devrouletted"),
           f"status {st} counters {c}\n{r.stderr}\n{jtext}")
    r = subprocess.run(["devroulettectl", "stats"], env={"PATH": PATH},
                       capture_output=True, text=True, timeout=10)
    report("devroulettectl then says the daemon is not running",
           r.returncode == 1 and "is not running" in r.stderr, r.stderr)
    return 1 if failed else 0


def main():
    if len(sys.argv) > 1:
        mode, args = sys.argv[1], sys.argv[2:]
        if mode == "--systemctl":
            return systemctl(args)
        if mode == "--apt":
            return apt_get(args)
        if mode == "--sandbox":
            spec = json.loads(args[0])
            return sandbox(spec, args[2:])
        if mode == "--inside":
            return inside()
    name = "README walk-through"
    if os.geteuid() != 0:
        print(f"ok - {name} # SKIP not root")
        return 0
    for tool in ("unshare", "setpriv", "systemd-analyze"):
        if shutil.which(tool) is None:
            print(f"ok - {name} # SKIP {tool} is not installed")
            return 0
    r = subprocess.run(["unshare", "--mount", "--net", "--propagation",
                        "private", "true"], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"ok - {name} # SKIP no mount and network namespaces: "
              f"{r.stderr.strip()}")
        return 0
    scratch = tempfile.mkdtemp(prefix="dr-walk-")
    try:
        r = subprocess.run(["unshare", "--mount", "--net", "--propagation",
                            "private", PY, str(SELF), "--inside"],
                           env=dict(os.environ, WALK_SCRATCH=scratch))
    finally:
        os.rmdir(scratch)
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
