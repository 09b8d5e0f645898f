/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Stub: an xarray with the kernel's calling conventions, kept as a sorted
 * array. Storing a new index allocates through the harness allocator, so
 * it is counted and can be made to fail like the kernel's node allocation:
 * xas_store() as the kernel's attempt without sleeping under the lock,
 * xas_nomem() as its retry with the caller's gfp and the lock dropped.
 * Misuse (storing without the lock, sleeping with it, allocating without
 * memcg accounting) is counted in unit_xa_misuse.
 */
#ifndef _UNIT_LINUX_XARRAY_H
#define _UNIT_LINUX_XARRAY_H

#include <linux/types.h>
#include <linux/slab.h>

struct unit_xa_entry;

#define XA_FLAGS_ACCOUNT	((gfp_t)32U)

struct xarray {
	struct unit_xa_entry	**slots;
	unsigned long		nr;
	unsigned long		cap;
	gfp_t			flags;
	bool			locked;
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

static inline void xa_init_flags(struct xarray *xa, gfp_t flags)
{
	*xa = (struct xarray) { .flags = flags };
}

static inline void xa_init(struct xarray *xa)
{
	xa_init_flags(xa, 0);
}

static inline bool xa_empty(const struct xarray *xa)
{
	return !xa->nr;
}

void *xa_load(struct xarray *xa, unsigned long index);
void xa_destroy(struct xarray *xa);

/* An operation on one index; err holds what the kernel keeps in xa_node. */
struct xa_state {
	struct xarray		*xa;
	unsigned long		index;
	int			err;
	struct unit_xa_entry	*alloc;		/* from xas_nomem() */
};

#define XA_STATE(name, array, idx) \
	struct xa_state name = { .xa = (array), .index = (idx) }

static inline void xas_set(struct xa_state *xas, unsigned long index)
{
	xas->index = index;
	xas->err = 0;
}

static inline void xas_set_err(struct xa_state *xas, long err)
{
	xas->err = err;
}

static inline int xas_error(const struct xa_state *xas)
{
	return xas->err;
}

void xas_lock(struct xa_state *xas);
void xas_unlock(struct xa_state *xas);
void *xas_load(struct xa_state *xas);
void *xas_store(struct xa_state *xas, void *entry);
bool xas_nomem(struct xa_state *xas, gfp_t gfp);
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
