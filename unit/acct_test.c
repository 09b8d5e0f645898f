// SPDX-License-Identifier: GPL-2.0
/*
 * Memlock accounting (io_uring/regbuf_acct.c): a page of an order-0 folio
 * is charged per pin, a large folio once per ring while any buffer pins
 * it, a ring holds at most GUP_PIN_COUNTING_BIAS pins per page of a large
 * folio, and a registration refused for any of it changes nothing.
 * Random sequences of registrations and releases are checked against a
 * model that computes the charge from scratch after every step.
 */
#include <string.h>

#include <linux/errno.h>
#include <linux/sizes.h>
#include <linux/sched/signal.h>

#include "harness.h"

/* Pins a ring may hold on each page of a large folio */
#define PINS_PER_LARGE_PAGE	GUP_PIN_COUNTING_BIAS

static bool ring_counts_nothing(struct ring *r)
{
	return xa_empty(&r->ctx.buf_large_pins);
}

/*
 * The ring's count of pins on the large folio whose first page is @pfn,
 * read at the key regbuf_large_key() documents.
 */
static unsigned long ring_large_pins(struct ring *r, unsigned long pfn)
{
	unsigned long key = pfn;

	if (unit_memmap[pfn].order >= PMD_SHIFT - PAGE_SHIFT)
		key = (pfn >> (PMD_SHIFT - PAGE_SHIFT)) << 1 | 1;
	return xa_to_value(xa_load(&r->ctx.buf_large_pins, key));
}

/* @nr pages at @ubuf, each mapping @pfn. */
static struct layout *alias_layout(unsigned long ubuf, unsigned long pfn,
				   unsigned long nr)
{
	struct layout *l = layout_new(ubuf, nr * PAGE_SIZE);
	unsigned long j;

	for (j = 0; j < nr; j++)
		l->pfns[j] = pfn;
	return l;
}

/* A page mapped twice is charged twice, in one buffer or in two. */
static bool test_acct_small_page_per_pin(void)
{
	struct layout *a = layout_new(0x7f0000000000UL + 100, 5 * PAGE_SIZE - 200);
	struct layout *b = layout_new(0x7f0001000000UL, 2 * PAGE_SIZE);
	unsigned long p = small_folio_run(4);
	struct io_mapped_ubuf *ia, *ib;
	struct ring r;

	layout_fill(a, 0, p, 4);
	a->pfns[4] = p;
	layout_fill(b, 0, p + 1, 2);
	ring_init(&r, true);
	ASSERT_EQ(layout_register(&r, a, &ia), 0);
	ASSERT_EQ(ring_locked(&r), 5);
	ASSERT_EQ(layout_register(&r, b, &ib), 0);
	ASSERT_EQ(ring_locked(&r), 7);
	ASSERT_EQ(ring_pinned_vm(&r), 7);
	ASSERT_TRUE(ring_counts_nothing(&r));
	io_regbuf_release(&r.ctx, ia);
	ASSERT_EQ(ring_locked(&r), 2);
	io_regbuf_release(&r.ctx, ib);
	ASSERT_EQ(ring_locked(&r), 0);
	ASSERT_EQ(ring_pinned_vm(&r), 0);
	ring_exit(&r);
	free(a);
	free(b);
	return true;
}

/*
 * One page mapped at 512 consecutive addresses under a limit of 16 pages:
 * refused with nothing pinned or charged, as 6.1 and mainline refuse it;
 * 16 aliases fit exactly.
 */
