/* SPDX-License-Identifier: GPL-2.0 */
/* Stub: single-threaded atomics, enough for the memlock counters. */
#ifndef _UNIT_LINUX_ATOMIC_H
#define _UNIT_LINUX_ATOMIC_H

#include <linux/types.h>

typedef struct { int counter; } atomic_t;
typedef struct { long counter; } atomic_long_t;
typedef struct { s64 counter; } atomic64_t;

static inline int atomic_read(const atomic_t *v)
{
	return v->counter;
}

static inline long atomic_long_read(const atomic_long_t *v)
{
	return v->counter;
}

static inline void atomic_long_sub(long i, atomic_long_t *v)
{
	v->counter -= i;
}

static inline bool atomic_long_try_cmpxchg(atomic_long_t *v, long *old,
					   long new)
{
	if (v->counter != *old) {
		*old = v->counter;
		return false;
	}
	v->counter = new;
	return true;
}

static inline void atomic64_add(s64 i, atomic64_t *v)
{
	v->counter += i;
}

static inline void atomic64_sub(s64 i, atomic64_t *v)
{
	v->counter -= i;
}

#endif
