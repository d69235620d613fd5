// SPDX-License-Identifier: GPL-2.0
/*
 * The classifier program, embedded as a skeleton: loaded with its maps
 * pinned in the state directory (so every attached copy and every
 * invocation share the rules), attached to a device and found again there.
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tool.h"
#include "xdp_trait.skel.h"

/* Linux 6.3; Debian bookworm's headers are 6.1 */
#ifndef BPF_F_XDP_DEV_BOUND_ONLY
#define BPF_F_XDP_DEV_BOUND_ONLY	(1U << 6)
#endif

static struct xdp_trait *skel_open(const char *dir)
{
	struct xdp_trait *skel = xdp_trait__open();
	char path[PATH_MAX];
	struct bpf_map *map;

	if (!skel) {
		error("cannot open the embedded BPF object: %s", strerror(errno));
		return NULL;
	}
	bpf_object__for_each_map(map, skel->obj) {
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map));
		bpf_map__set_pin_path(map, path);
	}
	bpf_program__set_autoload(skel->progs.xdp_trait, false);
	bpf_program__set_autoload(skel->progs.xdp_trait_md, false);
	return skel;
}

int maps_create(const char *dir)
{
	struct xdp_trait *skel = skel_open(dir);
	int err;

	if (!skel)
		return -1;
	err = xdp_trait__load(skel);
	xdp_trait__destroy(skel);
	if (err)
		return error("cannot create the maps in %s: %s", dir,
			     strerror(-err));
	return 0;
}

/*
 * Bound to the device, the program can ask the driver for a VLAN tag it
 * stripped (bpf_xdp_metadata_rx_vlan_tag); generic mode cannot bind.
 */
static struct xdp_trait *skel_load(const char *dir, int ifindex, bool bind,
				   struct bpf_program **prog)
{
	struct xdp_trait *skel = skel_open(dir);
	int err;

	if (!skel)
		return NULL;
	*prog = bind ? skel->progs.xdp_trait_md : skel->progs.xdp_trait;
	bpf_program__set_autoload(*prog, true);
	if (bind) {
		bpf_program__set_ifindex(*prog, ifindex);
		bpf_program__set_flags(*prog, BPF_F_XDP_DEV_BOUND_ONLY);
	}
	err = xdp_trait__load(skel);
	if (err) {
		xdp_trait__destroy(skel);
		errno = -err;
		return NULL;
	}
	return skel;
}

static int attach_prog(struct xdp_trait *skel, struct bpf_program *prog,
		       int ifindex, bool skb)
{
	__u32 flags = XDP_FLAGS_UPDATE_IF_NOEXIST |
		      (skb ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);
	int err = bpf_xdp_attach(ifindex, bpf_program__fd(prog), flags, NULL);

	/* attached, the program and the pinned maps outlive us */
	xdp_trait__destroy(skel);
	return err;
}

/*
 * EBUSY: DEV has a program in this mode; EEXIST: one in the other mode,
 * or on a device above DEV (the kernel's message, shown, says which).
 */
static int attach_error(const char *dev, const char *mode, int err)
{
	if (err == -EBUSY)
		return error("%s already has an XDP program", dev);
	if (err == -EEXIST)
		return error("cannot attach to %s in %s mode: another XDP "
			     "program is in the way, on %s in the other mode "
			     "or on a device above it", dev, mode, dev);
	return error("cannot attach to %s in %s mode: %s", dev, mode,
		     strerror(-err));
}

static int attach_skb(struct state *st, const char *dev, int ifindex)
{
	struct bpf_program *prog;
	struct xdp_trait *skel;
	int err;

	skel = skel_load(st->dir, ifindex, false, &prog);
	if (!skel)
		return error("cannot load the XDP program: %s (-v shows why)",
			     strerror(errno));
	err = attach_prog(skel, prog, ifindex, true);
	return err ? attach_error(dev, "skb", err) : 0;
}

static void warn_skb(const char *dev)
{
	warn("%s has no native XDP: attached in skb mode, where VLAN tags "
	     "the driver stripped are not seen (turn rxvlan off, or give "
	     "-m skb to say so)", dev);
}

/*
 * Native mode loads the program bound to the device, which the kernel
 * allows only where the driver has native XDP (ndo_bpf): EOPNOTSUPP
 * means there is none. Without -m that falls back to skb mode, with a
 * warning, since vlan rules then miss tags the driver stripped.
 */
