/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Stub: a fake memmap. Every pfn has a struct page in unit_memmap[], and
 * the pages of a folio are consecutive there, as in the kernel, so tests
 * build any physical layout by carving folios out of the pfn space.
 */
#ifndef _UNIT_LINUX_MM_H
#define _UNIT_LINUX_MM_H

#include <linux/types.h>
#include <linux/kernel.h>
#include <linux/atomic.h>

#define PAGE_SHIFT		12
#define PMD_SHIFT		21
#define PAGE_SIZE		(1UL << PAGE_SHIFT)
#define PAGE_MASK		(~(PAGE_SIZE - 1))
#define offset_in_page(p)	((unsigned long)(p) & ~PAGE_MASK)
#define PAGE_ALIGN(a)		(((a) + PAGE_SIZE - 1) & PAGE_MASK)

#define FOLL_WRITE		0x01

/* What FOLL_PIN adds to an order-0 folio's refcount, as in the kernel */
#define GUP_PIN_COUNTING_BIAS	(1U << 10)

struct page {
	unsigned long	head;		/* pfn of the folio head */
	unsigned int	order;		/* same in every page */
	int		pins;		/* taken by the fake GUP */
	int		foreign_pins;	/* by other pinners: unit_foreign_pin() */
	int		refs;		/* other references, order-0 */
	atomic_t	pincount;	/* of a large folio, in its head */
};

struct folio {
	struct page	page;
};

struct mm_struct {
	atomic64_t	pinned_vm;
};

extern struct page *unit_memmap;

static inline unsigned long page_to_pfn(const struct page *page)
{
	return page - unit_memmap;
}

/* The fake memmap is contiguous, as with SPARSEMEM_VMEMMAP or FLATMEM. */
#define nth_page(page, n)	((page) + (n))

static inline struct page *pfn_to_page(unsigned long pfn)
{
	return &unit_memmap[pfn];
}

static inline struct folio *page_folio(const struct page *page)
{
	return (struct folio *)&unit_memmap[page->head];
}

static inline unsigned long folio_pfn(struct folio *folio)
{
	return page_to_pfn(&folio->page);
}

/* Head or tail page of a folio larger than one page */
static inline bool PageCompound(const struct page *page)
{
	return page->order;
}

static inline long folio_nr_pages(struct folio *folio)
{
	return 1L << folio->page.order;
}

static inline unsigned int folio_order(struct folio *folio)
{
	return folio->page.order;
}

static inline bool folio_test_large(struct folio *folio)
{
	return folio->page.order;
}

/* Pins on the pages of a large folio, one each, as FOLL_PIN keeps them */
static inline atomic_t *folio_pincount_ptr(struct folio *folio)
{
	return &folio->page.pincount;
}

/* An order-0 folio's: the mapping's, other references, and the pins */
static inline int folio_ref_count(const struct folio *folio)
{
	const struct page *page = &folio->page;

	return 1 + page->refs +
	       (page->pins + page->foreign_pins) * GUP_PIN_COUNTING_BIAS;
}

/* Pages of one folio, consecutive by pfn and in the memmap */
struct pin_range {
	struct page	*page;
	unsigned long	nr;
};

long pin_user_pages_longterm(unsigned long start, unsigned long nr_pages,
			     unsigned int gup_flags, struct page **pages);
long pin_user_ranges_longterm(unsigned long start, unsigned long nr_pages,
			      unsigned int gup_flags, struct pin_range *ranges,
			      unsigned long *nr_ranges);
void unpin_user_pages(struct page **pages, unsigned long npages);
void unpin_user_page(struct page *page);
void unpin_user_page_range_dirty_lock(struct page *page, unsigned long npages,
				      bool make_dirty);

#endif
