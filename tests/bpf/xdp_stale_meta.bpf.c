// SPDX-License-Identifier: GPL-2.0
/*
 * Must be REJECTED by the verifier: bpf_xdp_trait_set() moves data_meta,
 * so a metadata pointer taken before the call is stale after it.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "traits.h"

SEC("xdp")
int xdp_stale_meta(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *meta = (void *)(long)ctx->data_meta;
	__u32 val = 1;

	if (meta + 4 > data)
		return XDP_PASS;
	bpf_xdp_trait_set(ctx, 1, &val, sizeof(val), 0);
	return *(__u32 *)meta ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
