/* SPDX-License-Identifier: MIT */
/*
 * Checks the coalescing of registered buffers: for each memory layout the
 * nr_bvecs and seg_shift reported in fdinfo must equal the values derived
 * from the layout, and fixed reads and writes must move the right bytes.
 *
 * The expected values follow the rule of the regbuf series: the segment size
 * is the largest power of two, at least 4 KiB and at most 1 GiB (the largest
 * buffer the kernel registers), such that each segment (the buffer cut at
 * segment-aligned user addresses) lies in one folio with consecutive pages;
 * there is one bvec per segment, the first and last clipped to the buffer.
 *
 * Prerequisites: root; cwd on ext4 with O_DIRECT; free 2 MiB hugepages (4 at
 * a time), hugetlbfs at /dev/hugepages, THP mode madvise or always (the
 * PTE-mapped THP rows also need pfns in /proc/self/pagemap), one free
 * 1 GiB hugepage; rows SKIP without them, and all coalescing assertions SKIP
 * on kernels that print no nr_bvecs/seg_shift in fdinfo.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/memfd.h>
#include <sys/mman.h>

#include "helpers.h"

#define MAX_FOLIOS	64
/* buffers up to this size are checked whole, larger ones in windows */
#define WHOLE_MAX	(16UL << 20)
#define EDGE_WINDOW	(1UL << 20)
#define BOUNDARY_HALF	(8UL << 10)
#define BOUNDARIES_EACH_END	4

/* A user range that maps one whole folio, pages in order. */
struct folio_map {
	uintptr_t start;
	size_t size;
};

struct row {
	const char *name;
	struct t_piece pieces[4];
	unsigned int nr_pieces;
	size_t off;		/* buffer start inside the layout */
};

#define HUGETLB_ROW(n, pages, o) \
	{ n, { { T_MEM_HUGETLB_2M, (pages) * T_SZ_2M } }, 1, o }

static const struct row rows[] = {
	HUGETLB_ROW("hugetlb 2M x1 at +0",		1, 0),
	HUGETLB_ROW("hugetlb 2M x1 at +512",		1, 512),
	HUGETLB_ROW("hugetlb 2M x1 at +4096",		1, 4096),
	HUGETLB_ROW("hugetlb 2M x1 at +2M-4096",	1, T_SZ_2M - 4096),
	HUGETLB_ROW("hugetlb 2M x4 at +0",		4, 0),
	HUGETLB_ROW("hugetlb 2M x4 at +512",		4, 512),
	HUGETLB_ROW("hugetlb 2M x4 at +4096",		4, 4096),
	HUGETLB_ROW("hugetlb 2M x4 at +2M-4096",	4, T_SZ_2M - 4096),
	{ "hugetlbfs file 2M x2", { { T_MEM_HUGETLBFS, 2 * T_SZ_2M } }, 1, 0 },
	{ "THP x2 at +0", { { T_MEM_THP, 2 * T_SZ_2M } }, 1, 0 },
	{ "THP x2 at +4096", { { T_MEM_THP, 2 * T_SZ_2M } }, 1, 4096 },
	{ "THP x2 PTE-mapped at +0", { { T_MEM_THP_PTE, 2 * T_SZ_2M } }, 1, 0 },
	{ "THP x2 PTE-mapped at +4096",
	  { { T_MEM_THP_PTE, 2 * T_SZ_2M } }, 1, 4096 },
	{ "anon 4K + hugetlb 2M",
	  { { T_MEM_ANON, T_PAGE }, { T_MEM_HUGETLB_2M, T_SZ_2M } }, 2, 0 },
	{ "anon 4K + hugetlb 2M + anon 4K",
	  { { T_MEM_ANON, 4 * T_PAGE }, { T_MEM_HUGETLB_2M, T_SZ_2M },
	    { T_MEM_ANON, 4 * T_PAGE } }, 3, 0 },
	{ "hugetlb 1G", { { T_MEM_HUGETLB_1G, T_SZ_1G } }, 1, 0 },
	{ "hugetlb 1G + 2M, last 1G", { { T_MEM_HUGETLB_1G, T_SZ_1G },
	  { T_MEM_HUGETLB_2M, T_SZ_2M } }, 2, T_SZ_2M },
	{ "anon 4K x16", { { T_MEM_ANON, 16 * T_PAGE } }, 1, 0 },
	{ "anon 4K x16 at +100", { { T_MEM_ANON, 16 * T_PAGE } }, 1, 100 },
};

