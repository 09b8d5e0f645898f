/* SPDX-License-Identifier: MIT */
/*
 * Checks memlock accounting of registered buffers for a ring creator
 * without CAP_IPC_LOCK: RLIMIT_MEMLOCK is enforced to the page and a refused
 * registration charges nothing; a 4 KiB page is charged per pin, so a page
 * mapped at many addresses cannot get past the limit; a huge page is charged
 * once per ring at its full size however many buffers pin it, and stays
 * charged until the last of them goes, whichever charged it first;
 * BUFFERS_UPDATE swaps charge and uncharge exactly; every ring charges its
 * own folios, so many buffers or many rings cannot get past the limit; a
 * buffer dropped with
 * nothing in flight is uncharged before the update returns, so a slot can
 * be emptied and filled again at the limit. VmPin (the creator's
 * pinned_vm) gives the exact charge at each step.
 *
 * Prerequisites: root, to drop to uid/gid 65534 in a child. The hugepage
 * cases need free 2 MiB hugepages (hugetlbfs at /dev/hugepages for the file
 * cases) or THP in madvise or always mode; they SKIP without them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "helpers.h"

#define PAGE_KB		(T_PAGE >> 10)
#define HUGE_PAGES	(T_SZ_2M / T_PAGE)
#define ANON_PAGES	128
#define NEED_LIMIT	((NR_RINGS - 1) * T_SZ_2M)	/* the largest one set */
#define LIMIT		64		/* pages, for the 4 KiB cases */
#define MANY_BUFS	72		/* buffers in one huge page */
#define NR_RINGS	4
#define ALIASES		512		/* addresses one page is mapped at */

/* The hugepage kinds a case can run on, allocated before dropping root. */
enum huge {
	HUGE_HUGETLB,
	HUGE_HUGETLBFS,
	HUGE_THP,
	HUGE_NR,
};

static const enum t_mem huge_mem[HUGE_NR] = {
	T_MEM_HUGETLB_2M, T_MEM_HUGETLBFS, T_MEM_THP,
};

static struct {
	char *buf;
	int status;
	char reason[256];
} huge[HUGE_NR];

static unsigned long hard_limit;
static char *anon;		/* ANON_PAGES of 4 KiB pages */
static char *fence_page;	/* the fence slot's buffer */

/* One memfd page mapped at consecutive addresses, ALIASES times. */
static struct {
	char *buf;
	int status;
	char reason[256];
} alias_small;

static int huge_ready(enum huge h)
{
	if (huge[h].status == T_EXIT_SKIP)
		return t_skip("%s", huge[h].reason);
	return huge[h].status;
}

static char *anon_at(unsigned int page)
{
	return anon + page * T_PAGE;
}

static int limit_pages(unsigned long pages)
{
	return t_set_memlock(pages * T_PAGE, hard_limit);
}

/*
 * Registration, unregistration and t_fenced_settle() charge and uncharge before
 * they return: VmPin must be right at once.
 */
static int expect_pages(long pages, const char *what)
{
	long kb = t_vmpin_kb();

	if (kb == pages * (long)PAGE_KB)
		return T_EXIT_PASS;
	t_diag("%s: VmPin %ld kB, want %ld kB (%+ld pages)", what, kb,
	       pages * PAGE_KB, kb / (long)PAGE_KB - pages);
	return T_EXIT_FAIL;
}

/* Closing a ring or emptying a slot without t_fenced_settle() uncharges later. */
static int await_pages(long pages, const char *what)
{
	return t_vmpin_expect(pages * PAGE_KB, what);
}

/*
 * Every case starts with nothing charged (the rings of a failed case may
 * still be going away) under its own limit.
 */
static int start_case(unsigned long limit)
{
	int ret = await_pages(0, "at the start of the case");

	return ret ? ret : limit_pages(limit);
}

/*
 * t_fenced_put() of a buffer (or NULL, to empty the slot) in place of the one
 * there, then t_fenced_settle(), so the old one's release shows: VmPin must be
 * pages.
 */
