// SPDX-License-Identifier: GPL-2.0
/*
 * Memlock charge of registered buffers.
 *
 * A pinned page of an order-0 folio is charged a page per pin, as 6.1 and
 * mainline charge it: a page a ring pins twice is charged twice, so
 * RLIMIT_MEMLOCK bounds the pins a user holds on small pages, each worth
 * GUP_PIN_COUNTING_BIAS references on the page.
 *
 * A large folio (THP, hugetlb) is charged whole, once per ring, for as long
 * as any buffer of the ring pins a page of it. ctx->buf_large_pins maps the
 * pfn of the folio's first page to the number of its pages that the ring's
 * buffers pin, a page pinned twice counting twice: the folio is charged
 * when that count leaves zero and uncharged when it returns there. A
 * pinned folio can be neither split nor freed, so the pfn names the same
 * folio for as long as its count is nonzero.
 *
 * So that memlock still bounds the references a user can put on a large
 * folio, a ring holds at most REGBUF_LARGE_PINS_PER_PAGE pins per page of
 * it: the weight that order-0 pins of the same charge would have. That
 * keeps one ring's pins on the largest folio (a 1 GiB page, 2^18 pages)
 * at 2^28, within the folio's int refcount, and a user's pins across rings
 * at GUP_PIN_COUNTING_BIAS per page of memlock, as for small pages. A
 * registration past the bound fails with -ETOOMANYREFS.
 */
#include <linux/kernel.h>
#include <linux/errno.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/xarray.h>
#include <linux/io_uring_types.h>

#include "regbuf.h"

#define REGBUF_LARGE_PINS_PER_PAGE	GUP_PIN_COUNTING_BIAS

static int regbuf_count_large(struct io_ring_ctx *ctx, struct folio *folio,
			      unsigned long pins, unsigned long *charge);
static void regbuf_uncount_large(struct io_ring_ctx *ctx, struct folio *folio,
				 unsigned long pins, unsigned long *uncharge);
static unsigned int regbuf_folio_span(const struct io_mapped_ubuf *imu,
				      unsigned int i, unsigned long *pins);
static void regbuf_uncount_before(struct io_ring_ctx *ctx,
				  const struct io_mapped_ubuf *imu,
				  unsigned int end, unsigned long *uncharge);

void io_regbuf_ctx_init(struct io_ring_ctx *ctx)
{
	mutex_init(&ctx->buf_acct_lock);
	xa_init(&ctx->buf_large_pins);
}

void io_regbuf_ctx_exit(struct io_ring_ctx *ctx)
{
	/* every buffer is released by now: a count left is an accounting bug */
	WARN_ON_ONCE(!xa_empty(&ctx->buf_large_pins));
	xa_destroy(&ctx->buf_large_pins);
	mutex_destroy(&ctx->buf_acct_lock);
}

/*
 * Charges the pages @imu pins: each page of an order-0 folio, and each
 * large folio the ring did not pin yet. On failure nothing is charged and
 * the ring's counts are as before.
 */
int io_regbuf_account(struct io_ring_ctx *ctx, const struct io_mapped_ubuf *imu)
{
	unsigned long charge = 0, undone = 0;
	unsigned int i, next;
	int ret = 0;

	mutex_lock(&ctx->buf_acct_lock);
	for (i = 0; i < imu->nr_bvecs; i = next) {
		struct folio *folio = page_folio(imu->bvec[i].bv_page);
		unsigned long pins;

		next = i + 1;
		/* a bvec never leaves its folio: in an order-0 one, one pin */
		if (!folio_test_large(folio)) {
			charge++;
			continue;
		}
		next = regbuf_folio_span(imu, i, &pins);
		ret = regbuf_count_large(ctx, folio, pins, &charge);
		if (ret)
			break;
	}
	if (!ret)
		ret = io_account_mem(ctx, charge);
	if (ret)
		regbuf_uncount_before(ctx, imu, i, &undone);
	mutex_unlock(&ctx->buf_acct_lock);
	return ret;
}

