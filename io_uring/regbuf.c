// SPDX-License-Identifier: GPL-2.0
/*
 * Registered buffers: pin user memory long term, describe it with as few
 * bvecs as its physical layout allows, charge memlock once per folio per
 * ring, and turn an (address, length) pair into an iov_iter in constant
 * time.
 */
#include <linux/kernel.h>
#include <linux/errno.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/sizes.h>
#include <linux/sort.h>
#include <linux/string.h>
#include <linux/overflow.h>
#include <linux/uio.h>
#include <linux/xarray.h>
#include <linux/mutex.h>
#include <linux/sched/signal.h>
#include <linux/io_uring_types.h>

#include "regbuf.h"

/*
 * The ring keeps one pinned-page counter per folio it pins, indexed by the
 * folio's head pfn, so a folio is charged when its counter leaves zero and
 * uncharged when it returns there, whatever the number of buffers sharing
 * it. Counters of small folios are grouped in blocks covering an aligned
 * pfn range: small folios of a buffer tend to be physically close, and a
 * cursor caching the current block then costs one xarray lookup per block
 * instead of one per page; consecutive order-0 pages of a buffer in one
 * block update their slots in a single loop. A folio of at least
 * REGBUF_LARGE_PFNS pages is naturally aligned to that size, so its pfn
 * shifted by REGBUF_LARGE_SHIFT names it alone: its counter is a value
 * entry of its own in a second xarray, which a pool of huge pages fills
 * densely. An unsigned int per folio cannot wrap: every pin it counts
 * holds a reference on the folio, whose refcount is an int.
 *
 * 4 KiB anonymous memory mostly comes as runs of order-0 folios that are
 * consecutive both in the buffer and in pfns. A run of bvecs pinning, once
 * each and in pfn order, every page of an aligned range of order-0 folios
 * counts as one pin of the whole range instead of a pin per page: of the
 * block, kept in the block's entry, or of the REGBUF_LARGE_PFNS range,
 * kept as a value entry in the large-folio xarray at the index a large
 * folio there would use (while its pages are pinned as order-0 folios,
 * no large folio can be there). A page is charged while any of the three
 * counts covering it, range, block or its own slot, is nonzero. Pinned
 * folios can be neither split nor freed, so the layout a count was taken
 * on holds until it is dropped.
 */
#define REGBUF_BLOCK_SHIFT	5
#define REGBUF_BLOCK_PFNS	BIT(REGBUF_BLOCK_SHIFT)
/* a PMD's worth of pages with 4 KiB pages on x86-64 and arm64 */
#define REGBUF_LARGE_SHIFT	9
#define REGBUF_LARGE_PFNS	BIT(REGBUF_LARGE_SHIFT)

/*
 * The counters are there to find the folios that buffers of a ring share.
 * A buffer that shares none of its folios with another buffer of the ring
 * and whose folios form pfn runs that do not overlap is charged the pages
 * of those runs, the pages of its distinct folios, and left out of the
 * counters (on ctx->buf_acct_unindexed). It shares none if it is the
 * ring's only buffer, or if every pin on its folios is its own: a buffer
 * of the ring holds its pins for as long as it is accounted, and the pins
 * GUP took for this one are one per page. Pins from outside the ring only
 * make a buffer look shared. A buffer that shares or may share is counted
 * after every unindexed buffer of the ring is, once, so the counters see
 * all the ring's pins on any folio they count.
 * Finding the runs costs a compare per bvec and a check of the runs, while
 * the counters cost an xarray store per block and an allocation per block
 * a run only partly covers; memory reused after a free comes in runs of
 * tens of pages, so even for a buffer of 64 MiB the counters cost more
 * than the runs. The first REGBUF_STACK_RUNS runs are kept on the stack,
 * more in an array that grows REGBUF_RUNS_GROWTH times at a time; a
 * buffer whose runs cannot be kept is counted.
 */
#define REGBUF_STACK_RUNS	32
#define REGBUF_RUNS_GROWTH	4

/*
 * Allocated only while some slot is nonzero; with whole-block pins alone
 * the entry is xa_mk_value(whole). While whole is nonzero every page of
 * the block is a pinned order-0 folio, so each nonzero slot is one page.
 */
struct regbuf_pin_block {
	unsigned int	whole;
	unsigned int	nr_folios;	/* nonzero slots */
	unsigned int	pins[REGBUF_BLOCK_PFNS];
};

struct regbuf_pin_cursor {
	struct io_ring_ctx	*ctx;
	unsigned long		index;
	void			*entry;		/* at index, NULL: look up */
	/* the large-folio xarray's slot last looked up, and its count */
	bool			large_valid;
	unsigned long		large_index;
	unsigned long		large_pins;
};

int __io_account_mem(struct user_struct *user, unsigned long nr_pages)
{
	unsigned long limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	long locked = atomic_long_read(&user->locked_vm);

	if (!nr_pages)
		return 0;
	do {
		if (locked + nr_pages > limit)
			return -ENOMEM;
	} while (!atomic_long_try_cmpxchg(&user->locked_vm, &locked,
					  locked + nr_pages));
	return 0;
}

/* Without ctx->user the task has CAP_IPC_LOCK and no memlock limit. */
static int regbuf_charge(struct io_ring_ctx *ctx, unsigned long nr_pages)
{
	if (ctx->user) {
		int ret = __io_account_mem(ctx->user, nr_pages);

		if (ret)
			return ret;
	}
	if (ctx->mm_account)
		atomic64_add(nr_pages, &ctx->mm_account->pinned_vm);
	return 0;
}

static void regbuf_uncharge(struct io_ring_ctx *ctx, unsigned long nr_pages)
{
	if (ctx->user)
		__io_unaccount_mem(ctx->user, nr_pages);
	if (ctx->mm_account)
		atomic64_sub(nr_pages, &ctx->mm_account->pinned_vm);
}

/* The block behind a blocks-xarray entry; NULL for none or a value entry */
static struct regbuf_pin_block *regbuf_entry_block(void *entry)
{
	return entry && !xa_is_value(entry) ? entry : NULL;
}