static int tring_swap_expect(struct t_fenced *t, unsigned int slot, void *base,
			     size_t len, long pages, const char *what)
{
	int ret = t_fenced_put(t, slot, base, len);

	if (!ret)
		ret = t_fenced_settle(t);
	if (!ret)
		ret = expect_pages(pages, what);
	return ret;
}

/* t_fenced_set() that the limit must refuse with -ENOMEM */
static int tring_expect_enomem(struct t_fenced *t, unsigned int slot, void *base,
			       size_t len, const char *what)
{
	int res = t_fenced_set(t, slot, base, len);

	if (res == -ENOMEM)
		return T_EXIT_PASS;
	t_diag("%s: %s, want -ENOMEM", what, t_errname(res));
	return T_EXIT_FAIL;
}

/*
 * Closes the ring at the end of a case, ret being the case's result so far;
 * a case that has passed must leave nothing charged.
 */
static int tring_end_case(struct t_fenced *t, int ret)
{
	int res = t_fenced_close(t);

	if (ret)
		return ret;
	return res ? res : expect_pages(0, "closed");
}

/* Registration of pages [first, first + nr) of anon in a new table. */
static int register_anon(struct io_uring *ring, unsigned int first,
			 unsigned int nr)
{
	struct iovec iov = { anon_at(first), nr * T_PAGE };

	return io_uring_register_buffers(ring, &iov, 1);
}

static int test_limit(void)
{
	struct iovec two[2] = {
		{ anon_at(0), LIMIT / 2 * T_PAGE },
		{ anon_at(LIMIT), (LIMIT / 2 + 1) * T_PAGE },
	};
	struct io_uring ring;
	unsigned int nr;
	int ret, res;

	ret = start_case(LIMIT);
	if (!ret)
		ret = t_ring_setup(&ring);
	if (ret)
		return ret;
	for (nr = LIMIT - 1; nr <= LIMIT && !ret; nr++) {
		res = register_anon(&ring, 0, nr);
		if (res) {
			t_diag("%u pages under a limit of %u: %s, want 0", nr,
			       LIMIT, t_errname(res));
			ret = T_EXIT_FAIL;
			break;
		}
		ret = expect_pages(nr, "registered");
		res = io_uring_unregister_buffers(&ring);
		if (!ret)
			ret = expect_pages(0, "unregistered");
	}
	if (ret)
		goto out;

	res = register_anon(&ring, 0, LIMIT + 1);
	if (res != -ENOMEM) {
		t_diag("%u pages over a limit of %u: %s, want -ENOMEM",
		       LIMIT + 1, LIMIT, t_errname(res));
		ret = T_EXIT_FAIL;
		goto out;
	}
	ret = expect_pages(0, "after -ENOMEM");
	if (ret)
		goto out;
	/* the second buffer tips it over: the first one's charge is undone */
	res = io_uring_register_buffers(&ring, two, 2);
	if (res != -ENOMEM) {
		t_diag("%u + %u pages over a limit of %u: %s, want -ENOMEM",
		       LIMIT / 2, LIMIT / 2 + 1, LIMIT, t_errname(res));
		ret = T_EXIT_FAIL;
		goto out;
	}
	ret = expect_pages(0, "after -ENOMEM of the second buffer");
	if (ret)
		goto out;
	/* nothing was left charged to the user either */
	res = register_anon(&ring, 0, LIMIT);
	if (res) {
		t_diag("%u pages after the refusals: %s, want 0", LIMIT,
		       t_errname(res));
		ret = T_EXIT_FAIL;
		goto out;
	}
	ret = expect_pages(LIMIT, "registered after the refusals");
	res = io_uring_unregister_buffers(&ring);
	if (!ret)
		ret = expect_pages(0, "unregistered");
out:
	io_uring_queue_exit(&ring);
	return ret;
}

/*
 * Buffers A (4 KiB at the start), B (8 KiB in the middle) and, by update,
 * C (the last 4 KiB) of one 2 MiB page, under a limit of that page, the
 * fence and one 4 KiB page: the huge page is charged once, by A. A is
 * replaced by a 4 KiB page, which takes the limit's last page: B and C
 * still pin the huge page, so it stays charged and one more 4 KiB page is
 * refused. Only when the last of them goes is it uncharged.
 */
