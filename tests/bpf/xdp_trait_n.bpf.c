// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark: bpf_xdp_trait_set() of bench_conf[BENCH_NTRAITS] four-byte
 * traits (key 7 + i = 5 + i) on every packet. Loaded, it also holds the
 * hand-over's static key, even with no trait to set.
 */
#include "bench.h"
#include "traits.h"

SEC("xdp")
int xdp_trait_n(struct xdp_md *ctx)
{
	__u32 n = bench_conf_get(BENCH_NTRAITS, 0), i;

	for (i = 0; i < BENCH_MAX_TRAITS && i < n; i++) {
		__u32 val = BENCH_VALUE + i;

		bpf_xdp_trait_set(ctx, BENCH_KEY + i, &val, sizeof(val), 0);
	}
	return bench_verdict();
}

char _license[] SEC("license") = "GPL";
