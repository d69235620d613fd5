/* SPDX-License-Identifier: GPL-2.0 */
/* Trait keys by name (rt_traits) and the numbers of our tools' words. */
#ifndef TRAITS_NAMES_H
#define TRAITS_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/traits.h>

#define TRAIT_KEY_MAX	TRAITS_KEY_MAX

/* "<tool_name>: ..." on stderr; error() returns -1 for `return error()`. */
extern const char *tool_name;
int error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* 0, -EINVAL (not a number) or -ERANGE (above max); no sign, no blank */
int parse_num(const char *s, __u64 max, __u64 *v);

struct names {
	bool loaded;
	bool numeric;		/* -N: print numbers, still read names */
	char *name[TRAIT_KEY_MAX + 1];
};

int names_key(struct names *nm, const char *s, __u64 *key);
const char *names_of(struct names *nm, int key, char *buf, size_t size);
void names_free(struct names *nm);

#endif
