/* SPDX-License-Identifier: MIT */
/*
 * Times io_uring_register_buffers() and io_uring_unregister_buffers() of
 * already faulted-in memory, for each memory type, total size and number of
 * buffers, and checks that the memory is backed the way it was asked for.
 *
 * Prerequisites: root or an RLIMIT_MEMLOCK above the largest total; THP mode
 * madvise or always for the thp rows; free 2 MiB hugepages for the hugetlb
 * rows (512 for the 1 GiB rows). Rows whose memory cannot be had are skipped
 * with the reason on stderr.
 *
 * Usage: regcost [options]
 *   -q               quick preset: only the scenarios the targets read
 *   --scenario NAME  run one scenario of the presets (-l lists them)
 *   -m LIST          memory types: anon4k, thp, hugetlb2m, memfd (default all)
 *   -s LIST          total sizes, K/M/G suffixes (default 1M,4M,...,1G)
 *   -n LIST          split each total into this many equal buffers (default 1)
 *   -r N             repetitions per row (default 9, -q too)
 *   -p MS            sleep MS milliseconds before each timed registration
 *                    (default 200; 0 times them back to back)
 *   -o FILE          write the TSV to FILE instead of stdout
 *   -H               print the aligned table on stdout instead of the TSV
 *   -l               list the scenarios and presets
 *   -h               this help
 * With none of -q, --scenario, -m, -s, -n the default preset runs. Any of
 * -m, -s, -n runs their cross product instead of a preset.
 *
 * Each row maps the memory once, touches every page, then does one untimed
 * register/unregister and N timed ones (CLOCK_MONOTONIC, ns), each timed
 * register after the same pause (see pause_before_register()). It reports the
 * best and the median of the register, unregister and register+unregister
 * times, and the number of segments (bvecs) over all buffers where fdinfo
 * shows it (patched kernels; "-" elsewhere). Output: TSV (one header line)
 * on stdout, the same rows as an aligned table on stderr. The backing column
 * is "ok" or "MISMATCH: detail" (also warned about on stderr). Exit status:
 * 0 all rows ran, 1 a registration or mapping failed (no time is reported
 * for it), 2 bad usage or no row fits, 77 some rows skipped for lack of a
 * resource and none failed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include "regcost.h"

#define MAX_REPS	1000
#define MAX_LIST	16
#define MAX_BUFS	1024
#define MIB		(1UL << 20)
#define GIB		(1UL << 30)

/*
 * The memory types measured, with the short names the TSV and the report
 * use for them.
 */
static const struct {
	enum t_mem mem;
	const char *name;
} mem_types[] = {
	{ T_MEM_ANON, "anon4k" },
	{ T_MEM_THP, "thp" },
	{ T_MEM_HUGETLB_2M, "hugetlb2m" },
	{ T_MEM_HUGETLB_1G, "hugetlb1g" },
	{ T_MEM_MEMFD, "memfd" },
};

static const char *mem_name(enum t_mem m)
{
	unsigned int i;

	for (i = 0; i < T_ARRAY_SIZE(mem_types); i++)
		if (mem_types[i].mem == m)
			return mem_types[i].name;
	return t_mem_name(m);
}

/* A scenario is the cross product of its sizes and buffer counts. */
struct scenario {
	const char *name;
	const char *what;
	enum t_mem mem;
	size_t sizes[MAX_LIST];
	unsigned int nbufs[MAX_LIST];
	/*
	 * Times IORING_REGISTER_BUFFERS_UPDATE of one slot of a sparse table
	 * instead: "register" is replacing the slot's buffer by another one
	 * (the total split in two), "unregister" is emptying the slot.
	 */
	bool update;
};

#define SWEEP_4K	{ MIB, 4 * MIB, 16 * MIB, 64 * MIB, 256 * MIB, GIB }
#define SWEEP_2M	{ 4 * MIB, 16 * MIB, 64 * MIB, 256 * MIB, GIB }
#define SPLIT		{ 1, 4, 16, 64, 256, 1024 }

