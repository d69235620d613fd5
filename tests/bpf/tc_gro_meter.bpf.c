// SPDX-License-Identifier: GPL-2.0
/*
 * GRO tests, at TC ingress (after GRO): counts the TCP segments that
 * arrive per value of trait 7, and how many segments GRO put in one skb.
 */
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "traits.h"

/* 0: skbs, 1: most segments in one skb, 2 + v: segments with value v
 * (v = 0 or 1), 4: segments without the trait or with another value
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 5);
	__type(key, __u32);
	__type(value, __u64);
} gro SEC(".maps");

static void add(__u32 idx, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&gro, &idx);

	if (c)
		__sync_fetch_and_add(c, n);
}

SEC("tc")
int tc_gro_meter(struct __sk_buff *skb)
{
	__u32 segs = skb->gso_segs ? skb->gso_segs : 1;
	__u32 one = 1, v = ~0U;
	__u64 *most;
	__u8 proto;

	/* relative to the network header: veth (Ethernet) and GRE (none) */
	if (skb->protocol != bpf_htons(ETH_P_IP) ||
	    bpf_skb_load_bytes_relative(skb, offsetof(struct iphdr, protocol),
					&proto, 1, BPF_HDR_START_NET) ||
	    proto != IPPROTO_TCP)
		return TC_ACT_OK;

	add(0, 1);
	most = bpf_map_lookup_elem(&gro, &one);
	if (most && segs > *most)
		*most = segs;
	if (bpf_skb_trait_get(skb, 7, &v, sizeof(v)) != sizeof(v) || v > 1)
		add(4, segs);
	else
		add(2 + v, segs);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