int xdp_attach(struct state *st, const char *dev, enum xdp_mode mode)
{
	int ifindex = if_nametoindex(dev), err;
	struct bpf_program *prog;
	struct xdp_trait *skel;

	if (!ifindex)
		return error("unknown interface \"%s\"", dev);
	if (mode == MODE_SKB)
		return attach_skb(st, dev, ifindex);
	skel = skel_load(st->dir, ifindex, true, &prog);
	if (!skel && errno == EOPNOTSUPP) {
		if (mode == MODE_NATIVE)
			return error("%s has no native XDP (its driver "
				     "lacks it); use -m skb", dev);
		warn_skb(dev);
		return attach_skb(st, dev, ifindex);
	}
	if (!skel) {
		skel = skel_load(st->dir, ifindex, false, &prog);
		if (!skel)
			return error("cannot load the XDP program: %s "
				     "(-v shows why)", strerror(errno));
		warn("cannot bind the program to %s: VLAN tags the driver "
		     "stripped are not seen", dev);
	}
	err = attach_prog(skel, prog, ifindex, false);
	return err ? attach_error(dev, "native", err) : 0;
}

/* Whether program prog_id uses map map_id; *bound: it is xdp_trait_md. */
static bool prog_uses_map(__u32 prog_id, __u32 map_id, bool *bound)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), ids[8], i;
	bool found = false;
	int fd;

	fd = bpf_prog_get_fd_by_id(prog_id);
	if (fd < 0)
		return false;
	info.nr_map_ids = sizeof(ids) / sizeof(ids[0]);
	info.map_ids = (__u64)(unsigned long)ids;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		for (i = 0; i < info.nr_map_ids && i < 8; i++)
			found |= ids[i] == map_id;
	close(fd);
	if (bound)
		*bound = !strcmp(info.name, "xdp_trait_md");
	return found;
}

static int rules_map_id(struct state *st, __u32 *id)
{
	struct bpf_map_info map = {};
	__u32 len = sizeof(map);

	if (bpf_obj_get_info_by_fd(st->fd[MAP_RULES], &map, &len))
		return error("cannot read the rules map: %s", strerror(errno));
	*id = map.id;
	return 0;
}

/*
 * This state's program on ifindex, in native or skb mode: 0 and *a
 * filled in, 1 if there is none, -1 on error.
 */
static int find_on(int ifindex, __u32 map_id, struct attached *a,
		   __u32 *mode_flag)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, query);
	__u32 ids[2];
	int i;

	if (bpf_xdp_query(ifindex, 0, &query))
		return 1;
	ids[0] = query.drv_prog_id;
	ids[1] = query.skb_prog_id;
	for (i = 0; i < 2; i++) {
		if (!ids[i] || !prog_uses_map(ids[i], map_id, &a->vlan_md))
			continue;
		a->prog_id = ids[i];
		a->mode = i ? "skb" : "native";
		*mode_flag = i ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
		return 0;
	}
	return 1;
}

/* The devices of this network namespace that run this state's program. */
int xdp_find(struct state *st, struct attached *a, int max)
{
	struct if_nameindex *ifs, *i;
	__u32 map_id, flag;
	int n = 0;

	if (!st->exists)
		return 0;
	if (rules_map_id(st, &map_id))
		return -1;
	ifs = if_nameindex();
	if (!ifs)
		return error("cannot list interfaces: %s", strerror(errno));
	for (i = ifs; i->if_index && n < max; i++) {
		if (find_on(i->if_index, map_id, &a[n], &flag))
			continue;
		snprintf(a[n].dev, sizeof(a[n].dev), "%s", i->if_name);
		n++;
	}
	if_freenameindex(ifs);
	return n;
}

/* Detaches the program that uses this state's maps, in either mode. */
int xdp_detach(struct state *st, const char *dev)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, opts);
	int ifindex = if_nametoindex(dev), err;
	struct attached a;
	__u32 map_id, flag;

	if (!ifindex)
		return error("unknown interface \"%s\"", dev);
	if (!st->exists || rules_map_id(st, &map_id) ||
	    find_on(ifindex, map_id, &a, &flag))
		return error("%s has no xdp-trait program using %s", dev,
			     st->dir);
	opts.old_prog_fd = bpf_prog_get_fd_by_id(a.prog_id);
	if (opts.old_prog_fd < 0)
		return error("program %u went away", a.prog_id);
	err = bpf_xdp_detach(ifindex, flag, &opts);
	close(opts.old_prog_fd);
	if (err)
		return error("cannot detach from %s: %s", dev, strerror(-err));
	return 0;
}
