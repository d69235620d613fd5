// SPDX-License-Identifier: GPL-2.0
/* Must be REJECTED: the skb kfuncs are not for XDP programs. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "traits.h"

SEC("xdp")
int misuse_xdp_calls_skb_kfunc(struct xdp_md *ctx)
{
	__u64 val = 0;

	return bpf_skb_trait_get((struct __sk_buff *)ctx, 1, &val, sizeof(val)) ?
	       XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
