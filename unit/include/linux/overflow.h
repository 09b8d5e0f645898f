/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _UNIT_LINUX_OVERFLOW_H
#define _UNIT_LINUX_OVERFLOW_H

#define check_add_overflow(a, b, d)	__builtin_add_overflow(a, b, d)

#define struct_size(p, member, count)				\
	(sizeof(*(p)) + sizeof(*(p)->member) * (size_t)(count))

#endif
