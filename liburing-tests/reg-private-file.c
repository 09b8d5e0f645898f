/* SPDX-License-Identifier: MIT */
/*
 * Checks that a MAP_PRIVATE mapping of an ext4 file registers (untouched,
 * read-faulted or already written) and that fixed reads into it land in the
 * private copy seen through the mapping, never in the file.
 *
 * Prerequisites: cwd on ext4 with O_DIRECT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>

#include "helpers.h"

#define LEN	(8 * T_PAGE)

enum state {
	UNTOUCHED,	/* nothing mapped in the page tables yet */
	READ_FAULTED,	/* page cache pages mapped read-only */
	WRITTEN,	/* already private copies */
};

static int check_file(int fd, unsigned int seed, const char *what)
{
	char *copy = malloc(LEN);
	int ret;

	if (!copy)
		return T_EXIT_FAIL;
	if (pread(fd, copy, LEN, 0) != (ssize_t)LEN) {
		t_diag("pread of the mapped file failed");
		ret = T_EXIT_FAIL;
	} else {
		ret = t_verify(copy, LEN, seed, 0, what);
	}
	free(copy);
	return ret;
}

static int fill_file(int fd, unsigned int seed)
{
	char *data = malloc(LEN);
	int ret = T_EXIT_PASS;

	if (!data)
		return T_EXIT_FAIL;
	t_fill(data, LEN, seed, 0);
	if (pwrite(fd, data, LEN, 0) != (ssize_t)LEN) {
		t_diag("pwrite to the mapped file failed");
		ret = T_EXIT_FAIL;
	}
	free(data);
	return ret;
}

static int test_state(enum state state)
{
	unsigned int s_file = t_seed(), s_mem = t_seed(), s_data = t_seed();
	unsigned int s_later = t_seed(), s_now;
	volatile char sink;
	struct io_uring ring;
	struct t_file data;
	struct iovec iov;
	size_t off;
	char *buf;
	int fd, ret, res, direct;

	ret = t_ring_setup(&ring);
	if (ret)
		return ret;
	ret = t_alloc(T_MEM_EXT4_PRIVATE, LEN, &buf, &fd);
	if (ret)
		goto out_ring;
	ret = fill_file(fd, s_file);
	if (ret)
		goto out_buf;

	s_now = s_file;
	if (state == READ_FAULTED) {
		for (off = 0; off < LEN; off += T_PAGE)
			sink = buf[off];
		(void)sink;
	} else if (state == WRITTEN) {
		t_fill(buf, LEN, s_mem, 0);
		s_now = s_mem;
	}

	iov.iov_base = buf;
	iov.iov_len = LEN;
	res = io_uring_register_buffers(&ring, &iov, 1);
	if (res) {
		t_diag("registering the MAP_PRIVATE ext4 mapping: %s, want 0",
		       t_errname(res));
		ret = T_EXIT_FAIL;
		goto out_buf;
	}
	ret = t_verify(buf, LEN, s_now, 0, "mapping right after registration");
	if (ret)
		goto out_unreg;

	/* a fixed read must be seen through the mapping, not in the file */
	ret = t_file_open(&data, false);
	if (ret)
		goto out_unreg;
	ret = fill_file(data.bfd, s_data);
	if (!ret) {
		res = t_fixed_io(&ring, false, data.fd, buf, LEN, 0, 0);
		if (res != (int)LEN) {
			t_diag("fixed read into the mapping: %s, want %zu",
			       t_errname(res), LEN);
			ret = T_EXIT_FAIL;
		}
	}
	t_file_close(&data);
	if (!ret)
		ret = t_verify(buf, LEN, s_data, 0, "mapping after fixed read");
	if (!ret)
		ret = check_file(fd, s_file, "ext4 file after fixed read");
	if (ret)
		goto out_unreg;

	/* the pinned pages are private: later file writes do not show */
	ret = fill_file(fd, s_later);
	if (!ret)
		ret = t_verify(buf, LEN, s_data, 0, "mapping after writing the file");
	if (ret)
		goto out_unreg;

	for (direct = 1; direct >= 0 && !ret; direct--) {
		ret = t_file_open(&data, direct);
		if (ret)
			break;
		ret = t_check_fixed_rw(&ring, &data, 0, buf, LEN, 0, buf, buf + LEN);
		t_file_close(&data);
	}
	if (!ret)
		ret = check_file(fd, s_later, "ext4 file after fixed I/O");
out_unreg:
	res = io_uring_unregister_buffers(&ring);
	if (res) {
		t_diag("unregister: %s", t_errname(res));
		ret = T_EXIT_FAIL;
	}
out_buf:
	if (fd >= 0)
		close(fd);
	t_unreserve(buf, LEN);
out_ring:
	io_uring_queue_exit(&ring);
	return ret;
}

static int test_untouched(void)
{
	return test_state(UNTOUCHED);
}

static int test_read_faulted(void)
{
	return test_state(READ_FAULTED);
}

static int test_written(void)
{
	return test_state(WRITTEN);
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "test_untouched", test_untouched },
		{ "test_read_faulted", test_read_faulted },
		{ "test_written", test_written },
	};

	return t_run_cases(cases, T_ARRAY_SIZE(cases));
}
