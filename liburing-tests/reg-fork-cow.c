/* SPDX-License-Identifier: MIT */
/*
 * Checks that the pages of a registered buffer stay the registering
 * process's own: after fork, the child writing its copy changes nothing the
 * parent's fixed I/O sees, and the parent's fixed reads land in the parent's
 * mapping only; after munmap or MADV_DONTNEED of the buffer, fixed writes
 * still send the pinned pages' old contents and fixed reads still land in
 * them, until unregistering lets go (VmPin back where it was).
 *
 * Prerequisites: cwd on a filesystem with O_DIRECT (ext4). THP cases need
 * THP in madvise or always mode; hugetlb cases need free 2 MiB hugepages
 * (two for fork, whose child gets a copy of the pinned page). They SKIP
 * without.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "helpers.h"

#define ANON_LEN	(16 * T_PAGE)

static size_t mem_len(enum t_mem m)
{
	return m == T_MEM_ANON ? ANON_LEN : T_SZ_2M;
}

/* The buffer, filled with the pattern of seed, registered in a new ring. */
struct setup {
	struct io_uring ring;
	char *buf;
	size_t len;
	unsigned int seed;
	long start_kb;
};

static int setup(struct setup *s, enum t_mem m)
{
	struct iovec iov;
	int ret;

	s->len = mem_len(m);
	s->buf = NULL;
	ret = t_ring_setup(&s->ring);
	if (ret)
		return ret;
	s->start_kb = t_vmpin_kb();
	ret = t_alloc(m, s->len, &s->buf, NULL);
	if (ret)
		goto fail;
	s->seed = t_seed();
	t_fill(s->buf, s->len, s->seed, 0);
	iov.iov_base = s->buf;
	iov.iov_len = s->len;
	ret = t_register_or_skip(&s->ring, &iov, 1, false);
	if (!ret)
		return T_EXIT_PASS;
	t_unreserve(s->buf, s->len);
fail:
	io_uring_queue_exit(&s->ring);
	return ret;
}

/* Unregisters, checks VmPin is back, closes; keeps the first failure. */
static int teardown(struct setup *s, int ret, bool unmapped)
{
	int res = io_uring_unregister_buffers(&s->ring);

	if (res) {
		t_diag("unregister: %s", t_errname(res));
		ret = ret ? ret : T_EXIT_FAIL;
	}
	res = t_vmpin_expect(s->start_kb, "after unregistering");
	ret = ret ? ret : res;
	io_uring_queue_exit(&s->ring);
	if (!unmapped)
		t_unreserve(s->buf, s->len);
	return ret;
}

/* The file at off holds the pattern of seed for positions 0 .. len - 1. */
static int file_holds(struct t_file *f, size_t len, off_t off,
		      unsigned int seed, const char *what)
{
	char *bounce = malloc(len);
	int ret;

	if (!bounce)
		return T_EXIT_FAIL;
	ret = t_file_read(f, bounce, len, off);
	if (!ret)
		ret = t_verify(bounce, len, seed, 0, what);
	free(bounce);
	return ret;
}

static int fill_file(struct t_file *f, size_t len, off_t off, unsigned int seed)
{
	char *bounce = malloc(len);
	int ret;

	if (!bounce)
		return T_EXIT_FAIL;
	t_fill(bounce, len, seed, 0);
	ret = t_file_write(f, bounce, len, off);
	free(bounce);
	return ret;
}