static int test_same_page(enum huge h)
{
	char *hp = huge[h].buf;
	struct iovec iov[2] = {
		{ hp, T_PAGE },
		{ hp + T_SZ_2M / 2, 2 * T_PAGE },
	};
	struct t_fenced t;
	int ret;

	ret = huge_ready(h);
	if (!ret)
		ret = start_case(HUGE_PAGES + 2);
	if (!ret)
		ret = t_fenced_open(&t, iov, 2, 4, fence_page);
	if (ret)
		return ret;
	ret = expect_pages(HUGE_PAGES + 1, "A and B registered");
	if (!ret)
		ret = t_fenced_put(&t, 2, hp + T_SZ_2M - T_PAGE, T_PAGE);
	if (!ret)
		ret = expect_pages(HUGE_PAGES + 1, "C added");
	if (!ret)
		ret = tring_swap_expect(&t, 0, anon_at(0), T_PAGE,
					HUGE_PAGES + 2,
					"A replaced by 4 KiB, B and C left");
	if (!ret)
		ret = tring_expect_enomem(&t, 3, anon_at(1), T_PAGE,
					  "one more 4 KiB page at the limit");
	if (!ret)
		ret = tring_swap_expect(&t, 2, NULL, 0, HUGE_PAGES + 2,
					"C dropped, B left");
	if (!ret)
		ret = tring_swap_expect(&t, 1, NULL, 0, 2,
					"B dropped, the fence and 4 KiB left");
	if (!ret)
		ret = t_fenced_put(&t, 3, anon_at(1), T_PAGE);
	if (!ret)
		ret = expect_pages(3, "one more 4 KiB page");
	return tring_end_case(&t, ret);
}

/*
 * Swaps in slot 0 of 4 KiB buffers overlapping by some pages or none: the
 * new buffer is charged before the old one goes, every pin counts.
 */
static int test_swap_anon(void)
{
	struct t_fenced t;
	int ret, res;

	ret = start_case(ANON_PAGES);
	if (!ret)
		ret = t_fenced_open(&t, NULL, 0, 1, fence_page);
	if (ret)
		return ret;
	ret = t_fenced_put(&t, 0, anon_at(0), 16 * T_PAGE);
	if (!ret)
		ret = expect_pages(1 + 16, "pages 0-15");
	if (!ret)
		ret = tring_swap_expect(&t, 0, anon_at(8), 16 * T_PAGE, 1 + 16,
					"pages 0-15 swapped for 8-23");
	if (!ret)
		ret = tring_swap_expect(&t, 0, anon_at(32), 8 * T_PAGE, 1 + 8,
					"swapped for 32-39");

	/* 32-48 would need 17 more pages, 32-47 exactly the 16 left */
	if (!ret)
		ret = limit_pages(1 + 8 + 16);
	if (!ret)
		ret = tring_expect_enomem(&t, 0, anon_at(32), 17 * T_PAGE,
					  "swap needing 17 pages with 16 left");
	if (!ret)
		ret = expect_pages(1 + 8, "after -ENOMEM");
	if (ret)
		goto out;
	res = t_fenced_set(&t, 0, anon_at(32), 16 * T_PAGE);
	if (res) {
		t_diag("swap needing 16 pages with 16 left: %s, want 0",
		       t_errname(res));
		ret = T_EXIT_FAIL;
		goto out;
	}
	ret = t_fenced_settle(&t);
	if (!ret)
		ret = expect_pages(1 + 16, "swapped for 32-47 at the limit");
	if (!ret)
		ret = tring_swap_expect(&t, 0, NULL, 0, 1, "emptied");
out:
	return tring_end_case(&t, ret);
}

/*
 * Under a limit of the fence and one 16-page buffer, the slot is filled
 * and emptied 1000 times, with two buffers in turn and nothing waited
 * for: each emptied buffer must be uncharged when its update returns.
 * (A replace charges the new buffer before the old one goes, as on 6.1
 * and mainline, so the slot is emptied between the two.)
 */
