# nftables rules match and set traits: the `trait` expression on real
# traffic tagged by XDP, programmed over netlink (tests/nftnl.py) the way a
# patched nft does; tables, chains, sets and counters come from Debian's nft.

import pytest

import nftnl as n
from conftest import Nft, sh, udp_send, veth

BIG = 0x1122334455667788
UDP = [n.meta_load(n.NFT_META_L4PROTO), n.cmp("==", b"\x11")]


@pytest.fixture
def tagged(pair, xdp_tagger):
    """a -> b with XDP on b's veth; a has two more source addresses."""
    a, b = pair
    a.run("ip addr add 10.0.0.11/24 dev va")
    a.run("ip addr add 10.0.0.12/24 dev va")
    a.run("ip addr add fd00::11/64 dev va nodad")
    tagger = xdp_tagger(b, "vb")
    return a, b, tagger


def send(a, src, dst="10.0.0.2", count=3):
    udp_send(a, dst, 9000, b"x", count=count, src=src)


def input_table(b, family="inet"):
    t = Nft(b, family)
    t.chain("in", "input")
    return t


def test_equal_and_not_equal(tagged):
    a, b, tagger = tagged
    tagger.tag("10.0.0.1", (7, 4, 1))
    tagger.tag("10.0.0.11", (7, 4, 2))
    t = input_table(b)
    t.counter("eq")
    t.counter("ne")
    t.rule("in", n.trait_load(7), n.cmp("==", n.host(1)), n.counter("c_eq"))
    t.rule("in", n.trait_load(7), n.cmp("!=", n.host(1)), n.counter("c_ne"))
    send(a, "10.0.0.1", count=3)
    send(a, "10.0.0.11", count=2)
    send(a, "10.0.0.12", count=4)          # untagged: matches neither
    assert (t.packets("eq"), t.packets("ne")) == (3, 2)


def test_ipv6_match(tagged):
    a, b, tagger = tagged
    tagger.tag("fd00::1", (7, 4, 1))
    t = input_table(b)
    t.counter("eq")
    t.rule("in", *UDP, n.trait_load(7), n.cmp("==", n.host(1)), n.counter("c_eq"))
    send(a, "fd00::1", "fd00::2", count=3)
    send(a, "fd00::11", "fd00::2", count=2)
    assert t.packets("eq") == 3          # neighbour discovery is not UDP


def test_range_and_mask(tagged):
    a, b, tagger = tagged
    tagger.tag("10.0.0.1", (7, 4, 0x15))
    tagger.tag("10.0.0.11", (7, 4, 0x25))
    t = input_table(b)
    for c in ("rng", "outside", "mask"):
        t.counter(c)
    t.rule("in", n.trait_load(7), n.byteorder_hton(4), n.rng(0x10, 0x1f),
           n.counter("c_rng"))
    t.rule("in", n.trait_load(7), n.byteorder_hton(4),
           n.rng(0x10, 0x1f, neg=True), n.counter("c_outside"))
    t.rule("in", n.trait_load(7), n.bitwise_and(0xf0), n.cmp("==", n.host(0x20)),
           n.counter("c_mask"))
    send(a, "10.0.0.1", count=2)
    send(a, "10.0.0.11", count=3)
    assert (t.packets("rng"), t.packets("outside"), t.packets("mask")) == (2, 3, 3)


def test_named_set_and_vmap(tagged):
    a, b, tagger = tagged
    tagger.tag("10.0.0.1", (3, 4, 1))
    tagger.tag("10.0.0.11", (3, 4, 2))
    tagger.tag("10.0.0.12", (3, 4, 5))
    t = input_table(b)
    t.nft("add set inet t s '{ type mark; elements = { 1, 5 }; }'")
    t.nft("add map inet t vm '{ type mark : verdict; elements = { 1 : accept, 2 : drop }; }'")
    t.counter("inset")
    t.counter("after")
    t.rule("in", n.trait_load(3), n.lookup("s"), n.counter("c_inset"))
    t.rule("in", n.trait_load(3), n.lookup("vm", dreg=n.NFT_REG_VERDICT))
    t.rule("in", n.counter("c_after"))
    send(a, "10.0.0.1", count=1)
    send(a, "10.0.0.12", count=2)
    assert t.packets("inset") == 3
    assert t.packets("after") == 2                # 5 is not in the vmap
    a.ping("10.0.0.2", count=1, extra="-I 10.0.0.1")
    assert a.ping("10.0.0.2", count=2, check=False,
                  extra="-I 10.0.0.11").returncode != 0   # trait 3 == 2: drop


