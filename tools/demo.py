#!/usr/bin/python3
"""make demo: packet traits end to end, on real traffic in the VM.

xdp-trait on a router's tenant ports sets trait 1 = tenant by source
prefix and trait 2 = service class by port (1: telnet, blocked; 2: bulk
UDP, rate-limited); nftables counts per tenant, drops class 1 and limits
class 2; `ip rule ... trait` sends tenant B out of the second uplink.
Every number shown is checked: the demo exits 1, saying what is wrong,
when the traffic did not do what the table says. NFT=/path/to/nft runs
the nft lines through a patched nft.
"""
import os
import socket
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import nftnl as n  # noqa: E402
from conftest import Netns, sh, veth  # noqa: E402
from traffic import tcp_sink, tcp_stream, udp_blast  # noqa: E402

NFT = os.environ.get("NFT")
SERVER = "198.51.100.1"
TCP_BYTES = 1 << 20
BULK, RATE = 1000, 100      # bulk datagrams sent at 1000/s; nft limit per second
# (name, source prefix, trait 1 value, the uplink its traffic must leave by)
TENANTS = (("A", "10.1.0", 1, "up1"), ("B", "10.2.0", 2, "up2"))
XDP_RULES = ("src 10.1.0.0/24 trait 1 1", "src 10.2.0.0/24 trait 1 2",
             "proto tcp dport 23 trait 2 1", "proto udp dport 5001 trait 2 2")
COUNTERS = ("tenantA", "tenantB", "blocked", "limited")
UPLINKS = ("up1", "up2")


def trait_is(key, value):
    return [n.trait_load(key), n.cmp("==", n.host(value))]


NFT_RULES = (   # what a user types, and the same rule as netlink expressions
    ("meta trait 1 == 1 counter name tenantA", trait_is(1, 1) + [n.counter("tenantA")]),
    ("meta trait 1 == 2 counter name tenantB", trait_is(1, 2) + [n.counter("tenantB")]),
    ("meta trait 2 == 1 counter name blocked drop",
     trait_is(2, 1) + [n.counter("blocked"), n.verdict(n.NF_DROP)]),
    (f"meta trait 2 == 2 limit rate over {RATE}/second counter name limited drop",
     trait_is(2, 2) + [n.limit(RATE, over=True), n.counter("limited"),
                       n.verdict(n.NF_DROP)]),
)


INTRO = f"""\
== two tenants, a router with two uplinks, one server {SERVER} behind both
  tenantA 10.1.0.10 --- ta |        | up1 --- uplink1 (10.10.0.2)
                           | router |
  tenantB 10.2.0.10 --- tb |        | up2 --- uplink2 (10.20.0.2)
"""


def say(text=""):
    print(text, flush=True)


def real(line):
    """The command to run for a line as a user types it: nft is $NFT if given."""
    return f"{NFT} {line[4:]}" if NFT and line.startswith("nft ") else line


def typed(ns, line, output=False):
    """Show a command as a user types it (and its output), run it in ns."""
    say(f"  {ns.name}# {line}")
    out = ns.run(real(line))
    for text in out.splitlines() if output else ():
        say("    " + text)


def topology(ns):
    tenants = {name: ns(f"tenant{name}") for name, *_ in TENANTS}
    r, ups = ns("router"), {"up1": ns("uplink1"), "up2": ns("uplink2")}
    for name, net, _, _ in TENANTS:
        veth(tenants[name], "eth0", r, f"t{name.lower()}", (f"{net}.10/24",), (f"{net}.1/24",))
        tenants[name].run(f"ip route add default via {net}.1")
    for i, (dev, up) in enumerate(ups.items(), 1):
        veth(r, dev, up, "eth0", (f"10.{i}0.0.1/24",), (f"10.{i}0.0.2/24",))
        up.run(f"ip addr add {SERVER}/32 dev lo")
        up.run(f"ip route add 10.0.0.0/8 via 10.{i}0.0.1")
    r.run("sysctl -qw net.ipv4.ip_forward=1")
    return tenants, r, ups