void io_regbuf_ctx_init(struct io_ring_ctx *ctx)
{
	mutex_init(&ctx->buf_acct_lock);
	INIT_LIST_HEAD(&ctx->buf_acct_unindexed);
	xa_init(&ctx->buf_acct_blocks);
	xa_init(&ctx->buf_acct_large);
}

void io_regbuf_ctx_exit(struct io_ring_ctx *ctx)
{
	unsigned long index;
	void *entry;

	/* every buffer is gone by now, a leftover block is a counting bug */
	WARN_ON_ONCE(!list_empty(&ctx->buf_acct_unindexed));
	if (WARN_ON_ONCE(!xa_empty(&ctx->buf_acct_blocks))) {
		xa_for_each(&ctx->buf_acct_blocks, index, entry)
			kfree(regbuf_entry_block(entry));
	}
	xa_destroy(&ctx->buf_acct_blocks);
	WARN_ON_ONCE(!xa_empty(&ctx->buf_acct_large));
	xa_destroy(&ctx->buf_acct_large);
	mutex_destroy(&ctx->buf_acct_lock);
}

/* The entry of the block holding @pfn: NULL, whole pins, or a block. */
static void *regbuf_block_entry(struct regbuf_pin_cursor *cur,
				unsigned long pfn)
{
	unsigned long index = pfn >> REGBUF_BLOCK_SHIFT;

	if (!cur->entry || cur->index != index) {
		cur->entry = xa_load(&cur->ctx->buf_acct_blocks, index);
		cur->index = index;
	}
	return cur->entry;
}

/* Only a store to an empty index allocates, and so can fail. */
static int regbuf_block_set(struct regbuf_pin_cursor *cur, void *entry)
{
	if (xa_is_err(xa_store(&cur->ctx->buf_acct_blocks, cur->index, entry,
			       GFP_KERNEL_ACCOUNT)))
		return -ENOMEM;
	cur->entry = entry;
	return 0;
}

static unsigned long regbuf_whole_pins(void *entry)
{
	struct regbuf_pin_block *block = regbuf_entry_block(entry);

	if (block)
		return block->whole;
	return entry ? xa_to_value(entry) : 0;
}

/*
 * The block holding @pfn, made from its entry if that is none or a value
 * entry, whose whole-block pins it keeps.
 */
static struct regbuf_pin_block *regbuf_block_get(struct regbuf_pin_cursor *cur,
						 unsigned long pfn)
{
	struct regbuf_pin_block *block;

	block = regbuf_entry_block(regbuf_block_entry(cur, pfn));
	if (block)
		return block;
	block = kzalloc(sizeof(*block), GFP_KERNEL_ACCOUNT);
	if (!block)
		return NULL;
	block->whole = regbuf_whole_pins(cur->entry);
	if (regbuf_block_set(cur, block)) {
		kfree(block);
		return NULL;
	}
	return block;
}

/* Back to a value entry, or to nothing, once no slot is in use. */
static void regbuf_block_put(struct regbuf_pin_cursor *cur,
			     struct regbuf_pin_block *block)
{
	if (block->nr_folios)
		return;
	regbuf_block_set(cur, block->whole ? xa_mk_value(block->whole) : NULL);
	kfree(block);
}

/*
 * How many of the first @max bvecs pin, a page each, the order-0 folios at
 * consecutive pfns from bvec[0]'s page on; 0 if that page is not an
 * order-0 folio.
 */
static unsigned int regbuf_order0_run(const struct bio_vec *bvec,
				      unsigned int max)
{
	struct page *first = bvec[0].bv_page;
	unsigned int n;

	for (n = 0; n < max; n++) {
		struct page *page = bvec[n].bv_page;

		if (page != nth_page(first, n) || PageCompound(page))
			break;
	}
	return n;
}

/*
 * Whether bvecs [@i, @i + REGBUF_LARGE_PFNS) pin the pages of an aligned
 * range of that many pfns, each once, in pfn order, and each an order-0
 * folio.
 */
static bool regbuf_whole_range_at(const struct bio_vec *bvec, unsigned int i,
				  unsigned int nr_bvecs)
{
	if (nr_bvecs - i < REGBUF_LARGE_PFNS ||
	    page_to_pfn(bvec[i].bv_page) & (REGBUF_LARGE_PFNS - 1))
		return false;
	return regbuf_order0_run(&bvec[i], REGBUF_LARGE_PFNS) ==
	       REGBUF_LARGE_PFNS;
}

/*
 * Bvecs from @i on that pin a page each of consecutive order-0 folios in
 * one block, in pfn order; 0 if bvec @i is not an order-0 folio. Their
 * slots are updated together, with one look at the block. All
 * REGBUF_BLOCK_PFNS of them only if the run starts at the block's start:
 * then they pin the whole block.
 */
static unsigned int regbuf_block_run(const struct bio_vec *bvec,
				     unsigned int i, unsigned int nr_bvecs)
{
	unsigned long pfn = page_to_pfn(bvec[i].bv_page);
	unsigned int to_block_end;

	to_block_end = REGBUF_BLOCK_PFNS - (pfn & (REGBUF_BLOCK_PFNS - 1));
	return regbuf_order0_run(&bvec[i], min(to_block_end, nr_bvecs - i));
}

enum regbuf_acct_kind {
	REGBUF_ACCT_RANGE,	/* whole pins of a REGBUF_LARGE_PFNS range */
	REGBUF_ACCT_BLOCK,	/* whole pins of a block */
	REGBUF_ACCT_PAGES,	/* slots of order-0 folios in one block */
	REGBUF_ACCT_FOLIO,	/* one bvec of a compound folio */
};

/*
 * Bvecs that the counter update at @i covers, and how it counts them.
 * Taking and dropping pins step alike, so that a buffer's whole-range pins
 * are found again at release. A run of order-0 pages stops at its block's
 * end, so no bvec inside it could have started a whole-block or
 * whole-range step.
 */
static unsigned int regbuf_acct_step(const struct bio_vec *bvec,
				     unsigned int i, unsigned int nr_bvecs,
				     enum regbuf_acct_kind *kind)
{
	unsigned int n;

