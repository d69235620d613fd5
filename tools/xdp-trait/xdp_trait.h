/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Map layouts shared by the XDP classifier (xdp_trait.bpf.c) and the
 * xdp-trait command that edits its pinned maps.
 *
 * Rule i is slot i of the "rules" array and bit i of a rule set. The four
 * LPM tries (source/destination, IPv4/IPv6) map a prefix to the set of
 * rules whose prefix contains it; a rule without a source (destination)
 * sits in the /0 entry of both source (destination) tries. A packet's
 * candidates are the source set AND the destination set; the program then
 * checks protocol, ports and VLAN of each candidate in id order, and every
 * rule that matches sets its traits (so a higher id wins for one key).
 */
#ifndef XDP_TRAIT_H
#define XDP_TRAIT_H

#include <linux/types.h>

#define XT_MAX_RULES	64	/* one bit each in a __u64 rule set */
#define XT_MAX_TRAITS	4	/* traits one rule sets */

/* what a rule matches on, besides the prefixes kept in the tries */
#define XT_M_SRC	(1 << 0)
#define XT_M_DST	(1 << 1)
#define XT_M_PROTO	(1 << 2)
#define XT_M_SPORT	(1 << 3)
#define XT_M_DPORT	(1 << 4)
#define XT_M_VLAN	(1 << 5)

struct xt_trait {
	__u8 key;
	__u8 size;		/* 0 (flag), 4 or 8 */
	__u8 pad[6];
	__u64 value;
};

struct xt_rule {
	__u8 used;
	__u8 match;		/* XT_M_* */
	__u8 proto;
	__u8 family;		/* of src and dst: 4, 6, or 0 without either */
	__u8 src_len;
	__u8 dst_len;
	__u16 vlan;
	__u16 sport[2];		/* inclusive range */
	__u16 dport[2];
	__u32 n_traits;
	__u32 pad;
	__u8 src[16];		/* network order; IPv4 in the first 4 bytes */
	__u8 dst[16];
	struct xt_trait traits[XT_MAX_TRAITS];
};

struct xt_lpm4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct xt_lpm6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* the "counters" per-CPU array */
enum {
	XT_PACKETS,		/* IPv4 and IPv6 packets seen */
	XT_MATCHED,		/* packets at least one rule matched */
	XT_SET_ERRORS,		/* bpf_xdp_trait_set() failures */
	XT_NR_COUNTERS,
};

#endif
