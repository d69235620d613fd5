# A container cannot steer its host with traits, whatever path its frames
# take. In each test the container c tags every UDP packet with trait 3
# in XDP (tests/bpf/xdp_bounce.bpf.c) and sends it on to the host h:
#
#   h vh 10.5.0.1 ---- vc 10.5.0.2 c        (XDP_TX comes back this way)
#   h vh2 10.6.0.1 --- vc2 10.6.0.2 c       (redirects and forwarding)
#
# The host reads with TC at the veth it receives on, or with its own XDP
# program; net.core.traits_cross_netns stays 0 there.
import struct
import time

import pytest

from bpftool import XdpProgram, cmd
from conftest import _detached_at_end, udp_send, veth

N = 20
TX, REDIRECT, DEVMAP, CPUMAP = 1, 2, 3, 4


class Bouncer(XdpProgram):
    def __init__(self, ns, dev, mode, action, ifindex=0):
        super().__init__("xdp_bounce.bpf.o", ns, dev, mode)
        self.update("conf", struct.pack("=I", 0), struct.pack("=II", action, ifindex))

    def tagged(self):
        return struct.unpack("=Q", self.lookup("stats", struct.pack("=I", 1)))[0]


@pytest.fixture
def bouncer():
    yield from _detached_at_end(Bouncer)


def ifindex(ns, dev):
    return ns.json(f"ip -j link show dev {dev}")[0]["ifindex"]


def wait_for(fn, want, seconds=10):
    """fn() once it reaches want (packets still in a NAPI queue), or its last value."""
    end = time.monotonic() + seconds
    got = fn()
    while got < want and time.monotonic() < end:
        time.sleep(0.05)
        got = fn()
    return got


@pytest.fixture
def host_container(netns):
    h, c = netns("h"), netns("c")
    veth(h, "vh", c, "vc", ("10.5.0.1/24",), ("10.5.0.2/24",))
    veth(h, "vh2", c, "vc2", ("10.6.0.1/24",), ("10.6.0.2/24",))
    # 10.7.0.0/24 lies behind the container, which sends it back by vc2
    h.run("ip route add 10.7.0.0/24 via 10.5.0.2")
    c.run("ip route add 10.7.0.0/24 via 10.6.0.1")
    c.run("sysctl -qw net.ipv4.ip_forward=1")
    c.run("sysctl -qw net.ipv4.conf.all.rp_filter=0")
    # veth hands frames to a peer only while the peer has XDP (or GRO) on
    for ns, dev in ((h, "vh"), (h, "vh2"), (c, "vc2")):
        ns.run(f"ethtool -K {dev} gro on")
    return h, c


def check_host_sees_none(h, reader, bounce):
    udp_send(h, "10.7.0.9", 9000, b"x", count=N)
    assert wait_for(bounce.tagged, N) == N, "the container did not tag"
    assert wait_for(lambda: reader.info(0), N) >= N, "the frames did not reach the host"
    assert reader.info(1) == 0, "the host saw the container's traits"
    assert reader.traits() == {}


@pytest.mark.parametrize("mode", ["xdpdrv", "xdpgeneric"])
def test_container_xdp_tx_does_not_steer_the_host(host_container, bouncer,
                                                  xdp_tagger, tc_reader, mode):
    h, c = host_container
    xdp_tagger(h, "vh")                  # the host's own XDP only passes
    reader = tc_reader(h, "vh")
    bounce = bouncer(c, "vc", mode, TX)
    check_host_sees_none(h, reader, bounce)


@pytest.mark.parametrize("action", [REDIRECT, DEVMAP], ids=["redirect", "devmap"])
@pytest.mark.parametrize("mode", ["xdpdrv", "xdpgeneric"])
def test_container_xdp_redirect_does_not_steer_the_host(host_container, bouncer,
                                                        xdp_tagger, tc_reader,
                                                        mode, action):
    h, c = host_container
    xdp_tagger(h, "vh2")
    reader = tc_reader(h, "vh2")
    out = ifindex(c, "vc2")
    bounce = bouncer(c, "vc", mode, action, out)
    if action == DEVMAP:
        # the devmap resolves the ifindex in the updater's namespace
        c.run(f"bpftool map update pinned {bounce.map_path('devs')} "
              f"key 0 0 0 0 value {' '.join(str(b) for b in struct.pack('=I', out))}")
    check_host_sees_none(h, reader, bounce)


