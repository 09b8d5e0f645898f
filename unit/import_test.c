// SPDX-License-Identifier: GPL-2.0
/*
 * io_import_fixed(): ranges refused, ranges on and across segment edges,
 * and random ranges of random layouts, walked against the layout.
 */
#include <linux/errno.h>
#include <linux/sizes.h>

#include "harness.h"

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

static const struct unit_test tests[] = {
	UNIT_TEST(test_import_errors),
	UNIT_TEST(test_import_segment_edges),
	UNIT_TEST(test_import_random),
};

UNIT_SUITE(import_suite, tests);
