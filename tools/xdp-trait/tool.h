/* SPDX-License-Identifier: GPL-2.0 */
/* xdp-trait: what its source files share. */
#ifndef XDP_TRAIT_TOOL_H
#define XDP_TRAIT_TOOL_H

#include <stdbool.h>
#include <stdio.h>
#include "xdp_trait.h"

#define DEFAULT_DIR	"/sys/fs/bpf/xdp-trait"

/* Prints "xdp-trait: ..." on stderr; returns -1 for `return error(...)`. */
int error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* rule.c: the words of `rule add` to a rule and back */
int rule_parse(int argc, char **argv, struct xt_rule *r, int *id);
void rule_print(FILE *f, int id, const struct xt_rule *r);
void rule_print_json(FILE *f, int id, const struct xt_rule *r);

/* state.c: the maps pinned in a directory of a bpf file system */
enum { MAP_RULES, MAP_SRC4, MAP_DST4, MAP_SRC6, MAP_DST6, MAP_HITS,
       MAP_COUNTERS, NR_MAPS };

struct state {
	const char *dir;
	int dir_fd;		/* locked with flock() while open */
	int fd[NR_MAPS];
	int ncpus;
};

void state_init(struct state *st);
int state_open(struct state *st, const char *dir);
void state_close(struct state *st);
int state_read_rules(struct state *st, struct xt_rule rules[XT_MAX_RULES]);
int state_put_rule(struct state *st, struct xt_rule rules[XT_MAX_RULES],
		   int id, const struct xt_rule *r);
int state_sum(struct state *st, int map, __u32 idx, __u64 *sum);

/* attach.c: the program, embedded as a skeleton */
int maps_create(const char *dir);
int xdp_attach(struct state *st, const char *dev, bool generic);
int xdp_detach(struct state *st, const char *dev);

#endif
