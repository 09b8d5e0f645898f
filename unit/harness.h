/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every unit test file shares: assertions, the seeded random source,
 * a ring as regbuf sees it, buffers described page by page (layouts), and
 * the page-by-page reference models of coalescing and import (model.c).
 */
#ifndef _UNIT_HARNESS_H
#define _UNIT_HARNESS_H

#include <stdio.h>
#include <stdlib.h>

#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/uio.h>
#include <linux/io_uring_types.h>

#include "../io_uring/regbuf.h"
#include "fake.h"

#define ASSERT_TRUE(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "  %s:%d: ASSERT_TRUE(%s)\n",		\
			__FILE__, __LINE__, #cond);			\
		return false;						\
	}								\
} while (0)

#define ASSERT_EQ(a, b) do {						\
	long long __a = (long long)(a), __b = (long long)(b);		\
	if (__a != __b) {						\
		fprintf(stderr, "  %s:%d: %s == %s: %lld != %lld\n",	\
			__FILE__, __LINE__, #a, #b, __a, __b);		\
		return false;						\
	}								\
} while (0)

/* Runs a checker returning bool and fails the calling test with it. */
#define ASSERT_OK(call)	ASSERT_TRUE(call)

struct unit_test {
	const char	*name;
	bool		(*fn)(void);
};

#define UNIT_TEST(fn)	{ #fn, fn }
#define UNIT_ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* A file's tests; harness.c runs every suite in turn. */
struct unit_suite {
	const char		*name;
	const struct unit_test	*tests;
	unsigned int		nr;
};

#define UNIT_SUITE(var, table)						\
	const struct unit_suite var = { #var, table, UNIT_ARRAY_SIZE(table) }

extern const struct unit_suite coalesce_suite, import_suite, acct_suite,
	failure_suite;

/* Seeded by UNIT_SEED and the test's position: a failure replays. */
unsigned long long rnd(void);
unsigned long rnd_below(unsigned long n);
bool chance(unsigned int percent);

/* A ring as regbuf sees it; the memlock limit only binds with a user. */
struct ring {
	struct io_ring_ctx	ctx;
	struct user_struct	user;
	struct mm_struct	mm;
};

void ring_init(struct ring *r, bool memlock_limited);
void ring_exit(struct ring *r);
long ring_locked(struct ring *r);
long ring_pinned_vm(struct ring *r);

/* A buffer as user space sees it: an address, a length, a pfn per page. */
struct layout {
	unsigned long	ubuf;
	unsigned long	len;
	unsigned long	nr_pages;
	unsigned long	pfns[];
};

struct layout *layout_new(unsigned long ubuf, unsigned long len);
/* Fills pages [at, at + nr) of @l with consecutive pages from @pfn on. */
void layout_fill(struct layout *l, unsigned long at, unsigned long pfn,
		 unsigned long nr);
/* Maps @l into the fake address space and registers it. */
int layout_register(struct ring *r, const struct layout *l,
		    struct io_mapped_ubuf **imu);

/* After a refused registration: memory, pins and charge as before it. */
bool check_unchanged(struct ring *r, long allocs, long pinned, long charged);

unsigned long head_of(unsigned long pfn);
unsigned long folio_pages_of(unsigned long pfn);
/* Order-0 folios nobody maps, to move the next folio along. */
void skip_small_folios(unsigned long nr);
/* @nr order-0 folios at consecutive pfns; returns the first. */
unsigned long small_folio_run(unsigned long nr);

/* model.c: the reference models */
unsigned int ref_seg_shift(const struct layout *l);
bool check_bvecs(const struct layout *l, const struct io_mapped_ubuf *imu);
bool check_import(const struct layout *l, struct io_mapped_ubuf *imu,
		  unsigned long off, unsigned long len);
bool check_layout(struct ring *r, const struct layout *l);
bool check_layout_alone(struct layout *l, unsigned int shift);
unsigned int random_order(void);
struct layout *random_layout(unsigned long max_pages);

#endif