static const struct scenario scenarios[] = {
	{ "anon4k-sweep", "anon 4 KiB pages, one buffer of 1 MiB .. 1 GiB",
	  T_MEM_ANON, SWEEP_4K, { 1 }, false },
	{ "thp-sweep", "THP, one buffer of 4 MiB .. 1 GiB",
	  T_MEM_THP, SWEEP_2M, { 1 }, false },
	{ "hugetlb2m-sweep", "2 MiB hugetlb, one buffer of 4 MiB .. 1 GiB",
	  T_MEM_HUGETLB_2M, SWEEP_2M, { 1 }, false },
	{ "memfd-sweep", "memfd (shmem), one buffer of 1 MiB .. 1 GiB",
	  T_MEM_MEMFD, SWEEP_4K, { 1 }, false },
	{ "anon4k-split", "256 MiB of anon 4 KiB pages in 1 .. 1024 buffers",
	  T_MEM_ANON, { 256 * MIB }, SPLIT, false },
	{ "thp-split", "256 MiB of THP in 1 .. 1024 buffers",
	  T_MEM_THP, { 256 * MIB }, SPLIT, false },
	{ "hugetlb2m-split", "256 MiB of 2 MiB hugetlb in 1 .. 1024 buffers",
	  T_MEM_HUGETLB_2M, { 256 * MIB }, SPLIT, false },
	{ "memfd-split", "256 MiB of memfd in 1 .. 1024 buffers",
	  T_MEM_MEMFD, { 256 * MIB }, SPLIT, false },
	{ "hugetlb2m-x256", "256 buffers of 2 MiB hugetlb each (512 MiB)",
	  T_MEM_HUGETLB_2M, { 512 * MIB }, { 256 }, false },
	{ "hugetlb2m-x512", "512 buffers of 2 MiB hugetlb each (1 GiB)",
	  T_MEM_HUGETLB_2M, { GIB }, { 512 }, false },
	{ "hugetlb2m-folios", "one buffer of 64 MiB .. 1 GiB of 2 MiB hugetlb",
	  T_MEM_HUGETLB_2M, { 64 * MIB, 256 * MIB, GIB }, { 1 }, false },
	{ "thp-folios", "one buffer of 64 MiB .. 1 GiB of THP",
	  T_MEM_THP, { 64 * MIB, 256 * MIB, GIB }, { 1 }, false },
	{ "hugetlb1g-1g", "one 1 GiB buffer of 1 GiB hugetlb",
	  T_MEM_HUGETLB_1G, { GIB }, { 1 }, false },
	{ "anon4k-x1024", "256 MiB of anon 4 KiB pages in 1024 buffers",
	  T_MEM_ANON, { 256 * MIB }, { 1024 }, false },
	{ "memfd-256m", "one 256 MiB buffer of memfd",
	  T_MEM_MEMFD, { 256 * MIB }, { 1 }, false },
	{ "anon4k-4k", "one 4 KiB buffer: a call's fixed cost",
	  T_MEM_ANON, { 4096 }, { 1 }, false },
	{ "anon4k-update", "BUFFERS_UPDATE of one slot, 4 KiB buffers",
	  T_MEM_ANON, { 8192 }, { 2 }, true },
};

/* The named scenarios of the report are rows of the sweeps and splits. */
static const char *const preset_default[] = {
	"anon4k-sweep", "thp-sweep", "hugetlb2m-sweep", "memfd-sweep",
	"anon4k-split", "thp-split", "hugetlb2m-split", "memfd-split",
	"hugetlb2m-x256", "hugetlb2m-x512", "hugetlb1g-1g", "anon4k-4k",
	"anon4k-update", NULL,
};

static const char *const preset_quick[] = {
	"hugetlb2m-folios", "thp-folios", "hugetlb1g-1g", "hugetlb2m-x256",
	"hugetlb2m-x512",
	"anon4k-sweep", "anon4k-x1024", "memfd-256m", "anon4k-4k",
	"anon4k-update", NULL,
};

struct times {
	uint64_t best, median;
};