def test_eight_byte_values_and_zero_extension(tagged):
    a, b, tagger = tagged
    tagger.tag("10.0.0.1", (9, 8, BIG), (7, 4, 1))
    t = input_table(b)
    for c in ("big", "wide4", "narrow8"):
        t.counter(c)
    t.rule("in", n.trait_load(9, 8), n.cmp("==", n.host(BIG, 8)), n.counter("c_big"))
    # a 4-byte value loads zero-extended into 8 bytes
    t.rule("in", n.trait_load(7, 8), n.cmp("==", n.host(1, 8)), n.counter("c_wide4"))
    # an 8-byte value too big for a 4-byte load: no match
    t.rule("in", n.trait_load(9, 4), n.counter("c_narrow8"))
    send(a, "10.0.0.1", count=2)
    assert (t.packets("big"), t.packets("wide4"), t.packets("narrow8")) == (2, 2, 0)


def test_values_compare_as_numbers_and_flags_equal_no_value(tagged):
    # the contract ip rule and the BPF helpers share: an 8-byte 5 is 5 for
    # a 4-byte load, and a flag matches neither == 0 nor != 0
    a, b, tagger = tagged
    tagger.tag("10.0.0.1", (9, 8, 5), (4, 0, 0))
    t = input_table(b)
    for c in ("five4", "five8", "flag_eq0", "flag_ne0", "flag_eq0_8"):
        t.counter(c)
    t.rule("in", n.trait_load(9, 4), n.cmp("==", n.host(5)), n.counter("c_five4"))
    t.rule("in", n.trait_load(9, 8), n.cmp("==", n.host(5, 8)), n.counter("c_five8"))
    t.rule("in", n.trait_load(4, 4), n.cmp("==", n.host(0)), n.counter("c_flag_eq0"))
    t.rule("in", n.trait_load(4, 4), n.cmp("!=", n.host(0)), n.counter("c_flag_ne0"))
    t.rule("in", n.trait_load(4, 8), n.cmp("==", n.host(0, 8)), n.counter("c_flag_eq0_8"))
    send(a, "10.0.0.1", count=2)
    assert [t.packets(c) for c in ("five4", "five8", "flag_eq0", "flag_ne0",
                                   "flag_eq0_8")] == [2, 2, 0, 0, 0]


def test_exists_and_missing(tagged):
    a, b, tagger = tagged
    tagger.tag("10.0.0.1", (4, 0, 0))             # a flag
    t = input_table(b)
    t.counter("exists")
    t.counter("missing")
    t.rule("in", n.trait_present(4), n.cmp("==", b"\1"), n.counter("c_exists"))
    t.rule("in", n.trait_present(4), n.cmp("==", b"\0"), n.counter("c_missing"))
    send(a, "10.0.0.1", count=2)
    send(a, "10.0.0.11", count=3)
    assert (t.packets("exists"), t.packets("missing")) == (2, 3)


def test_set_then_match_in_a_later_chain_and_meta_mark_from_trait(tagged):
    a, b, tagger = tagged
    tagger.tag("10.0.0.1", (7, 4, 9))
    t = Nft(b)
    t.chain("pre", "prerouting", -150)
    t.chain("in", "input")
    t.counter("set")
    t.counter("mark")
    # untagged packets get trait 5 = 42 from nftables itself
    t.rule("pre", n.immediate(n.host(42)), n.trait_set(5))
    t.rule("pre", n.trait_load(7), n.meta_set(n.NFT_META_MARK))
    t.rule("in", n.trait_load(5), n.cmp("==", n.host(42)), n.counter("c_set"))
    t.nft("add rule inet t in meta mark 9 counter name c_mark")
    send(a, "10.0.0.11", count=2)
    send(a, "10.0.0.1", count=3)
    assert t.packets("set") == 5
    assert t.packets("mark") == 3


