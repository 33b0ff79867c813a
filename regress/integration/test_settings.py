"""PROTOCOL.md section 8: settings are checked at start, never defaulted."""

import subprocess

import pytest

from drserver import BASE_SETTINGS, free_port, server_argv, server_env


def run(tmp_path, args=(), **overrides):
    """Runs the server to completion (it must exit by itself)."""
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    settings = dict(BASE_SETTINGS, PORT=str(free_port()),
                    STATE_DIR=str(state),
                    CONTROL_SOCKET=str(tmp_path / "ctl.sock"))
    settings.update(overrides)
    try:
        p = subprocess.run(server_argv(args), env=server_env(settings),
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=10)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("server did not exit (it started?):\n%s%s" % (
            (e.stdout or b"").decode(errors="replace"),
            (e.stderr or b"").decode(errors="replace"))) from None
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


MALFORMED = [
    ("PORT", "abc"), ("PORT", "70000"), ("PORT", "-1"), ("PORT", ""),
    ("POW_BITS", "-1"), ("POW_BITS", "257"), ("POW_BITS", "4x"),
    ("MSG_MAX_CHARS", ""), ("MSG_MAX_CHARS", " 500"), ("MSG_MAX_CHARS", "0"),
    ("PING_INTERVAL_MS", "1.5"), ("BEAT_TIMEOUT_MS", "0x10"),
    ("BAN_AFTER_VIOLATIONS", "many"), ("JOINS_PER_MIN", "1e3"),
    ("MAX_SOCKETS_PER_IP", "99999999999999999999999"),
    ("DEVROULETTE_ALLOW_DEBUG", "yes"), ("DEVROULETTE_ALLOW_DEBUG", "2"),
    ("TRUSTED_PROXY_HOPS", "x"), ("ROOM_IDLE_MS", ""),
]


@pytest.mark.parametrize("name,value", MALFORMED,
                         ids=["%s=%s" % m for m in MALFORMED])
def test_malformed_setting_stops_daemon_naming_variable(tmp_path, name,
                                                        value):
    rc, out = run(tmp_path, **{name: value})
    assert rc != 0, "exit 0 with %s=%r:\n%s" % (name, value, out)
    assert name in out, "message does not name %s:\n%s" % (name, out)


def test_missing_state_dir_refuses_to_start(tmp_path):
    rc, out = run(tmp_path, STATE_DIR=str(tmp_path / "does-not-exist"))
    assert rc != 0, out
    assert "STATE_DIR" in out or "does-not-exist" in out, out
    assert not (tmp_path / "does-not-exist").exists(), "STATE_DIR created"


def test_state_dir_not_a_directory_refuses_to_start(tmp_path):
    f = tmp_path / "plainfile"
    f.write_text("")
    rc, out = run(tmp_path, STATE_DIR=str(f))
    assert rc != 0, out


@pytest.mark.daemon_only
def test_n_flag_checks_settings_and_exits_0(tmp_path):
    rc, out = run(tmp_path, ["-n"])
    assert rc == 0, out
    assert "configuration OK" in out, out


@pytest.mark.daemon_only
def test_n_flag_with_malformed_setting_exits_non_zero(tmp_path):
    rc, out = run(tmp_path, ["-n"], POW_BITS="-1")
    assert rc != 0, out
    assert "POW_BITS" in out, out
    assert "configuration OK" not in out, out
