/* SPDX-License-Identifier: GPL-2.0 */
#ifndef IOU_REGBUF_H
#define IOU_REGBUF_H

#include <linux/types.h>
#include <linux/bvec.h>

struct io_ring_ctx;
struct iov_iter;
struct iovec;
struct page;

/*
 * A registered buffer is cut into segments of 1 << seg_shift bytes at
 * multiples of that size in the user address space, the first and the last
 * one clipped to the buffer. bvec[i] is segment i: physically consecutive
 * pages of a single folio, starting in bv_page at bv_offset < PAGE_SIZE.
 * Keeping the cut points in user address space is what lets
 * io_import_fixed() find a segment with a shift instead of a walk.
 */
struct io_mapped_ubuf {
	u64		ubuf;
	u64		ubuf_end;
	unsigned int	nr_bvecs;
	unsigned int	seg_shift;
	struct bio_vec	bvec[];
};

int io_buffer_validate(struct iovec *iov);
struct page **io_pin_pages(unsigned long ubuf, unsigned long len, int *npages);
int io_regbuf_register(struct io_ring_ctx *ctx, struct iovec *iov,
		       struct io_mapped_ubuf **pimu);
void io_regbuf_release(struct io_ring_ctx *ctx, struct io_mapped_ubuf *imu);
int io_import_fixed(int ddir, struct iov_iter *iter,
		    struct io_mapped_ubuf *imu, u64 buf_addr, size_t len);

/* regbuf_acct.c: the memlock charge of the ring's buffers */
void io_regbuf_ctx_init(struct io_ring_ctx *ctx);
void io_regbuf_ctx_exit(struct io_ring_ctx *ctx);
int io_regbuf_account(struct io_ring_ctx *ctx, const struct io_mapped_ubuf *imu);
void io_regbuf_unaccount(struct io_ring_ctx *ctx,
			 const struct io_mapped_ubuf *imu);

/* rsrc.c: the ring's memlock charge, in pages */
int io_account_mem(struct io_ring_ctx *ctx, unsigned long nr_pages);
void io_unaccount_mem(struct io_ring_ctx *ctx, unsigned long nr_pages);

#endif
