// SPDX-License-Identifier: GPL-2.0
/*
 * xdp-trait: an XDP classifier that sets packet traits by rules, so that
 * nft `meta trait` and `ip rule ... trait` can act on classes without
 * anyone writing BPF. Commands parse and check everything before they
 * change anything.
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "tool.h"

/*
 * libbpf's print callback has no argument of ours: -v is the one
 * setting kept outside struct xt.
 */
static bool verbose;

/* What a command works with: options, key names and the state. */
struct xt {
	bool json;
	struct names names;
	struct state st;
};

/* One change to the rule table, parsed before any is applied. */
struct edit {
	enum { EDIT_ADD, EDIT_DEL, EDIT_FLUSH } op;
	int id;			/* -1: the next above the highest */
	struct xt_rule rule;
};

static const char usage_text[] =
"Usage: xdp-trait [OPTIONS] COMMAND\n"
"       xdp-trait [OPTIONS] -b FILE\n"
"Set packet traits in XDP by rules on prefixes, protocol, ports and VLAN.\n"
"\n"
"Commands:\n"
"  attach [-m MODE] DEV   load the classifier onto DEV (without -m: native,\n"
"                         else skb mode with a warning)\n"
"  detach DEV             remove it from DEV\n"
"  status [-j]            where this state's program runs, its mode, rules\n"
"  rule add [id ID] [src PREFIX] [dst PREFIX] [proto PROTO]\n"
"           [sport PORTS] [dport PORTS] [vlan VID]\n"
"           trait KEY VALUE [trait KEY VALUE]...\n"
"                         add a rule that sets up to 4 traits\n"
"  rule del ID            delete a rule\n"
"  rule flush             delete all rules\n"
"  rule list [-j]         list the rules as `rule add` takes them\n"
"  stats [--reset] [-j]   packets seen and matched, hits per rule;\n"
"                         --reset zeroes them after printing\n"
"\n"
"  MODE    native | skb (also the old `attach DEV native|generic`)\n"
"  ID      0-63; without it, one above the highest in use. Every matching\n"
"          rule sets its traits, in id order: for one key the highest id wins\n"
"  PREFIX  IPv4 or IPv6 ADDRESS[/LEN]; src and dst of one family\n"
"  PROTO   tcp | udp | icmp | icmpv6 | sctp | udplite | 0-255\n"
"  PORTS   PORT or LOW-HIGH, with proto tcp, udp, sctp or udplite\n"
"  VID     0-4095: the outer 802.1Q/802.1ad tag, or the tag the driver\n"
"          stripped (native mode on drivers with VLAN rx metadata)\n"
"  KEY     0-63 or a name from /etc/iproute2/rt_traits\n"
"  VALUE   [value] NUMBER | flag; NUMBER is 64 bits, decimal or 0x hex,\n"
"          stored in 4 bytes when it fits, else 8\n"
"          (`long NUMBER` is deprecated: read as `value NUMBER`)\n"
"\n"
"Options:\n"
"  -b, --batch FILE  run rule add, del and flush lines of FILE (- for\n"
"                    stdin) as one change: all of them or, on an error,\n"
"                    none\n"
"  -d, --dir DIR     state directory on a bpf file system\n"
"                    (default: $XDP_TRAIT_DIR, else " DEFAULT_DIR ")\n"
"  -j, --json        JSON output of rule list, stats and status\n"
"  -N, --numeric     print trait keys as numbers, not names\n"
"  -v, --verbose     show libbpf's messages and the verifier's log\n"
"  -h, --help        show this text\n";

const char *tool_name = "xdp-trait";

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	/* the kernel's reason for a refused attach is worth showing */
	if (level == LIBBPF_DEBUG ||
	    (!verbose && !strstr(fmt, "Kernel error message")))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* argc words after the command word argv[0]: between min and max */
