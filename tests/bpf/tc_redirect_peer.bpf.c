// SPDX-License-Identifier: GPL-2.0
/*
 * Redirects IPv4 packets at TC ingress to the peer of the veth whose
 * ifindex is in peer_of[0] (bpf_redirect_peer: straight into the other
 * namespace, without a pass through the backlog).
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
} peer_of SEC(".maps");

SEC("tc")
int tc_redirect_peer(struct __sk_buff *skb)
{
	__u32 zero = 0, *ifindex = bpf_map_lookup_elem(&peer_of, &zero);

	if (!ifindex || !*ifindex || skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	return bpf_redirect_peer(*ifindex, 0);
}

char _license[] SEC("license") = "GPL";
