# Failing closed: when the extension cannot be allocated, a packet that
# should carry traits is dropped (SKB_DROP_REASON_TRAITS_NOMEM at the
# hand-over, an nft drop for `meta trait N set`) and TcpExt TraitsFailed
# counts it, rather than letting it go on without traits that policy may
# depend on. The allocation failures come from failslab, filtered to the
# skb extension cache: the debug kernel has it (CONFIG_FAILSLAB, booted
# with slab_nomerge so that the cache is its own); elsewhere these skip.
import os
import socket

import pytest

import nftnl as n
from conftest import Nft, netstat, udp_send

FAILSLAB = "/sys/kernel/debug/failslab"
EXT_CACHE = "/sys/kernel/slab/skbuff_ext_cache"
TRACE = "/sys/kernel/tracing"
N = 10

pytestmark = pytest.mark.skipif(
    not os.path.isdir(FAILSLAB) or not os.path.exists(f"{EXT_CACHE}/failslab")
    or os.path.islink(EXT_CACHE),
    reason="needs failslab and an skb extension cache of its own (debug kernel)")


def put(path, value):
    with open(path, "w") as f:
        f.write(f"{value}\n")


@pytest.fixture
def ext_alloc_fails():
    """While active, every skb extension allocation fails."""
    settings = {"cache-filter": "Y", "probability": 100, "interval": 1,
                "times": -1, "space": 0, "verbose": 0, "ignore-gfp-wait": "Y"}
    old = {}
    for k, v in settings.items():
        with open(f"{FAILSLAB}/{k}") as f:
            old[k] = f.read().strip()
        put(f"{FAILSLAB}/{k}", v)

    def on(active):
        put(f"{EXT_CACHE}/failslab", 1 if active else 0)

    yield on
    on(False)
    for k, v in old.items():
        put(f"{FAILSLAB}/{k}", v)


@pytest.fixture
def drop_trace():
    """Reasons of the packets freed by kfree_skb while it runs."""
    ev = f"{TRACE}/events/skb/kfree_skb"
    put(f"{TRACE}/trace", "")
    put(f"{ev}/enable", 1)

    def reasons():
        with open(f"{TRACE}/trace") as f:
            return [line.split("reason: ")[1].strip()
                    for line in f if "reason: " in line]

    yield reasons
    put(f"{ev}/enable", 0)


def receiver(ns, port):
    s = ns.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.0.0.2", port))
    s.settimeout(0.5)
    return s


def received(s):
    got = 0
    try:
        while True:
            s.recv(100)
            got += 1
    except socket.timeout:
        return got


def test_handover_without_memory_drops_with_a_reason(pair, xdp_tagger, tc_reader,
                                                     ext_alloc_fails, drop_trace):
    a, b = pair
    xdp_tagger(b, "vb").tag("10.0.0.1", (7, 4, 1))
    reader = tc_reader(b, "vb")
    s = receiver(b, 9000)
    before = netstat(b, "TraitsFailed")
    ext_alloc_fails(True)
    udp_send(a, "10.0.0.2", 9000, b"x", count=N)
    ext_alloc_fails(False)
    assert received(s) == 0
    assert reader.info(0) == 0                # dropped before TC ingress
    assert netstat(b, "TraitsFailed") == before + N
    assert drop_trace().count("TRAITS_NOMEM") == N
    # with memory back, the same packets pass with their traits
    udp_send(a, "10.0.0.2", 9000, b"x", count=N)
    assert received(s) == N
    assert reader.traits() == {7: (4, 1)}


def test_nft_set_without_memory_drops(pair, ext_alloc_fails):
    a, b = pair
    nft = Nft(b)
    nft.chain("pre", "prerouting", prio=-300)
    # UDP only: a's neighbour discovery would fail the same way and count
    nft.rule("pre", n.meta_load(n.NFT_META_L4PROTO), n.cmp("==", b"\x11"),
             n.immediate(n.host(1)), n.trait_set(7))
    s = receiver(b, 9001)
    before = netstat(b, "TraitsFailed")
    ext_alloc_fails(True)
    udp_send(a, "10.0.0.2", 9001, b"x", count=N)
    ext_alloc_fails(False)
    assert received(s) == 0
    assert netstat(b, "TraitsFailed") == before + N
    udp_send(a, "10.0.0.2", 9001, b"x", count=N)
    assert received(s) == N


SO_TRAITS = 86


@pytest.mark.parametrize("dst", ["10.0.0.2", "fd00::2"])
def test_socket_send_without_memory_fails_the_send(pair, ext_alloc_fails, drop_trace, dst):
    # SO_TRAITS: the datagram is dropped, and send() says so
    a, b = pair
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    r = b.socket(fam, socket.SOCK_DGRAM)
    r.bind((dst, 9002))
    r.settimeout(0.5)
    s = a.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, SO_TRAITS,
                 (1 << 7).to_bytes(8, "little") + bytes(8) + (1).to_bytes(4, "little"))
    s.sendto(b"warm", (dst, 9002))          # neighbour resolved before
    assert received(r) == 1
    before = netstat(a, "TraitsFailed")
    ext_alloc_fails(True)
    errors = []
    for _ in range(N):
        try:
            s.sendto(b"x", (dst, 9002))
        except OSError as e:
            errors.append(e.errno)
    ext_alloc_fails(False)
    assert errors == [12] * N                 # ENOMEM
    assert received(r) == 0
    assert netstat(a, "TraitsFailed") == before + N
    assert drop_trace().count("TRAITS_NOMEM") == N
    s.sendto(b"x", (dst, 9002))
    assert received(r) == 1
