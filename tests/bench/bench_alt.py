#!/usr/bin/python3
"""make bench: traits against what people use today to carry an XDP
verdict to a later consumer.

Same traffic in every leg: netns a sends UDP over veth to a socket in
netns b, read after each send. XDP on vb classifies every packet as 5,
and a consumer in b checks the class and counts the packets that carry
it (every one must):
- traits: XDP sets trait 7 = 5 (bpf_xdp_trait_set); an nft input rule
  `meta trait 7 == 5 counter` (sent over netlink, tests/nftnl.py);
- mark: XDP writes 5 as its own metadata (bpf_xdp_adjust_meta); TC
  ingress copies it into skb->mark; an nft input rule `meta mark == 5
  counter`;
- skb-keyed map: XDP writes the metadata as above; TC ingress stores it
  in a hash map keyed by the skb's address; a socket filter on the
  receiving socket looks it up; tp_btf programs on skb:consume_skb and
  skb:kfree_skb delete the entry of every skb freed;
- traits, block by hand: as traits, but XDP writes the block itself with
  bpf_xdp_adjust_meta(), as the mark leg writes its metadata (like for
  like with the mark: only what carries the class on differs);
- traits to the same consumer: XDP sets trait 7 = 5; a socket filter on
  the receiving socket reads it with bpf_skb_trait_get() (like for like
  with the map: only the carrier differs).
Cost of a mechanism = its time per packet - the time with an XDP program
that only passes (no TC, no nft). The alternatives run first, with no
trait user loaded (the hand-over's static key off). Virtual ns (icount:
instructions, not cache misses); nothing here asserts a time.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from traffic import PACKETS, pair, report, send, settle, xdp  # noqa: E402
from bpftool import Pinned, TcProgram, attach_tracing, u64s  # noqa: E402
import nftnl as n  # noqa: E402

NOTES = []


def counted(b, match):
    """An nft input chain in b counting the packets that match."""
    b.run("nft add table inet bench")
    b.run("nft add counter inet bench hits")
    b.run("nft add chain inet bench in '{ type filter hook input priority 0; }'")
    b.call(n.add_rule, "inet", "bench", "in", *match, n.counter("hits"))


def hits(b):
    return b.json("nft -j list counter inet bench hits")["nftables"][1]["counter"]["packets"]


def base(a, b, progs):
    progs.append(xdp(b, "xdp_pass.bpf.o"))
    return send(a, sink=b), PACKETS


def mark(a, b, progs):
    progs.append(xdp(b, "xdp_meta_value.bpf.o"))
    progs.append(TcProgram("tc_meta_mark.bpf.o", b, "vb"))
    counted(b, [n.meta_load(n.NFT_META_MARK), n.cmp("==", n.host(5))])
    return send(a, sink=b), hits(b)


def skb_map(a, b, progs):
    progs.append(xdp(b, "xdp_meta_value.bpf.o"))
    tc = TcProgram("skb_map.bpf.o", b, "vb", prog="skb_map_store")
    progs.append(tc)
    consumer, links = tc.program("skb_map_match"), []
    try:
        free = Pinned("skb_map_free.bpf.o", maps={"by_skb": tc.map_path("by_skb")})
    except AssertionError:          # no BPF on tracepoints in this kernel
        consumer = tc.program("skb_map_match_forget")
        NOTES.append("This kernel has no BPF on tracepoints (CONFIG_BPF_EVENTS): the "
                     "skb-keyed map's socket filter deleted the entries itself, a "
                     "lower bound of that mechanism's cost.")
    else:
        progs.append(free)
        links = [attach_tracing(free.program(p)) for p in ("skb_map_consume", "skb_map_kfree")]
    try:
        ns = send(a, sink=b, filt=consumer)
    finally:
        for fd in links:
            os.close(fd)
    return ns, u64s(tc, "skb_map_stats", 1)[0]


def traits(a, b, progs):
    progs.append(xdp(b, "xdp_trait_n.bpf.o", 1))
    counted(b, [n.trait_load(7), n.cmp("==", n.host(5))])
    return send(a, sink=b), hits(b)


def traits_hand(a, b, progs):
    progs.append(xdp(b, "xdp_block_n.bpf.o", 1))
    counted(b, [n.trait_load(7), n.cmp("==", n.host(5))])
    return send(a, sink=b), hits(b)


def traits_socket(a, b, progs):
    progs.append(xdp(b, "xdp_trait_n.bpf.o", 1))
    filt = Pinned("socket_trait_match.bpf.o", "socket")
    progs.append(filt)
    return send(a, sink=b, filt=filt.prog), u64s(filt, "matched", 1)[0]


def leg(fn):
    a, b = pair("aa", "ab")
    progs = []
    try:
        ns, matched = fn(a, b, progs)
    finally:
        for p in progs:
            getattr(p, "detach", p.remove)()
        a.delete()
        b.delete()
    if matched < PACKETS:
        raise AssertionError(f"{fn.__name__}: the consumer saw the class on "
                             f"{matched} of {PACKETS} packets")
    return ns


def main():
    settle()
    t = {fn.__name__: leg(fn) for fn in (base, mark, skb_map, traits, traits_hand,
                                          traits_socket)}
    names = {"traits": "traits: XDP kfunc -> nft meta trait",
             "traits_hand": "traits: XDP block by hand (adjust_meta) -> nft meta trait",
             "traits_socket": "traits: XDP kfunc -> socket filter (bpf_skb_trait_get)",
             "mark": "metadata -> TC -> skb->mark -> nft meta mark",
             "skb_map": "metadata -> TC -> map[skb] -> socket filter; tracepoint cleanup"}
    cost = {k: t[k] - t["base"] for k in names}
    lines = ["| mechanism | ns/pkt | cost over XDP_PASS | cost / traits (nft) | "
             "cost / traits (socket filter) |",
             "|---|---:|---:|---:|---:|",
             f"| none: XDP_PASS only | {t['base']:.0f} | 0 | | |"]
    for k, name in names.items():
        lines.append(f"| {name} | {t[k]:.0f} | {cost[k]:.0f} | {cost[k] / cost['traits']:.2f} | "
                     f"{cost[k] / cost['traits_socket']:.2f} |")
    lines += ["", f"skb-keyed map / traits, same consumer (socket filter): "
              f"{cost['skb_map'] / cost['traits_socket']:.2f}; skb-keyed map (socket "
              f"filter) / traits (nft): {cost['skb_map'] / cost['traits']:.2f}; goal: "
              f"at least 1.5. traits (nft) / mark (nft): "
              f"{cost['traits'] / cost['mark']:.2f} with the kfunc, "
              f"{cost['traits_hand'] / cost['mark']:.2f} with the block by hand; goal: "
              f"at most 1.3. {PACKETS} packets per point."] + NOTES
    report("alternatives", lines, __doc__.split("\n\n", 1)[1],
           {"packets": PACKETS, "ns": t})
    return 0


if __name__ == "__main__":
    sys.exit(main())