def setup_xdp(r):
    say("== xdp-trait on the router's tenant ports: trait 1 = tenant, trait 2 = service class")
    for name, *_ in TENANTS:
        typed(r, f"xdp-trait attach t{name.lower()}")
    for rule in XDP_RULES:
        typed(r, f"xdp-trait rule add {rule}")
    typed(r, "xdp-trait rule list", output=True)


def sent_out(tenant, dev):
    """The counter of tenant's packets the router sent out of uplink dev."""
    return f"{tenant}_{dev}"


def setup_nft(r):
    say("\n== nftables: count per tenant, drop class 1, rate-limit class 2")
    for line in ("add table inet demo",
                 "add chain inet demo forward '{ type filter hook forward priority 0; }'",
                 *(f"add counter inet demo {c}" for c in COUNTERS)):
        typed(r, f"nft {line}")
    for text, exprs in NFT_RULES:       # Debian's nft does not know `meta trait`
        if NFT:
            typed(r, f"nft add rule inet demo forward {text}")
        else:
            say(f"  router# nft add rule inet demo forward {text}")
            r.call(n.add_rule, "inet", "demo", "forward", *exprs)
    if NFT:
        typed(r, "nft list chain inet demo forward", output=True)
    else:
        say("  (no NFT=/path/to/patched/nft: the `meta trait` rules went in over netlink, tests/nftnl.py)")
    say("  # and, without traits, what each tenant's prefix sends out of each uplink:")
    typed(r, "nft add chain inet demo postrouting "
             "'{ type filter hook postrouting priority 0; }'")
    for name, net, _, _ in TENANTS:
        for dev in UPLINKS:
            typed(r, f"nft add counter inet demo {sent_out(name, dev)}")
            typed(r, f"nft add rule inet demo postrouting ip saddr {net}.0/24 "
                     f"oifname {dev} counter name {sent_out(name, dev)}")


def setup_routing(r):
    say("\n== policy routing: tenant B (trait 1 = 2) leaves by uplink 2")
    typed(r, "ip route add default via 10.10.0.2")
    typed(r, "ip route add default via 10.20.0.2 table 100")
    typed(r, "ip rule add trait 1 value 2 table 100")
    typed(r, "ip rule show", output=True)


def listeners(up):
    """A telnet listener (nobody should reach it) and a bulk UDP sink on up."""
    tcp = up.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("", 23))
    tcp.listen(8)
    udp = up.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)          # SO_RCVBUFFORCE
    udp.bind(("", 5001))
    for s in (tcp, udp):
        s.setblocking(False)
    return tcp, udp


def pending(sock, read):
    got = 0
    while True:
        try:
            read(sock)
        except BlockingIOError:
            return got
        got += 1


def timed(fn, *args):
    socket.setdefaulttimeout(20)        # in the forked child only
    return fn(*args)


def connects(dst, port):
    try:
        socket.create_connection((dst, port), 2).close()
        return True
    except OSError:
        return False


def snapshot(r):
    out = r.json(real("nft -j list counters table inet demo"))["nftables"]
    return {o["counter"]["name"]: o["counter"]["packets"] for o in out if "counter" in o}


def play(t, r, up, socks):
    """One tenant's traffic; what happened, and the counters it moved."""
    before = snapshot(r)
    got = {"ping": t.ping(SERVER, count=5, check=False).returncode == 0}
    sink = up.start(timed, tcp_sink, 80, 20.0)
    try:
        t.call(timed, tcp_stream, SERVER, 80, TCP_BYTES)
        got["tcp"] = sink.wait()
    except n.NftError as e:
        say(f"  TCP from {t.name} to {up.name} failed: {e.msg}")
        got["tcp"] = 0
    got["telnet"] = t.call(connects, SERVER, 23)
    got["sent"], got["secs"] = t.call(udp_blast, SERVER, 5001, BULK, b"x" * 64, "", 16, None, BULK)
    time.sleep(0.5)
    got["accepted"] = pending(socks[0], lambda s: s.accept()[0].close())
    got["arrived"] = pending(socks[1], lambda s: s.recv(2048))
    after = snapshot(r)
    return got, {k: after[k] - before[k] for k in after}