static int test_refill_at_limit(void)
{
	struct iovec none = { NULL, 0 }, iov;
	struct t_fenced t;
	unsigned int i;
	int ret, res = 0;

	ret = start_case(1 + 16);
	if (!ret)
		ret = t_fenced_open(&t, NULL, 0, 1, fence_page);
	if (ret)
		return ret;
	for (i = 0; i < 1000 && !res; i++) {
		iov.iov_base = anon_at(i % 2 ? 16 : 0);
		iov.iov_len = 16 * T_PAGE;
		res = t_update(&t.ring, 0, &iov, 0);
		if (!res)
			res = t_update(&t.ring, 0, &none, 0);
	}
	if (res) {
		t_diag("iteration %u: %s, want 0", i - 1, t_errname(res));
		ret = T_EXIT_FAIL;
	}
	if (!ret)
		ret = expect_pages(1, "after 1000 fills and empties");
	return tring_end_case(&t, ret);
}

static int alias_ready(const char *what, int status, const char *reason)
{
	if (status == T_EXIT_SKIP)
		return t_skip("%s: %s", what, reason);
	return status;
}

/*
 * One memfd page mapped at ALIASES consecutive addresses is ALIASES pins:
 * under a limit of 16 pages it is refused with nothing charged, as on 6.1
 * and mainline, 16 aliases fit, and two buffers of 8 aliases cost 16.
 */
static int test_alias_small(void)
{
	struct iovec iov[2] = {
		{ alias_small.buf, 8 * T_PAGE },
		{ alias_small.buf + 8 * T_PAGE, 8 * T_PAGE },
	};
	struct io_uring ring;
	int ret, res;

	ret = alias_ready("memfd aliases", alias_small.status,
			  alias_small.reason);
	if (!ret)
		ret = start_case(16);
	if (!ret)
		ret = t_ring_setup(&ring);
	if (ret)
		return ret;
	iov[0].iov_len = ALIASES * T_PAGE;
	res = io_uring_register_buffers(&ring, iov, 1);
	if (res != -ENOMEM) {
		t_diag("one page %u times under a limit of 16 pages: %s, want -ENOMEM",
		       ALIASES, t_errname(res));
		ret = T_EXIT_FAIL;
		goto out;
	}
	ret = expect_pages(0, "after -ENOMEM");
	if (ret)
		goto out;
	iov[0].iov_len = 16 * T_PAGE;
	res = io_uring_register_buffers(&ring, iov, 1);
	if (!res)
		ret = expect_pages(16, "one page 16 times");
	if (!res)
		res = io_uring_unregister_buffers(&ring);
	iov[0].iov_len = 8 * T_PAGE;
	if (!res && !ret)
		res = io_uring_register_buffers(&ring, iov, 2);
	if (!res && !ret)
		ret = expect_pages(16, "one page 8 times in each of two buffers");
	if (!res && !ret)
		res = io_uring_unregister_buffers(&ring);
	if (res) {
		t_diag("one page 16 times under a limit of 16 pages: %s, want 0",
		       t_errname(res));
		ret = T_EXIT_FAIL;
	}
out:
	io_uring_queue_exit(&ring);
	return ret;
}

/* Swaps between two ranges of one 2 MiB page, 4 KiB pages and back. */
static int test_swap_huge(enum huge h)
{
	char *hp = huge[h].buf;
	struct t_fenced t;
	int ret;

	ret = huge_ready(h);
	if (!ret)
		ret = start_case(1 + HUGE_PAGES);
	if (!ret)
		ret = t_fenced_open(&t, NULL, 0, 1, fence_page);
	if (ret)
		return ret;
	ret = t_fenced_put(&t, 0, hp, T_PAGE);
	if (!ret)
		ret = expect_pages(1 + HUGE_PAGES, "first 4 KiB of the page");
	/* at the limit: only a folio charged already can come in */
	if (!ret)
		ret = tring_swap_expect(&t, 0, hp + T_SZ_2M / 2, 2 * T_PAGE,
					1 + HUGE_PAGES,
					"swapped within the page");
	if (!ret)
		ret = limit_pages(1 + HUGE_PAGES + 8);
	if (!ret)
		ret = tring_swap_expect(&t, 0, anon_at(0), 8 * T_PAGE, 1 + 8,
					"swapped for 8 pages of 4 KiB");
	if (!ret)
		ret = tring_swap_expect(&t, 0, hp, T_SZ_2M, 1 + HUGE_PAGES,
					"swapped for the whole page");
	if (!ret)
		ret = tring_swap_expect(&t, 0, NULL, 0, 1, "emptied");
	return tring_end_case(&t, ret);
}

