// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark, what people do today when the mark is taken: a hash map keyed
 * by the skb's address. XDP cannot know the skb, so TC ingress stores the
 * class XDP left in the metadata (xdp_meta_value.bpf.c); a socket filter
 * on the receiving socket reads it; every skb free removes its entry
 * (skb:consume_skb and skb:kfree_skb, skb_map_free.bpf.c), or the map
 * fills with dead keys. skb_map_match_forget is the stand-in on kernels
 * without BPF on tracepoints: the consumer deletes what it read (cheaper,
 * and it leaks the entries of packets dropped before the socket).
 * Needs root (the skb address is a pointer leaked into a map key).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "bench.h"
#include "skb_map.h"


/* 0: packets the socket filter found with the class */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} skb_map_stats SEC(".maps");

static __always_inline void count_match(void)
{
	__u32 zero = 0;
	__u64 *c = bpf_map_lookup_elem(&skb_map_stats, &zero);

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

static __always_inline void match(__u64 key)
{
	__u32 *class = bpf_map_lookup_elem(&by_skb, &key);

	if (class && *class == BENCH_VALUE)
		count_match();
}

SEC("socket")
int skb_map_match(struct __sk_buff *skb)
{
	match((long)skb);
	return skb->len;
}

SEC("socket")
int skb_map_match_forget(struct __sk_buff *skb)
{
	__u64 key = (long)skb;

	match(key);
	bpf_map_delete_elem(&by_skb, &key);
	return skb->len;
}

char _license[] SEC("license") = "GPL";
