#!/usr/bin/python3
"""make demo: packet traits end to end, on real traffic in the VM.

Two tenants behind a router with two uplinks. XDP on the router's ingress
tags tenant A with trait 1 = 1 and tenant B with trait 1 = 2; nftables
counts per tenant and drops a blocked class; `ip rule ... trait` sends
tenant B out of the second uplink.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import nftnl as n  # noqa: E402
from bpftool import XdpTagger  # noqa: E402
from conftest import Netns, veth  # noqa: E402

NFT = os.environ.get("NFT")


def say(text):
    print(text, flush=True)


def typed(ns, line):
    say(f"  {ns.name}# {line}")


def main():
    made = []

    def ns(name):
        x = Netns(name)
        made.append(x)
        return x

    tagger = None
    try:
        ta, tb, r, up1, up2 = ns("tenantA"), ns("tenantB"), ns("router"), ns("uplink1"), ns("uplink2")
        veth(ta, "eth0", r, "ta", ("10.1.0.10/24",), ("10.1.0.1/24",))
        veth(tb, "eth0", r, "tb", ("10.2.0.10/24",), ("10.2.0.1/24",))
        veth(r, "up1", up1, "eth0", ("10.10.0.1/24",), ("10.10.0.2/24",))
        veth(r, "up2", up2, "eth0", ("10.20.0.1/24",), ("10.20.0.2/24",))
        ta.run("ip route add default via 10.1.0.1")
        tb.run("ip route add default via 10.2.0.1")
        r.run("sysctl -qw net.ipv4.ip_forward=1")
        r.run("ip route add default via 10.10.0.2")
        r.run("ip route add default via 10.20.0.2 table 100")
        for up, gw in ((up1, "10.10.0.1"), (up2, "10.20.0.1")):
            up.run("ip addr add 203.0.113.80/32 dev lo")
            up.run(f"ip route add 10.0.0.0/8 via {gw}")
            up.run("sh -c 'while true; do echo hello | nc -l -N -p 80 >/dev/null 2>&1; done' "
                   "> /dev/null 2>&1 &")

        say("== XDP on the router's tenant-facing ports sets traits (tests/bpf/xdp_traits)")
        taggers = []
        for dev, src, val in (("ta", "10.1.0.10", 1), ("tb", "10.2.0.10", 2)):
            t = XdpTagger(r, dev)
            t.tag(src, (1, 4, val))
            taggers.append(t)
            say(f"  {dev}: packets from {src} get trait 1 = {val}")
        tagger = taggers

        say("\n== nftables rules, as a user types them")
        r.run("nft add table inet demo")
        r.run("nft add chain inet demo forward_tenants '{ type filter hook forward priority 0; }'")
        for c in ("tenantA", "tenantB", "blocked"):
            r.run(f"nft add counter inet demo {c}")
        rules = [
            ("meta trait 1 == 1 counter name tenantA",
             [n.trait_load(1), n.cmp("==", n.host(1)), n.counter("tenantA")]),
            ("meta trait 1 == 2 counter name tenantB",
             [n.trait_load(1), n.cmp("==", n.host(2)), n.counter("tenantB")]),
            ("meta trait 1 == 2 udp dport 53 counter name blocked drop",
             [n.trait_load(1), n.cmp("==", n.host(2)),
              n.meta_load(n.NFT_META_L4PROTO), n.cmp("==", b"\x11"),
              n.expr("payload", n.be32(1, 1), n.be32(2, 2), n.be32(3, 2), n.be32(4, 2)),
              n.cmp("==", b"\x00\x35"), n.counter("blocked"), n.verdict(n.NF_DROP)]),
        ]
        for text, exprs in rules:
            typed(r, f"nft add rule inet demo forward_tenants {text}")
            if NFT:
                r.run(f"{NFT} add rule inet demo forward_tenants {text}")
            else:
                r.call(n.add_rule, "inet", "demo", "forward_tenants", *exprs)
        if not NFT:
            say("  (no NFT=/path/to/patched/nft given: the same rules were installed over netlink)")

        say("\n== policy routing on traits")
        typed(r, "ip rule add trait 1 value 2 table 100")
        r.run("ip rule add trait 1 value 2 table 100")
        for line in r.run("ip rule show").splitlines():
            say("  " + line)

        say("\n== traffic: ping, TCP to 203.0.113.80:80, DNS-like UDP")
        before = {d: r.link_stats(d)[1] for d in ("up1", "up2")}
        result = {}
        for name, t in (("tenantA", ta), ("tenantB", tb)):
            t.ping("203.0.113.80", count=5)
            out = t.run("sh -c 'for i in 1 2 3; do nc -N -w 2 203.0.113.80 80 </dev/null; done'",
                        check=False)
            result[name] = out.stdout.count("hello")
            t.run("python3 -c \"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                  "[s.sendto(b'q', ('203.0.113.80', 53)) for _ in range(4)]\"")
        after = {d: r.link_stats(d)[1] for d in ("up1", "up2")}

        def count(c):
            out = json.loads(r.run(f"nft -j list counter inet demo {c}"))
            return next(o["counter"]["packets"] for o in out["nftables"] if "counter" in o)

        say("\n== result")
        say(f"  {'tenant':8} {'nft packets':>12} {'TCP replies':>12}")
        for name in ("tenantA", "tenantB"):
            say(f"  {name:8} {count(name):>12} {result[name]:>12}")
        say(f"  dropped by `meta trait 1 == 2 udp dport 53`: {count('blocked')} packets")
        say(f"  packets out of uplink1: {after['up1'] - before['up1']}, "
            f"uplink2: {after['up2'] - before['up2']}")
        route_a = r.run("ip route get 203.0.113.80 from 10.1.0.10 iif ta trait 1 1").split("\n")[0]
        route_b = r.run("ip route get 203.0.113.80 from 10.2.0.10 iif tb trait 1 2").split("\n")[0]
        say(f"  tenant A routes: {route_a}")
        say(f"  tenant B routes: {route_b}")
        return 0
    finally:
        for t in tagger or []:
            t.detach()
        for x in reversed(made):
            x.delete()


if __name__ == "__main__":
    sys.exit(main())
