/* SPDX-License-Identifier: MIT */
/*
 * Checks that a registered buffer let go of is released as soon as no
 * request uses it: after BUFFERS_UPDATE or unregister with nothing in
 * flight its pins and its VmPin charge are gone when the call returns (read
 * at once, no wait); with a fixed read in flight on it (blocked on an empty
 * pipe) it stays pinned until the read completes, the data lands in it, and
 * then it goes; unregister with a read in flight returns once the read is
 * done, with the buffer gone.
 *
 * Prerequisites: none beyond io_uring (VmPin and /proc/vmstat's FOLL_PIN
 * counters are read; kernels without them SKIP).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define NPAGES	1024		/* 4 MiB of 4 KiB pages */
#define LEN	(NPAGES * T_PAGE)
#define READ_LEN 8192
#define READ_ID	0x5eadUL

static char *buf;

/* VmPin in kB and FOLL_PIN pins held now, read without waiting. */
static int expect_now(long vmpin_kb, long pins, const char *what)
{
	long kb = t_vmpin_kb(), p = t_foll_pins();

	if (kb < 0 || p < 0)
		return t_skip("no VmPin or no nr_foll_pin_* in /proc/vmstat");
	if (kb == vmpin_kb && p == pins)
		return T_EXIT_PASS;
	t_diag("%s: VmPin %ld kB and %ld pins, want %ld kB and %ld pins", what,
	       kb, p, vmpin_kb, pins);
	return T_EXIT_FAIL;
}

/*
 * Waits until an earlier case's buffers are gone, however late the kernel
 * lets go of them, and takes the baseline: VmPin and the pins held.
 */
static int start_case(long *kb0, long *pins0)
{
	int ret = t_vmpin_expect(0, "at the start of the case");

	*kb0 = 0;
	*pins0 = t_foll_pins();
	return ret;
}

