"""Load our BPF test programs with bpftool (libbpf) and read their maps.

Programs and maps are pinned under /run/bpffs, which `ip netns exec` and
`ip -n` keep (they remount /sys, hiding /sys/fs/bpf).
"""
import ctypes
import itertools
import json
import os
import shutil
import socket
import struct

from conftest import bpf_obj, sh

PIN_ROOT = "/run/bpffs"
_ids = itertools.count()


def _hex(raw):
    return " ".join(f"{b:02x}" for b in raw)


_libc = ctypes.CDLL(None, use_errno=True)
SYS_bpf = 321                                   # x86_64
BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_OBJ_GET = 1, 2, 7
BPF_RAW_TRACEPOINT_OPEN = 17


def _bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    ret = _libc.syscall(SYS_bpf, cmd, buf, 128)
    if ret < 0:
        raise OSError(ctypes.get_errno(), f"bpf({cmd})")
    return ret


def obj_get(path):
    """A file descriptor of the pinned map, program or link at path."""
    name = ctypes.create_string_buffer(path.encode())
    return _bpf(BPF_OBJ_GET, struct.pack("=QII", ctypes.addressof(name), 0, 0))


def attach_tracing(prog_path):
    """Attach a pinned tp_btf program; it stays attached until the
    returned link descriptor is closed."""
    fd = obj_get(prog_path)
    try:
        return _bpf(BPF_RAW_TRACEPOINT_OPEN, struct.pack("=QI", 0, fd))
    finally:
        os.close(fd)


class Map:
    """A pinned map read and written with the bpf syscall: for loops of
    thousands of updates, where a bpftool process each would dominate."""

    def __init__(self, path, value_size):
        self.fd = obj_get(path)
        self.value_size = value_size

    def _elem(self, cmd, key, value):
        k = ctypes.create_string_buffer(key, len(key))
        v = ctypes.create_string_buffer(value, self.value_size)
        _bpf(cmd, struct.pack("=IIQQQ", self.fd, 0, ctypes.addressof(k),
                              ctypes.addressof(v), 0))
        return v.raw

    def update(self, key, value):
        self._elem(BPF_MAP_UPDATE_ELEM, key, value)

    def lookup(self, key):
        return self._elem(BPF_MAP_LOOKUP_ELEM, key, b"")

    def close(self):
        os.close(self.fd)


class Pinned:
    """A program loaded from one of our objects, with its maps pinned."""

    def __init__(self, obj, ptype=None, maps=None):
        """ptype None: every program of obj, pinned as progs/<name>.
        maps: {name: pinned path} of maps to reuse instead of creating."""
        self.dir = os.path.join(PIN_ROOT, f"p{os.getpid()}_{next(_ids)}")
        os.makedirs(self.dir)
        self.prog = os.path.join(self.dir, "prog")
        reuse = "".join(f" map name {name} pinned {path}"
                        for name, path in (maps or {}).items())
        try:
            if ptype is None:
                sh(f"bpftool prog loadall {bpf_obj(obj)} {self.dir}/progs{reuse} "
                   f"pinmaps {self.dir}/maps")
            else:
                sh(f"bpftool prog load {bpf_obj(obj)} {self.prog} type {ptype}{reuse} "
                   f"pinmaps {self.dir}/maps")
        except AssertionError:
            self.remove()
            raise

    def map_path(self, name):
        return os.path.join(self.dir, "maps", name)

    def program(self, name):
        """The pinned path of program name (objects loaded whole)."""
        return os.path.join(self.dir, "progs", name)

    def update(self, name, key, value):
        sh(f"bpftool map update pinned {self.dir}/maps/{name} "
           f"key hex {_hex(key)} value hex {_hex(value)}")

    def delete(self, name, key):
        sh(f"bpftool map delete pinned {self.dir}/maps/{name} key hex {_hex(key)}")

    def lookup(self, name, key):
        out = json.loads(sh(f"bpftool -j map lookup pinned {self.dir}/maps/{name} "
                            f"key hex {_hex(key)}"))
        return bytes(int(b, 16) for b in out["value"])

    def map(self, name, value_size):
        return Map(f"{self.dir}/maps/{name}", value_size)

    def dump(self, name):
        """{key: value} of every element, as bytes."""
        out = json.loads(sh(f"bpftool -j map dump pinned {self.dir}/maps/{name}"))
        return {bytes(int(b, 16) for b in e["key"]):
                bytes(int(b, 16) for b in e["value"]) for e in out}

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def in6_key(addr):
    """Map key for an IPv4 (as ::ffff:a.b.c.d) or IPv6 source address."""
    if ":" in addr:
        return socket.inet_pton(socket.AF_INET6, addr)
    return b"\0" * 10 + b"\xff\xff" + socket.inet_aton(addr)


class XdpProgram(Pinned):
    """One of our XDP objects attached to ns:dev."""

    def __init__(self, obj, ns, dev, mode="xdpdrv"):
        super().__init__(obj, "xdp")
        self.ns, self.dev, self.mode = ns, dev, mode
        ns.run(f"ip link set dev {dev} {mode} pinned {self.prog}")

    def detach(self):
        self.ns.run(f"ip link set dev {self.dev} {self.mode} off", check=False)
        self.remove()


