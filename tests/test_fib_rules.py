# Policy routing on traits: `ip rule add trait 7 value 1 table 100`, on a
# router whose ingress XDP program tags one client, with two uplinks.
import errno
import json
import shlex
import struct
import subprocess

import pytest

import nftnl as n
from conftest import sh, udp_send, veth

FRA_GOTO, FRA_PRIORITY, FRA_TABLE = 4, 6, 15
FRA_TRAIT_KEY, FRA_TRAIT_VALUE, FRA_TRAIT_MASK = 32, 33, 34
RTA_DST, RTA_IIF, RTA_TRAITS = 1, 3, 32
RTM_NEWRULE, RTM_DELRULE, RTM_GETROUTE = 32, 33, 26
FR_ACT_TO_TBL = 1


class Router:
    """client (10.1.0.1, .2, .3 / fd01::1, ::2) -> r -> uplink A or B.

    The main table leaves by uplink A, table 100 by uplink B; both reach
    198.51.100.1 / 2001:db8::1.
    """

    def __init__(self, netns, xdp_tagger):
        self.c, self.r = netns("c"), netns("r")
        self.ua, self.ub = netns("ua"), netns("ub")
        veth(self.c, "c0", self.r, "r0", ("10.1.0.1/24", "fd01::1/64"),
             ("10.1.0.254/24", "fd01::254/64"))
        for addr in ("10.1.0.2/24", "10.1.0.3/24", "fd01::2/64"):
            self.c.run(f"ip addr add {addr} dev c0" + (" nodad" if ":" in addr else ""))
        veth(self.r, "ua", self.ua, "eth0", ("10.10.0.1/24", "fd10::1/64"),
             ("10.10.0.2/24", "fd10::2/64"))
        veth(self.r, "ub", self.ub, "eth0", ("10.20.0.1/24", "fd20::1/64"),
             ("10.20.0.2/24", "fd20::2/64"))
        self.c.run("ip route add default via 10.1.0.254")
        self.c.run("ip -6 route add default via fd01::254")
        r = self.r
        r.run("sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1")
        r.run("ip route add default via 10.10.0.2")
        r.run("ip -6 route add default via fd10::2")
        r.run("ip route add default via 10.20.0.2 table 100")
        r.run("ip -6 route add default via fd20::2 table 100")
        for up in (self.ua, self.ub):
            up.run("ip addr add 198.51.100.1/32 dev lo")
            up.run("ip addr add 2001:db8::1/128 dev lo nodad")
            up.run("ip route add 10.1.0.0/24 via " +
                   ("10.10.0.1" if up is self.ua else "10.20.0.1"))
            up.run("ip -6 route add fd01::/64 via " +
                   ("fd10::1" if up is self.ua else "fd20::1"))
        self.tagger = xdp_tagger(r, "r0")

    def tx(self):
        """Packets r sent out of (uplink A, uplink B)."""
        return self.r.link_stats("ua")[1], self.r.link_stats("ub")[1]

    def send(self, src, count=5):
        dst = "2001:db8::1" if ":" in src else "198.51.100.1"
        before = self.tx()
        udp_send(self.c, dst, 9000, b"x", count=count, src=src)
        after = self.tx()
        return after[0] - before[0], after[1] - before[1]


@pytest.fixture
def router(netns, xdp_tagger):
    return Router(netns, xdp_tagger)


@pytest.mark.parametrize("family", ["4", "6"])
def test_tagged_class_leaves_by_uplink_b(router, family):
    tagged, untagged = ("10.1.0.1", "10.1.0.2") if family == "4" else ("fd01::1", "fd01::2")
    router.tagger.tag(tagged, (7, 4, 1))
    router.r.run(f"ip -{family} rule add trait 7 value 1 table 100")
    a, b = router.send(tagged, 10)
    assert b >= 10 and a < 3, (a, b)
    a, b = router.send(untagged, 10)
    assert a >= 10 and b < 3, (a, b)


def test_presence_rule_matches_flag_traits(router):
    router.tagger.tag("10.1.0.1", (8, 0, 0))
    router.r.run("ip rule add trait 8 table 100")
    assert router.send("10.1.0.1", 5)[1] >= 5
    assert router.send("10.1.0.2", 5)[0] >= 5


def test_value_rule_does_not_match_a_flag(router):
    router.tagger.tag("10.1.0.1", (8, 0, 0))
    router.r.run("ip rule add trait 8 value 0 table 100")
    assert router.send("10.1.0.1", 5)[0] >= 5


