// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of io_uring/regbuf.c, compiled unmodified against the stub
 * headers in include/ and the fake kernel in fake_kernel.c: coalescing and
 * import are checked against a page-by-page reference model on chosen and
 * random layouts, accounting against the set of distinct folios pinned,
 * and every error path for leaks of memory, pins and charges.
 *
 * UNIT_SEED=<n> replays the random tests with another seed.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/kernel.h>
#include <linux/errno.h>
#include <linux/mm.h>
#include <linux/sizes.h>
#include <linux/uio.h>
#include <linux/io_uring_types.h>
#include <linux/sched/signal.h>

#include "../io_uring/regbuf.h"
#include "fake.h"

#define ASSERT_TRUE(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "  %s:%d: ASSERT_TRUE(%s)\n",		\
			__FILE__, __LINE__, #cond);			\
		return false;						\
	}								\
} while (0)

#define ASSERT_EQ(a, b) do {						\
	long long __a = (long long)(a), __b = (long long)(b);		\
	if (__a != __b) {						\
		fprintf(stderr, "  %s:%d: %s == %s: %lld != %lld\n",	\
			__FILE__, __LINE__, #a, #b, __a, __b);		\
		return false;						\
	}								\
} while (0)

/* Runs a checker returning bool and fails the calling test with it. */
#define ASSERT_OK(call)	ASSERT_TRUE(call)

static unsigned long long seed;
static unsigned long long rng_state;

static unsigned long long rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static unsigned long rnd_below(unsigned long n)
{
	return n ? rnd() % n : 0;
}

static bool chance(unsigned int percent)
{
	return rnd_below(100) < percent;
}

/* A ring as regbuf.c sees it; the memlock limit only binds with a user. */
struct ring {
	struct io_ring_ctx	ctx;
	struct user_struct	user;
	struct mm_struct	mm;
};

static void ring_init(struct ring *r, bool memlock_limited)
{
	memset(r, 0, sizeof(*r));
	r->ctx.dummy_ubuf = calloc(1, sizeof(*r->ctx.dummy_ubuf));
	r->ctx.dummy_ubuf->ubuf = -1ULL;
	r->ctx.user = memlock_limited ? &r->user : NULL;
	r->ctx.mm_account = &r->mm;
	io_regbuf_ctx_init(&r->ctx);
}

static void ring_exit(struct ring *r)
{
	io_regbuf_ctx_exit(&r->ctx);
	free(r->ctx.dummy_ubuf);
}

static long ring_locked(struct ring *r)
{
	return atomic_long_read(&r->user.locked_vm);
}

static long ring_pinned_vm(struct ring *r)
{
	return r->mm.pinned_vm.counter;
}

/* A buffer as user space sees it: an address, a length, a pfn per page. */
struct layout {
	unsigned long	ubuf;
	unsigned long	len;
	unsigned long	nr_pages;
	unsigned long	pfns[];
};

static struct layout *layout_new(unsigned long ubuf, unsigned long len)
{
	unsigned long first = ubuf >> PAGE_SHIFT;
	unsigned long nr = ((ubuf + len - 1) >> PAGE_SHIFT) - first + 1;
	struct layout *l = calloc(1, sizeof(*l) + nr * sizeof(l->pfns[0]));

	l->ubuf = ubuf;
	l->len = len;
	l->nr_pages = nr;
	return l;
}

/* Fills pages [at, at + nr) of @l with consecutive pages of a folio. */
static void layout_fill(struct layout *l, unsigned long at, unsigned long pfn,
			unsigned long nr)
{
	while (nr--)
		l->pfns[at++] = pfn++;
}

static void layout_map(const struct layout *l)
{
	unit_map(l->ubuf & PAGE_MASK, l->pfns, l->nr_pages);
}

static int layout_register(struct ring *r, const struct layout *l,
			   struct io_mapped_ubuf **imu)
{
	struct iovec iov = { .iov_base = (void *)l->ubuf, .iov_len = l->len };

	layout_map(l);
	return io_regbuf_register(&r->ctx, &iov, imu);
}

static unsigned long head_of(unsigned long pfn)
{
	return unit_memmap[pfn].head;
}

static unsigned long folio_pages_of(unsigned long pfn)
{
	return 1UL << unit_memmap[pfn].order;
}

/* Order-0 folios nobody maps, to move the next folio along. */
static void skip_small_folios(unsigned long nr)
{
	while (nr--)
		unit_folio_new(0);
}

/* @nr order-0 folios at consecutive pfns; returns the first. */
static unsigned long small_folio_run(unsigned long nr)
{
	unsigned long first = unit_folio_new(0);

	skip_small_folios(nr - 1);
	return first;
}

/* Order-0 folios nobody maps until the next free pfn is a multiple of @n. */
static void align_small_folios(unsigned long n)
{
	while (unit_next_free_pfn(0) & (n - 1))
		unit_folio_new(0);
}

/*
 * Registers @l into the ring's counters, where regbuf.c would leave a
 * buffer that shares no folio out of them: a buffer of @l's first page is
 * there while @l is registered, and gone after.
 */
static int layout_register_counted(struct ring *r, const struct layout *l,
				   struct io_mapped_ubuf **imu)
{
	struct layout *one = layout_new(0x7fff00000000UL, PAGE_SIZE);
	struct io_mapped_ubuf *ione;
	int ret;

	one->pfns[0] = l->pfns[0];
	ret = layout_register(r, one, &ione);
	if (!ret) {
		ret = layout_register(r, l, imu);
		io_regbuf_release(&r->ctx, ione);
	}
	free(one);
	return ret;
}

/* The reference rule, page by page: may page j share a segment with j - 1? */
static bool ref_continues(const struct layout *l, unsigned long j)
{
	return head_of(l->pfns[j]) == head_of(l->pfns[j - 1]) &&
	       l->pfns[j] == l->pfns[j - 1] + 1;
}

/*
 * The reference segment shift: no larger than the largest buffer
 * io_buffer_validate() accepts, and no larger than the alignment of any
 * address where the page-by-page rule refuses to continue a segment.
 */
static unsigned int ref_seg_shift(const struct layout *l)
{
	unsigned long first_page = l->ubuf & PAGE_MASK;
	unsigned int shift = __builtin_ctzl(SZ_1G), j;

	for (j = 1; j < l->nr_pages; j++) {
		unsigned int ctz = __builtin_ctzl(first_page + j * PAGE_SIZE);

		if (!ref_continues(l, j) && ctz < shift)
			shift = ctz;
	}
	return shift;
}

/*
 * Rebuilds the expected bvecs page by page, opening a segment at the start
 * and at each user address aligned to the reference segment size, and
 * compares them with what regbuf built.
 */
static bool check_bvecs(const struct layout *l,
			const struct io_mapped_ubuf *imu)
{
	unsigned long seg_mask = (1UL << ref_seg_shift(l)) - 1;
	unsigned long end = l->ubuf + l->len;
	const struct bio_vec *bv = NULL;
	unsigned long j, seg_pages = 0, seg_len = 0;
	long k = -1;

	ASSERT_EQ(imu->seg_shift, ref_seg_shift(l));
	ASSERT_EQ(imu->ubuf, l->ubuf);
	ASSERT_EQ(imu->ubuf_end, end);
	for (j = 0; j < l->nr_pages; j++) {
		unsigned long page_addr = (l->ubuf & PAGE_MASK) + j * PAGE_SIZE;
		unsigned long from = max(l->ubuf, page_addr);
		unsigned long to = min(end, page_addr + PAGE_SIZE);

		if (j == 0 || !(from & seg_mask)) {
			if (bv)
				ASSERT_EQ(bv->bv_len, seg_len);
			k++;
			ASSERT_TRUE(k < (long)imu->nr_bvecs);
			bv = &imu->bvec[k];
			ASSERT_EQ(page_to_pfn(bv->bv_page), l->pfns[j]);
			ASSERT_EQ(bv->bv_offset, offset_in_page(from));
			ASSERT_TRUE(bv->bv_offset < PAGE_SIZE);
			seg_pages = 0;
			seg_len = 0;
		} else {
			/* inside a segment: the next page of the same folio */
			ASSERT_EQ(page_to_pfn(bv->bv_page) + seg_pages,
				  l->pfns[j]);
			ASSERT_EQ(head_of(l->pfns[j]),
				  head_of(page_to_pfn(bv->bv_page)));
		}
		seg_pages++;
		seg_len += to - from;
	}
	ASSERT_EQ(bv->bv_len, seg_len);
	ASSERT_EQ(imu->nr_bvecs, k + 1);
	return true;
}

/*
 * Imports [off, off + len) of the buffer and walks the iterator the way
 * lib/iov_iter.c does, page fragment by page fragment, checking the pfn
 * and in-page offset of every fragment against the layout, and that the
 * iterator holds exactly the segments the range touches.
 */
static bool check_import(const struct layout *l, struct io_mapped_ubuf *imu,
			 unsigned long off, unsigned long len)
{
	unsigned long left = len, skip, seg = 0, boff = off;
	struct iov_iter it;

	ASSERT_EQ(io_import_fixed(ITER_DEST, &it, imu, l->ubuf + off, len), 0);
	ASSERT_EQ(it.count, len);
	ASSERT_TRUE(it.bvec >= imu->bvec &&
		    it.bvec + it.nr_segs <= imu->bvec + imu->nr_bvecs);
	if (!len) {
		ASSERT_EQ(it.nr_segs, 0);
		return true;
	}
	skip = it.iov_offset;
	ASSERT_TRUE(skip < it.bvec[0].bv_len);
	while (left) {
		const struct bio_vec *bv = &it.bvec[seg];
		unsigned long at = bv->bv_offset + skip;
		unsigned long uaddr = l->ubuf + boff;
		unsigned long upage = (uaddr >> PAGE_SHIFT) -
				      (l->ubuf >> PAGE_SHIFT);
		unsigned long n;

		ASSERT_TRUE(seg < it.nr_segs);
		n = min(left, min((unsigned long)bv->bv_len - skip,
				  PAGE_SIZE - at % PAGE_SIZE));
		ASSERT_EQ(page_to_pfn(bv->bv_page) + at / PAGE_SIZE,
			  l->pfns[upage]);
		ASSERT_EQ(at % PAGE_SIZE, offset_in_page(uaddr));
		boff += n;
		left -= n;
		skip += n;
		if (skip == bv->bv_len) {
			skip = 0;
			seg++;
		}
	}
	ASSERT_EQ(seg + (skip ? 1 : 0), it.nr_segs);
	return true;
}

/* Whether segment @i gets the expensive long-range imports. */
static bool sampled_segment(unsigned int i, unsigned int nr)
{
	return i < 4 || i + 4 >= nr || chance(2);
}

/*
 * Registers @l, checks its bvecs, and imports the whole buffer and ranges
 * starting or ending exactly on segment boundaries or straddling them.
 */
static bool check_layout(struct ring *r, const struct layout *l)
{
	struct io_mapped_ubuf *imu;
	unsigned long seg_off = 0;
	unsigned int i;

	ASSERT_EQ(layout_register(r, l, &imu), 0);
	ASSERT_OK(check_bvecs(l, imu));
	ASSERT_OK(check_import(l, imu, 0, l->len));
	for (i = 0; i < imu->nr_bvecs; i++) {
		unsigned long seg_end = seg_off + imu->bvec[i].bv_len;

		ASSERT_OK(check_import(l, imu, seg_off, seg_end - seg_off));
		ASSERT_OK(check_import(l, imu, seg_end - 1, 1));
		if (seg_off)
			ASSERT_OK(check_import(l, imu, seg_off - 1, 2));
		if (sampled_segment(i, imu->nr_bvecs)) {
			ASSERT_OK(check_import(l, imu, seg_off,
					       l->len - seg_off));
			ASSERT_OK(check_import(l, imu, 0, seg_end));
		}
		seg_off = seg_end;
	}
	io_regbuf_release(&r->ctx, imu);
	return true;
}

