/* SPDX-License-Identifier: MIT */
/*
 * Bounded random stress of registered buffers: threads, each with its own
 * rings, register, swap and drop buffers of every memory type, do fixed
 * reads and writes against their own file checking every byte against a
 * shadow copy of the pinned pages, unmap and remap buffers, fork children
 * (that exit at once or do fixed I/O on a ring of their own), replace
 * buffers that fixed writes are still reading, and close rings with I/O in
 * flight. Passes if every data check held and VmPin is
 * back at its starting value once every ring is gone.
 *
 * Environment: STRESS_THREADS (default 4), STRESS_ITER operations per
 * thread (default 200), STRESS_TIME wall-time bound in seconds (default 40),
 * STRESS_SEED to replay a run's choices (timing still differs).
 *
 * Prerequisites: cwd on a disk filesystem (ext4). THP and free 2 MiB
 * hugepages are used when there are some, otherwise those buffers are
 * plain 4 KiB anonymous memory.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include "helpers.h"

#define NRINGS		2		/* per thread */
#define NSLOTS		4		/* per ring */
#define MAX_SMALL	16		/* pages of a 4 KiB-page buffer */
#define MAX_IO		(256UL << 10)
#define VERIFY_OFF	0		/* file regions of each thread */
#define VERIFY_LEN	(4UL << 20)
#define INFLIGHT_OFF	(VERIFY_OFF + VERIFY_LEN)	/* never checked */
#define CHILD_OFF	(INFLIGHT_OFF + VERIFY_LEN)
#define MAX_INFLIGHT	4

enum op {
	OP_REGISTER,	/* a new buffer into a slot, replacing what was there */
	OP_EMPTY,	/* empty a slot */
	OP_WRITE,	/* fixed write, file checked against the shadow */
	OP_READ,	/* fixed read, mapping checked if it still shows the pins */
	OP_CPU,		/* CPU writes through the mapping */
	OP_MUNMAP,	/* unmap a registered buffer */
	OP_REMAP,	/* map fresh memory over a registered buffer */
	OP_NEW_TABLE,	/* unregister all, register a new table */
	OP_FORK,
	OP_CLOSE,	/* close a ring with I/O in flight, open a new one */
	OP_REPLACE_BUSY,	/* replace a buffer a fixed write is reading */
	OP_NR,
};

static const char *const op_name[OP_NR] = {
	"register", "empty", "write", "read", "cpu", "munmap", "remap",
	"new-table", "fork", "close", "replace-busy",
};

static const unsigned int op_weight[OP_NR] = {
	[OP_REGISTER] = 16, [OP_EMPTY] = 4, [OP_WRITE] = 20, [OP_READ] = 20,
	[OP_CPU] = 8, [OP_MUNMAP] = 3, [OP_REMAP] = 3, [OP_NEW_TABLE] = 3,
	[OP_FORK] = 4, [OP_CLOSE] = 3, [OP_REPLACE_BUSY] = 6,
};

static const enum t_mem mem_types[] = {
	T_MEM_ANON, T_MEM_THP, T_MEM_HUGETLB_2M, T_MEM_MEMFD, T_MEM_ANON_SHARED,
};

struct sbuf {
	char *addr;		/* NULL: empty slot */
	size_t len;
	enum t_mem mem;
	bool mapped;		/* [addr, addr + len) is still our mapping */
	bool coherent;		/* and it shows the pinned pages */
	uint8_t *shadow;	/* what the pinned pages hold */
};

struct sring {
	struct io_uring ring;
	bool open;
	struct sbuf slot[NSLOTS];
};

struct worker {
	pthread_t tid;
	unsigned int id;
	struct t_rng rng;
	struct sring ring[NRINGS];
	struct t_file file;
	uint8_t *bounce;
	unsigned long done, ops[OP_NR], fork_enomem;
	unsigned long mem_used[T_ARRAY_SIZE(mem_types)];
	int status;
};

static unsigned long iterations = 200;
static unsigned int time_limit = 40;
static struct timespec stop_time;	/* time_limit after the start */
static long hugetlb_budget;	/* hugetlb buffers that may be live at once */
static long hugetlb_live;

static unsigned long env_ulong(const char *name, unsigned long def)
{
	const char *val = getenv(name);

	return val && *val ? strtoul(val, NULL, 0) : def;
}

static uint64_t rnd(struct worker *w, uint64_t n)
{
	return t_rng_below(&w->rng, n);
}

/* ---- buffers ---- */

