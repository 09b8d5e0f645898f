/* SPDX-License-Identifier: MIT */
/*
 * Checks that a MAP_SHARED ext4 page that is already written (present and
 * writable in the page tables, so gup-fast could take it) is still refused
 * for registration (-EOPNOTSUPP on 6.1, -EFAULT from 6.5 on), and, through
 * CONFIG_GUP_TEST, that the
 * gup-fast path alone refuses it for FOLL_LONGTERM | FOLL_WRITE while it
 * pins an anonymous page, and that the flags 6.1's ib_umem_get() passes for
 * a read-only RDMA MR (FOLL_FORCE | FOLL_WRITE | FOLL_LONGTERM) still pin
 * such a page in both paths, as they do on stock 6.1 and as mainline pins
 * the same MR.
 *
 * Prerequisites: root; cwd on ext4. The gup_test case needs a 6.1 kernel with
 * CONFIG_GUP_TEST and debugfs at /sys/kernel/debug, else it SKIPs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>

#include "helpers.h"

#define NPAGES	4
#define LEN	(NPAGES * T_PAGE)

/*
 * struct gup_test and its ioctls, copied by hand from Linux 6.1
 * mm/gup_test.h, which is not exported to user space.
 */
struct gup_test_61 {
	uint64_t get_delta_usec;
	uint64_t put_delta_usec;
	uint64_t addr;
	uint64_t size;
	uint32_t nr_pages_per_call;
	uint32_t gup_flags;
	uint32_t test_flags;
	uint32_t which_pages[8];
};

#define PIN_FAST_BENCHMARK	_IOWR('g', 2, struct gup_test_61)
#define PIN_LONGTERM_BENCHMARK	_IOWR('g', 3, struct gup_test_61)

/* FOLL_* values of Linux 6.1 include/linux/mm.h (they moved in later kernels). */
#define FOLL_WRITE	0x01
#define FOLL_FORCE	0x10
#define FOLL_LONGTERM	0x10000
#define FOLL_FAST_ONLY	0x80000

#define GUP_TEST_PATH	"/sys/kernel/debug/gup_test"

/* Writes every page so each is dirty and mapped writable right now. */
static void dirty_pages(char *buf, size_t len)
{
	t_fill(buf, len, t_seed(), 0);
}

static int register_written_shared(enum t_reg how, int file_page)
{
	struct io_uring ring;
	struct iovec iov;
	char *base = NULL;
	int ret, res;

	ret = t_ring_setup(&ring);
	if (ret)
		return ret;
	ret = t_mem_check(T_MEM_EXT4_SHARED, T_PAGE);
	if (ret)
		goto out_ring;
	if (file_page < 0) {
		ret = t_alloc(T_MEM_EXT4_SHARED, LEN, &base, NULL);
	} else {
		ret = t_alloc(T_MEM_ANON, LEN, &base, NULL);
		if (!ret)
			ret = t_map_fixed(base + file_page * T_PAGE, T_PAGE,
					  T_MEM_EXT4_SHARED,
					  PROT_READ | PROT_WRITE, NULL);
	}
	if (ret)
		goto out_buf;

	dirty_pages(base, LEN);
	iov.iov_base = base;
	iov.iov_len = LEN;
	res = t_register(&ring, how, &iov, 1);
	if (res != t_shared_file_errno()) {
		t_diag("registering written MAP_SHARED ext4 pages via %s: %s, want %s",
		       t_reg_name(how), t_errname(res),
		       t_errname(t_shared_file_errno()));
		ret = T_EXIT_FAIL;
	}
out_buf:
	t_unreserve(base, LEN);
out_ring:
	io_uring_queue_exit(&ring);
	return ret;
}

static int test_whole_buffers(void)
{
	return register_written_shared(T_REG_BUFFERS, -1);
}

static int test_whole_buffers2(void)
{
	return register_written_shared(T_REG_BUFFERS2, -1);
}

static int test_whole_update(void)
{
	return register_written_shared(T_REG_UPDATE, -1);
}

/* gup-fast pins the leading anonymous pages and must stop at the file page */
static int test_middle_buffers(void)
{
	return register_written_shared(T_REG_BUFFERS, 2);
}

static int test_last_buffers2(void)
{
	return register_written_shared(T_REG_BUFFERS2, NPAGES - 1);
}

/*
 * gup_test's ioctls take FOLL_* values as numbers, and those moved after
 * 6.1: only a 6.1 kernel can be driven with ours. Returns the fd, or -1
 * once the skip is reported.
 */
static int open_gup_test(void)
{
	struct utsname uts;
	int fd;

	if (uname(&uts) || strncmp(uts.release, "6.1.", 4)) {
		t_skip("FOLL_* values are those of 6.1; kernel is %s",
		       uts.release);
		return -1;
	}
	fd = open(GUP_TEST_PATH, O_RDWR);
	if (fd < 0)
		t_skip("no %s (CONFIG_GUP_TEST off or debugfs not mounted)",
		       GUP_TEST_PATH);
	return fd;
}

/* Pins the one page at addr through gup_test; returns pages pinned or -errno. */
static long gup_test_pin(int fd, unsigned long cmd, void *addr,
			 unsigned int flags)
{
	struct gup_test_61 gup = {
		.addr = (uintptr_t)addr,
		.size = T_PAGE,
		.nr_pages_per_call = 1,
		.gup_flags = flags,
	};

	if (ioctl(fd, cmd, &gup))
		return -errno;
	return gup.size / T_PAGE;
}

static int expect_pinned(int fd, unsigned long cmd, void *addr,
			 unsigned int flags, long want, const char *what)
{
	long did = gup_test_pin(fd, cmd, addr, flags);

	if (did == want)
		return T_EXIT_PASS;
	t_diag("%s (gup_flags 0x%x): pinned %ld, want %ld", what, flags, did, want);
	return T_EXIT_FAIL;
}