	if (regbuf_whole_range_at(bvec, i, nr_bvecs)) {
		*kind = REGBUF_ACCT_RANGE;
		return REGBUF_LARGE_PFNS;
	}
	n = regbuf_block_run(bvec, i, nr_bvecs);
	if (n == REGBUF_BLOCK_PFNS)
		*kind = REGBUF_ACCT_BLOCK;
	else if (n)
		*kind = REGBUF_ACCT_PAGES;
	else
		*kind = REGBUF_ACCT_FOLIO;
	return n ?: 1;
}

/*
 * Pins counted in the large-folio xarray's slot for @pfn: a large folio's
 * if @pfn is in one, else whole-range pins of the order-0 pages around it.
 */
static unsigned long regbuf_large_pins(struct regbuf_pin_cursor *cur,
				       unsigned long pfn)
{
	unsigned long index = pfn >> REGBUF_LARGE_SHIFT;
	void *entry;

	if (!cur->large_valid || cur->large_index != index) {
		entry = xa_load(&cur->ctx->buf_acct_large, index);
		cur->large_pins = xa_is_value(entry) ? xa_to_value(entry) : 0;
		cur->large_index = index;
		cur->large_valid = true;
	}
	return cur->large_pins;
}

/*
 * Sets the count of the slot regbuf_large_pins() looked up last. Only
 * filling an empty slot allocates, and so can fail, changing nothing.
 */
static int regbuf_large_set(struct regbuf_pin_cursor *cur, unsigned long pins)
{
	if (xa_is_err(xa_store(&cur->ctx->buf_acct_large, cur->large_index,
			       pins ? xa_mk_value(pins) : NULL,
			       GFP_KERNEL_ACCOUNT)))
		return -ENOMEM;
	cur->large_pins = pins;
	return 0;
}

/*
 * Pages of a range that its blocks keep charged. Only ranges whose pages
 * are all pinned order-0 folios ask, so every slot in use is one page.
 */
static unsigned long regbuf_range_block_pages(struct io_ring_ctx *ctx,
					      unsigned long range)
{
	unsigned int shift = REGBUF_LARGE_SHIFT - REGBUF_BLOCK_SHIFT;
	unsigned long first = range << shift, last = first + BIT(shift) - 1;
	unsigned long index, pages = 0;
	void *entry;

	xa_for_each_range(&ctx->buf_acct_blocks, index, entry, first, last) {
		if (regbuf_whole_pins(entry))
			pages += REGBUF_BLOCK_PFNS;
		else
			pages += regbuf_entry_block(entry)->nr_folios;
	}
	return pages;
}

/*
 * Adds @delta, 1 or -1, to the whole-range pins of the range that @bv
 * starts; the pages that become charged or uncharged by it are added to
 * *@pages.
 */
static int regbuf_range_add(struct regbuf_pin_cursor *cur,
			    const struct bio_vec *bv, int delta,
			    unsigned long *pages)
{
	unsigned long pins = regbuf_large_pins(cur, page_to_pfn(bv->bv_page));
	unsigned long new_pins = pins + delta;

	if (WARN_ON_ONCE(delta < 0 && !pins))
		return 0;
	if (regbuf_large_set(cur, new_pins))
		return -ENOMEM;
	if (!pins || !new_pins)
		*pages += REGBUF_LARGE_PFNS -
			  regbuf_range_block_pages(cur->ctx, cur->large_index);
	return 0;
}

/*
 * Adds @delta, 1 or -1, to the whole-block pins of the block that @bv
 * starts; the pages that become charged or uncharged by it are added to
 * *@pages. Only adding to an empty index allocates, and so can fail.
 */
static int regbuf_whole_add(struct regbuf_pin_cursor *cur,
			    const struct bio_vec *bv, int delta,
			    unsigned long *pages)
{
	unsigned long pfn = page_to_pfn(bv->bv_page);
	void *entry = regbuf_block_entry(cur, pfn);
	struct regbuf_pin_block *block = regbuf_entry_block(entry);
	unsigned long whole = regbuf_whole_pins(entry);
	unsigned long new_whole = whole + delta;
	unsigned int charged = 0;

	if (WARN_ON_ONCE(delta < 0 && !whole))
		return 0;
	if (block) {
		/* the slots in use hold a page each, charged on their own */
		charged = block->nr_folios;
		block->whole = new_whole;
	} else if (regbuf_block_set(cur, new_whole ? xa_mk_value(new_whole) :
					       NULL)) {
		return -ENOMEM;
	}
	if ((!whole || !new_whole) && !regbuf_large_pins(cur, pfn))
		*pages += REGBUF_BLOCK_PFNS - charged;
	return 0;
}

/* Pages of one folio that @bv covers; a segment never leaves its folio. */
static unsigned int regbuf_bvec_pages(const struct bio_vec *bv)
{
	return DIV_ROUND_UP(bv->bv_offset + bv->bv_len, PAGE_SIZE);
}

/*
 * Adds @delta pins to the large folio at @pfn, of @folio_pages pages; adds
 * those pages to *@pages when its count leaves or reaches zero.
 */
static int regbuf_large_add(struct regbuf_pin_cursor *cur, unsigned long pfn,
			    long delta, unsigned long folio_pages,
			    unsigned long *pages)
{
	unsigned long pins = regbuf_large_pins(cur, pfn);
	unsigned long new_pins = pins + delta;

	if (WARN_ON_ONCE(delta < 0 && pins < -delta))
		return 0;
	if (regbuf_large_set(cur, new_pins))
		return -ENOMEM;
	if (!pins || !new_pins)
		*pages += folio_pages;
	return 0;
}

/* Counts one pin of a compound folio by @bv; adds it to *@charge if new. */
static int regbuf_pins_get(struct regbuf_pin_cursor *cur,
			   const struct bio_vec *bv, unsigned long *charge)
{
	struct folio *folio = page_folio(bv->bv_page);
	unsigned long folio_pages = folio_nr_pages(folio);
	unsigned long pfn = folio_pfn(folio);
	unsigned int nr = regbuf_bvec_pages(bv);
	struct regbuf_pin_block *block;
	unsigned int *pins;

	if (folio_pages >= REGBUF_LARGE_PFNS)
		return regbuf_large_add(cur, pfn, nr, folio_pages, charge);
	block = regbuf_block_get(cur, pfn);
	if (!block)
		return -ENOMEM;
	pins = &block->pins[pfn & (REGBUF_BLOCK_PFNS - 1)];
	if (!*pins) {
		block->nr_folios++;
		if (!block->whole && !regbuf_large_pins(cur, pfn))
			*charge += folio_pages;
	}
	*pins += nr;
	return 0;
}

