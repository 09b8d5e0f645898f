/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _UNIT_LINUX_BVEC_H
#define _UNIT_LINUX_BVEC_H

#include <linux/types.h>

struct page;

struct bio_vec {
	struct page	*bv_page;
	unsigned int	bv_len;
	unsigned int	bv_offset;
};

static inline void bvec_set_page(struct bio_vec *bv, struct page *page,
				 unsigned int len, unsigned int offset)
{
	bv->bv_page = page;
	bv->bv_len = len;
	bv->bv_offset = offset;
}

#endif
