/* SPDX-License-Identifier: GPL-2.0 */
/* Stub: a mutex that records misuse instead of blocking. */
#ifndef _UNIT_LINUX_MUTEX_H
#define _UNIT_LINUX_MUTEX_H

#include <linux/types.h>

struct mutex {
	bool	initialized;
	bool	locked;
};

void mutex_init(struct mutex *lock);
void mutex_lock(struct mutex *lock);
void mutex_unlock(struct mutex *lock);
void mutex_destroy(struct mutex *lock);

#endif
