// SPDX-License-Identifier: GPL-2.0
/*
 * GRO tests: trait 7 on every IPv4 packet, 1 on every packet or 0 and 1
 * by turns, so that neighbouring segments of one flow differ in their
 * traits alone. tagged[0] is the mode (0 same, 1 by turns); tagged[1 + v]
 * counts the packets given value v.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "traits.h"

#define GRO_TRAIT_KEY	7	/* tc_gro_meter.bpf.c reads it */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} tagged SEC(".maps");

static __always_inline __u32 next_value(void)
{
	__u32 k0 = 0, k1 = 1, k2 = 2;
	__u64 *mode = bpf_map_lookup_elem(&tagged, &k0);
	__u64 *n0 = bpf_map_lookup_elem(&tagged, &k1);
	__u64 *n1 = bpf_map_lookup_elem(&tagged, &k2);
	__u32 v = 1;

	if (!mode || !n0 || !n1)
		return v;
	if (*mode)
		v = (*n0 + *n1) & 1;
	__sync_fetch_and_add(v ? n1 : n0, 1);
	return v;
}

SEC("xdp")
int xdp_alternate(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = (void *)(long)ctx->data;
	__u32 v;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	v = next_value();
	bpf_xdp_trait_set(ctx, GRO_TRAIT_KEY, &v, sizeof(v), TRAIT_F_REPLACE);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