struct result {
	const char *scenario;
	enum t_mem mem;
	size_t total;
	unsigned int nbufs;
	bool update;
	unsigned int reps;
	struct times reg, unreg, sum;
	long bvecs;		/* segments over all buffers, -1 if not shown */
	char backing[200];
};

static struct {
	unsigned int reps;
	unsigned int pause_ms;
	FILE *tsv;
	FILE *table;
	struct utsname uts;
	struct io_uring ring;
	unsigned int ran, skipped, mismatched;
} g;

static void usage(FILE *fp)
{
	fputs("usage: regcost [-q] [--scenario NAME] [-m LIST] [-s LIST] [-n LIST]\n"
	      "               [-r N] [-p MS] [-o FILE] [-H] [-l] [-h]\n"
	      "  -q               quick preset (the target rows only)\n"
	      "  --scenario NAME  run one scenario (see -l)\n"
	      "  -m LIST          memory types: anon4k,thp,hugetlb2m,memfd (default all)\n"
	      "  -s LIST          total sizes with K/M/G suffixes (default 1M,4M,16M,64M,256M,1G)\n"
	      "  -n LIST          numbers of equal buffers per total (default 1)\n"
	      "  -r N             repetitions per row (default 9)\n"
	      "  -p MS            pause before each timed register (default 200 ms)\n"
	      "  -o FILE          TSV to FILE instead of stdout\n"
	      "  -H               aligned table on stdout instead of the TSV\n"
	      "  -l               list scenarios and presets\n"
	      "  -h               this help\n"
	      "Without -q, --scenario, -m, -s or -n the default preset runs.\n",
	      fp);
}

static void list_scenarios(void)
{
	const char *const *p;
	unsigned int i;

	for (i = 0; i < T_ARRAY_SIZE(scenarios); i++)
		printf("%-16s %s\n", scenarios[i].name, scenarios[i].what);
	printf("\ndefault preset:");
	for (p = preset_default; *p; p++)
		printf(" %s", *p);
	printf("\nquick preset (-q):");
	for (p = preset_quick; *p; p++)
		printf(" %s", *p);
	putchar('\n');
}

static const struct scenario *find_scenario(const char *name)
{
	unsigned int i;

	for (i = 0; i < T_ARRAY_SIZE(scenarios); i++)
		if (!strcmp(scenarios[i].name, name))
			return &scenarios[i];
	return NULL;
}

/* ---- parsing ---- */

static int parse_size(const char *s, size_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'G': case 'g': v <<= 10; /* fall through */
	case 'M': case 'm': v <<= 10; /* fall through */
	case 'K': case 'k': v <<= 10; end++; break;
	}
	if (*end || !v)
		return -1;
	*out = v;
	return 0;
}

/* Splits a comma list; each item goes through parse(), count into *nr. */
static int parse_list(const char *arg, void *vals, size_t elem, unsigned int *nr,
		      int (*parse)(const char *, void *))
{
	char *copy = strdup(arg), *tok, *save = NULL;
	int ret = 0;

	*nr = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*nr == MAX_LIST || parse(tok, (char *)vals + *nr * elem)) {
			ret = -1;
			break;
		}
		(*nr)++;
	}
	free(copy);
	return ret || !*nr ? -1 : 0;
}

static int parse_size_item(const char *s, void *out)
{
	return parse_size(s, out);
}

static int parse_nbufs_item(const char *s, void *out)
{
	size_t v;

	if (parse_size(s, &v) || v > MAX_BUFS)
		return -1;
	*(unsigned int *)out = v;
	return 0;
}

static int parse_mem_item(const char *s, void *out)
{
	unsigned int i;

	for (i = 0; i < T_ARRAY_SIZE(mem_types); i++) {
		if (!strcmp(s, mem_types[i].name)) {
			*(enum t_mem *)out = mem_types[i].mem;
			return 0;
		}
	}
	return -1;
}