static void sbuf_release(struct sbuf *b)
{
	if (b->mem == T_MEM_HUGETLB_2M && b->addr)
		__atomic_sub_fetch(&hugetlb_live, 1, __ATOMIC_RELAXED);
	if (b->mapped)
		munmap(b->addr, b->len);
	free(b->shadow);
	memset(b, 0, sizeof(*b));
}

static bool take_hugetlb(void)
{
	if (__atomic_add_fetch(&hugetlb_live, 1, __ATOMIC_RELAXED) <= hugetlb_budget)
		return true;
	__atomic_sub_fetch(&hugetlb_live, 1, __ATOMIC_RELAXED);
	return false;
}

/* A new buffer of a random type, filled, its shadow matching. */
static int sbuf_new(struct worker *w, struct sbuf *b)
{
	enum t_mem m = mem_types[rnd(w, T_ARRAY_SIZE(mem_types))];
	unsigned int i;
	int ret;

	memset(b, 0, sizeof(*b));
	if (m == T_MEM_HUGETLB_2M && !take_hugetlb())
		m = T_MEM_ANON;
	b->len = t_mem_pagesize(m) > T_PAGE ? T_SZ_2M :
		 (1 + rnd(w, MAX_SMALL)) * T_PAGE;
	ret = t_alloc(m, b->len, &b->addr, NULL);
	if (ret == T_EXIT_SKIP) {
		/* no THP or hugepage right now: plain pages instead */
		if (m == T_MEM_HUGETLB_2M)
			__atomic_sub_fetch(&hugetlb_live, 1, __ATOMIC_RELAXED);
		m = T_MEM_ANON;
		b->len = (1 + rnd(w, MAX_SMALL)) * T_PAGE;
		ret = t_alloc(m, b->len, &b->addr, NULL);
	}
	if (ret) {
		t_diag("thread %u: allocating %zu bytes of %s", w->id, b->len,
		       t_mem_name(m));
		return T_EXIT_FAIL;
	}
	b->mem = m;
	b->mapped = b->coherent = true;
	for (i = 0; mem_types[i] != m; i++)
		;
	w->mem_used[i]++;
	b->shadow = malloc(b->len);
	if (!b->shadow) {
		sbuf_release(b);
		return T_EXIT_FAIL;
	}
	t_fill(b->addr, b->len, (unsigned int)t_rng_next(&w->rng), 0);
	memcpy(b->shadow, b->addr, b->len);
	return T_EXIT_PASS;
}

/* ---- rings ---- */

