# Shared fixtures: fresh network namespaces, veth pairs, BPF objects.
# Everything a test creates is removed when it ends, pass or fail.
import ctypes
import itertools
import json
import os
import socket
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
BPF_DIR = os.path.join(BUILD, "bpf")
_ids = itertools.count()
_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def sh(cmd, check=True, ns=None, input=None):
    """Run a shell command (in netns ns if given); return its stdout."""
    if ns is not None:
        cmd = f"ip netns exec {ns} {cmd}"
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True,
                       input=input)
    if check and p.returncode != 0:
        raise AssertionError(f"command failed ({p.returncode}): {cmd}\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p.stdout if check else p


def bpf_obj(name):
    path = os.path.join(BPF_DIR, name)
    assert os.path.exists(path), f"{path} not built (run make)"
    return path


class Netns:
    def __init__(self, name):
        self.name = name
        sh(f"ip netns add {name}")
        self.run("ip link set lo up")

    def run(self, cmd, check=True, input=None):
        return sh(cmd, check=check, ns=self.name, input=input)

    def start(self, fn, *args):
        """Start fn(*args) in this namespace, in a forked child.

        Returns the child; its wait() returns what fn returned (anything
        JSON can carry) and raises an nftnl.NftError raised there, with
        its message.
        """
        return _Child(self.name, fn, args)

    def call(self, fn, *args):
        """Run fn(*args) in this namespace and return its result."""
        return self.start(fn, *args).wait()

    def socket(self, *args):
        """A socket in this namespace, for this process to use."""
        own = os.open("/proc/self/ns/net", os.O_RDONLY)
        fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET):
                raise OSError(ctypes.get_errno(), "setns")
            return socket.socket(*args)
        finally:
            _libc.setns(own, CLONE_NEWNET)
            os.close(fd)
            os.close(own)

    def json(self, cmd):
        return json.loads(self.run(cmd) or "null")

    def link_stats(self, dev, what="packets"):
        """(rx_packets, tx_packets) of dev, or of what ("dropped", ...)."""
        s = self.json(f"ip -j -s link show dev {dev}")[0]["stats64"]
        return s["rx"][what], s["tx"][what]

    def ping(self, addr, count=3, check=True, extra=""):
        return self.run(f"ping -n -q -c {count} -i 0.01 -W 1 {extra} {addr}",
                        check=check)

    def delete(self):
        sh(f"ip netns del {self.name}", check=False)


class _Child:
    def __init__(self, ns_name, fn, args):
        self.r, w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self.r)
            os.write(w, json.dumps(self._run(ns_name, fn, args)).encode())
            os._exit(0)
        os.close(w)

    @staticmethod
    def _run(ns_name, fn, args):
        import nftnl
        try:
            fd = os.open(f"/run/netns/{ns_name}", os.O_RDONLY)
            if _libc.setns(fd, CLONE_NEWNET):
                raise OSError(ctypes.get_errno(), "setns")
            return {"result": fn(*args)}
        except nftnl.NftError as e:
            return {"error": [e.errno, e.msg]}
        except Exception as e:  # noqa: BLE001
            return {"error": [getattr(e, "errno", None) or 0, repr(e)]}

    def wait(self):
        import nftnl
        out = b""
        while chunk := os.read(self.r, 65536):
            out += chunk
        os.close(self.r)
        os.waitpid(self.pid, 0)
        ret = json.loads(out or b'{"error": [0, "child died"]}')
        if "error" in ret:
            raise nftnl.NftError(*ret["error"])
        return ret["result"]


@pytest.fixture
def netns():
    """Factory: netns() returns a fresh, uniquely named namespace."""
    made = []

    def make(prefix="t"):
        ns = Netns(f"{prefix}{os.getpid()}_{next(_ids)}")
        made.append(ns)
        return ns

    yield make
    for ns in reversed(made):
        ns.delete()


class Nft:
    """An nftables table in a namespace; trait rules go over netlink."""

    def __init__(self, ns, family="inet", table="t"):
        self.ns, self.family, self.table = ns, family, table
        ns.run(f"nft add table {family} {table}")

    def chain(self, name, hook, prio=0, device=None):
        dev = f" device {device}" if device else ""
        self.ns.run(f"nft add chain {self.family} {self.table} {name} "
                    f"'{{ type filter hook {hook}{dev} priority {prio}; }}'")

    def counter(self, name):
        """A named counter c_NAME (plain names may be nft keywords)."""
        self.ns.run(f"nft add counter {self.family} {self.table} c_{name}")

    def nft(self, what):
        self.ns.run(f"nft {what}")

    def rule(self, chain, *exprs):
        """Add a rule in ns; raises nftnl.NftError with the extack message."""
        import nftnl as n
        self.ns.call(n.add_rule, self.family, self.table, chain, *exprs)

    def _counter(self, name):
        out = self.ns.json(f"nft -j list counter {self.family} {self.table} c_{name}")
        for obj in out["nftables"]:
            if "counter" in obj:
                return obj["counter"]
        raise KeyError(name)

    def packets(self, name):
        return self._counter(name)["packets"]

    def bytes(self, name):
        return self._counter(name)["bytes"]


