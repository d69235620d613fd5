// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark, what people do today when the mark is taken: a hash map keyed
 * by the skb's address. XDP cannot know the skb, so TC ingress stores the
 * class XDP left in the metadata (xdp_meta_value.bpf.c); a socket filter
 * on the receiving socket reads it; every skb free removes its entry
 * (skb:consume_skb and skb:kfree_skb), or the map fills with dead keys.
 * Needs root (the skb address is a pointer leaked into a map key).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "bench.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u32);
} by_skb SEC(".maps");

/* 0: packets the socket filter found with the class, 1: entries freed */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} skb_map_stats SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&skb_map_stats, &idx);

	if (c)
		__sync_fetch_and_add(c, 1);
}

SEC("tc")
int skb_map_store(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *meta = (void *)(long)skb->data_meta;
	__u64 key = (long)skb;

	if (meta + sizeof(__u32) <= data)
		bpf_map_update_elem(&by_skb, &key, meta, BPF_ANY);
	return TC_ACT_OK;
}

SEC("socket")
int skb_map_match(struct __sk_buff *skb)
{
	__u64 key = (long)skb;
	__u32 *class = bpf_map_lookup_elem(&by_skb, &key);

	if (class && *class == BENCH_VALUE)
		count(0);
	return skb->len;
}

static __always_inline void forget(__u64 skb)
{
	if (!bpf_map_delete_elem(&by_skb, &skb))
		count(1);
}

SEC("tp_btf/consume_skb")
int skb_map_consume(__u64 *ctx)
{
	forget(ctx[0]);
	return 0;
}

SEC("tp_btf/kfree_skb")
int skb_map_kfree(__u64 *ctx)
{
	forget(ctx[0]);
	return 0;
}

char _license[] SEC("license") = "GPL";