/*
 * Checks @l in a ring of its own with check_layout(), after checking that
 * the reference model expects segment shift @shift of it; frees @l.
 */
static bool check_layout_alone(struct layout *l, unsigned int shift)
{
	struct ring r;

	ring_init(&r, true);
	ASSERT_EQ(ref_seg_shift(l), shift);
	ASSERT_OK(check_layout(&r, l));
	ring_exit(&r);
	free(l);
	return true;
}

static bool test_validate_errnos(void)
{
	struct iovec iov;

	iov = (struct iovec) { NULL, 0 };
	ASSERT_EQ(io_buffer_validate(&iov), 0);
	iov = (struct iovec) { NULL, 4096 };
	ASSERT_EQ(io_buffer_validate(&iov), -EFAULT);
	iov = (struct iovec) { (void *)0x10000, 0 };
	ASSERT_EQ(io_buffer_validate(&iov), -EFAULT);
	iov = (struct iovec) { (void *)0x10000, SZ_1G + 1UL };
	ASSERT_EQ(io_buffer_validate(&iov), -EFAULT);
	iov = (struct iovec) { (void *)0x10000, SZ_1G };
	ASSERT_EQ(io_buffer_validate(&iov), 0);
	iov = (struct iovec) { (void *)(-PAGE_SIZE), 1 };
	ASSERT_EQ(io_buffer_validate(&iov), -EOVERFLOW);
	iov = (struct iovec) { (void *)(-2 * PAGE_SIZE), PAGE_SIZE };
	ASSERT_EQ(io_buffer_validate(&iov), 0);
	return true;
}

static bool test_empty_slot_is_dummy(void)
{
	struct iovec iov = { NULL, 0 };
	struct io_mapped_ubuf *imu = NULL;
	struct iov_iter it;
	struct ring r;

	ring_init(&r, true);
	ASSERT_EQ(io_regbuf_register(&r.ctx, &iov, &imu), 0);
	ASSERT_TRUE(imu == r.ctx.dummy_ubuf);
	ASSERT_EQ(imu->nr_bvecs, 0);
	ASSERT_EQ(imu->seg_shift, 0);
	ASSERT_EQ(io_import_fixed(ITER_DEST, &it, imu, 0, 0), -EFAULT);
	ASSERT_EQ(io_import_fixed(ITER_DEST, &it, imu, -1ULL, 0), -EFAULT);
	io_regbuf_release(&r.ctx, imu);
	ASSERT_EQ(unit_pin_calls, 0);
	ring_exit(&r);
	return true;
}

static bool test_pin_pages_errors(void)
{
	unsigned long pfns[4];
	struct page **pages;
	int nr;

	ASSERT_TRUE(PTR_ERR(io_pin_pages(-PAGE_SIZE, PAGE_SIZE, &nr)) ==
		    -EOVERFLOW);
	ASSERT_TRUE(PTR_ERR(io_pin_pages(-2 * PAGE_SIZE, PAGE_SIZE + 1, &nr)) ==
		    -EOVERFLOW);

	pfns[0] = unit_folio_new(0);
	pfns[1] = unit_folio_new(0);
	pfns[2] = unit_folio_new(0);
	pfns[3] = UNIT_PFN_EOPNOTSUPP;
	unit_map(0x100000, pfns, 4);

	pages = io_pin_pages(0x100000 + 100, 2 * PAGE_SIZE, &nr);
	ASSERT_TRUE(!IS_ERR(pages));
	ASSERT_EQ(nr, 3);
	ASSERT_EQ(unit_pinned, 3);
	unpin_user_pages(pages, nr);
	kvfree(pages);

	/* GUP's errors come through unchanged, nothing stays pinned */
	ASSERT_EQ(PTR_ERR(io_pin_pages(0x100000, 4 * PAGE_SIZE, &nr)),
		  -EOPNOTSUPP);
	ASSERT_EQ(PTR_ERR(io_pin_pages(0x100000 + 2 * PAGE_SIZE,
				       3 * PAGE_SIZE, &nr)), -EOPNOTSUPP);
	ASSERT_EQ(PTR_ERR(io_pin_pages(0x100000 + 4 * PAGE_SIZE,
				       PAGE_SIZE, &nr)), -EFAULT);
	unit_pin_errno = -EFAULT;
	ASSERT_EQ(PTR_ERR(io_pin_pages(0x100000, PAGE_SIZE, &nr)), -EFAULT);
	unit_fail_alloc_at(1);
	ASSERT_EQ(PTR_ERR(io_pin_pages(0x100000, PAGE_SIZE, &nr)), -ENOMEM);
	ASSERT_EQ(unit_pinned, 0);

	/* a short count breaks the contract: warn, undo, report a fault */
	unit_pin_short = 1;
	unit_warning_expected = true;
	ASSERT_EQ(PTR_ERR(io_pin_pages(0x100000, 2 * PAGE_SIZE, &nr)), -EFAULT);
	ASSERT_EQ(unit_warnings, 1);
	unit_warnings = 0;
	return true;
}

static bool test_coalesce_scattered_small_pages(void)
{
	struct layout *l = layout_new(0x7f0000001000UL, 64 * PAGE_SIZE);
	unsigned long j;

	for (j = 0; j < l->nr_pages; j++) {
		l->pfns[j] = unit_folio_new(0);
		unit_folio_new(0);
	}
	return check_layout_alone(l, PAGE_SHIFT);
}

/* Physically adjacent small folios are still separate folios. */
static bool test_coalesce_never_crosses_small_folios(void)
{
	struct layout *l = layout_new(0x200000, 16 * PAGE_SIZE);
	struct io_mapped_ubuf *imu;
	struct ring r;
	unsigned long j;

	for (j = 0; j < l->nr_pages; j++)
		l->pfns[j] = unit_folio_new(0);
	ASSERT_EQ(l->pfns[15], l->pfns[0] + 15);
	ring_init(&r, true);
	ASSERT_EQ(layout_register(&r, l, &imu), 0);
	ASSERT_EQ(imu->seg_shift, PAGE_SHIFT);
	ASSERT_EQ(imu->nr_bvecs, 16);
	ASSERT_OK(check_bvecs(l, imu));
	io_regbuf_release(&r.ctx, imu);
	ring_exit(&r);
	free(l);
	return true;
}

static bool test_coalesce_aligned_thp(void)
{
	struct layout *l = layout_new(0x7f0000200000UL, SZ_2M);
	struct io_mapped_ubuf *imu;
	struct ring r;

	layout_fill(l, 0, unit_folio_new(9), 512);
	ring_init(&r, true);
	ASSERT_EQ(layout_register(&r, l, &imu), 0);
	ASSERT_EQ(imu->seg_shift, 30);
	ASSERT_EQ(imu->nr_bvecs, 1);
	ASSERT_EQ(imu->bvec[0].bv_len, SZ_2M);
	ASSERT_EQ(ring_locked(&r), 512);
	ASSERT_EQ(ring_pinned_vm(&r), 512);
	io_regbuf_release(&r.ctx, imu);
	ASSERT_EQ(unit_unpin_calls, 1);
	ASSERT_EQ(ring_locked(&r), 0);
	ASSERT_EQ(ring_pinned_vm(&r), 0);
	ASSERT_OK(check_layout(&r, l));
	ring_exit(&r);
	free(l);
	return true;
}

/* Starts and ends inside one folio: one segment, bv_offset < PAGE_SIZE. */
static bool test_coalesce_mid_folio(void)
{
	unsigned long ubuf = 0x40000000UL + 5 * PAGE_SIZE + 0x234;
	struct layout *l = layout_new(ubuf, 300 * PAGE_SIZE + 17);
	unsigned long head = unit_folio_new(9);
	struct io_mapped_ubuf *imu;
	struct ring r;

	layout_fill(l, 0, head + 5, l->nr_pages);
	ring_init(&r, true);
	ASSERT_EQ(layout_register(&r, l, &imu), 0);
	ASSERT_EQ(imu->nr_bvecs, 1);
	ASSERT_EQ(page_to_pfn(imu->bvec[0].bv_page), head + 5);
	ASSERT_EQ(imu->bvec[0].bv_offset, 0x234);
	ASSERT_EQ(imu->bvec[0].bv_len, l->len);
	/* memlock is charged for the whole folio, not the part used */
	ASSERT_EQ(ring_locked(&r), 512);
	ASSERT_OK(check_bvecs(l, imu));
	ASSERT_OK(check_import(l, imu, 1, l->len - 2));
	io_regbuf_release(&r.ctx, imu);
	ring_exit(&r);
	free(l);
	return true;
}

/*
 * The tail of a 1 GiB folio followed by a 2 MiB one: one cut, at 1 GiB, and
 * the smaller folio does not lower the shift.
 */
static bool test_coalesce_1g_then_2m(void)
{
	unsigned long base = 0x7f0000000000UL;
	unsigned long start = base + SZ_1G - 3 * PAGE_SIZE - 100;
	unsigned long len = 3 * PAGE_SIZE + 100 + SZ_2M - 5000;
	struct layout *l = layout_new(start, len);
	unsigned long giga = unit_folio_new(18), two = unit_folio_new(9);
	struct io_mapped_ubuf *imu;
	struct ring r;

	layout_fill(l, 0, giga + (1UL << 18) - 4, 4);
	layout_fill(l, 4, two, l->nr_pages - 4);
	ring_init(&r, true);
	ASSERT_EQ(layout_register(&r, l, &imu), 0);
	ASSERT_EQ(imu->seg_shift, 30);
	ASSERT_EQ(imu->nr_bvecs, 2);
	ASSERT_EQ(imu->bvec[0].bv_len, 3 * PAGE_SIZE + 100);
	ASSERT_EQ(ring_locked(&r), (1L << 18) + 512);
	ASSERT_OK(check_bvecs(l, imu));
	ASSERT_OK(check_import(l, imu, 0, l->len));
	ASSERT_OK(check_import(l, imu, 3 * PAGE_SIZE + 100, 1));
	ASSERT_OK(check_import(l, imu, 3 * PAGE_SIZE + 99, 2));
	io_regbuf_release(&r.ctx, imu);
	ASSERT_EQ(ring_locked(&r), 0);
	ring_exit(&r);
	free(l);
	return true;
}

/*
 * The largest buffer: all of a 1 GiB folio but its first 2 MiB, then a
 * 2 MiB one. The 1 GiB segment is clipped at the buffer's start and the
 * second at its end, to the 2 MiB that exist.
 */
