#!/usr/bin/python3
"""make bench, part 2: policy routing on a trait against fwmark.

Same method as bench_nft.py (icount, virtual ns, side by side in one run):
netns a sends UDP through router r, where XDP sets trait 7 = 5 and nft
sets meta mark 5 on every packet. r holds N rules that do not match
(`trait 7 value 1000+i` or `fwmark 1000+i`) before the main table, whose
blackhole route ends the packet. Per-rule cost = (time with N rules -
time with none) / (N * packets), the time with none taken again in each
round, just before that round's legs; the table gives the median over
ROUNDS rounds (the two legs swap order every round) and the range of the
rounds' ratios: at N = 10 the two legs differ by a few dozen ns on a
14 us packet, about one leg's run-to-run noise. The baseline already has
custom rules (all but the local one deleted, then main at 32766), so
every figure is on the rules path, none on the fast path a namespace
without custom rules takes. The first trait rule of a lookup reads the
key once for the rules after it: a fixed cost per lookup that N = 10
spreads over fewer rules than N = 100. Nothing here asserts a time.
"""
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from traffic import PACKETS, report, send  # noqa: E402
from bpftool import XdpTagger  # noqa: E402
from conftest import Netns, veth  # noqa: E402

SIZES = (10, 100, 1000)
ROUNDS = max(1, int(os.environ.get("BENCH_ROUNDS", "5")))


def rules(r, kind, size):
    """Pref 0 (local), N rules of kind, main at 32766. `ip rule flush`
    leaves some of a thousand rules behind (it deletes while it dumps),
    so every rule but pref 0 is deleted by its preference."""
    old = [x["priority"] for x in r.json("ip -j rule show") if x["priority"]]
    lines = "".join(f"rule del pref {p}\n" for p in old)
    lines += "rule add pref 32766 lookup main\n"
    lines += "".join(f"rule add pref {100 + i} {kind} {1000 + i} table 100\n"
                     for i in range(size))
    r.run("ip -batch -", input=lines)
    have = len(r.json("ip -j rule show"))
    if have != size + 2:
        raise AssertionError(f"{have} rules where {size + 2} were meant")


def main():
    a, r = Netns("fa"), Netns("fr")
    tagger = None
    try:
        veth(a, "a0", r, "r0", ("10.1.0.1/24",), ("10.1.0.254/24",))
        a.run("ip route add default via 10.1.0.254")
        a.run("ip neigh add 10.1.0.254 lladdr "
              + r.json("ip -j link show r0")[0]["address"] + " dev a0")
        r.run("sysctl -qw net.ipv4.ip_forward=1")
        r.run("ip route add blackhole 10.2.0.0/24")
        r.run("ip route add blackhole 10.2.0.0/24 table 100")
        tagger = XdpTagger(r, "r0")
        tagger.tag("10.1.0.1", (7, 4, 5))
        r.run("nft add table inet bench")
        r.run("nft add chain inet bench pre '{ type filter hook prerouting priority -150; }'")
        r.run("nft add rule inet bench pre meta mark set 5")
        legs = (("fwmark", "fwmark"), ("trait", "trait 7 value"))
        runs = {(size, leg): [] for size in SIZES for leg, _ in legs}
        for rnd in range(ROUNDS):
            rules(r, "fwmark", 0)
            base = send(a, "10.2.0.1")
            for size in SIZES:
                for leg, kind in legs[::1 if rnd % 2 == 0 else -1]:
                    rules(r, kind, size)
                    runs[size, leg].append((base, send(a, "10.2.0.1")))
        lines = [
            "| rules N | fwmark: ns/pkt | trait: ns/pkt | per-rule fwmark | per-rule trait | trait/fwmark (per rule) | rounds' ratios |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        rows, per_rule = [], []
        for size in SIZES:
            mark, trait = runs[size, "fwmark"], runs[size, "trait"]
            pm = statistics.median((t - b) / size for b, t in mark)
            pt = statistics.median((t - b) / size for b, t in trait)
            # a leg within noise of its baseline has no ratio to give
            ratios = [(t2 - b) / (t1 - b) for (b, t1), (_, t2) in zip(mark, trait) if t1 > b]
            rows.append((size, statistics.median(t for _, t in mark),
                         statistics.median(t for _, t in trait)))
            per_rule.append((size, pm, pt))
            ratio = f"{pt / pm:.3f}" if pm > 0 else "-"
            spread = f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"
            lines.append(f"| {size} | {rows[-1][1]:.0f} | {rows[-1][2]:.0f} | {pm:.1f} | {pt:.1f} | "
                         f"{ratio} | {spread} |")
        base = statistics.median(b for b, _ in runs[SIZES[0], "fwmark"])
        lines += ["", f"Baseline (no rule): {base:.0f} virtual ns per forwarded packet "
                  f"(median); {PACKETS} packets per point, {ROUNDS} rounds."]
        report("fib", lines, __doc__.split("\n\n", 1)[1],
               {"base": base, "rows": rows, "per_rule": per_rule,
                "packets": PACKETS, "rounds": ROUNDS})
        return 0
    finally:
        if tagger:
            tagger.detach()
        a.delete()
        r.delete()


if __name__ == "__main__":
    sys.exit(main())
