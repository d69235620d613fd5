// SPDX-License-Identifier: GPL-2.0
/*
 * Moves the headers of packets that still carry XDP metadata: at TC
 * ingress, pushes PUSH bytes in front of the MAC header (so that less
 * headroom is left than the metadata length claims) and redirects the
 * packet out of IFINDEX, whose peer receives it with that stale length.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct cfg {
	__u32 ifindex;
	__u32 push;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cfg);
} cfg SEC(".maps");

SEC("tc")
int tc_push_redirect(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct cfg *c = bpf_map_lookup_elem(&cfg, &zero);

	if (!c || !c->ifindex || skb->data_meta == skb->data)
		return TC_ACT_OK;
	if (bpf_skb_change_head(skb, c->push, 0))
		return TC_ACT_SHOT;
	return bpf_redirect(c->ifindex, 0);
}

char _license[] SEC("license") = "GPL";
