/* SPDX-License-Identifier: MIT */
/*
 * Data files and fixed reads and writes on them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "helpers.h"

/* Guard bytes checked on each side of a fixed read. */
#define T_GUARD		(64UL << 10)


/* ---- files and fixed I/O ---- */

static size_t dio_align(int fd)
{
	struct statx stx;

	if (!statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		if (stx.stx_dio_mem_align > stx.stx_dio_offset_align)
			return stx.stx_dio_mem_align;
		return stx.stx_dio_offset_align;
	}
	return 512;
}

int t_file_open(struct t_file *f, bool direct)
{
	static unsigned int nr;
	char path[64];

	snprintf(path, sizeof(path), "regbuf-data-%d-%u", getpid(),
		 __atomic_fetch_add(&nr, 1, __ATOMIC_RELAXED));
	f->direct = direct;
	f->fd = -1;
	f->bfd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (f->bfd < 0) {
		t_diag("create %s in cwd: %s", path, strerror(errno));
		return T_EXIT_FAIL;
	}
	f->fd = open(path, O_RDWR | O_CLOEXEC | (direct ? O_DIRECT : 0));
	unlink(path);
	if (f->fd < 0) {
		int err = errno;

		close(f->bfd);
		if (direct && err == EINVAL)
			return t_skip("cwd filesystem does not support O_DIRECT");
		t_diag("open %s: %s", path, strerror(err));
		return T_EXIT_FAIL;
	}
	f->dio_align = direct ? dio_align(f->fd) : 1;
	return T_EXIT_PASS;
}

void t_file_close(struct t_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->bfd >= 0)
		close(f->bfd);
	f->fd = f->bfd = -1;
}

int t_fixed_io_submit(struct io_uring *ring, bool write, int fd, void *addr,
		      size_t len, off_t off, int buf_index, __u64 user_data)
{
	struct io_uring_sqe *sqe;
	int ret;

	sqe = io_uring_get_sqe(ring);
	if (!sqe) {
		t_diag("no free sqe");
		return -EBUSY;
	}
	if (write)
		io_uring_prep_write_fixed(sqe, fd, addr, len, off, buf_index);
	else
		io_uring_prep_read_fixed(sqe, fd, addr, len, off, buf_index);
	sqe->user_data = user_data;
	ret = io_uring_submit(ring);
	if (ret != 1) {
		t_diag("io_uring_submit: %d", ret);
		return ret < 0 ? ret : -EIO;
	}
	return 0;
}

int t_fixed_io(struct io_uring *ring, bool write, int fd, void *addr,
	       size_t len, off_t off, int buf_index)
{
	static __u64 next_id = 0x696f000000000000ULL;
	__u64 id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
	struct io_uring_cqe *cqe;
	int ret;

	ret = t_fixed_io_submit(ring, write, fd, addr, len, off, buf_index, id);
	if (ret)
		return ret;
	/* skip buffer-tag CQEs left over from unregistration or updates */
	for (;;) {
		ret = io_uring_wait_cqe(ring, &cqe);
		if (ret) {
			t_diag("io_uring_wait_cqe: %s", strerror(-ret));
			return ret;
		}
		if (cqe->user_data == id)
			break;
		io_uring_cqe_seen(ring, cqe);
	}
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

/* pread() or pwrite() of exactly len bytes through the buffered fd. */
static int full_io(int fd, void *buf, size_t len, off_t off, bool is_write)
{
	ssize_t ret = is_write ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);

	if (ret != (ssize_t)len) {
		t_diag("%s %zu@%lld: %zd (%s)", is_write ? "pwrite" : "pread", len,
		       (long long)off, ret, ret < 0 ? strerror(errno) : "short");
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

int t_file_read(struct t_file *f, void *buf, size_t len, off_t off)
{
	return full_io(f->bfd, buf, len, off, false);
}

int t_file_write(struct t_file *f, const void *buf, size_t len, off_t off)
{
	return full_io(f->bfd, (void *)buf, len, off, true);
}

/* A fixed read or write of buf that must move exactly len bytes. */
static int fixed_io_whole(struct io_uring *ring, bool is_write, struct t_file *f,
			  int buf_index, char *buf, size_t len, off_t off, char *lo)
{
	int ret = t_fixed_io(ring, is_write, f->fd, buf, len, off, buf_index);

	if (ret == (int)len)
		return T_EXIT_PASS;
	t_diag("%s fixed %s buffer %d +%td len %zu at %lld: res %d, want %zu",
	       f->direct ? "O_DIRECT" : "buffered",
	       is_write ? "write of" : "read into", buf_index, buf - lo, len,
	       (long long)off, ret, len);
	return T_EXIT_FAIL;
}

int t_check_fixed_rw(struct io_uring *ring, struct t_file *f, int buf_index,
		     char *buf, size_t len, off_t off, char *lo, char *hi)
{
	unsigned int s_write = t_seed(), s_read = t_seed(), s_guard = t_seed();
	char *glo = buf - lo > (ptrdiff_t)T_GUARD ? buf - T_GUARD : lo;
	char *ghi = hi - (buf + len) > (ptrdiff_t)T_GUARD ? buf + len + T_GUARD : hi;
	const char *mode = f->direct ? "O_DIRECT" : "buffered";
	char *bounce;
	int ret;

	bounce = malloc(len);
	if (!bounce) {
		t_diag("malloc %zu", len);
		return T_EXIT_FAIL;
	}

	/* memory -> file */
	t_fill(buf, len, s_write, off);
	ret = fixed_io_whole(ring, true, f, buf_index, buf, len, off, lo);
	if (ret)
		goto out;
	ret = full_io(f->bfd, bounce, len, off, false);
	if (!ret)
		ret = t_verify(bounce, len, s_write, off, "file after fixed write");
	if (ret) {
		t_diag("  (%s fixed write of buffer %d +%td len %zu at %lld)", mode,
		       buf_index, buf - lo, len, (long long)off);
		goto out;
	}

	/* file -> memory; the guards must come through untouched */
	t_fill(bounce, len, s_read, off);
	ret = full_io(f->bfd, bounce, len, off, true);
	if (ret)
		goto out;
	t_fill(glo, ghi - glo, s_guard, glo - lo);
	ret = fixed_io_whole(ring, false, f, buf_index, buf, len, off, lo);
	if (ret)
		goto out;
	ret = t_verify(buf, len, s_read, off, "buffer after fixed read");
	if (!ret)
		ret = t_verify(glo, buf - glo, s_guard, glo - lo,
			       "bytes below the range after fixed read");
	if (!ret)
		ret = t_verify(buf + len, ghi - (buf + len), s_guard,
			       buf + len - lo, "bytes above the range after fixed read");
	if (ret)
		t_diag("  (%s fixed read into buffer %d +%td len %zu at %lld)", mode,
		       buf_index, buf - lo, len, (long long)off);
out:
	free(bounce);
	return ret;
}