static bool test_coalesce_last_1g_then_2m(void)
{
	unsigned long base = 0x7f0000000000UL;
	struct layout *l = layout_new(base + SZ_2M, SZ_1G);
	unsigned long giga = unit_folio_new(18), two = unit_folio_new(9);
	unsigned long tail = l->nr_pages - 512;
	struct io_mapped_ubuf *imu;
	struct ring r;

	layout_fill(l, 0, giga + 512, tail);
	layout_fill(l, tail, two, 512);
	ring_init(&r, true);
	ASSERT_EQ(layout_register(&r, l, &imu), 0);
	ASSERT_EQ(imu->seg_shift, 30);
	ASSERT_EQ(imu->nr_bvecs, 2);
	ASSERT_EQ(imu->bvec[0].bv_len, SZ_1G - SZ_2M);
	ASSERT_EQ(imu->bvec[1].bv_len, SZ_2M);
	ASSERT_EQ(page_to_pfn(imu->bvec[1].bv_page), two);
	ASSERT_EQ(ring_locked(&r), (1L << 18) + 512);
	io_regbuf_release(&r.ctx, imu);
	ASSERT_OK(check_layout(&r, l));
	ring_exit(&r);
	free(l);
	return true;
}

/*
 * A small folio just below an odd multiple of 2 MiB, then a 2 MiB folio:
 * the only cut is 2 MiB aligned, so two segments.
 */
static bool test_coalesce_small_then_2m(void)
{
	unsigned long boundary = 0x7f0000200000UL;
	struct layout *l = layout_new(boundary - PAGE_SIZE, PAGE_SIZE + SZ_2M);
	struct io_mapped_ubuf *imu;
	struct ring r;

	l->pfns[0] = unit_folio_new(0);
	layout_fill(l, 1, unit_folio_new(9), 512);
	ring_init(&r, true);
	ASSERT_EQ(layout_register(&r, l, &imu), 0);
	ASSERT_EQ(imu->seg_shift, 21);
	ASSERT_EQ(imu->nr_bvecs, 2);
	ASSERT_EQ(imu->bvec[0].bv_len, PAGE_SIZE);
	ASSERT_EQ(imu->bvec[1].bv_len, SZ_2M);
	io_regbuf_release(&r.ctx, imu);
	ASSERT_OK(check_layout(&r, l));
	ring_exit(&r);
	free(l);
	return true;
}

/* One small page: nothing to cut, so the largest shift. */
static bool test_coalesce_single_small_page(void)
{
	struct layout *l = layout_new(0x7f0000003000UL + 10, PAGE_SIZE - 20);
	struct io_mapped_ubuf *imu;
	struct ring r;

	l->pfns[0] = unit_folio_new(0);
	ring_init(&r, true);
	ASSERT_EQ(layout_register(&r, l, &imu), 0);
	ASSERT_EQ(imu->seg_shift, 30);
	ASSERT_EQ(imu->nr_bvecs, 1);
	ASSERT_EQ(imu->bvec[0].bv_offset, 10);
	ASSERT_EQ(imu->bvec[0].bv_len, PAGE_SIZE - 20);
	io_regbuf_release(&r.ctx, imu);
	ASSERT_OK(check_layout(&r, l));
	ring_exit(&r);
	free(l);
	return true;
}

/* A 1 GiB folio mapped 4 MiB off, then 2 MiB ones: 2 MiB segments. */
static bool test_coalesce_mixed_1g_2m_aligned(void)
{
	struct layout *l = layout_new(0x7f0000000000UL, SZ_1G - SZ_2M);
	unsigned long giga = unit_folio_new(18);

	layout_fill(l, 0, giga + 1024, l->nr_pages - 1024);
	layout_fill(l, l->nr_pages - 1024, unit_folio_new(9), 512);
	layout_fill(l, l->nr_pages - 512, unit_folio_new(9), 512);
	return check_layout_alone(l, 21);
}

/* Two huge folios that happen to be physically adjacent stay two segments. */
static bool test_coalesce_adjacent_folios_split(void)
{
	struct layout *l = layout_new(0x400000, 2 * SZ_2M);
	unsigned long a = unit_folio_new(9);
	unsigned long b = unit_folio_at(a + 512, 9);
	struct io_mapped_ubuf *imu;
	struct ring r;

	layout_fill(l, 0, a, 512);
	layout_fill(l, 512, b, 512);
	ring_init(&r, true);
	ASSERT_EQ(layout_register(&r, l, &imu), 0);
	ASSERT_EQ(imu->seg_shift, 21);
	ASSERT_EQ(imu->nr_bvecs, 2);
	ASSERT_OK(check_bvecs(l, imu));
	io_regbuf_release(&r.ctx, imu);
	ASSERT_EQ(unit_unpin_calls, 2);
	ring_exit(&r);
	free(l);
	return true;
}

/* CVE-2023-2598: one page mapped at consecutive addresses. */
static bool test_coalesce_same_page_twice(void)
{
	struct layout *l = layout_new(0x400000, 8 * PAGE_SIZE);
	unsigned long head = unit_folio_new(9);
	struct io_mapped_ubuf *imu;
	struct ring r;
	unsigned long j;

	for (j = 0; j < l->nr_pages; j++)
		l->pfns[j] = head + 7;
	ring_init(&r, true);
	ASSERT_EQ(layout_register(&r, l, &imu), 0);
	ASSERT_EQ(imu->seg_shift, PAGE_SHIFT);
	ASSERT_EQ(imu->nr_bvecs, 8);
	ASSERT_OK(check_bvecs(l, imu));
	ASSERT_OK(check_import(l, imu, 10, 7 * PAGE_SIZE));
	ASSERT_EQ(ring_locked(&r), 512);
	ASSERT_EQ(unit_memmap[head + 7].pins, 8);
	io_regbuf_release(&r.ctx, imu);
	ASSERT_EQ(unit_memmap[head + 7].pins, 0);
	ring_exit(&r);
	free(l);
	return true;
}

/* A folio mapped with its halves swapped: cut in the middle, not merged. */
static bool test_coalesce_folio_out_of_order(void)
{
	struct layout *l = layout_new(0x800000, SZ_2M);
	unsigned long head = unit_folio_new(9);
	struct io_mapped_ubuf *imu;
	struct ring r;

	layout_fill(l, 0, head + 256, 256);
	layout_fill(l, 256, head, 256);
	ring_init(&r, true);
	ASSERT_EQ(layout_register(&r, l, &imu), 0);
	ASSERT_EQ(imu->seg_shift, 20);
	ASSERT_EQ(imu->nr_bvecs, 2);
	ASSERT_OK(check_bvecs(l, imu));
	ASSERT_EQ(ring_locked(&r), 512);
	io_regbuf_release(&r.ctx, imu);
	ring_exit(&r);
	free(l);
	return true;
}

/* A small buffer inside a huge folio: one segment, the largest shift. */
static bool test_coalesce_small_buffer_in_thp(void)
{
	struct layout *l = layout_new(0xa00ff0, 0x20);
	unsigned long head = unit_folio_new(9);
	struct io_mapped_ubuf *imu;
	struct ring r;

	layout_fill(l, 0, head, 2);
	ring_init(&r, true);
	ASSERT_EQ(layout_register(&r, l, &imu), 0);
	ASSERT_EQ(imu->seg_shift, 30);
	ASSERT_EQ(imu->nr_bvecs, 1);
	ASSERT_OK(check_bvecs(l, imu));
	ASSERT_OK(check_import(l, imu, 0x10, 0x10));
	io_regbuf_release(&r.ctx, imu);
	ring_exit(&r);
	free(l);
	return true;
}

/*
 * Huge folios mapped one page off their natural alignment: cuts land on
 * 4 KiB aligned addresses, so the whole buffer falls back to 4 KiB.
 */
static bool test_coalesce_misaligned_huge(void)
{
	struct layout *l = layout_new(0x1000000 + PAGE_SIZE, 2 * SZ_2M);

	layout_fill(l, 0, unit_folio_new(9), 512);
	layout_fill(l, 512, unit_folio_new(9), 512);
	return check_layout_alone(l, PAGE_SHIFT);
}

static unsigned int random_order_unbounded(void)
{
	unsigned int p = rnd_below(100);

	if (p < 40)
		return 0;
	if (p < 60)
		return 1 + rnd_below(4);
	if (p < 80)
		return 9;
	if (p < 95)
		return 5 + rnd_below(4);
	if (p < 98)
		return 10 + rnd_below(4);
	return 18;
}

/* A random folio order that still fits in what is left of the memmap. */
static unsigned int random_order(void)
{
	unsigned int order = random_order_unbounded();

	if (unit_next_free_pfn(order) + (1UL << order) > UNIT_NR_PFNS)
		return 0;
	return order;
}

/*
 * A random buffer of up to @max_pages pages built from folio pieces: mostly
 * mapped at their natural alignment so large segments appear, sometimes
 * misaligned, reversed, repeating a page, or physically adjacent to the
 * previous folio.
 */
static struct layout *random_layout(unsigned long max_pages)
{
	unsigned long nr = 1 + rnd_below(max_pages);
	unsigned long upn = (1UL << 27) + rnd_below(1UL << 20);
	unsigned long head_off = chance(50) ? 0 : rnd_below(PAGE_SIZE);
	unsigned long room = min(PAGE_SIZE, nr * PAGE_SIZE - head_off);
	unsigned long tail_cut = chance(50) ? 0 : rnd_below(room);
	unsigned long len = nr * PAGE_SIZE - head_off - tail_cut;
	unsigned long j = 0, prev_end = 0;
	struct layout *l;

	l = layout_new((upn << PAGE_SHIFT) + head_off, len);
	while (j < l->nr_pages) {
		unsigned int order = random_order();
		unsigned long size = 1UL << order, head, k, m;

		if (prev_end && chance(20) && !(prev_end & (size - 1)) &&
		    prev_end == unit_next_free_pfn(order))
			head = unit_folio_at(prev_end, order);
		else
			head = unit_folio_new(order);
		prev_end = head + size;
		k = chance(75) ? (upn + j) & (size - 1) : rnd_below(size);
		m = min(size - k, l->nr_pages - j);
		if (chance(5)) {
			while (m--)
				l->pfns[j++] = head + k + m;
		} else if (chance(5)) {
			while (m--)
				l->pfns[j++] = head + k;
		} else {
			layout_fill(l, j, head + k, m);
			j += m;
		}
		if (j < l->nr_pages && j > 0 && chance(3))
			l->pfns[j] = l->pfns[j - 1], j++;
	}
	return l;
}

static bool test_coalesce_random(void)
{
	unsigned int iter;
	struct ring r;

	ring_init(&r, true);
	for (iter = 0; iter < 400; iter++) {
		struct layout *l;

		unit_world_reset();
		l = random_layout(iter % 4 ? 64 : 2048);
		if (!check_layout(&r, l)) {
			fprintf(stderr, "  iteration %u, ubuf 0x%lx len %lu\n",
				iter, l->ubuf, l->len);
			free(l);
			return false;
		}
		free(l);
	}
	ring_exit(&r);
	return true;
}

static bool test_import_errors(void)
{
	struct layout *l = layout_new(0x7f0000200000UL + 10, SZ_2M - 20);
	struct io_mapped_ubuf *imu;
	struct iov_iter it;
	struct ring r;

	layout_fill(l, 0, unit_folio_new(9), 512);
	ring_init(&r, true);
	ASSERT_EQ(layout_register(&r, l, &imu), 0);
	ASSERT_EQ(io_import_fixed(ITER_SOURCE, &it, imu, l->ubuf - 1, 1),
		  -EFAULT);
	ASSERT_EQ(io_import_fixed(ITER_SOURCE, &it, imu, l->ubuf, l->len + 1),
		  -EFAULT);
	ASSERT_EQ(io_import_fixed(ITER_SOURCE, &it, imu, l->ubuf + l->len, 1),
		  -EFAULT);
	ASSERT_EQ(io_import_fixed(ITER_SOURCE, &it, imu, l->ubuf, -1UL),
		  -EFAULT);
	ASSERT_EQ(io_import_fixed(ITER_SOURCE, &it, imu, -1ULL, 2), -EFAULT);
	ASSERT_EQ(io_import_fixed(ITER_SOURCE, &it, imu, l->ubuf, 0), 0);
	ASSERT_EQ(it.count, 0);
	ASSERT_EQ(io_import_fixed(ITER_SOURCE, &it, imu, l->ubuf + l->len, 0),
		  0);
	ASSERT_EQ(it.nr_segs, 0);
	unit_warning_expected = true;
	ASSERT_EQ(io_import_fixed(ITER_SOURCE, &it, NULL, l->ubuf, 1), -EFAULT);
	ASSERT_EQ(unit_warnings, 1);
	unit_warnings = 0;
	io_regbuf_release(&r.ctx, imu);
	ring_exit(&r);
	free(l);
	return true;
}