static int fixed_io(struct setup *s, struct t_file *f, bool write, off_t off)
{
	int res = t_fixed_io(&s->ring, write, f->fd, s->buf, s->len, off, 0);

	if (res != (int)s->len) {
		t_diag("fixed %s of %zu bytes at %lld: %s", write ? "write" : "read",
		       s->len, (long long)off, t_errname(res));
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

static int child_side(struct setup *s, unsigned int child_seed, int go_fd,
		      int done_fd)
{
	char c = 0;

	t_fill(s->buf, s->len, child_seed, 0);
	if (t_verify(s->buf, s->len, child_seed, 0, "child: its copy after writing"))
		return T_EXIT_FAIL;
	if (write(done_fd, &c, 1) != 1 || read(go_fd, &c, 1) != 1)
		return T_EXIT_FAIL;
	/* the parent's fixed reads went into the parent's pages only */
	return t_verify(s->buf, s->len, child_seed, 0,
			"child: its copy after the parent's fixed I/O");
}

static int parent_side(struct setup *s)
{
	struct t_file f;
	int direct, ret;

	ret = t_verify(s->buf, s->len, s->seed, 0,
		       "parent's buffer after the child wrote its copy");
	for (direct = 1; direct >= 0 && !ret; direct--) {
		ret = t_file_open(&f, direct);
		if (ret)
			break;
		/* the pinned pages, untouched by the child */
		ret = fixed_io(s, &f, true, 0);
		if (!ret)
			ret = file_holds(&f, s->len, 0, s->seed,
					 "file after a fixed write right after fork");
		/* CPU writes and fixed reads of the parent meet in its pages */
		if (!ret)
			ret = t_check_fixed_rw(&s->ring, &f, 0, s->buf, s->len, 0,
					       s->buf, s->buf + s->len);
		t_file_close(&f);
		if (!ret)
			t_fill(s->buf, s->len, s->seed, 0);
	}
	return ret;
}

static int test_fork(enum t_mem m)
{
	unsigned int child_seed = t_seed();
	int to_child[2], to_parent[2];
	struct setup s;
	char c = 0;
	pid_t pid;
	int ret, res;

	/* fork copies a pinned hugetlb page for the child */
	if (m == T_MEM_HUGETLB_2M && t_hugepages_avail(T_SZ_2M) < 2)
		return t_skip("need 2 free 2 MiB hugepages, have %ld",
			      t_hugepages_avail(T_SZ_2M));
	ret = setup(&s, m);
	if (ret)
		return ret;
	if (pipe(to_child) || pipe(to_parent)) {
		t_diag("pipe: %s", strerror(errno));
		return teardown(&s, T_EXIT_FAIL, false);
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		t_diag("fork: %s", strerror(errno));
		ret = T_EXIT_FAIL;
		goto out;
	}
	if (!pid)
		_exit(child_side(&s, child_seed, to_child[0], to_parent[1]));

	if (read(to_parent[0], &c, 1) != 1) {
		t_diag("the child died before writing its copy");
		ret = T_EXIT_FAIL;
	} else {
		ret = parent_side(&s);
	}
	if (write(to_child[1], &c, 1) != 1)
		t_diag("cannot wake the child: %s", strerror(errno));
	res = t_wait_child(pid, "the child");
	ret = ret ? ret : res;
out:
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
	return teardown(&s, ret, false);
}

static bool is_zero(const char *p, size_t len)
{
	return !p[0] && !memcmp(p, p + 1, len - 1);
}

enum detach { DETACH_MUNMAP, DETACH_DONTNEED };

/*
 * The buffer's mapping is gone (munmap) or refilled on the next touch
 * (MADV_DONTNEED); the pinned pages still hold s->seed and still take fixed
 * reads, which a later fixed write sends back out.
 */
static int test_detached(enum t_mem m, enum detach how)
{
	unsigned int seed;
	struct t_file f;
	struct setup s;
	int direct, ret;

	ret = setup(&s, m);
	if (ret)
		return ret;
	if (how == DETACH_MUNMAP)
		ret = munmap(s.buf, s.len);
	else
		ret = madvise(s.buf, s.len, MADV_DONTNEED);
	if (ret) {
		t_diag("%s: %s", how == DETACH_MUNMAP ? "munmap" : "madvise",
		       strerror(errno));
		return teardown(&s, T_EXIT_FAIL, false);
	}

	for (direct = 1; direct >= 0 && !ret; direct--) {
		ret = t_file_open(&f, direct);
		if (ret)
			break;
		seed = t_seed();
		ret = fixed_io(&s, &f, true, 0);
		if (!ret)
			ret = file_holds(&f, s.len, 0, s.seed,
					 "file after a fixed write from the detached pages");
		if (!ret)
			ret = fill_file(&f, s.len, s.len, seed);
		if (!ret)
			ret = fixed_io(&s, &f, false, s.len);
		if (!ret)
			ret = fixed_io(&s, &f, true, 2 * s.len);
		if (!ret)
			ret = file_holds(&f, s.len, 2 * s.len, seed,
					 "file after a fixed read into the detached pages and back");
		t_file_close(&f);
		s.seed = seed;
	}

	/*
	 * What the mapping shows now is new zeroed memory, not the pinned
	 * pages; a hugetlb page is only touched if a free one can back it.
	 */
	if (!ret && how == DETACH_DONTNEED &&
	    (m != T_MEM_HUGETLB_2M || t_hugepages_avail(T_SZ_2M) > 0) &&
	    !is_zero(s.buf, s.len)) {
		t_diag("the mapping after MADV_DONTNEED shows the pinned pages' data");
		ret = T_EXIT_FAIL;
	}
	return teardown(&s, ret, how == DETACH_MUNMAP);
}

#define MEM_CASES(kind, m)						\
	static int test_fork_##kind(void)				\
	{								\
		return test_fork(m);					\
	}								\
	static int test_munmap_##kind(void)				\
	{								\
		return test_detached(m, DETACH_MUNMAP);			\
	}								\
	static int test_dontneed_##kind(void)				\
	{								\
		return test_detached(m, DETACH_DONTNEED);		\
	}

MEM_CASES(anon, T_MEM_ANON)
MEM_CASES(thp, T_MEM_THP)
MEM_CASES(hugetlb, T_MEM_HUGETLB_2M)

int main(void)
{
	static const struct t_case cases[] = {
		{ "fork: anon 4K stays the parent's", test_fork_anon },
		{ "fork: anon THP stays the parent's", test_fork_thp },
		{ "fork: MAP_HUGETLB 2M stays the parent's", test_fork_hugetlb },
		{ "munmap: anon 4K pinned pages carry fixed I/O", test_munmap_anon },
		{ "munmap: anon THP pinned pages carry fixed I/O", test_munmap_thp },
		{ "munmap: MAP_HUGETLB 2M pinned pages carry fixed I/O",
		  test_munmap_hugetlb },
		{ "MADV_DONTNEED: anon 4K pinned pages carry fixed I/O",
		  test_dontneed_anon },
		{ "MADV_DONTNEED: anon THP pinned pages carry fixed I/O",
		  test_dontneed_thp },
		{ "MADV_DONTNEED: MAP_HUGETLB 2M pinned pages carry fixed I/O",
		  test_dontneed_hugetlb },
	};

	return t_run_cases(cases, T_ARRAY_SIZE(cases));
}
