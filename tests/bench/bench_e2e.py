#!/usr/bin/python3
"""make bench: packets per second end to end, with traits and without.

netns a sends UDP over veth to a socket in netns b (read after each send,
so a packet's time covers XDP, the stack, the socket and the read). On
vb an XDP program returns XDP_PASS and, in one leg, sets a trait (key 7,
4 bytes), which the receive path hands over into an skb extension. The
idle leg runs before anything in this boot used traits: nothing holds the
hand-over's static key but the XDP program itself (a device with XDP
holds it), so an skb without a block costs the look for one. A third
leg repeats the idle one while an nft rule on a trait exists in another
netns (a consumer holds the same key): traffic that never meets it pays
nothing more.
`make bench` then boots the kernel built without CONFIG_NET_SKB_TRAITS
(make VARIANT=notraits kernel) and runs the idle leg alone there
(`bench_e2e.py --compiled-out`): under icount, one virtual ns per guest
instruction, two boots compare as well as two legs of one boot. Virtual
ns (instructions, not cache misses); nothing here asserts a time.
"""
import json
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from traffic import OUT, PACKETS, Netns, pair, report, send, settle, xdp  # noqa: E402
import nftnl as n  # noqa: E402


def leg(obj, ntraits=0):
    a, b = pair("ea", "eb")
    prog = xdp(b, obj, ntraits)
    try:
        return send(a, sink=b)
    finally:
        prog.detach()
        a.delete()
        b.delete()


def consumer_elsewhere():
    """A netns, never on the traffic's path, with an nft rule on a trait."""
    c = Netns("ec")
    c.run("nft add table inet t")
    c.run("nft add chain inet t in '{ type filter hook input priority 0; }'")
    c.call(n.add_rule, "inet", "t", "in", n.trait_load(7), n.cmp("==", n.host(1)))
    return c


def table(figures):
    idle, with_traits = figures["idle"], figures["traits"]
    lines = ["| leg | kernel | ns/pkt | packets/s | ratio |",
             "|---|---|---:|---:|---:|",
             f"| XDP_PASS, nothing uses traits (idle) | {figures['kernel']} | {idle:.0f} | "
             f"{1e9 / idle:,.0f} | 1.000 |",
             f"| XDP sets 1 trait, handed over to the skb | {figures['kernel']} | "
             f"{with_traits:.0f} | {1e9 / with_traits:,.0f} | "
             f"{with_traits / idle:.3f} (time with / without) |"]
    other = figures.get("idle_consumer")
    if other:
        lines.append(f"| XDP_PASS, an nft trait rule in another netns | {figures['kernel']} | "
                     f"{other:.0f} | {1e9 / other:,.0f} | {other / idle:.4f} (with / idle) |")
    out = figures.get("compiled_out")
    if out:
        lines.append(f"| XDP_PASS, traits compiled out | {figures['out_kernel']} | {out:.0f} | "
                     f"{1e9 / out:,.0f} | {idle / out:.4f} (idle / compiled out) |")
    else:
        lines.append("| XDP_PASS, traits compiled out | not measured | | | "
                     "(no build/kobj-notraits kernel) |")
    lines += ["", f"{figures['packets']} packets per point."]
    report("e2e", lines, __doc__.split("\n\n", 1)[1], figures)


def main():
    path = os.path.join(OUT, "e2e.json")
    if sys.argv[1:] == ["--compiled-out"]:
        with open(path) as f:
            figures = json.load(f)
        figures["compiled_out"] = leg("xdp_pass.bpf.o")
        figures["out_kernel"] = platform.release()
    else:
        figures = {"packets": PACKETS, "kernel": platform.release()}
        figures["idle"] = leg("xdp_pass.bpf.o")
        figures["traits"] = leg("xdp_trait_n.bpf.o", 1)
        c = consumer_elsewhere()
        try:
            figures["idle_consumer"] = leg("xdp_pass.bpf.o")
        finally:
            c.delete()
        settle()
    table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
