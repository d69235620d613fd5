# Traits set in XDP reach the skb: what TC sees after the hand-over.
import struct

import pytest

from bpftool import cmd, raw_block
from conftest import gre_path, netstat, tcp_transfer, udp_send, veth

BIG = 0x1122334455667788


@pytest.mark.parametrize("mode", ["xdpdrv", "xdpgeneric"])
def test_traits_set_in_xdp_are_seen_by_tc(pair, xdp_tagger, tc_reader, mode):
    a, b = pair
    tagger = xdp_tagger(b, "vb", mode)
    reader = tc_reader(b, "vb")
    tagger.tag("10.0.0.1", (7, 4, 1), (9, 8, BIG), (63, 0, 0))
    udp_send(a, "10.0.0.2", 9000, b"x")
    assert reader.traits() == {7: (4, 1), 9: (8, BIG), 63: (0, 0)}
    # the block was removed: TC sees no metadata
    assert reader.info(2) == 0


def test_ipv6_packets_get_traits_too(pair, xdp_tagger, tc_reader):
    a, b = pair
    tagger = xdp_tagger(b, "vb")
    reader = tc_reader(b, "vb")
    tagger.tag("fd00::1", (0, 4, 42))
    udp_send(a, "fd00::2", 9000, b"x")
    assert reader.traits() == {0: (4, 42)}


def test_untagged_packets_carry_no_traits(pair, xdp_tagger, tc_reader):
    a, b = pair
    xdp_tagger(b, "vb")
    reader = tc_reader(b, "vb")
    udp_send(a, "10.0.0.2", 9000, b"x")
    assert reader.info(0) >= 1
    assert reader.traits() == {}


def test_xdp_kfuncs_report_errors(pair, xdp_tagger, tc_reader):
    a, b = pair
    tagger = xdp_tagger(b, "vb")
    reader = tc_reader(b, "vb")
    udp_send(a, "10.0.0.2", 7777, b"".join([
        cmd("set", 64, 4, 1),            # bad key
        cmd("set", 1, 3, 1),             # bad size
        cmd("set", 1, 4, 1, flags=2),    # unknown flag
        cmd("set", 1, 4, 5),
        cmd("set", 1, 8, 6),             # other size without replace
        cmd("get", 1, 8),
        cmd("del", 2),                   # absent
        cmd("get", 2, 8),                # absent
    ]))
    got = [tagger.result(i)[0] for i in range(8)]
    assert got == [-22, -22, -22, 0, -16, 4, -2, -2]
    assert tagger.result(5)[1] == 5
    assert reader.traits() == {1: (4, 5)}


def test_trait_get_zeroes_what_the_value_does_not_fill(pair, xdp_tagger, tc_reader):
    # both programs fill their 8-byte buffers with ones before the call
    a, b = pair
    tagger = xdp_tagger(b, "vb")
    reader = tc_reader(b, "vb")
    udp_send(a, "10.0.0.2", 7777, b"".join([
        cmd("set", 1, 4, 5), cmd("set", 2, 0),
        cmd("get", 1, 8),                # 4 bytes into 8
        cmd("get", 2, 8),                # a flag: nothing to copy
        cmd("get", 3, 8),                # absent
        cmd("get", 64, 8),               # bad key
    ]))
    assert [tagger.result(i) for i in range(2, 6)] == [
        (4, 5), (0, 0), (-2, 0), (-22, 0)]
    assert reader.seen(1) == (4, 5)
    assert reader.seen(2) == (0, 0)
    assert reader.seen(3) == (-2, 0)


def test_xdp_kfuncs_fill_capacity_replace_and_delete(pair, xdp_tagger, tc_reader):
    a, b = pair
    tagger = xdp_tagger(b, "vb")
    reader = tc_reader(b, "vb")
    # 64 bytes of values by default: eight 8-byte traits fill the store
    udp_send(a, "10.0.0.2", 7777, b"".join(
        [cmd("set", k, 8, 100 + k) for k in range(8)] +
        [cmd("set", 20, 4, 1), cmd("set", 21, 0)]))
    assert [tagger.result(i)[0] for i in range(10)] == [0] * 8 + [-28, 0]
    want = {k: (8, 100 + k) for k in range(8)}
    want[21] = (0, 0)
    assert reader.traits() == want
    udp_send(a, "10.0.0.2", 7777, b"".join([
        cmd("set", 1, 8, 11), cmd("set", 2, 8, 12), cmd("set", 3, 8, 13),
        cmd("del", 2), cmd("set", 1, 4, 21, flags=1), cmd("set", 5, 0),
    ]))
    assert [tagger.result(i)[0] for i in range(6)] == [0] * 6
    assert reader.traits() == {1: (4, 21), 3: (8, 13), 5: (0, 0)}


