"""Bulk traffic for the soak and concurrency tests.

UDP goes out with sendmmsg and a packet socket reads with recvmmsg: one
system call moves a whole batch, so Python keeps up with the guest's
stack. Each function runs in a namespace through Netns.start/call.
"""
import ctypes
import socket
import time

_libc = ctypes.CDLL(None, use_errno=True)
MSG_DONTWAIT = 0x40


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.POINTER(_Iovec)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", _Msghdr), ("len", ctypes.c_uint)]


def _vector(bufs):
    iovs = (_Iovec * len(bufs))()
    msgs = (_Mmsghdr * len(bufs))()
    for i, buf in enumerate(bufs):
        iovs[i].base = ctypes.addressof(buf)
        iovs[i].len = len(buf)
        msgs[i].hdr.iov = ctypes.pointer(iovs[i])
        msgs[i].hdr.iovlen = 1
    return msgs, iovs


def udp_blast(dst, port, count, payload=b"x", src="", batch=256, seconds=None,
              rate=None):
    """Send count datagrams to dst:port, at most rate a second if given
    (stop early after seconds, if given); return (sent, seconds taken)."""
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    s.bind((src, 0))
    s.connect((dst, port))
    buf = ctypes.create_string_buffer(payload, len(payload))
    msgs, _iovs = _vector([buf] * batch)
    sent = 0
    start = time.monotonic()
    while sent < count:
        if seconds is not None and time.monotonic() - start > seconds:
            break
        n = _libc.sendmmsg(s.fileno(), msgs, min(batch, count - sent), 0)
        if n < 0:
            err = ctypes.get_errno()
            if err in (105, 11):            # ENOBUFS, EAGAIN: queue full
                time.sleep(0.001)
                continue
            raise OSError(err, "sendmmsg")
        sent += n
        if rate:
            time.sleep(max(0.0, sent / rate - (time.monotonic() - start)))
    elapsed = time.monotonic() - start
    s.close()
    return sent, elapsed


def packet_tap(dev, idle=3.0, limit=3600.0):
    """Read everything a packet socket on dev sees, batch by batch.

    Returns the number of packets once none came for idle seconds (after
    the first), or after limit seconds.
    """
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))
    s.bind((dev, 0))
    s.settimeout(None)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                 _timeval(idle))
    bufs = [ctypes.create_string_buffer(128) for _ in range(64)]
    msgs, _iovs = _vector(bufs)
    got = 0
    start = time.monotonic()
    while time.monotonic() - start < limit:
        n = _libc.recvmmsg(s.fileno(), msgs, len(bufs), 0, None)
        if n > 0:
            got += n
        elif got:
            break
    s.close()
    return got


def tcp_sink(port, limit=3600.0, v6=False):
    """Accept one connection on port and read it to the end; return bytes."""
    ls = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("", port))
    ls.listen(1)
    ls.settimeout(limit)
    c, _ = ls.accept()
    c.settimeout(limit)
    got = 0
    while chunk := c.recv(1 << 16):
        got += len(chunk)
    c.close()
    ls.close()
    return got


def tcp_stream(dst, port, nbytes, src=""):
    """Connect to dst:port (retrying until the sink listens), send nbytes."""
    block = b"t" * (1 << 16)
    for _ in range(100):
        s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET,
                          socket.SOCK_STREAM)
        s.bind((src, 0))
        try:
            s.connect((dst, port))
            break
        except ConnectionRefusedError:
            s.close()
            time.sleep(0.1)
    sent = 0
    while sent < nbytes:
        sent += s.send(block[:nbytes - sent])
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()
    return sent


def _timeval(seconds):
    import struct
    return struct.pack("=qq", int(seconds), int((seconds % 1) * 1e6))
