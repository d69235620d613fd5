"""Shared by calls.py and costs.py: tracefs settings, and one traced leg
of UDP from netns a to a socket in netns b under b's XDP program."""
import os
import re
import subprocess

from traffic import XDP_PASS, send, xdp

TRACING = "/sys/kernel/tracing"


def tracing(name, value):
    with open(f"{TRACING}/{name}", "w") as f:
        f.write(value)


def setting(name):
    """A tracefs setting as written back: "7 (expanded: 1408)" is 1408."""
    with open(f"{TRACING}/{name}") as f:
        text = f.read()
    m = re.search(r"expanded: (\d+)", text)
    return m.group(1) if m else text.split()[0]


def prepare(buffer_kb):
    """Tracing off, a buffer of buffer_kb; what restore() puts back."""
    if not os.path.exists(f"{TRACING}/trace"):
        subprocess.run(["mount", "-t", "tracefs", "tracefs", TRACING], check=True)
    saved = {name: setting(name) for name in ("tracing_on", "buffer_size_kb")}
    tracing("tracing_on", "0")
    tracing("buffer_size_kb", str(buffer_kb))
    return saved


def restore(saved):
    tracing("current_tracer", "nop")
    for name, value in saved.items():
        tracing(name, value)


def traced_leg(a, b, obj, ntraits):
    """The lines the tracer wrote while a sent to a socket in b, whose XDP
    program obj sets ntraits, after a first pass that lets caches and
    routes settle. The sender's warm-up packets are traced too."""
    prog = xdp(b, obj, ntraits, XDP_PASS)
    try:
        send(a, sink=b)
        tracing("trace", "")
        tracing("tracing_on", "1")
        send(a, sink=b)
        tracing("tracing_on", "0")
    finally:
        prog.detach()
    with open(f"{TRACING}/trace") as f:
        yield from f
