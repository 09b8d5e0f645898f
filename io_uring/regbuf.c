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

static bool regbuf_nr_pages(unsigned long ubuf, unsigned long len,
			    unsigned long *nr_pages);
static int regbuf_pin_pages(unsigned long ubuf, unsigned long nr_pages,
			    struct page **pages);
static struct page **regbuf_page_room(struct io_mapped_ubuf *imu,
				      unsigned long nr_pages);
static unsigned int regbuf_seg_shift(struct page **pages,
				     unsigned long nr_pages, unsigned long ubuf);
static unsigned int regbuf_nr_segs(unsigned long ubuf, unsigned long len,
				   unsigned int shift);
static void regbuf_fill_bvecs(struct io_mapped_ubuf *imu, struct page **pages,
			      unsigned long ubuf, unsigned long len,
			      unsigned int shift);
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
 * Most buffers are of 4 KiB pages, a segment each, so the imu is sized for
 * that and GUP fills its page array into it: one allocation instead of
 * two. A coalesced buffer moves to an imu of its size, or stays where it
 * is if that cannot be had.
 */
int io_regbuf_register(struct io_ring_ctx *ctx, struct iovec *iov,
		       struct io_mapped_ubuf **pimu)
{
	unsigned long ubuf = (unsigned long)iov->iov_base;
	unsigned long len = iov->iov_len, nr_pages;
	struct io_mapped_ubuf *imu, *fit = NULL;
	unsigned int shift, nr_segs;
	struct page **pages;
	int ret;

	*pimu = ctx->dummy_ubuf;
	if (!iov->iov_base)
		return 0;
	if (!regbuf_nr_pages(ubuf, len, &nr_pages))
		return -EOVERFLOW;

	imu = kvmalloc(struct_size(imu, bvec, nr_pages), GFP_KERNEL_ACCOUNT);
	if (!imu)
		return -ENOMEM;
	pages = regbuf_page_room(imu, nr_pages);
	ret = regbuf_pin_pages(ubuf, nr_pages, pages);
	if (ret)
		goto free;

	shift = regbuf_seg_shift(pages, nr_pages, ubuf);
	nr_segs = regbuf_nr_segs(ubuf, len, shift);
	if (nr_segs < nr_pages)
		fit = kvmalloc(struct_size(imu, bvec, nr_segs),
			       GFP_KERNEL_ACCOUNT);
	regbuf_fill_bvecs(fit ?: imu, pages, ubuf, len, shift);
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
 * The page array GUP fills, placed in the back of an imu's room for a bvec
 * per page. Filling the bvecs front to back overwrites only pointers
 * already read: bvec i is built from a page at index i or later, and it
 * ends at byte 16 * (i + 1) of the array, which is no further than where
 * page i + 1's pointer starts, 8 * (nr_pages + i + 1), while i < nr_pages.
 */
static struct page **regbuf_page_room(struct io_mapped_ubuf *imu,
				      unsigned long nr_pages)
{
	return (struct page **)(imu->bvec + nr_pages) - nr_pages;
}

/*
 * Nonzero unless @page is the page @n pfns after @first. nth_page() steps
 * by pfn; bvec users step through a segment with bv_page + n, and the two
 * agree only where the memmap is virtually contiguous, which without
 * SPARSEMEM_VMEMMAP a gigantic folio's is not: a run ends where they
 * disagree. With a contiguous memmap both tests are the same one.
 */
static unsigned long regbuf_page_mismatch(struct page *page,
					  struct page *first, unsigned long n)
{
	return ((unsigned long)page ^ (unsigned long)(first + n)) |
	       ((unsigned long)page ^ (unsigned long)nth_page(first, n));
}

/*
 * Index of the first page after @i that does not continue the run of
 * physically consecutive pages of one folio starting at pages[i]. The run
 * cannot outlast the pages the folio has from pages[i] on, so only the
 * step to the next page needs checking.
 */
static unsigned long regbuf_contig_run_end(struct page **pages,
					   unsigned long i,
					   unsigned long nr_pages)
{
	struct page *first = pages[i];
	struct folio *folio = page_folio(first);
	unsigned long folio_left = folio_pfn(folio) + folio_nr_pages(folio) -
				   page_to_pfn(first);
	unsigned long end = i + min(folio_left, nr_pages - i);
	unsigned long n = 1;

	while (i + n < end && !regbuf_page_mismatch(pages[i + n], first, n))
		n++;
	return i + n;
}

/*
 * The largest segment shift at which no segment holds two pages that are
 * not physically consecutive in one folio: each such pair sits on a
 * segment boundary, and a boundary at user address A allows only shifts up
 * to __ffs(A). Checking each page against the next pfn of its run's
 * folio, never against its neighbour's pointer alone, keeps a page mapped
 * twice or a folio mapped out of order (CVE-2023-2598) apart. Folio
 * sizes do not cap the shift: the cuts already keep each segment inside
 * its folio and the buffer's ends clip the first and last one, so a small
 * folio at either end does not force small segments on the rest.
 */
static unsigned int regbuf_seg_shift(struct page **pages,
				     unsigned long nr_pages, unsigned long ubuf)
{
	unsigned long first_page_addr = ubuf & PAGE_MASK;
	unsigned int shift = REGBUF_MAX_SEG_SHIFT;
	unsigned long i = 0;

	while (shift > PAGE_SHIFT && i < nr_pages) {
		i = regbuf_contig_run_end(pages, i, nr_pages);
		if (i < nr_pages)
			shift = min_t(unsigned int, shift,
				      __ffs(first_page_addr + (i << PAGE_SHIFT)));
	}
	return shift;
}

static unsigned int regbuf_nr_segs(unsigned long ubuf, unsigned long len,
				   unsigned int shift)
{
	return ((ubuf + len - 1) >> shift) - (ubuf >> shift) + 1;
}

/* Bytes from @addr to the end of its segment or of the buffer at @end */
static unsigned long regbuf_seg_len(unsigned long addr, unsigned long end,
				    unsigned int shift)
{
	unsigned long seg_mask = (1UL << shift) - 1;

	return min(end - addr, seg_mask + 1 - (addr & seg_mask));
}

static void regbuf_fill_bvecs(struct io_mapped_ubuf *imu, struct page **pages,
			      unsigned long ubuf, unsigned long len,
			      unsigned int shift)
{
	unsigned long addr = ubuf, end = ubuf + len;
	unsigned int i;

	for (i = 0; addr < end; i++) {
		unsigned long seg_len = regbuf_seg_len(addr, end, shift);
		struct page *page = pages[(addr >> PAGE_SHIFT) -
					  (ubuf >> PAGE_SHIFT)];

		bvec_set_page(&imu->bvec[i], page, seg_len,
			      offset_in_page(addr));
		addr += seg_len;
	}
	imu->ubuf = ubuf;
	imu->ubuf_end = end;
	imu->nr_bvecs = i;
	imu->seg_shift = shift;
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
