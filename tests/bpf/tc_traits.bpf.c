// SPDX-License-Identifier: GPL-2.0
/*
 * Test reader/writer at TC ingress: records the traits and the metadata a
 * UDP packet arrives with (other packets, such as neighbour discovery, are
 * let through unrecorded), and optionally sets or deletes a trait.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "traits.h"

struct seen {
	__s32 size;	/* bpf_skb_trait_get() result */
	__u32 pad;
	__u64 value;
};

/* traits of the last packet, per key */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TRAIT_KEY_MAX + 1);
	__type(key, __u32);
	__type(value, struct seen);
} last SEC(".maps");

/* 0: packets, 1: packets with any trait, 2: metadata length of the last,
 * 3: first metadata word of the last, 4: set result, 5: del result
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 6);
	__type(key, __u32);
	__type(value, __u64);
} info SEC(".maps");

/* what to write: key 0 = {op (0 none, 1 set, 2 del), key, size, value} */
struct write {
	__u32 op;
	__u32 key;
	__u32 size;
	__u32 pad;
	__u64 value;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct write);
} to_write SEC(".maps");

static void put(__u32 idx, __u64 v)
{
	bpf_map_update_elem(&info, &idx, &v, BPF_ANY);
}

SEC("tc")
int tc_traits(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *meta = (void *)(long)skb->data_meta;
	__u32 zero = 0, key, any = 0;
	struct write *w;
	__u64 *pkts;
	__u8 proto;

	if (skb->protocol == bpf_htons(ETH_P_IP))
		bpf_skb_load_bytes(skb, ETH_HLEN + 9, &proto, 1);
	else if (skb->protocol == bpf_htons(ETH_P_IPV6))
		bpf_skb_load_bytes(skb, ETH_HLEN + 6, &proto, 1);
	else
		return TC_ACT_OK;
	if (proto != IPPROTO_UDP)
		return TC_ACT_OK;

	pkts = bpf_map_lookup_elem(&info, &zero);
	if (pkts)
		__sync_fetch_and_add(pkts, 1);
	put(2, data - meta);
	if (meta + 4 <= data)
		put(3, *(__u32 *)meta);
	else
		put(3, 0);

	for (key = 0; key <= TRAIT_KEY_MAX; key++) {
		/* a copy: taking the counter's address would hide its
		 * bounds from the verifier
		 */
		__u32 idx = key;
		struct seen s = {};

		/* what the kfunc does not fill must read as zeroes */
		s.value = ~0ULL;
		s.size = bpf_skb_trait_get(skb, key, &s.value, sizeof(s.value));
		if (s.size >= 0)
			any = 1;
		bpf_map_update_elem(&last, &idx, &s, BPF_ANY);
	}
	if (any) {
		__u32 idx = 1;
		__u64 *c = bpf_map_lookup_elem(&info, &idx);

		if (c)
			__sync_fetch_and_add(c, 1);
	}

	w = bpf_map_lookup_elem(&to_write, &zero);
	if (w && w->op == 1) {
		__u64 v = w->value;
		__u32 v32 = w->value;

		if (w->size == 8)
			put(4, bpf_skb_trait_set(skb, w->key, &v, 8, TRAIT_F_REPLACE));
		else if (w->size == 4)
			put(4, bpf_skb_trait_set(skb, w->key, &v32, 4, TRAIT_F_REPLACE));
		else
			put(4, bpf_skb_trait_set(skb, w->key, NULL, 0, TRAIT_F_REPLACE));
	} else if (w && w->op == 2) {
		put(5, bpf_skb_trait_del(skb, w->key));
	}
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
