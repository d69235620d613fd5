// SPDX-License-Identifier: GPL-2.0
/* Must be REJECTED: the size of the value buffer is not bounded. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "traits.h"

SEC("xdp")
int misuse_unbounded_size(struct xdp_md *ctx)
{
	__u64 val = 0;
	__u64 size = ctx->rx_queue_index;	/* anything */

	return bpf_xdp_trait_get(ctx, 1, &val, size) ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
