/* SPDX-License-Identifier: GPL-2.0 */
/* xdp-trait: what its source files share. */
#ifndef XDP_TRAIT_TOOL_H
#define XDP_TRAIT_TOOL_H

#include <stdbool.h>
#include <stdio.h>
#include "names.h"		/* error(), warn(), names of keys */
#include "xdp_trait.h"

#define DEFAULT_DIR	"/sys/fs/bpf/xdp-trait"

/* rule.c: the words of `rule add` to a rule and back */
int rule_parse(struct names *nm, int argc, char **argv, struct xt_rule *r,
	       int *id);
void rule_print(FILE *f, struct names *nm, int id, const struct xt_rule *r);
void rule_print_json(FILE *f, int id, const struct xt_rule *r);

/* state.c: the maps pinned in a directory of a bpf file system */
enum { MAP_RULES, MAP_SRC4, MAP_DST4, MAP_SRC6, MAP_DST6, MAP_HITS,
       MAP_COUNTERS, NR_MAPS };

struct state {
	const char *dir;
	int dir_fd;		/* locked with flock() while open */
	int fd[NR_MAPS];
	int ncpus;
	bool exists;		/* the maps are there (state_open) */
};

/* a rule table as the "rules" map holds it */
struct table {
	struct xt_rule rule[XT_MAX_RULES];
};

enum { STATE_READ, STATE_CREATE };

void state_init(struct state *st, const char *dir);
int state_open(struct state *st, int how);
void state_close(struct state *st);
int state_read_rules(struct state *st, struct table *t);
int state_commit(struct state *st, const struct table *old,
		 const struct table *new);
int state_sum(struct state *st, int map, __u32 idx, __u64 *sum);
int state_zero(struct state *st, int map, __u32 idx);

/* attach.c: the program, embedded as a skeleton */
enum xdp_mode { MODE_AUTO, MODE_NATIVE, MODE_SKB };

int maps_create(const char *dir);
int xdp_attach(struct state *st, const char *dev, enum xdp_mode mode);
int xdp_detach(struct state *st, const char *dev);

/* one device with this state's program, for `status` */
struct attached {
	char dev[16];
	const char *mode;	/* "native" or "skb" */
	__u32 prog_id;
	bool vlan_md;		/* bound: reads stripped VLAN tags */
};

int xdp_find(struct state *st, struct attached *a, int max);

#endif
