/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _UNIT_LINUX_SCHED_USER_H
#define _UNIT_LINUX_SCHED_USER_H

#include <linux/atomic.h>

struct user_struct {
	atomic_long_t	locked_vm;
};

#endif
