// SPDX-License-Identifier: GPL-2.0
/*
 * Registered buffers: pin user memory long term, describe it with as few
 * bvecs as its physical layout allows, and turn an (address, length) pair
 * into an iov_iter in constant time. regbuf_acct.c charges the pins.
 */
#include <linux/kernel.h>
#include <linux/errno.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/sizes.h>
#include <linux/string.h>
#include <linux/overflow.h>
#include <linux/uio.h>
#include <linux/io_uring_types.h>

#include "regbuf.h"

/*
 * io_buffer_validate() accepts buffers of at most 1 GiB (SZ_1G), so a
 * larger segment would describe nothing more; the cap also keeps every
 * bv_len within an unsigned int.
 */
#define REGBUF_MAX_SEG_SHIFT	30

/*
 * Room for ranges that a registration starts with: a 1 GiB buffer of
 * 2 MiB folios, however it is aligned, needs no more, so registering huge
 * pages allocates per folio. A buffer with more ranges than this moves to
 * room for a range per page (see regbuf_pin_ranges()).
 */
#define REGBUF_FIRST_RANGES	1024UL

static bool regbuf_nr_pages(unsigned long ubuf, unsigned long len,
			    unsigned long *nr_pages);
static int regbuf_pin_pages(unsigned long ubuf, unsigned long nr_pages,
			    struct page **pages);
static int regbuf_pin_ranges(struct io_mapped_ubuf **pimu,
			     unsigned long *room, unsigned long ubuf,
			     unsigned long nr_pages, unsigned long *nr_ranges);
static void regbuf_unpin_ranges(const struct pin_range *ranges,
				unsigned long nr_ranges);
static unsigned int regbuf_seg_shift(const struct pin_range *ranges,
				     unsigned long nr_ranges,
				     unsigned long ubuf);
static unsigned int regbuf_nr_segs(unsigned long ubuf, unsigned long len,
				   unsigned int shift);
static void regbuf_fill_bvecs(struct io_mapped_ubuf *imu,
			      const struct pin_range *ranges,
			      unsigned long nr_ranges, unsigned long ubuf,
			      unsigned long len, unsigned int shift);
static void regbuf_fill_bvec_per_range(struct io_mapped_ubuf *imu,
				       const struct pin_range *ranges,
				       unsigned long ubuf, unsigned long end);
static void regbuf_unpin(const struct io_mapped_ubuf *imu);

int io_buffer_validate(struct iovec *iov)
{
	unsigned long tmp, acct_len = iov->iov_len + (PAGE_SIZE - 1);

	/*
	 * Don't impose further limits on the size and buffer
	 * constraints here, we'll -EINVAL later when IO is
	 * submitted if they are wrong.
	 */
	if (!iov->iov_base)
		return iov->iov_len ? -EFAULT : 0;
	if (!iov->iov_len)
		return -EFAULT;

	/* arbitrary limit, but we need something */
	if (iov->iov_len > SZ_1G)
		return -EFAULT;

	if (check_add_overflow((unsigned long)iov->iov_base, acct_len, &tmp))
		return -EOVERFLOW;

	return 0;
}

/* Pins for provided buffer rings (kbuf.c), in a page array of their own. */
struct page **io_pin_pages(unsigned long ubuf, unsigned long len, int *npages)
{
	unsigned long nr_pages;
	struct page **pages;
	int ret;

	if (!regbuf_nr_pages(ubuf, len, &nr_pages))
		return ERR_PTR(-EOVERFLOW);
	pages = kvmalloc_array(nr_pages, sizeof(*pages), GFP_KERNEL_ACCOUNT);
	if (!pages)
		return ERR_PTR(-ENOMEM);
	ret = regbuf_pin_pages(ubuf, nr_pages, pages);
	if (ret) {
		kvfree(pages);
		return ERR_PTR(ret);
	}
	*npages = nr_pages;
	return pages;
}