static unsigned int ilog2(size_t v)
{
	return 63 - __builtin_clzl(v);
}

static bool segments_fit(const struct folio_map *m, unsigned int n,
			 uintptr_t ubuf, uintptr_t end, unsigned int shift)
{
	uintptr_t seg, lo, hi;
	unsigned int i;

	for (seg = ubuf >> shift; seg <= (end - 1) >> shift; seg++) {
		lo = seg << shift > ubuf ? seg << shift : ubuf;
		hi = (seg + 1) << shift < end ? (seg + 1) << shift : end;
		for (i = 0; i < n; i++) {
			if (m[i].start <= lo && hi <= m[i].start + m[i].size)
				break;
		}
		if (i == n)
			return false;
	}
	return true;
}

static void derive(const struct folio_map *m, unsigned int n, uintptr_t ubuf,
		   size_t len, unsigned int *shift, unsigned int *nr_bvecs)
{
	uintptr_t end = ubuf + len;
	unsigned int s = ilog2(T_SZ_1G);

	while (s > ilog2(T_PAGE) && !segments_fit(m, n, ubuf, end, s))
		s--;
	*shift = s;
	*nr_bvecs = ((end - 1) >> s) - (ubuf >> s) + 1;
}

/* Folio size of each piece: its page size (anon pieces are MADV_NOHUGEPAGE). */
static unsigned int folio_maps(const struct row *r, const struct t_layout *l,
			       struct folio_map *m)
{
	uintptr_t at = (uintptr_t)l->buf;
	unsigned int i, n = 0;
	size_t fs, off;

	for (i = 0; i < r->nr_pieces; i++) {
		fs = t_mem_pagesize(r->pieces[i].mem);
		for (off = 0; off < r->pieces[i].len && n < MAX_FOLIOS; off += fs) {
			m[n].start = at + off;
			m[n++].size = fs;
		}
		at += r->pieces[i].len;
	}
	return n;
}

/*
 * Fixed I/O on [lo, hi) restricted to what O_DIRECT allows; the file offset
 * mirrors the user address relative to the page holding the buffer start.
 */
static int check_window(struct io_uring *ring, struct t_file *f, char *ubuf,
			size_t len, char *lo, char *hi)
{
	uintptr_t a = f->direct ? f->dio_align : 1;
	char *page = (char *)((uintptr_t)ubuf & ~(T_PAGE - 1));

	if (lo < ubuf)
		lo = ubuf;
	if (hi > ubuf + len)
		hi = ubuf + len;
	lo = (char *)(((uintptr_t)lo + a - 1) & ~(a - 1));
	hi = (char *)((uintptr_t)hi & ~(a - 1));
	if (hi <= lo)
		return T_EXIT_PASS;
	return t_check_fixed_rw(ring, f, 0, lo, hi - lo, lo - page, ubuf,
				ubuf + len);
}

