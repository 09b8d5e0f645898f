// SPDX-License-Identifier: GPL-2.0
/*
 * Coalescing: which iovecs register, and the bvecs a registration builds
 * for chosen and random physical layouts, against the reference model.
 */
#include <linux/errno.h>
#include <linux/sizes.h>

#include "harness.h"

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

/*
 * GUP may end a range anywhere, not only where a folio or its physical
 * run ends: segments must end there too, and the bvecs built over the
 * ranges in place (when the imu of the exact size cannot be had) must be
 * the same as those built into a new one.
 */
static bool test_coalesce_any_range_split(void)
{
	struct layout *l = layout_new(0x7f0000001000UL + 0x321,
				      46 * PAGE_SIZE);
	unsigned long brk, in_place = 0;
	unsigned int fail_fit;
	struct ring r;

	/* a small page, 38 pages of a 2 MiB folio from its 6th, 8 of another */
	l->pfns[0] = unit_folio_new(0);
	layout_fill(l, 1, unit_folio_new(9) + 5, 38);
	layout_fill(l, 39, unit_folio_new(3), 8);
	ring_init(&r, true);
	for (brk = 1; brk <= l->nr_pages; brk++) {
		for (fail_fit = 0; fail_fit < 2; fail_fit++) {
			unsigned int shift;
			unsigned long nr_segs;

			unit_range_break = brk;
			shift = ref_seg_shift(l);
			nr_segs = ((l->ubuf + l->len - 1) >> shift) -
				  (l->ubuf >> shift) + 1;
			if (fail_fit && nr_segs == l->nr_pages)
				continue;
			in_place += fail_fit;
			/* the imu of the exact size is the second allocation */
			unit_fail_alloc_at(fail_fit ? 2 : 0);
			if (!check_layout(&r, l)) {
				fprintf(stderr, "  range break every %lu pages%s\n",
					brk, fail_fit ? ", in place" : "");
				return false;
			}
			unit_fail_alloc_at(0);
		}
	}
	unit_range_break = 0;
	/* segments outnumber ranges when the 2 MiB run is in 8 KiB steps */
	ASSERT_TRUE(in_place >= 5);
	ASSERT_EQ(ring_locked(&r), 0);
	ASSERT_EQ(unit_pinned, 0);
	ring_exit(&r);
	free(l);
	return true;
}

static const struct unit_test tests[] = {
	UNIT_TEST(test_validate_errnos),
	UNIT_TEST(test_empty_slot_is_dummy),
	UNIT_TEST(test_coalesce_scattered_small_pages),
	UNIT_TEST(test_coalesce_never_crosses_small_folios),
	UNIT_TEST(test_coalesce_aligned_thp),
	UNIT_TEST(test_coalesce_mid_folio),
	UNIT_TEST(test_coalesce_1g_then_2m),
	UNIT_TEST(test_coalesce_last_1g_then_2m),
	UNIT_TEST(test_coalesce_small_then_2m),
	UNIT_TEST(test_coalesce_single_small_page),
	UNIT_TEST(test_coalesce_mixed_1g_2m_aligned),
	UNIT_TEST(test_coalesce_adjacent_folios_split),
	UNIT_TEST(test_coalesce_same_page_twice),
	UNIT_TEST(test_coalesce_folio_out_of_order),
	UNIT_TEST(test_coalesce_small_buffer_in_thp),
	UNIT_TEST(test_coalesce_misaligned_huge),
	UNIT_TEST(test_coalesce_any_range_split),
	UNIT_TEST(test_coalesce_random),
};

UNIT_SUITE(coalesce_suite, tests);