def test_inverted_and_mixed_rules_on_one_key(router):
    # Three rules in a row on key 7, one inverted: one read of the key
    # decides a value, a flag and an absent key differently.
    router.tagger.tag("10.1.0.1", (7, 4, 1))
    router.tagger.tag("10.1.0.2", (7, 0, 0))
    router.r.run("ip rule add pref 100 trait 7 value 2 table 100")
    router.r.run("ip rule add pref 101 not trait 7 table 100")
    router.r.run("ip rule add pref 102 trait 7 value 1 table 100")
    assert router.send("10.1.0.1", 5)[1] >= 5      # value 1: uplink B
    assert router.send("10.1.0.2", 5)[0] >= 5      # a flag: main, uplink A
    assert router.send("10.1.0.3", 5)[1] >= 5      # no key 7: uplink B


def test_masked_and_eight_byte_values(router):
    router.tagger.tag("10.1.0.1", (7, 4, 0x15))
    router.tagger.tag("10.1.0.2", (9, 8, 0x1122334455667788))
    router.tagger.tag("10.1.0.3", (7, 4, 0x25))
    router.r.run("ip rule add trait 7 value 0x10/0xf0 table 100")
    router.r.run("ip rule add trait 9 value 0x1122334455667788 table 100")
    assert router.send("10.1.0.1", 5)[1] >= 5
    assert router.send("10.1.0.2", 5)[1] >= 5
    assert router.send("10.1.0.3", 5)[0] >= 5


def test_fwmark_rule_with_higher_priority_wins(router):
    router.tagger.tag("10.1.0.1", (7, 4, 1))
    router.tagger.tag("10.1.0.3", (7, 4, 1))
    r = router.r
    r.run("nft add table ip m")
    r.run("nft add chain ip m pre '{ type filter hook prerouting priority mangle; }'")
    r.run("nft add rule ip m pre ip saddr 10.1.0.3 meta mark set 1")
    r.run("ip rule add pref 10 fwmark 1 table main")
    r.run("ip rule add pref 20 trait 7 value 1 table 100")
    assert router.send("10.1.0.1", 5)[1] >= 5
    assert router.send("10.1.0.3", 5)[0] >= 5


def test_local_delivery_is_steered_too(router):
    router.tagger.tag("10.1.0.1", (7, 4, 1))
    r = router.r
    # evaluate the trait rule before the local table
    r.run("ip rule add pref 100 lookup local")
    r.run("ip rule del pref 0")
    r.run("ip route add prohibit 10.1.0.254/32 table 200")
    r.run("ip rule add pref 10 trait 7 value 1 table 200")
    router.c.ping("10.1.0.254", count=2, extra="-I 10.1.0.2")
    assert router.c.ping("10.1.0.254", count=2, check=False,
                         extra="-I 10.1.0.1").returncode != 0


def test_rules_show_delete_and_json(router):
    r = router.r
    r.run("ip rule add pref 30 trait 7 table 100")
    r.run("ip rule add pref 31 trait 7 value 0x10/0xf0 table 100")
    r.run("ip rule add pref 32 trait 9 value 0x1122334455667788 table 100")
    text = r.run("ip rule show")
    assert "30:\tfrom all trait 7 lookup 100" in text
    # values in decimal, as nft lists them; masks in hex, as fwmark's
    assert "31:\tfrom all trait 7 value 16/0xf0 lookup 100" in text
    assert "32:\tfrom all trait 9 value 1234605616436508552 lookup 100" in text
    rules = {x["priority"]: x for x in json.loads(r.run("ip -j rule show"))}
    assert rules[30]["trait"] == 7 and "trait_value" not in rules[30]
    assert rules[31]["trait_value"] == 16 and rules[31]["trait_mask"] == "0xf0"
    assert rules[32]["trait_value"] == 0x1122334455667788
    # delete selects by trait, value and mask
    assert r.run("ip rule del trait 7 value 0x20/0xf0 table 100",
                 check=False).returncode != 0
    r.run("ip rule del trait 7 value 0x10/0xf0 table 100")
    prios = [x["priority"] for x in json.loads(r.run("ip -j rule show"))]
    assert 31 not in prios and 30 in prios and 32 in prios