static void regbuf_pins_put(struct regbuf_pin_cursor *cur,
			    const struct bio_vec *bv, unsigned long *uncharge)
{
	struct folio *folio = page_folio(bv->bv_page);
	unsigned long folio_pages = folio_nr_pages(folio);
	unsigned long pfn = folio_pfn(folio);
	unsigned int nr = regbuf_bvec_pages(bv);
	struct regbuf_pin_block *block;
	unsigned int *pins;

	if (folio_pages >= REGBUF_LARGE_PFNS) {
		regbuf_large_add(cur, pfn, -(long)nr, folio_pages, uncharge);
		return;
	}
	block = regbuf_entry_block(regbuf_block_entry(cur, pfn));
	if (WARN_ON_ONCE(!block))
		return;
	pins = &block->pins[pfn & (REGBUF_BLOCK_PFNS - 1)];
	if (WARN_ON_ONCE(*pins < nr))
		return;
	*pins -= nr;
	if (*pins)
		return;
	if (!block->whole && !regbuf_large_pins(cur, pfn))
		*uncharge += folio_pages;
	block->nr_folios--;
	regbuf_block_put(cur, block);
}

/*
 * Counts a pin of each of the @nr order-0 folios from @bv's page on, all
 * in one block (regbuf_block_run()); adds those new to the ring to
 * *@charge.
 */
static int regbuf_page_run_get(struct regbuf_pin_cursor *cur,
			       const struct bio_vec *bv, unsigned int nr,
			       unsigned long *charge)
{
	unsigned long pfn = page_to_pfn(bv->bv_page);
	struct regbuf_pin_block *block = regbuf_block_get(cur, pfn);
	unsigned int *pins, n, added = 0;

	if (!block)
		return -ENOMEM;
	pins = &block->pins[pfn & (REGBUF_BLOCK_PFNS - 1)];
	for (n = 0; n < nr; n++)
		added += !pins[n]++;
	block->nr_folios += added;
	if (!block->whole && !regbuf_large_pins(cur, pfn))
		*charge += added;
	return 0;
}

static void regbuf_page_run_put(struct regbuf_pin_cursor *cur,
				const struct bio_vec *bv, unsigned int nr,
				unsigned long *uncharge)
{
	unsigned long pfn = page_to_pfn(bv->bv_page);
	struct regbuf_pin_block *block;
	unsigned int *pins, n, dropped = 0;

	block = regbuf_entry_block(regbuf_block_entry(cur, pfn));
	if (WARN_ON_ONCE(!block))
		return;
	pins = &block->pins[pfn & (REGBUF_BLOCK_PFNS - 1)];
	for (n = 0; n < nr; n++) {
		if (WARN_ON_ONCE(!pins[n]))
			continue;
		dropped += !--pins[n];
	}
	block->nr_folios -= dropped;
	if (!block->whole && !regbuf_large_pins(cur, pfn))
		*uncharge += dropped;
	regbuf_block_put(cur, block);
}

struct regbuf_pfn_run {
	unsigned long	start;
	unsigned long	end;
};

/*
 * Runs found in a buffer and the pages they cover. Without an array only
 * the pages are summed; the first REGBUF_STACK_RUNS entries of an array
 * are the caller's.
 */
struct regbuf_run_list {
	struct regbuf_pfn_run	*runs;
	unsigned int		nr;
	unsigned int		size;
	unsigned int		max;	/* no more runs than bvecs */
	unsigned long		pages;
};

/* False if the list's array was full and could not grow. */
static bool regbuf_run_add(struct regbuf_run_list *list,
			   const struct regbuf_pfn_run *run)
{
	list->pages += run->end - run->start;
	if (!list->runs)
		return true;
	if (list->nr == list->size) {
		unsigned int size = min(list->size * REGBUF_RUNS_GROWTH,
					list->max);
		struct regbuf_pfn_run *runs;

		runs = kvmalloc_array(size, sizeof(*runs),
				      GFP_KERNEL | __GFP_NOWARN);
		if (!runs)
			return false;
		memcpy(runs, list->runs, list->nr * sizeof(*runs));
		if (list->size > REGBUF_STACK_RUNS)
			kvfree(list->runs);
		list->runs = runs;
		list->size = size;
	}
	list->runs[list->nr++] = *run;
	return true;
}

/* Extends @run to the end of @bv's folio; a segment never leaves it. */
static void regbuf_run_extend(struct regbuf_pfn_run *run,
			      const struct bio_vec *bv)
{
	struct folio *folio = page_folio(bv->bv_page);

	run->end = max(run->end, folio_pfn(folio) + folio_nr_pages(folio));
}

/*
 * Index of the first bvec from @i on that does not continue the pfns of
 * the ones before it, *@next_pfn being the pfn it would have to start
 * at; *@next_pfn is moved past the bvecs that do. At a segment shift of
 * PAGE_SHIFT each bvec is one page, which is how 4 KiB memory comes, and
 * the loop is a load and a compare per bvec: under qemu TCG every
 * instruction per bvec costs about a microsecond per thousand bvecs.
 */
static unsigned int regbuf_pfns_continue(const struct io_mapped_ubuf *imu,
					 unsigned int i,
					 unsigned long *next_pfn)
{
	const struct bio_vec *bvec = imu->bvec;
	unsigned int nr = imu->nr_bvecs;
	unsigned long next = *next_pfn;

	if (imu->seg_shift == PAGE_SHIFT) {
		while (i < nr && page_to_pfn(bvec[i].bv_page) == next) {
			next++;
			i++;
		}
	} else {
		while (i < nr && page_to_pfn(bvec[i].bv_page) == next) {
			next += regbuf_bvec_pages(&bvec[i]);
			i++;
		}
	}
	*next_pfn = next;
	return i;
}

