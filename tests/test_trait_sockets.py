# The socket API: SO_RCVTRAITS and SCM_TRAITS on recvmsg(), SO_PEERTRAITS
# on an accepted TCP socket, SO_TRAITS and SCM_TRAITS on sendmsg().
import errno
import os
import socket
import struct
import sys

import pytest

import nftnl as n
from conftest import Nft, udp_send

SO_RCVTRAITS, SO_TRAITS, SO_PEERTRAITS = 85, 86, 87
SCM_TRAITS = SO_TRAITS
SOL = socket.SOL_SOCKET
BIG = 0x1122334455667788
CAPACITY = 64                   # CONFIG_NET_SKB_TRAITS_CAPACITY, traits.config


def block(*traits):
    """(key, size, value) triples as include/uapi/linux/traits.h lays them
    out: the two bitmaps, then the values in key order, host byte order."""
    high = low = 0
    values = b""
    for key, size, value in sorted(traits):
        high |= (size >= 4) << key
        low |= (size != 4) << key
        values += value.to_bytes(size, sys.byteorder)
    return struct.pack("=QQ", high, low) + values


EMPTY = block()
SIZE_CLASSES = {
    "flag": ((3, 0, 0),),
    "four": ((7, 4, 0xdeadbeef),),
    "eight": ((9, 8, BIG),),
    "mixed": ((0, 4, 1), (3, 0, 0), (9, 8, BIG), (63, 4, 0xffffffff)),
}
FAMILIES = {"ipv4": ("10.0.0.1", "10.0.0.2"), "ipv6": ("fd00::1", "fd00::2")}


