// SPDX-License-Identifier: GPL-2.0
/* Fake memmap, GUP, allocator, xarray and mutex behind the stub headers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kernel.h>
#include <linux/errno.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/mutex.h>
#include <linux/xarray.h>
#include <linux/sched/signal.h>
#include <linux/io_uring_types.h>

#include "../io_uring/regbuf.h"

#include "fake.h"

struct page *unit_memmap;
static unsigned long next_free_pfn;

long unit_pinned, unit_pin_calls, unit_unpin_calls;
long unit_pin_errno, unit_pin_short = -1;
unsigned long unit_range_break;
long unit_allocs, unit_alloc_calls;
static long fail_alloc_call;
static bool fail_alloc_after;
long unit_xa_loads;
int unit_warnings, unit_mutex_errors, unit_gup_misuse, unit_xa_misuse;
int unit_unaccounted_allocs;
bool unit_warning_expected;
unsigned long unit_memlock_limit = ~0UL;

struct user_region {
	unsigned long	first_upn;
	unsigned long	nr;
	unsigned long	*pfns;
};

static struct user_region *regions;
static unsigned long nr_regions;

void unit_warn(const char *file, int line, const char *cond)
{
	if (!unit_warning_expected)
		fprintf(stderr, "  WARNING at %s:%d: %s\n", file, line, cond);
	unit_warnings++;
}

void unit_world_reset(void)
{
	unsigned long i;

	if (!unit_memmap)
		unit_memmap = calloc(UNIT_NR_PFNS, sizeof(*unit_memmap));
	else
		memset(unit_memmap, 0, next_free_pfn * sizeof(*unit_memmap));
	/* pfn 0 stays unused so that a zeroed page never looks like a folio */
	next_free_pfn = 1;

	for (i = 0; i < nr_regions; i++)
		free(regions[i].pfns);
	free(regions);
	regions = NULL;
	nr_regions = 0;

	unit_pin_errno = 0;
	unit_pin_short = -1;
	unit_range_break = 0;
	fail_alloc_call = 0;
	fail_alloc_after = false;
	unit_memlock_limit = ~0UL;
}

void unit_counters_reset(void)
{
	unit_allocs = 0;
	unit_alloc_calls = 0;
	unit_pinned = 0;
	unit_pin_calls = 0;
	unit_unpin_calls = 0;
	unit_xa_loads = 0;
	unit_warnings = 0;
	unit_warning_expected = false;
	unit_mutex_errors = 0;
	unit_gup_misuse = 0;
	unit_xa_misuse = 0;
	unit_unaccounted_allocs = 0;
}

unsigned long unit_next_free_pfn(unsigned int order)
{
	unsigned long size = 1UL << order;

	return (next_free_pfn + size - 1) & ~(size - 1);
}

unsigned long unit_folio_at(unsigned long head, unsigned int order)
{
	unsigned long i, nr = 1UL << order;

	if (head & (nr - 1) || head < next_free_pfn ||
	    head + nr > UNIT_NR_PFNS) {
		fprintf(stderr, "bad folio placement %lu order %u\n", head,
			order);
		abort();
	}
	for (i = 0; i < nr; i++) {
		unit_memmap[head + i].head = head;
		unit_memmap[head + i].order = order;
	}
	next_free_pfn = head + nr;
	return head;
}

unsigned long unit_folio_new(unsigned int order)
{
	return unit_folio_at(unit_next_free_pfn(order), order);
}

void unit_map(unsigned long uaddr, const unsigned long *pfns, unsigned long nr)
{
	struct user_region *r;

	regions = realloc(regions, (nr_regions + 1) * sizeof(*regions));
	r = &regions[nr_regions++];
	r->first_upn = uaddr >> PAGE_SHIFT;
	r->nr = nr;
	r->pfns = malloc(nr * sizeof(*pfns));
	memcpy(r->pfns, pfns, nr * sizeof(*pfns));
}