/* A new table: sparse, or (BUFFERS2) full of new buffers. */
static int table_new(struct worker *w, struct sring *r)
{
	struct iovec iov[NSLOTS];
	__u64 tags[NSLOTS];
	unsigned int i;
	int ret;

	if (rnd(w, 2)) {
		ret = io_uring_register_buffers_sparse(&r->ring, NSLOTS);
		if (ret)
			t_diag("thread %u: sparse table: %s", w->id, t_errname(ret));
		return ret ? T_EXIT_FAIL : T_EXIT_PASS;
	}
	for (i = 0; i < NSLOTS; i++) {
		ret = sbuf_new(w, &r->slot[i]);
		if (ret)
			return ret;
		iov[i].iov_base = r->slot[i].addr;
		iov[i].iov_len = r->slot[i].len;
		tags[i] = rnd(w, 2) ? t_rng_next(&w->rng) | 1 : 0;
	}
	ret = io_uring_register_buffers_tags(&r->ring, iov, tags, NSLOTS);
	if (ret) {
		t_diag("thread %u: table of %d new buffers: %s", w->id, NSLOTS,
		       t_errname(ret));
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

static int ring_open(struct worker *w, struct sring *r)
{
	int ret;

	memset(r->slot, 0, sizeof(r->slot));
	ret = t_ring_setup_sized(&r->ring, 16);
	if (ret)
		return ret;
	r->open = true;
	return table_new(w, r);
}

static void slots_release(struct sring *r)
{
	unsigned int i;

	for (i = 0; i < NSLOTS; i++)
		sbuf_release(&r->slot[i]);
}

/* ---- operations ---- */

static int op_register(struct worker *w, struct sring *r, unsigned int i)
{
	struct sbuf b;
	struct iovec iov;
	int ret;

	ret = sbuf_new(w, &b);
	if (ret)
		return ret;
	iov.iov_base = b.addr;
	iov.iov_len = b.len;
	ret = t_update(&r->ring, i, &iov, rnd(w, 2) ? t_rng_next(&w->rng) | 1 : 0);
	if (ret) {
		t_diag("thread %u: %s of %zu bytes into slot %u: %s", w->id,
		       t_mem_name(b.mem), b.len, i, t_errname(ret));
		sbuf_release(&b);
		return T_EXIT_FAIL;
	}
	/* the ring lets go of the old pins on its own time */
	sbuf_release(&r->slot[i]);
	r->slot[i] = b;
	return T_EXIT_PASS;
}

static int op_empty(struct worker *w, struct sring *r, unsigned int i)
{
	struct iovec iov = { NULL, 0 };
	int ret;

	ret = t_update(&r->ring, i, &iov, 0);
	if (ret) {
		t_diag("thread %u: emptying slot %u: %s", w->id, i, t_errname(ret));
		return T_EXIT_FAIL;
	}
	sbuf_release(&r->slot[i]);
	return T_EXIT_PASS;
}

/* A random range of the buffer and of the verified file region. */
static void pick_range(struct worker *w, const struct sbuf *b, size_t *start,
		       size_t *len, off_t *off)
{
	size_t a = w->file.dio_align, units = b->len / a;

	*start = rnd(w, units) * a;
	*len = (1 + rnd(w, (b->len - *start) / a)) * a;
	if (*len > MAX_IO)
		*len = MAX_IO;
	*off = VERIFY_OFF + rnd(w, (VERIFY_LEN - *len) / a + 1) * a;
}

static int op_io(struct worker *w, struct sring *r, unsigned int i, bool write)
{
	struct sbuf *b = &r->slot[i];
	size_t start, len;
	off_t off;
	int res, ret;

	pick_range(w, b, &start, &len, &off);
	if (!write) {
		t_fill(w->bounce, len, (unsigned int)t_rng_next(&w->rng), 0);
		ret = t_file_write(&w->file, w->bounce, len, off);
		if (ret)
			return ret;
	}
	res = t_fixed_io(&r->ring, write, w->file.fd, b->addr + start, len, off, i);
	if (res != (int)len) {
		t_diag("thread %u: fixed %s of %zu bytes at +%zu of %s slot %u: %s",
		       w->id, write ? "write" : "read", len, start,
		       t_mem_name(b->mem), i, t_errname(res));
		return T_EXIT_FAIL;
	}
	if (write) {
		ret = t_file_read(&w->file, w->bounce, len, off);
		if (!ret)
			ret = t_compare(w->bounce, b->shadow + start, len,
					"file after a fixed write");
	} else {
		memcpy(b->shadow + start, w->bounce, len);
		ret = b->coherent ? t_compare(b->addr + start, b->shadow + start,
					      len, "mapping after a fixed read") :
				    T_EXIT_PASS;
	}
	if (ret)
		t_diag("  (thread %u: %s slot %u, %zu bytes at +%zu, %s%s)", w->id,
		       t_mem_name(b->mem), i, len, start,
		       b->mapped ? "mapped" : "unmapped",
		       b->mapped && !b->coherent ? " over other memory" : "");
	return ret;
}

/* Writes through the mapping; they reach the pins only if it shows them. */
static void op_cpu(struct worker *w, struct sbuf *b)
{
	size_t start, len;
	off_t off;

	if (!b->mapped)
		return;
	pick_range(w, b, &start, &len, &off);
	t_fill(b->addr + start, len, (unsigned int)t_rng_next(&w->rng), 0);
	if (b->coherent)
		memcpy(b->shadow + start, b->addr + start, len);
}

static int op_remap(struct worker *w, struct sbuf *b, bool remap)
{
	void *p;

	if (!b->mapped)
		return T_EXIT_PASS;
	if (!remap) {
		munmap(b->addr, b->len);
		b->mapped = b->coherent = false;
		return T_EXIT_PASS;
	}
	p = mmap(b->addr, b->len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED) {
		t_diag("thread %u: remapping %zu bytes: %s", w->id, b->len,
		       strerror(errno));
		return T_EXIT_FAIL;
	}
	b->coherent = false;
	t_fill(b->addr, b->len, (unsigned int)t_rng_next(&w->rng), 0);
	return T_EXIT_PASS;
}

static int op_new_table(struct worker *w, struct sring *r)
{
	int ret = io_uring_unregister_buffers(&r->ring);

	if (ret) {
		t_diag("thread %u: unregister: %s", w->id, t_errname(ret));
		return T_EXIT_FAIL;
	}
	slots_release(r);
	return table_new(w, r);
}

/* In the child of a fork: a ring and buffer of its own, one round trip. */
static int child_io(struct worker *w, unsigned int seed)
{
	struct io_uring ring;
	struct iovec iov;
	char *buf;

	if (t_ring_setup(&ring) || t_alloc(T_MEM_ANON, 2 * T_PAGE, &buf, NULL))
		return T_EXIT_FAIL;
	iov.iov_base = buf;
	iov.iov_len = 2 * T_PAGE;
	if (io_uring_register_buffers(&ring, &iov, 1))
		return T_EXIT_FAIL;
	t_fill(buf, T_PAGE, seed, 0);
	if (t_fixed_io(&ring, true, w->file.fd, buf, T_PAGE, CHILD_OFF, 0) != T_PAGE ||
	    t_fixed_io(&ring, false, w->file.fd, buf + T_PAGE, T_PAGE, CHILD_OFF,
		       0) != T_PAGE)
		return T_EXIT_FAIL;
	return memcmp(buf, buf + T_PAGE, T_PAGE) ? T_EXIT_FAIL : T_EXIT_PASS;
}

static int op_fork(struct worker *w)
{
	bool do_io = rnd(w, 2);
	unsigned int seed = (unsigned int)t_rng_next(&w->rng);
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		/* a pinned private hugetlb page is copied for the child */
		if (errno == ENOMEM) {
			w->fork_enomem++;
			return T_EXIT_PASS;
		}
		t_diag("thread %u: fork: %s", w->id, strerror(errno));
		return T_EXIT_FAIL;
	}
	if (!pid)
		_exit(do_io ? child_io(w, seed) : T_EXIT_PASS);
	return t_wait_child(pid, do_io ? "child doing fixed I/O" :
					 "child exiting at once");
}

/* Submits fixed I/O on the inflight region and closes the ring under it. */
static int op_close(struct worker *w, struct sring *r)
{
	unsigned int i, n = 1 + rnd(w, MAX_INFLIGHT), queued = 0;
	int ret;

	for (i = 0; i < NSLOTS && queued < n; i++) {
		struct sbuf *b = &r->slot[i];
		size_t len = b->len > MAX_IO ? MAX_IO : b->len;

		if (!b->addr)
			continue;
		ret = t_fixed_io_submit(&r->ring, rnd(w, 2), w->file.fd, b->addr,
					len, INFLIGHT_OFF + queued * MAX_IO, i,
					queued);
		if (ret)
			return T_EXIT_FAIL;
		queued++;
	}
	if (rnd(w, 2))
		io_uring_unregister_buffers(&r->ring);
	io_uring_queue_exit(&r->ring);
	r->open = false;
	slots_release(r);
	return ring_open(w, r);
}

/*
 * A fixed write from the buffer of slot i is queued, the slot gets a new
 * buffer and the old mapping goes while the write is in flight: the ring
 * must keep the old pages pinned until the write is done with them.
 */
static int op_replace_busy(struct worker *w, struct sring *r, unsigned int i)
{
	struct sbuf *b = &r->slot[i];
	size_t len = b->len > MAX_IO ? MAX_IO : b->len;
	const __u64 id = 0xb05e;
	int ret, res;

	ret = t_fixed_io_submit(&r->ring, true, w->file.fd, b->addr, len,
				INFLIGHT_OFF, i, id);
	if (!ret)
		ret = op_register(w, r, i);
	if (ret)
		return ret;
	ret = t_wait_user_data(&r->ring, id, T_WAIT_MS, &res);
	if (ret || res != (int)len) {
		t_diag("thread %u: fixed write of %zu bytes from a replaced buffer: %s, res %d",
		       w->id, len, t_errname(ret), res);
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

static enum op pick_op(struct worker *w)
{
	unsigned int total = 0, i, x;

	for (i = 0; i < OP_NR; i++)
		total += op_weight[i];
	x = rnd(w, total);
	for (i = 0; x >= op_weight[i]; i++)
		x -= op_weight[i];
	return i;
}

static int step(struct worker *w)
{
	struct sring *r = &w->ring[rnd(w, NRINGS)];
	unsigned int i = rnd(w, NSLOTS);
	struct sbuf *b = &r->slot[i];
	enum op op = pick_op(w);

	/* operations on a buffer need one there */
	if (!b->addr && (op <= OP_REMAP || op == OP_REPLACE_BUSY))
		op = OP_REGISTER;
	w->ops[op]++;
	switch (op) {
	case OP_REGISTER:
		return op_register(w, r, i);
	case OP_EMPTY:
		return op_empty(w, r, i);
	case OP_WRITE:
	case OP_READ:
		return op_io(w, r, i, op == OP_WRITE);
	case OP_CPU:
		op_cpu(w, b);
		return T_EXIT_PASS;
	case OP_MUNMAP:
	case OP_REMAP:
		return op_remap(w, b, op == OP_REMAP);
	case OP_NEW_TABLE:
		return op_new_table(w, r);
	case OP_FORK:
		return op_fork(w);
	case OP_CLOSE:
		return op_close(w, r);
	case OP_REPLACE_BUSY:
		return op_replace_busy(w, r, i);
	case OP_NR:
		break;
	}
	return T_EXIT_FAIL;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned int i;
	int ret = T_EXIT_PASS;

	for (i = 0; i < NRINGS && !ret; i++)
		ret = ring_open(w, &w->ring[i]);
	for (; !ret && w->done < iterations && !t_deadline_passed(&stop_time);
	     w->done++)
		ret = step(w);
	/* half the rings go with their buffers registered */
	for (i = 0; i < NRINGS; i++) {
		if (!w->ring[i].open)
			continue;
		if (i % 2)
			io_uring_unregister_buffers(&w->ring[i].ring);
		io_uring_queue_exit(&w->ring[i].ring);
		slots_release(&w->ring[i]);
	}
	w->status = ret;
	return NULL;
}

static void report(const struct worker *w)
{
	char line[512];
	size_t n = 0;
	unsigned int i;

	for (i = 0; i < OP_NR; i++)
		n += snprintf(line + n, sizeof(line) - n, " %s %lu", op_name[i],
			      w->ops[i]);
	t_diag("thread %u: %lu operations:%s%s", w->id, w->done, line,
	       w->fork_enomem ? " (some forks -ENOMEM)" : "");
	for (i = 0, n = 0; i < T_ARRAY_SIZE(mem_types); i++)
		n += snprintf(line + n, sizeof(line) - n, "%s%s %lu", i ? ", " : "",
			      t_mem_name(mem_types[i]), w->mem_used[i]);
	t_diag("thread %u: buffers of %s", w->id, line);
}

int main(void)
{
	unsigned int nr_threads = env_ulong("STRESS_THREADS", 4), i;
	struct worker *workers;
	int ret = T_EXIT_PASS, res;
	struct t_rng seeds;
	long start_kb;

	iterations = env_ulong("STRESS_ITER", iterations);
	time_limit = env_ulong("STRESS_TIME", time_limit);
	t_tap_plan(2);
	t_rng_init(&seeds, t_rng_seed("STRESS_SEED"));
	t_diag("%u threads x %lu operations, at most %u s", nr_threads,
	       iterations, time_limit);
	hugetlb_budget = t_hugepages_avail(T_SZ_2M) / 2;
	if (hugetlb_budget > 16)
		hugetlb_budget = 16;
	start_kb = t_vmpin_kb();

	workers = calloc(nr_threads, sizeof(*workers));
	if (!workers)
		return T_EXIT_FAIL;
	t_deadline(&stop_time, time_limit * 1000UL);
	for (i = 0; i < nr_threads && !ret; i++) {
		struct worker *w = &workers[i];

		w->id = i;
		/* streams of their own, not shifted copies of one */
		t_rng_init(&w->rng, t_rng_next(&seeds));
		w->bounce = malloc(MAX_IO);
		ret = w->bounce ? t_file_open(&w->file, i % 2 == 0) : T_EXIT_FAIL;
		if (!ret && pthread_create(&w->tid, NULL, worker_main, w))
			ret = T_EXIT_FAIL;
		if (ret) {
			t_diag("starting thread %u", i);
			nr_threads = i;
		}
	}
	for (i = 0; i < nr_threads; i++) {
		pthread_join(workers[i].tid, NULL);
		report(&workers[i]);
		if (workers[i].status && !ret)
			ret = workers[i].status;
		t_file_close(&workers[i].file);
		free(workers[i].bounce);
	}
	t_tap_result(ret, "%u threads: every fixed I/O and data check held",
		     nr_threads);
	res = start_kb < 0 ? t_skip("no VmPin in /proc/self/status") :
			     t_vmpin_expect(start_kb, "after every ring closed");
	t_tap_result(res, "VmPin back to %ld kB after every ring closed",
		     start_kb);
	free(workers);
	return t_tap_exit();
}
