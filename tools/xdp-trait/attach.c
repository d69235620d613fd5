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

int xdp_attach(struct state *st, const char *dev, bool generic)
{
	int ifindex = if_nametoindex(dev), err;
	struct xdp_trait *skel = NULL;
	struct bpf_program *prog;
	__u32 flags;

	if (!ifindex)
		return error("unknown interface \"%s\"", dev);
	if (!generic)
		skel = skel_load(st->dir, ifindex, true, &prog);
	if (!skel)
		skel = skel_load(st->dir, ifindex, false, &prog);
	if (!skel)
		return error("cannot load the XDP program: %s (-v shows why)",
			     strerror(errno));
	flags = XDP_FLAGS_UPDATE_IF_NOEXIST |
		(generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);
	err = bpf_xdp_attach(ifindex, bpf_program__fd(prog), flags, NULL);
	/* attached, the program and the pinned maps outlive us */
	xdp_trait__destroy(skel);
	if (err == -EBUSY || err == -EEXIST)
		return error("%s already has an XDP program", dev);
	if (err)
		return error("cannot attach to %s in %s mode: %s", dev,
			     generic ? "generic" : "native", strerror(-err));
	return 0;
}

static bool prog_uses_map(__u32 prog_id, __u32 map_id)
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
	return found;
}

/* Detaches the program that uses this state's maps, in either mode. */
int xdp_detach(struct state *st, const char *dev)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, query);
	struct bpf_map_info map = {};
	__u32 len = sizeof(map), ids[2], modes[2];
	int ifindex = if_nametoindex(dev), i, err;

	if (!ifindex)
		return error("unknown interface \"%s\"", dev);
	if (bpf_obj_get_info_by_fd(st->fd[MAP_RULES], &map, &len))
		return error("cannot read the rules map: %s", strerror(errno));
	err = bpf_xdp_query(ifindex, 0, &query);
	if (err)
		return error("cannot query %s: %s", dev, strerror(-err));
	ids[0] = query.drv_prog_id;
	modes[0] = XDP_FLAGS_DRV_MODE;
	ids[1] = query.skb_prog_id;
	modes[1] = XDP_FLAGS_SKB_MODE;
	for (i = 0; i < 2; i++) {
		LIBBPF_OPTS(bpf_xdp_attach_opts, opts);

		if (!ids[i] || !prog_uses_map(ids[i], map.id))
			continue;
		opts.old_prog_fd = bpf_prog_get_fd_by_id(ids[i]);
		if (opts.old_prog_fd < 0)
			return error("program %u went away", ids[i]);
		err = bpf_xdp_detach(ifindex, modes[i], &opts);
		close(opts.old_prog_fd);
		if (err)
			return error("cannot detach from %s: %s", dev,
				     strerror(-err));
		return 0;
	}
	return error("%s has no xdp-trait program using %s", dev, st->dir);
}
