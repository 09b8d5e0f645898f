/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _UNIT_LINUX_SCHED_SIGNAL_H
#define _UNIT_LINUX_SCHED_SIGNAL_H

#define RLIMIT_MEMLOCK	8

/* The test sets the limit; only RLIMIT_MEMLOCK is ever asked for. */
extern unsigned long unit_memlock_limit;

static inline unsigned long rlimit(unsigned int limit)
{
	return unit_memlock_limit;
}

#endif