@pytest.mark.parametrize("args", [
    "trait 64 table 100", "trait abc table 100", "trait 7 value garbage table 100",
    "trait 7 value 1/zz table 100", "trait table 100",
    # strtoull() skips blanks and takes a sign: these once reached the
    # kernel as all ones
    "trait 7 value ' -1' table 100", "trait 7 value +1 table 100",
    "trait 7 ' -1' table 100", "trait 7 value 0x/0xff table 100",
])
def test_bad_input_is_refused_and_adds_nothing(router, args):
    before = router.r.run("ip rule show")
    p = router.r.run(f"ip rule add {args}", check=False)
    assert p.returncode != 0
    assert p.stderr.strip()
    assert router.r.run("ip rule show") == before


def test_a_number_after_the_key_is_the_value(router):
    # it was read as the rule type: 6 is RTN_BLACKHOLE
    r = router.r
    r.run("ip rule add pref 40 trait 7 6 table 100")
    r.run("ip rule add pref 41 trait 8 0x10/0xf0 table 100")
    rules = {x["priority"]: x for x in json.loads(r.run("ip -j rule show"))}
    assert rules[40]["trait"] == 7 and rules[40]["trait_value"] == 6
    assert rules[40]["table"] == "100" and "action" not in rules[40]
    assert rules[41]["trait_value"] == 16 and rules[41]["trait_mask"] == "0xf0"
    assert "blackhole" not in r.run("ip rule show")
    r.run("ip rule del pref 40 trait 7 6 table 100")
    assert 40 not in [x["priority"] for x in json.loads(r.run("ip -j rule show"))]


def _rule_hdr(family=2, table=100, src_len=0):
    return struct.pack("=BBBBBBBBI", family, 0, src_len, 0, table, 0, 0, FR_ACT_TO_TBL, 0)


@pytest.mark.parametrize("family", [2, 10])
def test_support_probe_changes_nothing(netns, family):
    # ip asks with this before it adds, deletes or restores a trait rule:
    # the key's policy answers ERANGE before the invalid header (src_len
    # without FRA_SRC) is looked at; a kernel that ignores FRA_TRAIT_KEY
    # answers what the header alone gets, EINVAL
    r = netns("r")
    r.run(f"ip -{4 if family == 2 else 6} rule add pref 5 trait 7 table 100")
    before = r.run("ip rule show") + r.run("ip -6 rule show")
    with pytest.raises(n.NftError) as knows:
        r.call(n.rtnl, RTM_DELRULE, 0, _rule_hdr(family, src_len=255),
               n.attr(FRA_TRAIT_KEY, b"\xff"))
    assert knows.value.errno == errno.ERANGE
    with pytest.raises(n.NftError) as ignores:
        r.call(n.rtnl, RTM_DELRULE, 0, _rule_hdr(family, src_len=255))
    assert ignores.value.errno == errno.EINVAL
    assert "Invalid source address" in ignores.value.msg
    assert r.run("ip rule show") + r.run("ip -6 rule show") == before


@pytest.mark.parametrize("attrs,message", [
    ([n.attr(FRA_TRAIT_KEY, b"\x40")], "integer out of range"),
    ([n.attr(FRA_TRAIT_KEY, b"\x07"), n.attr(FRA_TRAIT_MASK, struct.pack("=Q", 0xff))],
     "Trait mask without a trait value"),
    ([n.attr(FRA_TRAIT_KEY, b"\x07"), n.attr(FRA_TRAIT_VALUE, struct.pack("=Q", 0x100)),
      n.attr(FRA_TRAIT_MASK, struct.pack("=Q", 0xff))],
     "Trait value has bits outside the mask"),
    ([n.attr(FRA_TRAIT_VALUE, struct.pack("=Q", 1))], "without a trait key"),
])
def test_kernel_refuses_bad_selectors_with_a_message(netns, attrs, message):
    r = netns("r")
    before = r.run("ip rule show")
    with pytest.raises(n.NftError) as refused:
        r.call(n.rtnl, RTM_NEWRULE, n.NLM_F_CREATE, _rule_hdr(), *attrs)
    assert message in refused.value.msg
    assert r.run("ip rule show") == before


@pytest.mark.parametrize("family", [2, 10])
def test_refusals_after_a_valid_selector_still_refuse(netns, family):
    # the trait parser's 0 once hid the refusals after it: the rule was
    # freed, 0 returned, and the caller oopsed on it (found by nlfuzz)
    r = netns("r")
    before = r.run("ip rule show")
    with pytest.raises(n.NftError) as refused:
        r.call(n.rtnl, RTM_NEWRULE, n.NLM_F_CREATE, _rule_hdr(family),
               n.attr(FRA_TRAIT_KEY, b"\x07"), n.attr(FRA_GOTO, struct.pack("=I", 1000)))
    assert refused.value.errno == errno.EINVAL
    assert "Unexpected goto" in refused.value.msg
    assert r.run("ip rule show") == before