static bool test_acct_alias_bounded_by_memlock(void)
{
	unsigned long page = unit_folio_new(0);
	struct layout *many = alias_layout(0x7f0000000000UL, page, 512);
	struct layout *fits = alias_layout(0x7f0001000000UL, page, 16);
	struct layout *over = alias_layout(0x7f0002000000UL, page, 1);
	struct io_mapped_ubuf *imu, *extra;
	struct ring r;

	ring_init(&r, true);
	unit_memlock_limit = 16 * PAGE_SIZE;
	ASSERT_EQ(layout_register(&r, many, &imu), -ENOMEM);
	ASSERT_OK(check_unchanged(&r, 0, 0, 0));
	ASSERT_EQ(unit_memmap[page].pins, 0);
	ASSERT_EQ(layout_register(&r, fits, &imu), 0);
	ASSERT_EQ(ring_locked(&r), 16);
	ASSERT_EQ(unit_memmap[page].pins, 16);
	ASSERT_EQ(layout_register(&r, over, &extra), -ENOMEM);
	ASSERT_EQ(unit_memmap[page].pins, 16);
	io_regbuf_release(&r.ctx, imu);
	ASSERT_EQ(ring_locked(&r), 0);
	ring_exit(&r);
	free(many);
	free(fits);
	free(over);
	return true;
}

/*
 * A THP in three buffers, one of them also pinning a small page three
 * times: the THP is charged once, and stays charged when the buffer that
 * charged it goes first.
 */
static bool test_acct_large_once_per_ring(void)
{
	struct layout *a = layout_new(0x7f0000200000UL, SZ_2M);
	struct layout *b = layout_new(0x7f0000800000UL + 5 * PAGE_SIZE,
				      3 * PAGE_SIZE);
	struct layout *c = layout_new(0x7f0001000000UL, 4 * PAGE_SIZE);
	struct io_mapped_ubuf *ia, *ib, *ic;
	unsigned long thp = unit_folio_new(9);
	unsigned long small = unit_folio_new(0);
	struct ring r;

	layout_fill(a, 0, thp, 512);
	layout_fill(b, 0, thp + 100, 3);
	c->pfns[0] = small;
	c->pfns[1] = small;
	c->pfns[2] = thp + 1;
	c->pfns[3] = small;
	ring_init(&r, true);
	ASSERT_EQ(layout_register(&r, a, &ia), 0);
	ASSERT_EQ(ring_locked(&r), 512);
	ASSERT_EQ(layout_register(&r, b, &ib), 0);
	ASSERT_EQ(ring_locked(&r), 512);
	ASSERT_EQ(layout_register(&r, c, &ic), 0);
	ASSERT_EQ(ring_locked(&r), 512 + 3);
	io_regbuf_release(&r.ctx, ia);
	ASSERT_EQ(ring_locked(&r), 512 + 3);
	io_regbuf_release(&r.ctx, ic);
	ASSERT_EQ(ring_locked(&r), 512);
	io_regbuf_release(&r.ctx, ib);
	ASSERT_EQ(ring_locked(&r), 0);
	ASSERT_EQ(ring_pinned_vm(&r), 0);
	ASSERT_TRUE(ring_counts_nothing(&r));
	ring_exit(&r);
	free(a);
	free(b);
	free(c);
	return true;
}

/*
 * The bypass mainline closes only in 7.2: A charges a huge page, B pins
 * part of it, A is replaced (the new buffer registered first, A released
 * after, as BUFFERS_UPDATE does). B still pins the page, so it stays
 * charged and the limit still counts it.
 */
static bool test_acct_large_charge_outlives_first_buffer(void)
{
	struct layout *a = layout_new(0x7f0000200000UL, SZ_2M);
	struct layout *b = layout_new(0x7f0000800000UL, 4 * PAGE_SIZE);
	struct layout *s1 = layout_new(0x7f0001000000UL, PAGE_SIZE);
	struct layout *s2 = layout_new(0x7f0001200000UL, PAGE_SIZE);
	struct io_mapped_ubuf *ia, *ib, *is1, *is2;
	unsigned long thp = unit_folio_new(9);
	struct ring r;

	layout_fill(a, 0, thp, 512);
	layout_fill(b, 0, thp + 508, 4);
	s1->pfns[0] = unit_folio_new(0);
	s2->pfns[0] = unit_folio_new(0);
	ring_init(&r, true);
	unit_memlock_limit = 513 * PAGE_SIZE;
	ASSERT_EQ(layout_register(&r, a, &ia), 0);
	ASSERT_EQ(layout_register(&r, b, &ib), 0);
	ASSERT_EQ(ring_locked(&r), 512);
	ASSERT_EQ(layout_register(&r, s1, &is1), 0);
	io_regbuf_release(&r.ctx, ia);
	ASSERT_EQ(ring_locked(&r), 513);
	ASSERT_EQ(layout_register(&r, s2, &is2), -ENOMEM);
	io_regbuf_release(&r.ctx, ib);
	ASSERT_EQ(ring_locked(&r), 1);
	ASSERT_EQ(layout_register(&r, s2, &is2), 0);
	io_regbuf_release(&r.ctx, is1);
	io_regbuf_release(&r.ctx, is2);
	ASSERT_EQ(ring_locked(&r), 0);
	ring_exit(&r);
	free(a);
	free(b);
	free(s1);
	free(s2);
	return true;
}

