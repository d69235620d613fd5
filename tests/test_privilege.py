# Who may use traits: rules need CAP_NET_ADMIN, the BPF kfuncs need
# CAP_BPF (or CAP_SYS_ADMIN), and a container cannot steer the host's
# routing or firewall with traits it set, unless the host opts in.
import ctypes
import errno
import functools
import os
import re
import struct

import pytest

import nftnl as n
from conftest import Nft, sh, udp_send, uplinks, veth

NOBODY = 65534
CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF = 12, 21, 39
_libc = ctypes.CDLL(None, use_errno=True)


def drop_caps(*caps):
    """Clear caps from this process's effective and permitted sets."""
    hdr = struct.pack("=Ii", 0x20080522, 0)            # _LINUX_CAPABILITY_VERSION_3
    data = ctypes.create_string_buffer(24)
    if _libc.capget(hdr, data):
        raise OSError(ctypes.get_errno(), "capget")
    words = list(struct.unpack("=6I", data.raw))   # {effective, permitted, inheritable} x 2
    for cap in caps:
        for field in (0, 1):
            words[3 * (cap // 32) + field] &= ~(1 << (cap % 32))
    if _libc.capset(hdr, struct.pack("=6I", *words)):
        raise OSError(ctypes.get_errno(), "capset")


def become_nobody():
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)           # drops every capability


# Each way of giving up privileges: in-process for Python code, as
# setpriv arguments for a command.
WHO = {
    "nobody": (become_nobody,
               f"setpriv --reuid {NOBODY} --regid {NOBODY} --clear-groups"),
    "root-without-net-admin": (lambda: drop_caps(CAP_NET_ADMIN),
                               "setpriv --inh-caps -net_admin --bounding-set -net_admin"),
}


def unprivileged(who, fn):
    def run(*args):
        WHO[who][0]()
        return fn(*args)
    return run


@pytest.mark.parametrize("who", WHO)
def test_nft_trait_rules_need_net_admin(netns, who):
    b = netns("b")
    b.run("nft add table inet t")
    b.run("nft add chain inet t in '{ type filter hook input priority 0; }'")
    rule = [n.trait_load(7), n.cmp("==", n.host(1)), n.verdict(n.NF_DROP)]
    with pytest.raises(n.NftError) as refused:
        b.call(unprivileged(who, n.add_rule), "inet", "t", "in", *rule)
    assert refused.value.errno == errno.EPERM, refused.value
    assert b.call(n.rule_count, "inet", "t", "in") == 0
    b.call(n.add_rule, "inet", "t", "in", *rule)          # root may
    assert b.call(n.rule_count, "inet", "t", "in") == 1


@pytest.mark.parametrize("who", WHO)
def test_ip_trait_rules_need_net_admin(netns, who):
    r = netns("r")
    before = r.run("ip rule show")
    p = r.run(f"{WHO[who][1]} ip rule add trait 7 value 1 table 100", check=False)
    assert p.returncode != 0
    assert "Operation not permitted" in p.stderr, p.stderr
    assert r.run("ip rule show") == before
    r.run("ip rule add trait 7 value 1 table 100")       # root may
    assert "trait 7" in r.run("ip rule show")


# A socket filter that calls bpf_skb_trait_get(skb, 7, &val, 8), and one
# that calls nothing, assembled by hand so that loading goes straight to
# bpf(2) with the caller's own credentials (bpftool would need CAP_BPF for
# the object's BTF before the verifier is even asked).
BPF_PROG_LOAD, BPF_PROG_TYPE_SOCKET_FILTER, BPF_PSEUDO_KFUNC_CALL = 5, 1, 2
SYS_BPF = 321


def insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("=BBhi", code, dst | src << 4, off, imm)


@functools.cache
def kfunc_id(name):
    out = sh("bpftool btf dump file /sys/kernel/btf/vmlinux")
    return int(re.search(rf"^\[(\d+)\] FUNC '{name}'", out, re.M).group(1))


def trait_get_prog(btf_id):
    return b"".join([
        insn(0xbf, 6, 1),                    # r6 = r1 (skb)
        insn(0x7a, 10, off=-8, imm=0),       # *(u64 *)(r10 - 8) = 0
        insn(0xbf, 1, 6),                    # r1 = skb
        insn(0xb7, 2, imm=7),                # r2 = key 7
        insn(0xbf, 3, 10),                   # r3 = r10 - 8
        insn(0x07, 3, imm=-8),
        insn(0xb7, 4, imm=8),                # r4 = 8
        insn(0x85, 0, BPF_PSEUDO_KFUNC_CALL, imm=btf_id),
        insn(0xb7, 0, imm=0),                # return 0
        insn(0x95),
    ])


PLAIN_PROG = insn(0xb7, 0, imm=0) + insn(0x95)


def bpf_prog_load(prog):
    """Load a socket filter; (fd or -errno, verifier log)."""
    log = ctypes.create_string_buffer(1 << 16)
    lic = ctypes.create_string_buffer(b"GPL")
    code = ctypes.create_string_buffer(prog, len(prog))
    attr = ctypes.create_string_buffer(struct.pack(
        "=IIQQIIQ", BPF_PROG_TYPE_SOCKET_FILTER, len(prog) // 8,
        ctypes.addressof(code), ctypes.addressof(lic), 1, len(log),
        ctypes.addressof(log)).ljust(144, b"\0"))
    fd = _libc.syscall(SYS_BPF, BPF_PROG_LOAD, attr, 144)
    if fd < 0:
        return -ctypes.get_errno(), log.value.decode()
    os.close(fd)
    return fd, log.value.decode()


@pytest.fixture
def unprivileged_bpf_allowed():
    """kernel.unprivileged_bpf_disabled = 0 for the test (2 by default)."""
    path = "/proc/sys/kernel/unprivileged_bpf_disabled"
    old = open(path).read().strip()
    assert old != "1", "unprivileged BPF is locked off until reboot"
    with open(path, "w") as f:
        f.write("0\n")
    yield
    with open(path, "w") as f:
        f.write(old + "\n")


@pytest.mark.parametrize("who,drop", [
    ("nobody", become_nobody),
    ("root-without-bpf-and-sys-admin", lambda: drop_caps(CAP_BPF, CAP_SYS_ADMIN)),
])
def test_trait_kfuncs_need_cap_bpf(netns, unprivileged_bpf_allowed, who, drop):
    ns = netns("p")
    prog = trait_get_prog(kfunc_id("bpf_skb_trait_get"))
    assert ns.call(bpf_prog_load, prog)[0] >= 0          # valid, for root

    def as_unprivileged(p):
        drop()
        return bpf_prog_load(p)
    # unprivileged socket filters load (the sysctl allows them) ...
    assert ns.call(as_unprivileged, PLAIN_PROG)[0] >= 0
    # ... but not one that calls a trait kfunc
    ret, log = ns.call(as_unprivileged, prog)
    assert ret == -errno.EPERM, (ret, log)
    assert "allowed for CAP_BPF and CAP_SYS_ADMIN" in log, log


def test_default_sysctl_refuses_every_unprivileged_load(netns):
    ns = netns("p")

    def as_nobody(p):
        become_nobody()
        return bpf_prog_load(p)
    assert open("/proc/sys/kernel/unprivileged_bpf_disabled").read().strip() == "2"
    assert ns.call(as_nobody, PLAIN_PROG)[0] == -errno.EPERM


class Host:
    """app (10.3.0.1) -> container c -> host h -> uplink A (main) or B.

    h routes table 100 by uplink B and has `ip rule add trait 7 value 1
    table 100`; an h forward chain counts packets that carry trait 7.
    """

    def __init__(self, netns):
        self.app, self.c, self.h = netns("app"), netns("c"), netns("h")
        veth(self.app, "e0", self.c, "ci", ("10.3.0.1/24",), ("10.3.0.254/24",))
        veth(self.c, "c0", self.h, "h0", ("10.4.0.2/24",), ("10.4.0.1/24",))
        self.app.run("ip route add default via 10.3.0.254")
        self.c.run("ip route add default via 10.4.0.1")
        self.c.run("sysctl -qw net.ipv4.ip_forward=1")
        self.tx = uplinks(netns, self.h)
        self.h.run("ip rule add trait 7 value 1 table 100")
        self.nft = Nft(self.h)
        self.nft.chain("fw", "forward")
        self.nft.counter("seen")
        self.nft.rule("fw", n.trait_present(7), n.cmp("==", b"\1"), n.counter("c_seen"))

    def send(self, count=10):
        """(uplink A, uplink B, h's nft trait count) for count datagrams."""
        def state():
            return (*self.tx(), self.nft.packets("seen"))
        before = state()
        udp_send(self.app, "198.51.100.1", 9000, b"x", count=count)
        return tuple(x - y for x, y in zip(state(), before))


@pytest.mark.parametrize("setter", ["xdp", "tc", "nft"])
def test_container_traits_steer_the_host_only_when_it_opts_in(
        netns, xdp_tagger, tc_reader, setter):
    host = Host(netns)
    c = host.c
    if setter == "xdp":                       # on what c receives from its app
        xdp_tagger(c, "ci").tag("10.3.0.1", (7, 4, 1))
    elif setter == "tc":                      # on what c sends to the host
        tc_reader(c, "c0", "egress").write("set", 7, 4, 1)
    else:                                     # c's own firewall
        c.run("nft add table inet m")
        c.run("nft add chain inet m fw '{ type filter hook forward priority 0; }'")
        c.call(n.add_rule, "inet", "m", "fw", n.immediate(n.host(1)), n.trait_set(7))
    host.send(2)                              # resolve neighbours
    a, b, seen = host.send(10)
    assert a >= 10 and b < 3 and seen == 0, (a, b, seen)    # b: neighbour traffic
    host.h.run("sysctl -qw net.core.traits_cross_netns=1")
    a, b, seen = host.send(10)
    assert b >= 10 and a < 3 and seen == 10, (a, b, seen)
