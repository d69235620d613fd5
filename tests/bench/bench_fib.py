#!/usr/bin/python3
"""make bench, part 2: policy routing on a trait against fwmark.

Same method as bench_nft.py (icount, virtual ns, side by side in one run):
netns a sends UDP through router r, where XDP sets trait 7 = 5 and nft
sets meta mark 5 on every packet. r holds N rules that do not match
(`trait 7 value 1000+i` or `fwmark 1000+i`) before the main table, whose
blackhole route ends the packet. Per-rule cost = (time with N rules -
time with none) / (N * packets). The baseline already has custom rules
(`ip rule flush`, then main at 32766), so every figure is on the rules
path, none on the fast path a namespace without custom rules takes; N
starts at 10 because one rule (15-35 ns) is within the run-to-run noise
of a 14 us packet. Nothing here asserts a time.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from traffic import PACKETS, report, send  # noqa: E402
from bpftool import XdpTagger  # noqa: E402
from conftest import Netns, veth  # noqa: E402

SIZES = (10, 100, 1000)
def rules(r, kind, size):
    r.run("ip rule flush")                  # keeps pref 0, lookup local
    r.run("ip rule add pref 32766 lookup main")
    lines = "".join(f"rule add pref {100 + i} {kind} {1000 + i} table 100\n"
                    for i in range(size))
    if lines:
        r.run("ip -batch -", input=lines)


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
        rules(r, "fwmark", 0)
        base = send(a, "10.2.0.1")
        rows = []
        for size in SIZES:
            rules(r, "fwmark", size)
            mark = send(a, "10.2.0.1")
            rules(r, "trait 7 value", size)
            trait = send(a, "10.2.0.1")
            rows.append((size, mark, trait))
        lines = [
            "| rules N | fwmark: ns/pkt | trait: ns/pkt | per-rule fwmark | per-rule trait | trait/fwmark (per rule) |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for size, mark, trait in rows:
            pm, pt = (mark - base) / size, (trait - base) / size
            lines.append(f"| {size} | {mark:.0f} | {trait:.0f} | {pm:.1f} | {pt:.1f} | {pt / pm:.3f} |")
        lines += ["", f"Baseline (no rule): {base:.0f} virtual ns per forwarded packet; "
                  f"{PACKETS} packets per point."]
        report("fib", lines, __doc__.split("\n\n", 1)[1],
               {"base": base, "rows": rows, "packets": PACKETS})
        return 0
    finally:
        if tagger:
            tagger.detach()
        a.delete()
        r.delete()


if __name__ == "__main__":
    sys.exit(main())