static int want_args(int argc, char **argv, int min, int max)
{
	if (argc - 1 < min)
		return error("%s: missing argument (see --help)", argv[0]);
	if (argc - 1 > max)
		return error("%s: unexpected argument \"%s\" (see --help)",
			     argv[0], argv[max + 1]);
	return 0;
}

/* Takes option word opt out of argv wherever it is; true if it was there. */
static bool take_flag(int *argc, char **argv, const char *opt,
		      const char *longopt)
{
	bool found = false;
	int i, j;

	for (i = j = 1; i < *argc; i++) {
		if (!strcmp(argv[i], opt) || !strcmp(argv[i], longopt))
			found = true;
		else
			argv[j++] = argv[i];
	}
	*argc = j;
	return found;
}

static int parse_id(const char *s)
{
	__u64 id;

	if (parse_num(s, XT_MAX_RULES - 1, &id))
		return error("rule id \"%s\" is not 0-%d", s, XT_MAX_RULES - 1);
	return id;
}

/* The words after "rule" to an edit; nothing is applied yet. */
static int edit_parse(struct xt *xt, int argc, char **argv, struct edit *e)
{
	memset(e, 0, sizeof(*e));
	if (argc < 1)
		return error("rule: add, del, flush or list? (see --help)");
	if (!strcmp(argv[0], "add")) {
		e->op = EDIT_ADD;
		return rule_parse(&xt->names, argc - 1, argv + 1, &e->rule,
				  &e->id);
	}
	if (!strcmp(argv[0], "del")) {
		e->op = EDIT_DEL;
		if (want_args(argc, argv, 1, 1))
			return -1;
		e->id = parse_id(argv[1]);
		return e->id < 0 ? -1 : 0;
	}
	if (!strcmp(argv[0], "flush")) {
		e->op = EDIT_FLUSH;
		return want_args(argc, argv, 0, 0);
	}
	return error("unknown rule command \"%s\" (see --help)", argv[0]);
}

/*
 * The BPF program applies matching rules in id order and the last one
 * wins for a key, so a rule added without an id goes above the highest
 * in use: never below an older rule that would override it.
 */
static int next_id(const struct table *t)
{
	int id, top = -1;

	for (id = 0; id < XT_MAX_RULES; id++)
		if (t->rule[id].used)
			top = id;
	if (top == XT_MAX_RULES - 1) {
		for (id = 0; id < XT_MAX_RULES && t->rule[id].used; id++)
			;
		if (id == XT_MAX_RULES)
			return error("rule table full (%d rules)",
				     XT_MAX_RULES);
		return error("rule %d is in use, so no id above the highest is "
			     "free; give one with \"id ID\" (a lower id applies "
			     "earlier, and later rules override it)", top);
	}
	return top + 1;
}

static int edit_apply(struct table *t, const struct edit *e)
{
	int id = e->id;

	switch (e->op) {
	case EDIT_ADD:
		if (id >= 0 && t->rule[id].used)
			return error("rule %d exists", id);
		if (id < 0)
			id = next_id(t);
		if (id < 0)
			return -1;
		t->rule[id] = e->rule;
		t->rule[id].used = 1;
		return 0;
	case EDIT_DEL:
		if (!t->rule[id].used)
			return error("no rule %d", id);
		memset(&t->rule[id], 0, sizeof(t->rule[id]));
		return 0;
	case EDIT_FLUSH:
		memset(t, 0, sizeof(*t));
		return 0;
	}
	return error("bad edit");
}

static int edits_apply(struct state *st, struct table *old, struct table *new,
		       const struct edit *e, int n, int *failed)
{
	int i;

	if (state_read_rules(st, old))
		return -1;
	*new = *old;
	for (i = 0; i < n; i++) {
		if (edit_apply(new, &e[i])) {
			*failed = i;
			return -1;
		}
	}
	return 0;
}

/*
 * Applies edits as one change: first to a copy of the table, and only
 * if every one of them applies are the maps written. The maps are
 * created only when there is something to write.
 */
