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
 * folio's key (regbuf_large_key()) to the number of its pages that the
 * ring's buffers pin, a page pinned twice counting twice: the folio is
 * charged when that count leaves zero and uncharged when it returns there.
 * A pinned folio can be neither split nor freed, so the key names the same
 * folio for as long as its count is nonzero.
 *
 * So that memlock still bounds the references a user can put on a large
 * folio, a ring holds at most REGBUF_LARGE_PINS_PER_PAGE pins per page of
 * it, the weight order-0 pins of the same charge would have: a user's
 * pins stay bounded by memlock as on small pages, and one ring's on a
 * 1 GiB page at 2^28, within its int refcount. Past that, -ETOOMANYREFS.
 */
#include <linux/kernel.h>
#include <linux/errno.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/xarray.h>
#include <linux/io_uring_types.h>

#include "regbuf.h"

#define REGBUF_LARGE_PINS_PER_PAGE	GUP_PIN_COUNTING_BIAS
#define REGBUF_PMD_ORDER		(PMD_SHIFT - PAGE_SHIFT)

static int regbuf_count_large(struct xa_state *xas, struct folio *folio,
			      unsigned long pins, unsigned long *charge);
static void regbuf_uncount_large(struct xa_state *xas, struct folio *folio,
				 unsigned long pins, unsigned long *uncharge);
static unsigned int regbuf_folio_span(const struct io_mapped_ubuf *imu,
				      unsigned int i, unsigned long *pins);
static void regbuf_uncount_before(struct xa_state *xas,
				  const struct io_mapped_ubuf *imu,
				  unsigned int end, unsigned long *uncharge);

void io_regbuf_ctx_init(struct io_ring_ctx *ctx)
{
	mutex_init(&ctx->buf_acct_lock);
	/* memcg is charged also for nodes allocated under the xarray's lock */
	xa_init_flags(&ctx->buf_large_pins, XA_FLAGS_ACCOUNT);
}

void io_regbuf_ctx_exit(struct io_ring_ctx *ctx)
{
	/* every buffer is released by now: a count left is an accounting bug */
	WARN_ON_ONCE(!xa_empty(&ctx->buf_large_pins));
	xa_destroy(&ctx->buf_large_pins);
	mutex_destroy(&ctx->buf_acct_lock);
}

/*
 * Charges each page of an order-0 folio that @imu pins and each large folio
 * the ring did not pin yet. On failure, neither charges nor counts change.
 */
int io_regbuf_account(struct io_ring_ctx *ctx, const struct io_mapped_ubuf *imu)
{
	XA_STATE(xas, &ctx->buf_large_pins, 0);
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
		ret = regbuf_count_large(&xas, folio, pins, &charge);
		if (ret)
			break;
	}
	if (!ret)
		ret = io_account_mem(ctx, charge);
	if (ret)
		regbuf_uncount_before(&xas, imu, i, &undone);
	mutex_unlock(&ctx->buf_acct_lock);
	return ret;
}

/* Undoes io_regbuf_account(); the buffer must still hold its pins. */
void io_regbuf_unaccount(struct io_ring_ctx *ctx,
			 const struct io_mapped_ubuf *imu)
{
	XA_STATE(xas, &ctx->buf_large_pins, 0);
	unsigned long uncharge = 0;

	mutex_lock(&ctx->buf_acct_lock);
	regbuf_uncount_before(&xas, imu, imu->nr_bvecs, &uncharge);
	io_unaccount_mem(ctx, uncharge);
	mutex_unlock(&ctx->buf_acct_lock);
}

/*
 * Drops the counts that bvecs [0, @end) took, @end being where a span of
 * regbuf_folio_span() starts, adding the pages no longer charged to
 * *@uncharge.
 */
static void regbuf_uncount_before(struct xa_state *xas,
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
		regbuf_uncount_large(xas, folio, pins, uncharge);
	}
}

/*
 * End of the run of bvecs from @i on in bvec @i's large folio; *@pins is
 * set to the pages they pin. A bvec never leaves its folio.
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
 * Folios start on a multiple of their size, so no two share a key: odd for
 * PMD order and up, 2 * (pfn / pages per PMD) + 1, so that neighbouring
 * huge pages share xarray nodes; even, the pfn, for smaller ones.
 */
static unsigned long regbuf_large_key(struct folio *folio)
{
	if (folio_order(folio) < REGBUF_PMD_ORDER)
		return folio_pfn(folio);
	return (folio_pfn(folio) >> REGBUF_PMD_ORDER) << 1 | 1;
}

/*
 * Adds @pins to the ring's count for @folio (0 if absent), and the folio's
 * pages to *@charge if it was not pinned yet. Fails with the count
 * unchanged past the bound, or when no node can be had for a new entry.
 */
static int regbuf_count_large(struct xa_state *xas, struct folio *folio,
			      unsigned long pins, unsigned long *charge)
{
	unsigned long nr_pages = folio_nr_pages(folio), old;
	int ret;

	xas_set(xas, regbuf_large_key(folio));
	do {
		xas_lock(xas);
		old = xa_to_value(xas_load(xas));
		if (pins > nr_pages * REGBUF_LARGE_PINS_PER_PAGE - old)
			xas_set_err(xas, -ETOOMANYREFS);
		else
			xas_store(xas, xa_mk_value(old + pins));
		xas_unlock(xas);
	} while (xas_nomem(xas, GFP_KERNEL_ACCOUNT));

	ret = xas_error(xas);
	if (!ret && !old)
		*charge += nr_pages;
	return ret;
}

/* A smaller count or none replaces an entry in place: nothing can fail. */
static void regbuf_uncount_large(struct xa_state *xas, struct folio *folio,
				 unsigned long pins, unsigned long *uncharge)
{
	unsigned long old;

	xas_set(xas, regbuf_large_key(folio));
	xas_lock(xas);
	old = xa_to_value(xas_load(xas));
	if (!WARN_ON_ONCE(old < pins)) {
		xas_store(xas, old > pins ? xa_mk_value(old - pins) : NULL);
		if (old == pins)
			*uncharge += folio_nr_pages(folio);
	}
	xas_unlock(xas);
}
