/* SPDX-License-Identifier: GPL-2.0 */
/* Stub: allocators backed by the harness's counting, failable allocator. */
#ifndef _UNIT_LINUX_SLAB_H
#define _UNIT_LINUX_SLAB_H

#include <linux/types.h>
#include <linux/overflow.h>

#define GFP_KERNEL		0x1u
#define __GFP_ACCOUNT		0x2u
#define GFP_KERNEL_ACCOUNT	(GFP_KERNEL | __GFP_ACCOUNT)
#define __GFP_NOWARN		0x4u

void *unit_alloc(size_t size, bool zero);
void unit_free(const void *p);
/* Counts an allocation for a ring that memcg would not be charged for */
void unit_check_gfp(gfp_t gfp);

static inline void *kmalloc(size_t size, gfp_t gfp)
{
	unit_check_gfp(gfp);
	return unit_alloc(size, false);
}

static inline void *kzalloc(size_t size, gfp_t gfp)
{
	unit_check_gfp(gfp);
	return unit_alloc(size, true);
}

static inline void *kvmalloc(size_t size, gfp_t gfp)
{
	unit_check_gfp(gfp);
	return unit_alloc(size, false);
}

static inline void *kvmalloc_array(size_t n, size_t size, gfp_t gfp)
{
	size_t bytes;

	unit_check_gfp(gfp);
	if (__builtin_mul_overflow(n, size, &bytes))
		return NULL;
	return unit_alloc(bytes, false);
}

static inline void kfree(const void *p)
{
	unit_free(p);
}

static inline void kvfree(const void *p)
{
	unit_free(p);
}

#endif