/* A sparse table of one slot holding buf. */
static int ring_with_buffer(struct io_uring *ring)
{
	struct iovec iov = { buf, LEN };
	int ret = t_ring_setup(ring);

	if (ret)
		return ret;
	ret = t_register(ring, T_REG_UPDATE, &iov, 1);
	if (ret) {
		t_diag("registering %lu bytes: %s", LEN, t_errname(ret));
		io_uring_queue_exit(ring);
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

static int empty_slot(struct io_uring *ring)
{
	struct iovec none = { NULL, 0 };
	int ret = t_update(ring, 0, &none, 0);

	if (ret)
		t_diag("emptying the slot: %s", t_errname(ret));
	return ret ? T_EXIT_FAIL : T_EXIT_PASS;
}

static int test_update_idle(void)
{
	struct io_uring ring;
	long kb0, pins0;
	int ret;

	ret = start_case(&kb0, &pins0);
	if (ret)
		return ret;
	ret = ring_with_buffer(&ring);
	if (!ret)
		ret = expect_now(kb0 + LEN / 1024, pins0 + NPAGES, "registered");
	if (!ret)
		ret = empty_slot(&ring);
	if (!ret)
		ret = expect_now(kb0, pins0, "slot emptied, nothing in flight");
	io_uring_queue_exit(&ring);
	return ret;
}

static int test_unregister_idle(void)
{
	struct io_uring ring;
	long kb0, pins0;
	int ret, res;

	ret = start_case(&kb0, &pins0);
	if (!ret)
		ret = ring_with_buffer(&ring);
	if (ret)
		return ret;
	res = io_uring_unregister_buffers(&ring);
	if (res) {
		t_diag("unregister: %s", t_errname(res));
		ret = T_EXIT_FAIL;
	}
	if (!ret)
		ret = expect_now(kb0, pins0, "unregistered, nothing in flight");
	io_uring_queue_exit(&ring);
	return ret;
}

/* Queues a fixed read of READ_LEN bytes at buf + 100 from fd. */
static int submit_read(struct io_uring *ring, int fd)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	int ret;

	io_uring_prep_read_fixed(sqe, fd, buf + 100, READ_LEN, 0, 0);
	sqe->user_data = READ_ID;
	ret = io_uring_submit(ring);
	if (ret != 1) {
		t_diag("submitting the fixed read: %s", t_errname(ret));
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

/* Writes the pattern into the pipe and waits for the read to bring it. */
static int complete_read(struct io_uring *ring, int fd)
{
	static char data[READ_LEN];
	int ret, res;

	t_fill(data, READ_LEN, 77, 0);
	if (write(fd, data, READ_LEN) != READ_LEN) {
		t_diag("writing the pipe: %s", strerror(errno));
		return T_EXIT_FAIL;
	}
	ret = t_wait_user_data(ring, READ_ID, T_WAIT_MS, &res);
	if (ret || res != READ_LEN) {
		t_diag("fixed read: %s, res %d, want %d", t_errname(ret), res,
		       READ_LEN);
		return T_EXIT_FAIL;
	}
	return t_verify(buf + 100, READ_LEN, 77, 0, "data read into the old buffer");
}

static int test_update_inflight(void)
{
	struct io_uring ring;
	long kb0, pins0;
	int fds[2], ret;

	ret = start_case(&kb0, &pins0);
	if (ret)
		return ret;
	if (pipe(fds))
		return T_EXIT_FAIL;
	ret = ring_with_buffer(&ring);
	if (!ret)
		ret = submit_read(&ring, fds[0]);
	if (!ret)
		ret = empty_slot(&ring);
	/* the read holds the old buffer */
	if (!ret)
		ret = expect_now(kb0 + LEN / 1024, pins0 + NPAGES,
				 "slot emptied, a read in flight on it");
	if (!ret)
		ret = complete_read(&ring, fds[1]);
	if (!ret)
		ret = t_vmpin_expect(kb0, "after the read completed");
	if (!ret)
		ret = expect_now(kb0, pins0, "after the read completed");
	io_uring_queue_exit(&ring);
	close(fds[0]);
	close(fds[1]);
	return ret;
}

struct writer {
	int fd;
	int ret;
};

/* Lets unregister start waiting, then completes the read. */
static void *late_writer(void *arg)
{
	static char data[READ_LEN];
	struct writer *w = arg;

	usleep(300 * 1000);
	t_fill(data, READ_LEN, 77, 0);
	w->ret = write(w->fd, data, READ_LEN) == READ_LEN ? 0 : -errno;
	return NULL;
}

static int test_unregister_inflight(void)
{
	struct writer w = { .ret = 0 };
	long kb0, pins0;
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	pthread_t thread;
	int fds[2], ret, res;

	ret = start_case(&kb0, &pins0);
	if (ret)
		return ret;
	if (pipe(fds))
		return T_EXIT_FAIL;
	w.fd = fds[1];
	ret = ring_with_buffer(&ring);
	if (!ret)
		ret = submit_read(&ring, fds[0]);
	if (ret)
		goto out;
	if (pthread_create(&thread, NULL, late_writer, &w)) {
		ret = T_EXIT_FAIL;
		goto out;
	}
	res = io_uring_unregister_buffers(&ring);
	pthread_join(thread, NULL);
	if (res || w.ret) {
		t_diag("unregister with a read in flight: %s (writer: %s)",
		       t_errname(res), t_errname(w.ret));
		ret = T_EXIT_FAIL;
		goto out;
	}
	ret = expect_now(kb0, pins0, "unregistered after the read");
	if (!ret && (t_next_cqe(&ring, T_WAIT_MS, &cqe) ||
		     cqe->user_data != READ_ID || cqe->res != READ_LEN)) {
		t_diag("the read's CQE is missing or wrong");
		ret = T_EXIT_FAIL;
	}
	if (!ret)
		ret = t_verify(buf + 100, READ_LEN, 77, 0, "data read");
out:
	io_uring_queue_exit(&ring);
	close(fds[0]);
	close(fds[1]);
	return ret;
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "update with nothing in flight releases before it returns",
		  test_update_idle },
		{ "unregister with nothing in flight releases before it returns",
		  test_unregister_idle },
		{ "update with a fixed read in flight: released when it completes",
		  test_update_inflight },
		{ "unregister with a fixed read in flight: waits for it, then released",
		  test_unregister_inflight },
	};
	int ret = t_alloc(T_MEM_ANON, LEN, &buf, NULL);

	if (ret)
		return ret;
	memset(buf, 0, LEN);
	return t_run_cases(cases, T_ARRAY_SIZE(cases));
}
