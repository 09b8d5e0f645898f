// SPDX-License-Identifier: GPL-2.0
/*
 * The reference models: coalescing rebuilt page by page from a layout,
 * and an imported iterator walked fragment by fragment the way
 * lib/iov_iter.c walks it; and random layouts to feed them.
 */
#include <linux/sizes.h>

#include "harness.h"

/* The reference rule, page by page: may page j share a segment with j - 1? */
static bool ref_continues(const struct layout *l, unsigned long j)
{
	/* where GUP ends a range, a segment ends too */
	if (unit_range_break &&
	    ((l->ubuf >> PAGE_SHIFT) + j) % unit_range_break == 0)
		return false;
	return head_of(l->pfns[j]) == head_of(l->pfns[j - 1]) &&
	       l->pfns[j] == l->pfns[j - 1] + 1;
}

/*
 * The reference segment shift: no larger than the largest buffer
 * io_buffer_validate() accepts, and no larger than the alignment of any
 * address where the page-by-page rule refuses to continue a segment.
 */
unsigned int ref_seg_shift(const struct layout *l)
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
bool check_bvecs(const struct layout *l,
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
bool check_import(const struct layout *l, struct io_mapped_ubuf *imu,
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
bool check_layout(struct ring *r, const struct layout *l)
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
bool check_layout_alone(struct layout *l, unsigned int shift)
{
	struct ring r;

	ring_init(&r, true);
	ASSERT_EQ(ref_seg_shift(l), shift);
	ASSERT_OK(check_layout(&r, l));
	ring_exit(&r);
	free(l);
	return true;
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
unsigned int random_order(void)
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
struct layout *random_layout(unsigned long max_pages)
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