/* Undoes io_regbuf_account(); the buffer must still hold its pins. */
void io_regbuf_unaccount(struct io_ring_ctx *ctx,
			 const struct io_mapped_ubuf *imu)
{
	unsigned long uncharge = 0;

	mutex_lock(&ctx->buf_acct_lock);
	regbuf_uncount_before(ctx, imu, imu->nr_bvecs, &uncharge);
	io_unaccount_mem(ctx, uncharge);
	mutex_unlock(&ctx->buf_acct_lock);
}

/*
 * Drops the ring's counts of the large folios that bvecs [0, @end) pin and
 * adds to *@uncharge the pages that stop being charged, those of order-0
 * folios included. @end is where a span of regbuf_folio_span() starts.
 */
static void regbuf_uncount_before(struct io_ring_ctx *ctx,
				  const struct io_mapped_ubuf *imu,
				  unsigned int end, unsigned long *uncharge)
{
	unsigned int i, next;

	for (i = 0; i < end; i = next) {
		struct folio *folio = page_folio(imu->bvec[i].bv_page);
		unsigned long pins;

		next = i + 1;
		if (!folio_test_large(folio)) {
			(*uncharge)++;
			continue;
		}
		next = regbuf_folio_span(imu, i, &pins);
		regbuf_uncount_large(ctx, folio, pins, uncharge);
	}
}

/*
 * End of the run of bvecs from @i on that pin pages of bvec @i's folio, a
 * large one; *@pins is set to the pages they pin. A bvec never leaves its
 * folio.
 */
static unsigned int regbuf_folio_span(const struct io_mapped_ubuf *imu,
				      unsigned int i, unsigned long *pins)
{
	struct folio *folio = page_folio(imu->bvec[i].bv_page);

	*pins = 0;
	do {
		const struct bio_vec *bv = &imu->bvec[i];

		*pins += DIV_ROUND_UP(bv->bv_offset + bv->bv_len, PAGE_SIZE);
	} while (++i < imu->nr_bvecs &&
		 page_folio(imu->bvec[i].bv_page) == folio);
	return i;
}

/*
 * Adds @pins to the ring's count for @folio, adding the folio's pages to
 * *@charge if it was not pinned yet. Fails with the count unchanged past
 * the bound, or when a new entry cannot be stored.
 */
static int regbuf_count_large(struct io_ring_ctx *ctx, struct folio *folio,
			      unsigned long pins, unsigned long *charge)
{
	unsigned long index = folio_pfn(folio);
	unsigned long nr_pages = folio_nr_pages(folio);
	void *entry = xa_load(&ctx->buf_large_pins, index);
	unsigned long old = entry ? xa_to_value(entry) : 0;

	if (pins > nr_pages * REGBUF_LARGE_PINS_PER_PAGE - old)
		return -ETOOMANYREFS;
	if (xa_is_err(xa_store(&ctx->buf_large_pins, index,
			       xa_mk_value(old + pins), GFP_KERNEL_ACCOUNT)))
		return -ENOMEM;
	if (!old)
		*charge += nr_pages;
	return 0;
}

static void regbuf_uncount_large(struct io_ring_ctx *ctx, struct folio *folio,
				 unsigned long pins, unsigned long *uncharge)
{
	unsigned long index = folio_pfn(folio);
	void *entry = xa_load(&ctx->buf_large_pins, index);
	unsigned long old = entry ? xa_to_value(entry) : 0;

	if (WARN_ON_ONCE(old < pins))
		return;
	if (old > pins) {
		/* replacing a value entry allocates nothing and cannot fail */
		xa_store(&ctx->buf_large_pins, index, xa_mk_value(old - pins),
			 GFP_KERNEL_ACCOUNT);
		return;
	}
	xa_erase(&ctx->buf_large_pins, index);
	*uncharge += folio_nr_pages(folio);
}
