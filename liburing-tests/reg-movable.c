/* SPDX-License-Identifier: MIT */
/*
 * Checks that registering a buffer moves its pages out of ZONE_MOVABLE
 * first, as every long-term pin must (a pinned page cannot be migrated, so
 * it would keep the zone from being offlined or compacted): before the
 * registration part of the buffer lies in the zone, after it none does, the
 * buffer still holds what the process wrote, and fixed reads and writes
 * reach the pages the process now maps.
 *
 * Prerequisites: a ZONE_MOVABLE with memory (boot with movablecore=; make
 * check runs this test alone in a boot of its own that has one), root for
 * the pfns in /proc/self/pagemap, cwd on a filesystem with O_DIRECT (ext4).
 * It SKIPs without. The THP case needs THP in madvise or always mode.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define ANON_LEN	(16UL << 20)
#define THP_LEN		(8UL << 20)

struct zone_span {
	uint64_t start, end;	/* pfns [start, end) */
};

/* The pfn range of the Movable zone of node 0 from /proc/zoneinfo. */
static int movable_zone(struct zone_span *z)
{
	FILE *fp = fopen("/proc/zoneinfo", "r");
	unsigned long long val, spanned = 0, present = 0, start = 0;
	bool in_zone = false, have_start = false;
	char line[256], name[32];

	if (!fp)
		return t_skip("no /proc/zoneinfo");
	while (fgets(line, sizeof(line), fp)) {
		if (sscanf(line, "Node %*d, zone %31s", name) == 1) {
			if (in_zone)
				break;
			in_zone = !strcmp(name, "Movable");
			continue;
		}
		if (!in_zone)
			continue;
		if (sscanf(line, " spanned %llu", &val) == 1)
			spanned = val;
		else if (sscanf(line, " present %llu", &val) == 1)
			present = val;
		else if (sscanf(line, " start_pfn: %llu", &val) == 1) {
			start = val;
			have_start = true;
		}
	}
	fclose(fp);
	if (!present || !have_start)
		return t_skip("no memory in ZONE_MOVABLE (boot with movablecore=)");
	z->start = start;
	z->end = start + spanned;
	return T_EXIT_PASS;
}

static bool in_zone(const struct zone_span *z, uint64_t pfn)
{
	return pfn >= z->start && pfn < z->end;
}

/*
 * Pages of buf whose pfn lies in the zone; pfns are stored in pfns.
 * -1 if pagemap shows no pfns.
 */
static long pages_in_zone(const struct zone_span *z, const char *buf,
			  size_t len, uint64_t *pfns)
{
	long n = 0;
	size_t i;

	for (i = 0; i < len / T_PAGE; i++) {
		pfns[i] = t_pagemap_pfn(buf + i * T_PAGE);
		if (!pfns[i])
			return -1;
		n += in_zone(z, pfns[i]);
	}
	return n;
}

/* A fixed write of the whole buffer and a fixed read back into it. */
static int fixed_rw(struct io_uring *ring, char *buf, size_t len)
{
	unsigned int seed = t_seed();
	struct t_file f;
	char *bounce;
	int ret, res;

	bounce = malloc(len);
	if (!bounce)
		return T_EXIT_FAIL;
	ret = t_file_open(&f, true);
	if (ret)
		goto out;
	t_fill(buf, len, seed, 0);
	res = t_fixed_io(ring, true, f.fd, buf, len, 0, 0);
	if (res != (int)len) {
		t_diag("fixed write: %s", t_errname(res));
		ret = T_EXIT_FAIL;
		goto close;
	}
	ret = t_file_read(&f, bounce, len, 0);
	if (!ret)
		ret = t_verify(bounce, len, seed, 0, "file after the fixed write");
	if (ret)
		goto close;
	t_fill(bounce, len, seed + 1, 0);
	ret = t_file_write(&f, bounce, len, 0);
	if (ret)
		goto close;
	res = t_fixed_io(ring, false, f.fd, buf, len, 0, 0);
	if (res != (int)len) {
		t_diag("fixed read: %s", t_errname(res));
		ret = T_EXIT_FAIL;
		goto close;
	}
	ret = t_verify(buf, len, seed + 1, 0, "buffer after the fixed read");
close:
	t_file_close(&f);
out:
	free(bounce);
	return ret;
}

static int test_moved_out(enum t_mem m, size_t len)
{
	uint64_t *before = NULL, *after = NULL;
	long was_in, still_in, moved = 0;
	unsigned int seed = t_seed();
	struct zone_span z = { 0, 0 };
	struct io_uring ring;
	struct iovec iov;
	char *buf = NULL;
	size_t i;
	int ret;

	ret = movable_zone(&z);
	if (ret)
		return ret;
	ret = t_ring_setup(&ring);
	if (ret)
		return ret;
	before = calloc(len / T_PAGE, sizeof(*before));
	after = calloc(len / T_PAGE, sizeof(*after));
	if (!before || !after) {
		ret = T_EXIT_FAIL;
		goto out;
	}
	ret = t_alloc(m, len, &buf, NULL);
	if (ret)
		goto out;
	t_fill(buf, len, seed, 0);
	was_in = pages_in_zone(&z, buf, len, before);
	if (was_in < 0) {
		ret = t_skip("no pfns in /proc/self/pagemap (not root?)");
		goto unmap;
	}
	if (!was_in) {
		ret = t_skip("no page of the buffer in ZONE_MOVABLE (pfns %llu-%llu)",
			     (unsigned long long)z.start,
			     (unsigned long long)z.end);
		goto unmap;
	}

	iov.iov_base = buf;
	iov.iov_len = len;
	ret = t_register_or_skip(&ring, &iov, 1, false);
	if (ret)
		goto unmap;
	still_in = pages_in_zone(&z, buf, len, after);
	for (i = 0; i < len / T_PAGE; i++)
		moved += before[i] != after[i];
	if (still_in) {
		t_diag("%ld of %zu pages still in ZONE_MOVABLE after registering (%ld before)",
		       still_in, len / T_PAGE, was_in);
		ret = T_EXIT_FAIL;
	} else if (moved < was_in) {
		t_diag("%ld pages moved, %ld were in ZONE_MOVABLE", moved, was_in);
		ret = T_EXIT_FAIL;
	}
	if (!ret)
		ret = t_verify(buf, len, seed, 0, "buffer after migration");
	if (!ret)
		ret = fixed_rw(&ring, buf, len);
	if (!ret)
		t_diag("%s: %ld of %zu pages were in ZONE_MOVABLE, all moved out",
		       t_mem_name(m), was_in, len / T_PAGE);
	ret = t_unregister_or_fail(&ring, ret);
unmap:
	t_unreserve(buf, len);
out:
	free(before);
	free(after);
	io_uring_queue_exit(&ring);
	return ret;
}

static int test_anon(void)
{
	return test_moved_out(T_MEM_ANON, ANON_LEN);
}

static int test_thp(void)
{
	return test_moved_out(T_MEM_THP, THP_LEN);
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "4 KiB anonymous pages move out of ZONE_MOVABLE", test_anon },
		{ "THP moves out of ZONE_MOVABLE", test_thp },
	};

	return t_run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}
