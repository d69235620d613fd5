# tools/xdp-trait: rules set traits on real traffic, change live, count
# hits, list as JSON, and refuse bad input without changing anything.
import itertools
import json
import os
import shlex
import shutil
import subprocess

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

    def run(self, args, ns=None, check=True, input=None):
        return sh(f"xdp-trait -d {self.dir} {args}", check=check, ns=ns,
                  input=input)

    def attach(self, ns, dev, mode="native"):
        """mode: the old positional word, or options such as "-m skb"."""
        if mode.startswith("-"):
            p = self.run(f"attach {mode} {dev}", ns=ns.name, check=False)
        else:
            p = self.run(f"attach {dev} {mode}", ns=ns.name, check=False)
        assert p.returncode == 0, p.stderr
        self.attached.append((ns, dev))
        return p.stderr

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
    xt.add(f"src 10.0.0.1 trait 7 1 trait 8 {BIG} trait 9 flag")
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
    xt.add(f"id 1 src 10.0.0.0/24 trait 5 10 trait 6 value {BIG}")
    assert traits_of_udp(a, reader) == {5: (4, 50), 6: (8, BIG)}
    xt.delete(3)
    assert traits_of_udp(a, reader) == {5: (4, 10), 6: (8, BIG)}
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
    xt.add("id 1 src 10.0.0.1 " + " ".join(f"trait {k} {BIG + k}" for k in range(4)))
    xt.add("id 2 src 10.0.0.1 " + " ".join(f"trait {k} {BIG + k}" for k in range(4, 8)))
    xt.add(f"id 3 src 10.0.0.1 trait 8 {BIG}")
    udp_send(a, "10.0.0.2", 9000, b"x")
    assert xt.stats()["set_errors"] == 1
    assert set(reader.traits()) == set(range(8))


def test_rule_list_is_json_and_text_that_adds_back(xt):
    xt.add("id 2 src 10.1.0.0/16 dst 10.2.0.1 proto tcp sport 1000-2000 "
           "dport 443 trait 1 7 trait 2 18446744073709551615 trait 3 flag")
    xt.add("src fd00:1::/48 proto icmpv6 trait 63 4294967295")
    xt.add("vlan 4095 trait 0 0x10")
    xt.add("dst 192.168.0.0/24 proto 47 trait 5 010")
    want = [
        {"id": 2, "src": "10.1.0.0/16", "dst": "10.2.0.1/32", "proto": 6,
         "sport": [1000, 2000], "dport": [443, 443],
         "traits": [{"key": 1, "value": 7},
                    {"key": 2, "value": 18446744073709551615},
                    {"key": 3, "flag": True}]},
        {"id": 3, "src": "fd00:1::/48", "proto": 58,
         "traits": [{"key": 63, "value": 4294967295}]},
        {"id": 4, "vlan": 4095, "traits": [{"key": 0, "value": 16}]},
        {"id": 5, "dst": "192.168.0.0/24", "proto": 47,         # 010: octal, as in nft
         "traits": [{"key": 5, "value": 8}]},
    ]
    assert xt.rules() == want
    text = xt.run("rule list").splitlines()
    assert text[1] == "id 3 src fd00:1::/48 proto icmpv6 trait 63 value 4294967295"
    assert text[0] == ("id 2 src 10.1.0.0/16 dst 10.2.0.1/32 proto tcp sport "
                       "1000-2000 dport 443 trait 1 value 7 trait 2 value "
                       "18446744073709551615 trait 3 flag")
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
    ("rule add src 10.0.0.1 trait 1 18446744073709551616",
     "trait value 18446744073709551616 is out of range"),
    ("rule add src 10.0.0.1 trait 1 value 0x10000000000000000", "out of range"),
    ("rule add src 10.0.0.1 trait 1 -1", 'trait value "-1" is not a number'),
    ("rule add src 10.0.0.1 trait 1 value ' 1'", 'trait value " 1" is not a number'),
    ("rule add src 10.0.0.1 trait 1 '+1'", 'trait value "+1" is not a number'),
    ("rule add src 10.0.0.1 trait 1 '1 '", 'trait value "1 " is not a number'),
    ("rule add src 10.0.0.1 trait 1 0x", 'trait value "0x" is not a number'),
    ("rule add trait 1 src 10.0.0.1", 'trait value "src" is not a number'),
    ("rule add src 10.0.0.1 trait 1 value", '"value" needs a number'),
    ("rule add src 10.0.0.1 trait 1", "needs a key and a value"),
    ("rule add trait ' 1' 1", 'trait key " 1" is neither 0-63 nor a name'),
    ("rule add trait nosuch 1", 'trait key "nosuch" is neither 0-63 nor a name'),
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
    ("rule del ' 1'", "not 0-63"),
    ("rule flush now", 'unexpected argument "now"'),
    ("rule list -x", 'unexpected argument "-x"'),
    ("rule", "add, del, flush or list?"),
    ("stats --rest", 'unexpected argument "--rest"'),
    ("status lo", 'unexpected argument "lo"'),
    ("attach nosuchdev", "unknown interface"),
    ("detach nosuchdev", "unknown interface"),
    ("attach lo sideways", 'mode "sideways" is not native or skb'),
    ("attach -m generic lo", 'mode "generic" is not native or skb'),
    ("attach -m skb -m native lo", "mode given twice"),
    ("attach lo -m", "-m needs a mode"),
    ("attach", "missing argument"),
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
    for word in ["attach [-m MODE] DEV", "native | skb", "detach DEV",
                 "status [-j]", "rule add", "rule del ID", "rule flush",
                 "rule list [-j]", "stats [--reset] [-j]", "id ID",
                 "src PREFIX", "dst PREFIX", "proto PROTO", "sport PORTS",
                 "dport PORTS", "vlan VID", "trait KEY VALUE",
                 "[value] NUMBER | flag", "rt_traits", "long NUMBER",
                 "--batch FILE", "--dir", "XDP_TRAIT_DIR", "--json",
                 "--numeric", "--verbose", "--help"]:
        assert word in p, word


