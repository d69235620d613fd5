// SPDX-License-Identifier: GPL-2.0
/*
 * The BPF column of the contract table (tests/test_contract.py): at TC
 * ingress, count per IPv4 source (its last byte) the UDP packets that the
 * header's helpers say carry trait KEY, and those whose value matches.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "traits.h"

/* key 0: {key, pad, want, mask} */
struct query {
	__u32 key;
	__u32 pad;
	__u64 want;
	__u64 mask;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct query);
} query SEC(".maps");

/* per source byte: {present, match} */
struct counts {
	__u64 present;
	__u64 match;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct counts);
} counts SEC(".maps");

SEC("tc")
int tc_trait_match(struct __sk_buff *skb)
{
	__u32 zero = 0, src;
	struct counts *c;
	struct query *q;
	__u8 hdr[20];

	if (skb->protocol != bpf_htons(ETH_P_IP) ||
	    bpf_skb_load_bytes(skb, ETH_HLEN, hdr, sizeof(hdr)) ||
	    hdr[9] != IPPROTO_UDP)
		return TC_ACT_OK;
	src = hdr[15];
	q = bpf_map_lookup_elem(&query, &zero);
	c = bpf_map_lookup_elem(&counts, &src);
	if (!q || !c)
		return TC_ACT_OK;
	if (skb_trait_present(skb, q->key))
		__sync_fetch_and_add(&c->present, 1);
	if (skb_trait_match(skb, q->key, q->want, q->mask))
		__sync_fetch_and_add(&c->match, 1);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
