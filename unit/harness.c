// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of io_uring/regbuf.c and io_uring/regbuf_acct.c, compiled
 * unmodified against the stub headers in include/ and the fake kernel in
 * fake_kernel.c. This file runs the suites (one per test file) and holds
 * the helpers they share; every test must leave no allocation, pin or
 * warning behind.
 *
 * UNIT_SEED=<n> replays the random tests with another seed.
 */
#include <string.h>
#include <unistd.h>

#include "harness.h"

static const struct unit_suite *const suites[] = {
	&coalesce_suite, &import_suite, &acct_suite, &failure_suite,
};

static unsigned long long rng_state;

static bool world_is_clean(void)
{
	ASSERT_EQ(unit_allocs, 0);
	ASSERT_EQ(unit_pinned, 0);
	ASSERT_EQ(unit_warnings, 0);
	ASSERT_EQ(unit_mutex_errors, 0);
	ASSERT_EQ(unit_gup_misuse, 0);
	ASSERT_EQ(unit_xa_misuse, 0);
	ASSERT_EQ(unit_unaccounted_allocs, 0);
	return true;
}

int main(void)
{
	const char *env = getenv("UNIT_SEED");
	unsigned long long seed;
	unsigned int s, i, n = 0, passed = 0, failed = 0;

	/* keep results in order with stderr diagnostics */
	setvbuf(stdout, NULL, _IOLBF, 0);
	seed = env ? strtoull(env, NULL, 0) : 0x5eedf00dULL;
	printf("regbuf unit tests, UNIT_SEED=%llu\n", seed);
	for (s = 0; s < UNIT_ARRAY_SIZE(suites); s++) {
		for (i = 0; i < suites[s]->nr; i++) {
			const struct unit_test *t = &suites[s]->tests[i];
			bool ok;

			unit_world_reset();
			unit_counters_reset();
			rng_state = seed * 0x9e3779b97f4a7c15ULL + ++n;
			ok = t->fn();
			ok = world_is_clean() && ok;
			printf("%s %s\n", ok ? "ok  " : "FAIL", t->name);
			if (ok)
				passed++;
			else
				failed++;
		}
	}
	printf("%u passed, %u failed\n", passed, failed);
	/* a failed test leaves its objects behind: skip the leak report */
	if (failed)
		_exit(1);
	return 0;
}

unsigned long long rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

unsigned long rnd_below(unsigned long n)
{
	return n ? rnd() % n : 0;
}

bool chance(unsigned int percent)
{
	return rnd_below(100) < percent;
}

void ring_init(struct ring *r, bool memlock_limited)
{
	memset(r, 0, sizeof(*r));
	r->ctx.dummy_ubuf = calloc(1, sizeof(*r->ctx.dummy_ubuf));
	r->ctx.dummy_ubuf->ubuf = -1ULL;
	r->ctx.user = memlock_limited ? &r->user : NULL;
	r->ctx.mm_account = &r->mm;
	io_regbuf_ctx_init(&r->ctx);
}

void ring_exit(struct ring *r)
{
	io_regbuf_ctx_exit(&r->ctx);
	free(r->ctx.dummy_ubuf);
}

long ring_locked(struct ring *r)
{
	return atomic_long_read(&r->user.locked_vm);
}

long ring_pinned_vm(struct ring *r)
{
	return r->mm.pinned_vm.counter;
}

struct layout *layout_new(unsigned long ubuf, unsigned long len)
{
	unsigned long first = ubuf >> PAGE_SHIFT;
	unsigned long nr = ((ubuf + len - 1) >> PAGE_SHIFT) - first + 1;
	struct layout *l = calloc(1, sizeof(*l) + nr * sizeof(l->pfns[0]));

	l->ubuf = ubuf;
	l->len = len;
	l->nr_pages = nr;
	return l;
}

void layout_fill(struct layout *l, unsigned long at, unsigned long pfn,
		 unsigned long nr)
{
	while (nr--)
		l->pfns[at++] = pfn++;
}

int layout_register(struct ring *r, const struct layout *l,
		    struct io_mapped_ubuf **imu)
{
	struct iovec iov = { .iov_base = (void *)l->ubuf, .iov_len = l->len };

	unit_map(l->ubuf & PAGE_MASK, l->pfns, l->nr_pages);
	return io_regbuf_register(&r->ctx, &iov, imu);
}

unsigned long head_of(unsigned long pfn)
{
	return unit_memmap[pfn].head;
}

unsigned long folio_pages_of(unsigned long pfn)
{
	return 1UL << unit_memmap[pfn].order;
}

void skip_small_folios(unsigned long nr)
{
	while (nr--)
		unit_folio_new(0);
}

unsigned long small_folio_run(unsigned long nr)
{
	unsigned long first = unit_folio_new(0);

	skip_small_folios(nr - 1);
	return first;
}

/*
 * After a refused registration: memory allocated, pages pinned and the
 * ring's charge all as they were before it.
 */
bool check_unchanged(struct ring *r, long allocs, long pinned, long charged)
{
	ASSERT_EQ(unit_allocs, allocs);
	ASSERT_EQ(unit_pinned, pinned);
	ASSERT_EQ(ring_locked(r), charged);
	ASSERT_EQ(ring_pinned_vm(r), charged);
	return true;
}