/*
 * Registers one buffer described by an iovec that io_buffer_validate()
 * accepted. A NULL base leaves the slot empty (the ring's dummy buffer).
 *
 * GUP describes the pinned pages as folio ranges, written into the imu's
 * bvec room: a range and a bvec are the same size, and the bvecs can be
 * built over the ranges (see regbuf_fill_bvecs()) when there is room for
 * them. The imu then moves to one of its exact size, unless that cannot be
 * had and the room it has will do.
 */
int io_regbuf_register(struct io_ring_ctx *ctx, struct iovec *iov,
		       struct io_mapped_ubuf **pimu)
{
	unsigned long ubuf = (unsigned long)iov->iov_base;
	unsigned long len = iov->iov_len, nr_pages, room, nr_ranges;
	struct io_mapped_ubuf *imu, *fit = NULL;
	unsigned int shift, nr_segs;
	struct pin_range *ranges;
	int ret;

	*pimu = ctx->dummy_ubuf;
	if (!iov->iov_base)
		return 0;
	if (!regbuf_nr_pages(ubuf, len, &nr_pages))
		return -EOVERFLOW;

	room = min(nr_pages, REGBUF_FIRST_RANGES);
	imu = kvmalloc(struct_size(imu, bvec, room), GFP_KERNEL_ACCOUNT);
	if (!imu)
		return -ENOMEM;
	ret = regbuf_pin_ranges(&imu, &room, ubuf, nr_pages, &nr_ranges);
	if (ret)
		goto free;
	ranges = (struct pin_range *)imu->bvec;

	shift = regbuf_seg_shift(ranges, nr_ranges, ubuf);
	nr_segs = regbuf_nr_segs(ubuf, len, shift);
	if (nr_segs != room)
		fit = kvmalloc(struct_size(imu, bvec, nr_segs),
			       GFP_KERNEL_ACCOUNT);
	if (!fit && nr_segs > room) {
		regbuf_unpin_ranges(ranges, nr_ranges);
		ret = -ENOMEM;
		goto free;
	}
	regbuf_fill_bvecs(fit ?: imu, ranges, nr_ranges, ubuf, len, shift);
	if (fit) {
		kvfree(imu);
		imu = fit;
	}

	ret = io_regbuf_account(ctx, imu);
	if (ret) {
		regbuf_unpin(imu);
		goto free;
	}
	*pimu = imu;
	return 0;
free:
	kvfree(imu);
	return ret;
}

/*
 * Called from BUFFERS_UPDATE and unregister under ->uring_lock and from the
 * rsrc put work without it. The charge goes before the pins: while pinned,
 * a folio cannot be freed and its pfn reused by a folio of another size
 * under the same count.
 */
void io_regbuf_release(struct io_ring_ctx *ctx, struct io_mapped_ubuf *imu)
{
	if (imu == ctx->dummy_ubuf)
		return;
	io_regbuf_unaccount(ctx, imu);
	regbuf_unpin(imu);
	kvfree(imu);
}

static unsigned long regbuf_seg_index(const struct io_mapped_ubuf *imu,
				      u64 addr)
{
	return (addr >> imu->seg_shift) - (imu->ubuf >> imu->seg_shift);
}

/*
 * Segments are cut at multiples of 1 << seg_shift in user address space,
 * so the segment holding an address is its distance in segments from the
 * buffer's first one, and only the first segment starts at ubuf rather
 * than on such a multiple.
 */
int io_import_fixed(int ddir, struct iov_iter *iter,
		    struct io_mapped_ubuf *imu, u64 buf_addr, size_t len)
{
	unsigned long first, nr_segs;
	u64 buf_end, seg_start;

	if (WARN_ON_ONCE(!imu))
		return -EFAULT;
	if (unlikely(check_add_overflow(buf_addr, (u64)len, &buf_end)))
		return -EFAULT;
	if (unlikely(buf_addr < imu->ubuf || buf_end > imu->ubuf_end))
		return -EFAULT;

	first = regbuf_seg_index(imu, buf_addr);
	nr_segs = len ? regbuf_seg_index(imu, buf_end - 1) - first + 1 : 0;
	seg_start = max(imu->ubuf, buf_addr & ~((1ULL << imu->seg_shift) - 1));

	iov_iter_bvec(iter, ddir, imu->bvec + first, nr_segs, len);
	iter->iov_offset = buf_addr - seg_start;
	return 0;
}

