// SPDX-License-Identifier: GPL-2.0
/* Must be REJECTED: get writes the value, .rodata is read-only. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "traits.h"

const volatile __u64 ro_val = 1;

SEC("xdp")
int misuse_rodata_buffer(struct xdp_md *ctx)
{
	return bpf_xdp_trait_get(ctx, 1, (void *)&ro_val, sizeof(ro_val)) ?
	       XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