def test_set_exists_makes_a_flag_and_set_missing_deletes(tagged):
    # `meta trait 4 set exists` and `meta trait 7 set missing`: expressions
    # with neither register, NFT_TRAIT_F_FLAG and NFT_TRAIT_F_DELETE
    a, b, tagger = tagged
    tagger.tag("10.0.0.1", (7, 4, 1), (4, 4, 9))
    t = Nft(b)
    t.chain("pre", "prerouting", -150)
    t.chain("in", "input")
    for c in ("udp", "seven", "four", "four_value"):
        t.counter(c)
    t.rule("pre", *UDP, n.trait_flag(4))
    t.rule("pre", *UDP, n.trait_delete(7))
    t.rule("in", *UDP, n.counter("c_udp"))
    t.rule("in", n.trait_present(7), n.cmp("==", b"\1"), n.counter("c_seven"))
    t.rule("in", n.trait_present(4), n.cmp("==", b"\1"), n.counter("c_four"))
    t.rule("in", n.trait_load(4, 8), n.counter("c_four_value"))
    send(a, "10.0.0.1", count=3)
    # untagged: deleting an absent trait drops nothing; the flag is set
    send(a, "10.0.0.11", count=2)
    got = [t.packets(c) for c in ("udp", "seven", "four", "four_value")]
    assert got == [5, 0, 5, 0]


def test_rules_after_a_change_in_the_same_walk_read_the_new_value(tagged):
    # A walk of a base chain reads a key's value once for the rules that
    # load it; setting, flagging or deleting the key (here, or in a chain
    # jumped to) must make the next load read it again.
    a, b, tagger = tagged
    tagger.tag("10.0.0.1", (7, 4, 1))
    t = input_table(b)
    t.nft("add chain inet t sub")
    names = ("before", "set", "jumped", "deleted", "four", "flag_value", "flag")
    for c in names:
        t.counter(c)
    t.rule("in", *UDP, n.trait_load(7), n.cmp("==", n.host(1)), n.counter("c_before"))
    t.rule("in", *UDP, n.immediate(n.host(2)), n.trait_set(7))
    t.rule("in", n.trait_load(7), n.cmp("==", n.host(2)), n.counter("c_set"))
    t.nft("add rule inet t in meta l4proto udp jump sub")
    t.rule("sub", n.immediate(n.host(3)), n.trait_set(7))
    t.rule("in", n.trait_load(7), n.cmp("==", n.host(3)), n.counter("c_jumped"))
    t.rule("in", *UDP, n.trait_delete(7))
    t.rule("in", n.trait_load(7), n.counter("c_deleted"))
    t.rule("in", *UDP, n.immediate(n.host(4)), n.trait_set(7))
    t.rule("in", n.trait_load(7), n.cmp("==", n.host(4)), n.counter("c_four"))
    t.rule("in", *UDP, n.trait_flag(7))
    t.rule("in", n.trait_load(7), n.counter("c_flag_value"))
    t.rule("in", n.trait_present(7), n.cmp("==", b"\1"), n.counter("c_flag"))
    send(a, "10.0.0.1", count=3)
    assert [t.packets(c) for c in names] == [3, 3, 3, 0, 3, 0, 3]


def test_tc_set_trait_is_matched_by_nft(tagged, tc_reader):
    a, b, tagger = tagged
    reader = tc_reader(b, "vb")
    reader.write("set", 9, 4, 77)
    t = input_table(b)
    t.counter("c")
    t.rule("in", n.trait_load(9), n.cmp("==", n.host(77)), n.counter("c_c"))
    send(a, "10.0.0.12", count=2)
    assert t.packets("c") == 2


@pytest.mark.parametrize("family,hook,src,dst", [
    ("ip", "input", "10.0.0.1", "10.0.0.2"),
    ("ip6", "input", "fd00::1", "fd00::2"),
    ("inet", "input", "fd00::1", "fd00::2"),
    ("netdev", "ingress", "10.0.0.1", "10.0.0.2"),
    ("bridge", "input", "fd00::1", "fd00::2"),
])
def test_every_family(netns, xdp_tagger, family, hook, src, dst):
    a, b = netns("a"), netns("b")
    veth(a, "va", b, "vb", ("10.0.0.1/24", "fd00::1/64"))
    dev = "vb"
    if family == "bridge":
        b.run("ip link add br0 type bridge")
        b.run("ip link set vb master br0")
        b.run("ip link set br0 up")
        dev = "br0"
    for addr in ("10.0.0.2/24", "fd00::2/64"):
        b.run(f"ip addr add {addr} dev {dev}{' nodad' if ':' in addr else ''}")
    tagger = xdp_tagger(b, "vb")
    tagger.tag("10.0.0.1", (7, 4, 1))
    tagger.tag("fd00::1", (7, 4, 1))
    t = Nft(b, family)
    t.chain("c", hook, device="vb" if family == "netdev" else None)
    t.counter("c")
    t.rule("c", *UDP, n.trait_load(7), n.cmp("==", n.host(1)), n.counter("c_c"))
    send(a, src, dst, count=3)
    assert t.packets("c") == 3


