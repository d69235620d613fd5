// SPDX-License-Identifier: GPL-2.0
/*
 * The classifier's state: maps pinned in one directory of a bpf file
 * system, shared by every invocation and every attached program. Rule
 * changes keep a packet from seeing a half-made rule: a new rule is
 * written before its bit enters the tries, a deleted one leaves the tries
 * before its slot is cleared.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tool.h"

static const char *const map_names[NR_MAPS] = {
	[MAP_RULES] = "rules", [MAP_SRC4] = "src4", [MAP_DST4] = "dst4",
	[MAP_SRC6] = "src6", [MAP_DST6] = "dst6", [MAP_HITS] = "hits",
	[MAP_COUNTERS] = "counters",
};

static void close_maps(struct state *st)
{
	int i;

	for (i = 0; i < NR_MAPS; i++) {
		if (st->fd[i] >= 0)
			close(st->fd[i]);
		st->fd[i] = -1;
	}
}

static int open_maps(struct state *st)
{
	char path[PATH_MAX];
	int i;

	for (i = 0; i < NR_MAPS; i++) {
		snprintf(path, sizeof(path), "%s/%s", st->dir, map_names[i]);
		st->fd[i] = bpf_obj_get(path);
		if (st->fd[i] < 0) {
			close_maps(st);
			return -errno;
		}
	}
	return 0;
}

void state_init(struct state *st, const char *dir)
{
	int i;

	memset(st, 0, sizeof(*st));
	st->dir = dir;
	st->dir_fd = -1;
	for (i = 0; i < NR_MAPS; i++)
		st->fd[i] = -1;
}

static int state_lock(struct state *st)
{
	struct statfs fs;

	if (statfs(st->dir, &fs) || fs.f_type != BPF_FS_MAGIC)
		return error("%s is not on a bpf file system", st->dir);
	st->dir_fd = open(st->dir, O_RDONLY | O_DIRECTORY);
	if (st->dir_fd < 0)
		return error("cannot open %s: %s", st->dir, strerror(errno));
	/* one invocation at a time creates the maps or changes rules */
	if (flock(st->dir_fd, LOCK_EX))
		return error("cannot lock %s: %s", st->dir, strerror(errno));
	st->ncpus = libbpf_num_possible_cpus();
	if (st->ncpus < 0)
		return error("cannot count CPUs: %s", strerror(-st->ncpus));
	return 0;
}

/*
 * Opens the maps in the state directory. STATE_CREATE creates the
 * directory and the maps on first use; otherwise a missing directory or
 * missing maps leave st->exists false (no rules, nothing counted) and
 * nothing is created, so that reading leaves no trace.
 */
int state_open(struct state *st, int how)
{
	int err;

	if (st->exists)
		return 0;
	if (how == STATE_CREATE && mkdir(st->dir, 0700) && errno != EEXIST)
		return error("cannot create %s: %s", st->dir, strerror(errno));
	if (how != STATE_CREATE && access(st->dir, F_OK) && errno == ENOENT)
		return 0;
	if (st->dir_fd < 0 && state_lock(st))
		return -1;
	err = open_maps(st);
	if (err == -ENOENT && how != STATE_CREATE)
		return 0;
	if (err == -ENOENT) {
		if (maps_create(st->dir))
			return -1;
		err = open_maps(st);
	}
	if (err)
		return error("cannot open the maps in %s: %s", st->dir,
			     strerror(-err));
	st->exists = true;
	return 0;
}

void state_close(struct state *st)
{
	close_maps(st);
	if (st->dir_fd >= 0)
		close(st->dir_fd);
	st->dir_fd = -1;
	st->exists = false;
}

int state_read_rules(struct state *st, struct table *t)
{
	__u32 id;

	memset(t, 0, sizeof(*t));
	if (!st->exists)
		return 0;
	for (id = 0; id < XT_MAX_RULES; id++)
		if (bpf_map_lookup_elem(st->fd[MAP_RULES], &id, &t->rule[id]))
			return error("cannot read rule %u: %s", id, strerror(errno));
	return 0;
}

/* Sum of a per-CPU counter. */
int state_sum(struct state *st, int map, __u32 idx, __u64 *sum)
{
	__u64 *vals;
	int i, err = 0;

	*sum = 0;
	if (!st->exists)
		return 0;
	vals = calloc(st->ncpus, sizeof(*vals));
	if (!vals)
		return error("out of memory");
	if (bpf_map_lookup_elem(st->fd[map], &idx, vals))
		err = error("cannot read counter %u: %s", idx, strerror(errno));
	for (i = 0; !err && i < st->ncpus; i++)
		*sum += vals[i];
	free(vals);
	return err;
}

/* Zeroes a per-CPU counter ("hits" or "counters"). */
int state_zero(struct state *st, int map, __u32 idx)
{
	__u64 *zeros;
	int err = 0;

	if (!st->exists)
		return 0;
	zeros = calloc(st->ncpus, sizeof(*zeros));
	if (!zeros)
		return error("out of memory");
	if (bpf_map_update_elem(st->fd[map], &idx, zeros, BPF_ANY))
		err = error("cannot zero %s %u: %s", map_names[map], idx,
			    strerror(errno));
	free(zeros);
	return err;
}