static bool test_import_segment_edges(void)
{
	unsigned long ubuf = 0x7f0000000000UL + SZ_2M - 3 * PAGE_SIZE + 7;
	struct layout *l = layout_new(ubuf, 3 * SZ_2M);
	struct io_mapped_ubuf *imu;
	unsigned long first;
	struct ring r;

	layout_fill(l, 0, unit_folio_new(9) + 509, 3);
	layout_fill(l, 3, unit_folio_new(9), 512);
	layout_fill(l, 515, unit_folio_new(9), 512);
	layout_fill(l, 1027, unit_folio_new(9), l->nr_pages - 1027);
	ring_init(&r, true);
	ASSERT_EQ(layout_register(&r, l, &imu), 0);
	ASSERT_EQ(imu->seg_shift, 21);
	ASSERT_EQ(imu->nr_bvecs, 4);
	first = imu->bvec[0].bv_len;
	ASSERT_OK(check_import(l, imu, 0, l->len));
	ASSERT_OK(check_import(l, imu, 0, first));
	ASSERT_OK(check_import(l, imu, first, SZ_2M));
	ASSERT_OK(check_import(l, imu, first, SZ_2M + 1));
	ASSERT_OK(check_import(l, imu, first - 1, SZ_2M + 2));
	ASSERT_OK(check_import(l, imu, first + SZ_2M, l->len - first - SZ_2M));
	ASSERT_OK(check_import(l, imu, l->len - 1, 1));
	ASSERT_OK(check_import(l, imu, first + SZ_2M, 0));
	io_regbuf_release(&r.ctx, imu);
	ring_exit(&r);
	free(l);
	return true;
}

static bool test_import_random(void)
{
	unsigned int iter, k;
	struct ring r;

	ring_init(&r, true);
	for (iter = 0; iter < 200; iter++) {
		struct io_mapped_ubuf *imu;
		struct layout *l;

		unit_world_reset();
		l = random_layout(iter % 4 ? 128 : 4096);
		ASSERT_EQ(layout_register(&r, l, &imu), 0);
		for (k = 0; k < 50; k++) {
			unsigned long off = rnd_below(l->len + 1);
			unsigned long len = rnd_below(l->len - off + 1);

			if (chance(30))
				len = min(len, 1 + rnd_below(3 * PAGE_SIZE));
			if (!check_import(l, imu, off, len)) {
				fprintf(stderr, "  iteration %u: %lu+%lu\n",
					iter, off, len);
				return false;
			}
		}
		io_regbuf_release(&r.ctx, imu);
		free(l);
	}
	ring_exit(&r);
	return true;
}

static bool test_acct_shared_folios(void)
{
	struct layout *a = layout_new(0x7f0000200000UL, SZ_2M);
	struct layout *b = layout_new(0x7f0000800000UL + 5 * PAGE_SIZE,
				      3 * PAGE_SIZE);
	struct layout *c = layout_new(0x7f0001000000UL, 4 * PAGE_SIZE);
	struct io_mapped_ubuf *ia, *ib, *ic, *ic2;
	unsigned long thp = unit_folio_new(9);
	unsigned long small = unit_folio_new(0);
	struct ring r;

	layout_fill(a, 0, thp, 512);
	layout_fill(b, 0, thp + 100, 3);
	c->pfns[0] = small;
	c->pfns[1] = small;
	c->pfns[2] = thp + 1;
	c->pfns[3] = small;
	ring_init(&r, true);
	ASSERT_EQ(layout_register(&r, a, &ia), 0);
	ASSERT_EQ(ring_locked(&r), 512);
	ASSERT_EQ(layout_register(&r, b, &ib), 0);
	ASSERT_EQ(ring_locked(&r), 512);
	ASSERT_EQ(layout_register(&r, c, &ic), 0);
	ASSERT_EQ(ring_locked(&r), 513);
	ASSERT_EQ(layout_register(&r, c, &ic2), 0);
	ASSERT_EQ(ring_locked(&r), 513);
	ASSERT_EQ(ring_pinned_vm(&r), 513);
	io_regbuf_release(&r.ctx, ia);
	ASSERT_EQ(ring_locked(&r), 513);
	io_regbuf_release(&r.ctx, ic);
	io_regbuf_release(&r.ctx, ib);
	ASSERT_EQ(ring_locked(&r), 513);
	io_regbuf_release(&r.ctx, ic2);
	ASSERT_EQ(ring_locked(&r), 0);
	ASSERT_EQ(ring_pinned_vm(&r), 0);
	ASSERT_TRUE(xa_empty(&r.ctx.buf_acct_blocks));
	ASSERT_TRUE(xa_empty(&r.ctx.buf_acct_large));
	ring_exit(&r);
	free(a);
	free(b);
	free(c);
	return true;
}

/*
 * Consecutive order-0 pages are counted a run at a time, one run per
 * block: runs that cross a block's end, a page pinned again right after
 * its run, a compound folio right after an order-0 page in pfns and in the
 * buffer, and a lone page between runs are each charged once, and dropped
 * only with their last pin.
 */
static bool test_acct_page_runs(void)
{
	struct layout *a = layout_new(0x7f0000000000UL, 49 * PAGE_SIZE);
	struct layout *b = layout_new(0x7f0001000000UL, 8 * PAGE_SIZE);
	struct io_mapped_ubuf *ia, *ib;
	unsigned long p, compound;
	struct ring r;

	align_small_folios(32);
	skip_small_folios(3);
	/* pages p + 29 on are the next block's, p + 64 and the folio share one */
	p = small_folio_run(65);
	compound = unit_folio_new(2);
	ASSERT_EQ(compound, p + 65);
	layout_fill(a, 0, p, 41);
	layout_fill(a, 41, p + 5, 2);
	a->pfns[43] = p + 64;
	layout_fill(a, 44, compound, 4);
	a->pfns[48] = p + 41;
	layout_fill(b, 0, p + 30, 4);
	layout_fill(b, 4, p + 28, 2);
	b->pfns[6] = p + 50;
	b->pfns[7] = compound + 1;
	ring_init(&r, true);

	ASSERT_EQ(layout_register_counted(&r, a, &ia), 0);
	ASSERT_EQ(ring_locked(&r), 42 + 1 + 4);
	ASSERT_EQ(layout_register(&r, b, &ib), 0);
	ASSERT_EQ(ring_locked(&r), 42 + 1 + 4 + 1);
	io_regbuf_release(&r.ctx, ia);
	ASSERT_EQ(ring_locked(&r), 6 + 1 + 4);
	ASSERT_EQ(ring_pinned_vm(&r), 6 + 1 + 4);
	io_regbuf_release(&r.ctx, ib);
	ASSERT_EQ(ring_locked(&r), 0);
	ASSERT_TRUE(xa_empty(&r.ctx.buf_acct_blocks));
	ASSERT_TRUE(xa_empty(&r.ctx.buf_acct_large));
	ring_exit(&r);
	free(a);
	free(b);
	return true;
}

static void *block_entry(struct ring *r, unsigned long pfn)
{
	return xa_load(&r->ctx.buf_acct_blocks, pfn / 32);
}

/*
 * A run of order-0 pages covering a whole counter block is one count, kept
 * as a value entry; single pages of such a block pinned as well, by the
 * same buffer or another, are charged once whichever comes first.
 */
static bool test_acct_whole_blocks(void)
{
	struct layout *run = layout_new(0x7f0000000000UL, 96 * PAGE_SIZE);
	struct layout *part = layout_new(0x7f0001000000UL, 40 * PAGE_SIZE);
	struct layout *dup = layout_new(0x7f0002000000UL, 33 * PAGE_SIZE);
	struct layout *mixed = layout_new(0x7f0003000000UL, 32 * PAGE_SIZE);
	struct io_mapped_ubuf *irun, *ipart, *idup, *imixed;
	unsigned long first;
	struct ring r;

	align_small_folios(32);
	first = small_folio_run(128);
	layout_fill(run, 0, first + 16, 96);
	layout_fill(part, 0, first + 40, 40);
	layout_fill(dup, 0, first + 32, 32);
	dup->pfns[32] = first + 32;
	ring_init(&r, true);

	/* refused at the limit: the whole blocks counted so far are undone */
	unit_memlock_limit = 95 * PAGE_SIZE;
	ASSERT_EQ(layout_register_counted(&r, run, &irun), -ENOMEM);
	ASSERT_TRUE(xa_empty(&r.ctx.buf_acct_blocks));
	ASSERT_EQ(unit_pinned, 0);
	unit_memlock_limit = ~0UL;

	ASSERT_EQ(layout_register_counted(&r, run, &irun), 0);
	ASSERT_EQ(ring_locked(&r), 96);
	ASSERT_TRUE(block_entry(&r, first + 32) == xa_mk_value(1));
	ASSERT_TRUE(block_entry(&r, first + 64) == xa_mk_value(1));
	ASSERT_TRUE(!xa_is_value(block_entry(&r, first)));
	ASSERT_TRUE(!xa_is_value(block_entry(&r, first + 96)));
	ASSERT_EQ(layout_register(&r, part, &ipart), 0);
	ASSERT_EQ(layout_register(&r, dup, &idup), 0);
	ASSERT_EQ(ring_locked(&r), 96);
	ASSERT_TRUE(!xa_is_value(block_entry(&r, first + 64)));

	/* left: part's and dup's pages, first + 32 to first + 80 */
	io_regbuf_release(&r.ctx, irun);
	ASSERT_EQ(ring_locked(&r), 48);
	ASSERT_TRUE(!block_entry(&r, first));

	/* whole blocks over pages pinned singly charge only the rest */
	ASSERT_EQ(layout_register(&r, run, &irun), 0);
	ASSERT_EQ(ring_locked(&r), 96);

	/* released again, the same pages are left */
	io_regbuf_release(&r.ctx, irun);
	ASSERT_EQ(ring_locked(&r), 48);
	ASSERT_TRUE(!block_entry(&r, first));
	io_regbuf_release(&r.ctx, idup);
	ASSERT_EQ(ring_locked(&r), 40);
	io_regbuf_release(&r.ctx, ipart);
	ASSERT_EQ(ring_locked(&r), 0);
	ASSERT_TRUE(xa_empty(&r.ctx.buf_acct_blocks));

	/* a block holding a larger folio is counted page by page */
	align_small_folios(32);
	layout_fill(mixed, 0, small_folio_run(30), 30);
	layout_fill(mixed, 30, unit_folio_new(1), 2);
	ASSERT_EQ(layout_register_counted(&r, mixed, &imixed), 0);
	ASSERT_EQ(ring_locked(&r), 32);
	ASSERT_TRUE(!xa_is_value(block_entry(&r, mixed->pfns[0])));
	io_regbuf_release(&r.ctx, imixed);
	ASSERT_EQ(ring_locked(&r), 0);
	ASSERT_TRUE(xa_empty(&r.ctx.buf_acct_blocks));
	ring_exit(&r);
	free(run);
	free(part);
	free(dup);
	free(mixed);
	return true;
}