@pytest.mark.parametrize("family", ["4", "6"])
def test_route_get_answers_for_a_trait(router, family):
    r = router.r
    src, dst = ("10.1.0.1", "198.51.100.1") if family == "4" else ("fd01::1", "2001:db8::1")
    r.run(f"ip -{family} rule add trait 7 value 1 table 100")
    assert "dev ub" in r.run(f"ip -{family} route get {dst} from {src} iif r0 trait 7 1")
    assert "dev ua" in r.run(f"ip -{family} route get {dst} from {src} iif r0 trait 7 2")
    assert "dev ua" in r.run(f"ip -{family} route get {dst} from {src} iif r0")
    # without iif: an output lookup, as for a socket that set the traits
    assert "dev ub" in r.run(f"ip -{family} route get {dst} trait 7 1")
    assert "dev ua" in r.run(f"ip -{family} route get {dst} trait 7 2")


@pytest.mark.parametrize("family", ["4", "6"])
def test_route_get_takes_flags_wide_values_and_several_traits(router, family):
    r = router.r
    src, dst = ("10.1.0.1", "198.51.100.1") if family == "4" else ("fd01::1", "2001:db8::1")
    get = f"ip -{family} route get {dst} from {src} iif r0"
    r.run(f"ip -{family} rule add pref 10 trait 5 table 100")
    r.run(f"ip -{family} rule add pref 11 trait 9 value 0x1122334455667788 table 100")
    r.run(f"ip -{family} rule add pref 12 trait 7 value 2 table 100")
    r.run(f"ip -{family} rule add pref 13 trait 6 value 0 table 100")
    out = r.run(f"{get} trait 5 flag")
    assert "dev ub" in out and "trait 5 flag" in out
    out = r.run(f"{get} trait 9 0x1122334455667788")
    assert "dev ub" in out and "trait 9 value 1234605616436508552" in out
    assert "dev ua" in r.run(f"{get} trait 9 0x1122334455667789")
    # several traits, given out of key order; the answer lists them in order
    out = r.run(f"{get} trait 7 value 2 trait 3 value 1 trait 4 flag")
    assert "dev ub" in out and "trait 3 value 1 trait 4 flag trait 7 value 2" in out
    got = json.loads(r.run(f"ip -j -{family} route get {dst} from {src} iif r0 "
                           "trait 7 2 trait 3 0x100000000 trait 4 flag"))[0]
    assert got["traits"] == [{"key": 3, "value": 0x100000000},
                             {"key": 4, "flag": True}, {"key": 7, "value": 2}]
    # a flag equals no value, not even 0
    assert "dev ua" in r.run(f"{get} trait 6 flag")
    assert "dev ub" in r.run(f"{get} trait 6 0")
    for bad in ("trait 7 1 trait 7 2", "trait 7", "trait 64 1",
                "trait 7 value -1"):
        p = r.run(f"{get} {bad}", check=False)
        assert p.returncode != 0 and p.stderr.strip(), bad


def _getroute(family, dst, iif, traits):
    hdr = struct.pack("=BBBBBBBBI", family, 32 if family == 2 else 128,
                      0, 0, 0, 0, 0, 0, 0)
    return (RTM_GETROUTE, 0, hdr, n.attr(RTA_DST, dst),
            n.attr(RTA_IIF, struct.pack("=I", iif)), n.attr(RTA_TRAITS, traits))


@pytest.mark.parametrize("block,err,message", [
    # bitmaps announce a 4-byte value for key 7 that is not there
    (struct.pack("=QQ", 1 << 7, 0), errno.EINVAL, "does not match its bitmaps"),
    # an 8-byte value for key 7, but 4 bytes follow
    (struct.pack("=QQI", 1 << 7, 1 << 7, 1), errno.EINVAL, "does not match its bitmaps"),
    # shorter than the bitmaps, longer than any store
    (b"\x00" * 8, errno.ERANGE, "binary attribute size out of range"),
    (b"\x00" * 1040, errno.ERANGE, "binary attribute size out of range"),
], ids=["missing-value", "short-value", "short-header", "too-long"])
def test_route_get_refuses_malformed_blocks(router, block, err, message):
    r = router.r
    iif = r.json("ip -j link show dev r0")[0]["ifindex"]
    with pytest.raises(n.NftError) as refused:
        r.call(n.rtnl, *_getroute(2, bytes([198, 51, 100, 1]), iif, block))
    assert refused.value.errno == err
    assert message in refused.value.msg