static int check_data(struct io_uring *ring, char *ubuf, size_t len,
		      unsigned int shift, const struct folio_map *m,
		      unsigned int n)
{
	uintptr_t end = (uintptr_t)ubuf + len, first, last, b;
	unsigned int i;
	struct t_file f;
	int direct, ret = T_EXIT_PASS;

	first = (((uintptr_t)ubuf >> shift) + 1) << shift;
	last = ((end - 1) >> shift) << shift;
	for (direct = 1; direct >= 0 && !ret; direct--) {
		ret = t_file_open(&f, direct);
		if (ret)
			return ret;
		if (len <= WHOLE_MAX) {
			ret = check_window(ring, &f, ubuf, len, ubuf, ubuf + len);
		} else {
			ret = check_window(ring, &f, ubuf, len, ubuf,
					   ubuf + EDGE_WINDOW);
			if (!ret)
				ret = check_window(ring, &f, ubuf, len,
						   ubuf + len - EDGE_WINDOW,
						   ubuf + len);
		}
		/* across the first and last segment boundaries ... */
		for (i = 0; i < BOUNDARIES_EACH_END && !ret; i++) {
			b = first + ((uintptr_t)i << shift);
			if (b <= last)
				ret = check_window(ring, &f, ubuf, len,
						   (char *)b - BOUNDARY_HALF,
						   (char *)b + BOUNDARY_HALF);
			b = last - ((uintptr_t)i << shift);
			if (!ret && b >= first)
				ret = check_window(ring, &f, ubuf, len,
						   (char *)b - BOUNDARY_HALF,
						   (char *)b + BOUNDARY_HALF);
		}
		/* ... and across every folio boundary */
		for (i = 0; i < n && !ret; i++)
			ret = check_window(ring, &f, ubuf, len,
					   (char *)m[i].start - BOUNDARY_HALF,
					   (char *)m[i].start + BOUNDARY_HALF);
		t_file_close(&f);
	}
	return ret;
}

