// SPDX-License-Identifier: GPL-2.0
/* The words of `xdp-trait rule add` to a rule, and a rule back to them. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "tool.h"

static const struct {
	const char *name;
	__u8 num;
} protos[] = {
	{ "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP },
	{ "icmp", IPPROTO_ICMP }, { "icmpv6", IPPROTO_ICMPV6 },
	{ "sctp", IPPROTO_SCTP }, { "udplite", IPPROTO_UDPLITE },
};

static bool has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP ||
	       proto == IPPROTO_SCTP || proto == IPPROTO_UDPLITE;
}

static int parse_bounded(const char *what, const char *s, __u64 max, __u64 *v)
{
	int err = parse_num(s, max, v);

	if (err == -EINVAL)
		return error("%s \"%s\" is not a number", what, s);
	if (err)
		return error("%s %s is out of range (0-%llu)", what, s,
			     (unsigned long long)max);
	return 0;
}

static int parse_prefix(const char *what, const char *s, __u8 addr[16],
			__u8 *len, __u8 *family)
{
	char buf[INET6_ADDRSTRLEN + 5], *slash;
	__u64 n, max;
	__u32 bit;

	if (strlen(s) >= sizeof(buf))
		return error("bad %s prefix \"%s\"", what, s);
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	*family = strchr(buf, ':') ? 6 : 4;
	max = *family == 4 ? 32 : 128;
	if (inet_pton(*family == 4 ? AF_INET : AF_INET6, buf, addr) != 1)
		return error("bad %s prefix \"%s\": not an IPv%d address", what,
			     s, *family);
	n = max;
	if (slash && parse_num(slash, max, &n))
		return error("bad %s prefix \"%s\": length must be 0-%llu", what,
			     s, (unsigned long long)max);
	for (bit = n; bit < max; bit++)
		if (addr[bit / 8] & (0x80 >> (bit % 8)))
			return error("bad %s prefix \"%s\": address bits set "
				     "past /%llu", what, s,
				     (unsigned long long)n);
	*len = n;
	return 0;
}

static int parse_proto(const char *s, __u8 *proto)
{
	size_t i;
	__u64 n;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		if (!strcmp(s, protos[i].name)) {
			*proto = protos[i].num;
			return 0;
		}
	}
	if (parse_num(s, 255, &n))
		return error("unknown protocol \"%s\" (tcp, udp, icmp, icmpv6, "
			     "sctp, udplite or 0-255)", s);
	*proto = n;
	return 0;
}

static int parse_range(const char *what, const char *s, __u16 range[2])
{
	char buf[16], *dash;
	__u64 lo, hi;

	if (strlen(s) >= sizeof(buf))
		return error("bad %s \"%s\"", what, s);
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (dash)
		*dash++ = '\0';
	if (parse_num(buf, 65535, &lo) ||
	    (dash && parse_num(dash, 65535, &hi)))
		return error("bad %s \"%s\": ports are 0-65535, a range LO-HI",
			     what, s);
	if (!dash)
		hi = lo;
	if (lo > hi)
		return error("bad %s \"%s\": range ends below its start", what, s);
	range[0] = lo;
	range[1] = hi;
	return 0;
}

/* The value after "trait KEY [value]": a number of up to 64 bits. */
static int parse_value(const char *s, __u64 *v)
{
	switch (parse_num(s, ~0ULL, v)) {
	case 0:
		return 0;
	case -ERANGE:
		return error("trait value %s is out of range (0-%llu)", s,
			     ~0ULL);
	default:
		return error("trait value \"%s\" is not a number "
			     "(decimal or 0x hex, no sign or blank)", s);
	}
}

/*
 * trait KEY {[value] NUMBER | flag}, from argv[*i] on. The number picks
 * the width, as ip route get does: 4 bytes when it fits, else 8. The old
 * "long NUMBER" is read as "value NUMBER".
 */
static int parse_trait(struct names *nm, int argc, char **argv, int *i,
		       struct xt_rule *r)
{
	struct xt_trait *t = &r->traits[r->n_traits];
	const char *w;
	__u64 key;
	__u32 j;

