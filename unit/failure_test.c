// SPDX-License-Identifier: GPL-2.0
/*
 * Failure injection: GUP refusing a page or breaking its all-or-nothing
 * promise, and every allocation of a registration failed in turn. Each
 * refusal leaves memory, pins and charge exactly as they were.
 */
#include <malloc.h>

#include <linux/errno.h>
#include <linux/sizes.h>
#include <linux/slab.h>

#include "harness.h"

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
 * A buffer of huge folios, one of them shared with a buffer already
 * registered, and a small page, registered with each of its allocations
 * failed in turn: the imu, the right-sized imu (worked around: the buffer
 * stays in the first one) and an xarray entry per large folio the ring did
 * not count yet, first under the lock (worked around: the retry with the
 * lock dropped gets it). Then memory runs out from each allocation on:
 * every registration is refused with -ENOMEM and undoes the counts taken
 * before.
 */
static bool test_alloc_failure_each_step(void)
{
	struct layout *l = layout_new(0x7f0000000000UL + 0x800, 5 * SZ_2M);
	struct layout *o = layout_new(0x7f1000000000UL, PAGE_SIZE);
	struct io_mapped_ubuf *other, *imu;
	unsigned int j, nth, failures = 0, worked_around = 0;
	long allocs, pinned, charged, calls, needed = 0;
	struct ring r;

	for (j = 0; j < 5; j++)
		layout_fill(l, j * 512, unit_folio_new(9), 512);
	l->pfns[5 * 512] = unit_folio_new(0);
	o->pfns[0] = l->pfns[1000];
	ring_init(&r, true);
	ASSERT_EQ(layout_register(&r, o, &other), 0);
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
			ASSERT_OK(check_unchanged(&r, allocs, pinned, charged));
			failures++;
			continue;
		}
		ASSERT_OK(check_bvecs(l, imu));
		ASSERT_EQ(ring_locked(&r), 5 * 512 + 1);
		io_regbuf_release(&r.ctx, imu);
		if (unit_alloc_calls - calls < nth) {
			needed = unit_alloc_calls - calls;
			break;
		}
		worked_around++;
	}
	ASSERT_EQ(failures, 1);
	ASSERT_EQ(worked_around, 1 + 4);
	/* the imu, the right-sized one, the four new folios' entries */
	ASSERT_EQ(needed, 6);
	for (nth = 1; nth <= needed; nth++) {
		unit_fail_allocs_from(nth);
		ASSERT_EQ(layout_register(&r, l, &imu), -ENOMEM);
		unit_fail_alloc_at(0);
		ASSERT_OK(check_unchanged(&r, allocs, pinned, charged));
	}
	io_regbuf_release(&r.ctx, other);
	ASSERT_EQ(ring_locked(&r), 0);
	ring_exit(&r);
	free(l);
	free(o);
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
		small->pfns[j] = unit_folio_new(0);
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
		/* and the stub xarray's entry for each of the two folios */
		ASSERT_EQ(unit_alloc_calls - calls, 2 + 2);
		ASSERT_EQ(unit_allocs, 1 + 2);
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

/*
 * A buffer with more ranges than a registration first has room for (1024):
 * 1100 small pages, then most of a 2 MiB folio. GUP is called a second
 * time for the pages left, into an imu with room for a range per page of
 * them; that imu failing, or a page the second call refuses, leaves
 * nothing pinned, charged or allocated.
 */
static bool test_register_past_first_room(void)
{
	struct layout *l = layout_new(0x7f0000000000UL + 0x100,
				      1500 * PAGE_SIZE);
	struct io_mapped_ubuf *imu;
	unsigned long j;
	long calls;
	struct ring r;

	for (j = 0; j < 1100; j++)
		l->pfns[j] = unit_folio_new(0);
	layout_fill(l, 1100, unit_folio_new(9), l->nr_pages - 1100);
	ring_init(&r, true);

	calls = unit_pin_calls;
	ASSERT_EQ(layout_register(&r, l, &imu), 0);
	ASSERT_EQ(unit_pin_calls - calls, 2);
	ASSERT_OK(check_bvecs(l, imu));
	/* a segment per page: the second imu is already of the right size */
	ASSERT_EQ(imu->nr_bvecs, l->nr_pages);
	ASSERT_EQ(malloc_usable_size(imu), struct_size(imu, bvec, l->nr_pages));
	ASSERT_EQ(unit_allocs, 1 + 1);
	ASSERT_EQ(ring_locked(&r), 1100 + 512);
	io_regbuf_release(&r.ctx, imu);

	unit_fail_alloc_at(2);
	ASSERT_EQ(layout_register(&r, l, &imu), -ENOMEM);
	unit_fail_alloc_at(0);
	ASSERT_TRUE(imu == r.ctx.dummy_ubuf);
	ASSERT_OK(check_unchanged(&r, 0, 0, 0));

	l->pfns[1300] = UNIT_PFN_EFAULT;
	calls = unit_pin_calls;
	ASSERT_EQ(layout_register(&r, l, &imu), -EFAULT);
	ASSERT_EQ(unit_pin_calls - calls, 2);
	ASSERT_TRUE(imu == r.ctx.dummy_ubuf);
	ASSERT_OK(check_unchanged(&r, 0, 0, 0));
	ring_exit(&r);
	free(l);
	return true;
}

static const struct unit_test tests[] = {
	UNIT_TEST(test_pin_pages_errors),
	UNIT_TEST(test_pin_failure_anywhere),
	UNIT_TEST(test_alloc_failure_each_step),
	UNIT_TEST(test_register_imu_size),
	UNIT_TEST(test_register_past_first_room),
};

UNIT_SUITE(failure_suite, tests);
