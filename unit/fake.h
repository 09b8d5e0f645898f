/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fake kernel the tests drive: a memmap to carve folios from, a user
 * address space mapping pages to pfns, GUP that pins from it, and counters
 * for pins, allocations, xarray lookups, warnings and mutex misuse.
 */
#ifndef _UNIT_FAKE_H
#define _UNIT_FAKE_H

#include <linux/types.h>
#include <linux/mm.h>

#define UNIT_NR_PFNS		(1UL << 22)
/* Map these instead of a pfn to make GUP refuse the page. */
#define UNIT_PFN_EFAULT		(~0UL)
#define UNIT_PFN_EOPNOTSUPP	(~0UL - 1)

/* Forgets folios, mappings and injected failures, keeps the counters. */
void unit_world_reset(void);
/* Zeroes the leak and call counters, between tests only. */
void unit_counters_reset(void);

/* A fresh folio of 1 << order pages, naturally aligned; returns its pfn. */
unsigned long unit_folio_new(unsigned int order);
/* A folio at a chosen, naturally aligned and still unused pfn. */
unsigned long unit_folio_at(unsigned long pfn, unsigned int order);
/* Next free pfn aligned for @order, to place a folio right after another. */
unsigned long unit_next_free_pfn(unsigned int order);

/* Maps @nr pages at page-aligned @uaddr to @pfns; later maps win. */
void unit_map(unsigned long uaddr, const unsigned long *pfns, unsigned long nr);

/* Pins @pfn for another pinner (@delta > 0) or drops such pins. */
void unit_foreign_pin(unsigned long pfn, int delta);

extern long unit_pinned;		/* pins outstanding */
extern long unit_pin_calls;
extern long unit_unpin_calls;
extern long unit_pin_errno;		/* next pin fails with it, 0: off */
extern long unit_pin_short;		/* next pin returns it; -1: off */
/*
 * pin_user_ranges_longterm() ends a range before each page of the call
 * whose index is a multiple of this, as GUP may; 0: only where it must.
 */
extern unsigned long unit_range_break;

extern long unit_allocs;		/* live allocations */
extern long unit_alloc_calls;
/* Fails the @nth allocation from now on (1 is the next one), 0: never. */
void unit_fail_alloc_at(long nth);
/* Fails the @nth allocation from now on and every one after it. */
void unit_fail_allocs_from(long nth);

extern long unit_xa_loads;
extern int unit_warnings;
extern bool unit_warning_expected;	/* counted but not printed */
extern int unit_mutex_errors;
extern int unit_gup_misuse;
extern int unit_xa_misuse;		/* see linux/xarray.h */
extern int unit_unaccounted_allocs;	/* see unit_check_gfp() */

#endif