def fam(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def recv_traits(s):
    """(payload, the SCM_TRAITS block or None) of the next datagram."""
    data, anc, _, _ = s.recvmsg(2048, socket.CMSG_SPACE(256))
    got = [d for level, kind, d in anc if level == SOL and kind == SCM_TRAITS]
    assert len(got) <= 1
    return data, (got[0] if got else None)


def udp_server(ns, addr, port=9000, rcvtraits=True):
    s = ns.socket(fam(addr), socket.SOCK_DGRAM)
    if rcvtraits:
        s.setsockopt(SOL, SO_RCVTRAITS, 1)
    s.bind((addr, port))
    s.settimeout(10)
    return s


@pytest.mark.parametrize("kind", SIZE_CLASSES)
@pytest.mark.parametrize("family", FAMILIES)
def test_udp_server_reads_the_traits_xdp_set(pair, xdp_tagger, family, kind):
    a, b = pair
    src, dst = FAMILIES[family]
    traits = SIZE_CLASSES[kind]
    xdp_tagger(b, "vb").tag(src, *traits)
    srv = udp_server(b, dst)
    udp_send(a, dst, 9000, b"hello")
    assert recv_traits(srv) == (b"hello", block(*traits))


@pytest.mark.parametrize("family", FAMILIES)
def test_raw_socket_reads_traits(pair, xdp_tagger, family):
    a, b = pair
    src, dst = FAMILIES[family]
    xdp_tagger(b, "vb").tag(src, (5, 8, BIG), (6, 0, 0))
    raw = b.socket(fam(dst), socket.SOCK_RAW, socket.IPPROTO_UDP)
    raw.setsockopt(SOL, SO_RCVTRAITS, 1)
    raw.settimeout(10)
    udp_send(a, dst, 9000, b"raw")
    data, got = recv_traits(raw)
    assert data.endswith(b"raw")
    assert got == block((5, 8, BIG), (6, 0, 0))


def test_no_message_without_traits_or_without_the_option(pair, xdp_tagger):
    a, b = pair
    tagger = xdp_tagger(b, "vb")
    srv = udp_server(b, "10.0.0.2")
    plain = udp_server(b, "10.0.0.2", 9001, rcvtraits=False)
    assert srv.getsockopt(SOL, SO_RCVTRAITS) == 1
    assert plain.getsockopt(SOL, SO_RCVTRAITS) == 0
    udp_send(a, "10.0.0.2", 9000, b"untagged")
    assert recv_traits(srv) == (b"untagged", None)
    tagger.tag("10.0.0.1", (7, 4, 1))
    udp_send(a, "10.0.0.2", 9001, b"tagged")
    assert recv_traits(plain) == (b"tagged", None)
    srv.setsockopt(SOL, SO_RCVTRAITS, 0)
    udp_send(a, "10.0.0.2", 9000, b"off")
    assert recv_traits(srv) == (b"off", None)


@pytest.mark.parametrize("args", [
    (socket.AF_INET, socket.SOCK_STREAM),
    (socket.AF_INET6, socket.SOCK_STREAM),
    (socket.AF_UNIX, socket.SOCK_DGRAM),
    (socket.AF_PACKET, socket.SOCK_DGRAM, 0),
], ids=["tcp", "tcp6", "unix", "packet"])
def test_rcvtraits_is_refused_where_recvmsg_cannot_deliver_it(args):
    with socket.socket(*args) as s:
        with pytest.raises(OSError) as refused:
            s.setsockopt(SOL, SO_RCVTRAITS, 1)
        assert refused.value.errno == errno.EOPNOTSUPP
        assert s.getsockopt(SOL, SO_RCVTRAITS) == 0
        s.setsockopt(SOL, SO_RCVTRAITS, 0)      # turning it off is harmless


def accept_from(client_ns, server_ns, src, dst, port=5300):
    """A connected TCP pair from client_ns (src) to server_ns (dst)."""
    srv = server_ns.socket(fam(dst), socket.SOCK_STREAM)
    srv.bind((dst, port))
    srv.listen(1)
    srv.settimeout(10)
    cli = client_ns.socket(fam(src), socket.SOCK_STREAM)
    cli.settimeout(10)
    cli.bind((src, 0))
    cli.connect((dst, port))
    conn, _ = srv.accept()
    return srv, cli, conn


@pytest.mark.parametrize("family", FAMILIES)
def test_tcp_server_reads_the_traits_of_the_syn(pair, xdp_tagger, family):
    a, b = pair
    src, dst = FAMILIES[family]
    tagger = xdp_tagger(b, "vb")
    tagger.tag(src, (1, 0, 0), (7, 4, 42), (9, 8, BIG))
    srv, cli, conn = accept_from(a, b, src, dst)
    want = block((1, 0, 0), (7, 4, 42), (9, 8, BIG))
    # what later segments carry does not change what the SYN carried
    tagger.tag(src, (7, 4, 43))
    cli.sendall(b"data")
    assert conn.recv(4) == b"data"
    assert conn.getsockopt(SOL, SO_PEERTRAITS, 256) == want
    # a buffer too small for the block is an error, never a truncation
    with pytest.raises(OSError) as short:
        conn.getsockopt(SOL, SO_PEERTRAITS, len(want) - 1)
    assert short.value.errno == errno.ERANGE
    # the listener and the client answered no SYN with traits
    assert srv.getsockopt(SOL, SO_PEERTRAITS, 256) == EMPTY
    assert cli.getsockopt(SOL, SO_PEERTRAITS, 256) == EMPTY


def test_peertraits_is_for_tcp_sockets_only(pair):
    a, b = pair
    with pytest.raises(OSError) as refused:
        udp_server(b, "10.0.0.2").getsockopt(SOL, SO_PEERTRAITS, 256)
    assert refused.value.errno == errno.ENOPROTOOPT


def sender(ns, addr, traits=None):
    s = ns.socket(fam(addr), socket.SOCK_DGRAM)
    if traits is not None:
        s.setsockopt(SOL, SO_TRAITS, traits)
    return s


def test_so_traits_reads_back_what_was_set_and_clears(pair):
    a, _ = pair
    s = sender(a, "10.0.0.2")
    assert s.getsockopt(SOL, SO_TRAITS, 256) == EMPTY
    full = block(*((k, 8, k) for k in range(CAPACITY // 8)))
    for traits in (block((7, 4, 1)), block((0, 0, 0), (63, 8, BIG)), full):
        s.setsockopt(SOL, SO_TRAITS, traits)
        assert s.getsockopt(SOL, SO_TRAITS, 256) == traits
    s.setsockopt(SOL, SO_TRAITS, EMPTY)
    assert s.getsockopt(SOL, SO_TRAITS, 256) == EMPTY


MALFORMED = {
    "missing-value": struct.pack("=QQ", 1 << 7, 0),
    "short-value": struct.pack("=QQI", 1 << 7, 1 << 7, 1),
    "extra-bytes": block((7, 4, 1)) + b"\0\0\0\0",
    "short-header": b"\0" * 8,
    "over-capacity": block(*((k, 8, k) for k in range(CAPACITY // 8 + 1))),
}


@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_blocks_are_refused_and_change_nothing(pair, bad):
    a, _ = pair
    s = sender(a, "10.0.0.2", block((7, 4, 1)))
    with pytest.raises(OSError) as refused:
        s.setsockopt(SOL, SO_TRAITS, MALFORMED[bad])
    assert refused.value.errno == errno.EINVAL
    assert s.getsockopt(SOL, SO_TRAITS, 256) == block((7, 4, 1))
    with pytest.raises(OSError) as refused:
        s.sendmsg([b"x"], [(SOL, SCM_TRAITS, MALFORMED[bad])], 0, ("10.0.0.2", 9))
    assert refused.value.errno == errno.EINVAL


def _unprivileged(addr):
    """In a child: drop to nobody, then try to set traits both ways."""
    s = socket.socket(fam(addr), socket.SOCK_DGRAM)
    os.setgid(65534)
    os.setuid(65534)
    got = []
    try:
        s.setsockopt(SOL, SO_TRAITS, block((7, 4, 1)))
        got.append(0)
    except OSError as e:
        got.append(e.errno)
    try:
        s.sendmsg([b"x"], [(SOL, SCM_TRAITS, block((7, 4, 1)))], 0, (addr, 9))
        got.append(0)
    except OSError as e:
        got.append(e.errno)
    return got


def test_setting_traits_needs_cap_net_admin(pair):
    a, _ = pair
    assert a.call(_unprivileged, "10.0.0.2") == [errno.EPERM, errno.EPERM]


def test_per_datagram_traits_are_refused_on_a_stream(pair):
    a, b = pair
    _, cli, conn = accept_from(a, b, "10.0.0.1", "10.0.0.2", 5304)
    with pytest.raises(OSError) as refused:
        cli.sendmsg([b"x"], [(SOL, SCM_TRAITS, block((7, 4, 1)))])
    assert refused.value.errno == errno.EINVAL
    cli.sendmsg([b"y"])
    assert conn.recv(10) == b"y"


def prohibit_trait_7(ns, dst):
    """Output lookups with trait 7 = 1 hit a prohibit route to dst."""
    v = "-6" if ":" in dst else "-4"
    ns.run(f"ip {v} rule add pref 10 trait 7 value 1 table 100")
    ns.run(f"ip {v} route add prohibit {dst} table 100")


@pytest.mark.parametrize("family", FAMILIES)
def test_so_traits_steer_udp_through_an_output_rule(pair, family):
    a, b = pair
    src, dst = FAMILIES[family]
    prohibit_trait_7(a, dst)
    srv = udp_server(b, dst, rcvtraits=False)
    sender(a, dst).sendto(b"plain", (dst, 9000))
    sender(a, dst, block((7, 4, 2))).sendto(b"two", (dst, 9000))
    with pytest.raises(OSError) as steered:
        sender(a, dst, block((7, 4, 1))).sendto(b"one", (dst, 9000))
    assert steered.value.errno == errno.EACCES
    # the same value stored in 8 bytes is the same number
    with pytest.raises(OSError):
        sender(a, dst, block((7, 8, 1))).sendto(b"one", (dst, 9000))
    assert {srv.recv(100), srv.recv(100)} == {b"plain", b"two"}


@pytest.mark.parametrize("family", FAMILIES)
def test_so_traits_steer_tcp_through_an_output_rule(pair, family):
    a, b = pair
    src, dst = FAMILIES[family]
    prohibit_trait_7(a, dst)
    srv = b.socket(fam(dst), socket.SOCK_STREAM)
    srv.bind((dst, 5301))
    srv.listen(4)
    cli = a.socket(fam(dst), socket.SOCK_STREAM)
    cli.setsockopt(SOL, SO_TRAITS, block((7, 4, 1)))
    cli.settimeout(10)
    with pytest.raises(OSError) as steered:
        cli.connect((dst, 5301))
    assert steered.value.errno == errno.EACCES
    ok = a.socket(fam(dst), socket.SOCK_STREAM)
    ok.settimeout(10)
    ok.connect((dst, 5301))


def test_route_get_without_iif_is_an_output_lookup_with_traits(pair):
    a, _ = pair
    prohibit_trait_7(a, "10.0.0.2")
    assert "dev va" in a.run("ip route get 10.0.0.2")
    assert "dev va" in a.run("ip route get 10.0.0.2 trait 7 2")
    p = a.run("ip route get 10.0.0.2 trait 7 1", check=False)
    assert p.returncode != 0 and "permission denied" in p.stderr.lower()


def output_counters(ns):
    """nft output and postrouting counters of packets carrying trait 7 = 1."""
    t = Nft(ns)
    for chain, hook in (("out", "output"), ("post", "postrouting")):
        t.chain(chain, hook)
        t.counter(chain)
        t.rule(chain, n.trait_load(7), n.cmp("==", n.host(1)), n.counter(f"c_{chain}"))
    return lambda: (t.packets("out"), t.packets("post"))


@pytest.mark.parametrize("family", FAMILIES)
def test_nft_and_tc_see_the_traits_a_socket_sets(pair, tc_reader, family):
    a, b = pair
    src, dst = FAMILIES[family]
    counts = output_counters(a)
    reader = tc_reader(a, "va", "egress")
    s = sender(a, dst, block((7, 4, 1), (9, 8, BIG)))
    for _ in range(3):
        s.sendto(b"x", (dst, 9000))
    assert counts() == (3, 3)
    assert reader.traits() == {7: (4, 1), 9: (8, BIG)}
    sender(a, dst).sendto(b"x", (dst, 9000))
    assert counts() == (3, 3)
    assert reader.traits() == {}


@pytest.mark.parametrize("family", FAMILIES)
def test_tcp_segments_carry_the_socket_traits(pair, family):
    a, b = pair
    src, dst = FAMILIES[family]
    counts = output_counters(a)
    srv = b.socket(fam(dst), socket.SOCK_STREAM)
    srv.bind((dst, 5302))
    srv.listen(1)
    srv.settimeout(10)
    cli = a.socket(fam(dst), socket.SOCK_STREAM)
    cli.setsockopt(SOL, SO_TRAITS, block((7, 4, 1)))
    cli.settimeout(10)
    cli.connect((dst, 5302))
    conn, _ = srv.accept()
    cli.sendall(b"y" * 1000)
    assert conn.recv(1000)
    out, post = counts()
    assert out >= 3 and post >= 3          # SYN, ACK, data at least


def test_accepted_socket_inherits_the_listener_traits(pair):
    a, b = pair
    srv = b.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(SOL, SO_TRAITS, block((4, 8, BIG)))
    srv.bind(("10.0.0.2", 5303))
    srv.listen(1)
    srv.settimeout(10)
    cli = a.socket(socket.AF_INET, socket.SOCK_STREAM)
    cli.settimeout(10)
    cli.connect(("10.0.0.2", 5303))
    conn, _ = srv.accept()
    assert conn.getsockopt(SOL, SO_TRAITS, 256) == block((4, 8, BIG))


@pytest.mark.parametrize("family", FAMILIES)
def test_scm_traits_set_the_traits_of_one_datagram(pair, tc_reader, family):
    a, b = pair
    src, dst = FAMILIES[family]
    counts = output_counters(a)
    reader = tc_reader(a, "va", "egress")
    s = sender(a, dst)
    s.sendmsg([b"x"], [(SOL, SCM_TRAITS, block((7, 4, 1), (2, 0, 0)))], 0, (dst, 9000))
    assert reader.traits() == {7: (4, 1), 2: (0, 0)}
    assert counts() == (1, 1)
    s.sendto(b"x", (dst, 9000))
    assert reader.traits() == {}
    # an empty block sends one datagram without the socket's traits
    s.setsockopt(SOL, SO_TRAITS, block((7, 4, 1)))
    s.sendmsg([b"x"], [(SOL, SCM_TRAITS, EMPTY)], 0, (dst, 9000))
    assert reader.traits() == {}
    assert counts() == (1, 1)
    # a corked datagram keeps the traits given with its first part
    s.setsockopt(SOL, SO_TRAITS, EMPTY)
    s.sendmsg([b"a"], [(SOL, SCM_TRAITS, block((7, 4, 1)))], socket.MSG_MORE, (dst, 9000))
    s.sendmsg([b"b"], [], 0, (dst, 9000))
    assert reader.traits() == {7: (4, 1)}
    assert counts() == (2, 2)


@pytest.mark.parametrize("family", FAMILIES)
def test_scm_traits_steer_one_datagram(pair, family):
    a, b = pair
    src, dst = FAMILIES[family]
    prohibit_trait_7(a, dst)
    s = sender(a, dst)
    with pytest.raises(OSError) as steered:
        s.sendmsg([b"x"], [(SOL, SCM_TRAITS, block((7, 4, 1)))], 0, (dst, 9000))
    assert steered.value.errno == errno.EACCES
    s.sendto(b"x", (dst, 9000))
    s.setsockopt(SOL, SO_TRAITS, block((7, 4, 1)))
    s.sendmsg([b"x"], [(SOL, SCM_TRAITS, EMPTY)], 0, (dst, 9000))


def test_a_containers_socket_traits_do_not_steer_the_host(pair):
    # a is the container, b the host; b drops input with trait 7 = 1
    a, b = pair
    # the rule comes before the local table: it decides local delivery
    b.run("ip rule add pref 10 trait 7 value 1 table 100")
    b.run("ip rule add pref 100 lookup local")
    b.run("ip rule del pref 0")
    b.run("ip route add prohibit 10.0.0.2 table 100")
    srv = udp_server(b, "10.0.0.2")
    srv.settimeout(3)
    sender(a, "10.0.0.2", block((7, 4, 1))).sendto(b"from a", ("10.0.0.2", 9000))
    assert recv_traits(srv) == (b"from a", None)
    # once the host accepts traits from other namespaces, they steer it
    b.run("sysctl -qw net.core.traits_cross_netns=1")
    sender(a, "10.0.0.2", block((7, 4, 1))).sendto(b"dropped", ("10.0.0.2", 9000))
    sender(a, "10.0.0.2", block((7, 4, 2))).sendto(b"seen", ("10.0.0.2", 9000))
    assert recv_traits(srv) == (b"seen", block((7, 4, 2)))


def test_trait_recv_prints_what_a_socket_receives(pair, xdp_tagger):
    import shlex
    import subprocess
    from conftest import BUILD
    a, b = pair
    tool = os.path.join(BUILD, "bin", "trait-recv")
    # its own rt_traits, where ip reads it, in a private mount namespace
    script = ["set -e", "mount -t tmpfs names /etc/iproute2",
              "printf '7 tenant\\n' > /etc/iproute2/rt_traits",
              f"exec {tool} -c 3 5000"]
    p = subprocess.Popen(f"ip netns exec {b.name} unshare -m sh -c "
                         + shlex.quote("\n".join(script)), shell=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        b.run("sh -c 'for i in $(seq 100); do ss -Hlun | grep -q :5000 && exit 0; "
              "sleep 0.1; done; exit 1'")
        tagger = xdp_tagger(b, "vb")
        udp_send(a, "10.0.0.2", 5000, b"plain")
        tagger.tag("10.0.0.1", (7, 4, 42), (3, 0, 0), (9, 8, BIG))
        udp_send(a, "10.0.0.2", 5000, b"hello")
        tagger.tag("fd00::1", (5, 4, 1))
        udp_send(a, "fd00::2", 5000, b"six", sport=4242)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("10.0.0.1 port ") and lines[0].endswith(" 5 bytes no traits")
    assert lines[1].endswith(f" 5 bytes trait 3 flag trait tenant value 42 trait 9 value {BIG}")
    assert lines[2] == "fd00::1 port 4242 3 bytes trait 5 value 1"


def test_trait_recv_refuses_a_bad_count():
    import subprocess
    from conftest import BUILD
    p = subprocess.run([os.path.join(BUILD, "bin", "trait-recv"), "-c", "0", "1"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "-c" in p.stderr


@pytest.mark.parametrize("family", FAMILIES)
def test_connect_picks_the_source_address_of_the_trait_route(pair, netns, family):
    # connect() chooses the source from a lookup with the traits too
    from conftest import veth
    a, b = pair
    c = netns("c")
    veth(a, "vc", c, "vcc", ("10.9.0.1/24", "fd09::1/64"), ("10.9.0.2/24", "fd09::2/64"))
    src, dst = FAMILIES[family]
    other = "fd09::1" if family == "ipv6" else "10.9.0.1"
    v = "-6" if family == "ipv6" else "-4"
    a.run(f"ip {v} rule add pref 10 trait 7 value 1 table 100")
    a.run(f"ip {v} route add {dst} dev vc src {other} table 100")
    plain = a.socket(fam(dst), socket.SOCK_DGRAM)
    plain.connect((dst, 9))
    assert plain.getsockname()[0] == src
    s = sender(a, dst, block((7, 4, 1)))
    s.connect((dst, 9))
    assert s.getsockname()[0] == other