/*
 * A 2 MiB folio aliased 512 times in each of two 1 GiB buffers takes the
 * ring to its bound of PINS_PER_LARGE_PAGE pins per page; one more page
 * of it is refused with -ETOOMANYREFS, also when another large folio of
 * the same buffer was counted first, and nothing changes. Once a buffer
 * goes, it fits again.
 */
static bool test_acct_large_pin_bound(void)
{
	unsigned long thp = unit_folio_new(9), other = unit_folio_new(9);
	struct layout *full = layout_new(0, SZ_1G);
	struct layout *one = layout_new(0x7f0000000000UL, PAGE_SIZE);
	struct layout *two = layout_new(0x7f0000200000UL, SZ_2M + PAGE_SIZE);
	struct io_mapped_ubuf *half[2], *imu;
	long allocs, pinned;
	unsigned int i;
	struct ring r;

	for (i = 0; i < 512; i++)
		layout_fill(full, i * 512, thp, 512);
	one->pfns[0] = thp + 7;
	layout_fill(two, 0, other, 512);
	two->pfns[512] = thp;
	ring_init(&r, true);
	for (i = 0; i < 2; i++) {
		full->ubuf = (i + 1UL) << 32;
		ASSERT_EQ(layout_register(&r, full, &half[i]), 0);
	}
	ASSERT_EQ(512 * 512 * 2, 512 * PINS_PER_LARGE_PAGE);
	ASSERT_EQ(ring_locked(&r), 512);
	allocs = unit_allocs;
	pinned = unit_pinned;
	ASSERT_EQ(layout_register(&r, one, &imu), -ETOOMANYREFS);
	ASSERT_OK(check_unchanged(&r, allocs, pinned, 512));
	ASSERT_EQ(layout_register(&r, two, &imu), -ETOOMANYREFS);
	ASSERT_OK(check_unchanged(&r, allocs, pinned, 512));
	ASSERT_EQ(ring_large_pins(&r, other), 0);

	io_regbuf_release(&r.ctx, half[0]);
	ASSERT_EQ(layout_register(&r, two, &imu), 0);
	ASSERT_EQ(ring_locked(&r), 1024);
	io_regbuf_release(&r.ctx, imu);
	io_regbuf_release(&r.ctx, half[1]);
	ASSERT_EQ(ring_locked(&r), 0);
	ring_exit(&r);
	free(full);
	free(one);
	free(two);
	return true;
}

/* The bound holds within one buffer too, and in a ring without a limit. */
static bool test_acct_large_pin_bound_one_buffer(void)
{
	unsigned long folio = unit_folio_new(2);
	unsigned long bound = 4 * PINS_PER_LARGE_PAGE;
	struct layout *over = layout_new(0x7f0000000000UL,
					 (bound + 1) * PAGE_SIZE);
	struct io_mapped_ubuf *imu;
	unsigned long j;
	struct ring r;

	for (j = 0; j < over->nr_pages; j++)
		over->pfns[j] = folio + j % 4;
	ring_init(&r, false);
	ASSERT_EQ(layout_register(&r, over, &imu), -ETOOMANYREFS);
	ASSERT_OK(check_unchanged(&r, 0, 0, 0));
	over->len -= PAGE_SIZE;
	ASSERT_EQ(layout_register(&r, over, &imu), 0);
	ASSERT_EQ(ring_pinned_vm(&r), 4);
	io_regbuf_release(&r.ctx, imu);
	ring_exit(&r);
	free(over);
	return true;
}