def _with_names(cmd, etc=None, usr=None):
    """Run cmd with its own /etc/iproute2 and /usr/share/iproute2, in a
    private mount namespace: rt_traits holds etc (or usr), or nothing."""
    script = ["set -e", "mount -t tmpfs names /etc/iproute2",
              "mount -t tmpfs names /usr/share", "mkdir /usr/share/iproute2"]
    for where, text in (("/etc/iproute2", etc), ("/usr/share/iproute2", usr)):
        if text is not None:
            script.append(f"printf '{text}' > {where}/rt_traits")
    script.append(cmd)
    return sh("unshare -m sh -c " + shlex.quote("\n".join(script)))


def test_trait_keys_have_names_from_rt_traits(router):
    names = "# packet trait keys\\n7\\ttenant\\n9 class\\n\\n"
    r = router.r.name
    out = _with_names(f"ip -n {r} rule add pref 20 trait tenant value 1 table 100 && "
                      f"ip -n {r} rule show && echo -- && ip -n {r} -N rule show && "
                      f"echo -- && ip -n {r} route get 198.51.100.1 from 10.1.0.1 iif r0 "
                      "trait tenant 1 trait class flag", etc=names)
    names_out, numeric_out, route = out.split("--\n")
    assert "20:\tfrom all trait tenant value 1 lookup 100" in names_out
    assert "20:\tfrom all trait 7 value 1 lookup 100" in numeric_out
    assert "dev ub" in route and "trait tenant value 1 trait class flag" in route
    rules = {x["priority"]: x for x in router.r.json("ip -j rule show")}
    assert rules[20]["trait"] == 7
    # /usr/share/iproute2 is read when /etc/iproute2 has no rt_traits
    assert "trait other value 1" in _with_names(f"ip -n {r} rule show pref 20",
                                                usr="7 other\\n")
    # /etc/iproute2 wins when it has one
    assert "trait tenant value 1" in _with_names(f"ip -n {r} rule show pref 20",
                                                 etc="7 tenant\\n", usr="7 other\\n")
    # a name nobody defined is refused, and nothing is added
    p = subprocess.run("unshare -m sh -c " + shlex.quote(
        "mount -t tmpfs names /etc/iproute2 && "
        f"ip -n {r} rule add trait nosuch value 1 table 100"),
        shell=True, capture_output=True, text=True)
    assert p.returncode != 0 and "nosuch" in p.stderr
    assert len(router.r.json("ip -j rule show")) == len(rules)


def test_established_flows_follow_rules_only_for_new_lookups(router):
    """Forwarded flows are routed per packet: changing the rule moves them."""
    router.tagger.tag("10.1.0.1", (7, 4, 1))
    assert router.send("10.1.0.1", 5)[0] >= 5
    router.r.run("ip rule add trait 7 value 1 table 100")
    assert router.send("10.1.0.1", 5)[1] >= 5
    router.r.run("ip rule del trait 7 value 1 table 100")
    assert router.send("10.1.0.1", 5)[0] >= 5


def test_rp_filter_counts_traits_only_with_src_valid_mark(netns, xdp_tagger):
    # the way back to 10.9.0.1 is only in table 100, which trait 7 selects:
    # like the mark, traits steer the reverse path check only when
    # src_valid_mark says so; otherwise strict rp_filter drops the packet
    from conftest import netstat
    a, r = netns("a"), netns("r")
    veth(a, "a0", r, "r0", ("10.1.0.1/24",), ("10.1.0.254/24",))
    a.run("ip addr add 10.9.0.1/32 dev lo")
    r.run("sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.r0.rp_filter=1")
    r.run("ip route add 10.9.0.0/24 dev r0 table 100")
    r.run("ip rule add trait 7 value 1 table 100")
    xdp_tagger(r, "r0").tag("10.9.0.1", (7, 4, 1))
    # resolve r first: ARP from 10.9.0.1 would fail the same check
    a.ping("10.1.0.254", count=1)
    for valid_mark, dropped in ((0, 5), (1, 0)):
        r.run(f"sysctl -qw net.ipv4.conf.r0.src_valid_mark={valid_mark}")
        before = netstat(r, "IPReversePathFilter")
        udp_send(a, "10.1.0.254", 9000, b"x", count=5, src="10.9.0.1")
        assert netstat(r, "IPReversePathFilter") - before == dropped, valid_mark
