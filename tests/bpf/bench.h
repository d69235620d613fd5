/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the benchmark programs (tests/bench): what they set, and the
 * "bench_conf" array the benchmark fills: the XDP verdict and the number
 * of traits per packet.
 */
#ifndef __BENCH_BPF_H
#define __BENCH_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define BENCH_KEY		7	/* first key; the consumers match it */
#define BENCH_VALUE		5	/* its value; key 7 + i holds 5 + i */
#define BENCH_MAX_TRAITS	16	/* 16 four-byte values fill the 64-byte capacity */

enum { BENCH_VERDICT, BENCH_NTRAITS, BENCH_CONF_MAX };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BENCH_CONF_MAX);
	__type(key, __u32);
	__type(value, __u32);
} bench_conf SEC(".maps");

/* Zero-filled until the benchmark writes it: XDP_PASS (2) is the default. */
static __always_inline __u32 bench_conf_get(__u32 idx, __u32 unset)
{
	__u32 *v = bpf_map_lookup_elem(&bench_conf, &idx);

	return v && *v ? *v : unset;
}

#define bench_verdict()		bench_conf_get(BENCH_VERDICT, XDP_PASS)

/*
 * fn(ctx, n) for the configured number of traits, n a constant in 1, 2,
 * 4, 8 or 16 so that fn's loops unroll: the kfunc and the by-hand
 * programs are shaped alike.
 */
#define bench_with_ntraits(fn, ctx)					\
	do {								\
		switch (bench_conf_get(BENCH_NTRAITS, 0)) {		\
		case 1: fn(ctx, 1); break;				\
		case 2: fn(ctx, 2); break;				\
		case 4: fn(ctx, 4); break;				\
		case 8: fn(ctx, 8); break;				\
		case 16: fn(ctx, 16); break;				\
		}							\
	} while (0)

#endif
