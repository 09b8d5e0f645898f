/* SPDX-License-Identifier: GPL-2.0 */
/* Stub: only the struct io_ring_ctx fields that regbuf touches. */
#ifndef _UNIT_LINUX_IO_URING_TYPES_H
#define _UNIT_LINUX_IO_URING_TYPES_H

#include <linux/mutex.h>
#include <linux/xarray.h>
#include <linux/sched/user.h>
#include <linux/mm.h>

struct io_mapped_ubuf;

struct io_ring_ctx {
	struct io_mapped_ubuf	*dummy_ubuf;
	struct user_struct	*user;
	struct mm_struct	*mm_account;
	struct mutex		buf_acct_lock;
	struct xarray		buf_large_pins;
};

#endif
