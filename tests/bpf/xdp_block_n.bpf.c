// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark: the block xdp_trait_n.bpf.c sets through the kfunc, written
 * by hand with bpf_xdp_adjust_meta(): n four-byte traits (key 7 + i =
 * 5 + i), n = bench_conf[BENCH_NTRAITS] in 1, 2, 4, 8, 16.
 */
#include "bench.h"
#include "traits.h"

#define HDR_LEN	sizeof(struct traits_hdr)

static __always_inline void write_block(struct xdp_md *ctx, const __u32 n)
{
	const __u32 len = HDR_LEN + 4 * n + sizeof(struct traits_trailer);
	struct traits_trailer *tr;
	struct traits_hdr *hdr;
	void *data, *meta;
	__u32 *val, i;

	if (bpf_xdp_adjust_meta(ctx, -(int)len))
		return;
	data = (void *)(long)ctx->data;
	meta = (void *)(long)ctx->data_meta;
	if (meta + len > data)
		return;
	hdr = meta;
	hdr->high = ((1ULL << n) - 1) << BENCH_KEY;	/* size class 10: 4 bytes */
	hdr->low = 0;
	val = meta + HDR_LEN;
#pragma clang loop unroll(full)
	for (i = 0; i < n; i++)
		val[i] = BENCH_VALUE + i;
	tr = meta + HDR_LEN + 4 * n;
	tr->magic = TRAITS_MAGIC;
	tr->version = TRAITS_VERSION;
	tr->len = len;
}

SEC("xdp")
int xdp_block_n(struct xdp_md *ctx)
{
	bench_with_ntraits(write_block, ctx);
	return bench_verdict();
}

char _license[] SEC("license") = "GPL";
