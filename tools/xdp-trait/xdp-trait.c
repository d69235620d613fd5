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

static bool verbose, json;
static const char *dir;
static struct state st;

static const char usage_text[] =
"Usage: xdp-trait [OPTIONS] COMMAND\n"
"Set packet traits in XDP by rules on prefixes, protocol, ports and VLAN.\n"
"\n"
"Commands:\n"
"  attach DEV [native|generic]  load the classifier onto DEV (default native)\n"
"  detach DEV                   remove it from DEV\n"
"  rule add [id ID] [src PREFIX] [dst PREFIX] [proto PROTO]\n"
"           [sport PORTS] [dport PORTS] [vlan VID]\n"
"           trait KEY VALUE [trait KEY VALUE]...\n"
"                               add a rule that sets up to 4 traits\n"
"  rule del ID                  delete a rule\n"
"  rule list [-j]               list the rules as `rule add` takes them\n"
"  stats [-j]                   packets seen and matched, hits per rule\n"
"\n"
"  ID      0-63, the lowest free one when not given. Every matching rule\n"
"          sets its traits, in id order: for one key the highest id wins\n"
"  PREFIX  IPv4 or IPv6 ADDRESS[/LEN]; src and dst of one family\n"
"  PROTO   tcp | udp | icmp | icmpv6 | sctp | udplite | 0-255\n"
"  PORTS   PORT or LOW-HIGH, with proto tcp, udp, sctp or udplite\n"
"  VID     0-4095: the outer 802.1Q/802.1ad tag, or the tag the driver\n"
"          stripped (native mode on drivers with VLAN rx metadata)\n"
"  KEY     0-63\n"
"  VALUE   NUMBER (32 bits) | long NUMBER (64 bits) | flag\n"
"\n"
"Options:\n"
"  -d, --dir DIR   state directory on a bpf file system\n"
"                  (default: $XDP_TRAIT_DIR, else " DEFAULT_DIR ")\n"
"  -j, --json      JSON output of rule list and stats\n"
"  -v, --verbose   show libbpf's messages and the verifier's log\n"
"  -h, --help      show this text\n";

