// SPDX-License-Identifier: GPL-2.0
/*
 * Must be REJECTED at load: cgroup programs need only CAP_BPF and see
 * skbs of the whole stack, so bpf_skb_trait_set() is only for TC programs.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "traits.h"

SEC("cgroup_skb/ingress")
int cgroup_trait_set(struct __sk_buff *skb)
{
	__u32 val = 1;

	bpf_skb_trait_set(skb, 1, &val, sizeof(val), 0);
	return 1;
}

char _license[] SEC("license") = "GPL";