def test_the_number_picks_the_width_and_long_is_deprecated(classified, xt):
    """trait KEY [value] NUMBER: 4 bytes when it fits, else 8, as ip
    route get stores it; the old "long" reads as "value"."""
    a, _, reader = classified
    p = xt.run("rule add src 10.0.0.1 trait 1 5 trait 2 value 4294967296 "
               "trait 3 long 7 trait 4 0xffffffff", check=False)
    assert p.returncode == 0
    assert "deprecated" in p.stderr and "trait KEY value NUMBER" in p.stderr
    assert traits_of_udp(a, reader) == {
        1: (4, 5), 2: (8, 1 << 32), 3: (4, 7), 4: (4, 0xffffffff)}
    assert xt.run("rule list") == (
        "id 0 src 10.0.0.1/32 trait 1 value 5 trait 2 value 4294967296 "
        "trait 3 value 7 trait 4 value 4294967295\n")


def with_names(cmd, etc=None, usr=None):
    """Run cmd with its own /etc/iproute2 and /usr/share/iproute2, in a
    private mount namespace: rt_traits holds etc (or usr), or nothing."""
    script = ["set -e", "mount -t tmpfs names /etc/iproute2",
              "mount -t tmpfs names /usr/share", "mkdir /usr/share/iproute2"]
    for where, text in (("/etc/iproute2", etc), ("/usr/share/iproute2", usr)):
        if text is not None:
            script.append(f"printf '{text}' > {where}/rt_traits")
    script.append(cmd)
    return subprocess.run("unshare -m sh -c " + shlex.quote("\n".join(script)),
                          shell=True, capture_output=True, text=True)