	if (r->n_traits == XT_MAX_TRAITS)
		return error("a rule sets at most %d traits", XT_MAX_TRAITS);
	if (*i + 2 >= argc)
		return error("\"trait\" needs a key and a value "
			     "([value] NUMBER or flag)");
	if (names_key(nm, argv[++*i], &key))
		return -1;
	for (j = 0; j < r->n_traits; j++)
		if (r->traits[j].key == key)
			return error("trait %s given twice", argv[*i]);
	t->key = key;
	w = argv[++*i];
	if (!strcmp(w, "flag")) {
		t->size = 0;
		r->n_traits++;
		return 0;
	}
	if (!strcmp(w, "value") || !strcmp(w, "long")) {
		if (*w == 'l')
			warn("\"trait KEY long NUMBER\" is deprecated: write "
			     "\"trait KEY value NUMBER\"; the number picks "
			     "4 or 8 bytes");
		if (++*i >= argc)
			return error("\"%s\" needs a number", w);
		w = argv[*i];
	}
	if (parse_value(w, &t->value))
		return -1;
	t->size = t->value > 0xffffffffULL ? 8 : 4;
	r->n_traits++;
	return 0;
}

static int check_rule(const struct xt_rule *r)
{
	if (!r->n_traits)
		return error("a rule needs at least one \"trait KEY VALUE\"");
	if ((r->match & (XT_M_SPORT | XT_M_DPORT)) &&
	    (!(r->match & XT_M_PROTO) || !has_ports(r->proto)))
		return error("sport and dport need proto tcp, udp, sctp or "
			     "udplite");
	if ((r->match & XT_M_PROTO) && r->family == 6 &&
	    r->proto == IPPROTO_ICMP)
		return error("proto icmp never matches IPv6, use icmpv6");
	if ((r->match & XT_M_PROTO) && r->family == 4 &&
	    r->proto == IPPROTO_ICMPV6)
		return error("proto icmpv6 never matches IPv4, use icmp");
	return 0;
}

/*
 * [id N] [src PREFIX] [dst PREFIX] [proto P] [sport R] [dport R]
 * [vlan ID] trait KEY VALUE [trait ...]; *id is -1 without "id".
 */
int rule_parse(struct names *nm, int argc, char **argv, struct xt_rule *r,
	       int *id)
{
	__u8 family = 0;
	__u64 n;
	int i, m;

	memset(r, 0, sizeof(*r));
	*id = -1;
	for (i = 0; i < argc; i++) {
		const char *w = argv[i];

		if (!strcmp(w, "trait")) {
			if (parse_trait(nm, argc, argv, &i, r))
				return -1;
			continue;
		}
		m = !strcmp(w, "src") ? XT_M_SRC : !strcmp(w, "dst") ? XT_M_DST :
		    !strcmp(w, "proto") ? XT_M_PROTO :
		    !strcmp(w, "sport") ? XT_M_SPORT :
		    !strcmp(w, "dport") ? XT_M_DPORT :
		    !strcmp(w, "vlan") ? XT_M_VLAN : 0;
		if (!m && strcmp(w, "id"))
			return error("unknown word \"%s\" in a rule "
				     "(see xdp-trait --help)", w);
		if (i + 1 >= argc)
			return error("\"%s\" needs a value", w);
		if ((m & r->match) || (!m && *id >= 0))
			return error("\"%s\" given twice", w);
		r->match |= m;
		w = argv[++i];
		switch (m) {
		case 0:
			if (parse_bounded("rule id", w, XT_MAX_RULES - 1, &n))
				return -1;
			*id = n;
			break;
		case XT_M_SRC:
		case XT_M_DST:
			if (parse_prefix(m == XT_M_SRC ? "src" : "dst", w,
					 m == XT_M_SRC ? r->src : r->dst,
					 m == XT_M_SRC ? &r->src_len : &r->dst_len,
					 &family))
				return -1;
			if (r->family && r->family != family)
				return error("src and dst must be of one family");
			r->family = family;
			break;
		case XT_M_PROTO:
			if (parse_proto(w, &r->proto))
				return -1;
			break;
		case XT_M_SPORT:
		case XT_M_DPORT:
			if (parse_range(m == XT_M_SPORT ? "sport" : "dport", w,
					m == XT_M_SPORT ? r->sport : r->dport))
				return -1;
			break;
		case XT_M_VLAN:
			if (parse_bounded("vlan", w, 4095, &n))
				return -1;
			r->vlan = n;
			break;
		}
	}
	return check_rule(r);
}

