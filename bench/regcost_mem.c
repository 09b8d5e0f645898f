/* SPDX-License-Identifier: MIT */
/*
 * regcost's memory: each row maps its memory here, faulted in so that a
 * register measures pinning, not faults, and checks afterwards that the
 * memory was backed as the row claims.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "regcost.h"

static int map_thp(struct region *r);
static bool hugetlb_taken(long before, long after, size_t want,
			  const char *size, char *out, size_t outlen);

int map_region(enum t_mem m, struct region *r)
{
	size_t off;
	int ret;

	r->fd = -1;
	if (m == T_MEM_THP)
		ret = map_thp(r);
	else
		ret = t_alloc(m, r->len, &r->buf, &r->fd);
	if (ret)
		return ret;
	/* registration cost, not fault cost: every page is present first */
	for (off = 0; off < r->len; off += T_PAGE)
		r->buf[off] = 1;
	return T_EXIT_PASS;
}

void unmap_region(struct region *r)
{
	t_unreserve(r->buf, r->len);
	if (r->fd >= 0)
		close(r->fd);
}

void check_backing(enum t_mem m, const char *buf, size_t len,
		   const struct snapshot *before, char *out, size_t outlen)
{
	long want_kb = len >> 10, rss = t_smaps_kb(buf, "Rss");
	long anon_huge = t_smaps_kb(buf, "AnonHugePages");
	struct snapshot after;

	snapshot(&after);
	switch (m) {
	case T_MEM_ANON:
		if (anon_huge != 0 || rss < want_kb) {
			snprintf(out, outlen,
				 "MISMATCH: mapping has AnonHugePages %ld kB (want 0), Rss %ld of %ld kB",
				 anon_huge, rss, want_kb);
			return;
		}
		break;
	case T_MEM_THP:
		if (anon_huge < want_kb) {
			snprintf(out, outlen,
				 "MISMATCH: mapping has AnonHugePages %ld of %ld kB (meminfo delta %ld kB)",
				 anon_huge, want_kb,
				 after.anon_huge_kb - before->anon_huge_kb);
			return;
		}
		break;
	case T_MEM_HUGETLB_2M:
		if (!hugetlb_taken(before->huge_free_2m, after.huge_free_2m,
				   len / T_SZ_2M, "2 MiB", out, outlen))
			return;
		break;
	case T_MEM_HUGETLB_1G:
		if (!hugetlb_taken(before->huge_free_1g, after.huge_free_1g,
				   len / T_SZ_1G, "1 GiB", out, outlen))
			return;
		break;
	default:
		if (rss < want_kb) {
			snprintf(out, outlen, "MISMATCH: mapping has Rss %ld of %ld kB",
				 rss, want_kb);
			return;
		}
		break;
	}
	snprintf(out, outlen, "ok");
}

/*
 * hugetlb pages are not in a mapping's Rss: the pool's free count must have
 * gone down by the pages the mapping holds.
 */
static bool hugetlb_taken(long before, long after, size_t want,
			  const char *size, char *out, size_t outlen)
{
	if (before - after == (long)want)
		return true;
	snprintf(out, outlen,
		 "MISMATCH: free %s hugepages went %ld -> %ld, want %zu fewer",
		 size, before, after, want);
	return false;
}

static long read_free_hugepages(const char *size_kb)
{
	char path[96];
	long nr = -1;
	FILE *fp;

	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%skB/free_hugepages",
		 size_kb);
	fp = fopen(path, "r");
	if (fp) {
		if (fscanf(fp, "%ld", &nr) != 1)
			nr = -1;
		fclose(fp);
	}
	return nr;
}

/* Counters check_backing() compares with: it takes one before and one after. */
void snapshot(struct snapshot *s)
{
	s->anon_huge_kb = t_proc_kb("/proc/meminfo", "AnonHugePages");
	s->huge_free_2m = read_free_hugepages("2048");
	s->huge_free_1g = read_free_hugepages("1048576");
}

/*
 * THP is mapped as plain anon and then advised, not with t_alloc(T_MEM_THP):
 * that one skips on a THP shortfall, and here a shortfall is measured and
 * flagged instead.
 */
static int map_thp(struct region *r)
{
	int ret = t_mem_check(T_MEM_THP, r->len);

	if (ret)
		return ret;
	r->buf = t_reserve(r->len, T_SZ_2M);
	if (!r->buf)
		return T_EXIT_FAIL;
	ret = t_map_fixed(r->buf, r->len, T_MEM_ANON, PROT_READ | PROT_WRITE, NULL);
	if (!ret && madvise(r->buf, r->len, MADV_HUGEPAGE)) {
		fprintf(stderr, "regcost: madvise(MADV_HUGEPAGE): %s\n", strerror(errno));
		ret = T_EXIT_FAIL;
	}
	if (ret) {
		t_unreserve(r->buf, r->len);
		r->buf = NULL;
	}
	return ret;
}