/* Rings account independently; CAP_IPC_LOCK (no user) skips the limit. */
static bool test_acct_per_ring_and_cap_ipc_lock(void)
{
	struct layout *l = layout_new(0x7f0000200000UL, SZ_2M);
	struct io_mapped_ubuf *i1, *i2;
	struct ring r1, r2;

	layout_fill(l, 0, unit_folio_new(9), 512);
	ring_init(&r1, true);
	ring_init(&r2, false);
	unit_memlock_limit = 512 * PAGE_SIZE;
	ASSERT_EQ(layout_register(&r1, l, &i1), 0);
	unit_memlock_limit = 0;
	ASSERT_EQ(layout_register(&r2, l, &i2), 0);
	ASSERT_EQ(ring_locked(&r1), 512);
	ASSERT_EQ(ring_locked(&r2), 0);
	ASSERT_EQ(ring_pinned_vm(&r1), 512);
	ASSERT_EQ(ring_pinned_vm(&r2), 512);
	io_regbuf_release(&r1.ctx, i1);
	io_regbuf_release(&r2.ctx, i2);
	ASSERT_EQ(ring_pinned_vm(&r1), 0);
	ASSERT_EQ(ring_pinned_vm(&r2), 0);
	ring_exit(&r1);
	ring_exit(&r2);
	free(l);
	return true;
}

/* Failing at the memlock limit leaves pins, charges and memory as before. */
static bool test_acct_memlock_limit(void)
{
	struct layout *a = layout_new(0x7f0000200000UL, SZ_2M);
	struct layout *b = layout_new(0x7f0000800000UL, SZ_2M + PAGE_SIZE);
	struct io_mapped_ubuf *ia, *ib;
	long allocs;
	struct ring r;

	layout_fill(a, 0, unit_folio_new(9), 512);
	layout_fill(b, 0, a->pfns[0], 512);
	b->pfns[512] = unit_folio_new(0);
	ring_init(&r, true);
	unit_memlock_limit = 512 * PAGE_SIZE;
	ASSERT_EQ(layout_register(&r, a, &ia), 0);
	allocs = unit_allocs;

	ASSERT_EQ(layout_register(&r, b, &ib), -ENOMEM);
	ASSERT_OK(check_unchanged(&r, allocs, 512, 512));
	ASSERT_EQ(ring_large_pins(&r, a->pfns[0]), 512);

	/* only the small page is new, the THP is charged already */
	unit_memlock_limit = 513 * PAGE_SIZE;
	ASSERT_EQ(layout_register(&r, b, &ib), 0);
	ASSERT_EQ(ring_locked(&r), 513);
	io_regbuf_release(&r.ctx, ia);
	io_regbuf_release(&r.ctx, ib);
	ASSERT_EQ(ring_locked(&r), 0);
	ring_exit(&r);
	free(a);
	free(b);
	return true;
}

/*
 * The ring's count work is one lookup per run of bvecs in one large folio
 * and none for small pages, whatever is registered already: 512 buffers of
 * a THP each, then 512 of eight small pages each, then a buffer of all
 * 512 THPs, which shares every folio.
 */