/* SKIP if fdinfo has no coalescing info, FAIL if it differs from want. */
static int check_fdinfo(struct io_uring *ring, char *ubuf, size_t len,
			unsigned int shift, unsigned int nr_bvecs)
{
	struct t_ubuf_info info = { 0 };
	int ret;

	ret = t_fdinfo_ubuf(ring, 0, &info);
	if (ret == T_EXIT_FAIL)
		return ret;
	if (info.len && (info.addr != (uintptr_t)ubuf || info.len != len)) {
		t_diag("fdinfo lists 0x%" PRIx64 "/%u, registered %p/%zu",
		       info.addr, info.len, ubuf, len);
		return T_EXIT_FAIL;
	}
	if (ret)
		return ret;
	if (info.seg_shift != shift || info.nr_bvecs != nr_bvecs) {
		t_diag("fdinfo: nr_bvecs=%u seg_shift=%u, want nr_bvecs=%u seg_shift=%u",
		       info.nr_bvecs, info.seg_shift, nr_bvecs, shift);
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

/* Whether fdinfo reports coalescing at all, learnt from a one-page buffer. */
static bool coalescing_reported;
static char no_coalescing[256];

static int probe_coalescing(void)
{
	struct t_ubuf_info info;
	struct io_uring ring;
	struct iovec iov;
	char *page;
	int ret;

	ret = t_ring_setup(&ring);
	if (ret)
		return ret;
	ret = t_alloc(T_MEM_ANON, T_PAGE, &page, NULL);
	if (ret)
		goto out_ring;
	iov.iov_base = page;
	iov.iov_len = T_PAGE;
	ret = t_register_or_skip(&ring, &iov, 1, false);
	if (ret)
		goto out;
	ret = t_fdinfo_ubuf(&ring, 0, &info);
	coalescing_reported = ret == T_EXIT_PASS;
	if (ret == T_EXIT_SKIP) {
		snprintf(no_coalescing, sizeof(no_coalescing), "%s", t_skip_reason());
		ret = T_EXIT_PASS;
	}
	io_uring_unregister_buffers(&ring);
out:
	t_unreserve(page, T_PAGE);
out_ring:
	io_uring_queue_exit(&ring);
	return ret;
}

static int test_row(const struct row *r)
{
	struct folio_map m[MAX_FOLIOS];
	unsigned int n, shift, nr_bvecs;
	struct io_uring ring;
	struct t_layout l;
	struct iovec iov;
	int ret, data, res;

	ret = t_ring_setup(&ring);
	if (ret)
		return ret;
	ret = t_layout_map(&l, r->pieces, r->nr_pieces);
	if (ret)
		goto out;

	iov.iov_base = l.buf + r->off;
	iov.iov_len = l.len - r->off;
	n = folio_maps(r, &l, m);
	derive(m, n, (uintptr_t)iov.iov_base, iov.iov_len, &shift, &nr_bvecs);

	res = io_uring_register_buffers(&ring, &iov, 1);
	if (res && !coalescing_reported) {
		/* e.g. 6.1 refuses mixed sources with -EINVAL */
		ret = t_skip("registration refused (%s) by a kernel without coalescing: %s",
			     t_errname(res), no_coalescing);
		goto out;
	}
	if (res) {
		t_diag("registering the buffer: %s, want 0", t_errname(res));
		ret = T_EXIT_FAIL;
		goto out;
	}
	ret = check_fdinfo(&ring, iov.iov_base, iov.iov_len, shift, nr_bvecs);
	data = check_data(&ring, iov.iov_base, iov.iov_len, shift, m, n);
	if (data == T_EXIT_FAIL || (data == T_EXIT_SKIP && !ret))
		ret = data;
	ret = t_unregister_or_fail(&ring, ret);
out:
	t_layout_unmap(&l);
	io_uring_queue_exit(&ring);
	return ret;
}

static int shmem_small_folios(void)
{
	const char *mode = t_thp_mode("shmem_enabled");

	if (mode && (!strcmp(mode, "always") || !strcmp(mode, "force") ||
		     !strcmp(mode, "within_size")))
		return t_skip("shmem THP enabled (%s): memfd folios may be large",
			      mode);
	return T_EXIT_PASS;
}

/*
 * The one page of a memfd mapped n times in a row: each view is a whole
 * folio on its own, so segments can never span two views.
 */
static int test_alias(size_t page, unsigned int n)
{
	unsigned int i, shift, nr_bvecs, seed, s_last = 0, s_sub = t_seed();
	struct folio_map m[MAX_FOLIOS];
	size_t len = n * page, sub = 200;
	struct io_uring ring;
	struct t_file f;
	struct iovec iov;
	char *resv = NULL, *chunk = NULL;
	int fd = -1, ret, res, direct;
	bool huge = page > T_PAGE;

	if (huge && t_hugepages_avail(page) < 1)
		return t_skip("no free 2 MiB hugepage");
	ret = huge ? T_EXIT_PASS : shmem_small_folios();
	if (ret)
		return ret;
	ret = t_ring_setup(&ring);
	if (ret)
		return ret;

	ret = T_EXIT_FAIL;
	fd = memfd_create("regbuf-alias",
			  MFD_CLOEXEC | (huge ? MFD_HUGETLB | MFD_HUGE_2MB : 0));
	if (fd < 0 || ftruncate(fd, page)) {
		t_diag("memfd of %zu bytes: %s", page, strerror(errno));
		goto out;
	}
	resv = t_reserve(len, page);
	chunk = malloc(page);
	if (!resv || !chunk)
		goto out;
	for (i = 0; i < n; i++) {
		if (mmap(resv + i * page, page, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
			t_diag("mmap view %u: %s", i, strerror(errno));
			goto out;
		}
		m[i].start = (uintptr_t)resv + i * page;
		m[i].size = page;
	}
	derive(m, n, (uintptr_t)resv, len, &shift, &nr_bvecs);

	iov.iov_base = resv;
	iov.iov_len = len;
	ret = t_register_or_skip(&ring, &iov, 1, false);
	if (ret)
		goto out;

	/* memory -> file: every view writes the same page */
	seed = t_seed();
	t_fill(resv, page, seed, 0);
	for (direct = 1; direct >= 0; direct--) {
		ret = t_file_open(&f, direct);
		if (ret)
			goto out_unreg;
		res = t_fixed_io(&ring, true, f.fd, resv, len, 0, 0);
		if (res != (int)len) {
			t_diag("fixed write of all views: %s", t_errname(res));
			ret = T_EXIT_FAIL;
		}
		for (i = 0; i < n && !ret; i++) {
			if (pread(f.bfd, chunk, page, i * page) != (ssize_t)page)
				ret = T_EXIT_FAIL;
			else
				ret = t_verify(chunk, page, seed, 0,
					       "file copy of a view");
		}
		t_file_close(&f);
		if (ret)
			goto out_unreg;
	}

	ret = t_file_open(&f, false);
	if (ret)
		goto out_unreg;
	/* a write across two views takes the end, then the start of the page */
	res = t_fixed_io(&ring, true, f.fd, resv + page - sub / 2, sub, 0, 0);
	if (res != (int)sub || pread(f.bfd, chunk, sub, 0) != (ssize_t)sub) {
		t_diag("fixed write across views: %s", t_errname(res));
		ret = T_EXIT_FAIL;
	}
	if (!ret)
		ret = t_verify(chunk, sub / 2, seed, page - sub / 2,
			       "file from the end of view 0");
	if (!ret)
		ret = t_verify(chunk + sub / 2, sub / 2, seed, 0,
			       "file from the start of view 1");

	/* file -> memory: the views are read in order, the last one wins */
	for (i = 0; i < n && !ret; i++) {
		s_last = t_seed();
		t_fill(chunk, page, s_last, 0);
		if (pwrite(f.bfd, chunk, page, i * page) != (ssize_t)page)
			ret = T_EXIT_FAIL;
	}
	if (!ret) {
		res = t_fixed_io(&ring, false, f.fd, resv, len, 0, 0);
		if (res != (int)len) {
			t_diag("fixed read into all views: %s", t_errname(res));
			ret = T_EXIT_FAIL;
		}
	}
	if (!ret && pread(fd, chunk, page, 0) != (ssize_t)page)
		ret = T_EXIT_FAIL;
	if (!ret)
		ret = t_verify(chunk, page, s_last, 0, "memfd page after reading all views");

	/* a small read into the last view changes just those bytes of the page */
	if (!ret) {
		t_fill(chunk, sub, s_sub, 0);
		if (pwrite(f.bfd, chunk, sub, 0) != (ssize_t)sub)
			ret = T_EXIT_FAIL;
	}
	if (!ret) {
		res = t_fixed_io(&ring, false, f.fd, resv + len - page + 50, sub, 0, 0);
		if (res != (int)sub) {
			t_diag("fixed read into the last view: %s", t_errname(res));
			ret = T_EXIT_FAIL;
		}
	}
	if (!ret)
		ret = t_verify(resv + 50, sub, s_sub, 0, "view 0 after a read into the last view");
	if (!ret)
		ret = t_verify(resv, 50, s_last, 0, "bytes below the small read");
	if (!ret)
		ret = t_verify(resv + 50 + sub, page - 50 - sub, s_last, 50 + sub,
			       "bytes above the small read");
	t_file_close(&f);
	if (ret)
		goto out_unreg;

	ret = check_fdinfo(&ring, resv, len, shift, nr_bvecs);
out_unreg:
	ret = t_unregister_or_fail(&ring, ret);
out:
	free(chunk);
	t_unreserve(resv, len);
	if (fd >= 0)
		close(fd);
	io_uring_queue_exit(&ring);
	return ret;
}

int main(void)
{
	unsigned int i;
	int ret;

	t_tap_plan(T_ARRAY_SIZE(rows) + 2);
	ret = probe_coalescing();
	if (ret) {
		for (i = 0; i < T_ARRAY_SIZE(rows) + 2; i++)
			t_tap_result(ret, "probing fdinfo");
		return t_tap_exit();
	}
	for (i = 0; i < T_ARRAY_SIZE(rows); i++)
		t_tap_result(test_row(&rows[i]), "%s", rows[i].name);
	t_tap_result(test_alias(T_PAGE, 4), "memfd 4K page mapped 4 times");
	t_tap_result(test_alias(T_SZ_2M, 2), "hugetlb memfd 2M page mapped 2 times");
	return t_tap_exit();
}