static int edits_commit(struct xt *xt, const struct edit *e, int n,
			int *failed)
{
	struct table old, new;

	*failed = -1;
	if (state_open(&xt->st, STATE_READ) ||
	    edits_apply(&xt->st, &old, &new, e, n, failed))
		return -1;
	if (!memcmp(&old, &new, sizeof(old)))
		return 0;
	if (!xt->st.exists &&
	    (state_open(&xt->st, STATE_CREATE) ||
	     edits_apply(&xt->st, &old, &new, e, n, failed)))
		return -1;
	return state_commit(&xt->st, &old, &new);
}

static int cmd_rule_list(struct xt *xt)
{
	struct table t;
	bool first = true;
	int id;

	if (state_open(&xt->st, STATE_READ) || state_read_rules(&xt->st, &t))
		return -1;
	if (xt->json)
		putchar('[');
	for (id = 0; id < XT_MAX_RULES; id++) {
		if (!t.rule[id].used)
			continue;
		if (xt->json) {
			fputs(first ? "" : ",", stdout);
			rule_print_json(stdout, id, &t.rule[id]);
		} else {
			rule_print(stdout, &xt->names, id, &t.rule[id]);
		}
		first = false;
	}
	if (xt->json)
		puts("]");
	return 0;
}

static int cmd_rule(struct xt *xt, int argc, char **argv)
{
	int failed, n = argc - 1;
	struct edit e;

	if (n > 0 && !strcmp(argv[1], "list")) {
		xt->json |= take_flag(&n, argv + 1, "-j", "--json");
		return want_args(n, argv + 1, 0, 0) ?: cmd_rule_list(xt);
	}
	if (edit_parse(xt, argc - 1, argv + 1, &e))
		return -1;
	return edits_commit(xt, &e, 1, &failed);
}

static int print_counters(struct xt *xt, const struct table *t)
{
	static const char *const names[XT_NR_COUNTERS] = {
		[XT_PACKETS] = "packets", [XT_MATCHED] = "matched",
		[XT_SET_ERRORS] = "set_errors",
	};
	__u64 c;
	int i;

	for (i = 0; i < XT_NR_COUNTERS; i++) {
		if (state_sum(&xt->st, MAP_COUNTERS, i, &c))
			return -1;
		if (xt->json)
			printf("%s\"%s\":%llu", i ? "," : "{", names[i],
			       (unsigned long long)c);
		else
			printf("%s%s %llu", i ? " " : "",
			       i == XT_SET_ERRORS ? "set-errors" : names[i],
			       (unsigned long long)c);
	}
	fputs(xt->json ? ",\"rules\":[" : "\n", stdout);
	return 0;
}

static int print_hits(struct xt *xt, const struct table *t)
{
	bool first = true;
	__u64 hits;
	int i;

	for (i = 0; i < XT_MAX_RULES; i++) {
		if (!t->rule[i].used)
			continue;
		if (state_sum(&xt->st, MAP_HITS, i, &hits))
			return -1;
		if (xt->json)
			printf("%s{\"id\":%d,\"hits\":%llu}", first ? "" : ",",
			       i, (unsigned long long)hits);
		else
			printf("id %d hits %llu\n", i, (unsigned long long)hits);
		first = false;
	}
	if (xt->json)
		puts("]}");
	return 0;
}

/* Packets counted between reading and zeroing are lost to both. */
static int reset_counters(struct state *st)
{
	int i;

	for (i = 0; i < XT_NR_COUNTERS; i++)
		if (state_zero(st, MAP_COUNTERS, i))
			return -1;
	for (i = 0; i < XT_MAX_RULES; i++)
		if (state_zero(st, MAP_HITS, i))
			return -1;
	return 0;
}

static int cmd_stats(struct xt *xt, int argc, char **argv)
{
	bool reset = take_flag(&argc, argv, "--reset", "--reset");
	struct table t;

	xt->json |= take_flag(&argc, argv, "-j", "--json");
	if (want_args(argc, argv, 0, 0) || state_open(&xt->st, STATE_READ) ||
	    state_read_rules(&xt->st, &t) || print_counters(xt, &t) ||
	    print_hits(xt, &t))
		return -1;
	fflush(stdout);
	return reset ? reset_counters(&xt->st) : 0;
}

