/* SPDX-License-Identifier: GPL-2.0 */
/* Stub: the helpers of <linux/kernel.h> and friends that regbuf.c uses. */
#ifndef _UNIT_LINUX_KERNEL_H
#define _UNIT_LINUX_KERNEL_H

#include <linux/types.h>

#define BITS_PER_LONG		64
#define BIT(nr)			(1UL << (nr))

#define likely(x)		__builtin_expect(!!(x), 1)
#define unlikely(x)		__builtin_expect(!!(x), 0)

/* Same type check as the kernel's min()/max(): mixing types warns. */
#define __unit_cmp(x, y, op) ({					\
	__typeof__(x) __x = (x);				\
	__typeof__(y) __y = (y);				\
	(void)(&__x == &__y);					\
	__x op __y ? __x : __y; })
#define min(x, y)		__unit_cmp(x, y, <)
#define max(x, y)		__unit_cmp(x, y, >)
#define min_t(t, x, y)		min((t)(x), (t)(y))
#define max_t(t, x, y)		max((t)(x), (t)(y))
#define clamp_t(t, v, lo, hi)	min_t(t, max_t(t, v, lo), hi)

#define DIV_ROUND_UP(n, d)	(((n) + (d) - 1) / (d))
#define BUILD_BUG_ON(cond)	_Static_assert(!(cond), #cond)

static inline unsigned long __ffs(unsigned long word)
{
	return __builtin_ctzl(word);
}

static inline int fls64(u64 x)
{
	return x ? 64 - __builtin_clzll(x) : 0;
}

#define MAX_ERRNO	4095
#define IS_ERR_VALUE(x)	((unsigned long)(x) >= (unsigned long)-MAX_ERRNO)

static inline void *ERR_PTR(long error)
{
	return (void *)error;
}

static inline long PTR_ERR(const void *ptr)
{
	return (long)ptr;
}

static inline bool IS_ERR(const void *ptr)
{
	return IS_ERR_VALUE(ptr);
}

/* Counted by the harness: a test fails if one fires unexpectedly. */
void unit_warn(const char *file, int line, const char *cond);

#define WARN_ON_ONCE(cond) ({					\
	bool __c = !!(cond);					\
	if (__c)						\
		unit_warn(__FILE__, __LINE__, #cond);		\
	__c; })

#endif
