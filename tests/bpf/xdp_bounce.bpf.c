// SPDX-License-Identifier: GPL-2.0
/*
 * A container's XDP program that tags and sends on: every UDP packet gets
 * trait 3 = 33 with bpf_xdp_trait_set(), then leaves as "conf" says:
 * passed, sent back (XDP_TX), redirected to an ifindex, through a devmap
 * or through a cpumap. The isolation tests check where the traits of the
 * frame are seen afterwards.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "traits.h"

enum { PASS, TX, REDIRECT, DEVMAP, CPUMAP };

struct conf {
	__u32 action;
	__u32 ifindex;	/* REDIRECT */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct conf);
} conf SEC(".maps");

/* 0: UDP packets seen, 1: tagged */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} devs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} cpus SEC(".maps");

static void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&stats, &idx);

	if (c)
		__sync_fetch_and_add(c, 1);
}

SEC("xdp")
int xdp_bounce(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u32 zero = 0, val = 33;
	struct conf *c;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	c = bpf_map_lookup_elem(&conf, &zero);
	if (!c)
		return XDP_PASS;
	count(0);
	if (!bpf_xdp_trait_set(ctx, 3, &val, sizeof(val), 0))
		count(1);
	switch (c->action) {
	case TX:
		return XDP_TX;
	case REDIRECT:
		return bpf_redirect(c->ifindex, 0);
	case DEVMAP:
		return bpf_redirect_map(&devs, 0, XDP_PASS);
	case CPUMAP:
		return bpf_redirect_map(&cpus, 0, XDP_PASS);
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