/*
 * An aligned range of 512 order-0 pages pinned in one run is one count
 * too; pages of it pinned through blocks or slots as well, before or
 * after, are charged once.
 */
static bool test_acct_whole_ranges(void)
{
	struct layout *big = layout_new(0x7f0000000000UL, 1100 * PAGE_SIZE);
	struct layout *slots = layout_new(0x7f0001000000UL, 41 * PAGE_SIZE);
	struct layout *block = layout_new(0x7f0002000000UL, 32 * PAGE_SIZE);
	struct io_mapped_ubuf *ibig, *islots, *iblock;
	unsigned long first;
	struct ring r;

	align_small_folios(512);
	first = small_folio_run(1100);
	layout_fill(big, 0, first, 1100);
	layout_fill(slots, 0, first + 500, 41);
	layout_fill(block, 0, first + 512, 32);
	ring_init(&r, true);

	/* refused at the limit: the whole ranges counted so far are undone */
	unit_memlock_limit = 1099 * PAGE_SIZE;
	ASSERT_EQ(layout_register_counted(&r, big, &ibig), -ENOMEM);
	ASSERT_TRUE(xa_empty(&r.ctx.buf_acct_large));
	ASSERT_TRUE(xa_empty(&r.ctx.buf_acct_blocks));
	ASSERT_EQ(unit_pinned, 0);
	unit_memlock_limit = ~0UL;

	ASSERT_EQ(layout_register(&r, slots, &islots), 0);
	ASSERT_EQ(layout_register(&r, block, &iblock), 0);
	ASSERT_EQ(ring_locked(&r), 41 + 32 - 29);
	ASSERT_EQ(layout_register(&r, big, &ibig), 0);
	ASSERT_EQ(ring_locked(&r), 1100);
	ASSERT_EQ(r.ctx.buf_acct_large.nr, 2);

	io_regbuf_release(&r.ctx, islots);
	ASSERT_EQ(ring_locked(&r), 1100);
	io_regbuf_release(&r.ctx, ibig);
	ASSERT_EQ(ring_locked(&r), 32);
	ASSERT_TRUE(xa_empty(&r.ctx.buf_acct_large));

	/* and the other way round: the range first, then its pages alone */
	ASSERT_EQ(layout_register(&r, big, &ibig), 0);
	ASSERT_EQ(layout_register(&r, slots, &islots), 0);
	ASSERT_EQ(ring_locked(&r), 1100);
	io_regbuf_release(&r.ctx, ibig);
	ASSERT_EQ(ring_locked(&r), 41 + 32 - 29);
	io_regbuf_release(&r.ctx, iblock);
	io_regbuf_release(&r.ctx, islots);
	ASSERT_EQ(ring_locked(&r), 0);
	ASSERT_TRUE(xa_empty(&r.ctx.buf_acct_blocks));
	ASSERT_TRUE(xa_empty(&r.ctx.buf_acct_large));
	ring_exit(&r);
	free(big);
	free(slots);
	free(block);
	return true;
}

/* Rings account independently; CAP_IPC_LOCK (no user) skips the limit. */
static bool test_acct_per_ring_and_cap_ipc_lock(void)
{
	struct layout *l = layout_new(0x7f0000200000UL, SZ_2M);
	struct io_mapped_ubuf *i1, *i2;
	struct ring r1, r2;

	layout_fill(l, 0, unit_folio_new(9), 512);
	ring_init(&r1, true);
	ring_init(&r2, false);
	unit_memlock_limit = 512 * PAGE_SIZE;
	ASSERT_EQ(layout_register(&r1, l, &i1), 0);
	unit_memlock_limit = 0;
	ASSERT_EQ(layout_register(&r2, l, &i2), 0);
	ASSERT_EQ(ring_locked(&r1), 512);
	ASSERT_EQ(ring_locked(&r2), 0);
	ASSERT_EQ(ring_pinned_vm(&r1), 512);
	ASSERT_EQ(ring_pinned_vm(&r2), 512);
	io_regbuf_release(&r1.ctx, i1);
	io_regbuf_release(&r2.ctx, i2);
	ASSERT_EQ(ring_pinned_vm(&r1), 0);
	ASSERT_EQ(ring_pinned_vm(&r2), 0);
	ring_exit(&r1);
	ring_exit(&r2);
	free(l);
	return true;
}

#define POOL_EXTENTS	12
#define NR_SLOTS	16

/*
 * Pages buffers are made of: a folio, or a run of order-0 folios that are
 * physically consecutive, as 4 KiB anonymous memory mostly is, so that
 * buffers pin whole counter blocks as well as single pages of them.
 */
struct pool_extent {
	unsigned long	pfn;
	unsigned long	nr;
};

struct acct_world {
	struct pool_extent extents[POOL_EXTENTS];
	struct layout	*layouts[NR_SLOTS];
	struct io_mapped_ubuf *imus[NR_SLOTS];
};

/* A buffer made of pieces of the shared pool, often overlapping. */
static struct layout *pool_layout(struct acct_world *w, unsigned int slot)
{
	unsigned long pieces[4][2], nr = 0, j = 0;
	unsigned int p, nr_pieces = 1 + rnd_below(4);
	struct layout *l;

	for (p = 0; p < nr_pieces; p++) {
		struct pool_extent *e = &w->extents[rnd_below(POOL_EXTENTS)];
		unsigned long k = rnd_below(e->nr);
		unsigned long m = 1 + rnd_below(min(e->nr - k, 1100UL));

		pieces[p][0] = e->pfn + k;
		pieces[p][1] = m;
		nr += m;
	}
	l = layout_new(((unsigned long)(slot + 1) << 32) + rnd_below(PAGE_SIZE),
		       nr * PAGE_SIZE - PAGE_SIZE + 1);
	for (p = 0; p < nr_pieces; p++) {
		layout_fill(l, j, pieces[p][0], pieces[p][1]);
		j += pieces[p][1];
	}
	return l;
}

static int cmp_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a;
	unsigned long y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

/* Pages of distinct folios pinned by the live buffers: the expected charge. */
static long expected_charge(struct acct_world *w)
{
	unsigned long *heads = NULL, nr = 0, j;
	unsigned int s;
	long sum = 0;

	for (s = 0; s < NR_SLOTS; s++) {
		if (!w->layouts[s])
			continue;
		heads = realloc(heads, (nr + w->layouts[s]->nr_pages) *
				       sizeof(*heads));
		for (j = 0; j < w->layouts[s]->nr_pages; j++)
			heads[nr++] = head_of(w->layouts[s]->pfns[j]);
	}
	if (nr)
		qsort(heads, nr, sizeof(*heads), cmp_ulong);
	for (j = 0; j < nr; j++)
		if (!j || heads[j] != heads[j - 1])
			sum += folio_pages_of(heads[j]);
	free(heads);
	return sum;
}

static long expected_pins(struct acct_world *w)
{
	unsigned int s;
	long sum = 0;

	for (s = 0; s < NR_SLOTS; s++)
		if (w->layouts[s])
			sum += w->layouts[s]->nr_pages;
	return sum;
}

static void slot_clear(struct ring *r, struct acct_world *w, unsigned int s)
{
	if (!w->layouts[s])
		return;
	io_regbuf_release(&r->ctx, w->imus[s]);
	free(w->layouts[s]);
	w->layouts[s] = NULL;
}

/* Registers into slot @s, replacing its buffer the way BUFFERS_UPDATE does. */
static int slot_set(struct ring *r, struct acct_world *w, unsigned int s)
{
	struct layout *l = pool_layout(w, s);
	struct io_mapped_ubuf *imu;
	int ret = layout_register(r, l, &imu);

	if (ret) {
		free(l);
		return ret;
	}
	slot_clear(r, w, s);
	w->layouts[s] = l;
	w->imus[s] = imu;
	return 0;
}

static bool check_charges(struct ring *r, struct acct_world *w)
{
	ASSERT_EQ(ring_locked(r), expected_charge(w));
	ASSERT_EQ(ring_pinned_vm(r), expected_charge(w));
	ASSERT_EQ(unit_pinned, expected_pins(w));
	return true;
}

static void pool_init(struct acct_world *w)
{
	unsigned int e;

	memset(w, 0, sizeof(*w));
	for (e = 0; e < POOL_EXTENTS; e++) {
		struct pool_extent *x = &w->extents[e];
		unsigned int order = random_order();

		if (chance(30)) {
			skip_small_folios(rnd_below(600));
			x->nr = 1 + rnd_below(chance(50) ? 200 : 1500);
			x->pfn = small_folio_run(x->nr);
			continue;
		}
		x->nr = 1UL << (order == 18 ? 10 : order);
		x->pfn = unit_folio_new(order == 18 ? 10 : order);
	}
}

static bool test_acct_random_sequences(void)
{
	unsigned int seq, op, s;
	struct acct_world w;
	struct ring r;

	for (seq = 0; seq < 30; seq++) {
		unit_world_reset();
		pool_init(&w);
		ring_init(&r, true);
		for (op = 0; op < 80; op++) {
			s = rnd_below(NR_SLOTS);
			if (chance(30))
				slot_clear(&r, &w, s);
			else
				ASSERT_EQ(slot_set(&r, &w, s), 0);
			if (!check_charges(&r, &w)) {
				fprintf(stderr, "  sequence %u op %u\n",
					seq, op);
				return false;
			}
		}
		for (s = 0; s < NR_SLOTS; s++)
			slot_clear(&r, &w, s);
		ASSERT_OK(check_charges(&r, &w));
		ASSERT_EQ(ring_locked(&r), 0);
		ASSERT_TRUE(xa_empty(&r.ctx.buf_acct_blocks));
		ASSERT_TRUE(xa_empty(&r.ctx.buf_acct_large));
		ring_exit(&r);
	}
	return true;
}

/*
 * After a refused registration: memory allocated, pages pinned and the
 * ring's charges all as they were before it.
 */
static bool check_unchanged(struct ring *r, long allocs, long pinned,
			    long charged)
{
	ASSERT_EQ(unit_allocs, allocs);
	ASSERT_EQ(unit_pinned, pinned);
	ASSERT_EQ(ring_locked(r), charged);
	ASSERT_EQ(ring_pinned_vm(r), charged);
	return true;
}

/* Failing at the memlock limit leaves pins, charges and memory as before. */
static bool test_memlock_limit(void)
{
	struct layout *a = layout_new(0x7f0000200000UL, SZ_2M);
	struct layout *b = layout_new(0x7f0000800000UL, SZ_2M + PAGE_SIZE);
	struct io_mapped_ubuf *ia, *ib;
	long allocs;
	struct ring r;

	layout_fill(a, 0, unit_folio_new(9), 512);
	layout_fill(b, 0, a->pfns[0], 512);
	b->pfns[512] = unit_folio_new(0);
	ring_init(&r, true);
	unit_memlock_limit = 512 * PAGE_SIZE;
	ASSERT_EQ(layout_register(&r, a, &ia), 0);
	allocs = unit_allocs;

	ASSERT_EQ(layout_register(&r, b, &ib), -ENOMEM);
	ASSERT_OK(check_unchanged(&r, allocs, 512, 512));

	/* only the small folio is new, the THP is already charged */
	unit_memlock_limit = 513 * PAGE_SIZE;
	ASSERT_EQ(layout_register(&r, b, &ib), 0);
	ASSERT_EQ(ring_locked(&r), 513);
	io_regbuf_release(&r.ctx, ia);
	io_regbuf_release(&r.ctx, ib);
	ASSERT_EQ(ring_locked(&r), 0);
	ring_exit(&r);
	free(a);
	free(b);
	return true;
}

