# Traits stay with the packet: fragments, VXLAN and ip6gre tunnels, clones
# made for a packet socket, loopback; bpf_redirect_peer into another
# namespace does not carry them past its sysctl.
import struct
import subprocess
import time

from conftest import udp_send, veth


def router_pair(netns, mtu=None):
    """a -> r -> d; r forwards, d reads traits set in r (opted in)."""
    a, r, d = netns("a"), netns("r"), netns("d")
    veth(a, "a0", r, "r0", ("10.1.0.1/24", "fd01::1/64"), ("10.1.0.254/24", "fd01::254/64"))
    veth(r, "r1", d, "d0", ("10.2.0.254/24", "fd02::254/64"), ("10.2.0.1/24", "fd02::1/64"))
    if mtu:
        r.run(f"ip link set r1 mtu {mtu}")
        d.run(f"ip link set d0 mtu {mtu}")
    a.run("ip route add default via 10.1.0.254")
    a.run("ip -6 route add default via fd01::254")
    d.run("ip route add default via 10.2.0.254")
    d.run("ip -6 route add default via fd02::254")
    r.run("sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1")
    d.run("sysctl -qw net.core.traits_cross_netns=1")
    return a, r, d


def nft_count_trait(ns, key, value):
    """An nft input counter of packets whose trait key == value."""
    import nftnl as n
    ns.run("nft add table inet t")
    ns.run("nft add chain inet t in '{ type filter hook input priority 0; }'")
    ns.run("nft add counter inet t c")
    ns.call(n.add_rule, "inet", "t", "in", n.trait_load(key),
            n.cmp("==", n.host(value)), n.counter("c"))

    def packets():
        out = ns.json("nft -j list counter inet t c")
        return next(o["counter"]["packets"] for o in out["nftables"] if "counter" in o)
    return packets


def nft_count_udp(ns):
    """An nft input counter of UDP packets (after nft_count_trait)."""
    import nftnl as n
    ns.run("nft add counter inet t datagrams")
    ns.call(n.add_rule, "inet", "t", "in", n.meta_load(n.NFT_META_L4PROTO),
            n.cmp("==", b"\x11"), n.counter("datagrams"))

    def packets():
        out = ns.json("nft -j list counter inet t datagrams")
        return next(o["counter"]["packets"] for o in out["nftables"] if "counter" in o)
    return packets


def test_fragments_carry_traits_and_reassembly_keeps_them(netns, xdp_tagger, tc_reader):
    a, r, d = router_pair(netns, mtu=1280)
    # a sends one 3028-byte packet: only r fragments
    a.run("ip link set a0 mtu 4000")
    a.run("sysctl -qw net.ipv4.ip_no_pmtu_disc=1")    # no DF: r may fragment
    r.run("ip link set r0 mtu 4000")
    xdp_tagger(r, "r0", "xdpgeneric").tag("10.1.0.1", (7, 4, 1))
    reader = tc_reader(d, "d0")
    counted = nft_count_trait(d, 7, 1)
    # 3000 bytes over a 1280-byte link: r fragments into 3 packets
    udp_send(a, "10.2.0.1", 9000, b"z" * 3000)
    assert reader.info(0) == 3                    # fragments seen at d
    assert reader.info(1) == 3                    # every one with traits
    assert reader.traits() == {7: (4, 1)}
    assert counted() == 1                         # reassembled datagram


def test_trait_survives_vxlan_decap(netns, xdp_tagger, tc_reader):
    a, r1, r2, d = netns("a"), netns("r1"), netns("r2"), netns("d")
    veth(a, "a0", r1, "r0", ("10.1.0.1/24",), ("10.1.0.254/24",))
    veth(r1, "u1", r2, "u2", ("192.0.2.1/24",), ("192.0.2.2/24",))
    veth(r2, "d2", d, "d0", ("10.9.9.254/24",), ("10.9.9.9/24",))
    for r, local, remote, addr in ((r1, "192.0.2.1", "192.0.2.2", "10.9.0.1/30"),
                                   (r2, "192.0.2.2", "192.0.2.1", "10.9.0.2/30")):
        r.run(f"ip link add vx0 type vxlan id 42 local {local} remote {remote} dstport 4789")
        r.run(f"ip addr add {addr} dev vx0")
        r.run("ip link set vx0 up")
        r.run("sysctl -qw net.ipv4.ip_forward=1")
    a.run("ip route add default via 10.1.0.254")
    d.run("ip route add default via 10.9.9.254")
    r1.run("ip route add 10.9.9.0/24 via 10.9.0.2")
    xdp_tagger(r1, "r0").tag("10.1.0.1", (7, 4, 1), (9, 8, 2))
    d.run("sysctl -qw net.core.traits_cross_netns=1")
    reader = tc_reader(d, "d0")
    udp_send(a, "10.9.9.9", 9000, b"x")
    assert reader.info(0) >= 1
    assert reader.traits() == {7: (4, 1), 9: (8, 2)}


