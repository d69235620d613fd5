// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark, what people do today: XDP classifies and leaves the class
 * (5) as four bytes of its own metadata, for a TC program to pick up
 * (tc_meta_mark.bpf.c, skb_map.bpf.c).
 */
#include "bench.h"

SEC("xdp")
int xdp_meta_value(struct xdp_md *ctx)
{
	void *data, *meta;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(__u32)))
		return XDP_PASS;
	data = (void *)(long)ctx->data;
	meta = (void *)(long)ctx->data_meta;
	if (meta + sizeof(__u32) <= data)
		*(__u32 *)meta = BENCH_VALUE;
	return bench_verdict();
}

char _license[] SEC("license") = "GPL";
