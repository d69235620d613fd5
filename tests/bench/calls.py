#!/usr/bin/python3
"""make bench-profile: which kernel calls the hand-over adds to a packet.

One boot, the function tracer on every kernel function: netns a sends
UDP over veth to a socket in netns b, whose XDP program leaves either
four bytes of metadata of its own (xdp_meta_value.bpf.o) or a block of
one trait written by hand (xdp_block_n.bpf.o, xdp.md's by-hand leg), so
the difference is the hand-over and the extension's life, not the XDP
program's writing. Calls in hard interrupts and in the idle task follow
the clock, not the packets, and are not counted; the metadata leg runs
twice, and a function whose count still moves between those two runs
(timer and RCU callbacks) is left out. Calls per packet are counted
exactly, where profile.md samples; what they cost is in costs.md.
Nothing here asserts a time.
"""
import collections
import os
import re
import sys

os.environ["BENCH_PACKETS"] = "300"	# every call of every packet is kept
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from traffic import OUT, PACKETS, pair, report  # noqa: E402
from sender import WARMUP  # noqa: E402
from ftrace import prepare, restore, traced_leg, tracing  # noqa: E402

# task-pid [cpu] irq-flags timestamp: function <-caller
CALL = re.compile(r"^\s*(.+)-\d+\s+\[\d+\]\s+(\S+)\s+[\d.]+:\s+(\S+) <-")
LEGS = (("metadata", "xdp_meta_value.bpf.o", 0),
        ("block", "xdp_block_n.bpf.o", 1),
        ("metadata again", "xdp_meta_value.bpf.o", 0))


def calls(a, b, obj, ntraits):
    """{function: calls per packet} while a sends to a socket in b."""
    count = collections.Counter()
    for line in traced_leg(a, b, obj, ntraits):
        m = CALL.match(line)
        # the clock's work (hard interrupts, the idle task) follows the
        # leg's length, not its packets
        if m and not set("hH") & set(m.group(2)) and m.group(1).strip() != "<idle>":
            count[m.group(3)] += 1
    # the sender's warm-up packets are traced too
    return {fn: n / (PACKETS + WARMUP) for fn, n in count.items()}


def main():
    saved = prepare(300000)
    tracing("current_tracer", "function")
    a, b = pair("ca", "cb")
    try:
        legs = [calls(a, b, obj, n) for _, obj, n in LEGS]
    finally:
        restore(saved)
        a.delete()
        b.delete()
    meta, block, again = legs
    rows = []
    for fn in set(meta) | set(block):
        d = block.get(fn, 0) - meta.get(fn, 0)
        if abs(d) >= 0.5 and abs(again.get(fn, 0) - meta.get(fn, 0)) < 0.2:
            rows.append((-abs(d), fn, d))
    lines = ["| kernel function | metadata calls/pkt | block calls/pkt | difference |",
             "|---|---:|---:|---:|"]
    lines += [f"| {fn} | {meta.get(fn, 0):.2f} | {block.get(fn, 0):.2f} | {d:+.2f} |"
              for _, fn, d in sorted(rows)]
    lines += ["", f"{PACKETS + WARMUP} packets per leg, every call traced."]
    report("calls", lines, __doc__.split("\n\n", 1)[1])
    print(f"written to {OUT}/calls.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