def test_trait_survives_ip6gre(netns, xdp_tagger, tc_reader):
    a, r1, r2, d = netns("a"), netns("r1"), netns("r2"), netns("d")
    veth(a, "a0", r1, "r0", ("fd01::1/64",), ("fd01::254/64",))
    veth(r1, "u1", r2, "u2", ("fd99::1/64",), ("fd99::2/64",))
    veth(r2, "d2", d, "d0", ("fd09::254/64",), ("fd09::9/64",))
    for r, local, remote, addr in ((r1, "fd99::1", "fd99::2", "fd98::1/64"),
                                   (r2, "fd99::2", "fd99::1", "fd98::2/64")):
        r.run(f"ip link add g6 type ip6gre local {local} remote {remote}")
        r.run(f"ip addr add {addr} dev g6 nodad")
        r.run("ip link set g6 up")
        r.run("sysctl -qw net.ipv6.conf.all.forwarding=1")
    a.run("ip -6 route add default via fd01::254")
    d.run("ip -6 route add default via fd09::254")
    r1.run("ip -6 route add fd09::/64 via fd98::2")
    r2.run("ip -6 route add fd01::/64 via fd98::1")
    xdp_tagger(r1, "r0").tag("fd01::1", (5, 4, 55))
    d.run("sysctl -qw net.core.traits_cross_netns=1")
    reader = tc_reader(d, "d0")
    udp_send(a, "fd09::9", 9000, b"x")
    assert reader.traits() == {5: (4, 55)}


def test_packet_socket_clones_do_not_take_the_traits_away(pair, xdp_tagger, tc_reader):
    a, b = pair
    xdp_tagger(b, "vb").tag("10.0.0.1", (7, 4, 1))
    reader = tc_reader(b, "vb")
    counted = nft_count_trait(b, 7, 1)
    cap = subprocess.Popen(["ip", "netns", "exec", b.name, "tcpdump", "-n", "-i", "vb",
                            "-c", "3", "udp port 9000"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        time.sleep(2)
        udp_send(a, "10.0.0.2", 9000, b"x", count=3)
        out, _ = cap.communicate(timeout=30)
    finally:
        cap.kill()
    assert out.count("UDP") == 3                  # the tap got its clones
    assert reader.info(1) == 3                    # TC still sees the traits
    assert counted() == 3                         # and so does nft


def test_loopback_keeps_traits_set_by_nft(netns):
    import nftnl as n
    b = netns("b")
    b.run("ip addr add 10.5.0.1/32 dev lo")
    b.run("nft add table inet t")
    b.run("nft add chain inet t out '{ type filter hook output priority 0; }'")
    b.run("nft add chain inet t in '{ type filter hook input priority 0; }'")
    b.run("nft add counter inet t c")
    for chain, exprs in (("out", [n.meta_load(n.NFT_META_L4PROTO), n.cmp("==", b"\x11"),
                                  n.immediate(n.host(3)), n.trait_set(6)]),
                         ("in", [n.trait_load(6), n.cmp("==", n.host(3)), n.counter("c")])):
        b.call(n.add_rule, "inet", "t", chain, *exprs)
    udp_send(b, "10.5.0.1", 9000, b"x", count=2)
    out = b.json("nft -j list counter inet t c")
    assert next(o["counter"]["packets"] for o in out["nftables"] if "counter" in o) == 2


def test_bpf_redirect_peer_keeps_netns_isolation(netns, xdp_tagger):
    from bpftool import TcProgram
    x, h, c = netns("x"), netns("h"), netns("c")
    veth(x, "x0", h, "hx", ("10.4.0.1/24",), ("10.4.0.254/24",))
    veth(h, "h0", c, "c0", (), ())
    # c0 answers to hx's MAC: the frame x addresses to its gateway is
    # then for c0 once h moves it across (no neighbour work in between)
    mac = h.json("ip -j link show hx")[0]["address"]
    c.run(f"ip link set c0 address {mac}")
    c.run("ip addr add 10.3.0.2/24 dev c0")
    x.run("ip route add 10.3.0.0/24 via 10.4.0.254")
    xdp_tagger(h, "hx").tag("10.4.0.1", (7, 4, 1))
    redirect = TcProgram("tc_redirect_peer.bpf.o", h, "hx")
    try:
        ifindex = h.json("ip -j link show h0")[0]["ifindex"]
        redirect.update("peer_of", struct.pack("=I", 0), struct.pack("=I", ifindex))
        tagged = nft_count_trait(c, 7, 1)
        udp = nft_count_udp(c)
        udp_send(x, "10.3.0.2", 9000, b"x", count=3)
        # set in h: c does not see them
        assert (udp(), tagged()) == (3, 0)
        c.run("sysctl -qw net.core.traits_cross_netns=1")
        udp_send(x, "10.3.0.2", 9000, b"x", count=3)
        assert (udp(), tagged()) == (6, 3)
    finally:
        redirect.detach()
