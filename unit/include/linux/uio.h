/* SPDX-License-Identifier: GPL-2.0 */
/* Stub: a bvec-only iov_iter with the fields io_import_fixed() sets. */
#ifndef _UNIT_LINUX_UIO_H
#define _UNIT_LINUX_UIO_H

#include <linux/types.h>
#include <linux/bvec.h>

#define ITER_DEST	0
#define ITER_SOURCE	1
#define ITER_BVEC	2

struct iovec {
	void __user	*iov_base;
	size_t		iov_len;
};

struct iov_iter {
	u8			iter_type;
	bool			data_source;
	size_t			iov_offset;
	size_t			count;
	const struct bio_vec	*bvec;
	unsigned long		nr_segs;
};

static inline void iov_iter_bvec(struct iov_iter *i, unsigned int direction,
				 const struct bio_vec *bvec,
				 unsigned long nr_segs, size_t count)
{
	*i = (struct iov_iter) {
		.iter_type = ITER_BVEC,
		.data_source = direction,
		.bvec = bvec,
		.nr_segs = nr_segs,
		.count = count,
	};
}

#endif
