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
#define PAGE_SIZE		(1UL << PAGE_SHIFT)
#define PAGE_MASK		(~(PAGE_SIZE - 1))
#define offset_in_page(p)	((unsigned long)(p) & ~PAGE_MASK)

#define FOLL_WRITE		0x01

struct page {
	unsigned long	head;		/* pfn of the folio head */
	unsigned int	order;		/* same in every page */
	int		pins;
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

long pin_user_pages_longterm(unsigned long start, unsigned long nr_pages,
			     unsigned int gup_flags, struct page **pages);
void unpin_user_pages(struct page **pages, unsigned long npages);
void unpin_user_page_range_dirty_lock(struct page *page, unsigned long npages,
				      bool make_dirty);

#endif
