// SPDX-License-Identifier: GPL-2.0
/* Socket filters may read traits: passes packets that carry trait 7. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "traits.h"

SEC("socket")
int socket_trait_get(struct __sk_buff *skb)
{
	__u64 val = 0;

	return bpf_skb_trait_get(skb, 7, &val, sizeof(val)) >= 0 ? skb->len : 0;
}

char _license[] SEC("license") = "GPL";