def report(results):
    say("\n== result: packets the router counted while each tenant sent")
    say(f"  {'':8}{' nft counters ':-^36}  {' its own, out of ':-^17}")
    say(f"  {'tenant':8}" + "".join(f"{c:>9}" for c in COUNTERS) + f"{'uplink1':>10}{'uplink2':>9}")
    for name, (_, d) in results.items():
        say(f"  {name:8}" + "".join(f"{d[c]:>9}" for c in COUNTERS)
            + f"{d[sent_out(name, 'up1')]:>10}{d[sent_out(name, 'up2')]:>9}")
    for (name, _, _, dev), (got, d) in zip(TENANTS, results.values()):
        say(f"\n  tenant {name}: ping {'answered' if got['ping'] else 'NOT ANSWERED'}, "
            f"{got['tcp']} of {TCP_BYTES} TCP bytes reached the server by uplink{dev[-1]}")
        say(f"    telnet :23 {'CONNECTED' if got['telnet'] else 'timed out'}: "
            f"{d['blocked']} SYNs dropped as blocked")
        say(f"    bulk UDP :5001: {got['sent']} sent in {got['secs']:.1f} s, "
            f"{d['limited']} dropped over {RATE}/s, {got['arrived']} arrived")


def checks(results, stats):
    for (name, _, _, dev), (got, d) in zip(TENANTS, results.values()):
        other = "up2" if dev == "up1" else "up1"
        me, them = f"tenant{name}", f"tenant{'B' if name == 'A' else 'A'}"
        limit = RATE * (got["secs"] + 1) + 5
        mine, wrong = d[sent_out(name, dev)], d[sent_out(name, other)]
        kept = d[me] - d["blocked"] - d["limited"]      # what nft let through
        yield (mine == kept > 0 and wrong == 0,
               f"tenant {name} left by uplink{dev[-1]} only ({mine} of the {kept} packets "
               f"nft let through, {wrong} by uplink{other[-1]})")
        yield d[me] > 0 and d[them] == 0, f"nft counted tenant {name} as {me} only"
        yield got["ping"] and got["tcp"] == TCP_BYTES, f"tenant {name}'s ping and TCP got through"
        yield (not got["telnet"] and d["blocked"] > 0 and not got["accepted"],
               f"tenant {name}'s telnet was dropped (trait 2 = 1)")
        yield (d["limited"] > 0 and 0 < got["arrived"] <= limit,
               f"tenant {name}'s bulk UDP was limited to {RATE}/s "
               f"({got['arrived']} arrived, at most {limit:.0f} allowed)")
    hits = {h["id"]: h["hits"] for h in stats["rules"]}
    yield all(hits.get(i) for i in range(len(XDP_RULES))), f"every xdp-trait rule hit: {hits}"


def main():
    os.environ["XDP_TRAIT_DIR"] = "/run/bpffs/demo"   # `ip netns exec` hides /sys/fs/bpf
    made = []

    def ns(name):
        made.append(Netns(name))
        made[-1].run("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
                     "net.ipv6.conf.default.disable_ipv6=1")   # no ND/MLD noise
        return made[-1]

    start = time.monotonic()
    try:
        say(INTRO)
        tenants, r, ups = topology(ns)
        setup_xdp(r)
        setup_nft(r)
        setup_routing(r)
        socks = {dev: listeners(up) for dev, up in ups.items()}
        say(f"\n== traffic from each tenant to {SERVER}: ping, 1 MiB over TCP :80, "
            f"telnet :23, {BULK} UDP datagrams to :5001 at {BULK}/s")
        results = {name: play(tenants[name], r, ups[dev], socks[dev])
                   for name, _, _, dev in TENANTS}
        report(results)
        say()
        typed(r, "xdp-trait stats", output=True)
        failed = 0
        say("\n== checks")
        for ok, what in checks(results, r.json("xdp-trait stats -j")):
            say(f"  {'ok  ' if ok else 'FAIL'} {what}")
            failed += not ok
        say(f"\n{'demo FAILED: ' + str(failed) + ' check(s)' if failed else 'demo ok'}"
            f" ({time.monotonic() - start:.0f} s)")
        return 1 if failed else 0
    finally:
        for name, *_ in TENANTS:
            sh(f"xdp-trait detach t{name.lower()}", check=False, ns="router")
        for x in reversed(made):
            x.delete()


if __name__ == "__main__":
    sys.exit(main())
