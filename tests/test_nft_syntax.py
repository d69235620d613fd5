# The nft scenarios of test_nft_match.py written as a user types them, run
# with a patched nft (NFT=/path/to/nft; see nftables-patches/). Listing
# must print back exactly what was typed.
import os

import pytest

from test_nft_match import BIG, send, tagged  # noqa: F401  (fixture)

NFT = os.environ.get("NFT")
pytestmark = pytest.mark.skipif(not NFT, reason="needs NFT=/path/to/patched/nft")


def nft(ns, args, check=True):
    return ns.run(f"{NFT} {args}", check=check)


def packets(ns, name):
    out = ns.json(f"{NFT} -j list counter inet t {name}")
    return next(o["counter"]["packets"] for o in out["nftables"] if "counter" in o)


# Typed the way nft lists them: integers in decimal, and `==` left out as
# for any other nft match (`meta trait 7 == 1` lists as `meta trait 7 1`).
RULES = [
    # (rule as typed, source address that should match, expected packets)
    ("meta trait 7 1", "10.0.0.1", 3),
    ("meta trait 7 != 1", "10.0.0.11", 2),
    ("meta trait 7 32-47", "10.0.0.11", 2),
    ("meta trait 7 & 240 == 32", "10.0.0.11", 2),
    ("meta trait 7 { 1, 5 }", "10.0.0.1", 3),
    (f"meta trait 9 {BIG}", "10.0.0.1", 3),
    ("meta trait 4 exists", "10.0.0.12", 4),
    ("meta trait 4 missing", None, 5),
]


def test_rules_match_and_list_as_typed(tagged):
    a, b, tagger = tagged
    tagger.tag("10.0.0.1", (7, 4, 1), (9, 8, BIG))
    tagger.tag("10.0.0.11", (7, 4, 0x22))
    tagger.tag("10.0.0.12", (4, 0, 0))
    nft(b, "add table inet t")
    nft(b, "add chain inet t in '{ type filter hook input priority 0; }'")
    for i, (rule, _, _) in enumerate(RULES):
        nft(b, f"add counter inet t c{i}")
        nft(b, f"add rule inet t in 'udp dport 9000 {rule} counter name c{i}'")
    listing = nft(b, "list chain inet t in")
    for rule, _, _ in RULES:
        assert f"{rule} counter name" in listing, (rule, listing)
    send(a, "10.0.0.1", count=3)
    send(a, "10.0.0.11", count=2)
    send(a, "10.0.0.12", count=4)
    got = [packets(b, f"c{i}") for i in range(len(RULES))]
    assert got == [r[2] for r in RULES]


def test_vmap_set_statement_and_mark_from_trait(tagged):
    a, b, tagger = tagged
    tagger.tag("10.0.0.1", (3, 4, 1))
    tagger.tag("10.0.0.11", (3, 4, 2))
    nft(b, "add table inet t")
    nft(b, "add chain inet t pre '{ type filter hook prerouting priority -150; }'")
    nft(b, "add chain inet t in '{ type filter hook input priority 0; }'")
    for c in ("c_set", "c_mark"):
        nft(b, f"add counter inet t {c}")
    nft(b, "add rule inet t pre meta trait 5 set 42")
    nft(b, "add rule inet t pre meta mark set meta trait 3")
    nft(b, "add rule inet t in meta trait 5 == 42 counter name c_set")
    nft(b, "add rule inet t in meta mark 1 counter name c_mark")
    nft(b, "add rule inet t in 'meta trait 3 vmap { 1 : accept, 2 : drop }'")
    listing = nft(b, "list ruleset")
    for typed in ("meta trait 5 set 42", "meta mark set meta trait 3",
                  "meta trait 3 vmap { 1 : accept, 2 : drop }"):
        assert typed in listing, listing
    a.ping("10.0.0.2", count=1, extra="-I 10.0.0.1")
    assert a.ping("10.0.0.2", count=1, check=False, extra="-I 10.0.0.11").returncode != 0
    send(a, "10.0.0.1", count=2)
    assert packets(b, "c_set") >= 3
    assert packets(b, "c_mark") >= 3


def test_bad_key_is_refused(tagged):
    _, b, _ = tagged
    nft(b, "add table inet t")
    nft(b, "add chain inet t in '{ type filter hook input priority 0; }'")
    p = nft(b, "add rule inet t in meta trait 64 == 1", check=False)
    assert p.returncode != 0 and "63" in p.stderr


# Debian's own nft (1.0.6) reads the typeof of a set keyed by a trait
# from the set's user data; before nftables patch 0010 it crashed there.
OLD_NFT = "/usr/sbin/nft"


@pytest.mark.skipif(not os.path.exists(OLD_NFT), reason="needs Debian's nft")
def test_older_nft_lists_trait_sets_without_crashing(netns):
    ns = netns()
    nft(ns, "add table inet t")
    nft(ns, "add set inet t s '{ typeof meta trait 7; }'")
    nft(ns, "add element inet t s '{ 1, 5 }'")
    nft(ns, "add map inet t m '{ typeof meta trait 7 : verdict; }'")
    nft(ns, "add element inet t m '{ 1 : accept }'")
    listing = nft(ns, "list table inet t")
    assert "typeof meta trait 7\n" in listing, listing
    assert "typeof meta trait 7 : verdict" in listing, listing
    old = ns.run(f"{OLD_NFT} list table inet t", check=False)
    assert old.returncode == 0, (old.returncode, old.stderr)
    assert "set s" in old.stdout and "map m" in old.stdout, old.stdout
