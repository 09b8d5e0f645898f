/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Stub: an xarray with the kernel's calling conventions, kept as a sorted
 * array. Storing a new index allocates through the harness allocator, so
 * it is counted and can be made to fail like the kernel's node allocation.
 */
#ifndef _UNIT_LINUX_XARRAY_H
#define _UNIT_LINUX_XARRAY_H

#include <linux/types.h>
#include <linux/slab.h>

struct unit_xa_entry;

struct xarray {
	struct unit_xa_entry	**slots;
	unsigned long		nr;
	unsigned long		cap;
};

#define XA_ERROR(errno)	((void *)(((unsigned long)(errno) << 2) | 2UL))

static inline bool xa_is_err(const void *entry)
{
	return ((unsigned long)entry & 3) == 2;
}

static inline int xa_err(void *entry)
{
	return xa_is_err(entry) ? (long)entry >> 2 : 0;
}

/* Value entries as in the kernel: the integer shifted up, bit 0 set. */
static inline void *xa_mk_value(unsigned long v)
{
	return (void *)((v << 1) | 1);
}

static inline unsigned long xa_to_value(const void *entry)
{
	return (unsigned long)entry >> 1;
}

static inline bool xa_is_value(const void *entry)
{
	return (unsigned long)entry & 1;
}

static inline void xa_init(struct xarray *xa)
{
	*xa = (struct xarray) { 0 };
}

static inline bool xa_empty(const struct xarray *xa)
{
	return !xa->nr;
}

void *xa_load(struct xarray *xa, unsigned long index);
void *xa_store(struct xarray *xa, unsigned long index, void *entry, gfp_t gfp);
void *xa_erase(struct xarray *xa, unsigned long index);
void xa_destroy(struct xarray *xa);
/* First entry at or above *index; *index is set to its index. */
void *unit_xa_find(struct xarray *xa, unsigned long *index);

#define xa_for_each(xa, index, entry)					\
	for (index = 0; (entry = unit_xa_find(xa, &index)) != NULL; index++)

static inline void *unit_xa_find_upto(struct xarray *xa, unsigned long *index,
				      unsigned long last)
{
	void *entry = unit_xa_find(xa, index);

	return entry && *index <= last ? entry : NULL;
}

#define xa_for_each_range(xa, index, entry, start, last)		\
	for (index = (start);						\
	     (entry = unit_xa_find_upto(xa, &index, last)) != NULL;	\
	     index++)

#endif