/* Whether nothing is in the ring's counters. */
static bool counters_empty(struct ring *r)
{
	return xa_empty(&r->ctx.buf_acct_blocks) &&
	       xa_empty(&r->ctx.buf_acct_large);
}

/* Whether no buffer of the ring is left out of the counters. */
static bool none_unindexed(struct ring *r)
{
	return list_empty(&r->ctx.buf_acct_unindexed);
}

/* Whether @imu is charged without the counters. */
static bool unindexed(struct io_mapped_ubuf *imu)
{
	return !list_empty(&imu->acct_node);
}

/* Whether @imu is the ring's only buffer left out, and nothing is counted. */
static bool unindexed_alone(struct ring *r, struct io_mapped_ubuf *imu)
{
	return r->ctx.buf_acct_unindexed.next == &imu->acct_node &&
	       r->ctx.buf_acct_unindexed.prev == &imu->acct_node &&
	       counters_empty(r);
}

/*
 * Registers @l, of @pages distinct order-0 folios, as the ring's only
 * buffer and releases it: left out of the counters, charged @pages and
 * holding no memory but the buffer's if @left_out, else counted and
 * charged the same; no memory kept after.
 */
static bool check_only_buffer(struct ring *r, const struct layout *l,
			      unsigned long pages, bool left_out)
{
	long allocs = unit_allocs;
	struct io_mapped_ubuf *imu;

	ASSERT_EQ(layout_register(r, l, &imu), 0);
	ASSERT_EQ(unindexed_alone(r, imu), left_out);
	ASSERT_EQ(ring_locked(r), pages);
	if (left_out)
		ASSERT_EQ(unit_allocs, allocs + 1);
	io_regbuf_release(&r->ctx, imu);
	ASSERT_EQ(ring_locked(r), 0);
	ASSERT_EQ(unit_allocs, allocs);
	return true;
}

/*
 * A ring's only buffer is charged without counters if its folios form pfn
 * runs that do not overlap, however many; the next buffer counts it, and a
 * refused one leaves it as it was.
 */
static bool test_acct_unindexed(void)
{
	struct layout *a = layout_new(0x7f0000000000UL, SZ_2M + 4 * PAGE_SIZE);
	struct layout *twice = layout_new(0x7f0001000000UL, 3 * PAGE_SIZE);
	struct layout *b = layout_new(0x7f0002000000UL, 2 * PAGE_SIZE);
	struct layout *gaps = layout_new(0x7f0003000000UL, 33 * PAGE_SIZE);
	struct layout *many = layout_new(0x7f0005000000UL, 300 * PAGE_SIZE);
	struct layout *behind = layout_new(0x7f0006000000UL, 3 * PAGE_SIZE);
	struct layout *into = layout_new(0x7f0007000000UL, 5 * PAGE_SIZE);
	struct layout *order = layout_new(0x7f0008000000UL, 40 * PAGE_SIZE);
	struct layout *run = layout_new(0x7f0004000000UL, 4097 * PAGE_SIZE);
	struct io_mapped_ubuf *ia, *itwice, *ib, *igaps;
	unsigned long small, j;
	long allocs, loads, calls, sorts;
	struct ring r;

	/*
	 * a THP, then small pages s, s + 1, s again and s + 2: s again is
	 * inside the run, so it is charged once and the buffer unindexed
	 */
	layout_fill(a, 0, unit_folio_new(9), 512);
	small = small_folio_run(3);
	layout_fill(a, 512, small, 2);
	a->pfns[514] = small;
	a->pfns[515] = small + 2;
	ring_init(&r, true);
	loads = unit_xa_loads;
	ASSERT_EQ(layout_register(&r, a, &ia), 0);
	ASSERT_EQ(unit_xa_loads, loads);
	ASSERT_TRUE(unindexed_alone(&r, ia));
	ASSERT_EQ(ring_locked(&r), 512 + 3);
	ASSERT_EQ(ring_pinned_vm(&r), 512 + 3);
	io_regbuf_release(&r.ctx, ia);
	ASSERT_EQ(ring_locked(&r), 0);
	ASSERT_EQ(ring_pinned_vm(&r), 0);
	ASSERT_TRUE(none_unindexed(&r));

	/* a page again after another page: runs overlap, so counted */
	twice->pfns[0] = unit_folio_new(0);
	skip_small_folios(1);
	twice->pfns[1] = unit_folio_new(0);
	twice->pfns[2] = twice->pfns[0];
	ASSERT_EQ(layout_register(&r, twice, &itwice), 0);
	ASSERT_TRUE(none_unindexed(&r));
	ASSERT_TRUE(!xa_empty(&r.ctx.buf_acct_blocks));
	ASSERT_EQ(ring_locked(&r), 2);
	io_regbuf_release(&r.ctx, itwice);
	ASSERT_EQ(ring_locked(&r), 0);
	ASSERT_TRUE(xa_empty(&r.ctx.buf_acct_blocks));

	/* the second buffer counts the first, sharing s + 1 with it */
	b->pfns[0] = small + 1;
	b->pfns[1] = unit_folio_new(0);
	ASSERT_EQ(layout_register(&r, a, &ia), 0);
	ASSERT_EQ(layout_register(&r, b, &ib), 0);
	ASSERT_TRUE(none_unindexed(&r));
	ASSERT_EQ(r.ctx.buf_acct_large.nr, 1);
	ASSERT_EQ(ring_locked(&r), 512 + 3 + 1);
	io_regbuf_release(&r.ctx, ia);
	ASSERT_EQ(ring_locked(&r), 2);
	io_regbuf_release(&r.ctx, ib);
	ASSERT_EQ(ring_locked(&r), 0);

	/* refused at the limit, the second leaves the first unindexed */
	ASSERT_EQ(layout_register(&r, a, &ia), 0);
	allocs = unit_allocs;
	unit_memlock_limit = (512 + 3) * PAGE_SIZE;
	ASSERT_EQ(layout_register(&r, b, &ib), -ENOMEM);
	unit_memlock_limit = ~0UL;
	ASSERT_TRUE(unindexed_alone(&r, ia));
	ASSERT_OK(check_unchanged(&r, allocs, 512 + 4, 512 + 3));
	io_regbuf_release(&r.ctx, ia);
	ASSERT_EQ(ring_locked(&r), 0);

	/* the first page of 33 order-1 folios in a row: one run */
	for (j = 0; j < 33; j++)
		gaps->pfns[j] = unit_folio_new(1);
	ASSERT_EQ(layout_register(&r, gaps, &igaps), 0);
	ASSERT_TRUE(unindexed_alone(&r, igaps));
	ASSERT_EQ(ring_locked(&r), 66);
	io_regbuf_release(&r.ctx, igaps);

	/*
	 * 300 consecutive pages in the buffer 43 pfns apart, each a run:
	 * kept on the stack, then in arrays of 128 and of 300 (as many as
	 * bvecs), allocated after the imu; sorted, each run touches the next
	 */
	small = small_folio_run(300);
	for (j = 0; j < 300; j++)
		many->pfns[(j * 7) % 300] = small + j;
	calls = unit_alloc_calls;
	sorts = unit_sort_calls;
	ASSERT_OK(check_only_buffer(&r, many, 300, true));
	ASSERT_EQ(unit_alloc_calls - calls, 1 + 2);
	ASSERT_EQ(unit_sort_calls - sorts, 1);

	/*
	 * in pfn order with gaps, and in reverse: apart without a sort;
	 * then the reverse with one page again in the middle
	 */
	small = small_folio_run(80);
	for (j = 0; j < 40; j++)
		order->pfns[j] = small + 2 * j;
	sorts = unit_sort_calls;
	ASSERT_OK(check_only_buffer(&r, order, 40, true));
	for (j = 0; j < 40; j++)
		order->pfns[j] = small + 39 - j;
	ASSERT_OK(check_only_buffer(&r, order, 40, true));
	ASSERT_EQ(unit_sort_calls, sorts);
	order->pfns[20] = order->pfns[10];
	ASSERT_OK(check_only_buffer(&r, order, 39, false));
	ASSERT_EQ(unit_sort_calls - sorts, 1);

	/* the first and the last page the same: the sorted runs overlap */
	many->pfns[299] = many->pfns[0];
	ASSERT_OK(check_only_buffer(&r, many, 299, false));

	/* no array for the runs: counted, and charged the same */
	many->pfns[299] = unit_folio_new(0);
	unit_fail_alloc_at(2);
	ASSERT_OK(check_only_buffer(&r, many, 300, false));
	unit_fail_alloc_at(3);
	ASSERT_OK(check_only_buffer(&r, many, 300, false));
	unit_fail_alloc_at(0);

	/* a page right before its run: runs that touch do not overlap */
	small = small_folio_run(3);
	layout_fill(behind, 0, small + 1, 2);
	behind->pfns[2] = small;
	ASSERT_OK(check_only_buffer(&r, behind, 3, true));

	/* nor a page right after its run, with another page between them */
	behind->pfns[0] = small;
	behind->pfns[1] = unit_folio_new(0);
	behind->pfns[2] = small + 1;
	ASSERT_OK(check_only_buffer(&r, behind, 3, true));

	/* a run starting before the one before it and reaching into it */
	small = small_folio_run(4);
	layout_fill(into, 0, small + 1, 3);
	layout_fill(into, 3, small, 2);
	ASSERT_OK(check_only_buffer(&r, into, 4, false));

	/* one run of 4097 small pages, longer than any earlier bound */
	layout_fill(run, 0, small_folio_run(4097), 4097);
	ASSERT_OK(check_only_buffer(&r, run, 4097, true));
	ASSERT_EQ(ring_locked(&r), 0);
	ASSERT_TRUE(xa_empty(&r.ctx.buf_acct_blocks));
	ASSERT_TRUE(xa_empty(&r.ctx.buf_acct_large));
	ring_exit(&r);
	free(a);
	free(twice);
	free(b);
	free(gaps);
	free(many);
	free(behind);
	free(into);
	free(order);
	free(run);
	return true;
}

/*
 * Buffers that share no folio with another buffer of the ring stay out of
 * the counters however many there are, next to counted ones too. One that
 * shares a folio, or whose folios someone else pins, has them all counted
 * first; the charge is one per folio throughout.
 */
