# One contract (doc/DESIGN.md, "One contract"): a written comparison on a
# trait matches the same packets in nft, ip rule, ip route get and the BPF
# header's helpers, whatever size class the packet carries the trait in: a
# value is the 64-bit number it holds, stored in 4 or 8 bytes; a flag is
# present but equals no value; absent is absent.
#
# nft goes in over netlink (tests/nftnl.py), as a patched nft sends it,
# and, with NFT=/path/to/patched/nft, also as a user types it.
import os

import pytest

import nftnl as n
from bpftool import TcMatcher
from conftest import Nft
from test_fib_rules import Router

WIDE = 5 | 1 << 32

# how 10.1.0.X carries trait 7
CLASSES = [
    ("absent", "10.1.0.1", None),
    ("flag", "10.1.0.2", (7, 0, 0)),
    ("4 bytes 5", "10.1.0.3", (7, 4, 5)),
    ("8 bytes 5", "10.1.0.4", (7, 8, 5)),
    ("8 bytes 2^32+5", "10.1.0.5", (7, 8, WIDE)),
]


def _value(load, want, mask=None):
    exprs = [n.trait_load(7, load)]
    if mask is not None:
        exprs.append(n.bitwise_and(mask, load))
    return exprs + [n.cmp("==", n.host(want, load))]


# comparison: ip rule selector, nft expressions (each load width that can
# hold the number), the nft words, BPF (want, mask) or None for presence,
# and which classes match, in CLASSES order
ALL = (1 << 64) - 1
COMPARISONS = {
    "present": ("trait 7", [[n.trait_present(7), n.cmp("==", b"\1")]],
                "meta trait 7 exists", None, [0, 1, 1, 1, 1]),
    "== 5": ("trait 7 value 5", [_value(4, 5), _value(8, 5)], "meta trait 7 5",
             (5, ALL), [0, 0, 1, 1, 0]),
    "== 0": ("trait 7 value 0", [_value(4, 0), _value(8, 0)], "meta trait 7 0",
             (0, ALL), [0, 0, 0, 0, 0]),
    "& 0xff == 5": ("trait 7 value 5/0xff", [_value(8, 5, 0xff)],
                    "meta trait 7 & 0xff == 5", (5, 0xff), [0, 0, 1, 1, 1]),
    "== 2^32+5": ("trait 7 value 4294967301", [_value(8, WIDE)],
                  "meta trait 7 4294967301", (WIDE, ALL), [0, 0, 0, 0, 1]),
}
NFT = os.environ.get("NFT")


@pytest.fixture
def table(netns, xdp_tagger):
    router = Router(netns, xdp_tagger)
    for addr in ("10.1.0.4/24", "10.1.0.5/24"):
        router.c.run(f"ip addr add {addr} dev c0")
    for _, src, tag in CLASSES:
        if tag:
            router.tagger.tag(src, tag)
    matcher = TcMatcher(router.r, "r0")
    yield router, matcher
    matcher.detach()


@pytest.mark.parametrize("name", list(COMPARISONS))
def test_every_size_class_against_every_tool(table, name):
    router, matcher = table
    selector, nft_rules, nft_words, bpf, expected = COMPARISONS[name]
    r = router.r
    t = Nft(r, "ip")
    t.chain("pre", "prerouting")
    for i, exprs in enumerate(nft_rules):
        t.counter(f"n{i}")
        t.rule("pre", *exprs, n.counter(f"c_n{i}"))
    if NFT:
        t.counter("typed")
        r.run(f"{NFT} add rule ip t pre '{nft_words} counter name c_typed'")
    if bpf:
        matcher.query(7, *bpf)
    else:
        matcher.query(7)
    r.run(f"ip rule add pref 10 {selector} table 100")

    got = {"ip rule": [], "bpf": []}
    got.update({f"nft load {i}": [] for i in range(len(nft_rules))})
    if NFT:
        got["nft as typed"] = []
    for _, src, _ in CLASSES:
        typed = t.packets("typed") if NFT else 0
        nft_before = [t.packets(f"n{i}") for i in range(len(nft_rules))]
        bpf_before = matcher.counts(src)
        ua, ub = router.send(src, 4)
        got["ip rule"].append(int(ub >= 4 and ua < 4))
        for i in range(len(nft_rules)):
            got[f"nft load {i}"].append(int(t.packets(f"n{i}") - nft_before[i] == 4))
        if NFT:
            got["nft as typed"].append(int(t.packets("typed") - typed == 4))
        present, match = (a - b for a, b in zip(matcher.counts(src), bpf_before))
        got["bpf"].append(int((match if bpf else present) == 4))
    for tool, row in got.items():
        assert row == expected, (name, tool, dict(zip((c[0] for c in CLASSES), row)))


# ip route get builds its packet from the words, a number picking its width
ROUTE_GET_RULES = ["trait 7", "trait 7 value 5", "trait 7 value 0",
                   "trait 7 value 4294967301", "trait 7 value 5/0xff"]


@pytest.mark.parametrize("words,expected", [
    ("trait 7 flag", [1, 0, 0, 0, 0]),
    ("trait 7 5", [1, 1, 0, 0, 1]),
    ("trait 7 0", [1, 0, 1, 0, 0]),
    ("trait 7 4294967301", [1, 0, 0, 1, 1]),
])
def test_route_get_agrees_with_ip_rule(table, words, expected):
    router, _ = table
    r = router.r
    got = []
    for selector in ROUTE_GET_RULES:
        r.run(f"ip rule add pref 10 {selector} table 100")
        out = r.run(f"ip route get 198.51.100.1 from 10.1.0.1 iif r0 {words}")
        r.run("ip rule del pref 10")
        got.append(int("dev ub" in out))
    assert got == expected, dict(zip(ROUTE_GET_RULES, got))
