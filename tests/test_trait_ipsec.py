# Traits and the other skb extension users: IPsec's sec_path.
#
#   a 10.1.0.1 (inner 192.168.1.1) =ESP tunnel= r0 r r1 ---- c0 c 192.168.2.1
#
# r tags the ESP packets in XDP, decrypts them (the sec_path joins the
# traits in the extension), a packet socket on r holds clones of every
# packet (so the extension is shared), and r forwards into c's namespace
# (skb_scrub_packet() drops the sec_path, keeps the traits), where TC
# writes a trait (copy-on-write of the extension). Then every xfrm state
# reference must still be accounted for: a scrub that only marked the
# shared sec_path inactive let the copy put the states a second time.
import socket
import subprocess

import pytest

from conftest import udp_send, veth

N = 20
ALGOS = {
    "aes-gcm": "aead 'rfc4106(gcm(aes))' 0x" + "11" * 20 + " 128",
    "aes-cbc-hmac-sha256": ("enc 'cbc(aes)' 0x" + "22" * 16 +
                            " auth-trunc 'hmac(sha256)' 0x" + "33" * 32 + " 128"),
}
ETH_P_ALL = 3


def kernel_warnings():
    log = subprocess.run(["dmesg"], capture_output=True, text=True).stdout
    return [line for line in log.splitlines()
            if "refcount_t" in line or "WARNING:" in line or "BUG:" in line]


def esp_tunnel(ns, algo, direction_dirs):
    ns.run("ip xfrm state add src 10.1.0.1 dst 10.1.0.254 proto esp spi 0x1000 "
           f"reqid 1 mode tunnel {ALGOS[algo]}")
    for d in direction_dirs:
        ns.run(f"ip xfrm policy add src 192.168.1.0/24 dst 192.168.2.0/24 dir {d} "
               "tmpl src 10.1.0.1 dst 10.1.0.254 proto esp reqid 1 mode tunnel")


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_scrub_of_a_shared_extension_keeps_xfrm_references(netns, xdp_tagger,
                                                           tc_reader, algo):
    a, r, c = netns("a"), netns("r"), netns("c")
    veth(a, "a0", r, "r0", ("10.1.0.1/24",), ("10.1.0.254/24",))
    veth(r, "r1", c, "c0", ("192.168.2.254/24",), ("192.168.2.1/24",))
    a.run("ip addr add 192.168.1.1/32 dev lo")
    a.run("ip route add 192.168.2.0/24 via 10.1.0.254 src 192.168.1.1")
    c.run("ip route add default via 192.168.2.254")
    r.run("sysctl -qw net.ipv4.ip_forward=1")
    esp_tunnel(a, algo, ["out"])
    esp_tunnel(r, algo, ["in", "fwd"])
    xdp_tagger(r, "r0").tag("10.1.0.1", (1, 4, 1))
    reader = tc_reader(c, "c0")
    reader.write("set", 2, 4, 7)
    before = kernel_warnings()

    tap = r.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    try:
        udp_send(a, "192.168.2.1", 9000, b"x", count=N, src="192.168.1.1")
        assert reader.info(0) >= N, "the decrypted packets did not reach c"
        # r's traits are r's, invisible in c; c's own write (the
        # copy-on-write of the shared extension) succeeded
        assert reader.traits() == {}
        assert reader.info(4) == 0
    finally:
        tap.close()               # frees the clones and their extensions
    r.run("ip xfrm state flush")
    r.run("ip xfrm policy flush")
    assert kernel_warnings() == before
