# GRO merges only segments whose traits are equal: while they are still
# XDP metadata (veth GRO after native XDP), and once they are in the skb
# extension (gro_cells after a GRE decap: the slow_gro comparison).
# Every test runs twice: trait 7 the same on every segment (GRO must merge,
# or the test proves nothing) and 0/1 by turns (GRO must not merge, and
# each segment keeps its own value).
import time

import pytest

from bpftool import TcProgram, XdpProgram, u64s
from conftest import tcp_transfer, veth

NBYTES = 2_000_000


def run(a, b, addr, tagger, meter, alternate):
    """Stream TCP from a to b through tagger and meter, then check."""
    try:
        if alternate:                                   # 0/1 by turns
            tagger.update("tagged", (0).to_bytes(4, "little"),
                          (1).to_bytes(8, "little"))
        assert tcp_transfer(a, b, addr, NBYTES) == NBYTES
        check(tagger, meter, alternate)
    finally:
        meter.detach()
        tagger.detach()


def settled(tagger, meter):
    """The tagger's and the meter's counts once they stop moving: the last
    ACKs may still be between the two when the transfer returns, the
    longer the busier the machine."""
    last = None
    for _ in range(60):
        now = u64s(tagger, "tagged", 3), u64s(meter, "gro", 5)
        if now == last:
            break
        last = now
        time.sleep(0.5)
    return now


def check(tagger, meter, alternate):
    """GRO merged segments if and only if their traits were equal, and
    every segment arrived with the value it was given (a segment may be
    lost on the way under load; TCP sends it again, tagged again)."""
    (_, given0, given1), (skbs, most, got0, got1, other) = settled(tagger, meter)
    print(f"\ngro: tagged 0: {given0}, 1: {given1}; after GRO {skbs} skbs (at most "
          f"{most} segments) carrying 0: {got0}, 1: {got1}, other: {other}")
    assert other == 0
    assert got0 <= given0 and got1 <= given1
    assert got0 + got1 >= 0.95 * (given0 + given1)
    if alternate:
        assert most == 1
        assert min(got0, got1) > 0.45 * (got0 + got1)
    else:
        assert given0 == 0
        assert most > 1 and skbs < got1         # GRO was at work


@pytest.mark.parametrize("alternate", [False, True], ids=["same", "by-turns"])
def test_veth_gro_compares_trait_metadata(pair, alternate):
    a, b = pair
    b.run("ethtool -K vb gro on")
    tagger = XdpProgram("xdp_alternate.bpf.o", b, "vb")
    meter = TcProgram("tc_gro_meter.bpf.o", b, "vb")
    run(a, b, "10.0.0.2", tagger, meter, alternate)


@pytest.mark.parametrize("alternate", [False, True], ids=["same", "by-turns"])
def test_gro_cells_after_gre_decap_compare_traits(netns, alternate):
    a, r1, r2 = netns("a"), netns("r1"), netns("r2")
    veth(a, "a0", r1, "r0", ("10.1.0.1/24",), ("10.1.0.254/24",))
    veth(r1, "u1", r2, "u2", ("192.0.2.1/24",), ("192.0.2.2/24",))
    r1.run("ip tunnel add gre1 mode gre local 192.0.2.1 remote 192.0.2.2")
    r2.run("ip tunnel add gre1 mode gre local 192.0.2.2 remote 192.0.2.1")
    for r, addr in ((r1, "10.9.0.1/30"), (r2, "10.9.0.2/30")):
        r.run(f"ip addr add {addr} dev gre1")
        r.run("ip link set gre1 up")
    r1.run("sysctl -qw net.ipv4.ip_forward=1")
    a.run("ip route add default via 10.1.0.254")
    r2.run("ip route add 10.1.0.0/24 via 10.9.0.1")
    # r2 tags each GRE packet as it arrives (the native program also makes
    # u1 segment them); after the decap gro_cells sees inner segments
    # that differ in their skb extension only
    tagger = XdpProgram("xdp_alternate.bpf.o", r2, "u2")
    meter = TcProgram("tc_gro_meter.bpf.o", r2, "gre1")
    run(a, r2, "10.9.0.2", tagger, meter, alternate)
