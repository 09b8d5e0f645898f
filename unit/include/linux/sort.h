/* SPDX-License-Identifier: GPL-2.0 */
/* Stub: the kernel's sort() as libc's qsort(), counted; no swap callback. */
#ifndef _UNIT_LINUX_SORT_H
#define _UNIT_LINUX_SORT_H

#include <stdlib.h>
#include <linux/types.h>

extern long unit_sort_calls;

typedef int (*cmp_func_t)(const void *a, const void *b);
typedef void (*swap_func_t)(void *a, void *b, int size);

static inline void sort(void *base, size_t num, size_t size,
			cmp_func_t cmp_func, swap_func_t swap_func)
{
	(void)swap_func;
	unit_sort_calls++;
	qsort(base, num, size, cmp_func);
}

#endif