static unsigned long lookup_pfn(unsigned long upn)
{
	unsigned long i = nr_regions;

	while (i--) {
		struct user_region *r = &regions[i];

		if (upn >= r->first_upn && upn - r->first_upn < r->nr)
			return r->pfns[upn - r->first_upn];
	}
	return UNIT_PFN_EFAULT;
}

/* Large folios count pins in their head as well, as FOLL_PIN does. */
static void pincount_add(struct page *page, int delta)
{
	if (page->order)
		unit_memmap[page->head].pincount.counter += delta;
}

static void unpin_one(struct page *page)
{
	if (page->pins <= 0) {
		fprintf(stderr, "  unpin of unpinned pfn %lu\n",
			page_to_pfn(page));
		unit_gup_misuse++;
		return;
	}
	page->pins--;
	pincount_add(page, -1);
	unit_pinned--;
}

static void pin_one(struct page *page)
{
	page->pins++;
	pincount_add(page, 1);
	unit_pinned++;
}

void unit_foreign_pin(unsigned long pfn, int delta)
{
	struct page *page = &unit_memmap[pfn];

	page->foreign_pins += delta;
	pincount_add(page, delta);
}

long pin_user_pages_longterm(unsigned long start, unsigned long nr_pages,
			     unsigned int gup_flags, struct page **pages)
{
	unsigned long i, upn = start >> PAGE_SHIFT;
	long ret = nr_pages;

	unit_pin_calls++;
	if (gup_flags != FOLL_WRITE || offset_in_page(start) || !nr_pages)
		unit_gup_misuse++;
	if (unit_pin_errno) {
		ret = unit_pin_errno;
		unit_pin_errno = 0;
		return ret;
	}
	for (i = 0; i < nr_pages; i++) {
		unsigned long pfn = lookup_pfn(upn + i);

		if (pfn == UNIT_PFN_EFAULT || pfn == UNIT_PFN_EOPNOTSUPP) {
			ret = pfn == UNIT_PFN_EFAULT ? -EFAULT : -EOPNOTSUPP;
			break;
		}
		pages[i] = &unit_memmap[pfn];
		pin_one(pages[i]);
	}
	if (ret < 0 || unit_pin_short < 0)
		goto out;
	/* a GUP breaking its all-or-nothing promise */
	ret = unit_pin_short;
	unit_pin_short = -1;
out:
	/* all or nothing, like the real call; a short count keeps its pins */
	while (i > (ret < 0 ? 0 : (unsigned long)ret))
		unpin_one(pages[--i]);
	return ret;
}

/*
 * Pins like the fake above, then records the pages as the real call does:
 * a range goes on while the next page is the next pfn of the same folio,
 * and also ends before each page whose index is a multiple of
 * unit_range_break. It stops where a new range would not fit in
 * *nr_ranges entries. The entries past the last range are scribbled over,
 * as the real call leaves nothing of use there.
 */
long pin_user_ranges_longterm(unsigned long start, unsigned long nr_pages,
			      unsigned int gup_flags, struct pin_range *ranges,
			      unsigned long *nr_ranges)
{
	unsigned long i, nr = 0, max = *nr_ranges, upn = start >> PAGE_SHIFT;
	long ret;

	unit_pin_calls++;
	*nr_ranges = 0;
	if (gup_flags != FOLL_WRITE || offset_in_page(start) || !nr_pages ||
	    !max)
		unit_gup_misuse++;
	if (unit_pin_errno) {
		ret = unit_pin_errno;
		unit_pin_errno = 0;
		return ret;
	}
	for (i = 0; i < nr_pages; i++) {
		unsigned long pfn = lookup_pfn(upn + i);
		struct pin_range *last = nr ? &ranges[nr - 1] : NULL;
		struct page *page;

		if (pfn == UNIT_PFN_EFAULT || pfn == UNIT_PFN_EOPNOTSUPP) {
			ret = pfn == UNIT_PFN_EFAULT ? -EFAULT : -EOPNOTSUPP;
			while (nr--)
				while (ranges[nr].nr--)
					unpin_one(ranges[nr].page +
						  ranges[nr].nr);
			return ret;
		}
		page = &unit_memmap[pfn];
		if (last && last->page + last->nr == page &&
		    page->head == last->page->head &&
		    !(unit_range_break && (upn + i) % unit_range_break == 0)) {
			pin_one(page);
			last->nr++;
			continue;
		}
		if (nr == max)
			break;
		pin_one(page);
		ranges[nr].page = page;
		ranges[nr].nr = 1;
		nr++;
	}
	memset(ranges + nr, 0xa5, (max - nr) * sizeof(*ranges));
	*nr_ranges = nr;
	return i;
}

