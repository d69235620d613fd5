// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzzer side of tests/test_fuzz_blocks.py: a UDP packet to port 7779
 * carries a case number; case N of the "cases" map is metadata to write
 * in front of the packet data with bpf_xdp_adjust_meta() (a traits block,
 * good or corrupt, maybe after metadata of the program's own), then up to
 * MAX_OPS bpf_xdp_trait_set() calls, whose results land in "rets".
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "traits.h"

#define FUZZ_PORT	7779
#define MAX_CASES	64
#define MAX_META	192
#define MAX_OPS		8

struct op {
	__u64 key;	/* any: the kfunc must refuse keys past 63 */
	__u32 size;	/* 0, 4 or 8 */
	__u32 flags;
	__u64 value;
};

struct fuzz_case {
	__u32 meta_len;	/* a multiple of 4, up to MAX_META */
	__u32 nops;
	struct op ops[MAX_OPS];
	__u32 meta[MAX_META / 4];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_CASES);
	__type(key, __u32);
	__type(value, struct fuzz_case);
} cases SEC(".maps");

struct rets {
	__s32 ret[MAX_OPS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_CASES);
	__type(key, __u32);
	__type(value, struct rets);
} rets SEC(".maps");

static int set_op(struct xdp_md *ctx, const struct op *op)
{
	__u64 val = op->value;
	__u32 val32 = op->value;

	if (op->size == 8)
		return bpf_xdp_trait_set(ctx, op->key, &val, 8, op->flags);
	if (op->size == 4)
		return bpf_xdp_trait_set(ctx, op->key, &val32, 4, op->flags);
	return bpf_xdp_trait_set(ctx, op->key, NULL, 0, op->flags);
}

SEC("xdp")
int xdp_block_fuzz(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	struct fuzz_case *c;
	struct rets r = {};
	__u32 idx, i;
	void *meta;

	if ((void *)(udp + 1) + sizeof(idx) > data_end ||
	    eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
	    ip->protocol != IPPROTO_UDP || udp->dest != bpf_htons(FUZZ_PORT))
		return XDP_PASS;
	idx = *(__u32 *)(udp + 1);
	c = bpf_map_lookup_elem(&cases, &idx);
	if (!c)
		return XDP_PASS;

	if (c->meta_len && c->meta_len <= MAX_META &&
	    !bpf_xdp_adjust_meta(ctx, -(int)c->meta_len)) {
		data = (void *)(long)ctx->data;
		meta = (void *)(long)ctx->data_meta;
		for (i = 0; i < MAX_META / 4; i++) {
			__u32 *p = meta + i * 4;

			if ((void *)(p + 1) > data)
				break;
			*p = c->meta[i];
		}
	}
	for (i = 0; i < MAX_OPS && i < c->nops; i++)
		r.ret[i] = set_op(ctx, &c->ops[i]);
	bpf_map_update_elem(&rets, &idx, &r, BPF_ANY);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
