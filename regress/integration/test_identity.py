"""
PROTOCOL.md section 2: the client IP (X-Forwarded-For with
TRUSTED_PROXY_HOPS), observed through MAX_SOCKETS_PER_IP=1 (a second socket
of the same client IP answers 429) and through bans.
"""

import itertools

import pytest

from drserver import module_server
from helpers import client, connect, expect_banned, fresh_ip, refused

_n = itertools.count(1)


def addr():
    """A fresh IPv4 address for X-Forwarded-For."""
    n = next(_n)
    return "10.%d.%d.%d" % (n // 62500 % 250 + 1, n // 250 % 250, n % 250 + 1)


def xff(*values):
    return ["X-Forwarded-For: " + v for v in values]


@pytest.fixture(scope="module")
def hops0(tmp_path_factory):
    yield from module_server(tmp_path_factory, "hops0", MAX_SOCKETS_PER_IP=1)


@pytest.fixture(scope="module")
def hops1(tmp_path_factory):
    yield from module_server(tmp_path_factory, "hops1", MAX_SOCKETS_PER_IP=1,
                             TRUSTED_PROXY_HOPS=1)


@pytest.fixture(scope="module")
def hops2(tmp_path_factory):
    yield from module_server(tmp_path_factory, "hops2", MAX_SOCKETS_PER_IP=1,
                             TRUSTED_PROXY_HOPS=2)


async def same_ip(srv, first, second, peer=None):
    """True if the two handshakes (header lists) count as one client IP."""
    peer = peer or fresh_ip()
    a = await connect(srv, peer, extra=first)
    await a.hello()
    try:
        b = await connect(srv, peer, extra=second)
    except AssertionError as e:
        assert getattr(e, "response", None) is not None, e
        assert e.response.status == 429, e.response
        return True
    await b.hello()
    return False


async def test_hops_0_ignores_x_forwarded_for(hops0):
    assert await same_ip(hops0, xff(addr()), xff(addr()))


async def test_hops_1_client_ip_is_rightmost_entry(hops1):
    ip = addr()
    assert not await same_ip(hops1, xff(ip), xff(addr()))
    ip = addr()
    assert await same_ip(hops1, xff(addr() + ", " + ip), xff(ip))
    # the peer address no longer matters
    a = addr()
    c = await connect(hops1, fresh_ip(), extra=xff(a))
    await c.hello()
    assert await refused(hops1, fresh_ip(), extra=xff(a)) == 429


async def test_hops_2_client_ip_is_second_from_right(hops2):
    ip = addr()
    assert await same_ip(hops2, xff("%s, %s" % (ip, addr())),
                         xff("%s,%s" % (ip, addr())))
    assert not await same_ip(hops2, xff("%s, %s" % (addr(), ip)),
                             xff("%s, %s" % (addr(), ip)))


async def test_x_forwarded_for_header_lines_joined_in_order(hops2):
    ip = addr()
    assert await same_ip(hops2, xff(ip, addr()), xff("%s, %s" % (ip, addr())))


async def test_entries_trimmed(hops1):
    ip = addr()
    assert await same_ip(hops1, xff("%s,  %s  " % (addr(), ip)), xff(ip))


async def test_fewer_entries_than_hops_uses_peer_address(hops2):
    peer = fresh_ip()
    assert await same_ip(hops2, xff(addr()), [], peer=peer)


@pytest.mark.parametrize("bad", ["1.2.3.4:80", "[::1]", "", "garbage",
                                 "1.2.3", "256.1.1.1", "[2001:db8::1]:443"])
async def test_invalid_entry_uses_peer_address(hops1, bad):
    peer = fresh_ip()
    value = addr() + ", " + bad
    assert await same_ip(hops1, xff(value), [], peer=peer)


async def test_ipv4_mapped_ipv6_is_the_ipv4_address(hops1):
    ip = addr()
    assert await same_ip(hops1, xff("::ffff:" + ip), xff(ip))


async def test_ipv6_keyed_on_64_prefix(hops1):
    n = next(_n)
    assert await same_ip(hops1, xff("2001:db8:%x:1::1" % n),
                         xff("2001:db8:%x:1:ffff:eeee:dddd:2" % n))
    assert not await same_ip(hops1, xff("2001:db8:%x:2::1" % n),
                             xff("2001:db8:%x:3::1" % n))


async def test_ban_keys_on_forwarded_client_ip(start_server):
    srv = start_server(TRUSTED_PROXY_HOPS=1, BAN_AFTER_VIOLATIONS=1)
    peer = fresh_ip()
    bad, good = addr(), addr()
    ws = await client(srv, peer, extra=xff(bad))
    ws.send("{")
    await expect_banned(ws, after="bad_frame")
    assert await refused(srv, peer, extra=xff(bad)) == 403
    ok = await client(srv, peer, extra=xff(good))
    await ok.still_open()
