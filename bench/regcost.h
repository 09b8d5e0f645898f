/* SPDX-License-Identifier: MIT */
/*
 * regcost's memory: mapping each row's memory faulted in, and checking that
 * it is backed as the row claims.
 */
#ifndef REGCOST_H
#define REGCOST_H

#include <stddef.h>

#include "helpers.h"

struct snapshot {
	long anon_huge_kb;	/* /proc/meminfo AnonHugePages */
	long huge_free_2m;	/* free 2 MiB hugepages */
	long huge_free_1g;	/* free 1 GiB hugepages */
};

struct region {
	char *buf;
	size_t len;
	int fd;
};

/* System-wide counters that check_backing() compares with. */
void snapshot(struct snapshot *s);
/* Writes "ok" or "MISMATCH: ..." into out. */
void check_backing(enum t_mem m, const char *buf, size_t len,
		   const struct snapshot *before, char *out, size_t outlen);
/* Maps r->len bytes of m with every page present: a T_EXIT_* status. */
int map_region(enum t_mem m, struct region *r);
void unmap_region(struct region *r);

#endif
