/* SPDX-License-Identifier: MIT */
/*
 * Memory of every type a test registers: checks that it can be had,
 * reservations, fixed mappings, layouts of mixed pieces.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/mman.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "helpers.h"

/* ---- memory ---- */

const char *t_mem_name(enum t_mem m)
{
	switch (m) {
	case T_MEM_ANON:		return "anon 4K";
	case T_MEM_THP:			return "anon THP";
	case T_MEM_THP_PTE:		return "anon THP, PTE-mapped";
	case T_MEM_ANON_SHARED:		return "MAP_SHARED anon";
	case T_MEM_MEMFD:		return "memfd";
	case T_MEM_TMPFS:		return "tmpfs file";
	case T_MEM_HUGETLBFS:		return "hugetlbfs file";
	case T_MEM_HUGETLB_2M:		return "MAP_HUGETLB 2M";
	case T_MEM_HUGETLB_1G:		return "MAP_HUGETLB 1G";
	case T_MEM_EXT4_SHARED:		return "ext4 MAP_SHARED";
	case T_MEM_EXT4_PRIVATE:	return "ext4 MAP_PRIVATE";
	}
	return "?";
}

size_t t_mem_pagesize(enum t_mem m)
{
	switch (m) {
	case T_MEM_THP:
	case T_MEM_THP_PTE:
	case T_MEM_HUGETLBFS:
	case T_MEM_HUGETLB_2M:
		return T_SZ_2M;
	case T_MEM_HUGETLB_1G:
		return T_SZ_1G;
	default:
		return T_PAGE;
	}
}

/* The kernel prints these counters unsigned; -1 if unreadable. */
static long read_counter(const char *path)
{
	FILE *fp = fopen(path, "r");
	unsigned long val;
	long ret = -1;

	if (!fp)
		return -1;
	if (fscanf(fp, "%lu", &val) == 1 && val <= LONG_MAX)
		ret = val;
	fclose(fp);
	return ret;
}

long t_hugepages_avail(size_t pagesize)
{
	char path[128];
	long nfree, resv;

	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%zukB/free_hugepages",
		 pagesize >> 10);
	nfree = read_counter(path);
	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%zukB/resv_hugepages",
		 pagesize >> 10);
	resv = read_counter(path);
	if (nfree < 0)
		return 0;
	/*
	 * A reservation count that went below zero (seen on 6.18 after
	 * hugetlb mappings were torn down) reads as a huge number; it reserves
	 * nothing then.
	 */
	if (resv < 0 || resv > nfree)
		resv = 0;
	return nfree - resv;
}

static bool fs_is(const char *path, long magic)
{
	struct statfs sfs;

	return !statfs(path, &sfs) && (long)sfs.f_type == magic;
}

static const char *tmpfs_dir(void)
{
	if (fs_is("/tmp", TMPFS_MAGIC))
		return "/tmp";
	if (fs_is("/dev/shm", TMPFS_MAGIC))
		return "/dev/shm";
	return NULL;
}

const char *t_thp_mode(const char *knob)
{
	static char mode[32];
	char line[128], *open, *close;
	FILE *fp;

	snprintf(line, sizeof(line), "/sys/kernel/mm/transparent_hugepage/%s",
		 knob);
	fp = fopen(line, "r");
	if (!fp)
		return NULL;
	if (!fgets(line, sizeof(line), fp))
		line[0] = '\0';
	fclose(fp);
	open = strchr(line, '[');
	close = open ? strchr(open, ']') : NULL;
	if (!close)
		return NULL;
	snprintf(mode, sizeof(mode), "%.*s", (int)(close - open - 1), open + 1);
	return mode;
}

static int thp_check(void)
{
	const char *mode = t_thp_mode("enabled");

	if (!mode)
		return t_skip("no THP support (CONFIG_TRANSPARENT_HUGEPAGE off)");
	if (!strcmp(mode, "never"))
		return t_skip("THP mode is never");
	return T_EXIT_PASS;
}

static int hugepage_check(size_t pagesize, size_t len)
{
	long want = len / pagesize, have = t_hugepages_avail(pagesize);

	if (have < want)
		return t_skip("need %ld free %zu MiB hugepages, have %ld",
			      want, pagesize >> 20, have);
	return T_EXIT_PASS;
}