/*
 * Adds to @list the runs of consecutive pfns that the folios of @imu form,
 * each folio counted once within its run. Bvecs continuing the pfns of
 * the one before cost a compare each; only where that stops are folios
 * looked at: the run so far is extended to the end of its last folio, and
 * the next bvec, unless its folio is in that run or right after it,
 * starts a run of its own. False if @list could not keep them all.
 */
static bool regbuf_find_runs(const struct io_mapped_ubuf *imu,
			     struct regbuf_run_list *list)
{
	struct page *page = imu->bvec[0].bv_page;
	unsigned long pfn = page_to_pfn(page), next_pfn = pfn;
	struct regbuf_pfn_run run;
	unsigned int i = 0;

	run.start = folio_pfn(page_folio(page));
	run.end = run.start;
	for (;;) {
		i = regbuf_pfns_continue(imu, i, &next_pfn);
		regbuf_run_extend(&run, &imu->bvec[i - 1]);
		if (i == imu->nr_bvecs)
			break;
		page = imu->bvec[i].bv_page;
		pfn = page_to_pfn(page);
		next_pfn = pfn;
		/* the run's folios cover it, the next starts at its end */
		if (pfn >= run.start && pfn <= run.end)
			continue;
		if (!regbuf_run_add(list, &run))
			return false;
		run.start = folio_pfn(page_folio(page));
		run.end = run.start;
	}
	return regbuf_run_add(list, &run);
}