/* ---- timing ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static struct times summarize(uint64_t *v, unsigned int n)
{
	struct times t;

	qsort(v, n, sizeof(*v), cmp_u64);
	t.best = v[0];
	t.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return t;
}

static void summarize_row(struct result *r, uint64_t *reg, uint64_t *unreg,
			  uint64_t *sum)
{
	r->reg = summarize(reg, r->reps);
	r->unreg = summarize(unreg, r->reps);
	r->sum = summarize(sum, r->reps);
}

static int register_fail(const struct result *r, const char *call, int ret)
{
	struct rlimit rl;

	fprintf(stderr, "regcost: %s of %u x %zu bytes of %s: %s\n", call,
		r->nbufs, r->total / r->nbufs, mem_name(r->mem), strerror(-ret));
	if (ret == -ENOMEM && geteuid() && !getrlimit(RLIMIT_MEMLOCK, &rl))
		fprintf(stderr, "regcost: RLIMIT_MEMLOCK is %llu bytes: run as root or raise it (ulimit -l)\n",
			(unsigned long long)rl.rlim_cur);
	return T_EXIT_FAIL;
}

/*
 * Every timed register starts the same time after the previous unregister
 * returned, whatever the kernel, and late enough that the time no longer
 * matters. In the TCG guest a register costs more the longer it follows
 * the previous call, up to about 100 ms: 6.12 registered 1 MiB of 4 KiB
 * pages in 43-45 us 5-20 ms after its unregister, 116-126 us 200-500 ms
 * after it. 6.1's unregister sleeps for an RCU grace period (some 14 ms),
 * so a short pause measured 6.1 further up that slope than 6.12. At
 * 200 ms both are past it (bench/README.md, "Why regcost pauses"), which
 * is also how applications register: once, not in a tight loop.
 */