/* Pages that [@ubuf, @ubuf + @len) touches; false if the range wraps. */
static bool regbuf_nr_pages(unsigned long ubuf, unsigned long len,
			    unsigned long *nr_pages)
{
	unsigned long end;

	if (check_add_overflow(ubuf, len, &end) ||
	    check_add_overflow(end, PAGE_SIZE - 1, &end))
		return false;
	*nr_pages = (end >> PAGE_SHIFT) - (ubuf >> PAGE_SHIFT);
	return true;
}

/* Pins the @nr_pages pages from @ubuf's on into @pages, all or none. */
static int regbuf_pin_pages(unsigned long ubuf, unsigned long nr_pages,
			    struct page **pages)
{
	long pinned = pin_user_pages_longterm(ubuf & PAGE_MASK, nr_pages,
					      FOLL_WRITE, pages);

	if (pinned == nr_pages)
		return 0;
	/* the call is all or nothing; never trust a short count blindly */
	if (WARN_ON_ONCE(pinned >= 0)) {
		unpin_user_pages(pages, pinned);
		return -EFAULT;
	}
	return pinned;
}

/*
 * Pins the buffer's @nr_pages pages from @ubuf's on, as ranges in the bvec
 * room of *@pimu, *@room entries. When that fills up, the imu moves to one
 * with room for a range per page left, which no buffer can fill. All or
 * nothing: on error no page is pinned, and *@pimu is still to be freed.
 */
static int regbuf_pin_ranges(struct io_mapped_ubuf **pimu,
			     unsigned long *room, unsigned long ubuf,
			     unsigned long nr_pages, unsigned long *nr_ranges)
{
	struct pin_range *ranges = (struct pin_range *)(*pimu)->bvec;
	unsigned long first = *room, left, more;
	struct io_mapped_ubuf *imu;
	long pinned;

	BUILD_BUG_ON(sizeof(*ranges) != sizeof(*imu->bvec));
	ubuf &= PAGE_MASK;
	pinned = pin_user_ranges_longterm(ubuf, nr_pages, FOLL_WRITE, ranges,
					  &first);
	if (pinned < 0)
		return pinned;
	*nr_ranges = first;
	if (pinned == nr_pages)
		return 0;

	left = nr_pages - pinned;
	imu = kvmalloc(struct_size(imu, bvec, first + left),
		       GFP_KERNEL_ACCOUNT);
	if (!imu) {
		regbuf_unpin_ranges(ranges, first);
		return -ENOMEM;
	}
	memcpy(imu->bvec, ranges, first * sizeof(*ranges));
	kvfree(*pimu);
	*pimu = imu;
	*room = first + left;
	ranges = (struct pin_range *)imu->bvec;

	more = left;
	pinned = pin_user_ranges_longterm(ubuf + (pinned << PAGE_SHIFT), left,
					  FOLL_WRITE, ranges + first, &more);
	if (pinned >= 0 && WARN_ON_ONCE(pinned != left)) {
		regbuf_unpin_ranges(ranges + first, more);
		pinned = -EFAULT;
	}
	if (pinned < 0) {
		regbuf_unpin_ranges(ranges, first);
		return pinned;
	}
	*nr_ranges = first + more;
	return 0;
}

static void regbuf_unpin_ranges(const struct pin_range *ranges,
				unsigned long nr_ranges)
{
	unsigned long i;

	for (i = 0; i < nr_ranges; i++)
		unpin_user_page_range_dirty_lock(ranges[i].page, ranges[i].nr,
						 false);
}

/*
 * The largest segment shift at which no segment holds pages of two ranges:
 * each range boundary sits on a segment boundary, and a boundary at user
 * address A allows only shifts up to __ffs(A). GUP's ranges are pages
 * physically consecutive in one folio, never just a page that happens to
 * follow its neighbour's pointer, which keeps a page mapped twice or a
 * folio mapped out of order (CVE-2023-2598) apart. Folio sizes do not cap
 * the shift: the cuts already keep each segment inside its folio and the
 * buffer's ends clip the first and last one, so a small folio at either
 * end does not force small segments on the rest.
 */