enum order { FORWARD, REVERSE, INTERLEAVED };

static unsigned int nth_dropped(enum order o, unsigned int i)
{
	switch (o) {
	case FORWARD:
		return i;
	case REVERSE:
		return MANY_BUFS - 1 - i;
	default:
		/* odd slots first, then even ones */
		return i < MANY_BUFS / 2 ? 2 * i + 1 : 2 * (i - MANY_BUFS / 2);
	}
}

/*
 * MANY_BUFS buffers in one 2 MiB page: 64 disjoint 32 KiB ranges covering
 * it and 8 more on top of the first range, under a limit of that page and
 * the fence. Dropped one update at a time in the given order: the charge
 * stays until the last one goes.
 */
static int many_buffers(enum huge h, enum order o)
{
	struct iovec iov[MANY_BUFS];
	char *hp = huge[h].buf;
	unsigned int i, slot;
	struct t_fenced t;
	int ret;

	for (i = 0; i < MANY_BUFS; i++) {
		iov[i].iov_base = hp + (i % 64) * (T_SZ_2M / 64);
		iov[i].iov_len = T_SZ_2M / 64;
	}
	ret = start_case(HUGE_PAGES + 1);
	if (!ret)
		ret = t_fenced_open(&t, iov, MANY_BUFS, MANY_BUFS + 1, fence_page);
	if (ret)
		return ret;
	ret = expect_pages(HUGE_PAGES + 1, "all registered");
	if (!ret)
		ret = tring_expect_enomem(&t, MANY_BUFS, anon_at(0), T_PAGE,
					  "one more 4 KiB page at the limit");
	if (ret)
		return tring_end_case(&t, ret);
	for (i = 0; i < MANY_BUFS - 1 && !ret; i++)
		ret = t_fenced_put(&t, nth_dropped(o, i), NULL, 0);
	if (!ret)
		ret = t_fenced_settle(&t);
	slot = nth_dropped(o, MANY_BUFS - 1);
	if (!ret)
		ret = expect_pages(HUGE_PAGES + 1, "all but one dropped");
	if (!ret)
		ret = tring_swap_expect(&t, slot, NULL, 0, 1,
					"the last one dropped");
	if (ret)
		t_diag("  (dropping order %d, last slot %u)", o, slot);
	return tring_end_case(&t, ret);
}

static int test_many_buffers(enum huge h)
{
	enum order o;
	int ret;

	ret = huge_ready(h);
	for (o = FORWARD; o <= INTERLEAVED && !ret; o++)
		ret = many_buffers(h, o);
	return ret;
}

/*
 * The same 2 MiB page in NR_RINGS rings under a limit of NR_RINGS - 1 of
 * them: the last ring is refused until another lets go; the rings let go
 * by unregistering, by closing with the buffer registered and by emptying
 * the slot, in an order unlike the one they registered in.
 */