int t_mem_check(enum t_mem m, size_t len)
{
	struct statfs sfs;

	if (!len || len % t_mem_pagesize(m)) {
		t_diag("%s: length %zu is not a multiple of %zu", t_mem_name(m),
		       len, t_mem_pagesize(m));
		return T_EXIT_FAIL;
	}
	switch (m) {
	case T_MEM_THP:
	case T_MEM_THP_PTE:
		return thp_check();
	case T_MEM_HUGETLB_2M:
		return hugepage_check(T_SZ_2M, len);
	case T_MEM_HUGETLB_1G:
		return hugepage_check(T_SZ_1G, len);
	case T_MEM_HUGETLBFS:
		if (statfs("/dev/hugepages", &sfs) ||
		    sfs.f_type != (typeof(sfs.f_type))HUGETLBFS_MAGIC)
			return t_skip("hugetlbfs not mounted at /dev/hugepages");
		if ((size_t)sfs.f_bsize != T_SZ_2M)
			return t_skip("/dev/hugepages page size is %ld, not 2 MiB",
				      (long)sfs.f_bsize);
		return hugepage_check(T_SZ_2M, len);
	case T_MEM_TMPFS:
		if (!tmpfs_dir())
			return t_skip("neither /tmp nor /dev/shm is tmpfs");
		return T_EXIT_PASS;
	case T_MEM_EXT4_SHARED:
	case T_MEM_EXT4_PRIVATE:
		if (!fs_is(".", EXT4_SUPER_MAGIC))
			return t_skip("cwd is not on ext4");
		return T_EXIT_PASS;
	default:
		return T_EXIT_PASS;
	}
}

char *t_reserve(size_t len, size_t align)
{
	char *p, *base;
	size_t head;

	p = mmap(NULL, len + align, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		t_diag("reserve %zu bytes: %s", len + align, strerror(errno));
		return NULL;
	}
	base = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	head = base - p;
	if (head)
		munmap(p, head);
	if (align - head)
		munmap(base + len, align - head);
	return base;
}

void t_unreserve(char *base, size_t len)
{
	if (base)
		munmap(base, len);
}

