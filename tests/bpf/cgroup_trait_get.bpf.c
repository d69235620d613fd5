// SPDX-License-Identifier: GPL-2.0
/* Loads: cgroup programs may read traits (what cgroup_trait_set may not). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "traits.h"

SEC("cgroup_skb/ingress")
int cgroup_trait_get(struct __sk_buff *skb)
{
	__u32 val;

	return bpf_skb_trait_get(skb, 1, &val, sizeof(val)) != 4 || val != 2;
}

char _license[] SEC("license") = "GPL";