static int test_many_rings(enum huge h)
{
	struct io_uring ring[NR_RINGS];
	unsigned int i, nr_open = 0;
	struct iovec iov;
	bool open[NR_RINGS] = { false };
	int ret, res;

	ret = huge_ready(h);
	if (!ret)
		ret = start_case((NR_RINGS - 1) * HUGE_PAGES);
	if (ret)
		return ret;
	for (i = 0; i < NR_RINGS && !ret; i++) {
		ret = t_ring_setup(&ring[i]);
		open[i] = !ret;
		nr_open += !ret;
	}
	for (i = 0; i < NR_RINGS && !ret; i++) {
		iov.iov_base = huge[h].buf + i * T_PAGE;
		iov.iov_len = T_PAGE;
		res = t_register(&ring[i], i % T_REG_NR, &iov, 1);
		if (res != (i < NR_RINGS - 1 ? 0 : -ENOMEM)) {
			t_diag("ring %u via %s: %s, want %s", i,
			       t_reg_name(i % T_REG_NR), t_errname(res),
			       i < NR_RINGS - 1 ? "0" : "-ENOMEM");
			ret = T_EXIT_FAIL;
			break;
		}
		ret = expect_pages((i < NR_RINGS - 1 ? i + 1 : i) * HUGE_PAGES,
				   "registered in one more ring");
	}
	if (ret)
		goto out;

	/* ring 1 unregisters: the last ring fits now */
	res = io_uring_unregister_buffers(&ring[1]);
	if (!res)
		ret = expect_pages(2 * HUGE_PAGES, "ring 1 unregistered");
	if (!res && !ret) {
		iov.iov_base = huge[h].buf + (NR_RINGS - 1) * T_PAGE;
		res = io_uring_unregister_buffers(&ring[NR_RINGS - 1]);
		if (res == -ENXIO)
			res = t_register(&ring[NR_RINGS - 1], T_REG_BUFFERS,
					 &iov, 1);
	}
	if (res) {
		t_diag("moving the charge from ring 1 to ring %d: %s",
		       NR_RINGS - 1, t_errname(res));
		ret = T_EXIT_FAIL;
	}
	if (!ret)
		ret = expect_pages(3 * HUGE_PAGES, "last ring registered");
	if (ret)
		goto out;

	/* ring 0 closes with its buffer registered */
	io_uring_queue_exit(&ring[0]);
	open[0] = false;
	ret = await_pages(2 * HUGE_PAGES, "ring 0 closed");
	if (ret)
		goto out;
	/* ring 2 (a sparse table) empties its slot */
	iov.iov_base = NULL;
	iov.iov_len = 0;
	res = t_update(&ring[2], 0, &iov, 0);
	if (res) {
		t_diag("emptying ring 2's slot: %s", t_errname(res));
		ret = T_EXIT_FAIL;
		goto out;
	}
	ret = await_pages(HUGE_PAGES, "ring 2's slot emptied");
	if (ret)
		goto out;
	io_uring_queue_exit(&ring[NR_RINGS - 1]);
	open[NR_RINGS - 1] = false;
	ret = await_pages(0, "last ring closed");
out:
	for (i = 0; i < NR_RINGS; i++) {
		if (open[i])
			io_uring_queue_exit(&ring[i]);
	}
	res = await_pages(0, "all rings closed");
	return ret ? ret : res;
}

#define HUGE_CASES(kind, h)						\
	static int test_same_page_##kind(void)				\
	{								\
		return test_same_page(h);				\
	}								\
	static int test_many_buffers_##kind(void)			\
	{								\
		return test_many_buffers(h);				\
	}								\
	static int test_many_rings_##kind(void)				\
	{								\
		return test_many_rings(h);				\
	}

HUGE_CASES(hugetlb, HUGE_HUGETLB)
HUGE_CASES(hugetlbfs, HUGE_HUGETLBFS)
HUGE_CASES(thp, HUGE_THP)

static int test_swap_hugetlb(void)
{
	return test_swap_huge(HUGE_HUGETLB);
}

static int test_swap_thp(void)
{
	return test_swap_huge(HUGE_THP);
}

