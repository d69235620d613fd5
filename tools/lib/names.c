// SPDX-License-Identifier: GPL-2.0
/*
 * Names of trait keys, shared by our tools, read from the file ip reads
 * them from:
 * /etc/iproute2/rt_traits, or /usr/share/iproute2/rt_traits when that
 * does not exist; "KEY NAME" a line, # comments. Read on first use, so
 * that a command that names no key never opens it.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "names.h"

#define NAMES_ETC	"/etc/iproute2/rt_traits"
#define NAMES_USR	"/usr/share/iproute2/rt_traits"

static void vmsg(const char *what, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: %s", tool_name, what);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
	return -1;
}

void warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

/* 0, -EINVAL (not a number) or -ERANGE (above max); no sign, no blank */
int parse_num(const char *s, __u64 max, __u64 *v)
{
	unsigned long long n;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	/* decimal, 0x hex or 0 octal: as nft and ip read numbers */
	n = strtoull(s, &end, 0);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || n > max)
		return -ERANGE;
	*v = n;
	return 0;
}

static void names_line(struct names *nm, const char *file, int n, char *line)
{
	char *p = line + strspn(line, " \t"), *name, *end;
	__u64 key;
	int err;

	if (!*p || *p == '#' || *p == '\n')
		return;
	end = p + strcspn(p, " \t\n");
	name = end + strspn(end, " \t");
	if (!*end || !*name || *name == '#' || *name == '\n')
		goto bad;
	*end = '\0';
	name[strcspn(name, " \t\n#")] = '\0';
	err = parse_num(p, TRAIT_KEY_MAX, &key);
	/* a name that starts with a digit would read as a number */
	if (err || isdigit((unsigned char)*name))
		goto bad;
	free(nm->name[key]);
	nm->name[key] = strdup(name);
	return;
bad:
	warn("%s:%d: not \"KEY NAME\" with a key 0-%d and a name that "
	     "starts with no digit, ignored", file, n, TRAIT_KEY_MAX);
}

static void names_load(struct names *nm)
{
	const char *file = NAMES_ETC;
	char *line = NULL;
	size_t size = 0;
	int n = 0;
	FILE *f;

	nm->loaded = true;
	if (access(file, F_OK))
		file = NAMES_USR;
	f = fopen(file, "r");
	if (!f)
		return;
	while (getline(&line, &size, f) > 0)
		names_line(nm, file, ++n, line);
	free(line);
	fclose(f);
}

/* A key: a number 0-63, or a name when it does not start with a digit. */
int names_key(struct names *nm, const char *s, __u64 *key)
{
	int i;

	if (isdigit((unsigned char)*s)) {
		switch (parse_num(s, TRAIT_KEY_MAX, key)) {
		case 0:
			return 0;
		case -ERANGE:
			return error("trait key %s is out of range (0-%d)", s,
				     TRAIT_KEY_MAX);
		default:
			return error("trait key \"%s\" is not a number", s);
		}
	}
	if (!nm->loaded)
		names_load(nm);
	for (i = 0; i <= TRAIT_KEY_MAX; i++) {
		if (nm->name[i] && !strcmp(nm->name[i], s)) {
			*key = i;
			return 0;
		}
	}
	return error("trait key \"%s\" is neither 0-%d nor a name in %s",
		     s, TRAIT_KEY_MAX,
		     access(NAMES_ETC, F_OK) ? NAMES_USR : NAMES_ETC);
}

/* The name of key for listings, or its number (without one, or with -N). */
const char *names_of(struct names *nm, int key, char *buf, size_t size)
{
	if (!nm->numeric && !nm->loaded)
		names_load(nm);
	if (!nm->numeric && key >= 0 && key <= TRAIT_KEY_MAX && nm->name[key])
		return nm->name[key];
	snprintf(buf, size, "%d", key);
	return buf;
}

void names_free(struct names *nm)
{
	int i;

	for (i = 0; i <= TRAIT_KEY_MAX; i++) {
		free(nm->name[i]);
		nm->name[i] = NULL;
	}
	nm->loaded = false;
}
