#!/usr/bin/python3
"""make bench: an skb carrying traits through loopback UDP.

The picture upstream drew for skb metadata: the cost of carrying it on
loopback traffic, where no XDP hands anything over. In one netns, UDP to
127.0.0.1:9000, read by a socket after each send, in three legs: no rule;
an nft output rule `meta mark set 5` (the mark, for like with like: one
rule, a value on the skb); an nft output rule `meta trait 7 set 5`, which
allocates the skb extension and carries it through loopback to the
socket. Virtual ns (icount: instructions, not cache misses); no
threshold, nothing here asserts a time.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from traffic import PACKETS, Netns, report, send  # noqa: E402
import nftnl as n  # noqa: E402


def output_rule(ns, exprs):
    ns.run("nft flush chain inet bench out")
    if exprs:
        ns.call(n.add_rule, "inet", "bench", "out", *exprs)


def main():
    lo = Netns("lb")
    try:
        lo.run("ip link set lo up")
        lo.run("nft add table inet bench")
        lo.run("nft add chain inet bench out '{ type filter hook output priority 0; }'")
        legs = (("no rule", []),
                ("nft output: meta mark set 5", [n.immediate(n.host(5)),
                                                 n.meta_set(n.NFT_META_MARK)]),
                ("nft output: meta trait 7 set 5", [n.immediate(n.host(5)),
                                                    n.trait_set(7)]))
        figures = []
        for name, exprs in legs:
            output_rule(lo, exprs)
            figures.append((name, send(lo, "127.0.0.1", sink=lo)))
        base = figures[0][1]
        mark = figures[1][1]
        lines = ["| leg | ns/pkt | over no rule | time / no rule | time / mark |",
                 "|---|---:|---:|---:|---:|"]
        lines += [f"| {name} | {ns:.0f} | {ns - base:.0f} | {ns / base:.3f} | {ns / mark:.3f} |"
                  for name, ns in figures]
        lines += ["", f"{PACKETS} packets per point."]
        report("loopback", lines, __doc__.split("\n\n", 1)[1],
               {"packets": PACKETS, "legs": figures})
        return 0
    finally:
        lo.delete()


if __name__ == "__main__":
    sys.exit(main())
