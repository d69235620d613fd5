#!/usr/bin/python3
"""make bench-profile: what the hand-over's kernel functions cost.

The same two legs as calls.md (a UDP socket in netns b receives from a;
b's XDP program leaves four bytes of metadata of its own, or a block of
one trait written by hand), timed one kernel function at a time with the
function_graph tracer: only that function is hooked (set_ftrace_filter
and set_graph_function, depth 1), so a call's duration is the
instructions in it and in everything it calls (icount: one virtual ns
each) plus a fixed cost of the tracer's. Only differences are given, in
which that cost cancels: a function between the legs, or a function less
the one call it makes (the hand-over less skb_ext_add()). The sender's
udp_sendmsg() covers the whole packet, since veth delivers in the
sender's softirq, up to the socket's queue, where UDP drops the
extension. Nothing here asserts a time.
"""
import os
import re
import statistics
import sys

os.environ["BENCH_PACKETS"] = "2000"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from traffic import OUT, PACKETS, pair, report  # noqa: E402
from sender import WARMUP  # noqa: E402
from ftrace import prepare, restore, traced_leg, tracing  # noqa: E402

LEGS = (("metadata", "xdp_meta_value.bpf.o", 0), ("block", "xdp_block_n.bpf.o", 1))
FUNCS = ("udp_sendmsg", "skb_traits_from_meta", "skb_ext_add",
         "__udp_enqueue_schedule_skb")
# function_graph at depth 1: "  1.234 us    |  fn();"
CALL = re.compile(r"([\d.]+) us\s+\|\s+(\S+)\(\);")


def durations(a, b, obj, ntraits, fn):
    """Virtual ns of every call of fn while a sends to a socket in b."""
    tracing("set_graph_function", fn)
    tracing("set_ftrace_filter", fn)	# no hook on what fn calls
    out = []
    for line in traced_leg(a, b, obj, ntraits):
        m = CALL.search(line)
        if m and m.group(2) == fn:
            out.append(float(m.group(1)) * 1000)
    return out


def trimmed_mean(values):
    """Without the top 1%: a call an interrupt landed in."""
    values = sorted(values)
    return statistics.fmean(values[:max(1, len(values) * 99 // 100)])


def main():
    saved = prepare(100000)
    tracing("set_ftrace_filter", FUNCS[0])	# not every function hooked at once
    tracing("current_tracer", "function_graph")
    tracing("trace_options", "nofuncgraph-irqs")
    tracing("max_graph_depth", "1")
    a, b = pair("pa", "pb")
    packets = PACKETS + WARMUP	# the sender's warm-up is traced too
    per_pkt = {}		# (leg, function): virtual ns per packet, tracer's cost in
    try:
        for leg, obj, n in LEGS:
            for fn in FUNCS:
                d = durations(a, b, obj, n, fn)
                # every packet calls each, but for the metadata leg's missing
                # extension: fewer calls means a renamed function, or lines
                # this script does not read
                if len(d) < packets and (leg, fn) != ("metadata", "skb_ext_add"):
                    raise AssertionError(f"{fn}: {len(d)} calls traced for {packets} packets")
                per_pkt[leg, fn] = trimmed_mean(d) * len(d) / packets if d else 0.0
    finally:
        tracing("trace_options", "funcgraph-irqs")
        tracing("max_graph_depth", "0")
        tracing("set_graph_function", "")
        tracing("set_ftrace_filter", "")
        restore(saved)
        a.delete()
        b.delete()

    def diff(fn):
        return per_pkt["block", fn] - per_pkt["metadata", fn]

    total, handover, queue = (diff(fn) for fn in
                              ("udp_sendmsg", "skb_traits_from_meta",
                               "__udp_enqueue_schedule_skb"))
    own = per_pkt["block", "skb_traits_from_meta"] - per_pkt["block", "skb_ext_add"]
    lines = ["| what the block of one trait adds to a packet | virtual ns |",
             "|---|---:|",
             f"| the whole packet (udp_sendmsg) | {total:+.0f} |",
             f"| the hand-over (skb_traits_from_meta) | {handover:+.0f} |",
             f"| - of which skb_ext_add(): the extension allocated, zeroed, set up | >= {handover - own:.0f} |",
             f"| - the rest: find, check, copy the block, trim the metadata | <= {own:.0f} |",
             f"| UDP's queueing (__udp_enqueue_schedule_skb), which frees the extension | {queue:+.0f} |",
             f"| everything else (the XDP program's bigger write, ...) | {total - handover - queue:+.0f} |",
             "",
             f"The extension's life (allocation and free) costs at least "
             f"{handover - own + queue:.0f} of the {total:.0f}. skb_ext_add()'s share is "
             f"a lower bound: the hand-over less skb_ext_add() ({own:.0f}) includes "
             f"what the hand-over costs in the metadata leg, where it finds no block. "
             f"{packets} packets per function and leg."]
    report("costs", lines, __doc__.split("\n\n", 1)[1])
    print(f"written to {OUT}/costs.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
