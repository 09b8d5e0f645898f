/* SPDX-License-Identifier: MIT */
/*
 * Tags given only after registration: buffers and files registered without
 * tags, then replaced through the update calls with a tag, must post exactly
 * one CQE, carrying that tag, when the tagged resource goes; the untagged
 * ones post none. A file opened straight into the table of a ring that has
 * no tags takes a tag the same way. Tag CQEs come from the retirement of
 * resource nodes, which patches 0003 and 0004 change.
 *
 * Prerequisites: none (the direct-open case SKIPs without
 * IORING_OP_OPENAT direct descriptors).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define BUF_TAG		0x62756674ULL	/* "buft" */
#define FILE_TAG	0x66696c74ULL	/* "filt" */
#define DIRECT_TAG	0x64697274ULL	/* "dirt" */

/*
 * Checks that the CQ holds nothing more: once a table is unregistered, the
 * tags of everything it held have been posted on every kernel that has them.
 */
static int expect_cq_empty(struct io_uring *ring, const char *after)
{
	struct io_uring_cqe *cqe;

	if (io_uring_peek_cqe(ring, &cqe))
		return T_EXIT_PASS;
	t_diag("after %s: unexpected CQE user_data 0x%llx res %d", after,
	       (unsigned long long)cqe->user_data, cqe->res);
	io_uring_cqe_seen(ring, cqe);
	return T_EXIT_FAIL;
}

/*
 * The next CQE must be @tag's, with res 0: a CQE for an untagged resource
 * would come first and fail the case.
 */
