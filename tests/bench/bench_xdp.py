#!/usr/bin/python3
"""make bench: what bpf_xdp_trait_set() costs an XDP program.

One run, side by side: netns a sends UDP over veth to netns b, whose XDP
program on vb does nothing, sets 1 or 4 four-byte traits with
bpf_xdp_trait_set(), or writes the very same block by hand with
bpf_xdp_adjust_meta(). With XDP_DROP the time is the XDP program's cost
over the program doing nothing; with XDP_PASS the packet goes on to a UDP
socket in b (read after each send), and the block, handed over into the
skb by the receive path in both cases (a kfunc program loaded but not
attached holds the hand-over's static key in every leg), is paid for too.
Virtual ns per packet (icount: instructions, not cache misses); nothing
here asserts a time.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from traffic import PACKETS, XDP_DROP, XDP_PASS, configure, pair, report, send, xdp  # noqa: E402
from bpftool import Pinned  # noqa: E402

LEGS = (("nothing (XDP_PASS)", "xdp_pass.bpf.o", 0),
        ("bpf_xdp_trait_set, 1 trait", "xdp_trait_n.bpf.o", 1),
        ("by hand (adjust_meta), 1 trait", "xdp_block_n.bpf.o", 1),
        ("bpf_xdp_trait_set, 4 traits", "xdp_trait_n.bpf.o", 4),
        ("by hand (adjust_meta), 4 traits", "xdp_block_n.bpf.o", 4))


def main():
    a, b = pair("xa", "xb")
    key_holder = Pinned("xdp_trait_n.bpf.o", "xdp")
    try:
        rows = []
        for name, obj, ntraits in LEGS:
            prog = xdp(b, obj, ntraits, XDP_DROP)
            try:
                drop = send(a)
                configure(prog, ntraits, XDP_PASS)
                passed = send(a, sink=b)
            finally:
                prog.detach()
            rows.append((name, drop, passed))
        _, drop0, pass0 = rows[0]
        lines = ["| XDP program | XDP_DROP ns/pkt | XDP cost over nothing | "
                 "XDP_PASS to socket ns/pkt | over nothing | PASS / nothing |",
                 "|---|---:|---:|---:|---:|---:|"]
        for name, drop, passed in rows:
            lines.append(f"| {name} | {drop:.0f} | {drop - drop0:.0f} | {passed:.0f} | "
                         f"{passed - pass0:.0f} | {passed / pass0:.3f} |")
        cost = {name: (drop - drop0, passed - pass0) for name, drop, passed in rows}
        for n in (1, 4):
            s = cost[f"bpf_xdp_trait_set, {n} trait{'s' if n > 1 else ''}"]
            h = cost[f"by hand (adjust_meta), {n} trait{'s' if n > 1 else ''}"]
            lines.append("")
            lines.append(f"{n} trait{'s' if n > 1 else ''}: kfunc / by hand = "
                         f"{s[0] / max(h[0], 1):.2f} in XDP alone, "
                         f"{s[1] / max(h[1], 1):.2f} through to the socket.")
        lines += ["", f"{PACKETS} packets per point."]
        report("xdp", lines, __doc__.split("\n\n", 1)[1],
               {"packets": PACKETS, "rows": rows})
        return 0
    finally:
        key_holder.remove()
        a.delete()
        b.delete()


if __name__ == "__main__":
    sys.exit(main())