struct prefix {
	__u32 len;
	__u8 addr[16];
};

static bool prefix_contains(const struct prefix *outer, const struct prefix *p)
{
	__u32 bytes = outer->len / 8, bits = outer->len % 8;

	if (outer->len > p->len || memcmp(outer->addr, p->addr, bytes))
		return false;
	return !bits || !((outer->addr[bytes] ^ p->addr[bytes]) &
			  (0xff << (8 - bits)));
}

/* The prefix a rule has in a source or destination trie, if any. */
static bool rule_prefix(const struct xt_rule *r, bool dst, int family,
			struct prefix *p, bool *any)
{
	memset(p, 0, sizeof(*p));
	*any = !(r->match & (dst ? XT_M_DST : XT_M_SRC));
	if (!r->used || (!*any && r->family != family))
		return false;
	if (!*any) {
		p->len = dst ? r->dst_len : r->src_len;
		memcpy(p->addr, dst ? r->dst : r->src, 16);
	}
	return true;
}

static __u64 rules_containing(const struct xt_rule rules[XT_MAX_RULES],
			      bool dst, int family, const struct prefix *p)
{
	struct prefix q;
	__u64 set = 0;
	bool any;
	int id;

	for (id = 0; id < XT_MAX_RULES; id++)
		if (rule_prefix(&rules[id], dst, family, &q, &any) &&
		    (any || prefix_contains(&q, p)))
			set |= 1ULL << id;
	return set;
}

/*
 * Rewrites one trie from the rule table: an entry for /0 and for every
 * rule's prefix, each with the set of rules whose prefix contains it;
 * entries no rule needs any more are removed.
 */
static int sync_trie(struct state *st, int map, bool dst, int family,
		     const struct xt_rule rules[XT_MAX_RULES])
{
	struct prefix want[XT_MAX_RULES + 1] = {}, stale[XT_MAX_RULES + 1];
	struct prefix key, next, *prev = NULL;
	int n_want = 1, n_stale = 0, fd = st->fd[map], i, id;
	size_t key_size = sizeof(__u32) + (family == 4 ? 4 : 16);
	bool any;
	__u64 set;

	for (id = 0; id < XT_MAX_RULES; id++)
		if (rule_prefix(&rules[id], dst, family, &want[n_want], &any) &&
		    !any)
			n_want++;
	for (i = 0; i < n_want; i++) {
		set = rules_containing(rules, dst, family, &want[i]);
		if (bpf_map_update_elem(fd, &want[i], &set, BPF_ANY))
			return error("cannot update %s: %s", map_names[map],
				     strerror(errno));
	}

	while (n_stale <= XT_MAX_RULES &&
	       !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		i = 0;
		while (i < n_want && memcmp(&want[i], &key, key_size))
			i++;
		if (i == n_want)
			stale[n_stale++] = key;
	}
	for (i = 0; i < n_stale; i++)
		if (bpf_map_delete_elem(fd, &stale[i]) && errno != ENOENT)
			return error("cannot clean up %s: %s", map_names[map],
				     strerror(errno));
	return 0;
}

static int sync_tries(struct state *st, const struct xt_rule rules[XT_MAX_RULES])
{
	if (sync_trie(st, MAP_SRC4, false, 4, rules) ||
	    sync_trie(st, MAP_DST4, true, 4, rules) ||
	    sync_trie(st, MAP_SRC6, false, 6, rules) ||
	    sync_trie(st, MAP_DST6, true, 6, rules))
		return -1;
	return 0;
}

static bool same_rule(const struct xt_rule *a, const struct xt_rule *b)
{
	return !memcmp(a, b, sizeof(*a));
}

static int write_rule(struct state *st, __u32 id, const struct xt_rule *r)
{
	if (bpf_map_update_elem(st->fd[MAP_RULES], &id, r, BPF_ANY))
		return error("cannot write rule %u: %s", id, strerror(errno));
	return 0;
}

/*
 * Turns rule table old (what the maps hold) into new, so that no packet
 * sees a half-made rule: rules that change or go leave the tries first,
 * rules that come or change are written before their bits enter the
 * tries, and slots of rules that went are cleared last. A new or changed
 * rule counts its hits from zero.
 */
int state_commit(struct state *st, const struct table *old,
		 const struct table *new)
{
	struct table mid = *old;
	__u32 id;

	for (id = 0; id < XT_MAX_RULES; id++)
		if (!same_rule(&old->rule[id], &new->rule[id]))
			memset(&mid.rule[id], 0, sizeof(mid.rule[id]));
	if (memcmp(&mid, old, sizeof(mid)) && sync_tries(st, mid.rule))
		return -1;
	for (id = 0; id < XT_MAX_RULES; id++) {
		if (same_rule(&old->rule[id], &new->rule[id]) ||
		    !new->rule[id].used)
			continue;
		if (state_zero(st, MAP_HITS, id) ||
		    write_rule(st, id, &new->rule[id]))
			return -1;
	}
	if (sync_tries(st, new->rule))
		return -1;
	for (id = 0; id < XT_MAX_RULES; id++)
		if (old->rule[id].used && !new->rule[id].used &&
		    write_rule(st, id, &new->rule[id]))
			return -1;
	return 0;
}