@pytest.mark.parametrize("exprs,message", [
    ([n.trait_raw(n.be32(n.NFTA_TRAIT_KEY, 64), n.be32(n.NFTA_TRAIT_DREG, 1),
                  n.be32(n.NFTA_TRAIT_LEN, 4))], "key must be 0-63"),
    ([n.trait_raw(n.be32(n.NFTA_TRAIT_KEY, 1), n.be32(n.NFTA_TRAIT_DREG, 1),
                  n.be32(n.NFTA_TRAIT_LEN, 5))], "length must be 4 or 8"),
    ([n.trait_raw(n.be32(n.NFTA_TRAIT_KEY, 1), n.be32(n.NFTA_TRAIT_DREG, 1),
                  n.be32(n.NFTA_TRAIT_SREG, 1), n.be32(n.NFTA_TRAIT_LEN, 4))],
     "exactly one of DREG and SREG"),
    ([n.trait_raw(n.be32(n.NFTA_TRAIT_KEY, 1), n.be32(n.NFTA_TRAIT_LEN, 4))],
     "exactly one of DREG and SREG"),
    ([n.trait_raw(n.be32(n.NFTA_TRAIT_KEY, 1), n.be32(n.NFTA_TRAIT_DREG, 1),
                  n.be32(n.NFTA_TRAIT_LEN, 4), n.be32(n.NFTA_TRAIT_FLAGS, 8))],
     "unknown flags"),
    ([n.trait_raw(n.be32(n.NFTA_TRAIT_KEY, 1), n.be32(n.NFTA_TRAIT_FLAGS, 6))],
     "delete, flag and present exclude each other"),
    ([n.trait_raw(n.be32(n.NFTA_TRAIT_KEY, 1), n.be32(n.NFTA_TRAIT_LEN, 4),
                  n.be32(n.NFTA_TRAIT_FLAGS, n.NFT_TRAIT_F_DELETE))],
     "no length with delete or flag"),
    ([n.trait_raw(n.be32(n.NFTA_TRAIT_KEY, 1), n.be32(n.NFTA_TRAIT_SREG, 1),
                  n.be32(n.NFTA_TRAIT_FLAGS, n.NFT_TRAIT_F_FLAG))],
     "delete and flag take no register"),
    ([n.trait_raw(n.be32(n.NFTA_TRAIT_KEY, 64),
                  n.be32(n.NFTA_TRAIT_FLAGS, n.NFT_TRAIT_F_DELETE))],
     "key must be 0-63"),
    ([n.trait_raw(n.be32(n.NFTA_TRAIT_KEY, 1), n.be32(n.NFTA_TRAIT_DREG, 1),
                  n.be32(n.NFTA_TRAIT_LEN, 4), n.be32(n.NFTA_TRAIT_FLAGS, 1))],
     "length must be 1 with the present flag"),
    ([n.trait_raw(n.be32(n.NFTA_TRAIT_DREG, 1), n.be32(n.NFTA_TRAIT_LEN, 4))],
     "key is required"),
    ([n.trait_raw(n.be32(n.NFTA_TRAIT_KEY, 1), n.be32(n.NFTA_TRAIT_DREG, 1))],
     "length is required"),
])
def test_bad_attributes_are_refused_with_a_message(netns, exprs, message):
    b = netns("b")
    t = input_table(b)
    with pytest.raises(n.NftError, match=message):
        t.rule("in", *exprs)
    assert b.call(n.rule_count, "inet", "t", "in") == 0


def test_module_is_refcounted_by_rules(netns):
    b = netns("b")
    t = input_table(b)
    t.rule("in", n.trait_load(7), n.cmp("==", n.host(1)))
    p = sh("modprobe -r nft_meta_trait", check=False)
    assert p.returncode != 0
    b.run("nft flush chain inet t in")
    b.run("nft delete table inet t")
    sh("sleep 1")
    sh("modprobe -r nft_meta_trait")
    assert "nft_meta_trait" not in open("/proc/modules").read()


def test_ct_mark_set_from_trait(tagged):
    a, b, tagger = tagged
    tagger.tag("10.0.0.1", (7, 4, 9))
    t = Nft(b)
    t.chain("pre", "prerouting", -150)
    t.chain("in", "input")
    t.counter("ct")
    t.rule("pre", n.trait_load(7), n.ct_set(n.NFT_CT_MARK))
    t.nft("add rule inet t in ct mark 9 counter name c_ct")
    send(a, "10.0.0.1", count=3)
    send(a, "10.0.0.11", count=2)
    assert t.packets("ct") == 3