def test_trait_keys_have_names_from_rt_traits(classified, xt):
    a, _, reader = classified
    names = "# packet trait keys\\n7\\ttenant\\n0x9 class  # comment\\n\\n"
    xdp = f"xdp-trait -d {xt.dir}"
    p = with_names(f"{xdp} rule add src 10.0.0.1 trait tenant 1 trait class flag"
                   f" && {xdp} rule list && {xdp} -N rule list && "
                   f"{xdp} rule list -j", etc=names)
    assert p.returncode == 0, p.stderr
    text, numeric, js = p.stdout.splitlines()
    assert text == "id 0 src 10.0.0.1/32 trait tenant value 1 trait class flag"
    assert numeric == "id 0 src 10.0.0.1/32 trait 7 value 1 trait 9 flag"
    assert json.loads(js)[0]["traits"] == [{"key": 7, "value": 1},
                                           {"key": 9, "flag": True}]
    assert traits_of_udp(a, reader) == {7: (4, 1), 9: (0, 0)}
    # /usr/share/iproute2 is read when /etc/iproute2 has no rt_traits
    p = with_names(f"{xdp} rule list", usr="7 other\\n")
    assert p.stdout == "id 0 src 10.0.0.1/32 trait other value 1 trait 9 flag\n"
    # /etc/iproute2 wins when it has one
    p = with_names(f"{xdp} rule list", etc="7 tenant\\n", usr="7 other\\n")
    assert "trait tenant value 1" in p.stdout
    # a bad line is named and skipped; the good ones still count
    p = with_names(f"{xdp} rule list", etc="64 big\\n8 9lives\\n7 tenant\\n")
    assert "rt_traits:1:" in p.stderr and "rt_traits:2:" in p.stderr
    assert "trait tenant value 1" in p.stdout
    # a name nobody defined is refused, and nothing is added
    before = xt.rules()
    p = with_names(f"{xdp} rule add trait nosuch 1", etc=names)
    assert p.returncode != 0
    assert 'trait key "nosuch" is neither 0-63 nor a name in ' \
        "/etc/iproute2/rt_traits" in p.stderr
    assert xt.rules() == before


def test_new_rules_go_above_the_highest_id(classified, xt):
    """Rules apply in id order and the last wins for a key: a rule added
    without an id must not land below an older one and lose to it."""
    a, _, reader = classified
    xt.add("id 5 src 10.0.0.1 trait 1 5")
    xt.add("src 10.0.0.0/24 trait 1 6")
    assert [r["id"] for r in xt.rules()] == [5, 6]
    assert traits_of_udp(a, reader) == {1: (4, 6)}
    xt.add("id 63 src 10.0.0.1 trait 2 63")
    before = xt.rules()
    p = xt.run("rule add src 10.0.0.1 trait 1 7", check=False)
    assert p.returncode != 0
    assert "rule 63 is in use, so no id above the highest is free" in p.stderr
    assert xt.rules() == before
    xt.add("id 0 src 10.0.0.1 trait 3 1")
    assert traits_of_udp(a, reader) == {1: (4, 6), 2: (4, 63), 3: (4, 1)}


def test_read_only_commands_create_nothing(pair, xt):
    _, b = pair
    assert xt.run("rule list") == ""
    assert xt.rules() == []
    assert xt.stats() == {"packets": 0, "matched": 0, "set_errors": 0,
                          "rules": []}
    assert xt.run("stats --reset") == "packets 0 matched 0 set-errors 0\n"
    assert json.loads(xt.run("status -j", ns=b.name)) == {
        "dir": xt.dir, "rules": 0, "attached": []}
    assert xt.run("rule flush") == ""
    for args, message in (("rule del 1", "no rule 1"),
                          ("detach vb", "no xdp-trait program")):
        p = xt.run(args, ns=b.name, check=False)
        assert p.returncode != 0 and message in p.stderr
    p = xt.run("-b -", input="rule del 3\n", check=False)
    assert p.returncode != 0 and "no rule 3" in p.stderr
    assert not os.path.exists(xt.dir)


