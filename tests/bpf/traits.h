/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Packet traits for BPF programs: the kfuncs of the traits kernel and the
 * layout of the traits block they keep in the XDP metadata area (needed
 * only by programs that write a block by hand, such as our fuzzer).
 */
#ifndef __TRAITS_BPF_H
#define __TRAITS_BPF_H

#include <linux/types.h>
#include <linux/traits.h>	/* the kernel's uapi header: the block's layout */

#define TRAIT_KEY_MAX		TRAITS_KEY_MAX
#define TRAIT_F_REPLACE		(1ULL << 0)

struct xdp_md;
struct __sk_buff;

extern int bpf_xdp_trait_set(struct xdp_md *ctx, __u64 key,
			     const void *val__opt, __u64 val__sz,
			     __u64 flags) __ksym;
extern int bpf_xdp_trait_get(struct xdp_md *ctx, __u64 key, void *val,
			     __u64 val__sz) __ksym;
extern int bpf_xdp_trait_del(struct xdp_md *ctx, __u64 key) __ksym;

/*
 * Sets key to a flag (size 0), a 32-bit or a 64-bit value, replacing the
 * value it has. The kfunc reads the value from the stack: it takes
 * writable memory only.
 */
static __always_inline int xdp_trait_set_value(struct xdp_md *ctx, __u64 key,
					       __u64 value, __u32 size)
{
	__u64 val = value;
	__u32 val32 = value;

	if (size == 8)
		return bpf_xdp_trait_set(ctx, key, &val, 8, TRAIT_F_REPLACE);
	if (size == 4)
		return bpf_xdp_trait_set(ctx, key, &val32, 4, TRAIT_F_REPLACE);
	return bpf_xdp_trait_set(ctx, key, NULL, 0, TRAIT_F_REPLACE);
}

extern int bpf_skb_trait_get(struct __sk_buff *ctx, __u64 key, void *val,
			     __u64 val__sz) __ksym;
extern int bpf_skb_trait_set(struct __sk_buff *ctx, __u64 key,
			     const void *val__opt, __u64 val__sz,
			     __u64 flags) __ksym;
extern int bpf_skb_trait_del(struct __sk_buff *ctx, __u64 key) __ksym;

/*
 * The comparisons nft and ip rule make (doc/DESIGN.md, "One contract"): a
 * value is the 64-bit number it holds, whether stored in 4 or 8 bytes (the
 * get kfuncs zero what the value does not fill); a flag is present but
 * equals no value; an absent key is absent.
 */
static __always_inline int skb_trait_present(struct __sk_buff *ctx, __u64 key)
{
	__u64 val;

	return bpf_skb_trait_get(ctx, key, &val, sizeof(val)) >= 0;
}

/* 1 when key has a value and (value & mask) == want. */
static __always_inline int skb_trait_match(struct __sk_buff *ctx, __u64 key,
					   __u64 want, __u64 mask)
{
	__u64 val;

	return bpf_skb_trait_get(ctx, key, &val, sizeof(val)) > 0 &&
	       (val & mask) == want;
}

static __always_inline int xdp_trait_match(struct xdp_md *ctx, __u64 key,
					   __u64 want, __u64 mask)
{
	__u64 val;

	return bpf_xdp_trait_get(ctx, key, &val, sizeof(val)) > 0 &&
	       (val & mask) == want;
}

/* Set key to a number in the width the tools pick: 4 bytes when it fits. */
static __always_inline int xdp_trait_set_number(struct xdp_md *ctx, __u64 key,
						__u64 value)
{
	return xdp_trait_set_value(ctx, key, value, value > 0xffffffffULL ? 8 : 4);
}

/*
 * The block at the end of the metadata, adjacent to the packet data:
 * [struct traits_hdr][values, packed in key order][trailer].
 */
struct traits_trailer {
	__u32 magic;
	__u16 version;
	__u16 len;	/* of the whole block */
};

#define TRAITS_MAGIC	0x74726169
#define TRAITS_VERSION	1

#endif