static void pause_before_register(void)
{
	struct timespec ts = {
		.tv_sec = g.pause_ms / 1000,
		.tv_nsec = (long)(g.pause_ms % 1000) * 1000000,
	};

	while (g.pause_ms && nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* One register/unregister pair; times in ns into *reg and *unreg. */
static int reg_unreg(const struct result *r, const struct iovec *iov,
		     uint64_t *reg, uint64_t *unreg)
{
	uint64_t t0, t1, t2;
	int ret;

	pause_before_register();
	t0 = now_ns();
	ret = io_uring_register_buffers(&g.ring, iov, r->nbufs);
	t1 = now_ns();
	if (ret)
		return register_fail(r, "io_uring_register_buffers", ret);
	ret = io_uring_unregister_buffers(&g.ring);
	t2 = now_ns();
	if (ret)
		return register_fail(r, "io_uring_unregister_buffers", ret);
	*reg = t1 - t0;
	*unreg = t2 - t1;
	return T_EXIT_PASS;
}

/* Sum of nr_bvecs over the registered buffers (patched fdinfo), or -1. */
static long count_bvecs(unsigned int nbufs)
{
	struct t_ubuf_info info;
	unsigned int i;
	long sum = 0;

	for (i = 0; i < nbufs; i++) {
		if (t_fdinfo_ubuf(&g.ring, i, &info))
			return -1;
		sum += info.nr_bvecs;
	}
	return sum;
}

/* One timed BUFFERS_UPDATE of slot 0 to iov (empty if NULL), in ns. */
static int timed_update(const struct result *r, const struct iovec *iov,
			uint64_t *ns)
{
	struct iovec none = { NULL, 0 };
	uint64_t t0;
	int ret;

	pause_before_register();
	t0 = now_ns();
	ret = t_update(&g.ring, 0, iov ? iov : &none, 0);
	*ns = now_ns() - t0;
	return ret ? register_fail(r, "IORING_REGISTER_BUFFERS_UPDATE", ret) : 0;
}

/*
 * Slot 0 of a sparse table gets iov[0]; each repetition replaces it by
 * iov[1] (timed as "register"), empties it (timed as "unregister") and
 * puts iov[0] back (untimed).
 */
static int measure_update(struct result *r, const struct iovec *iov)
{
	static uint64_t reg[MAX_REPS], unreg[MAX_REPS], sum[MAX_REPS];
	uint64_t untimed;
	unsigned int i;
	int ret;

	ret = io_uring_register_buffers_sparse(&g.ring, 1);
	if (ret)
		return register_fail(r, "io_uring_register_buffers_sparse", ret);
	ret = timed_update(r, &iov[0], &untimed);
	r->bvecs = count_bvecs(1);
	for (i = 0; !ret && i < r->reps; i++) {
		ret = timed_update(r, &iov[1], &reg[i]);
		if (!ret)
			ret = timed_update(r, NULL, &unreg[i]);
		if (!ret)
			ret = t_update(&g.ring, 0, &iov[0], 0);
		sum[i] = reg[i] + unreg[i];
	}
	io_uring_unregister_buffers(&g.ring);
	if (!ret)
		summarize_row(r, reg, unreg, sum);
	return ret;
}

static int measure(struct result *r, const struct iovec *iov)
{
	static uint64_t reg[MAX_REPS], unreg[MAX_REPS], sum[MAX_REPS];
	unsigned int i;
	int ret;

	/*
	 * An untimed first round, as the first pin of a page costs more than
	 * the next ones; it also reads the segment count.
	 */
	ret = io_uring_register_buffers(&g.ring, iov, r->nbufs);
	if (ret)
		return register_fail(r, "io_uring_register_buffers", ret);
	r->bvecs = count_bvecs(r->nbufs);
	ret = io_uring_unregister_buffers(&g.ring);
	if (ret)
		return register_fail(r, "io_uring_unregister_buffers", ret);

	for (i = 0; !ret && i < r->reps; i++) {
		ret = reg_unreg(r, iov, &reg[i], &unreg[i]);
		sum[i] = reg[i] + unreg[i];
	}
	if (!ret)
		summarize_row(r, reg, unreg, sum);
	return ret;
}

/* ---- output ---- */

static void print_header(void)
{
	if (g.tsv)
		fprintf(g.tsv, "kernel\tscenario\tmem\ttotal_bytes\tnr_bufs\tbuf_bytes\treps\t"
			"pause_ms\treg_best_ns\treg_median_ns\tunreg_best_ns\tunreg_median_ns\t"
			"sum_best_ns\tsum_median_ns\tbvecs\tbacking\n");
	fprintf(g.table, "%-16s %-9s %6s %5s %6s %4s %21s %21s %21s %7s  %s\n",
		"scenario", "mem", "total", "bufs", "each", "reps",
		"register best/med us", "unregister best/med", "sum best/med",
		"bvecs", "backing");
}

static const char *human_size(size_t v, char *buf, size_t len)
{
	if (v >= GIB && !(v % GIB))
		snprintf(buf, len, "%zuG", v / GIB);
	else if (v >= MIB && !(v % MIB))
		snprintf(buf, len, "%zuM", v / MIB);
	else
		snprintf(buf, len, "%zuK", v >> 10);
	return buf;
}

static void print_row(const struct result *r)
{
	char tot[24], each[24], t[3][48], bvecs[24] = "-";

	if (r->bvecs >= 0)
		snprintf(bvecs, sizeof(bvecs), "%ld", r->bvecs);
	if (g.tsv) {
		fprintf(g.tsv, "%s\t%s\t%s\t%zu\t%u\t%zu\t%u\t%u\t%" PRIu64 "\t%" PRIu64
			"\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%s\t%s\n",
			g.uts.release, r->scenario, mem_name(r->mem), r->total,
			r->nbufs, r->total / r->nbufs, r->reps, g.pause_ms, r->reg.best,
			r->reg.median, r->unreg.best, r->unreg.median, r->sum.best,
			r->sum.median, bvecs, r->backing);
		fflush(g.tsv);
	}
	snprintf(t[0], sizeof(t[0]), "%.1f/%.1f", r->reg.best / 1e3, r->reg.median / 1e3);
	snprintf(t[1], sizeof(t[1]), "%.1f/%.1f", r->unreg.best / 1e3, r->unreg.median / 1e3);
	snprintf(t[2], sizeof(t[2]), "%.1f/%.1f", r->sum.best / 1e3, r->sum.median / 1e3);
	fprintf(g.table, "%-16s %-9s %6s %5u %6s %4u %21s %21s %21s %7s  %s\n",
		r->scenario, mem_name(r->mem), human_size(r->total, tot, sizeof(tot)),
		r->nbufs, human_size(r->total / r->nbufs, each, sizeof(each)),
		r->reps, t[0], t[1], t[2], bvecs, r->backing);
	fflush(g.table);
}

/* ---- rows ---- */

static int run_row(const char *scenario, enum t_mem m, size_t total,
		   unsigned int nbufs, bool update)
{
	static struct iovec iov[MAX_BUFS];
	struct result r = {
		.scenario = scenario, .mem = m, .total = total, .nbufs = nbufs,
		.update = update, .reps = g.reps,
	};
	struct region region = { .len = total };
	struct snapshot before;
	size_t each = total / nbufs;
	unsigned int i;
	int ret;

	if (total % nbufs || each % T_PAGE || total % t_mem_pagesize(m) ||
	    each > GIB) {
		fprintf(stderr, "regcost: %s: %zu bytes of %s in %u buffers: not whole pages or a buffer over 1 GiB, row left out\n",
			scenario, total, mem_name(m), nbufs);
		return T_EXIT_PASS;
	}

	snapshot(&before);
	ret = map_region(m, &region);
	if (ret == T_EXIT_SKIP) {
		fprintf(stderr, "regcost: SKIP %s %s %zu bytes: %s\n", scenario,
			mem_name(m), total, t_skip_reason());
		g.skipped++;
		return T_EXIT_PASS;
	}
	if (ret) {
		fprintf(stderr, "regcost: %s: cannot map %zu bytes of %s\n",
			scenario, total, mem_name(m));
		return ret;
	}
	check_backing(m, region.buf, total, &before, r.backing, sizeof(r.backing));
	if (strcmp(r.backing, "ok")) {
		fprintf(stderr, "regcost: warning: %s %s %zu bytes: %s\n", scenario,
			mem_name(m), total, r.backing);
		g.mismatched++;
	}

	for (i = 0; i < nbufs; i++) {
		iov[i].iov_base = region.buf + i * each;
		iov[i].iov_len = each;
	}
	ret = update ? measure_update(&r, iov) : measure(&r, iov);
	unmap_region(&region);
	if (ret)
		return ret;
	print_row(&r);
	g.ran++;
	return T_EXIT_PASS;
}

static int run_scenario(const struct scenario *s)
{
	unsigned int i, j;
	int ret;

	for (i = 0; i < MAX_LIST && s->sizes[i]; i++) {
		for (j = 0; j < MAX_LIST && s->nbufs[j]; j++) {
			ret = run_row(s->name, s->mem, s->sizes[i], s->nbufs[j],
				      s->update);
			if (ret)
				return ret;
		}
	}
	return T_EXIT_PASS;
}

static int run_preset(const char *const *names)
{
	int ret;

	for (; *names; names++) {
		ret = run_scenario(find_scenario(*names));
		if (ret)
			return ret;
	}
	return T_EXIT_PASS;
}

int main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "scenario", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum t_mem mems[MAX_LIST] = { T_MEM_ANON, T_MEM_THP, T_MEM_HUGETLB_2M,
				      T_MEM_MEMFD };
	size_t sizes[MAX_LIST] = SWEEP_4K;
	unsigned int nbufs[MAX_LIST] = { 1 };
	unsigned int nr_mems = T_ARRAY_SIZE(mem_types), nr_sizes = 6, nr_nbufs = 1, i, j, k;
	const struct scenario *one = NULL;
	const char *tsv_path = NULL;
	bool quick = false, custom = false, table_on_stdout = false;
	int opt, ret, reps = -1, pause_ms = 200;
	FILE *out;

	while ((opt = getopt_long(argc, argv, "qm:s:n:r:p:o:Hlh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'q':
			quick = true;
			break;
		case 'S':
			one = find_scenario(optarg);
			if (!one) {
				fprintf(stderr, "regcost: no scenario %s (see -l)\n", optarg);
				return 2;
			}
			break;
		case 'm':
			custom = true;
			if (parse_list(optarg, mems, sizeof(mems[0]), &nr_mems, parse_mem_item)) {
				fprintf(stderr, "regcost: bad -m list %s\n", optarg);
				return 2;
			}
			break;
		case 's':
			custom = true;
			if (parse_list(optarg, sizes, sizeof(sizes[0]), &nr_sizes, parse_size_item)) {
				fprintf(stderr, "regcost: bad -s list %s\n", optarg);
				return 2;
			}
			break;
		case 'n':
			custom = true;
			if (parse_list(optarg, nbufs, sizeof(nbufs[0]), &nr_nbufs, parse_nbufs_item)) {
				fprintf(stderr, "regcost: bad -n list %s (1 .. %d each)\n",
					optarg, MAX_BUFS);
				return 2;
			}
			break;
		case 'r':
			reps = atoi(optarg);
			if (reps < 1 || reps > MAX_REPS) {
				fprintf(stderr, "regcost: -r wants 1 .. %d\n", MAX_REPS);
				return 2;
			}
			break;
		case 'p':
			pause_ms = atoi(optarg);
			if (pause_ms < 0 || pause_ms > 10000) {
				fprintf(stderr, "regcost: -p wants 0 .. 10000 ms\n");
				return 2;
			}
			break;
		case 'o':
			tsv_path = optarg;
			break;
		case 'H':
			table_on_stdout = true;
			break;
		case 'l':
			list_scenarios();
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || (quick + !!one + custom) > 1) {
		usage(stderr);
		fprintf(stderr, "regcost: -q, --scenario and -m/-s/-n exclude each other\n");
		return 2;
	}
	/*
	 * -q keeps the 9 repetitions: with 3, the best of the 1 and 4 MiB rows
	 * swung by 20% between runs (docs/notes.md, "Why 9 repetitions").
	 */
	g.reps = reps > 0 ? reps : 9;
	g.pause_ms = pause_ms;

	/*
	 * The helpers print their diagnostics on stdout: the TSV gets its own
	 * copy of stdout and fd 1 goes to stderr, so no stray line lands in it.
	 */
	out = fdopen(dup(STDOUT_FILENO), "w");
	if (!out || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
		perror("regcost: dup stdout");
		return 1;
	}
	g.table = table_on_stdout ? out : stderr;
	g.tsv = table_on_stdout ? NULL : out;
	if (tsv_path) {
		g.tsv = fopen(tsv_path, "w");
		if (!g.tsv) {
			fprintf(stderr, "regcost: %s: %s\n", tsv_path, strerror(errno));
			return 1;
		}
	}
	uname(&g.uts);

	ret = t_ring_setup(&g.ring);
	if (ret) {
		if (ret == T_EXIT_SKIP)
			fprintf(stderr, "regcost: SKIP: %s\n", t_skip_reason());
		return ret;
	}

	print_header();
	if (one) {
		ret = run_scenario(one);
	} else if (quick) {
		ret = run_preset(preset_quick);
	} else if (custom) {
		ret = T_EXIT_PASS;
		for (i = 0; !ret && i < nr_mems; i++)
			for (j = 0; !ret && j < nr_sizes; j++)
				for (k = 0; !ret && k < nr_nbufs; k++)
					ret = run_row("custom", mems[i], sizes[j], nbufs[k],
						      false);
	} else {
		ret = run_preset(preset_default);
	}
	io_uring_queue_exit(&g.ring);

	fprintf(stderr, "regcost: %u rows measured, %u skipped, %u with a backing mismatch%s\n",
		g.ran, g.skipped, g.mismatched, ret ? "; stopped at a failure" : "");
	if (g.tsv && fclose(g.tsv)) {
		perror("regcost: writing the TSV");
		return 1;
	}
	if (ret)
		return T_EXIT_FAIL;
	if (!g.ran && !g.skipped) {
		fprintf(stderr, "regcost: no row fits the sizes and buffer counts given\n");
		return 2;
	}
	return g.skipped ? T_EXIT_SKIP : T_EXIT_PASS;
}
