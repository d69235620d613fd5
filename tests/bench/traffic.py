"""Shared by the benchmarks: UDP from netns a to netns b over veth, timed
in the VM (tests/bench/sender.py), and the report each one writes.

Every figure is in virtual nanoseconds: the VM runs under
`qemu -icount shift=0,sleep=off -smp 1`, where guest time advances one
nanosecond per guest instruction. icount counts instructions, not cache
misses: good for ratios measured side by side, not for wall-clock costs.
"""
import json
import os
import struct
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from conftest import Netns, veth  # noqa: E402

PACKETS = int(os.environ.get("BENCH_PACKETS", "20000"))
OUT = os.path.join(ROOT, "build", "results", "bench")
SENDER = os.path.join(ROOT, "tests", "bench", "sender.py")


def pair(a_name, b_name):
    """Namespaces a (10.0.0.1) and b (10.0.0.2) joined by veth va-vb."""
    a, b = Netns(a_name), Netns(b_name)
    veth(a, "va", b, "vb", ("10.0.0.1/24",), ("10.0.0.2/24",))
    a.run("ip neigh add 10.0.0.2 lladdr "
          + b.json("ip -j link show vb")[0]["address"] + " dev va")
    return a, b


def send(a, dst="10.0.0.2", batch=1, sink=None, filt=None, recv="-"):
    """Virtual ns per datagram for PACKETS datagrams from a to dst:9000.

    With sink (a Netns), a socket there receives each one, the way recv
    says (see sender.py).
    """
    out = a.run(f"/usr/bin/python3 {SENDER} {PACKETS} {batch} {dst} "
                f"{sink.name if sink else '-'} {filt or '-'} {recv}")
    ns, missed = (int(x) for x in out.split())
    if missed:
        raise AssertionError(f"{missed} of {PACKETS} datagrams never reached the socket")
    return ns / (PACKETS // batch * batch)


def report(name, lines, method, data=None):
    """Print a markdown table and its method; keep both (and the figures
    behind them, for tests/bench/plot.py) in build/results/bench/."""
    os.makedirs(OUT, exist_ok=True)
    text = "\n".join(lines + ["", method.strip()])
    print(text)
    with open(os.path.join(OUT, f"{name}.md"), "w") as f:
        f.write(text + "\n")
    if data is not None:
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(data, f, indent=1)


XDP_DROP, XDP_PASS = 1, 2


def xdp(b, obj, ntraits=0, verdict=XDP_PASS):
    """One of the benchmark's XDP programs (tests/bpf/bench.h) on b's vb."""
    from bpftool import XdpProgram
    prog = XdpProgram(obj, b, "vb")
    configure(prog, ntraits, verdict)
    return prog


def configure(prog, ntraits=0, verdict=XDP_PASS):
    for idx, v in enumerate((verdict, ntraits)):
        prog.update("bench_conf", struct.pack("=I", idx), struct.pack("=I", v))


def settle():
    """Wait out the deferred release (HZ) of the hand-over's static key
    once nothing uses traits; idle, the VM's clock jumps ahead."""
    time.sleep(2)