static int create_file(const char *dir, size_t len)
{
	static unsigned int nr;
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/regbuf-%d-%u", dir, getpid(),
		 __atomic_fetch_add(&nr, 1, __ATOMIC_RELAXED));
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		t_diag("create %s: %s", path, strerror(errno));
		return -1;
	}
	unlink(path);
	if (ftruncate(fd, len)) {
		t_diag("ftruncate %s to %zu: %s", path, len, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int thp_populate(char *at, size_t len)
{
	size_t off;
	long huge;

	if (madvise(at, len, MADV_HUGEPAGE)) {
		t_diag("madvise(MADV_HUGEPAGE): %s", strerror(errno));
		return T_EXIT_FAIL;
	}
	for (off = 0; off < len; off += T_SZ_2M)
		at[off] = 1;
	huge = t_anon_huge_bytes(at);
	if (huge < (long)len)
		return t_skip("no THP: AnonHugePages of the mapping is %ld kB, want %zu kB",
			      huge < 0 ? 0 : huge >> 10, len >> 10);
	return T_EXIT_PASS;
}

/*
 * Splits the PMD mapping of each THP into PTEs and keeps the THP: making
 * one page read-only splits the mapping there (a PMD maps one protection),
 * and making it writable again merges the vmas but leaves the PTEs. The
 * THP must stay one folio: 512 pages at consecutive pfns from an aligned
 * one, read from pagemap (root only).
 */
static int thp_map_by_ptes(char *at, size_t len)
{
	size_t off, i;

	for (off = 0; off < len; off += T_SZ_2M) {
		if (mprotect(at + off, T_PAGE, PROT_READ) ||
		    mprotect(at + off, T_PAGE, PROT_READ | PROT_WRITE)) {
			t_diag("mprotect: %s", strerror(errno));
			return T_EXIT_FAIL;
		}
	}
	if (t_anon_huge_bytes(at) != 0)
		return t_skip("THP still PMD-mapped after mprotect");
	for (off = 0; off < len; off += T_SZ_2M) {
		uint64_t first = t_pagemap_pfn(at + off);

		if (!first)
			return t_skip("no pfns in /proc/self/pagemap (not root?)");
		if (first % (T_SZ_2M / T_PAGE))
			return t_skip("THP at +%zu split after mprotect", off);
		for (i = 1; i < T_SZ_2M / T_PAGE; i++)
			if (t_pagemap_pfn(at + off + i * T_PAGE) != first + i)
				return t_skip("THP at +%zu split after mprotect",
					      off);
	}
	return T_EXIT_PASS;
}

int t_map_fixed(char *at, size_t len, enum t_mem m, int prot, int *fdp)
{
	int flags = MAP_FIXED, fd = -1, ret;
	void *p;

	if (fdp)
		*fdp = -1;
	ret = t_mem_check(m, len);
	if (ret)
		return ret;
	if ((uintptr_t)at % t_mem_pagesize(m)) {
		t_diag("%s at %p: misaligned", t_mem_name(m), at);
		return T_EXIT_FAIL;
	}

	switch (m) {
	case T_MEM_ANON:
	case T_MEM_THP:
	case T_MEM_THP_PTE:
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
		break;
	case T_MEM_ANON_SHARED:
		flags |= MAP_SHARED | MAP_ANONYMOUS;
		break;
	case T_MEM_HUGETLB_2M:
		flags |= MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB;
		break;
	case T_MEM_HUGETLB_1G:
		flags |= MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_1GB;
		break;
	case T_MEM_MEMFD:
		flags |= MAP_SHARED;
		fd = memfd_create("regbuf", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, len)) {
			t_diag("memfd of %zu bytes: %s", len, strerror(errno));
			if (fd >= 0)
				close(fd);
			return T_EXIT_FAIL;
		}
		break;
	case T_MEM_TMPFS:
		flags |= MAP_SHARED;
		fd = create_file(tmpfs_dir(), len);
		break;
	case T_MEM_HUGETLBFS:
		flags |= MAP_SHARED;
		fd = create_file("/dev/hugepages", len);
		break;
	case T_MEM_EXT4_SHARED:
		flags |= MAP_SHARED;
		fd = create_file(".", len);
		break;
	case T_MEM_EXT4_PRIVATE:
		flags |= MAP_PRIVATE;
		fd = create_file(".", len);
		break;
	}
	if (!(flags & MAP_ANONYMOUS) && fd < 0)
		return T_EXIT_FAIL;

	p = mmap(at, len, prot, flags, fd, 0);
	if (p == MAP_FAILED) {
		ret = errno;
		if (fd >= 0)
			close(fd);
		if (ret == ENOMEM && t_mem_pagesize(m) > T_PAGE)
			return t_skip("mmap of %zu bytes of %s: ENOMEM (hugepages taken?)",
				      len, t_mem_name(m));
		t_diag("mmap %zu bytes of %s at %p: %s", len, t_mem_name(m), at,
		       strerror(ret));
		return T_EXIT_FAIL;
	}

	ret = T_EXIT_PASS;
	if (m == T_MEM_ANON && madvise(at, len, MADV_NOHUGEPAGE)) {
		t_diag("madvise(MADV_NOHUGEPAGE): %s", strerror(errno));
		ret = T_EXIT_FAIL;
	} else if (m == T_MEM_THP || m == T_MEM_THP_PTE) {
		ret = thp_populate(at, len);
		if (!ret && m == T_MEM_THP_PTE)
			ret = thp_map_by_ptes(at, len);
	}
	if (fdp && !ret)
		*fdp = fd;
	else if (fd >= 0)
		close(fd);
	return ret;
}

int t_alloc(enum t_mem m, size_t len, char **bufp, int *fdp)
{
	char *base;
	int ret;

	*bufp = NULL;
	if (fdp)
		*fdp = -1;
	ret = t_mem_check(m, len);
	if (ret)
		return ret;
	base = t_reserve(len, t_mem_pagesize(m));
	if (!base)
		return T_EXIT_FAIL;
	ret = t_map_fixed(base, len, m, PROT_READ | PROT_WRITE, fdp);
	if (ret) {
		t_unreserve(base, len);
		return ret;
	}
	*bufp = base;
	return T_EXIT_PASS;
}

int t_layout_map(struct t_layout *l, const struct t_piece *pieces,
		 unsigned int nr)
{
	size_t align = T_PAGE, lead = 0, off;
	unsigned int i;
	int ret;

	memset(l, 0, sizeof(*l));
	for (i = 0; i < T_LAYOUT_MAX; i++)
		l->fd[i] = -1;
	if (nr > T_LAYOUT_MAX) {
		t_diag("layout of %u pieces, at most %d", nr, T_LAYOUT_MAX);
		return T_EXIT_FAIL;
	}
	for (i = 0; i < nr; i++) {
		ret = t_mem_check(pieces[i].mem, pieces[i].len);
		if (ret)
			return ret;
		/* the first piece of the largest page size fixes the start */
		if (t_mem_pagesize(pieces[i].mem) > align) {
			align = t_mem_pagesize(pieces[i].mem);
			lead = l->len;
		}
		l->len += pieces[i].len;
	}
	l->resv_len = l->len + align;
	l->resv = t_reserve(l->resv_len, align);
	if (!l->resv)
		return T_EXIT_FAIL;
	l->buf = l->resv + (align - lead % align) % align;
	for (i = 0, off = 0; i < nr; off += pieces[i].len, i++) {
		ret = t_map_fixed(l->buf + off, pieces[i].len, pieces[i].mem,
				  PROT_READ | PROT_WRITE, &l->fd[i]);
		if (ret) {
			t_layout_unmap(l);
			return ret;
		}
	}
	return T_EXIT_PASS;
}

void t_layout_unmap(struct t_layout *l)
{
	unsigned int i;

	for (i = 0; i < T_LAYOUT_MAX; i++) {
		if (l->fd[i] >= 0)
			close(l->fd[i]);
		l->fd[i] = -1;
	}
	t_unreserve(l->resv, l->resv_len);
	l->resv = l->buf = NULL;
}

int t_alias_map(enum t_mem m, size_t size, unsigned int n, char **bufp)
{
	char *resv = t_reserve(n * size, size);
	unsigned int i;
	int fd, ret;

	if (!resv)
		return T_EXIT_FAIL;
	ret = t_map_fixed(resv, size, m, PROT_READ | PROT_WRITE, &fd);
	for (i = 1; !ret && i < n; i++) {
		if (mmap(resv + i * size, size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
			t_diag("alias %u of a %s page: %s", i, t_mem_name(m),
			       strerror(errno));
			ret = T_EXIT_FAIL;
		}
	}
	if (fd >= 0)
		close(fd);
	*bufp = resv;
	return ret;
}
