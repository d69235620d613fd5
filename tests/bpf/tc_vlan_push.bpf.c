// SPDX-License-Identifier: GPL-2.0
/*
 * Test VLAN tagger at TC egress: gives IPv4 packets an 802.1Q tag with the
 * id in "vid" (0: none). ARP stays untagged, so neighbours resolve without
 * a VLAN device (the test kernel has none). The tag is offload metadata
 * (skb->vlan_tci) that a veth peer receives as stripped; with
 * `ethtool -K DEV txvlan off` the stack writes it into the packet instead.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} vid SEC(".maps");

SEC("tc")
int tc_vlan_push(struct __sk_buff *skb)
{
	__u32 zero = 0, *id;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	id = bpf_map_lookup_elem(&vid, &zero);
	if (id && *id)
		bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), *id);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
