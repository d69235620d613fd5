// SPDX-License-Identifier: GPL-2.0
/*
 * trait-recv: receive UDP datagrams and print the packet traits each one
 * carried, as the kernel delivers them with SO_RCVTRAITS:
 *
 *   10.0.0.1 port 4242 5 bytes trait 3 flag trait tenant value 42
 *   10.0.0.1 port 4242 5 bytes no traits
 *
 * Keys print by name from rt_traits (-N: numbers), values in decimal, in
 * the words ip and nft use for them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "names.h"

#ifndef SO_RCVTRAITS
/* include/uapi/asm-generic/socket.h of a kernel with packet traits */
#define SO_RCVTRAITS	85
#define SCM_TRAITS	86
#endif

/* the largest block: the header and 8 bytes for every key */
#define BLOCK_MAX	(sizeof(struct traits_hdr) + 8 * (TRAITS_KEY_MAX + 1))

const char *tool_name = "trait-recv";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: trait-recv [ -N ] [ -c COUNT ] [ -b ADDRESS ] PORT\n"
		"Receive UDP datagrams on PORT and print the packet traits of each.\n"
		"  -b ADDRESS  listen on ADDRESS (IPv4 or IPv6; default: all)\n"
		"  -c COUNT    exit after COUNT datagrams\n"
		"  -N          print keys as numbers, not names from rt_traits\n");
}

/* Size class of key k: 0 absent, 1 flag, 2 four bytes, 3 eight bytes. */
static int key_class(const struct traits_hdr *h, int k)
{
	return ((h->high >> k) & 1) << 1 | ((h->low >> k) & 1);
}

static void print_traits(struct names *nm, const unsigned char *block,
			 size_t len)
{
	static const int size[] = { 0, 0, 4, 8 };
	struct traits_hdr h;
	size_t off = sizeof(h);
	char buf[16];
	int k, any = 0;

	if (len < sizeof(h)) {
		printf(" malformed traits block (%zu bytes)", len);
		return;
	}
	memcpy(&h, block, sizeof(h));
	for (k = 0; k <= TRAITS_KEY_MAX; k++) {
		int c = key_class(&h, k);
		__u64 v = 0;

		if (!c)
			continue;
		if (off + size[c] > len) {
			printf(" malformed traits block (%zu bytes)", len);
			return;
		}
		any = 1;
		printf(" trait %s", names_of(nm, k, buf, sizeof(buf)));
		if (c == 1) {
			printf(" flag");
			continue;
		}
		if (c == 2) {
			__u32 v32;

			memcpy(&v32, block + off, 4);
			v = v32;
		} else {
			memcpy(&v, block + off, 8);
		}
		off += size[c];
		printf(" value %llu", (unsigned long long)v);
	}
	if (!any)
		printf(" no traits");
}

static int open_socket(const char *addr, const char *port)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_DGRAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
	}, *ai;
	int fd, on = 1, off = 0, err;

	if (!addr) {
		hints.ai_family = AF_INET6;	/* both families, v4-mapped */
		addr = "::";
	}
	err = getaddrinfo(addr, port, &hints, &ai);
	if (err)
		return error("%s port %s: %s", addr, port, gai_strerror(err));
	fd = socket(ai->ai_family, SOCK_DGRAM, 0);
	if (fd < 0) {
		error("socket: %s", strerror(errno));
		goto out;
	}
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTRAITS, &on, sizeof(on))) {
		error("this kernel does not deliver packet traits "
		      "(SO_RCVTRAITS: %s)", strerror(errno));
		goto fail;
	}
	if (bind(fd, ai->ai_addr, ai->ai_addrlen)) {
		error("bind %s port %s: %s", addr, port, strerror(errno));
		goto fail;
	}
	freeaddrinfo(ai);
	return fd;
fail:
	close(fd);
	fd = -1;
out:
	freeaddrinfo(ai);
	return fd;
}

static void print_source(const struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN], port[8];

	if (getnameinfo((const struct sockaddr *)ss, sizeof(*ss), host,
			sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV))
		strcpy(host, "?"), strcpy(port, "?");
	/* a v4-mapped source is an IPv4 packet */
	printf("%s port %s",
	       strncmp(host, "::ffff:", 7) || !strchr(host, '.') ? host : host + 7,
	       port);
}

int main(int argc, char **argv)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(BLOCK_MAX)];
	} control;
	struct names nm = {};
	const char *addr = NULL;
	long count = -1;
	char data[65536];
	int fd, opt;
	__u64 n;

	while ((opt = getopt(argc, argv, "b:c:Nh")) != -1) {
		switch (opt) {
		case 'b':
			addr = optarg;
			break;
		case 'c':
			if (parse_num(optarg, 1UL << 31, &n) || !n) {
				error("-c \"%s\": not a count of 1 or more",
				      optarg);
				return 2;
			}
			count = n;
			break;
		case 'N':
			nm.numeric = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	fd = open_socket(addr, argv[optind]);
	if (fd < 0)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (count) {
		struct sockaddr_storage from;
		struct iovec iov = { data, sizeof(data) };
		struct msghdr msg = {
			.msg_name = &from, .msg_namelen = sizeof(from),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = control.buf,
			.msg_controllen = sizeof(control.buf),
		};
		struct cmsghdr *cm;
		const unsigned char *block = NULL;
		size_t len = 0;
		ssize_t got;

		got = recvmsg(fd, &msg, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			error("recvmsg: %s", strerror(errno));
			return 1;
		}
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			if (cm->cmsg_level == SOL_SOCKET &&
			    cm->cmsg_type == SCM_TRAITS) {
				block = CMSG_DATA(cm);
				len = cm->cmsg_len - CMSG_LEN(0);
			}
		}
		print_source(&from);
		printf(" %zd bytes", got);
		if (block)
			print_traits(&nm, block, len);
		else
			printf(" no traits");
		if (msg.msg_flags & MSG_CTRUNC)
			printf(" (control data truncated)");
		putchar('\n');
		if (count > 0)
			count--;
	}
	names_free(&nm);
	close(fd);
	return 0;
}