static const char *proto_name(__u8 proto)
{
	size_t i;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (protos[i].num == proto)
			return protos[i].name;
	return NULL;
}

static const char *prefix_str(const struct xt_rule *r, const __u8 *addr,
			      __u8 len, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(r->family == 4 ? AF_INET : AF_INET6, addr, a, sizeof(a));
	snprintf(buf, size, "%s/%u", a, len);
	return buf;
}

static void range_print(FILE *f, const char *name, const __u16 range[2])
{
	if (range[0] == range[1])
		fprintf(f, " %s %u", name, range[0]);
	else
		fprintf(f, " %s %u-%u", name, range[0], range[1]);
}

/* As `rule add` takes it: a listed rule can be added again. */
void rule_print(FILE *f, struct names *nm, int id, const struct xt_rule *r)
{
	char buf[INET6_ADDRSTRLEN + 5], key[16];
	const char *name;
	__u32 i;

	fprintf(f, "id %d", id);
	if (r->match & XT_M_SRC)
		fprintf(f, " src %s", prefix_str(r, r->src, r->src_len, buf,
						 sizeof(buf)));
	if (r->match & XT_M_DST)
		fprintf(f, " dst %s", prefix_str(r, r->dst, r->dst_len, buf,
						 sizeof(buf)));
	if (r->match & XT_M_PROTO) {
		name = proto_name(r->proto);
		if (name)
			fprintf(f, " proto %s", name);
		else
			fprintf(f, " proto %u", r->proto);
	}
	if (r->match & XT_M_SPORT)
		range_print(f, "sport", r->sport);
	if (r->match & XT_M_DPORT)
		range_print(f, "dport", r->dport);
	if (r->match & XT_M_VLAN)
		fprintf(f, " vlan %u", r->vlan);
	for (i = 0; i < r->n_traits && i < XT_MAX_TRAITS; i++) {
		const struct xt_trait *t = &r->traits[i];

		fprintf(f, " trait %s", names_of(nm, t->key, key, sizeof(key)));
		if (t->size == 0)
			fputs(" flag", f);
		else
			fprintf(f, " value %llu", (unsigned long long)t->value);
	}
	fputc('\n', f);
}

/*
 * {"id": 1, "src": "10.0.0.0/8", "proto": 17, "dport": [53, 53],
 *  "traits": [{"key": 7, "value": 1}, {"key": 9, "flag": true}]}
 * Keys stay numbers, whatever rt_traits names them.
 */
void rule_print_json(FILE *f, int id, const struct xt_rule *r)
{
	char buf[INET6_ADDRSTRLEN + 5];
	__u32 i;

	fprintf(f, "{\"id\":%d", id);
	if (r->match & XT_M_SRC)
		fprintf(f, ",\"src\":\"%s\"", prefix_str(r, r->src, r->src_len,
							 buf, sizeof(buf)));
	if (r->match & XT_M_DST)
		fprintf(f, ",\"dst\":\"%s\"", prefix_str(r, r->dst, r->dst_len,
							 buf, sizeof(buf)));
	if (r->match & XT_M_PROTO)
		fprintf(f, ",\"proto\":%u", r->proto);
	if (r->match & XT_M_SPORT)
		fprintf(f, ",\"sport\":[%u,%u]", r->sport[0], r->sport[1]);
	if (r->match & XT_M_DPORT)
		fprintf(f, ",\"dport\":[%u,%u]", r->dport[0], r->dport[1]);
	if (r->match & XT_M_VLAN)
		fprintf(f, ",\"vlan\":%u", r->vlan);
	fprintf(f, ",\"traits\":[");
	for (i = 0; i < r->n_traits && i < XT_MAX_TRAITS; i++) {
		const struct xt_trait *t = &r->traits[i];

		fprintf(f, "%s{\"key\":%u", i ? "," : "", t->key);
		if (t->size == 0)
			fprintf(f, ",\"flag\":true}");
		else
			fprintf(f, ",\"value\":%llu}",
				(unsigned long long)t->value);
	}
	fprintf(f, "]}");
}
