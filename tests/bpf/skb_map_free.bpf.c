// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark: the cleanup of skb_map.bpf.c, loaded with its by_skb map:
 * every skb freed (skb:consume_skb, skb:kfree_skb) loses its entry.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "skb_map.h"

static __always_inline void forget(__u64 skb)
{
	bpf_map_delete_elem(&by_skb, &skb);
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