static bool test_acct_linear(void)
{
	static struct io_mapped_ubuf *imus[1025];
	static unsigned long thps[512];
	struct layout *huge = layout_new(0, SZ_2M);
	struct layout *small = layout_new(0, 8 * PAGE_SIZE);
	struct layout *all = layout_new(0x7f0000000000UL, 512 * SZ_2M);
	unsigned int i;
	long loads;
	struct ring r;

	ring_init(&r, true);
	for (i = 0; i < 512; i++) {
		huge->ubuf = (i + 1UL) << 30;
		thps[i] = unit_folio_new(9);
		layout_fill(huge, 0, thps[i], 512);
		layout_fill(all, i * 512, thps[i], 512);
		loads = unit_xa_loads;
		ASSERT_EQ(layout_register(&r, huge, &imus[i]), 0);
		ASSERT_EQ(unit_xa_loads - loads, 1);
	}
	for (i = 0; i < 512; i++) {
		small->ubuf = (1024UL + i) << 30;
		layout_fill(small, 0, small_folio_run(8), 8);
		loads = unit_xa_loads;
		ASSERT_EQ(layout_register(&r, small, &imus[512 + i]), 0);
		ASSERT_EQ(unit_xa_loads - loads, 0);
	}
	loads = unit_xa_loads;
	ASSERT_EQ(layout_register(&r, all, &imus[1024]), 0);
	ASSERT_EQ(unit_xa_loads - loads, 512);
	ASSERT_EQ(ring_locked(&r), 512 * 512 + 512 * 8);
	unit_unpin_calls = 0;
	for (i = 0; i < 1025; i++)
		io_regbuf_release(&r.ctx, imus[i]);
	/* a call per segment: one per THP, one per small page */
	ASSERT_EQ(unit_unpin_calls, 512 + 512 * 8 + 512);
	ASSERT_EQ(ring_locked(&r), 0);
	ring_exit(&r);
	free(huge);
	free(small);
	free(all);
	return true;
}

#define POOL_EXTENTS	12
#define NR_SLOTS	16

/* Pages buffers are made of: a folio, or a run of order-0 folios. */
struct pool_extent {
	unsigned long	pfn;
	unsigned long	nr;
};

struct acct_world {
	struct pool_extent extents[POOL_EXTENTS];
	struct layout	*layouts[NR_SLOTS];
	struct io_mapped_ubuf *imus[NR_SLOTS];
};

static void pool_init(struct acct_world *w)
{
	unsigned int e;

	memset(w, 0, sizeof(*w));
	for (e = 0; e < POOL_EXTENTS; e++) {
		struct pool_extent *x = &w->extents[e];
		unsigned int order = random_order();

		if (chance(30)) {
			skip_small_folios(rnd_below(600));
			x->nr = 1 + rnd_below(chance(50) ? 200 : 1500);
			x->pfn = small_folio_run(x->nr);
			continue;
		}
		if (order > 10)
			order = 10;
		x->nr = 1UL << order;
		x->pfn = unit_folio_new(order);
	}
}

/* A buffer made of pieces of the shared pool, often overlapping. */
static struct layout *pool_layout(struct acct_world *w, unsigned int slot)
{
	unsigned long pieces[4][2], nr = 0, j = 0;
	unsigned int p, nr_pieces = 1 + rnd_below(4);
	struct layout *l;

	for (p = 0; p < nr_pieces; p++) {
		struct pool_extent *e = &w->extents[rnd_below(POOL_EXTENTS)];
		unsigned long k = rnd_below(e->nr);
		unsigned long m = 1 + rnd_below(min(e->nr - k, 1100UL));

		pieces[p][0] = e->pfn + k;
		pieces[p][1] = m;
		nr += m;
	}
	l = layout_new(((unsigned long)(slot + 1) << 32) + rnd_below(PAGE_SIZE),
		       nr * PAGE_SIZE - PAGE_SIZE + 1);
	for (p = 0; p < nr_pieces; p++) {
		layout_fill(l, j, pieces[p][0], pieces[p][1]);
		j += pieces[p][1];
	}
	return l;
}

static int cmp_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a;
	unsigned long y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

/*
 * The charge of the live buffers plus @extra, computed from scratch: a
 * page per pin of a small folio, and every large folio pinned at all.
 */
static long model_charge(struct acct_world *w, const struct layout *extra)
{
	unsigned long *heads = NULL, nr = 0, j;
	const struct layout *l;
	unsigned int s;
	long sum = 0;

	for (s = 0; s <= NR_SLOTS; s++) {
		l = s < NR_SLOTS ? w->layouts[s] : extra;
		if (!l)
			continue;
		heads = realloc(heads, (nr + l->nr_pages) * sizeof(*heads));
		for (j = 0; j < l->nr_pages; j++) {
			unsigned long head = head_of(l->pfns[j]);

			if (folio_pages_of(head) == 1)
				sum++;
			else
				heads[nr++] = head;
		}
	}
	if (nr)
		qsort(heads, nr, sizeof(*heads), cmp_ulong);
	for (j = 0; j < nr; j++)
		if (!j || heads[j] != heads[j - 1])
			sum += folio_pages_of(heads[j]);
	free(heads);
	return sum;
}

