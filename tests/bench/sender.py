#!/usr/bin/python3
"""sender.py N BATCH DST SINK FILTER [RECV]: time N UDP datagrams to DST:9000.

Run in the sending namespace. The datagrams (16 bytes of payload) leave in
sends of BATCH: one sendto() carries BATCH of them as UDP GSO segments,
cut up before the veth when the peer's XDP program takes no GSO packets.
SINK ('-' for none) names the receiving namespace: a socket bound there
on DST:9000 reads every datagram after each send, so the time covers the
path up to the socket and out of it; FILTER ('-' for none) is a pinned
socket filter attached to that socket. RECV (default '-': recv()) makes
the sink read with recvmsg() and room for control messages: 'cmsg' asks
for none, 'mark' for SO_RCVMARK, 'traits' for SO_RCVTRAITS. Prints the
virtual ns the N datagrams took and how many of them the sink missed.
"""
import ctypes
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bpftool import obj_get  # noqa: E402

CLONE_NEWNET = 0x40000000
SO_ATTACH_BPF = 50
SO_RCVMARK = 75
SO_RCVTRAITS = 85
UDP_SEGMENT = 103
SEGMENT = 16
WARMUP = 200


def in_netns(name, fn):
    """fn() run in netns name; this process stays where it was."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET):
            raise OSError(ctypes.get_errno(), "setns")
        return fn()
    finally:
        libc.setns(own, CLONE_NEWNET)
        os.close(fd)
        os.close(own)


def sink_socket(dst, filt, how):
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.bind((dst, 9000))
    r.settimeout(0.5)
    if filt != "-":
        r.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, obj_get(filt))
    opt = {"mark": SO_RCVMARK, "traits": SO_RCVTRAITS}.get(how)
    if opt:
        r.setsockopt(socket.SOL_SOCKET, opt, 1)
    return r


def main():
    n, batch, dst, sink, filt = (int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:6])
    how = sys.argv[6] if len(sys.argv) > 6 else "-"
    r = in_netns(sink, lambda: sink_socket(dst, filt, how)) if sink != "-" else None
    if r and how != "-":
        room = socket.CMSG_SPACE(16 + 8 * 64)
        read = lambda: r.recvmsg(64, room)  # noqa: E731
    elif r:
        read = lambda: r.recv(64)  # noqa: E731
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if batch > 1:
        s.setsockopt(socket.SOL_UDP, UDP_SEGMENT, SEGMENT)
    buf, d = b"x" * (SEGMENT * batch), (dst, 9000)

    def run(sends):
        missed = 0
        for _ in range(sends):
            s.sendto(buf, d)
            for _ in range(batch if r else 0):
                try:
                    read()
                except socket.timeout:
                    missed += 1
        return missed

    run(max(WARMUP // batch, 1))
    t = time.perf_counter_ns()
    missed = run(n // batch)
    print(time.perf_counter_ns() - t, missed)


if __name__ == "__main__":
    main()