def veth(a, a_dev, b, b_dev, a_addrs=(), b_addrs=()):
    """Connect namespaces a and b with a veth pair and bring it up."""
    sh(f"ip link add {a_dev} netns {a.name} type veth peer name {b_dev} "
       f"netns {b.name}")
    for ns, dev, addrs in ((a, a_dev, a_addrs), (b, b_dev, b_addrs)):
        for addr in addrs:
            nodad = " nodad" if ":" in addr else ""
            ns.run(f"ip addr add {addr} dev {dev}{nodad}")
        ns.run(f"ip link set {dev} up")


def gre_path(a, r1, r2, d):
    """a (10.1.0.1) -a0/r0- r1 =GRE over u1/u2= r2 -d2/d0- d (10.9.9.9).

    Routed both ways; r1 and r2 forward.
    """
    veth(a, "a0", r1, "r0", ("10.1.0.1/24",), ("10.1.0.254/24",))
    veth(r1, "u1", r2, "u2", ("192.0.2.1/24",), ("192.0.2.2/24",))
    veth(r2, "d2", d, "d0", ("10.9.9.254/24",), ("10.9.9.9/24",))
    r1.run("ip tunnel add gre1 mode gre local 192.0.2.1 remote 192.0.2.2")
    r2.run("ip tunnel add gre1 mode gre local 192.0.2.2 remote 192.0.2.1")
    for r, addr in ((r1, "10.9.0.1/30"), (r2, "10.9.0.2/30")):
        r.run(f"ip addr add {addr} dev gre1")
        r.run("ip link set gre1 up")
        r.run("sysctl -qw net.ipv4.ip_forward=1")
    a.run("ip route add default via 10.1.0.254")
    d.run("ip route add default via 10.9.9.254")
    r1.run("ip route add 10.9.9.0/24 via 10.9.0.2")
    r2.run("ip route add 10.1.0.0/24 via 10.9.0.1")


def uplinks(netns, r):
    """Two uplinks of router r that both reach 198.51.100.1: the main table
    leaves by uplink A (dev ua), table 100 by uplink B (dev ub).

    Returns tx_packets(): what r sent out of (A, B) so far.
    """
    for dev, net in (("ua", "10.10.0"), ("ub", "10.20.0")):
        up = netns(dev)
        veth(r, dev, up, "eth0", (f"{net}.1/24",), (f"{net}.2/24",))
        up.run("ip addr add 198.51.100.1/32 dev lo")
    r.run("sysctl -qw net.ipv4.ip_forward=1")
    r.run("ip route add default via 10.10.0.2")
    r.run("ip route add default via 10.20.0.2 table 100")
    return lambda: (r.link_stats("ua")[1], r.link_stats("ub")[1])


@pytest.fixture
def pair(netns):
    """Two namespaces joined by veth: a (10.0.0.1, fd00::1) and b (.2, ::2)."""
    a, b = netns("a"), netns("b")
    veth(a, "va", b, "vb", ("10.0.0.1/24", "fd00::1/64"),
         ("10.0.0.2/24", "fd00::2/64"))
    return a, b


def udp_send(ns, dst, port, payload=b"", count=1, sport=0, src=""):
    """Send count UDP datagrams from ns (from src, if given) to dst:port."""
    fam = "AF_INET6" if ":" in dst else "AF_INET"
    code = (f"import socket; s = socket.socket(socket.{fam}, socket.SOCK_DGRAM); "
            f"s.bind(('{src}', {sport})); "
            f"[s.sendto(bytes.fromhex('{payload.hex()}'), ('{dst}', {port})) "
            f"for _ in range({count})]")
    ns.run(f"python3 -c \"{code}\"")


def tcp_transfer(client, server, addr, nbytes, port=5201):
    """Send nbytes over one TCP connection from client to server's addr;
    return the number of bytes the server received."""
    from traffic import tcp_sink, tcp_stream
    sink = server.start(tcp_sink, port, 120.0, ":" in addr)
    client.call(tcp_stream, addr, port, nbytes)
    return sink.wait()


def netstat(ns, name, group="TcpExt", table="netstat"):
    """A counter of namespace ns in /proc/net/<table>: TcpExt's (e.g.
    TraitsInvalid) by default; group="Udp", table="snmp" for UDP's."""
    lines = ns.run(f"cat /proc/net/{table}").splitlines()
    for head, vals in zip(lines[::2], lines[1::2]):
        if head.startswith(f"{group}:"):
            return int(dict(zip(head.split()[1:], vals.split()[1:]))[name])
    raise KeyError(name)


def _detached_at_end(cls):
    """Fixture body: yields a factory of cls objects, detaches them after."""
    made = []

    def make(*args):
        made.append(cls(*args))
        return made[-1]

    yield make
    for t in made:
        t.detach()


@pytest.fixture
def xdp_tagger():
    """Factory: xdp_tagger(ns, dev[, mode]) attaches tests/bpf/xdp_traits."""
    from bpftool import XdpTagger
    yield from _detached_at_end(XdpTagger)


@pytest.fixture
def tc_reader():
    """Factory: tc_reader(ns, dev[, hook]) attaches tests/bpf/tc_traits
    at ingress (or hook="egress")."""
    from bpftool import TcReader
    yield from _detached_at_end(TcReader)


@pytest.fixture
def vlan_pusher():
    """Factory: vlan_pusher(ns, dev) tags IPv4 packets leaving ns:dev."""
    from bpftool import VlanPusher
    yield from _detached_at_end(VlanPusher)