/*
 * The ext4 mapping has three pages: two left untouched to probe what
 * gup_test passes through, one written for the fast-path checks.
 */
static int test_gup_test_fast_only(void)
{
	const unsigned int fast_lt = FOLL_LONGTERM | FOLL_WRITE | FOLL_FAST_ONLY;
	char *anon = NULL, *file = NULL, *written;
	int fd, ret;
	long did;

	fd = open_gup_test();
	if (fd < 0)
		return T_EXIT_SKIP;

	ret = t_alloc(T_MEM_ANON, 2 * T_PAGE, &anon, NULL);
	if (!ret)
		ret = t_alloc(T_MEM_EXT4_SHARED, 3 * T_PAGE, &file, NULL);
	if (ret)
		goto out;
	written = file + 2 * T_PAGE;

	/* a page never touched is not in the page tables: gup-fast cannot pin it */
	did = gup_test_pin(fd, PIN_FAST_BENCHMARK, anon + T_PAGE,
			   FOLL_WRITE | FOLL_FAST_ONLY);
	if (did < 0) {
		ret = t_skip("gup_test refuses FOLL_FAST_ONLY in gup_flags: %s",
			     strerror(-did));
		goto out;
	}
	if (did != 0) {
		ret = t_skip("gup_test masks FOLL_FAST_ONLY (pinned an unmapped page)");
		goto out;
	}

	ret = expect_pinned(fd, PIN_LONGTERM_BENCHMARK, file, FOLL_WRITE, 0,
			    "slow long-term pin of an untouched MAP_SHARED ext4 page");
	if (ret)
		goto out;
	/* same refusal expected unless gup_test drops FOLL_LONGTERM from gup_flags */
	did = gup_test_pin(fd, PIN_FAST_BENCHMARK, file + T_PAGE,
			   FOLL_LONGTERM | FOLL_WRITE);
	if (did != 0) {
		ret = t_skip("gup_test masks FOLL_LONGTERM (pin_user_pages_fast pinned %ld)",
			     did);
		goto out;
	}

	dirty_pages(anon, T_PAGE);
	ret = expect_pinned(fd, PIN_FAST_BENCHMARK, anon, fast_lt, 1,
			    "gup-fast long-term pin of a written anonymous page");
	if (ret)
		goto out;

	/* the file page is mapped writable: a short-term fast pin works */
	dirty_pages(written, T_PAGE);
	ret = expect_pinned(fd, PIN_FAST_BENCHMARK, written,
			    FOLL_WRITE | FOLL_FAST_ONLY, 1,
			    "gup-fast short-term pin of a written MAP_SHARED ext4 page");
	if (ret)
		goto out;

	dirty_pages(written, T_PAGE);
	ret = expect_pinned(fd, PIN_FAST_BENCHMARK, written, fast_lt, 0,
			    "gup-fast long-term pin of a written MAP_SHARED ext4 page");
	if (ret)
		goto out;

	dirty_pages(written, T_PAGE);
	ret = expect_pinned(fd, PIN_FAST_BENCHMARK, written,
			    FOLL_LONGTERM | FOLL_WRITE, 0,
			    "gup-fast then slow long-term pin of a written MAP_SHARED ext4 page");
out:
	t_unreserve(anon, 2 * T_PAGE);
	t_unreserve(file, 3 * T_PAGE);
	close(fd);
	return ret;
}

/*
 * 6.1's ib_umem_get(), siw, videobuf2 and etnaviv pin read-only uses with
 * FOLL_FORCE | FOLL_WRITE | FOLL_LONGTERM; a read-only MR over a writable
 * MAP_SHARED ext4 mapping works on stock 6.1 and on mainline, so it must
 * keep working: through the slow path (an untouched page), through
 * gup-fast (a written one), and through both.
 */
static int test_gup_test_force_read_only(void)
{
	const unsigned int ro_mr = FOLL_FORCE | FOLL_WRITE | FOLL_LONGTERM;
	char *file = NULL;
	int fd, ret;

	fd = open_gup_test();
	if (fd < 0)
		return T_EXIT_SKIP;
	ret = t_alloc(T_MEM_EXT4_SHARED, 3 * T_PAGE, &file, NULL);
	if (!ret)
		ret = expect_pinned(fd, PIN_LONGTERM_BENCHMARK, file,
				    FOLL_FORCE | FOLL_WRITE, 1,
				    "slow long-term forced pin of an untouched MAP_SHARED ext4 page");
	if (!ret) {
		dirty_pages(file + T_PAGE, T_PAGE);
		ret = expect_pinned(fd, PIN_FAST_BENCHMARK, file + T_PAGE,
				    ro_mr | FOLL_FAST_ONLY, 1,
				    "gup-fast long-term forced pin of a written MAP_SHARED ext4 page");
	}
	if (!ret)
		ret = expect_pinned(fd, PIN_FAST_BENCHMARK, file + 2 * T_PAGE,
				    ro_mr, 1,
				    "long-term forced pin of an untouched MAP_SHARED ext4 page");
	t_unreserve(file, 3 * T_PAGE);
	close(fd);
	return ret;
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "test_whole_buffers", test_whole_buffers },
		{ "test_whole_buffers2", test_whole_buffers2 },
		{ "test_whole_update", test_whole_update },
		{ "test_middle_buffers", test_middle_buffers },
		{ "test_last_buffers2", test_last_buffers2 },
		{ "test_gup_test_fast_only", test_gup_test_fast_only },
		{ "test_gup_test_force_read_only", test_gup_test_force_read_only },
	};

	return t_run_cases(cases, T_ARRAY_SIZE(cases));
}