static bool test_acct_unindexed_many(void)
{
	struct layout *a = layout_new(0x7f0000000000UL, 40 * PAGE_SIZE);
	struct layout *b = layout_new(0x7f0001000000UL, SZ_2M);
	struct layout *c = layout_new(0x7f0002000000UL, 8 * PAGE_SIZE);
	struct layout *d = layout_new(0x7f0003000000UL, 2 * PAGE_SIZE);
	struct layout *e = layout_new(0x7f0004000000UL, 64 * PAGE_SIZE);
	struct layout *f = layout_new(0x7f0005000000UL, 64 * PAGE_SIZE);
	struct io_mapped_ubuf *ia, *ib, *ic, *id, *ie, *iff;
	unsigned long small, thp, j;
	long loads;
	struct ring r;

	layout_fill(a, 0, small_folio_run(40), 40);
	layout_fill(b, 0, unit_folio_new(9), 512);
	small = small_folio_run(8);
	for (j = 0; j < 8; j++)
		c->pfns[j] = small + 7 - j;
	thp = unit_folio_new(9);
	layout_fill(e, 0, thp, 64);
	layout_fill(f, 0, thp + 64, 64);
	ring_init(&r, true);

	loads = unit_xa_loads;
	ASSERT_EQ(layout_register(&r, a, &ia), 0);
	ASSERT_EQ(layout_register(&r, b, &ib), 0);
	ASSERT_EQ(layout_register(&r, c, &ic), 0);
	ASSERT_EQ(unit_xa_loads, loads);
	ASSERT_TRUE(unindexed(ia) && unindexed(ib) && unindexed(ic));
	ASSERT_TRUE(counters_empty(&r));
	ASSERT_EQ(ring_locked(&r), 40 + 512 + 8);
	ASSERT_EQ(ring_pinned_vm(&r), 40 + 512 + 8);

	/* one in the middle goes, the others stay out */
	io_regbuf_release(&r.ctx, ib);
	ASSERT_EQ(ring_locked(&r), 48);
	ASSERT_TRUE(unindexed(ia) && unindexed(ic));

	/* d shares a page with c: the ring's buffers are all counted */
	d->pfns[0] = small + 3;
	d->pfns[1] = unit_folio_new(0);
	ASSERT_EQ(layout_register(&r, d, &id), 0);
	ASSERT_TRUE(none_unindexed(&r) && !unindexed(id));
	ASSERT_TRUE(!counters_empty(&r));
	ASSERT_EQ(ring_locked(&r), 48 + 1);

	/* e shares nothing: out of the counters, next to counted buffers */
	ASSERT_EQ(layout_register(&r, e, &ie), 0);
	ASSERT_TRUE(unindexed(ie));
	ASSERT_EQ(ring_locked(&r), 49 + 512);
	/* f pins other pages of e's THP, which its pincount tells */
	ASSERT_EQ(layout_register(&r, f, &iff), 0);
	ASSERT_TRUE(none_unindexed(&r));
	ASSERT_EQ(ring_locked(&r), 49 + 512);

	/* a folio's charge goes with the last buffer pinning it */
	io_regbuf_release(&r.ctx, ie);
	ASSERT_EQ(ring_locked(&r), 49 + 512);
	io_regbuf_release(&r.ctx, ic);
	ASSERT_EQ(ring_locked(&r), 49 + 512 - 7);
	io_regbuf_release(&r.ctx, ia);
	ASSERT_EQ(ring_locked(&r), 2 + 512);
	io_regbuf_release(&r.ctx, iff);
	ASSERT_EQ(ring_locked(&r), 2);
	io_regbuf_release(&r.ctx, id);
	ASSERT_EQ(ring_locked(&r), 0);
	ASSERT_EQ(ring_pinned_vm(&r), 0);
	ASSERT_TRUE(counters_empty(&r));

	/* pinned by someone else too: counted, and charged its own pages */
	ASSERT_EQ(layout_register(&r, a, &ia), 0);
	unit_foreign_pin(c->pfns[5], 1);
	ASSERT_EQ(layout_register(&r, c, &ic), 0);
	ASSERT_TRUE(none_unindexed(&r));
	ASSERT_EQ(ring_locked(&r), 48);
	io_regbuf_release(&r.ctx, ic);
	unit_foreign_pin(c->pfns[5], -1);

	/* other references fewer than the pin bias are not a pin... */
	unit_memmap[c->pfns[5]].refs = GUP_PIN_COUNTING_BIAS - 2;
	ASSERT_EQ(layout_register(&r, c, &ic), 0);
	ASSERT_TRUE(unindexed(ic));
	ASSERT_EQ(ring_locked(&r), 48);
	io_regbuf_release(&r.ctx, ic);
	/* ...as many look like one */
	unit_memmap[c->pfns[5]].refs = GUP_PIN_COUNTING_BIAS - 1;
	ASSERT_EQ(layout_register(&r, c, &ic), 0);
	ASSERT_TRUE(!unindexed(ic));
	ASSERT_EQ(ring_locked(&r), 48);
	io_regbuf_release(&r.ctx, ic);
	unit_memmap[c->pfns[5]].refs = 0;
	io_regbuf_release(&r.ctx, ia);
	ASSERT_EQ(ring_locked(&r), 0);
	ASSERT_TRUE(counters_empty(&r) && none_unindexed(&r));
	ring_exit(&r);
	free(a);
	free(b);
	free(c);
	free(d);
	free(e);
	free(f);
	return true;
}

/*
 * A buffer refused after the ring's unindexed buffers were counted for it,
 * at any allocation or at the memlock limit, leaves them out of the
 * counters again, in their order, and memory and charge as they were.
 */
static bool test_acct_unindexed_many_failure(void)
{
	struct layout *a = layout_new(0x7f0000000000UL, 70 * PAGE_SIZE);
	struct layout *b = layout_new(0x7f0001000000UL, 100 * PAGE_SIZE);
	struct layout *c = layout_new(0x7f0002000000UL, 3 * PAGE_SIZE);
	struct layout *d = layout_new(0x7f0003000000UL, 601 * PAGE_SIZE);
	struct io_mapped_ubuf *ia, *ib, *ic, *id;
	long allocs, pinned, charged, calls;
	unsigned int nth, failures = 0;
	struct ring r;

	align_small_folios(32);
	skip_small_folios(10);
	layout_fill(a, 0, small_folio_run(70), 70);
	layout_fill(b, 0, unit_folio_new(9) + 200, 100);
	c->pfns[0] = unit_folio_new(0);
	c->pfns[1] = unit_folio_new(1);
	c->pfns[2] = unit_folio_new(2);
	d->pfns[0] = b->pfns[10];
	layout_fill(d, 1, small_folio_run(600), 600);
	ring_init(&r, true);
	ASSERT_EQ(layout_register(&r, a, &ia), 0);
	ASSERT_EQ(layout_register(&r, b, &ib), 0);
	ASSERT_EQ(layout_register(&r, c, &ic), 0);
	allocs = unit_allocs;
	pinned = unit_pinned;
	charged = ring_locked(&r);
	ASSERT_EQ(charged, 70 + 512 + 1 + 2 + 4);

	/* at the memlock limit, with all the counting done */
	unit_memlock_limit = (charged + 599) * PAGE_SIZE;
	ASSERT_EQ(layout_register(&r, d, &id), -ENOMEM);
	unit_memlock_limit = ~0UL;
	ASSERT_OK(check_unchanged(&r, allocs, pinned, charged));
	ASSERT_TRUE(unindexed(ia) && unindexed(ib) && unindexed(ic));
	ASSERT_TRUE(counters_empty(&r));

	for (nth = 1; ; nth++) {
		int ret;

		calls = unit_alloc_calls;
		unit_fail_alloc_at(nth);
		ret = layout_register(&r, d, &id);
		unit_fail_alloc_at(0);
		if (!ret)
			break;
		ASSERT_EQ(ret, -ENOMEM);
		ASSERT_OK(check_unchanged(&r, allocs, pinned, charged));
		ASSERT_TRUE(r.ctx.buf_acct_unindexed.next == &ia->acct_node);
		ASSERT_TRUE(ia->acct_node.next == &ib->acct_node);
		ASSERT_TRUE(ib->acct_node.next == &ic->acct_node);
		ASSERT_TRUE(counters_empty(&r));
		failures++;
	}
	/* each allocation of the call refused it once */
	ASSERT_EQ(unit_alloc_calls - calls, failures);
	ASSERT_TRUE(failures >= 10);
	ASSERT_TRUE(none_unindexed(&r));
	ASSERT_EQ(ring_locked(&r), charged + 600);
	io_regbuf_release(&r.ctx, id);
	ASSERT_EQ(ring_locked(&r), charged);

	io_regbuf_release(&r.ctx, ia);
	io_regbuf_release(&r.ctx, ib);
	io_regbuf_release(&r.ctx, ic);
	ASSERT_EQ(ring_locked(&r), 0);
	ASSERT_TRUE(counters_empty(&r));
	ring_exit(&r);
	free(a);
	free(b);
	free(c);
	free(d);
	return true;
}

/*
 * Fails each allocation of a registration in turn, next to a buffer that
 * shares none of its folios or some, until one registration succeeds
 * without an injected failure. Someone else pins one of its pages, so it
 * is counted, and the other buffer, unindexed until then, is counted in
 * the same call: its allocations fail in turn too. A failure of the array
 * for the pfn runs only means counting: that registration succeeds, and
 * the ring starts over.
 */
static bool test_alloc_failure_each_step(void)
{
	unsigned int shared;

	for (shared = 0; shared < 2; shared++) {
		struct io_mapped_ubuf *other = NULL, *imu;
		struct layout *o = NULL, *l;
		long allocs, pinned, charged, calls, both = -1;
		unsigned int j, nth, failures = 0, worked_around = 0;
		struct ring r;

		unit_world_reset();
		l = layout_new(0x7f0000000000UL + 0x800,
			       777 * PAGE_SIZE - 0x800);
		layout_fill(l, 0, unit_folio_new(9) + 400, 100);
		/* 100 runs: a pfn nobody maps after each folio */
		for (j = 100; j < 200; j++) {
			l->pfns[j] = unit_folio_new(rnd_below(3));
			skip_small_folios(1);
		}
		/* two whole blocks, then a page of the first one again */
		align_small_folios(32);
		layout_fill(l, 200, small_folio_run(64), 64);
		l->pfns[264] = l->pfns[203];
		/* and a whole range */
		align_small_folios(512);
		layout_fill(l, 265, small_folio_run(512), 512);
		unit_foreign_pin(l->pfns[300], 1);
		ring_init(&r, true);
		o = layout_new(0x7f1000000000UL, 3 * PAGE_SIZE);
		o->pfns[0] = shared ? l->pfns[5] : unit_folio_new(0);
		o->pfns[1] = shared ? l->pfns[150] : unit_folio_new(1);
		o->pfns[2] = shared ? l->pfns[199] : unit_folio_new(2);
		ASSERT_EQ(layout_register(&r, o, &other), 0);
		ASSERT_TRUE(unindexed_alone(&r, other));
		allocs = unit_allocs;
		pinned = unit_pinned;
		charged = ring_locked(&r);
		for (nth = 1; ; nth++) {
			int ret;

			calls = unit_alloc_calls;
			unit_fail_alloc_at(nth);
			ret = layout_register(&r, l, &imu);
			unit_fail_alloc_at(0);
			if (ret) {
				ASSERT_EQ(ret, -ENOMEM);
				ASSERT_OK(check_unchanged(&r, allocs, pinned,
							  charged));
				failures++;
				continue;
			}
			ASSERT_TRUE(none_unindexed(&r));
			ASSERT_OK(check_bvecs(l, imu));
			if (both < 0)
				both = ring_locked(&r);
			ASSERT_EQ(ring_locked(&r), both);
			if (unit_alloc_calls - calls < nth)
				break;
			io_regbuf_release(&r.ctx, imu);
			io_regbuf_release(&r.ctx, other);
			ASSERT_EQ(layout_register(&r, o, &other), 0);
			ASSERT_TRUE(unindexed_alone(&r, other));
			ASSERT_OK(check_unchanged(&r, allocs, pinned, charged));
			worked_around++;
		}
		/*
		 * pages, imu, the other buffer's blocks, the large folio's
		 * slot, each block and its slot, each whole block, a whole
		 * block turned into slots, and the whole range; the runs'
		 * array of 128 entries, which is worked around
		 */
		ASSERT_TRUE(failures >= 12);
		ASSERT_EQ(worked_around, 1);
		io_regbuf_release(&r.ctx, imu);
		io_regbuf_release(&r.ctx, other);
		ASSERT_EQ(ring_locked(&r), 0);
		unit_foreign_pin(l->pfns[300], -1);
		ring_exit(&r);
		free(l);
		free(o);
	}
	return true;
}