class XdpTagger(XdpProgram):
    """tests/bpf/xdp_traits.bpf.c attached to ns:dev."""

    def __init__(self, ns, dev, mode="xdpdrv"):
        super().__init__("xdp_traits.bpf.o", ns, dev, mode)

    def tag(self, src, *traits):
        """Packets from src get traits [(key, size, value), ...]."""
        assert len(traits) <= 4
        val = struct.pack("=II", len(traits), 0)
        for key, size, value in traits:
            val += struct.pack("=IIQ", key, size, value)
        val += b"\0" * (16 * (4 - len(traits)))
        self.update("tag_rules", in6_key(src), val)

    def untag(self, src):
        self.delete("tag_rules", in6_key(src))

    def result(self, i):
        """(return code, value) of command i of the last command packet."""
        ret, _, value = struct.unpack("=iIQ", self.lookup("results", struct.pack("=I", i)))
        return ret, value

    def stat(self, i):
        return struct.unpack("=Q", self.lookup("stats", struct.pack("=I", i)))[0]


def cmd(op, key, size=4, value=0, flags=0):
    """One record of a command packet (UDP port 7777)."""
    return struct.pack("=BBBBIQ", {"set": 1, "del": 2, "get": 3}[op], key,
                       size, flags, 0, value)


def raw_block(high, low, values=b"", magic=0x74726169, version=1, length=None,
              prefix=b""):
    """A traits block as a program would write by hand (UDP port 7778)."""
    body = struct.pack("=QQ", high, low) + values
    if length is None:
        length = len(body) + 8
    block = prefix + body + struct.pack("=IHH", magic, version, length)
    # the program always reads 128 bytes after the length
    return struct.pack("=I", len(block)) + block.ljust(128, b"\0")


class TcProgram(Pinned):
    """One of our TC objects at ns:dev, in direct-action mode (program
    prog of an object loaded whole, if given)."""

    def __init__(self, obj, ns, dev, direction="ingress", prog=None):
        super().__init__(obj, None if prog else "classifier")
        self.ns, self.dev = ns, dev
        ns.run(f"tc qdisc add dev {dev} clsact")
        ns.run(f"tc filter add dev {dev} {direction} bpf direct-action "
               f"object-pinned {self.program(prog) if prog else self.prog}")

    def detach(self):
        self.ns.run(f"tc qdisc del dev {self.dev} clsact", check=False)
        self.remove()


class TcReader(TcProgram):
    """tests/bpf/tc_traits.bpf.c at ns:dev ingress (or egress)."""

    def __init__(self, ns, dev, hook="ingress"):
        super().__init__("tc_traits.bpf.o", ns, dev, hook)

    def seen(self, key):
        """(size or -errno, value) of key on the last packet."""
        size, _, value = struct.unpack("=iIQ", self.lookup("last", struct.pack("=I", key)))
        return size, value

    def traits(self):
        """{key: (size, value)} of the last packet."""
        out = {}
        for key, val in self.dump("last").items():
            size, _, value = struct.unpack("=iIQ", val)
            if size >= 0:
                out[struct.unpack("=I", key)[0]] = (size, value)
        return out

    def info(self, i):
        return struct.unpack("=Q", self.lookup("info", struct.pack("=I", i)))[0]

    def write(self, op, key=0, size=4, value=0):
        self.update("to_write", struct.pack("=I", 0),
                    struct.pack("=IIIIQ", {"none": 0, "set": 1, "del": 2}[op],
                                key, size, 0, value))



class TcMatcher(TcProgram):
    """tests/bpf/tc_trait_match.bpf.c at ns:dev ingress: the BPF header's
    skb_trait_present() and skb_trait_match() on IPv4 UDP, per source."""

    def __init__(self, ns, dev):
        super().__init__("tc_trait_match.bpf.o", ns, dev, "ingress")

    def query(self, key, want=0, mask=(1 << 64) - 1):
        self.update("query", struct.pack("=I", 0),
                    struct.pack("=IIQQ", key, 0, want, mask))

    def counts(self, src):
        """(present, match) packets from IPv4 source src."""
        last = int(src.split(".")[-1])
        return struct.unpack("=QQ", self.lookup("counts", struct.pack("=I", last)))


def u64s(prog, name, n):
    """The first n values of an array map of u64."""
    return [struct.unpack("=Q", prog.lookup(name, struct.pack("=I", i)))[0]
            for i in range(n)]


class VlanPusher(TcProgram):
    """tests/bpf/tc_vlan_push.bpf.c at ns:dev egress."""

    def __init__(self, ns, dev):
        super().__init__("tc_vlan_push.bpf.o", ns, dev, "egress")

    def push(self, vid):
        """Tag IPv4 packets with VLAN id vid from now on (0: untagged)."""
        self.update("vid", struct.pack("=I", 0), struct.pack("=I", vid))
