#!/usr/bin/python3
"""make bench-profile: where the instructions of the hand-over go.

Runs the end-to-end legs of bench_e2e.py (UDP from netns a over veth to a
socket in netns b, XDP on vb) under `perf record -a -e cpu-clock`. Under
`qemu -icount shift=0,sleep=off` the cpu-clock timer fires every PERIOD
virtual ns, that is every PERIOD guest instructions, so a symbol's samples
* PERIOD / packets is the instructions per packet spent in it (a sampled
estimate: rows under ~10 ns are noise). Prints, per kernel symbol, the
virtual ns per packet of the XDP_PASS leg, of a leg where XDP sets 1
trait with the kfunc, writes the same block by hand (the hand-over
without the kfunc) or sets 4 traits, and the difference, largest first.
Samples taken in perf itself are left out: it writes its samples to a
tmpfs file (clear_page_erms, copies), and more of them in a longer leg.
Nothing here asserts a time.
"""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from traffic import OUT, PACKETS, pair, report, send, xdp  # noqa: E402

PERIOD = 5000
# The by-hand leg shows the hand-over without the kfunc's share.
LEGS = (("xdp_trait_n.bpf.o", 1, "XDP sets 1 trait (kfunc)"),
        ("xdp_block_n.bpf.o", 1, "XDP writes a block of 1 trait by hand"),
        ("xdp_trait_n.bpf.o", 4, "XDP sets 4 traits (kfunc)"))
LINE = re.compile(r"^\s*(\d+)\s+(\S+)\s+\[k\]\s+(\S+)")


def profile(obj, ntraits):
    """{symbol: virtual ns per packet} for one leg."""
    a, b = pair("pa", "pb")
    prog = xdp(b, obj, ntraits)
    data = f"/tmp/perf-{ntraits}.data"
    try:
        send(a, sink=b)         # warm up: sockets, neighbours, caches
        perf = subprocess.Popen(["perf", "record", "-q", "-a", "-e", "cpu-clock",
                                 "-c", str(PERIOD), "-o", data],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            send(a, sink=b)
        finally:
            perf.send_signal(signal.SIGINT)
            perf.wait()
    finally:
        prog.detach()
        a.delete()
        b.delete()
    out = subprocess.run(["perf", "report", "-i", data, "--stdio", "-q",
                          "--sort", "comm,sym", "-F", "sample,comm,sym"],
                         capture_output=True, text=True, check=True).stdout
    ns = {}
    for line in out.splitlines():
        m = LINE.match(line)
        # perf's own work: writing its samples (more in a longer leg)
        if m and m.group(2) != "perf":
            ns[m.group(3)] = ns.get(m.group(3), 0) + int(m.group(1)) * PERIOD / PACKETS
    return ns


def main():
    # Every sample counts: no throttling of the sample rate.
    for knob, value in (("perf_event_max_sample_rate", str(10**9 // PERIOD)),
                        ("perf_cpu_time_max_percent", "0")):
        with open(f"/proc/sys/kernel/{knob}", "w") as f:
            f.write(value)
    base = profile("xdp_pass.bpf.o", 0)
    lines = []
    for obj, n, what in LEGS:
        leg = profile(obj, n)
        diff = sorted(((leg.get(s, 0) - base.get(s, 0), s) for s in set(base) | set(leg)),
                      reverse=True)
        total = sum(leg.values()) - sum(base.values())
        lines += [f"### {what}: "
                  f"{total:.0f} virtual ns per packet more than XDP_PASS (sampled)", "",
                  "| kernel symbol | XDP_PASS ns/pkt | traits ns/pkt | difference |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {s} | {base.get(s, 0):.0f} | {leg.get(s, 0):.0f} | {d:+.0f} |"
                  for d, s in diff[:20] if abs(d) >= 5]
        lines.append("")
    lines.append(f"{PACKETS} packets per leg, one sample every {PERIOD} virtual ns.")
    report("profile", lines, __doc__.split("\n\n", 1)[1])
    print(f"written to {OUT}/profile.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