def test_rule_flush_removes_every_rule_live(classified, xt):
    a, b, reader = classified
    prog = xdp_prog(b, "vb")
    xt.add("src 10.0.0.1 trait 1 1")
    xt.add("proto udp trait 2 2")
    xt.add("id 40 dst 10.0.0.2 trait 3 3")
    assert traits_of_udp(a, reader) == {1: (4, 1), 2: (4, 2), 3: (4, 3)}
    assert xt.run("rule flush") == ""
    assert xt.rules() == []
    assert traits_of_udp(a, reader) == {}
    assert xdp_prog(b, "vb") == prog
    # ids start from 0 again, and hits from zero
    xt.add("src 10.0.0.1 trait 4 4")
    assert xt.hits() == {0: 0}
    assert traits_of_udp(a, reader) == {4: (4, 4)}


def test_stats_reset_zeroes_after_printing(classified, xt):
    a, _, reader = classified
    xt.add("src 10.0.0.1 proto udp trait 1 1")
    udp_send(a, "10.0.0.2", 9000, b"x", count=5)
    s = json.loads(xt.run("stats --reset -j"))
    assert s["rules"] == [{"id": 0, "hits": 5}] and s["matched"] == 5
    s = xt.stats()
    assert s["rules"] == [{"id": 0, "hits": 0}] and s["matched"] == 0
    udp_send(a, "10.0.0.2", 9000, b"x", count=2)
    s = xt.stats()
    assert s["rules"] == [{"id": 0, "hits": 2}] and s["matched"] == 2
    assert xt.rules()[0]["traits"] == [{"key": 1, "value": 1}]


def test_status_shows_devices_modes_and_rules(netns, xt, tc_reader):
    from conftest import veth
    a, b, c = netns("a"), netns("b"), netns("c")
    veth(a, "va", b, "vb", ("10.0.0.1/24",), ("10.0.0.2/24",))
    veth(c, "vc", b, "vb2", ("10.0.1.1/24",), ("10.0.1.2/24",))
    xt.attach(b, "vb", "-m native")
    xt.attach(b, "vb2", "--mode skb")
    xt.add("trait 1 1")
    xt.add("trait 2 2")
    assert xdp_prog(b, "vb")[0] == 1 and xdp_prog(b, "vb2")[0] == 2
    s = json.loads(xt.run("status -j", ns=b.name))
    assert s["dir"] == xt.dir and s["rules"] == 2
    assert s["attached"] == [
        {"dev": "vb", "mode": "native", "prog_id": xdp_prog(b, "vb")[1],
         "vlan_metadata": True},
        {"dev": "vb2", "mode": "skb", "prog_id": xdp_prog(b, "vb2")[1],
         "vlan_metadata": False}]
    text = xt.run("status", ns=b.name).splitlines()
    assert text == [f"dir {xt.dir} rules 2",
                    f"dev vb mode native prog {xdp_prog(b, 'vb')[1]} "
                    "vlan-metadata yes",
                    f"dev vb2 mode skb prog {xdp_prog(b, 'vb2')[1]} "
                    "vlan-metadata no"]
    # both run the rules
    reader = tc_reader(b, "vb2")
    assert traits_of_udp(c, reader, "10.0.1.2") == {1: (4, 1), 2: (4, 2)}
    xt.run("detach vb", ns=b.name)
    assert [d["dev"] for d in json.loads(xt.run("status -j", ns=b.name))[
        "attached"]] == ["vb2"]
    # another state's status does not claim these programs
    other = XdpTrait()
    try:
        other.add("trait 1 1")
        assert json.loads(other.run("status -j", ns=b.name))["attached"] == []
    finally:
        other.close()


def macvlan(b):
    """mv0 (10.0.0.3) on top of b's vb: a device without native XDP."""
    b.run("ip link add mv0 link vb type macvlan mode bridge")
    b.run("ip addr add 10.0.0.3/24 dev mv0")
    b.run("ip link set mv0 up")
    # only mv0 answers ARP for its address; no reverse path checks
    b.run("sysctl -qw net.ipv4.conf.all.arp_ignore=1 "
          "net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.mv0.rp_filter=0")