void unpin_user_pages(struct page **pages, unsigned long npages)
{
	unsigned long i;

	unit_unpin_calls++;
	for (i = 0; i < npages; i++)
		unpin_one(pages[i]);
}

void unpin_user_page(struct page *page)
{
	unit_unpin_calls++;
	unpin_one(page);
}

void unpin_user_page_range_dirty_lock(struct page *page, unsigned long npages,
				      bool make_dirty)
{
	unsigned long i;

	unit_unpin_calls++;
	for (i = 0; i < npages; i++)
		unpin_one(page + i);
}

void unit_fail_alloc_at(long nth)
{
	fail_alloc_call = nth ? unit_alloc_calls + nth : 0;
	fail_alloc_after = false;
}

void unit_fail_allocs_from(long nth)
{
	unit_fail_alloc_at(nth);
	fail_alloc_after = true;
}

void *unit_alloc(size_t size, bool zero)
{
	void *p;

	if (++unit_alloc_calls == fail_alloc_call ||
	    (fail_alloc_after && fail_alloc_call &&
	     unit_alloc_calls > fail_alloc_call))
		return NULL;
	p = zero ? calloc(1, size) : malloc(size);
	if (p)
		unit_allocs++;
	return p;
}

void unit_check_gfp(gfp_t gfp)
{
	if (!(gfp & __GFP_ACCOUNT))
		unit_unaccounted_allocs++;
}

void unit_free(const void *p)
{
	if (!p)
		return;
	unit_allocs--;
	free((void *)p);
}

void mutex_init(struct mutex *lock)
{
	*lock = (struct mutex) { .initialized = true };
}

void mutex_lock(struct mutex *lock)
{
	if (!lock->initialized || lock->locked)
		unit_mutex_errors++;
	lock->locked = true;
}

void mutex_unlock(struct mutex *lock)
{
	if (!lock->locked)
		unit_mutex_errors++;
	lock->locked = false;
}

void mutex_destroy(struct mutex *lock)
{
	if (lock->locked)
		unit_mutex_errors++;
	lock->initialized = false;
}

struct unit_xa_entry {
	unsigned long	index;
	void		*entry;
};