static long model_pins(struct acct_world *w)
{
	unsigned int s;
	long sum = 0;

	for (s = 0; s < NR_SLOTS; s++)
		if (w->layouts[s])
			sum += w->layouts[s]->nr_pages;
	return sum;
}

static void slot_clear(struct ring *r, struct acct_world *w, unsigned int s)
{
	if (!w->layouts[s])
		return;
	io_regbuf_release(&r->ctx, w->imus[s]);
	free(w->layouts[s]);
	w->layouts[s] = NULL;
}

/*
 * Registers a new buffer into slot @s under a limit that it fits or not,
 * checks the result the model predicts, and on success releases the
 * buffer it replaces, in BUFFERS_UPDATE's order.
 */
static bool slot_set(struct ring *r, struct acct_world *w, unsigned int s)
{
	struct layout *l = pool_layout(w, s);
	long charged = ring_locked(r), pinned = unit_pinned;
	long need = model_charge(w, l) - charged;
	struct io_mapped_ubuf *imu;
	bool fits = chance(70);
	int ret;

	unit_memlock_limit = (charged + need - !fits) * PAGE_SIZE;
	ret = layout_register(r, l, &imu);
	unit_memlock_limit = ~0UL;
	if (!fits && need) {
		ASSERT_EQ(ret, -ENOMEM);
		ASSERT_EQ(unit_pinned, pinned);
		ASSERT_EQ(ring_locked(r), charged);
		free(l);
		return true;
	}
	ASSERT_EQ(ret, 0);
	slot_clear(r, w, s);
	w->layouts[s] = l;
	w->imus[s] = imu;
	return true;
}

static bool check_charges(struct ring *r, struct acct_world *w)
{
	ASSERT_EQ(ring_locked(r), model_charge(w, NULL));
	ASSERT_EQ(ring_pinned_vm(r), model_charge(w, NULL));
	ASSERT_EQ(unit_pinned, model_pins(w));
	return true;
}

static bool test_acct_random_sequences(void)
{
	unsigned int seq, op, s;
	struct acct_world w;
	struct ring r;

	for (seq = 0; seq < 30; seq++) {
		unit_world_reset();
		pool_init(&w);
		ring_init(&r, true);
		for (op = 0; op < 80; op++) {
			bool ok;

			s = rnd_below(NR_SLOTS);
			if (chance(30)) {
				slot_clear(&r, &w, s);
				ok = true;
			} else {
				ok = slot_set(&r, &w, s);
			}
			if (!ok || !check_charges(&r, &w)) {
				fprintf(stderr, "  sequence %u op %u\n",
					seq, op);
				return false;
			}
		}
		for (s = 0; s < NR_SLOTS; s++)
			slot_clear(&r, &w, s);
		ASSERT_OK(check_charges(&r, &w));
		ASSERT_TRUE(ring_counts_nothing(&r));
		ring_exit(&r);
	}
	return true;
}

static const struct unit_test tests[] = {
	UNIT_TEST(test_acct_small_page_per_pin),
	UNIT_TEST(test_acct_alias_bounded_by_memlock),
	UNIT_TEST(test_acct_large_once_per_ring),
	UNIT_TEST(test_acct_large_charge_outlives_first_buffer),
	UNIT_TEST(test_acct_large_pin_bound),
	UNIT_TEST(test_acct_large_pin_bound_one_buffer),
	UNIT_TEST(test_acct_per_ring_and_cap_ipc_lock),
	UNIT_TEST(test_acct_memlock_limit),
	UNIT_TEST(test_acct_linear),
	UNIT_TEST(test_acct_random_sequences),
};

UNIT_SUITE(acct_suite, tests);
