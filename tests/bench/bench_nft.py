#!/usr/bin/python3
"""make bench: what matching traits costs, against matching skb->mark.

Runs in the VM under `qemu -icount shift=0,sleep=off -smp 1`: guest time
advances one nanosecond per guest instruction, so timings repeat to about
1% on a noisy host. icount counts instructions, not cache misses: these
are virtual nanoseconds, good for ratios, not absolute wall-clock costs.

Method: netns a sends UDP over veth to netns b, where XDP sets trait
7 = 5 and an nft prerouting rule sets meta mark 5 on every packet. b's
input chain holds N rules that do not match (== 1000 + i) followed by a
drop. The per-rule cost is (time with N rules - time with no rule) /
(N * packets); the ratio trait/mark compares the two side by side in the
same run. N starts at 10: one rule (80-110 ns) is within the run-to-run
noise of a 13 us packet (timers and RCU work land in one leg or
another). A vmap on the trait (N entries) is compared with N linear
trait rules. Nothing here asserts a time.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from traffic import PACKETS, pair, report, send  # noqa: E402
import nftnl as n  # noqa: E402
from bpftool import XdpTagger  # noqa: E402

SIZES = (10, 100, 1000)


def chain(b, rules):
    b.run("nft flush chain inet bench in")
    for i in range(0, len(rules), 100):   # a batch per 100: netlink's buffer
        b.call(n.add_rules, "inet", "bench", "in", rules[i:i + 100])
    b.call(n.add_rule, "inet", "bench", "in", n.verdict(n.NF_DROP))


def trait_rule(i):
    return [n.trait_load(7), n.cmp("==", n.host(1000 + i))]


def mark_rule(i):
    return [n.meta_load(n.NFT_META_MARK), n.cmp("==", n.host(1000 + i))]


def main():
    a, b = pair("ba", "bb")
    tagger = None
    try:
        tagger = XdpTagger(b, "vb")
        tagger.tag("10.0.0.1", (7, 4, 5))
        b.run("nft add table inet bench")
        b.run("nft add chain inet bench pre '{ type filter hook prerouting priority -150; }'")
        b.run("nft add rule inet bench pre meta mark set 5")
        b.run("nft add chain inet bench in '{ type filter hook input priority 0; }'")

        chain(b, [])
        base = send(a)
        rows = []
        for size in SIZES:
            chain(b, [mark_rule(i) for i in range(size)])
            mark = send(a)
            chain(b, [trait_rule(i) for i in range(size)])
            trait = send(a)
            b.run("nft add map inet bench vm '{ type mark : verdict; }' 2>/dev/null || true")
            b.run("nft flush map inet bench vm")
            elems = ", ".join(f"{1000 + i} : accept" for i in range(size))
            b.run(f"nft add element inet bench vm '{{ {elems} }}'")
            chain(b, [[n.trait_load(7), n.lookup("vm", dreg=n.NFT_REG_VERDICT)]])
            vmap = send(a)
            rows.append((size, mark, trait, vmap))

        lines = [
            "| rules N | mark: ns/pkt | trait: ns/pkt | per-rule mark | per-rule trait | trait/mark (per rule) | trait vmap ns/pkt | linear trait / vmap |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for size, mark, trait, vmap in rows:
            pm, pt = (mark - base) / size, (trait - base) / size
            lines.append(f"| {size} | {mark:.0f} | {trait:.0f} | {pm:.1f} | {pt:.1f} | "
                         f"{pt / pm:.3f} | {vmap:.0f} | {(trait - base) / max(vmap - base, 1):.2f} |")
        lines += ["", f"Baseline (no rule, then drop): {base:.0f} virtual ns per packet; "
                  f"{PACKETS} packets per point."]
        report("nft", lines, __doc__.split("\n\n", 1)[1],
               {"base": base, "rows": rows, "packets": PACKETS})
        return 0
    finally:
        if tagger:
            tagger.detach()
        a.delete()
        b.delete()


if __name__ == "__main__":
    sys.exit(main())