def test_mode_falls_back_to_skb_only_without_m_and_warns(pair, xt, tc_reader):
    a, b = pair
    # on veth, native needs no fallback and says nothing
    assert xt.attach(b, "vb", "") == ""
    assert xdp_prog(b, "vb")[0] == 1
    xt.run("detach vb", ns=b.name)
    macvlan(b)
    p = xt.run("attach -m native mv0", ns=b.name, check=False)
    assert p.returncode != 0
    assert "mv0 has no native XDP" in p.stderr and "-m skb" in p.stderr
    assert xdp_prog(b, "mv0") is None
    warning = xt.attach(b, "mv0", "")
    assert warning.startswith("xdp-trait: warning: mv0 has no native XDP: "
                              "attached in skb mode")
    assert "VLAN tags the driver stripped are not seen" in warning
    assert xdp_prog(b, "mv0")[0] == 2
    reader = tc_reader(b, "mv0")
    xt.add("src 10.0.0.1 trait 1 1")
    assert traits_of_udp(a, reader, "10.0.0.3") == {1: (4, 1)}
    assert xt.hits() == {0: 1}
    status = json.loads(xt.run("status -j", ns=b.name))["attached"]
    assert [(d["dev"], d["mode"]) for d in status] == [("mv0", "skb")]
    # the lower device cannot take a program under mv0's: named, nothing done
    p = xt.run("attach vb", ns=b.name, check=False)
    assert p.returncode != 0 and "on a device above it" in p.stderr
    assert xdp_prog(b, "vb") is None


def test_batch_applies_all_lines_or_none(classified, xt):
    a, _, reader = classified
    batch = ("# tenants\n"
             "rule add src 10.0.0.1 trait 1 1\n"
             "\n"
             "rule add proto udp dport 9000 trait 2 2   # voice\n"
             "rule add id 9 src 10.9.0.0/16 trait 3 3\n")
    assert xt.run("-b -", input=batch) == ""
    assert [r["id"] for r in xt.rules()] == [0, 1, 9]
    assert traits_of_udp(a, reader) == {1: (4, 1), 2: (4, 2)}
    before = xt.rules()
    # a bad line anywhere: its error and line, and nothing changes
    for bad, message, line in (
            ("rule flush\nrule add trait 1 x\n", 'trait value "x"', 2),
            ("rule del 9\nrule add src 10.0.0.1 trait 5 5\nrule del 9\n",
             "no rule 9", 3),
            ("rule flush\nattach vb\n", '"attach" cannot be batched', 2),
            ("rule flush\nrule list\n", "cannot be batched", 2),
            ("rule del 0\nrule add id 1 trait 1 1\n", "rule 1 exists", 2)):
        p = xt.run("-b -", input=bad, check=False)
        assert p.returncode != 0 and message in p.stderr, bad
        assert f"xdp-trait: -:{line}: nothing changed" in p.stderr, bad
        assert xt.rules() == before
        assert traits_of_udp(a, reader) == {1: (4, 1), 2: (4, 2)}
    # a file; flush and re-add in one change; a listing adds back
    path = os.path.join("/tmp", f"xt-batch-{os.getpid()}")
    listing = xt.run("rule list")
    with open(path, "w") as f:
        f.write("rule flush\n" + "".join(f"rule add {line}\n"
                                         for line in listing.splitlines()))
        f.write("rule del 1\nrule add trait 4 4\n")
    try:
        xt.run(f"-b {path}")
    finally:
        os.unlink(path)
    assert [r["id"] for r in xt.rules()] == [0, 9, 10]
    assert traits_of_udp(a, reader) == {1: (4, 1), 4: (4, 4)}
    p = xt.run("-b /nonexistent", check=False)
    assert p.returncode != 0 and "cannot open /nonexistent" in p.stderr
    p = xt.run("-b - rule flush", check=False)
    assert p.returncode == 2 and "give no other" in p.stderr
    assert [r["id"] for r in xt.rules()] == [0, 9, 10]