def test_program_metadata_stays_adjacent_to_mac_header(pair, xdp_tagger, tc_reader):
    a, b = pair
    xdp_tagger(b, "vb")
    reader = tc_reader(b, "vb")
    own = struct.pack("=I", 0xfeedf00d)
    # key 4: four bytes (high bit 4)
    udp_send(a, "10.0.0.2", 7778,
             raw_block(1 << 4, 0, struct.pack("=I", 77), prefix=own))
    assert reader.traits() == {4: (4, 77)}
    assert reader.info(2) == 4
    assert reader.info(3) == 0xfeedf00d


@pytest.mark.parametrize("block", [
    raw_block(1 << 4, 0, struct.pack("=I", 1), version=2),
    raw_block(1 << 4, 0, struct.pack("=I", 1), length=200),      # past meta
    raw_block(1 << 4, 0, struct.pack("=I", 1), length=20),       # too short
    raw_block(1 << 4, 1 << 4, struct.pack("=I", 1)),             # 8 != 4
    raw_block(0xff, 0xff, b"\0" * 8),                            # 64 != 8
], ids=["version", "past-metadata", "too-short", "bitmaps-vs-length",
        "bitmaps-vs-length-2"])
def test_malformed_blocks_are_counted_and_ignored(pair, xdp_tagger, tc_reader,
                                                  block):
    a, b = pair
    xdp_tagger(b, "vb")
    reader = tc_reader(b, "vb")
    before = netstat(b, "TraitsInvalid")
    udp_send(a, "10.0.0.2", 7778, block)
    assert reader.info(0) >= 1
    assert reader.traits() == {}
    assert netstat(b, "TraitsInvalid") == before + 1
    # an invalid block is left where it was, for the program that wrote it
    assert reader.info(2) == struct.unpack_from("=I", block)[0]


def test_foreign_metadata_is_not_a_block(pair, xdp_tagger, tc_reader):
    a, b = pair
    xdp_tagger(b, "vb")
    reader = tc_reader(b, "vb")
    before = netstat(b, "TraitsInvalid")
    udp_send(a, "10.0.0.2", 7778, raw_block(1 << 4, 0, b"\1\0\0\0", magic=0x12345678))
    assert reader.traits() == {}
    assert netstat(b, "TraitsInvalid") == before
    assert reader.info(2) == 28


def test_metadata_longer_than_the_headroom_is_counted_not_read(pair, xdp_tagger):
    # A metadata length survives a header push: TC pushes PUSH bytes in
    # front of the MAC header of a packet that kept 28 bytes of foreign
    # metadata, and redirects it out of x0; x1 receives it claiming more
    # metadata than the headroom left. The hand-over counts and clears the
    # length instead of reading in front of skb->head (where it found no
    # block, and so counted nothing). A push larger than the headroom
    # reallocates the head, which clears the metadata: the pushes are
    # chosen around the 256 bytes veth's XDP leaves, so at least one fits
    # and leaves less than 28.
    from bpftool import TcProgram
    a, b = pair
    xdp_tagger(b, "vb")
    b.run("ip link add x0 type veth peer name x1")
    for dev in ("x0", "x1"):                      # no ND: x1 sees only ours
        b.run(f"sysctl -qw net.ipv6.conf.{dev}.disable_ipv6=1")
        b.run(f"ip link set {dev} up")
    pusher = TcProgram("tc_push_redirect.bpf.o", b, "vb")
    try:
        ifindex = b.json("ip -j link show dev x0")[0]["ifindex"]
        foreign = raw_block(1 << 4, 0, b"\1\0\0\0", magic=0x12345678)
        invalid, rx = netstat(b, "TraitsInvalid"), b.link_stats("x1")[0]
        for push in (232, 240, 248, 256):
            pusher.update("cfg", struct.pack("=I", 0), struct.pack("=II", ifindex, push))
            udp_send(a, "10.0.0.2", 7778, foreign)
        assert b.link_stats("x1")[0] - rx == 4
        assert netstat(b, "TraitsInvalid") - invalid >= 1
    finally:
        pusher.detach()


def test_stale_data_meta_pointer_is_rejected_by_the_verifier():
    from conftest import bpf_obj, sh
    p = sh(f"bpftool prog load {bpf_obj('xdp_stale_meta.bpf.o')} "
           "/run/bpffs/stale type xdp", check=False)
    assert p.returncode != 0
    assert "invalid mem access 'scalar'" in p.stderr, p.stderr


@pytest.mark.parametrize("kind,ptype", [("socket", "socket"),
                                        ("cgroup", "cgroup/skb")])
def test_socket_and_cgroup_programs_may_read_but_not_write(kind, ptype):
    from conftest import bpf_obj, sh
    p = sh(f"bpftool prog load {bpf_obj(kind + '_trait_set.bpf.o')} "
           f"/run/bpffs/{kind}set type {ptype}", check=False)
    assert p.returncode != 0
    assert "calling kernel function bpf_skb_trait_set is not allowed" in p.stderr, \
        p.stderr
    sh(f"bpftool prog load {bpf_obj(kind + '_trait_get.bpf.o')} "
       f"/run/bpffs/{kind}get type {ptype}")
    sh(f"rm -f /run/bpffs/{kind}get")