/* Position of the first slot whose index is >= @index. */
static unsigned long xa_lower_bound(struct xarray *xa, unsigned long index)
{
	unsigned long lo = 0, hi = xa->nr;

	while (lo < hi) {
		unsigned long mid = lo + (hi - lo) / 2;

		if (xa->slots[mid]->index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool xa_found(struct xarray *xa, unsigned long pos, unsigned long index)
{
	return pos < xa->nr && xa->slots[pos]->index == index;
}

void *xa_load(struct xarray *xa, unsigned long index)
{
	unsigned long pos = xa_lower_bound(xa, index);

	unit_xa_loads++;
	return xa_found(xa, pos, index) ? xa->slots[pos]->entry : NULL;
}

void xas_lock(struct xa_state *xas)
{
	if (xas->xa->locked)
		unit_xa_misuse++;
	xas->xa->locked = true;
}

void xas_unlock(struct xa_state *xas)
{
	if (!xas->xa->locked)
		unit_xa_misuse++;
	xas->xa->locked = false;
}

void *xas_load(struct xa_state *xas)
{
	if (!xas->xa->locked)
		unit_xa_misuse++;
	return xas->err ? NULL : xa_load(xas->xa, xas->index);
}

/* An entry added takes a node allocated under the lock, or xas_nomem()'s. */
void *xas_store(struct xa_state *xas, void *entry)
{
	struct xarray *xa = xas->xa;
	unsigned long pos = xa_lower_bound(xa, xas->index);
	struct unit_xa_entry *e;
	void *old;

	if (!xa->locked)
		unit_xa_misuse++;
	if (xas->err)
		return NULL;
	if (xa_found(xa, pos, xas->index)) {
		e = xa->slots[pos];
		old = e->entry;
		if (entry) {
			e->entry = entry;
			return old;
		}
		memmove(&xa->slots[pos], &xa->slots[pos + 1],
			(xa->nr - pos - 1) * sizeof(*xa->slots));
		xa->nr--;
		unit_free(e);
		return old;
	}
	if (!entry)
		return NULL;
	e = xas->alloc;
	xas->alloc = NULL;
	if (!e) {
		if (!(xa->flags & XA_FLAGS_ACCOUNT))
			unit_xa_misuse++;
		e = unit_alloc(sizeof(*e), false);
	}
	if (!e) {
		xas->err = -ENOMEM;
		return NULL;
	}
	*e = (struct unit_xa_entry) { .index = xas->index, .entry = entry };
	if (xa->nr == xa->cap) {
		xa->cap = xa->cap ? 2 * xa->cap : 16;
		xa->slots = realloc(xa->slots, xa->cap * sizeof(*xa->slots));
	}
	memmove(&xa->slots[pos + 1], &xa->slots[pos],
		(xa->nr - pos) * sizeof(*xa->slots));
	xa->slots[pos] = e;
	xa->nr++;
	return NULL;
}

bool xas_nomem(struct xa_state *xas, gfp_t gfp)
{
	if (xas->err != -ENOMEM) {
		unit_free(xas->alloc);
		xas->alloc = NULL;
		return false;
	}
	/* it may sleep */
	if (xas->xa->locked)
		unit_xa_misuse++;
	if (xas->xa->flags & XA_FLAGS_ACCOUNT)
		gfp |= __GFP_ACCOUNT;
	unit_check_gfp(gfp);
	xas->alloc = unit_alloc(sizeof(*xas->alloc), false);
	if (!xas->alloc)
		return false;
	xas->err = 0;
	return true;
}

void xa_destroy(struct xarray *xa)
{
	unsigned long i;

	for (i = 0; i < xa->nr; i++)
		unit_free(xa->slots[i]);
	free(xa->slots);
	xa_init(xa);
}

void *unit_xa_find(struct xarray *xa, unsigned long *index)
{
	unsigned long pos = xa_lower_bound(xa, *index);

	if (pos == xa->nr)
		return NULL;
	*index = xa->slots[pos]->index;
	return xa->slots[pos]->entry;
}

/* rsrc.c's memlock charge of a ring, as 6.1 has it */
int io_account_mem(struct io_ring_ctx *ctx, unsigned long nr_pages)
{
	unsigned long limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;

	if (ctx->user) {
		long locked = atomic_long_read(&ctx->user->locked_vm);

		if (nr_pages && locked + nr_pages > limit)
			return -ENOMEM;
		ctx->user->locked_vm.counter += nr_pages;
	}
	if (ctx->mm_account)
		ctx->mm_account->pinned_vm.counter += nr_pages;
	return 0;
}

void io_unaccount_mem(struct io_ring_ctx *ctx, unsigned long nr_pages)
{
	if (ctx->user)
		ctx->user->locked_vm.counter -= nr_pages;
	if (ctx->mm_account)
		ctx->mm_account->pinned_vm.counter -= nr_pages;
}
