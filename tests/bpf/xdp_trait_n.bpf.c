// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark: bpf_xdp_trait_set() of n four-byte traits (key 7 + i =
 * 5 + i) on every packet, n = bench_conf[BENCH_NTRAITS] in 0, 1, 2, 4,
 * 8, 16; shaped as xdp_block_n.bpf.c, which writes the same block by
 * hand, so that the two differ only in how the block is written. Loaded,
 * it also holds the hand-over's static key, even with no trait to set.
 */
#include "bench.h"
#include "traits.h"

static __always_inline void set_traits(struct xdp_md *ctx, const __u32 n)
{
	__u32 i;

#pragma clang loop unroll(full)
	for (i = 0; i < n; i++) {
		__u32 val = BENCH_VALUE + i;

		bpf_xdp_trait_set(ctx, BENCH_KEY + i, &val, sizeof(val), 0);
	}
}

SEC("xdp")
int xdp_trait_n(struct xdp_md *ctx)
{
	bench_with_ntraits(set_traits, ctx);
	return bench_verdict();
}

char _license[] SEC("license") = "GPL";