static int cmd_status(struct xt *xt, int argc, char **argv)
{
	struct attached a[64];
	struct table t;
	int n, i, rules = 0;

	xt->json |= take_flag(&argc, argv, "-j", "--json");
	if (want_args(argc, argv, 0, 0) || state_open(&xt->st, STATE_READ) ||
	    state_read_rules(&xt->st, &t))
		return -1;
	n = xdp_find(&xt->st, a, 64);
	if (n < 0)
		return -1;
	for (i = 0; i < XT_MAX_RULES; i++)
		rules += t.rule[i].used;
	if (xt->json)
		printf("{\"dir\":\"%s\",\"rules\":%d,\"attached\":[",
		       xt->st.dir, rules);
	else
		printf("dir %s rules %d%s\n", xt->st.dir, rules,
		       xt->st.exists ? "" : " (no state yet)");
	for (i = 0; i < n; i++) {
		if (xt->json)
			printf("%s{\"dev\":\"%s\",\"mode\":\"%s\",\"prog_id\":%u,"
			       "\"vlan_metadata\":%s}", i ? "," : "", a[i].dev,
			       a[i].mode, a[i].prog_id,
			       a[i].vlan_md ? "true" : "false");
		else
			printf("dev %s mode %s prog %u vlan-metadata %s\n",
			       a[i].dev, a[i].mode, a[i].prog_id,
			       a[i].vlan_md ? "yes" : "no");
	}
	if (xt->json)
		puts("]}");
	return 0;
}

static int parse_mode(const char *s, enum xdp_mode *mode, bool old_form)
{
	if (*mode != MODE_AUTO)
		return error("attach: mode given twice");
	if (!strcmp(s, "native"))
		*mode = MODE_NATIVE;
	else if (!strcmp(s, "skb") || (old_form && !strcmp(s, "generic")))
		*mode = MODE_SKB;
	else
		return error("attach: mode \"%s\" is not native or skb", s);
	return 0;
}

/* attach [-m MODE] DEV, or the old attach DEV [native|generic] */
static int cmd_attach(struct xt *xt, int argc, char **argv)
{
	enum xdp_mode mode = MODE_AUTO;
	const char *dev = NULL;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--mode")) {
			if (++i == argc)
				return error("attach: %s needs a mode",
					     argv[i - 1]);
			if (parse_mode(argv[i], &mode, false))
				return -1;
		} else if (!dev) {
			dev = argv[i];
		} else if (i == argc - 1 && argv[i][0] != '-') {
			if (parse_mode(argv[i], &mode, true))
				return -1;
		} else {
			return error("attach: unexpected argument \"%s\" "
				     "(see --help)", argv[i]);
		}
	}
	if (!dev)
		return error("attach: missing argument (see --help)");
	if (!if_nametoindex(dev))
		return error("unknown interface \"%s\"", dev);
	return state_open(&xt->st, STATE_CREATE) ?:
	       xdp_attach(&xt->st, dev, mode);
}

static int cmd_detach(struct xt *xt, int argc, char **argv)
{
	if (want_args(argc, argv, 1, 1))
		return -1;
	if (!if_nametoindex(argv[1]))
		return error("unknown interface \"%s\"", argv[1]);
	return state_open(&xt->st, STATE_READ) ?: xdp_detach(&xt->st, argv[1]);
}

static int run(struct xt *xt, int argc, char **argv)
{
	const char *cmd = argv[0];

	if (!strcmp(cmd, "attach"))
		return cmd_attach(xt, argc, argv);
	if (!strcmp(cmd, "detach"))
		return cmd_detach(xt, argc, argv);
	if (!strcmp(cmd, "status"))
		return cmd_status(xt, argc, argv);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(xt, argc, argv);
	if (!strcmp(cmd, "rule"))
		return cmd_rule(xt, argc, argv);
	return error("unknown command \"%s\" (see --help)", cmd);
}

