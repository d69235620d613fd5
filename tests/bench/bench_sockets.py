#!/usr/bin/python3
"""make bench: SO_RCVTRAITS delivery per datagram, against SO_RCVMARK.

In one netns, UDP to 127.0.0.1:9000 with an nft output rule that gives
every datagram a mark and two traits (`meta mark set 5`, `meta trait 7 set
5`, `meta trait 9 set 5`), read by a socket with recvmsg() after each
send, in three legs: recvmsg() with room for control messages and no
option; with SO_RCVMARK (an SO_MARK message: 4 bytes); with SO_RCVTRAITS
(an SCM_TRAITS message: the 24-byte block). Delivery is the leg minus the
first; it includes the reader's parsing of the message in Python, the
same work in both legs. Virtual ns (icount: instructions, not cache
misses); no threshold, nothing here asserts a time.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from traffic import PACKETS, Netns, report, send  # noqa: E402
import nftnl as n  # noqa: E402


def main():
    lo = Netns("so")
    try:
        lo.run("ip link set lo up")
        lo.run("nft add table inet bench")
        lo.run("nft add chain inet bench out '{ type filter hook output priority 0; }'")
        lo.call(n.add_rule, "inet", "bench", "out",
                n.immediate(n.host(5)), n.meta_set(n.NFT_META_MARK),
                n.immediate(n.host(5)), n.trait_set(7),
                n.immediate(n.host(5)), n.trait_set(9))
        legs = (("recvmsg(), no option", "cmsg"),
                ("SO_RCVMARK", "mark"),
                ("SO_RCVTRAITS", "traits"))
        figures = [(name, send(lo, "127.0.0.1", sink=lo, recv=how))
                   for name, how in legs]
        base = figures[0][1]
        mark = figures[1][1] - base
        lines = ["| leg | ns/datagram | delivery | delivery / SO_RCVMARK's |",
                 "|---|---:|---:|---:|"]
        lines += [f"| {name} | {ns:.0f} | {ns - base:.0f} | "
                  + (f"{(ns - base) / mark:.2f} |" if i else "- |")
                  for i, (name, ns) in enumerate(figures)]
        lines += ["", f"{PACKETS} datagrams per leg."]
        report("sockets", lines, __doc__.split("\n\n", 1)[1],
               {"packets": PACKETS, "legs": figures})
        return 0
    finally:
        lo.delete()


if __name__ == "__main__":
    sys.exit(main())
