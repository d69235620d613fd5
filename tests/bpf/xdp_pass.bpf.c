// SPDX-License-Identifier: GPL-2.0
/* Benchmark baseline: an XDP program that does nothing but its verdict. */
#include "bench.h"

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return bench_verdict();
}

char _license[] SEC("license") = "GPL";
