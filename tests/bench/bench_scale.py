#!/usr/bin/python3
"""make bench: how the cost of traits grows with traits per packet and
with the sender's batch.

netns a sends UDP over veth to a socket in netns b (read after each
send); XDP on vb sets N four-byte traits (keys 7.., bpf_xdp_trait_set),
which the receive path hands over into the skb. Traits: N = 0 (the same
program, setting none) to 16 (64 bytes, the default capacity). Rate:
under icount a packet costs the same instructions at any offered rate;
what load changes is batching, so the rate axis is the sender's batch:
B datagrams per sendto() as UDP GSO segments, cut up before the veth and
taken by one NAPI poll on vb, so that per-syscall and per-poll work is
shared by B packets while the per-packet work of traits is not.
Virtual ns (instructions, not cache misses); nothing here asserts a time.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from traffic import PACKETS, configure, pair, report, send, xdp  # noqa: E402

TRAITS = (0, 1, 2, 4, 8, 16)
BATCHES = (1, 4, 16, 64)


def main():
    a, b = pair("sa", "sb")
    prog = xdp(b, "xdp_trait_n.bpf.o")
    try:
        by_traits = []
        for ntraits in TRAITS:
            configure(prog, ntraits)
            by_traits.append((ntraits, send(a, sink=b)))
        by_batch = []
        for batch in BATCHES:
            configure(prog, 0)
            without = send(a, batch=batch, sink=b)
            configure(prog, 1)
            by_batch.append((batch, without, send(a, batch=batch, sink=b)))
    finally:
        prog.detach()
        a.delete()
        b.delete()

    t0 = by_traits[0][1]
    lines = ["| traits per packet | ns/pkt | over 0 traits | per trait | time / 0 traits |",
             "|---:|---:|---:|---:|---:|"]
    for ntraits, t in by_traits:
        per = f"{(t - t0) / ntraits:.0f}" if ntraits else ""
        lines.append(f"| {ntraits} | {t:.0f} | {t - t0:.0f} | {per} | {t / t0:.3f} |")
    lines += ["", "| batch B (datagrams per send) | no trait ns/pkt | 1 trait ns/pkt | "
              "trait cost ns/pkt | packets/s, 1 trait | time with / without |",
              "|---:|---:|---:|---:|---:|---:|"]
    for batch, without, with_trait in by_batch:
        lines.append(f"| {batch} | {without:.0f} | {with_trait:.0f} | {with_trait - without:.0f} | "
                     f"{1e9 / with_trait:,.0f} | {with_trait / without:.3f} |")
    lines += ["", f"{PACKETS} packets per point."]
    report("scale", lines, __doc__.split("\n\n", 1)[1],
           {"packets": PACKETS, "traits": by_traits, "batch": by_batch})
    return 0


if __name__ == "__main__":
    sys.exit(main())