int error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("xdp-trait: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return -1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	/* the kernel's reason for a refused attach is worth showing */
	if (level == LIBBPF_DEBUG ||
	    (!verbose && !strstr(fmt, "Kernel error message")))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int parse_id(const char *s)
{
	char *end;
	long id;

	errno = 0;
	id = strtol(s, &end, 10);
	if (!*s || *end || errno || id < 0 || id >= XT_MAX_RULES)
		return error("rule id \"%s\" is not 0-%d", s, XT_MAX_RULES - 1);
	return id;
}

static int rule_add(struct state *st, int argc, char **argv)
{
	struct xt_rule rules[XT_MAX_RULES], r;
	int id;

	if (rule_parse(argc, argv, &r, &id) || state_open(st, dir) ||
	    state_read_rules(st, rules))
		return -1;
	if (id >= 0 && rules[id].used)
		return error("rule %d exists", id);
	for (id = id < 0 ? 0 : id; id < XT_MAX_RULES && rules[id].used; id++)
		;
	if (id == XT_MAX_RULES)
		return error("rule table full (%d rules)", XT_MAX_RULES);
	return state_put_rule(st, rules, id, &r);
}

static int rule_del(struct state *st, const char *arg)
{
	struct xt_rule rules[XT_MAX_RULES];
	int id = parse_id(arg);

	if (id < 0 || state_open(st, dir) || state_read_rules(st, rules))
		return -1;
	if (!rules[id].used)
		return error("no rule %d", id);
	return state_put_rule(st, rules, id, NULL);
}

static int rule_list(struct state *st)
{
	struct xt_rule rules[XT_MAX_RULES];
	bool first = true;
	int id;

	if (state_open(st, dir) || state_read_rules(st, rules))
		return -1;
	if (json)
		putchar('[');
	for (id = 0; id < XT_MAX_RULES; id++) {
		if (!rules[id].used)
			continue;
		if (json) {
			fputs(first ? "" : ",", stdout);
			rule_print_json(stdout, id, &rules[id]);
		} else {
			rule_print(stdout, id, &rules[id]);
		}
		first = false;
	}
	if (json)
		puts("]");
	return 0;
}

static int stats(struct state *st)
{
	struct xt_rule rules[XT_MAX_RULES];
	__u64 c[XT_NR_COUNTERS], hits;
	bool first = true;
	int i;

	if (state_open(st, dir) || state_read_rules(st, rules))
		return -1;
	for (i = 0; i < XT_NR_COUNTERS; i++)
		if (state_sum(st, MAP_COUNTERS, i, &c[i]))
			return -1;
	if (json)
		printf("{\"packets\":%llu,\"matched\":%llu,\"set_errors\":%llu,"
		       "\"rules\":[", (unsigned long long)c[XT_PACKETS],
		       (unsigned long long)c[XT_MATCHED],
		       (unsigned long long)c[XT_SET_ERRORS]);
	else
		printf("packets %llu matched %llu set-errors %llu\n",
		       (unsigned long long)c[XT_PACKETS],
		       (unsigned long long)c[XT_MATCHED],
		       (unsigned long long)c[XT_SET_ERRORS]);
	for (i = 0; i < XT_MAX_RULES; i++) {
		if (!rules[i].used)
			continue;
		if (state_sum(st, MAP_HITS, i, &hits))
			return -1;
		if (json)
			printf("%s{\"id\":%d,\"hits\":%llu}", first ? "" : ",",
			       i, (unsigned long long)hits);
		else
			printf("id %d hits %llu\n", i, (unsigned long long)hits);
		first = false;
	}
	if (json)
		puts("]}");
	return 0;
}

static int want_args(int argc, int min, int max, const char *cmd)
{
	if (argc < min)
		return error("%s: missing argument (see --help)", cmd);
	if (argc > max)
		return error("%s: unexpected argument (see --help)", cmd);
	return 0;
}

/* -j after the command, as in `rule list -j` */
static void json_option(int *argc, char **argv)
{
	while (*argc > 1 && (!strcmp(argv[*argc - 1], "-j") ||
			     !strcmp(argv[*argc - 1], "--json"))) {
		json = true;
		--*argc;
	}
}

static int run(struct state *st, int argc, char **argv)
{
	const char *cmd = argv[0];

	if (!strcmp(cmd, "attach")) {
		if (want_args(argc, 2, 3, cmd))
			return -1;
		if (argc == 3 && strcmp(argv[2], "native") &&
		    strcmp(argv[2], "generic"))
			return error("attach: mode \"%s\" is not native or generic",
				     argv[2]);
		if (!if_nametoindex(argv[1]))
			return error("unknown interface \"%s\"", argv[1]);
		return state_open(st, dir) ?:
		       xdp_attach(st, argv[1],
				  argc == 3 && !strcmp(argv[2], "generic"));
	}
	if (!strcmp(cmd, "detach")) {
		if (want_args(argc, 2, 2, cmd))
			return -1;
		if (!if_nametoindex(argv[1]))
			return error("unknown interface \"%s\"", argv[1]);
		return state_open(st, dir) ?: xdp_detach(st, argv[1]);
	}
	if (!strcmp(cmd, "stats")) {
		json_option(&argc, argv);
		return want_args(argc, 1, 1, cmd) ?: stats(st);
	}
	if (strcmp(cmd, "rule"))
		return error("unknown command \"%s\" (see --help)", cmd);
	if (argc < 2)
		return error("rule: add, del or list? (see --help)");
	cmd = argv[1];
	if (!strcmp(cmd, "add"))
		return rule_add(st, argc - 2, argv + 2);
	if (!strcmp(cmd, "del"))
		return want_args(argc, 3, 3, "rule del") ?: rule_del(st, argv[2]);
	if (!strcmp(cmd, "list")) {
		json_option(&argc, argv);
		return want_args(argc, 2, 2, "rule list") ?: rule_list(st);
	}
	return error("unknown rule command \"%s\" (see --help)", cmd);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int opt, err;

	while ((opt = getopt_long(argc, argv, "+d:jvh", options, NULL)) != -1) {
		switch (opt) {
		case 'd':
			dir = optarg;
			break;
		case 'j':
			json = true;
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
	if (optind == argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (!dir)
		dir = getenv("XDP_TRAIT_DIR");
	if (!dir || !*dir)
		dir = DEFAULT_DIR;
	libbpf_set_print(libbpf_print);
	state_init(&st);
	err = run(&st, argc - optind, argv + optind);
	state_close(&st);
	return err ? 1 : 0;
}
