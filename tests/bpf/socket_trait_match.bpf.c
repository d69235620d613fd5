// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark: the consumer of skb_map.bpf.c, reading a trait instead: a
 * socket filter counting the packets whose trait 7 holds the class (5).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "bench.h"
#include "traits.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} matched SEC(".maps");

SEC("socket")
int socket_trait_match(struct __sk_buff *skb)
{
	__u32 class = 0, zero = 0;
	__u64 *c;

	if (bpf_skb_trait_get(skb, BENCH_KEY, &class, sizeof(class)) == sizeof(class) &&
	    class == BENCH_VALUE) {
		c = bpf_map_lookup_elem(&matched, &zero);
		if (c)
			__sync_fetch_and_add(c, 1);
	}
	return skb->len;
}

char _license[] SEC("license") = "GPL";
