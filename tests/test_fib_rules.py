# Policy routing on traits: `ip rule add trait 7 value 1 table 100`, on a
# router whose ingress XDP program tags one client, with two uplinks.
import errno
import json
import struct

import pytest

import nftnl as n
from conftest import udp_send, veth

FRA_GOTO, FRA_PRIORITY, FRA_TABLE = 4, 6, 15
FRA_TRAIT_KEY, FRA_TRAIT_VALUE, FRA_TRAIT_MASK = 32, 33, 34
RTM_NEWRULE = 32
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
    assert "31:\tfrom all trait 7 value 0x10/0xf0 lookup 100" in text
    assert "32:\tfrom all trait 9 value 0x1122334455667788 lookup 100" in text
    rules = {x["priority"]: x for x in json.loads(r.run("ip -j rule show"))}
    assert rules[30]["trait"] == 7 and "trait_value" not in rules[30]
    assert rules[31]["trait_value"] == "0x10" and rules[31]["trait_mask"] == "0xf0"
    assert rules[32]["trait_value"] == "0x1122334455667788"
    # delete selects by trait, value and mask
    assert r.run("ip rule del trait 7 value 0x20/0xf0 table 100",
                 check=False).returncode != 0
    r.run("ip rule del trait 7 value 0x10/0xf0 table 100")
    prios = [x["priority"] for x in json.loads(r.run("ip -j rule show"))]
    assert 31 not in prios and 30 in prios and 32 in prios


@pytest.mark.parametrize("args", [
    "trait 64 table 100", "trait abc table 100", "trait 7 value garbage table 100",
    "trait 7 value 1/zz table 100", "trait table 100",
])
def test_bad_input_is_refused_and_adds_nothing(router, args):
    before = router.r.run("ip rule show")
    p = router.r.run(f"ip rule add {args}", check=False)
    assert p.returncode != 0
    assert p.stderr.strip()
    assert router.r.run("ip rule show") == before


def _rule_hdr(family=2, table=100):
    return struct.pack("=BBBBBBBBI", family, 0, 0, 0, table, 0, 0, FR_ACT_TO_TBL, 0)


@pytest.mark.parametrize("attrs,message", [
    ([n.attr(FRA_TRAIT_KEY, b"\x40")], "Trait key must be 0-63"),
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
    p = r.run(f"ip -{family} route get {dst} trait 7 1", check=False)
    assert p.returncode != 0 and "iif" in p.stderr


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
