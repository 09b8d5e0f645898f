/* SPDX-License-Identifier: MIT */
/*
 * Data patterns to fill and verify buffers, and a seeded PRNG.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

/* ---- data patterns ---- */

unsigned int t_seed(void)
{
	static unsigned int seed;
	unsigned int zero = 0;

	__atomic_compare_exchange_n(&seed, &zero,
				    (unsigned int)getpid() * 2654435761u, false,
				    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	return __atomic_add_fetch(&seed, 1, __ATOMIC_RELAXED);
}

static uint64_t pattern_word(unsigned int seed, uint64_t word)
{
	uint64_t x = ((uint64_t)seed << 32) ^ word;

	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint8_t t_pattern_byte(unsigned int seed, uint64_t pos)
{
	return pattern_word(seed, pos >> 3) >> ((pos & 7) * 8);
}

void t_fill(void *buf, size_t len, unsigned int seed, uint64_t pos)
{
	uint8_t *p = buf;
	size_t i = 0;

	for (; i < len && ((pos + i) & 7); i++)
		p[i] = t_pattern_byte(seed, pos + i);
	for (; i + 8 <= len; i += 8) {
		uint64_t w = pattern_word(seed, (pos + i) >> 3);
		unsigned int b;

		for (b = 0; b < 8; b++)
			p[i + b] = w >> (b * 8);
	}
	for (; i < len; i++)
		p[i] = t_pattern_byte(seed, pos + i);
}

int t_verify(const void *buf, size_t len, unsigned int seed, uint64_t pos,
	     const char *what)
{
	const uint8_t *p = buf;
	size_t i, bad = 0, first = 0;

	for (i = 0; i < len; i++) {
		if (p[i] != t_pattern_byte(seed, pos + i) && !bad++)
			first = i;
	}
	if (!bad)
		return T_EXIT_PASS;
	t_diag("%s: %zu of %zu bytes wrong, first at +%zu: 0x%02x, want 0x%02x",
	       what, bad, len, first, p[first], t_pattern_byte(seed, pos + first));
	return T_EXIT_FAIL;
}

int t_compare(const void *got, const void *want, size_t len, const char *what)
{
	const uint8_t *g = got, *w = want;
	size_t i, bad = 0, first = 0;

	for (i = 0; i < len; i++) {
		if (g[i] != w[i] && !bad++)
			first = i;
	}
	if (!bad)
		return T_EXIT_PASS;
	t_diag("%s: %zu of %zu bytes wrong, first at +%zu: 0x%02x, want 0x%02x",
	       what, bad, len, first, g[first], w[first]);
	return T_EXIT_FAIL;
}

/* ---- a seeded PRNG (splitmix64) for randomized tests ---- */

uint64_t t_rng_seed(const char *env)
{
	const char *val = getenv(env);
	struct timespec ts;
	uint64_t seed;

	if (val && *val) {
		seed = strtoull(val, NULL, 0);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ ts.tv_nsec ^
		       ((uint64_t)getpid() << 40);
	}
	t_diag("seed %llu (replay with %s=%llu)", (unsigned long long)seed, env,
	       (unsigned long long)seed);
	return seed;
}

void t_rng_init(struct t_rng *r, uint64_t seed)
{
	r->state = seed;
}

uint64_t t_rng_next(struct t_rng *r)
{
	uint64_t x = (r->state += 0x9e3779b97f4a7c15ULL);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint64_t t_rng_below(struct t_rng *r, uint64_t n)
{
	return t_rng_next(r) % n;
}