static int expect_tag(struct io_uring *ring, __u64 tag)
{
	struct io_uring_cqe *cqe;
	int ret;

	ret = t_next_cqe(ring, T_WAIT_MS, &cqe);
	if (ret) {
		t_diag("no CQE for tag 0x%llx: %s", (unsigned long long)tag,
		       t_errname(ret));
		return T_EXIT_FAIL;
	}
	ret = T_EXIT_PASS;
	if (cqe->user_data != tag || cqe->res) {
		t_diag("CQE user_data 0x%llx res %d, want tag 0x%llx res 0",
		       (unsigned long long)cqe->user_data, cqe->res,
		       (unsigned long long)tag);
		ret = T_EXIT_FAIL;
	}
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

/* Replaces buffer slot 0 with @iov tagged @tag, then with @back untagged. */
static int tag_buffer_then_replace(struct io_uring *ring,
				   const struct iovec *iov,
				   const struct iovec *back, __u64 tag)
{
	int ret;

	ret = t_update(ring, 0, iov, tag);
	if (ret) {
		t_diag("update buffer slot 0 with a tag: %s", t_errname(ret));
		return T_EXIT_FAIL;
	}
	ret = t_update(ring, 0, back, 0);
	if (ret) {
		t_diag("update buffer slot 0 without a tag: %s",
		       t_errname(ret));
		return T_EXIT_FAIL;
	}
	return expect_tag(ring, tag);
}

static int test_buffer_tag_by_update(void)
{
	static char bufs[3][T_PAGE] __attribute__((aligned(T_PAGE)));
	struct iovec iov[2] = {
		{ bufs[0], T_PAGE }, { bufs[1], T_PAGE },
	};
	struct iovec next = { bufs[2], T_PAGE };
	struct io_uring ring;
	int ret;

	ret = t_ring_setup(&ring);
	if (ret)
		return ret;
	ret = io_uring_register_buffers(&ring, iov, 2);
	if (ret) {
		t_diag("register buffers without tags: %s", t_errname(ret));
		io_uring_queue_exit(&ring);
		return T_EXIT_FAIL;
	}
	/* the untagged buffer in slot 0 goes quietly, the tagged one not */
	ret = tag_buffer_then_replace(&ring, &next, &iov[0], BUF_TAG);
	ret = t_unregister_or_fail(&ring, ret);
	if (ret == T_EXIT_PASS)
		ret = expect_cq_empty(&ring, "unregistering the buffers");
	io_uring_queue_exit(&ring);
	return ret;
}

/* IORING_REGISTER_FILES_UPDATE2 of slot 0 alone; 0 or -errno. */
static int update_file(struct io_uring *ring, int fd, __u64 tag)
{
	int ret = io_uring_register_files_update_tag(ring, 0, &fd, &tag, 1);

	return ret == 1 ? 0 : ret < 0 ? ret : -EIO;
}

/* Replaces file slot 0 with @fd tagged @tag, then empties it. */
static int tag_slot_then_clear(struct io_uring *ring, int fd, __u64 tag)
{
	int ret;

	ret = update_file(ring, fd, tag);
	if (ret) {
		t_diag("update file slot 0 with a tag: %s", t_errname(ret));
		return T_EXIT_FAIL;
	}
	ret = update_file(ring, -1, 0);
	if (ret) {
		t_diag("empty file slot 0: %s", t_errname(ret));
		return T_EXIT_FAIL;
	}
	return expect_tag(ring, tag);
}

/* The files' twin of t_unregister_or_fail(). */
static int unregister_files_or_fail(struct io_uring *ring, int ret)
{
	int err = io_uring_unregister_files(ring);

	if (err) {
		t_diag("unregister files: %s", t_errname(err));
		return T_EXIT_FAIL;
	}
	return ret;
}

static int test_file_tag_by_update(void)
{
	struct io_uring ring;
	int fds[2] = { -1, -1 }, ret;

	ret = t_ring_setup(&ring);
	if (ret)
		return ret;
	fds[0] = open("/dev/null", O_RDONLY);
	fds[1] = open("/dev/zero", O_RDONLY);
	if (fds[0] < 0 || fds[1] < 0) {
		t_diag("open /dev/null, /dev/zero: %s", strerror(errno));
		ret = T_EXIT_FAIL;
		goto out;
	}
	ret = io_uring_register_files(&ring, fds, 2);
	if (ret) {
		t_diag("register files without tags: %s", t_errname(ret));
		ret = T_EXIT_FAIL;
		goto out;
	}
	ret = tag_slot_then_clear(&ring, fds[1], FILE_TAG);
	ret = unregister_files_or_fail(&ring, ret);
	if (ret == T_EXIT_PASS)
		ret = expect_cq_empty(&ring, "unregistering the files");
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	io_uring_queue_exit(&ring);
	return ret;
}

/* Opens /dev/null straight into slot 0 of the ring's files; cqe->res. */
static int open_direct(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	int ret, res;

	io_uring_prep_openat_direct(sqe, AT_FDCWD, "/dev/null", O_RDONLY, 0, 0);
	sqe->user_data = 1;
	ret = io_uring_submit(ring);
	if (ret != 1)
		return ret < 0 ? ret : -EIO;
	ret = t_wait_user_data(ring, 1, T_WAIT_MS, &res);
	return ret ? ret : res;
}

static int test_direct_open_then_tag(void)
{
	struct io_uring ring;
	int fd = -1, ret;

	ret = t_ring_setup(&ring);
	if (ret)
		return ret;
	ret = io_uring_register_files_sparse(&ring, 1);
	if (ret == -EINVAL) {
		ret = t_skip("no sparse file tables");
		goto out;
	}
	if (ret) {
		t_diag("register a sparse file table: %s", t_errname(ret));
		ret = T_EXIT_FAIL;
		goto out;
	}
	ret = open_direct(&ring);
	if (ret == -EINVAL || ret == -EBADF) {
		ret = t_skip("no direct descriptors for openat (%s)",
			     t_errname(ret));
		goto unregister;
	}
	if (ret) {
		t_diag("openat into slot 0: %s", t_errname(ret));
		ret = T_EXIT_FAIL;
		goto unregister;
	}
	fd = open("/dev/zero", O_RDONLY);
	if (fd < 0) {
		t_diag("open /dev/zero: %s", strerror(errno));
		ret = T_EXIT_FAIL;
		goto unregister;
	}
	/* the directly opened file goes untagged, the new one is tagged */
	ret = tag_slot_then_clear(&ring, fd, DIRECT_TAG);
	close(fd);
unregister:
	ret = unregister_files_or_fail(&ring, ret);
	if (ret == T_EXIT_PASS)
		ret = expect_cq_empty(&ring, "unregistering the files");
out:
	io_uring_queue_exit(&ring);
	return ret;
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "buffers registered untagged, tagged by update",
		  test_buffer_tag_by_update },
		{ "files registered untagged, tagged by update",
		  test_file_tag_by_update },
		{ "file opened into an untagged table, tagged by update",
		  test_direct_open_then_tag },
	};

	return t_run_cases(cases, T_ARRAY_SIZE(cases));
}