static unsigned int regbuf_seg_shift(const struct pin_range *ranges,
				     unsigned long nr_ranges,
				     unsigned long ubuf)
{
	unsigned long boundary = ubuf & PAGE_MASK;
	unsigned int shift = REGBUF_MAX_SEG_SHIFT;
	unsigned long i;

	for (i = 0; i + 1 < nr_ranges && shift > PAGE_SHIFT; i++) {
		boundary += ranges[i].nr << PAGE_SHIFT;
		shift = min_t(unsigned int, shift, __ffs(boundary));
	}
	return shift;
}

static unsigned int regbuf_nr_segs(unsigned long ubuf, unsigned long len,
				   unsigned int shift)
{
	return ((ubuf + len - 1) >> shift) - (ubuf >> shift) + 1;
}

/*
 * Builds the bvecs from the @nr_ranges ranges of the buffer, last segment
 * first, so that @imu may be the imu whose bvec room holds the ranges: a
 * segment lies inside one range and each range holds at least one
 * segment, so segment s comes from a range r <= s, and bvec s is written
 * only after range s was read for the last time. With as many ranges as
 * segments, the usual case (pages of 4 KiB, or huge pages each pinned
 * whole), segment s is range s.
 */
static void regbuf_fill_bvecs(struct io_mapped_ubuf *imu,
			      const struct pin_range *ranges,
			      unsigned long nr_ranges, unsigned long ubuf,
			      unsigned long len, unsigned int shift)
{
	unsigned long seg_mask = (1UL << shift) - 1, end = ubuf + len;
	/* ranges[r] on start at range_start; past the last, the buffer ends */
	unsigned long seg_end = end, r = nr_ranges;
	unsigned long range_start = PAGE_ALIGN(end);
	unsigned int i = regbuf_nr_segs(ubuf, len, shift);

	imu->ubuf = ubuf;
	imu->ubuf_end = end;
	imu->nr_bvecs = i;
	imu->seg_shift = shift;
	if (nr_ranges == i) {
		regbuf_fill_bvec_per_range(imu, ranges, ubuf, end);
		return;
	}
	while (i--) {
		unsigned long seg_start = max(ubuf, (seg_end - 1) & ~seg_mask);
		struct page *page;

		while (seg_start < range_start)
			range_start -= ranges[--r].nr << PAGE_SHIFT;
		page = ranges[r].page +
		       ((seg_start - range_start) >> PAGE_SHIFT);
		bvec_set_page(&imu->bvec[i], page, seg_end - seg_start,
			      offset_in_page(seg_start));
		seg_end = seg_start;
	}
}

/* Bvec s is all of range s; the ranges may be the bvecs themselves. */
static void regbuf_fill_bvec_per_range(struct io_mapped_ubuf *imu,
				       const struct pin_range *ranges,
				       unsigned long ubuf, unsigned long end)
{
	unsigned long seg_mask = (1UL << imu->seg_shift) - 1, seg_start = ubuf;
	unsigned int i;

	for (i = 0; i < imu->nr_bvecs; i++) {
		unsigned long seg_left = seg_mask + 1 - (seg_start & seg_mask);
		unsigned long seg_len = min(end - seg_start, seg_left);

		bvec_set_page(&imu->bvec[i], ranges[i].page, seg_len,
			      offset_in_page(seg_start));
		seg_start += seg_len;
	}
}

/*
 * Unpins a segment at a time: one atomic per folio run, and for the
 * one-page segments of most buffers the plain call without the range walk.
 */
static void regbuf_unpin(const struct io_mapped_ubuf *imu)
{
	unsigned int i;

	for (i = 0; i < imu->nr_bvecs; i++) {
		const struct bio_vec *bv = &imu->bvec[i];
		unsigned int nr = DIV_ROUND_UP(bv->bv_offset + bv->bv_len,
					       PAGE_SIZE);

		if (nr == 1)
			unpin_user_page(bv->bv_page);
		else
			unpin_user_page_range_dirty_lock(bv->bv_page, nr, false);
	}
}
