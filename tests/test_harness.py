# The ground floor: we run on our kernel, with our tools, and traffic flows.
import os
import platform
import shutil

from conftest import BUILD, bpf_obj, sh


def test_guest_runs_our_kernel():
    assert platform.release().endswith("-traits"), platform.release()


def test_patched_ip_is_first_on_path():
    assert os.path.realpath(shutil.which("ip")) == \
        os.path.join(BUILD, "iproute2", "ip", "ip")


def test_module_loads_and_unloads():
    sh("modprobe nft_meta_trait")
    assert "nft_meta_trait" in open("/proc/modules").read()
    sh("modprobe -r nft_meta_trait")
    assert "nft_meta_trait" not in open("/proc/modules").read()


def test_packets_cross_a_veth_pair(pair):
    a, b = pair
    rx0, _ = b.link_stats("vb")
    a.ping("10.0.0.2", count=5)
    a.ping("fd00::2", count=5)
    rx1, _ = b.link_stats("vb")
    assert rx1 - rx0 >= 10


def test_xdp_program_attaches_to_veth_and_sees_packets(pair):
    a, b = pair
    b.run(f"ip link set dev vb xdpgeneric obj {bpf_obj('xdp_drop_icmp.bpf.o')} sec xdp")
    assert "xdpgeneric" in b.run("ip link show dev vb")
    out = a.ping("10.0.0.2", count=3, check=False)
    assert out.returncode != 0, "the XDP program should drop ICMP"
    b.run("ip link set dev vb xdpgeneric off")
    a.ping("10.0.0.2", count=3)
