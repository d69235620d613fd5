// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark, what people do today: TC ingress copies the class XDP left in
 * the metadata (xdp_meta_value.bpf.c) into skb->mark, for nft to match.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int tc_meta_mark(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *meta = (void *)(long)skb->data_meta;

	if (meta + sizeof(__u32) <= data)
		skb->mark = *(__u32 *)meta;
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