def test_container_cpumap_does_not_steer_the_host(host_container, bouncer,
                                                  tc_reader):
    h, c = host_container
    reader = tc_reader(h, "vh2")
    bounce = bouncer(c, "vc", "xdpdrv", CPUMAP)
    bounce.update("cpus", struct.pack("=I", 0), struct.pack("=Ii", 64, 0))
    check_host_sees_none(h, reader, bounce)


def test_host_xdp_does_not_read_the_containers_block(host_container, bouncer,
                                                     xdp_tagger):
    h, c = host_container
    tagger = xdp_tagger(h, "vh")
    bouncer(c, "vc", "xdpdrv", TX)
    # the bounced frame reaches the host's XDP program, which reads trait 3
    udp_send(h, "10.5.0.2", 7777, cmd("get", 3, 4))
    assert wait_for(lambda: tagger.stat(2), 1) == 1
    assert tagger.result(0)[0] == -2          # -ENOENT, not the container's 4


def test_redirect_within_a_namespace_keeps_the_traits(netns, bouncer, xdp_tagger,
                                                      tc_reader):
    # the control for the tests above: the same frames, redirected between
    # two veths of one namespace, keep their traits
    s, m = netns("s"), netns("m")
    veth(s, "s0", m, "m0", ("10.5.0.1/24",), ("10.5.0.2/24",))
    sh_pair = "ip link add m1 type veth peer name m2"
    m.run(sh_pair)
    m.run("ip link set m1 up")
    m.run("ip link set m2 up")
    xdp_tagger(m, "m2")
    reader = tc_reader(m, "m2")
    bounce = bouncer(m, "m0", "xdpdrv", REDIRECT, ifindex(m, "m1"))
    udp_send(s, "10.5.0.2", 9000, b"x", count=N)
    assert wait_for(lambda: reader.info(1), N) == N
    assert reader.traits() == {3: (4, 33)}
    assert bounce.tagged() == N


def test_a_block_left_in_the_metadata_is_not_read_in_the_next_namespace(
        netns, xdp_tagger, tc_reader):
    # r's XDP program writes two blocks by hand: the hand-over in r takes
    # the last (key 4) and leaves the other (key 9) as the program's own
    # metadata; r forwards to b, whose receive path must not hand it over
    # as b's own trait
    from bpftool import raw_block
    a, r, b = netns("a"), netns("r"), netns("b")
    veth(a, "a0", r, "r0", ("10.1.0.1/24",), ("10.1.0.254/24",))
    veth(r, "r1", b, "b0", ("10.2.0.254/24",), ("10.2.0.1/24",))
    a.run("ip route add default via 10.1.0.254")
    b.run("ip route add default via 10.2.0.254")
    r.run("sysctl -qw net.ipv4.ip_forward=1")
    xdp_tagger(r, "r0")
    at_r, at_b = tc_reader(r, "r0"), tc_reader(b, "b0")
    inner = (struct.pack("=QQI", 1 << 9, 0, 99) +
             struct.pack("=IHH", 0x74726169, 1, 16 + 4 + 8))
    udp_send(a, "10.2.0.1", 7778, raw_block(1 << 4, 0, struct.pack("=I", 77),
                                            prefix=inner))
    assert wait_for(lambda: at_b.info(0), 1) == 1
    assert at_b.traits() == {}
    assert at_b.info(2) == 0                  # no metadata crossed over
    assert at_r.traits() == {4: (4, 77)}
    assert at_r.info(2) == len(inner)         # r's TC still sees its metadata