static const struct t_case cases[] = {
	{ "limit: 63 and 64 pages register, 65 and 32 + 33 get -ENOMEM and charge nothing",
	  test_limit },
	{ "one memfd page at 512 addresses: charged per pin, -ENOMEM over 16 pages",
	  test_alias_small },
	{ "three buffers in one MAP_HUGETLB 2M page: charged once, until the last goes",
	  test_same_page_hugetlb },
	{ "three buffers in one hugetlbfs file page: charged once, until the last goes",
	  test_same_page_hugetlbfs },
	{ "three buffers in one THP: charged once, until the last goes",
	  test_same_page_thp },
	{ "update swaps of 4 KiB buffers charge and uncharge exactly",
	  test_swap_anon },
	{ "a slot filled and emptied 1000 times under a limit of one buffer",
	  test_refill_at_limit },
	{ "update swaps within and out of a MAP_HUGETLB 2M page",
	  test_swap_hugetlb },
	{ "update swaps within and out of a THP", test_swap_thp },
	{ "72 buffers in one MAP_HUGETLB 2M page charged once, 3 drop orders",
	  test_many_buffers_hugetlb },
	{ "72 buffers in one hugetlbfs file page charged once, 3 drop orders",
	  test_many_buffers_hugetlbfs },
	{ "72 buffers in one THP charged once, 3 drop orders",
	  test_many_buffers_thp },
	{ "one MAP_HUGETLB 2M page in 4 rings: charged per ring, 4th -ENOMEM",
	  test_many_rings_hugetlb },
	{ "one hugetlbfs file page in 4 rings: charged per ring, 4th -ENOMEM",
	  test_many_rings_hugetlbfs },
	{ "one THP in 4 rings: charged per ring, 4th -ENOMEM",
	  test_many_rings_thp },
};

/* Nobody can lower the soft limit later, but not raise the hard one. */
static int raise_hard_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl)) {
		t_diag("getrlimit(RLIMIT_MEMLOCK): %s", strerror(errno));
		return T_EXIT_FAIL;
	}
	hard_limit = rl.rlim_max;
	if (hard_limit >= NEED_LIMIT)
		return T_EXIT_PASS;
	hard_limit = NEED_LIMIT;
	return t_set_memlock(NEED_LIMIT, NEED_LIMIT);
}

/*
 * Every limit here counts buffers only, as on 6.1 to 6.12. A kernel that
 * also charges each ring's own memory to RLIMIT_MEMLOCK leaves less under
 * the same limit, by an amount the tests cannot read back.
 */
static int rings_are_free(void)
{
	int charged = t_ring_memory_charged();

	if (charged < 0)
		return T_EXIT_FAIL;
	if (charged)
		return t_skip("this kernel charges ring memory to RLIMIT_MEMLOCK: %s",
			      "the limits here count buffers only");
	return T_EXIT_PASS;
}

/* Runs as root until the memory is in place, then as nobody. */
static int child(void)
{
	enum huge h;
	int ret;

	for (h = 0; h < HUGE_NR; h++) {
		huge[h].status = t_alloc(huge_mem[h], T_SZ_2M, &huge[h].buf, NULL);
		snprintf(huge[h].reason, sizeof(huge[h].reason), "%s",
			 t_skip_reason());
	}
	alias_small.status = t_alias_map(T_MEM_MEMFD, T_PAGE, ALIASES, &alias_small.buf);
	snprintf(alias_small.reason, sizeof(alias_small.reason), "%s",
		 t_skip_reason());
	ret = t_alloc(T_MEM_ANON, ANON_PAGES * T_PAGE, &anon, NULL);
	if (!ret)
		ret = t_alloc(T_MEM_ANON, T_PAGE, &fence_page, NULL);
	if (!ret)
		ret = raise_hard_limit();
	if (!ret)
		ret = t_drop_privileges();
	if (!ret)
		ret = t_vmpin_expect(0, "before any ring");
	if (!ret)
		ret = rings_are_free();
	if (ret) {
		t_tap_plan(1);
		t_tap_result(ret, "setting up as uid %d", T_NOBODY);
		return t_tap_exit();
	}
	return t_run_cases(cases, T_ARRAY_SIZE(cases));
}

int main(void)
{
	pid_t pid;

	if (geteuid()) {
		t_tap_plan(1);
		t_tap_result(t_skip("not root: cannot drop to uid %d", T_NOBODY),
			     "memlock accounting as uid %d", T_NOBODY);
		return t_tap_exit();
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return T_EXIT_FAIL;
	}
	if (!pid)
		exit(child());
	return t_wait_child(pid, "the unprivileged child");
}
