// SPDX-License-Identifier: GPL-2.0
/*
 * xdp-trait's classifier: sets packet traits on IPv4 and IPv6 packets by
 * rules on prefixes, L4 protocol, ports and VLAN id (see xdp_trait.h for
 * how the maps hold the rules). Every packet passes.
 *
 * Two entry points: xdp_trait_md, loaded bound to the device in native
 * mode, also asks the driver for a VLAN tag it stripped; xdp_trait reads
 * the tag from the packet only (generic mode, or a device that cannot
 * bind the program).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "traits.h"
#include "xdp_trait.h"

#define IP_FRAG_OFFSET	0x1fff
#define VLAN_VID_MASK	0x0fff

extern int bpf_xdp_metadata_rx_vlan_tag(const struct xdp_md *ctx,
					__be16 *vlan_proto,
					__u16 *vlan_tci) __ksym __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XT_MAX_RULES);
	__type(key, __u32);
	__type(value, struct xt_rule);
} rules SEC(".maps");

#define PREFIX_TRIE(name, key_type)					\
	struct {							\
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);			\
		__uint(max_entries, XT_MAX_RULES + 1);			\
		__uint(map_flags, BPF_F_NO_PREALLOC);			\
		__type(key, key_type);					\
		__type(value, __u64);					\
	} name SEC(".maps")

PREFIX_TRIE(src4, struct xt_lpm4);
PREFIX_TRIE(dst4, struct xt_lpm4);
PREFIX_TRIE(src6, struct xt_lpm6);
PREFIX_TRIE(dst6, struct xt_lpm6);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XT_MAX_RULES);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XT_NR_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct vlan_tag {
	__be16 tci;
	__be16 proto;
};

/* what rules look at, taken from the packet before any trait is set */
struct pkt {
	__u64 candidates;
	__u16 vlan;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 has_vlan;
	__u8 has_ports;
};

static void count(void *map, __u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(map, &idx);

	if (c)
		*c += 1;
}

static __u64 rules_of(void *trie, const void *key)
{
	__u64 *set = bpf_map_lookup_elem(trie, key);

	return set ? *set : 0;
}

static bool in_range(__u16 v, const __u16 range[2])
{
	return v >= range[0] && v <= range[1];
}

static bool rule_matches(const struct xt_rule *r, const struct pkt *p)
{
	if (!r->used)
		return false;
	if ((r->match & XT_M_PROTO) && r->proto != p->proto)
		return false;
	if ((r->match & XT_M_VLAN) && (!p->has_vlan || r->vlan != p->vlan))
		return false;
	if ((r->match & (XT_M_SPORT | XT_M_DPORT)) && !p->has_ports)
		return false;
	if ((r->match & XT_M_SPORT) && !in_range(p->sport, r->sport))
		return false;
	if ((r->match & XT_M_DPORT) && !in_range(p->dport, r->dport))
		return false;
	return true;
}

/*
 * Applies rule id if it matches. A global function: the verifier checks
 * it once, not once per rule of the loop that calls it.
 */
__noinline int apply_rule(struct xdp_md *ctx, __u32 id, const struct pkt *p)
{
	struct xt_rule *r = bpf_map_lookup_elem(&rules, &id);
	__u32 i;

	if (!r || !p || !rule_matches(r, p))
		return 0;
#pragma clang loop unroll(full)
	for (i = 0; i < XT_MAX_TRAITS; i++) {
		if (i >= r->n_traits)
			break;
		if (xdp_trait_set_value(ctx, r->traits[i].key,
					r->traits[i].value, r->traits[i].size))
			count(&counters, XT_SET_ERRORS);
	}
	count(&hits, id);
	return 1;
}

static __always_inline bool parse(struct xdp_md *ctx, struct pkt *p,
				  bool vlan_md)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	__u32 off = sizeof(*eth), l4;
	bool fragment = false;
	__u16 h_proto;
	__be16 ports[2];
	int depth;

	if ((void *)(eth + 1) > data_end)
		return false;
	if (vlan_md) {
		__be16 vlan_proto;
		__u16 tci;

		if (!bpf_xdp_metadata_rx_vlan_tag(ctx, &vlan_proto, &tci)) {
			p->vlan = tci & VLAN_VID_MASK;
			p->has_vlan = 1;
		}
	}
	/* a tag left in the packet: the outer one counts, unless the
	 * driver already stripped an outer one
	 */
	h_proto = eth->h_proto;
#pragma clang loop unroll(full)
	for (depth = 0; depth < 2; depth++) {
		struct vlan_tag *tag = data + off;

		if (h_proto != bpf_htons(ETH_P_8021Q) &&
		    h_proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(tag + 1) > data_end)
			return false;
		if (!p->has_vlan) {
			p->vlan = bpf_ntohs(tag->tci) & VLAN_VID_MASK;
			p->has_vlan = 1;
		}
		h_proto = tag->proto;
		off += sizeof(*tag);
	}

	if (h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + off;
		struct xt_lpm4 key = { .prefixlen = 32 };

		if ((void *)(ip + 1) > data_end)
			return false;
		p->proto = ip->protocol;
		l4 = off + ip->ihl * 4;
		fragment = ip->frag_off & bpf_htons(IP_FRAG_OFFSET);
		__builtin_memcpy(key.addr, &ip->saddr, 4);
		p->candidates = rules_of(&src4, &key);
		__builtin_memcpy(key.addr, &ip->daddr, 4);
		p->candidates &= rules_of(&dst4, &key);
	} else if (h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + off;
		struct xt_lpm6 key = { .prefixlen = 128 };

		if ((void *)(ip6 + 1) > data_end)
			return false;
		p->proto = ip6->nexthdr;
		l4 = off + sizeof(*ip6);
		__builtin_memcpy(key.addr, &ip6->saddr, 16);
		p->candidates = rules_of(&src6, &key);
		__builtin_memcpy(key.addr, &ip6->daddr, 16);
		p->candidates &= rules_of(&dst6, &key);
	} else {
		return false;
	}

	if ((p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP ||
	     p->proto == IPPROTO_UDPLITE || p->proto == IPPROTO_SCTP) &&
	    !fragment && !bpf_xdp_load_bytes(ctx, l4, ports, sizeof(ports))) {
		p->sport = bpf_ntohs(ports[0]);
		p->dport = bpf_ntohs(ports[1]);
		p->has_ports = 1;
	}
	return true;
}

static __always_inline int classify(struct xdp_md *ctx, bool vlan_md)
{
	struct pkt p = {};
	bool matched = false;
	__u32 i;

	if (!parse(ctx, &p, vlan_md))
		return XDP_PASS;
	count(&counters, XT_PACKETS);

	for (i = 0; i < XT_MAX_RULES; i++) {
		if (!(p.candidates >> i))
			break;
		if ((p.candidates >> i) & 1)
			matched |= apply_rule(ctx, i, &p);
	}
	if (matched)
		count(&counters, XT_MATCHED);
	return XDP_PASS;
}

SEC("xdp")
int xdp_trait(struct xdp_md *ctx)
{
	return classify(ctx, false);
}

SEC("xdp")
int xdp_trait_md(struct xdp_md *ctx)
{
	return classify(ctx, true);
}

char _license[] SEC("license") = "GPL";