static int regbuf_run_cmp(const void *a, const void *b)
{
	const struct regbuf_pfn_run *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Whether each of @nr runs ends before the next (@up) or after it starts */
static bool regbuf_runs_in_order(const struct regbuf_pfn_run *runs,
				 unsigned int nr, bool up)
{
	unsigned int i;

	for (i = 1; i < nr; i++) {
		if (up ? runs[i - 1].end > runs[i].start :
			 runs[i].end > runs[i - 1].start)
			return false;
	}
	return true;
}

/*
 * Whether any two of @nr runs overlap. The page allocator and the hugetlb
 * pool often hand memory out in pfn order or in reverse (a fresh hugetlb
 * pool: 128 pages of 2 MiB, each a run, in reverse), and runs in either
 * order are apart. Else runs that fit on the stack are compared pairwise:
 * in the emulated guest, sort() calling its compare function through a
 * pointer took 10 us for 21 runs, and with 128 runs to sort a 256 MiB
 * hugetlb buffer's accounting took 70 to 105 us. More runs are sorted
 * by start first.
 */
static bool regbuf_runs_overlap(struct regbuf_pfn_run *runs, unsigned int nr)
{
	unsigned int i, j;

	if (regbuf_runs_in_order(runs, nr, true) ||
	    regbuf_runs_in_order(runs, nr, false))
		return false;
	if (nr <= REGBUF_STACK_RUNS) {
		for (i = 0; i < nr; i++) {
			for (j = i + 1; j < nr; j++) {
				if (runs[i].start < runs[j].end &&
				    runs[j].start < runs[i].end)
					return true;
			}
		}
		return false;
	}
	sort(runs, nr, sizeof(*runs), regbuf_run_cmp, NULL);
	return !regbuf_runs_in_order(runs, nr, true);
}

/*
 * Pins on @folio from anyone. FOLL_PIN adds one per page to a large
 * folio's pincount and GUP_PIN_COUNTING_BIAS per pin to an order-0 folio's
 * refcount, whose other references are far fewer; should they not be,
 * the folio looks pinned once more, never less.
 */
static unsigned long regbuf_folio_pins(struct folio *folio)
{
	if (folio_test_large(folio))
		return atomic_read(folio_pincount_ptr(folio));
	return (unsigned int)folio_ref_count(folio) / GUP_PIN_COUNTING_BIAS;
}

/*
 * Whether the folios of @nr disjoint @runs hold no pins but the @own that
 * one buffer took. Every folio of a run has a page in the buffer, whose
 * pins are among those counted here, so any pin beyond @own is another's.
 */
static bool regbuf_runs_pinned_alone(const struct regbuf_pfn_run *runs,
				     unsigned int nr, unsigned long own)
{
	unsigned long pins = 0, pfn;
	unsigned int i;

	for (i = 0; i < nr; i++) {
		for (pfn = runs[i].start; pfn < runs[i].end;) {
			struct folio *folio = page_folio(pfn_to_page(pfn));

			pins += regbuf_folio_pins(folio);
			pfn += folio_nr_pages(folio);
		}
	}
	return pins == own;
}

/*
 * Pages of the folios @imu pins, each folio counted once, if the runs of
 * pfns they form do not overlap and, for @alone, the folios hold no pins
 * but the one on each of the @nr_pages pages GUP pinned for @imu; else 0,
 * as when the runs could not be kept.
 */
static unsigned long regbuf_unindexed_pages(const struct io_mapped_ubuf *imu,
					    bool alone, unsigned long nr_pages)
{
	struct regbuf_pfn_run stack_runs[REGBUF_STACK_RUNS];
	struct regbuf_run_list list = {
		.runs = stack_runs,
		.size = REGBUF_STACK_RUNS,
		.max = imu->nr_bvecs,
	};
	unsigned long pages = 0;

	if (regbuf_find_runs(imu, &list) &&
	    !regbuf_runs_overlap(list.runs, list.nr) &&
	    (!alone || regbuf_runs_pinned_alone(list.runs, list.nr, nr_pages)))
		pages = list.pages;
	if (list.size > REGBUF_STACK_RUNS)
		kvfree(list.runs);
	return pages;
}

/* What regbuf_unindexed_pages() found for an unindexed buffer */
static unsigned long regbuf_unindexed_charge(const struct io_mapped_ubuf *imu)
{
	struct regbuf_run_list list = {};

	regbuf_find_runs(imu, &list);
	return list.pages;
}

/* Drops the pins bvecs [0, @end) of @imu took, @end being a step's start. */
static void regbuf_pins_put_bvecs(struct io_ring_ctx *ctx,
				  const struct io_mapped_ubuf *imu,
				  unsigned int end, unsigned long *uncharge)
{
	struct regbuf_pin_cursor cur = { .ctx = ctx };
	enum regbuf_acct_kind kind;
	unsigned int i, step;

	for (i = 0; i < end; i += step) {
		const struct bio_vec *bv = &imu->bvec[i];

		step = regbuf_acct_step(imu->bvec, i, imu->nr_bvecs, &kind);
		if (kind == REGBUF_ACCT_RANGE)
			regbuf_range_add(&cur, bv, -1, uncharge);
		else if (kind == REGBUF_ACCT_BLOCK)
			regbuf_whole_add(&cur, bv, -1, uncharge);
		else if (kind == REGBUF_ACCT_PAGES)
			regbuf_page_run_put(&cur, bv, step, uncharge);
		else
			regbuf_pins_put(&cur, bv, uncharge);
	}
}

/*
 * Counts the pins of @imu's bvecs and adds the pages of the folios that
 * become pinned to *@charge. On failure the counters are as before.
 */
static int regbuf_pins_get_bvecs(struct io_ring_ctx *ctx,
				 const struct io_mapped_ubuf *imu,
				 unsigned long *charge)
{
	struct regbuf_pin_cursor cur = { .ctx = ctx };
	enum regbuf_acct_kind kind;
	unsigned long undone = 0;
	unsigned int i, step;
	int ret;

	for (i = 0; i < imu->nr_bvecs; i += step) {
		const struct bio_vec *bv = &imu->bvec[i];

		step = regbuf_acct_step(imu->bvec, i, imu->nr_bvecs, &kind);
		if (kind == REGBUF_ACCT_RANGE)
			ret = regbuf_range_add(&cur, bv, 1, charge);
		else if (kind == REGBUF_ACCT_BLOCK)
			ret = regbuf_whole_add(&cur, bv, 1, charge);
		else if (kind == REGBUF_ACCT_PAGES)
			ret = regbuf_page_run_get(&cur, bv, step, charge);
		else
			ret = regbuf_pins_get(&cur, bv, charge);
		if (ret) {
			regbuf_pins_put_bvecs(ctx, imu, i, &undone);
			return ret;
		}
	}
	return 0;
}

/* Whether no buffer of the ring is accounted. */
static bool regbuf_ring_unaccounted(struct io_ring_ctx *ctx)
{
	return list_empty(&ctx->buf_acct_unindexed) &&
	       xa_empty(&ctx->buf_acct_blocks) && xa_empty(&ctx->buf_acct_large);
}

/* Drops the pins the unindexed buffers before @end had counted. */
static void regbuf_uncount_unindexed(struct io_ring_ctx *ctx,
				     const struct io_mapped_ubuf *end)
{
	struct io_mapped_ubuf *imu;
	unsigned long undone = 0;

	list_for_each_entry(imu, &ctx->buf_acct_unindexed, acct_node) {
		if (imu == end)
			break;
		regbuf_pins_put_bvecs(ctx, imu, imu->nr_bvecs, &undone);
	}
}

/*
 * Counts the pins of the ring's unindexed buffers, which are charged
 * already, and keeps them listed until the caller knows whether it
 * keeps the counts. On failure the counters are as before.
 */
static int regbuf_count_unindexed(struct io_ring_ctx *ctx)
{
	struct io_mapped_ubuf *imu;
	int ret;

	list_for_each_entry(imu, &ctx->buf_acct_unindexed, acct_node) {
		unsigned long recounted = 0;

		ret = regbuf_pins_get_bvecs(ctx, imu, &recounted);
		if (ret) {
			regbuf_uncount_unindexed(ctx, imu);
			return ret;
		}
		/* they share no folio: the counters find theirs all new */
		WARN_ON_ONCE(recounted != regbuf_unindexed_charge(imu));
	}
	return 0;
}

static void regbuf_forget_unindexed(struct io_ring_ctx *ctx)
{
	struct io_mapped_ubuf *imu, *next;

	list_for_each_entry_safe(imu, next, &ctx->buf_acct_unindexed,
				 acct_node)
		list_del_init(&imu->acct_node);
}

/*
 * Charges the folios of the buffer that no other buffer of the ring holds
 * yet, counting its pins unless it is left out of the counters; GUP
 * pinned @nr_pages pages for it. On failure the counters, the charge and
 * the unindexed buffers are exactly as before.
 */
static int regbuf_account(struct io_ring_ctx *ctx, struct io_mapped_ubuf *imu,
			  unsigned long nr_pages)
{
	unsigned long charge, undone = 0;
	int ret;

	mutex_lock(&ctx->buf_acct_lock);
	charge = regbuf_unindexed_pages(imu, !regbuf_ring_unaccounted(ctx),
					nr_pages);
	if (charge) {
		ret = regbuf_charge(ctx, charge);
		if (!ret)
			list_add_tail(&imu->acct_node, &ctx->buf_acct_unindexed);
		goto out;
	}
	ret = regbuf_count_unindexed(ctx);
	if (ret)
		goto out;
	ret = regbuf_pins_get_bvecs(ctx, imu, &charge);
	if (!ret) {
		ret = regbuf_charge(ctx, charge);
		if (ret)
			regbuf_pins_put_bvecs(ctx, imu, imu->nr_bvecs, &undone);
	}
	if (ret)
		regbuf_uncount_unindexed(ctx, NULL);
	else
		regbuf_forget_unindexed(ctx);
out:
	mutex_unlock(&ctx->buf_acct_lock);
	return ret;
}

static void regbuf_unaccount(struct io_ring_ctx *ctx,
			     struct io_mapped_ubuf *imu)
{
	unsigned long uncharge = 0;

	mutex_lock(&ctx->buf_acct_lock);
	if (!list_empty(&imu->acct_node)) {
		uncharge = regbuf_unindexed_charge(imu);
		list_del_init(&imu->acct_node);
	} else {
		regbuf_pins_put_bvecs(ctx, imu, imu->nr_bvecs, &uncharge);
	}
	regbuf_uncharge(ctx, uncharge);
	mutex_unlock(&ctx->buf_acct_lock);
}

static void regbuf_unpin(struct io_mapped_ubuf *imu)
{
	unsigned int i;

	for (i = 0; i < imu->nr_bvecs; i++) {
		struct bio_vec *bv = &imu->bvec[i];

		unpin_user_page_range_dirty_lock(bv->bv_page,
						 regbuf_bvec_pages(bv), false);
	}
}

int io_buffer_validate(struct iovec *iov)
{
	unsigned long end;

	/* an empty slot, BUFFERS_UPDATE may fill it later */
	if (!iov->iov_base)
		return iov->iov_len ? -EFAULT : 0;
	if (!iov->iov_len || iov->iov_len > SZ_1G)
		return -EFAULT;
	/* the pinned range is rounded up to whole pages and must not wrap */
	if (check_add_overflow((unsigned long)iov->iov_base,
			       iov->iov_len + PAGE_SIZE - 1, &end))
		return -EOVERFLOW;
	return 0;
}

/* Pages that [@ubuf, @ubuf + @len) touches; false if the range wraps. */
static bool regbuf_nr_pages(unsigned long ubuf, unsigned long len,
			    unsigned long *nr_pages)
{
	unsigned long end;

	if (check_add_overflow(ubuf, len, &end) ||
	    check_add_overflow(end, PAGE_SIZE - 1, &end))
		return false;
	*nr_pages = (end >> PAGE_SHIFT) - (ubuf >> PAGE_SHIFT);
	return true;
}

/* Pins the @nr_pages pages from @ubuf's on into @pages, all or none. */
static int regbuf_pin_pages(unsigned long ubuf, unsigned long nr_pages,
			    struct page **pages)
{
	long pinned = pin_user_pages_longterm(ubuf & PAGE_MASK, nr_pages,
					      FOLL_WRITE, pages);

	if (pinned == nr_pages)
		return 0;
	/* the call is all or nothing; never trust a short count blindly */
	if (WARN_ON_ONCE(pinned >= 0)) {
		unpin_user_pages(pages, pinned);
		return -EFAULT;
	}
	return pinned;
}

struct page **io_pin_pages(unsigned long ubuf, unsigned long len, int *npages)
{
	unsigned long nr_pages;
	struct page **pages;
	int ret;

	if (!regbuf_nr_pages(ubuf, len, &nr_pages))
		return ERR_PTR(-EOVERFLOW);
	pages = kvmalloc_array(nr_pages, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return ERR_PTR(-ENOMEM);
	ret = regbuf_pin_pages(ubuf, nr_pages, pages);
	if (ret) {
		kvfree(pages);
		return ERR_PTR(ret);
	}
	*npages = nr_pages;
	return pages;
}

/*
 * Nonzero unless @page is the page @n pfns after @first. nth_page() steps
 * by pfn; bvec users step through a segment with bv_page + n, and the two
 * agree only where the memmap is virtually contiguous, which without
 * SPARSEMEM_VMEMMAP a gigantic folio's is not: a run ends where they
 * disagree. With a contiguous memmap both tests are the same one.
 */
static unsigned long regbuf_page_mismatch(struct page *page,
					  struct page *first, unsigned long n)
{
	return ((unsigned long)page ^ (unsigned long)(first + n)) |
	       ((unsigned long)page ^ (unsigned long)nth_page(first, n));
}

/*
 * Nonzero unless pages[0..3] are the four pages from @n pfns after @first
 * on; written out so that a stride is compared with a single branch.
 */
static unsigned long regbuf_stride_mismatch(struct page **pages,
					    struct page *first,
					    unsigned long n)
{
	return regbuf_page_mismatch(pages[0], first, n) |
	       regbuf_page_mismatch(pages[1], first, n + 1) |
	       regbuf_page_mismatch(pages[2], first, n + 2) |
	       regbuf_page_mismatch(pages[3], first, n + 3);
}

/*
 * Index of the first page after @i that does not continue the run of
 * physically consecutive pages of one folio starting at pages[i]. The run
 * cannot outlast the pages the folio has from pages[i] on, so only the
 * step to the next page needs checking. Most runs are whole huge folios,
 * so the pages are compared four at a time first.
 */
static unsigned long regbuf_contig_run_end(struct page **pages,
					   unsigned long i,
					   unsigned long nr_pages)
{
	struct page *first = pages[i];
	struct folio *folio = page_folio(first);
	unsigned long folio_left = folio_pfn(folio) + folio_nr_pages(folio) -
				   page_to_pfn(first);
	unsigned long end = i + min(folio_left, nr_pages - i);
	unsigned long n = 1;

	while (i + n + 4 <= end &&
	       !regbuf_stride_mismatch(&pages[i + n], first, n))
		n += 4;
	while (i + n < end && !regbuf_page_mismatch(pages[i + n], first, n))
		n++;
	return i + n;
}

/*
 * io_buffer_validate() accepts buffers of at most 1 GiB (SZ_1G), so a
 * larger segment would describe nothing more; the cap also keeps every
 * bv_len within an unsigned int.
 */
#define REGBUF_MAX_SEG_SHIFT	30

/*
 * The largest segment shift at which no segment holds two pages that are
 * not physically consecutive in one folio: each such pair sits on a
 * segment boundary, and a boundary at user address A allows only shifts up
 * to __ffs(A). Checking each page against the next pfn of its run's
 * folio, never against its neighbour's pointer alone, keeps a page mapped
 * twice or a folio mapped out of order (CVE-2023-2598) apart. Folio
 * sizes do not cap the shift: the cuts already keep each segment inside
 * its folio and the buffer's ends clip the first and last one, so a small
 * folio at either end does not force small segments on the rest.
 */
static unsigned int regbuf_seg_shift(struct page **pages,
				     unsigned long nr_pages, unsigned long ubuf)
{
	unsigned long first_page_addr = ubuf & PAGE_MASK;
	unsigned int shift = REGBUF_MAX_SEG_SHIFT;
	unsigned long i = 0;

	while (shift > PAGE_SHIFT && i < nr_pages) {
		i = regbuf_contig_run_end(pages, i, nr_pages);
		if (i < nr_pages)
			shift = min_t(unsigned int, shift,
				      __ffs(first_page_addr + (i << PAGE_SHIFT)));
	}
	return shift;
}

static unsigned int regbuf_nr_segs(unsigned long ubuf, unsigned long len,
				   unsigned int shift)
{
	return ((ubuf + len - 1) >> shift) - (ubuf >> shift) + 1;
}

/* Bytes from @addr to the end of its segment or of the buffer at @end */
static unsigned long regbuf_seg_len(unsigned long addr, unsigned long end,
				    unsigned int shift)
{
	unsigned long seg_mask = (1UL << shift) - 1;

	return min(end - addr, seg_mask + 1 - (addr & seg_mask));
}

static void regbuf_fill_bvecs(struct io_mapped_ubuf *imu, struct page **pages,
			      unsigned long ubuf, unsigned long len,
			      unsigned int shift)
{
	unsigned long addr = ubuf, end = ubuf + len;
	unsigned int i;

	for (i = 0; addr < end; i++) {
		unsigned long seg_len = regbuf_seg_len(addr, end, shift);
		struct page *page = pages[(addr >> PAGE_SHIFT) -
					  (ubuf >> PAGE_SHIFT)];

		bvec_set_page(&imu->bvec[i], page, seg_len,
			      offset_in_page(addr));
		addr += seg_len;
	}
	imu->ubuf = ubuf;
	imu->ubuf_end = end;
	imu->nr_bvecs = i;
	imu->seg_shift = shift;
}

/*
 * The page array GUP fills, placed in the back of an imu's room for a bvec
 * per page. Filling the bvecs front to back overwrites only pointers
 * already read: bvec i is built from a page at index i or later, and it
 * ends at byte 16 * (i + 1) of the array, which is no further than where
 * page i + 1's pointer starts, 8 * (nr_pages + i + 1), while i < nr_pages.
 */
static struct page **regbuf_page_room(struct io_mapped_ubuf *imu,
				      unsigned long nr_pages)
{
	return (struct page **)(imu->bvec + nr_pages) - nr_pages;
}

/*
 * Registers one buffer described by an iovec that io_buffer_validate()
 * accepted. A NULL base leaves the slot empty (the ring's dummy buffer).
 *
 * Most buffers are of 4 KiB pages, a segment each, so the imu is sized for
 * that and GUP fills its page array into it: one allocation instead of two
 * (freeing a separate page array cost 6 us of a 1 MiB registration in the
 * emulated guest). A coalesced buffer moves to an imu of its size, or
 * stays where it is if that cannot be had.
 */
int io_regbuf_register(struct io_ring_ctx *ctx, struct iovec *iov,
		       struct io_mapped_ubuf **pimu)
{
	unsigned long ubuf = (unsigned long)iov->iov_base;
	unsigned long len = iov->iov_len, nr_pages;
	struct io_mapped_ubuf *imu, *fit;
	unsigned int shift, nr_segs;
	struct page **pages;
	int ret;

	*pimu = ctx->dummy_ubuf;
	if (!iov->iov_base)
		return 0;
	if (!regbuf_nr_pages(ubuf, len, &nr_pages))
		return -EOVERFLOW;

	imu = kvmalloc(struct_size(imu, bvec, nr_pages), GFP_KERNEL);
	if (!imu)
		return -ENOMEM;
	pages = regbuf_page_room(imu, nr_pages);
	ret = regbuf_pin_pages(ubuf, nr_pages, pages);
	if (ret)
		goto free;

	shift = regbuf_seg_shift(pages, nr_pages, ubuf);
	nr_segs = regbuf_nr_segs(ubuf, len, shift);
	fit = NULL;
	if (nr_segs < nr_pages)
		fit = kvmalloc(struct_size(imu, bvec, nr_segs), GFP_KERNEL);
	regbuf_fill_bvecs(fit ?: imu, pages, ubuf, len, shift);
	if (fit) {
		kvfree(imu);
		imu = fit;
	}

	INIT_LIST_HEAD(&imu->acct_node);
	ret = regbuf_account(ctx, imu, nr_pages);
	if (ret) {
		regbuf_unpin(imu);
		goto free;
	}
	*pimu = imu;
	return 0;
free:
	kvfree(imu);
	return ret;
}

/*
 * Called from BUFFERS_UPDATE and unregister under ->uring_lock and from the
 * rsrc put work without it; ->buf_acct_lock orders the counters. They are
 * dropped before the pages are unpinned: while pinned, a folio cannot be
 * freed and its pfn reused by a folio of another size under the same
 * counter.
 */
void io_regbuf_release(struct io_ring_ctx *ctx, struct io_mapped_ubuf *imu)
{
	if (imu == ctx->dummy_ubuf)
		return;
	regbuf_unaccount(ctx, imu);
	regbuf_unpin(imu);
	kvfree(imu);
}

static unsigned long regbuf_seg_index(const struct io_mapped_ubuf *imu,
				      u64 addr)
{
	return (addr >> imu->seg_shift) - (imu->ubuf >> imu->seg_shift);
}

/*
 * Segments are cut at multiples of 1 << seg_shift in user address space,
 * so the segment holding an address is its distance in segments from the
 * buffer's first one, and only the first segment starts at ubuf rather
 * than on such a multiple.
 */
int io_import_fixed(int ddir, struct iov_iter *iter,
		    struct io_mapped_ubuf *imu, u64 buf_addr, size_t len)
{
	unsigned long first, nr_segs;
	u64 buf_end, seg_start;

	if (WARN_ON_ONCE(!imu))
		return -EFAULT;
	if (unlikely(check_add_overflow(buf_addr, (u64)len, &buf_end)))
		return -EFAULT;
	if (unlikely(buf_addr < imu->ubuf || buf_end > imu->ubuf_end))
		return -EFAULT;

	first = regbuf_seg_index(imu, buf_addr);
	nr_segs = len ? regbuf_seg_index(imu, buf_end - 1) - first + 1 : 0;
	seg_start = max(imu->ubuf, buf_addr & ~((1ULL << imu->seg_shift) - 1));

	iov_iter_bvec(iter, ddir, imu->bvec + first, nr_segs, len);
	iter->iov_offset = buf_addr - seg_start;
	return 0;
}
