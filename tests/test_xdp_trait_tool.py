# tools/xdp-trait: rules set traits on real traffic, change live, count
# hits, list as JSON, and refuse bad input without changing anything.
import itertools
import json
import os
import shutil

import pytest

from bpftool import PIN_ROOT
from conftest import sh, udp_send

BIG = 0x1122334455667788
_ids = itertools.count()


class XdpTrait:
    """The xdp-trait command with a state directory of its own."""

    def __init__(self):
        self.dir = os.path.join(PIN_ROOT, f"xt{os.getpid()}_{next(_ids)}")
        self.attached = []

    def run(self, args, ns=None, check=True):
        return sh(f"xdp-trait -d {self.dir} {args}", check=check, ns=ns)

    def attach(self, ns, dev, mode="native"):
        self.run(f"attach {dev} {mode}", ns=ns.name)
        self.attached.append((ns, dev))

    def add(self, rule):
        self.run(f"rule add {rule}")

    def delete(self, rule_id):
        self.run(f"rule del {rule_id}")

    def rules(self):
        return json.loads(self.run("rule list -j"))

    def stats(self):
        return json.loads(self.run("stats -j"))

    def hits(self):
        return {r["id"]: r["hits"] for r in self.stats()["rules"]}

    def close(self):
        for ns, dev in self.attached:
            ns.run(f"ip link set dev {dev} xdp off", check=False)
            ns.run(f"ip link set dev {dev} xdpgeneric off", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def xt():
    tool = XdpTrait()
    yield tool
    tool.close()


@pytest.fixture
def classified(pair, xt, tc_reader):
    """pair with xdp-trait on vb (native) and a TC reader behind it."""
    a, b = pair
    xt.attach(b, "vb")
    return a, b, tc_reader(b, "vb")


def xdp_prog(ns, dev):
    """(mode, program id) of the XDP program on ns:dev, or None."""
    link = ns.json(f"ip -j -d link show dev {dev}")[0]
    xdp = link.get("xdp")
    return (xdp["mode"], xdp["prog"]["id"]) if xdp else None


def traits_of_udp(a, reader, dst="10.0.0.2", port=9000, sport=0):
    """Traits of one UDP datagram from a, as TC at the receiver sees them."""
    before = reader.info(0)
    udp_send(a, dst, port, b"x", sport=sport)
    assert reader.info(0) == before + 1
    return reader.traits()


@pytest.mark.parametrize("mode", ["native", "generic"])
def test_rules_put_traits_on_ipv4_and_ipv6_packets(pair, xt, tc_reader, mode):
    a, b = pair
    xt.attach(b, "vb", mode)
    reader = tc_reader(b, "vb")
    assert xdp_prog(b, "vb")[0] == {"native": 1, "generic": 2}[mode]
    xt.add(f"src 10.0.0.1 trait 7 1 trait 8 long {BIG} trait 9 flag")
    xt.add("src fd00::1 proto udp trait 3 33")
    assert traits_of_udp(a, reader) == {7: (4, 1), 8: (8, BIG), 9: (0, 0)}
    assert traits_of_udp(a, reader, "fd00::2") == {3: (4, 33)}
    assert xt.hits() == {0: 1, 1: 1}


def test_nested_prefixes_all_match_and_the_highest_id_wins(classified, xt):
    a, _, reader = classified
    xt.add("id 1 src 10.0.0.0/8 trait 1 1 trait 5 1")
    xt.add("id 2 src 10.0.0.1/32 trait 2 2")
    xt.add("id 3 src 10.9.0.0/16 trait 3 3")
    xt.add("id 4 src 10.0.0.0/24 dst 10.0.0.2 trait 4 4 trait 5 4")
    xt.add("id 5 dst 10.0.0.3 trait 6 6")
    xt.add("id 6 src 0.0.0.0/0 trait 7 7")
    assert traits_of_udp(a, reader) == {
        1: (4, 1), 2: (4, 2), 4: (4, 4), 5: (4, 4), 7: (4, 7)}
    # IPv4 prefixes do not match IPv6 packets, IPv6 ones do
    xt.add("id 7 src fd00::/64 dst fd00::2/128 trait 8 8")
    xt.add("id 8 src fd01::/16 trait 9 9")
    assert traits_of_udp(a, reader, "fd00::2") == {8: (4, 8)}


def test_protocol_and_port_ranges_select_rules(classified, xt):
    a, _, reader = classified
    xt.add("id 1 proto udp dport 9000-9010 trait 1 1")
    xt.add("id 2 proto udp sport 5555 trait 2 2")
    xt.add("id 3 proto tcp dport 9000 trait 3 3")
    xt.add("id 4 src 10.0.0.1 proto icmp trait 4 4")
    xt.add("id 5 proto 17 dport 9010 trait 5 5")
    xt.add("id 6 src fd00::1 proto icmpv6 trait 6 6")
    assert traits_of_udp(a, reader, port=9005, sport=5555) == {
        1: (4, 1), 2: (4, 2)}
    assert traits_of_udp(a, reader, port=9010, sport=4444) == {
        1: (4, 1), 5: (4, 5)}
    assert traits_of_udp(a, reader, port=9011, sport=4444) == {}
    assert traits_of_udp(a, reader, port=8999, sport=4444) == {}
    assert traits_of_udp(a, reader, "fd00::2", port=9000) == {1: (4, 1)}
    # TCP and ICMP show in the hit counters
    connect = ("python3 -c \"import socket; s = socket.socket(); "
               "s.settimeout(1); s.connect_ex(('10.0.0.2', {}))\"")
    a.run(connect.format(9001))
    assert xt.hits()[3] == 0
    a.run(connect.format(9000))
    assert xt.hits()[3] == 1
    a.ping("10.0.0.2", count=3)
    assert xt.hits()[4] == 3
    assert xt.hits()[1] == 3
    hits6 = xt.hits()[6]
    a.ping("fd00::2", count=2)
    assert xt.hits()[6] >= hits6 + 2


def vlan_rules(pair, xt, tc_reader, vlan_pusher, mode, txvlan):
    """a tags its datagrams (tag offload on or off), b classifies: VLAN 10
    gets trait 1 = 10, everything from a trait 3 = 3."""
    a, b = pair
    a.run(f"ethtool -K va txvlan {txvlan}")
    pusher = vlan_pusher(a, "va")
    xt.attach(b, "vb", mode)
    reader = tc_reader(b, "vb")
    xt.add("vlan 10 trait 1 10")
    xt.add("src 10.0.0.1 trait 3 3")
    return a, pusher, reader


@pytest.mark.parametrize("mode,txvlan", [
    ("native", "on"),     # stripped tag: driver metadata (veth)
    ("native", "off"),    # tag in the packet
    ("generic", "off"),
])
def test_vlan_id_selects_rules(pair, xt, tc_reader, vlan_pusher, mode, txvlan):
    a, pusher, reader = vlan_rules(pair, xt, tc_reader, vlan_pusher, mode, txvlan)
    xt.add("vlan 20 trait 2 20")
    pusher.push(10)
    assert traits_of_udp(a, reader) == {1: (4, 10), 3: (4, 3)}
    pusher.push(20)
    assert traits_of_udp(a, reader) == {2: (4, 20), 3: (4, 3)}
    pusher.push(30)
    assert traits_of_udp(a, reader) == {3: (4, 3)}
    pusher.push(0)
    assert traits_of_udp(a, reader) == {3: (4, 3)}


def test_generic_mode_does_not_see_a_stripped_vlan_tag(pair, xt, tc_reader,
                                                      vlan_pusher):
    """As the man page says: turn tag offload off for generic mode."""
    a, pusher, reader = vlan_rules(pair, xt, tc_reader, vlan_pusher, "generic", "on")
    pusher.push(10)
    assert traits_of_udp(a, reader) == {3: (4, 3)}


def test_rule_changes_apply_without_reattaching(classified, xt):
    a, b, reader = classified
    prog = xdp_prog(b, "vb")
    assert traits_of_udp(a, reader) == {}
    xt.add("id 3 src 10.0.0.1 trait 5 50")
    assert traits_of_udp(a, reader) == {5: (4, 50)}
    xt.add("id 1 src 10.0.0.0/24 trait 5 10 trait 6 long 6")
    assert traits_of_udp(a, reader) == {5: (4, 50), 6: (8, 6)}
    xt.delete(3)
    assert traits_of_udp(a, reader) == {5: (4, 10), 6: (8, 6)}
    xt.delete(1)
    assert traits_of_udp(a, reader) == {}
    assert xdp_prog(b, "vb") == prog


def test_one_rule_table_serves_two_devices(netns, xt, tc_reader):
    from conftest import veth
    a, b, c = netns("a"), netns("b"), netns("c")
    veth(a, "va", b, "vb", ("10.0.0.1/24",), ("10.0.0.2/24",))
    veth(c, "vc", b, "vb2", ("10.0.1.1/24",), ("10.0.1.2/24",))
    xt.attach(b, "vb")
    xt.attach(b, "vb2", "generic")
    reader, reader2 = tc_reader(b, "vb"), tc_reader(b, "vb2")
    xt.add("src 10.0.0.0/16 trait 1 1")
    assert traits_of_udp(a, reader) == {1: (4, 1)}
    assert traits_of_udp(c, reader2, "10.0.1.2") == {1: (4, 1)}
    xt.run("detach vb", ns=b.name)
    assert xdp_prog(b, "vb") is None
    assert traits_of_udp(a, reader) == {}
    assert traits_of_udp(c, reader2, "10.0.1.2") == {1: (4, 1)}


def test_stats_count_hits_and_trait_set_errors(classified, xt):
    a, _, reader = classified
    xt.add("id 0 src 10.0.0.1 proto udp trait 1 1")
    xt.add("id 7 src 10.0.0.99 trait 2 2")
    udp_send(a, "10.0.0.2", 9000, b"x", count=5)
    s = xt.stats()
    assert s["rules"] == [{"id": 0, "hits": 5}, {"id": 7, "hits": 0}]
    assert s["matched"] == 5 and s["packets"] >= 5 and s["set_errors"] == 0
    assert "id 0 hits 5\n" in xt.run("stats")
    # a deleted and re-added rule starts from zero
    xt.delete(0)
    xt.add("id 0 src 10.0.0.1 trait 1 1")
    assert xt.hits()[0] == 0
    # nine 8-byte values do not fit the default 64-byte store
    xt.add("id 1 src 10.0.0.1 " + " ".join(f"trait {k} long {k}" for k in range(4)))
    xt.add("id 2 src 10.0.0.1 " + " ".join(f"trait {k} long {k}" for k in range(4, 8)))
    xt.add("id 3 src 10.0.0.1 trait 8 long 8")
    udp_send(a, "10.0.0.2", 9000, b"x")
    assert xt.stats()["set_errors"] == 1
    assert set(reader.traits()) == set(range(8))


def test_rule_list_is_json_and_text_that_adds_back(xt):
    xt.add("id 2 src 10.1.0.0/16 dst 10.2.0.1 proto tcp sport 1000-2000 "
           "dport 443 trait 1 7 trait 2 long 18446744073709551615 trait 3 flag")
    xt.add("src fd00:1::/48 proto icmpv6 trait 63 4294967295")
    xt.add("vlan 4095 trait 0 0x10")
    xt.add("dst 192.168.0.0/24 proto 47 trait 5 010")
    want = [
        {"id": 0, "src": "fd00:1::/48", "proto": 58,
         "traits": [{"key": 63, "value": 4294967295}]},
        {"id": 1, "vlan": 4095, "traits": [{"key": 0, "value": 16}]},
        {"id": 2, "src": "10.1.0.0/16", "dst": "10.2.0.1/32", "proto": 6,
         "sport": [1000, 2000], "dport": [443, 443],
         "traits": [{"key": 1, "value": 7},
                    {"key": 2, "long": True, "value": 18446744073709551615},
                    {"key": 3, "flag": True}]},
        {"id": 3, "dst": "192.168.0.0/24", "proto": 47,
         "traits": [{"key": 5, "value": 10}]},
    ]
    assert xt.rules() == want
    text = xt.run("rule list").splitlines()
    assert text[0] == "id 0 src fd00:1::/48 proto icmpv6 trait 63 4294967295"
    again = XdpTrait()
    try:
        for line in text:
            again.add(line)
        assert again.rules() == want
    finally:
        again.close()


BAD_RULES = [
    ("rule add src 10.0.0.1 trait 64 1", "trait key 64 is out of range"),
    ("rule add src 10.0.0.0/33 trait 1 1", "bad src prefix"),
    ("rule add src 10.0.0.1/8 trait 1 1", "bits set past /8"),
    ("rule add dst 10.0.0 trait 1 1", "bad dst prefix"),
    ("rule add src fd00::/129 trait 1 1", "bad src prefix"),
    ("rule add src 10.0.0.1 trait 1 4294967296", "does not fit in 32 bits"),
    ("rule add src 10.0.0.1 trait 1 long 18446744073709551616", "out of range"),
    ("rule add src 10.0.0.1 trait 1 -1", "not a number"),
    ("rule add id 1 src 10.0.0.9 trait 1 1", "rule 1 exists"),
    ("rule add id 64 trait 1 1", "rule id 64 is out of range"),
    ("rule add src 10.0.0.1", "at least one"),
    ("rule add dport 80 trait 1 1", "need proto"),
    ("rule add src 10.0.0.1 dst fd00::1 trait 1 1", "one family"),
    ("rule add src 10.0.0.1 trait 1 1 trait 1 2", "trait 1 given twice"),
    ("rule add trait 1 1 trait 2 2 trait 3 3 trait 4 4 trait 5 5", "at most 4"),
    ("rule add proto gre trait 1 1", "unknown protocol"),
    ("rule add proto tcp dport 2000-1000 trait 1 1", "range ends below"),
    ("rule add vlan 4096 trait 1 1", "vlan 4096 is out of range"),
    ("rule add color red trait 1 1", "unknown word"),
    ("rule add src 10.0.0.1 proto icmpv6 trait 1 1", "never matches IPv4"),
    ("rule del 5", "no rule 5"),
    ("rule del 64", "not 0-63"),
    ("attach nosuchdev", "unknown interface"),
    ("detach nosuchdev", "unknown interface"),
    ("attach lo sideways", "not native or generic"),
    ("frobnicate", "unknown command"),
]


@pytest.mark.parametrize("args,message", BAD_RULES,
                         ids=[a for a, _ in BAD_RULES])
def test_bad_input_is_refused_and_changes_nothing(xt, args, message):
    xt.add("id 1 src 10.0.0.0/8 trait 1 1")
    before = xt.rules()
    p = xt.run(args, check=False)
    assert p.returncode != 0
    assert message in p.stderr and p.stderr.startswith("xdp-trait: ")
    assert p.stdout == ""
    assert xt.rules() == before
    assert xdp_prog_anywhere() == []


def xdp_prog_anywhere():
    return [link["ifname"] for link in json.loads(sh("ip -j -d link show"))
            if "xdp" in link]


def test_full_rule_table_refuses_another_rule(xt):
    sh(f"for i in $(seq 0 63); do xdp-trait -d {xt.dir} rule add "
       f"src 10.0.$i.0/24 trait 1 $i || exit 1; done")
    before = xt.rules()
    assert [r["id"] for r in before] == list(range(64))
    p = xt.run("rule add src 10.1.0.0/24 trait 1 1", check=False)
    assert p.returncode != 0 and "rule table full" in p.stderr
    assert xt.rules() == before


def test_detach_leaves_other_programs_alone(pair, xt, xdp_tagger):
    a, b = pair
    xdp_tagger(b, "vb")
    prog = xdp_prog(b, "vb")
    p = xt.run("detach vb", ns=b.name, check=False)
    assert p.returncode != 0 and "no xdp-trait program" in p.stderr
    p = xt.run("attach vb", ns=b.name, check=False)
    assert p.returncode != 0 and "already has an XDP program" in p.stderr
    assert xdp_prog(b, "vb") == prog


def test_help_covers_every_command_and_option():
    p = sh("xdp-trait --help")
    for word in ["attach DEV [native|generic]", "detach DEV", "rule add",
                 "rule del ID", "rule list [-j]", "stats [-j]", "id ID",
                 "src PREFIX", "dst PREFIX", "proto PROTO", "sport PORTS",
                 "dport PORTS", "vlan VID", "trait KEY VALUE", "long NUMBER",
                 "flag", "--dir", "XDP_TRAIT_DIR", "--json", "--verbose",
                 "--help"]:
        assert word in p, word
