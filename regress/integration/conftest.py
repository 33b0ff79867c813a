"""
Fixtures for the devroulette end-to-end tests.

The server under test is pluggable (drserver.py): DEVROULETTED or
DR_PEER_CMD; tests of features only our daemon has (command-line flags) are
skipped with DR_PEER_CMD. Settings go in the environment (PROTOCOL.md
section 8). Each server gets a free port on 127.0.0.1, a fresh STATE_DIR and
CONTROL_SOCKET in a temporary directory, and its stdout/stderr in files
there. At the end it is stopped with SIGTERM and must exit 0 within a few
seconds, with no sanitizer report in its output.

Tests are coroutines; the pytest_pyfunc_call hook below runs each in its own
event loop under a timeout (no pytest-asyncio needed).
"""

import asyncio
import inspect
import os

import pytest

import helpers
from drserver import Server, module_server, peer_mode

TEST_TIMEOUT = float(os.environ.get("DR_TEST_TIMEOUT_TOTAL", "45"))
# python3-pytest-timeout, if installed, reads this in its pytest_configure
# (after conftest.py is loaded): a backstop for a test stuck outside asyncio.
os.environ.setdefault("PYTEST_TIMEOUT", "120")


@pytest.fixture
def start_server(tmp_path):
    """Factory: start_server(**settings) -> a started Server (fresh state)."""
    servers = []

    def start(_args=(), _state_dir=None, **overrides):
        srv = Server(tmp_path / ("srv%d" % len(servers)), overrides, _args,
                     _state_dir)
        servers.append(srv)
        return srv.start()

    yield start
    errors = []
    for srv in servers:
        try:
            srv.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


@pytest.fixture
def server(start_server):
    """A fresh server with the base settings."""
    return start_server()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """
    One server for a module's tests that need no fresh state (each test uses
    its own source addresses and sockets).
    """
    yield from module_server(tmp_path_factory, "shared",
                             DEVROULETTE_ALLOW_DEBUG=1)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "timeout(seconds): time limit of one test")
    config.addinivalue_line(
        "markers", "daemon_only: tests of features only devrouletted has "
        "(skipped with DR_PEER_CMD)")


def pytest_collection_modifyitems(config, items):
    if not peer_mode():
        return
    skip = pytest.mark.skip(reason="not applicable to DR_PEER_CMD server")
    for item in items:
        if "daemon_only" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        return None
    args = {n: pyfuncitem.funcargs[n]
            for n in pyfuncitem._fixtureinfo.argnames}
    marker = pyfuncitem.get_closest_marker("timeout")
    limit = float(marker.args[0]) if marker and marker.args else TEST_TIMEOUT

    async def run():
        helpers.CREATED.clear()
        try:
            await asyncio.wait_for(fn(**args), limit)
        except asyncio.TimeoutError:
            raise AssertionError("test timed out after %.0f s" % limit) \
                from None
        finally:
            await helpers.close_all()
            faults = [f for w in helpers.CREATED for f in w.server_faults]
            helpers.CREATED.clear()
        assert not faults, "server sent bad frames: %r" % faults

    asyncio.run(run())
    return True
