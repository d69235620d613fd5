/* SPDX-License-Identifier: GPL-2.0 */
/* The skb-keyed map of skb_map.bpf.c and skb_map_free.bpf.c (benchmark). */
#ifndef __SKB_MAP_BPF_H
#define __SKB_MAP_BPF_H

/* key: the skb's address; value: the class XDP gave the packet */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u32);
} by_skb SEC(".maps");

#endif