/* Splits line into words at blanks; a word starting with # ends it. */
static int split_words(char *line, char **words, int max)
{
	char *save, *w;
	int n = 0;

	for (w = strtok_r(line, " \t\r\n", &save); w && *w != '#';
	     w = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == max)
			return -1;
		words[n++] = w;
	}
	return n;
}

#define BATCH_WORDS	64

/* One line of a batch: a rule add, del or flush command. */
static int batch_line(struct xt *xt, char *line, struct edit *e)
{
	char *words[BATCH_WORDS];
	int n = split_words(line, words, BATCH_WORDS);

	if (n < 0)
		return error("more than %d words", BATCH_WORDS);
	if (!n)
		return 1;
	if (strcmp(words[0], "rule") || n < 2 || !strcmp(words[1], "list"))
		return error("\"%s\" cannot be batched: only rule add, rule "
			     "del and rule flush can", words[0]);
	return edit_parse(xt, n - 1, words + 1, e);
}

static int batch_read(struct xt *xt, FILE *f, const char *name,
		      struct edit **edits, int **lines, int *n)
{
	size_t size = 0, cap = 0;
	char *line = NULL;
	int no = 0, err = 0;

	while (!err && getline(&line, &size, f) >= 0) {
		no++;
		if ((size_t)*n == cap) {
			cap = cap ? 2 * cap : 64;
			*edits = realloc(*edits, cap * sizeof(**edits));
			*lines = realloc(*lines, cap * sizeof(**lines));
			if (!*edits || !*lines)
				err = error("out of memory");
			if (err)
				break;
		}
		err = batch_line(xt, line, &(*edits)[*n]);
		if (err < 0)
			error("%s:%d: nothing changed", name, no);
		else if (!err)
			(*lines)[(*n)++] = no;
		err = err < 0;
	}
	if (!err && ferror(f))
		err = error("cannot read %s: %s", name, strerror(errno));
	free(line);
	return err ? -1 : 0;
}

/* -b FILE: every line parsed, then applied as one change or not at all. */
static int batch(struct xt *xt, const char *name)
{
	FILE *f = strcmp(name, "-") ? fopen(name, "r") : stdin;
	struct edit *edits = NULL;
	int *lines = NULL, n = 0, failed, err;

	if (!f)
		return error("cannot open %s: %s", name, strerror(errno));
	err = batch_read(xt, f, name, &edits, &lines, &n);
	if (f != stdin)
		fclose(f);
	if (!err) {
		err = edits_commit(xt, edits, n, &failed);
		if (err && failed >= 0)
			error("%s:%d: nothing changed", name, lines[failed]);
	}
	free(edits);
	free(lines);
	return err;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "batch", required_argument, NULL, 'b' },
		{ "dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "numeric", no_argument, NULL, 'N' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *dir = NULL, *batch_file = NULL;
	struct xt xt = {};
	int opt, err;

	while ((opt = getopt_long(argc, argv, "+b:d:jNvh", options, NULL)) != -1) {
		switch (opt) {
		case 'b':
			batch_file = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'j':
			xt.json = true;
			break;
		case 'N':
			xt.names.numeric = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if ((optind == argc) == !batch_file) {
		if (batch_file)
			error("-b runs the commands of its file: give no other");
		fputs(usage_text, stderr);
		return 2;
	}
	if (!dir)
		dir = getenv("XDP_TRAIT_DIR");
	if (!dir || !*dir)
		dir = DEFAULT_DIR;
	libbpf_set_print(libbpf_print);
	state_init(&xt.st, dir);
	if (batch_file)
		err = batch(&xt, batch_file);
	else
		err = run(&xt, argc - optind, argv + optind);
	state_close(&xt.st);
	names_free(&xt.names);
	return err ? 1 : 0;
}
