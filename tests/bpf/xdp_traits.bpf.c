// SPDX-License-Identifier: GPL-2.0
/*
 * Test tagger: sets packet traits in XDP, three ways.
 *
 * 1. by source address: the "tag_rules" map (key: IPv4 as ::ffff:a.b.c.d or
 *    IPv6 source) lists up to 4 traits to set on every packet from it;
 * 2. by command: a UDP packet to port 7777 carries up to 12 records
 *    (op, key, size, flags, value) run through the kfuncs, whose return
 *    codes land in the "results" map;
 * 3. by raw block: a UDP packet to port 7778 carries bytes that are put
 *    into the metadata area with bpf_xdp_adjust_meta(), as a program that
 *    writes the block by hand (or gets it wrong) would.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "traits.h"

#define CMD_PORT	7777
#define RAW_PORT	7778
#define MAX_TRAITS	4
#define MAX_CMDS	12	/* see run_cmds() */
#define MAX_RAW		128

struct tag {
	__u32 key;
	__u32 size;	/* 0, 4 or 8 */
	__u64 value;
};

struct tag_rule {
	__u32 n;
	__u32 pad;
	struct tag tags[MAX_TRAITS];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct in6_addr);
	__type(value, struct tag_rule);
} tag_rules SEC(".maps");

struct cmd {
	__u8 op;	/* 1 set, 2 delete, 3 get */
	__u8 key;
	__u8 size;
	__u8 flags;
	__u32 pad;
	__u64 value;
};

struct result {
	__s32 ret;
	__u32 pad;
	__u64 value;	/* what get returned */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_CMDS);
	__type(key, __u32);
	__type(value, struct result);
} results SEC(".maps");

/* 0: packets seen, 1: tagged by rule, 2: commands run, 3: raw blocks */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&stats, &idx);

	if (c)
		__sync_fetch_and_add(c, 1);
}

static int set_tag(struct xdp_md *ctx, struct tag *t)
{
	return xdp_trait_set_value(ctx, t->key, t->value, t->size);
}

/* Runs command @i of a command packet; false when there is none. */
static __always_inline bool run_cmd(struct xdp_md *ctx, __u32 off, __u32 i)
{
	struct result r = {};
	struct cmd c;
	__u64 val = 0;
	__u32 val32;

	if (bpf_xdp_load_bytes(ctx, off + i * sizeof(c), &c, sizeof(c)))
		return false;
	if (c.op == 1 && c.size == 4) {
		val32 = c.value;
		r.ret = bpf_xdp_trait_set(ctx, c.key, &val32, 4, c.flags);
	} else if (c.op == 1 && c.size == 0) {
		r.ret = bpf_xdp_trait_set(ctx, c.key, NULL, 0, c.flags);
	} else if (c.op == 1) {
		/* any other size goes through as asked: 8 or invalid */
		val = c.value;
		r.ret = bpf_xdp_trait_set(ctx, c.key, &val,
					  c.size == 8 ? 8 : 3, c.flags);
	} else if (c.op == 2) {
		r.ret = bpf_xdp_trait_del(ctx, c.key);
	} else if (c.op == 3) {
		/* what the kfunc does not fill must read as zeroes */
		val = ~0ULL;
		r.ret = bpf_xdp_trait_get(ctx, c.key, &val,
					  c.size == 4 ? 4 : 8);
		r.value = val;
	} else {
		return false;
	}
	bpf_map_update_elem(&results, &i, &r, BPF_ANY);
	return true;
}

/* Unrolled by hand: the verifier cannot tell loop iterations apart here. */
#define RUN(i)	do { if (!run_cmd(ctx, off, i)) goto out; } while (0)

static void run_cmds(struct xdp_md *ctx, __u32 off)
{
	RUN(0); RUN(1); RUN(2); RUN(3); RUN(4); RUN(5);
	RUN(6); RUN(7); RUN(8); RUN(9); RUN(10); RUN(11);
out:
	count(2);
}

static void put_raw(struct xdp_md *ctx, __u32 off)
{
	__u32 buf[MAX_RAW / 4];
	__u32 len, i;
	void *data, *meta;

	if (bpf_xdp_load_bytes(ctx, off, &len, sizeof(len)))
		return;
	if (len == 0 || len > MAX_RAW || (len & 3))
		return;
	if (bpf_xdp_load_bytes(ctx, off + 4, buf, MAX_RAW))
		return;
	if (bpf_xdp_adjust_meta(ctx, -(int)len))
		return;
	data = (void *)(long)ctx->data;
	meta = (void *)(long)ctx->data_meta;
#pragma clang loop unroll(full)
	for (i = 0; i < MAX_RAW / 4; i++) {
		__u32 *p = meta + i * 4;

		if (i * 4 >= len || (void *)(p + 1) > data)
			break;
		*p = buf[i];
	}
	count(3);
}

SEC("xdp")
int xdp_traits(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct in6_addr src = {};
	struct tag_rule *rule;
	__u32 l4 = 0, i;
	__u8 proto = 0;
	struct udphdr udp;

	count(0);
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return XDP_PASS;
		src.s6_addr16[5] = 0xffff;
		src.s6_addr32[3] = ip->saddr;
		proto = ip->protocol;
		l4 = sizeof(*eth) + ip->ihl * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		src = ip6->saddr;
		proto = ip6->nexthdr;
		l4 = sizeof(*eth) + sizeof(*ip6);
	} else {
		return XDP_PASS;
	}

	if (proto == IPPROTO_UDP &&
	    !bpf_xdp_load_bytes(ctx, l4, &udp, sizeof(udp))) {
		if (udp.dest == bpf_htons(CMD_PORT)) {
			run_cmds(ctx, l4 + sizeof(udp));
			return XDP_PASS;
		}
		if (udp.dest == bpf_htons(RAW_PORT)) {
			put_raw(ctx, l4 + sizeof(udp));
			return XDP_PASS;
		}
	}

	rule = bpf_map_lookup_elem(&tag_rules, &src);
	if (!rule)
		return XDP_PASS;
#pragma clang loop unroll(full)
	for (i = 0; i < MAX_TRAITS; i++) {
		if (i >= rule->n)
			break;
		set_tag(ctx, &rule->tags[i]);
	}
	count(1);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