@pytest.mark.parametrize("src,dst", [("10.0.0.1", "10.0.0.2"), ("fd00::1", "fd00::2")])
def test_tcp_segments_carry_traits(pair, xdp_tagger, src, dst):
    import nftnl as n
    a, b = pair
    xdp_tagger(b, "vb").tag(src, (7, 4, 1))
    b.run("nft add table inet t")
    b.run("nft add chain inet t in '{ type filter hook input priority 0; }'")
    b.run("nft add counter inet t segments")
    b.run("nft add counter inet t tagged")
    tcp = [n.meta_load(n.NFT_META_L4PROTO), n.cmp("==", b"\x06")]
    b.call(n.add_rules, "inet", "t", "in", [
        tcp + [n.counter("segments")],
        tcp + [n.trait_load(7), n.cmp("==", n.host(1)), n.counter("tagged")]])
    assert tcp_transfer(a, b, dst, 300_000) == 300_000
    out = b.json("nft -j list counters table inet t")
    got = {o["counter"]["name"]: o["counter"]["packets"]
           for o in out["nftables"] if "counter" in o}
    assert got["segments"] > 10 and got["tagged"] == got["segments"]


def test_tc_sets_and_deletes_traits(pair, xdp_tagger, tc_reader):
    a, b = pair
    tagger = xdp_tagger(b, "vb")
    reader = tc_reader(b, "vb")
    tagger.tag("10.0.0.1", (7, 4, 1))
    reader.write("del", 7)
    udp_send(a, "10.0.0.2", 9000, b"x")
    assert reader.info(5) == 0
    reader.write("del", 8)
    udp_send(a, "10.0.0.2", 9000, b"x")
    assert reader.info(5) == 2 ** 64 - 2          # -ENOENT
    reader.write("set", 9, 8, BIG)
    udp_send(a, "10.0.0.2", 9000, b"x")
    assert reader.info(4) == 0


def test_traits_cross_namespaces_only_when_the_receiver_opts_in(
        netns, xdp_tagger, tc_reader):
    a, r, b = netns("a"), netns("r"), netns("b")
    veth(a, "a0", r, "r0", ("10.1.0.1/24",), ("10.1.0.254/24",))
    veth(r, "r1", b, "b0", ("10.2.0.254/24",), ("10.2.0.1/24",))
    a.run("ip route add default via 10.1.0.254")
    b.run("ip route add default via 10.2.0.254")
    r.run("sysctl -qw net.ipv4.ip_forward=1")
    xdp_tagger(r, "r0").tag("10.1.0.1", (1, 4, 1), (3, 4, 3))
    xdp_tagger(b, "b0").tag("10.1.0.1", (1, 4, 5), (2, 4, 2))
    reader = tc_reader(b, "b0")
    udp_send(a, "10.2.0.1", 9000, b"x")
    # b sees only what was set in b
    assert reader.traits() == {1: (4, 5), 2: (4, 2)}
    b.run("sysctl -qw net.core.traits_cross_netns=1")
    udp_send(a, "10.2.0.1", 9000, b"x")
    # opted in: r's traits are kept and merged, b's replace the same keys
    assert reader.traits() == {1: (4, 5), 2: (4, 2), 3: (4, 3)}


def test_trait_survives_gre_encap_and_decap(netns, xdp_tagger, tc_reader):
    a, r1, r2, d = netns("a"), netns("r1"), netns("r2"), netns("d")
    gre_path(a, r1, r2, d)
    # r1 tags, then r1 -> gre -> r2 (decap) -> d: the traits were set in
    # r1's namespace, so d reads them only after opting in
    xdp_tagger(r1, "r0").tag("10.1.0.1", (7, 4, 1))
    d.run("sysctl -qw net.core.traits_cross_netns=1")
    reader = tc_reader(d, "d0")
    udp_send(a, "10.9.9.9", 9000, b"x")
    assert reader.info(0) >= 1
    assert reader.traits() == {7: (4, 1)}


@pytest.mark.parametrize("obj,ptype,message", [
    ("misuse_xdp_calls_skb_kfunc.bpf.o", "xdp",
     "calling kernel function bpf_skb_trait_get is not allowed"),
    ("misuse_unbounded_size.bpf.o", "xdp", "unbounded memory access"),
    ("misuse_rodata_buffer.bpf.o", "xdp", "len pair leads to invalid memory access"),
])
def test_kfunc_misuse_is_rejected_by_the_verifier(obj, ptype, message):
    from conftest import bpf_obj, sh
    p = sh(f"bpftool prog load {bpf_obj(obj)} /run/bpffs/misuse type {ptype}",
           check=False)
    sh("rm -f /run/bpffs/misuse")
    assert p.returncode != 0, f"{obj} was accepted"
    assert message in p.stderr, p.stderr