/*
 * GUP fills its page array into an imu with room for a bvec per page. A
 * buffer of 4 KiB pages keeps that imu, a single allocation; a coalesced
 * one moves to an imu of its own size, or stays in the large one with the
 * same bvecs if that allocation fails. ASan's malloc_usable_size() is the
 * size asked for.
 */
static bool test_register_imu_size(void)
{
	struct layout *small = layout_new(0x7f0000000000UL + 100,
					  8 * PAGE_SIZE);
	struct layout *huge = layout_new(0x7f0000200000UL + 0x800,
					 2 * SZ_2M - PAGE_SIZE);
	struct io_mapped_ubuf *imu;
	unsigned int fail, j;
	long calls;
	struct ring r;

	for (j = 0; j < small->nr_pages; j++)
		small->pfns[j] = unit_folio_new(rnd_below(2));
	layout_fill(huge, 0, unit_folio_new(9), 512);
	layout_fill(huge, 512, unit_folio_new(9), 512);
	ring_init(&r, true);

	calls = unit_alloc_calls;
	ASSERT_EQ(layout_register(&r, small, &imu), 0);
	ASSERT_EQ(unit_alloc_calls - calls, 1);
	ASSERT_EQ(imu->nr_bvecs, 9);
	ASSERT_EQ(malloc_usable_size(imu), struct_size(imu, bvec, 9));
	ASSERT_OK(check_bvecs(small, imu));
	io_regbuf_release(&r.ctx, imu);

	for (fail = 0; fail < 2; fail++) {
		calls = unit_alloc_calls;
		unit_fail_alloc_at(fail ? 2 : 0);
		ASSERT_EQ(layout_register(&r, huge, &imu), 0);
		unit_fail_alloc_at(0);
		ASSERT_EQ(unit_alloc_calls - calls, 2);
		ASSERT_EQ(unit_allocs, 1);
		ASSERT_EQ(imu->nr_bvecs, 2);
		ASSERT_EQ(malloc_usable_size(imu),
			  struct_size(imu, bvec, fail ? 1024 : 2));
		ASSERT_OK(check_bvecs(huge, imu));
		ASSERT_EQ(ring_locked(&r), 1024);
		io_regbuf_release(&r.ctx, imu);
		ASSERT_EQ(ring_locked(&r), 0);
	}
	ring_exit(&r);
	free(small);
	free(huge);
	return true;
}

/* GUP refusing a page anywhere in the buffer leaves nothing behind. */
static bool test_pin_failure_anywhere(void)
{
	int errnos[] = { -EFAULT, -EOPNOTSUPP };
	unsigned int e, at;
	struct ring r;

	ring_init(&r, true);
	for (e = 0; e < 2; e++) {
		for (at = 0; at < 40; at += 3) {
			struct layout *l = layout_new(0x7f0000000000UL,
						      40 * PAGE_SIZE);
			struct io_mapped_ubuf *imu;

			unit_world_reset();
			layout_fill(l, 0, unit_folio_new(5), 32);
			layout_fill(l, 32, unit_folio_new(3), 8);
			l->pfns[at] = e ? UNIT_PFN_EOPNOTSUPP : UNIT_PFN_EFAULT;
			ASSERT_EQ(layout_register(&r, l, &imu), errnos[e]);
			ASSERT_TRUE(imu == r.ctx.dummy_ubuf);
			ASSERT_EQ(unit_pinned, 0);
			ASSERT_EQ(unit_allocs, 0);
			ASSERT_EQ(ring_locked(&r), 0);
			free(l);
		}
	}
	ring_exit(&r);
	return true;
}

/*
 * Cost shape of the fast paths: a huge-page buffer unpins with one call
 * and keeps one counter per folio, and small pages that are physically
 * close share counter blocks, so they need far fewer lookups than pages.
 */
static bool test_batching(void)
{
	struct layout *huge = layout_new(0x7f0000000000UL, 128 * SZ_2M);
	struct layout *small = layout_new(0x7f1000000000UL, 4096 * PAGE_SIZE);
	struct io_mapped_ubuf *ih, *is;
	unsigned long j;
	long loads, allocs;
	struct ring r;

	for (j = 0; j < 128; j++)
		layout_fill(huge, j * 512, unit_folio_new(9), 512);
	align_small_folios(512);
	skip_small_folios(20);
	layout_fill(small, 0, small_folio_run(4096), 4096);
	ring_init(&r, true);

	/* the ring's only buffer: no counter at all */
	loads = unit_xa_loads;
	ASSERT_EQ(layout_register(&r, huge, &ih), 0);
	ASSERT_EQ(ih->nr_bvecs, 128);
	ASSERT_EQ(unit_xa_loads - loads, 0);
	ASSERT_TRUE(unindexed_alone(&r, ih));
	ASSERT_TRUE(xa_empty(&r.ctx.buf_acct_large));

	/*
	 * Pinned by someone else too, the second buffer may share a folio
	 * with the first: it counts the first as well, one counter per huge
	 * folio. Then physically consecutive small pages from pfn 20 of a
	 * range on: a block of slots for pages 20 to 31, 15 whole blocks,
	 * 7 whole ranges and a block of slots for the last 20 pages.
	 */
	unit_foreign_pin(small->pfns[100], 1);
	loads = unit_xa_loads;
	allocs = unit_alloc_calls;
	ASSERT_EQ(layout_register(&r, small, &is), 0);
	unit_foreign_pin(small->pfns[100], -1);
	ASSERT_TRUE(unit_xa_loads - loads <= 128 + 4096 / 32 + 2);
	ASSERT_EQ(r.ctx.buf_acct_large.nr, 128 + 7);
	ASSERT_EQ(r.ctx.buf_acct_blocks.nr, 1 + 15 + 1);
	/*
	 * the imu, holding the page array, 2 blocks of slots, and the stub
	 * xarray's allocation per new index
	 */
	ASSERT_EQ(unit_alloc_calls - allocs, 1 + 2 + 128 + 7 + 17);
	ASSERT_EQ(ring_locked(&r), 128 * 512 + 4096);

	unit_unpin_calls = 0;
	io_regbuf_release(&r.ctx, ih);
	ASSERT_EQ(unit_unpin_calls, 128);
	io_regbuf_release(&r.ctx, is);
	ring_exit(&r);
	free(huge);
	free(small);
	return true;
}

/* The work of one registration does not grow with the buffers already there. */
static bool test_many_buffers_linear(void)
{
	static struct io_mapped_ubuf *imus[512];
	long loads_first = 0, loads_last = 0, calls;
	struct layout *l = layout_new(0, SZ_2M);
	unsigned int i;
	struct ring r;

	ring_init(&r, true);
	for (i = 0; i < 512; i++) {
		long before = unit_xa_loads;

		l->ubuf = ((unsigned long)(i + 1) << 30);
		layout_fill(l, 0, unit_folio_new(9), 512);
		calls = unit_alloc_calls;
		ASSERT_EQ(layout_register(&r, l, &imus[i]), 0);
		ASSERT_TRUE(unit_alloc_calls - calls <= 4);
		/* the first waits out of the counters, the second adds it */
		if (i == 2)
			loads_first = unit_xa_loads - before;
		loads_last = unit_xa_loads - before;
	}
	ASSERT_EQ(loads_first, loads_last);
	ASSERT_EQ(ring_locked(&r), 512 * 512);
	for (i = 0; i < 512; i++)
		io_regbuf_release(&r.ctx, imus[i]);
	ASSERT_EQ(ring_locked(&r), 0);
	ring_exit(&r);
	free(l);
	return true;
}

struct unit_test {
	const char	*name;
	bool		(*fn)(void);
};

#define TEST(fn)	{ #fn, fn }
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static const struct unit_test tests[] = {
	TEST(test_validate_errnos),
	TEST(test_empty_slot_is_dummy),
	TEST(test_pin_pages_errors),
	TEST(test_coalesce_scattered_small_pages),
	TEST(test_coalesce_never_crosses_small_folios),
	TEST(test_coalesce_aligned_thp),
	TEST(test_coalesce_mid_folio),
	TEST(test_coalesce_1g_then_2m),
	TEST(test_coalesce_last_1g_then_2m),
	TEST(test_coalesce_small_then_2m),
	TEST(test_coalesce_single_small_page),
	TEST(test_coalesce_mixed_1g_2m_aligned),
	TEST(test_coalesce_adjacent_folios_split),
	TEST(test_coalesce_same_page_twice),
	TEST(test_coalesce_folio_out_of_order),
	TEST(test_coalesce_small_buffer_in_thp),
	TEST(test_coalesce_misaligned_huge),
	TEST(test_coalesce_random),
	TEST(test_import_errors),
	TEST(test_import_segment_edges),
	TEST(test_import_random),
	TEST(test_acct_shared_folios),
	TEST(test_acct_page_runs),
	TEST(test_acct_whole_blocks),
	TEST(test_acct_whole_ranges),
	TEST(test_acct_per_ring_and_cap_ipc_lock),
	TEST(test_acct_random_sequences),
	TEST(test_memlock_limit),
	TEST(test_acct_unindexed),
	TEST(test_acct_unindexed_many),
	TEST(test_acct_unindexed_many_failure),
	TEST(test_alloc_failure_each_step),
	TEST(test_pin_failure_anywhere),
	TEST(test_register_imu_size),
	TEST(test_batching),
	TEST(test_many_buffers_linear),
};

/* Whatever a test did, it must leave no allocation, pin or warning. */
static bool world_is_clean(void)
{
	ASSERT_EQ(unit_allocs, 0);
	ASSERT_EQ(unit_pinned, 0);
	ASSERT_EQ(unit_warnings, 0);
	ASSERT_EQ(unit_mutex_errors, 0);
	ASSERT_EQ(unit_gup_misuse, 0);
	return true;
}

int main(void)
{
	const char *env = getenv("UNIT_SEED");
	unsigned int i, passed = 0, failed = 0;

	/* keep results in order with stderr diagnostics */
	setvbuf(stdout, NULL, _IOLBF, 0);
	seed = env ? strtoull(env, NULL, 0) : 0x5eedf00dULL;
	printf("regbuf unit tests, UNIT_SEED=%llu\n", seed);
	for (i = 0; i < ARRAY_SIZE(tests); i++) {
		bool ok;

		unit_world_reset();
		unit_counters_reset();
		rng_state = seed * 0x9e3779b97f4a7c15ULL + i + 1;

		ok = tests[i].fn();
		ok = world_is_clean() && ok;
		printf("%s %s\n", ok ? "ok  " : "FAIL", tests[i].name);
		if (ok)
			passed++;
		else
			failed++;
	}
	printf("%u passed, %u failed\n", passed, failed);
	/* a failed test leaves its objects behind: skip the leak report */
	if (failed)
		_exit(1);
	return 0;
}
