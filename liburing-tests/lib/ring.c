/* SPDX-License-Identifier: MIT */
/*
 * Rings, bounded waits for CQEs, and registering buffers through each
 * interface.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helpers.h"

/* ---- rings and registration ---- */

int t_ring_setup(struct io_uring *ring)
{
	return t_ring_setup_sized(ring, 8);
}

int t_ring_setup_sized(struct io_uring *ring, unsigned int entries)
{
	int ret = io_uring_queue_init(entries, ring, 0);

	if (ret == -ENOSYS)
		return t_skip("io_uring not supported by this kernel");
	if (ret == -EPERM)
		return t_skip("io_uring disabled (kernel.io_uring_disabled?)");
	if (ret) {
		t_diag("io_uring_queue_init: %s", strerror(-ret));
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

int t_nop(struct io_uring *ring)
{
	static __u64 next_id = 0x6e6f700000000000ULL;
	__u64 id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
	struct io_uring_sqe *sqe;
	int ret, res;

	sqe = io_uring_get_sqe(ring);
	if (!sqe) {
		t_diag("no free sqe");
		return -EBUSY;
	}
	io_uring_prep_nop(sqe);
	sqe->user_data = id;
	ret = io_uring_submit(ring);
	if (ret != 1) {
		t_diag("io_uring_submit: %d", ret);
		return ret < 0 ? ret : -EIO;
	}
	ret = t_wait_user_data(ring, id, T_WAIT_MS, &res);
	return ret ? ret : res;
}

/* Next CQE before the deadline end (CLOCK_MONOTONIC): 0, -ETIME or -errno. */
static int wait_cqe_until(struct io_uring *ring, const struct timespec *end,
			  struct io_uring_cqe **cqe)
{
	struct __kernel_timespec ts;
	struct timespec now;
	long left_ns;
	int ret;

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left_ns = (end->tv_sec - now.tv_sec) * 1000000000L +
			  end->tv_nsec - now.tv_nsec;
		if (left_ns <= 0)
			return -ETIME;
		ts.tv_sec = left_ns / 1000000000L;
		ts.tv_nsec = left_ns % 1000000000L;
		ret = io_uring_wait_cqe_timeout(ring, cqe, &ts);
		if (ret == -ETIME || ret == -EINTR)
			continue;
		if (ret)
			t_diag("io_uring_wait_cqe_timeout: %s", strerror(-ret));
		return ret;
	}
}

int t_next_cqe(struct io_uring *ring, unsigned int timeout_ms,
	       struct io_uring_cqe **cqe)
{
	struct timespec end;

	t_deadline(&end, timeout_ms);
	return wait_cqe_until(ring, &end, cqe);
}

void t_deadline(struct timespec *end, unsigned long ms)
{
	clock_gettime(CLOCK_MONOTONIC, end);
	end->tv_sec += ms / 1000;
	end->tv_nsec += (ms % 1000) * 1000000L;
	if (end->tv_nsec >= 1000000000L) {
		end->tv_sec++;
		end->tv_nsec -= 1000000000L;
	}
}

bool t_deadline_passed(const struct timespec *end)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > end->tv_sec ||
	       (now.tv_sec == end->tv_sec && now.tv_nsec >= end->tv_nsec);
}

int t_wait_user_data(struct io_uring *ring, __u64 user_data,
		     unsigned int timeout_ms, int *res)
{
	struct io_uring_cqe *cqe;
	struct timespec end;
	int ret;

	t_deadline(&end, timeout_ms);
	for (;;) {
		ret = wait_cqe_until(ring, &end, &cqe);
		if (ret)
			return ret;
		if (cqe->user_data == user_data) {
			*res = cqe->res;
			io_uring_cqe_seen(ring, cqe);
			return 0;
		}
		io_uring_cqe_seen(ring, cqe);
	}
}

int t_wait_tags(struct io_uring *ring, const __u64 *user_data,
		unsigned int nr, unsigned int timeout_ms)
{
	struct io_uring_cqe *cqe;
	unsigned int i, left = nr;
	struct timespec end;
	bool *seen;
	int ret = 0;

	seen = calloc(nr ? nr : 1, sizeof(*seen));
	if (!seen)
		return -ENOMEM;
	t_deadline(&end, timeout_ms);
	while (left) {
		ret = wait_cqe_until(ring, &end, &cqe);
		if (ret)
			break;
		for (i = 0; i < nr; i++) {
			if (!seen[i] && user_data[i] == cqe->user_data) {
				seen[i] = true;
				left--;
				break;
			}
		}
		io_uring_cqe_seen(ring, cqe);
	}
	for (i = 0; ret == -ETIME && i < nr; i++) {
		if (!seen[i]) {
			t_diag("no CQE for tag 0x%llx after %u ms (%u of %u missing)",
			       (unsigned long long)user_data[i], timeout_ms,
			       left, nr);
			break;
		}
	}
	free(seen);
	return ret;
}

const char *t_reg_name(enum t_reg how)
{
	switch (how) {
	case T_REG_BUFFERS:	return "REGISTER_BUFFERS";
	case T_REG_BUFFERS2:	return "REGISTER_BUFFERS2";
	case T_REG_UPDATE:	return "REGISTER_BUFFERS_UPDATE";
	case T_REG_NR:		break;
	}
	return "?";
}

int t_register(struct io_uring *ring, enum t_reg how,
	       const struct iovec *iov, unsigned int nr)
{
	__u64 tags[64];
	unsigned int i;
	int ret;

	if (nr > T_ARRAY_SIZE(tags)) {
		t_diag("t_register: %u buffers, at most %zu", nr, T_ARRAY_SIZE(tags));
		return -E2BIG;
	}
	/* non-zero tags, so the tag bookkeeping is exercised too */
	for (i = 0; i < nr; i++)
		tags[i] = 0x7461670000ULL + i;

	switch (how) {
	case T_REG_BUFFERS:
		return io_uring_register_buffers(ring, iov, nr);
	case T_REG_BUFFERS2:
		return io_uring_register_buffers_tags(ring, iov, tags, nr);
	case T_REG_UPDATE:
		ret = io_uring_register_buffers_sparse(ring, nr);
		if (ret) {
			t_diag("sparse table of %u buffers: %s", nr, strerror(-ret));
			return ret;
		}
		/* one update per slot: a batch would hide a later slot's error */
		for (i = 0; i < nr; i++) {
			ret = t_update(ring, i, &iov[i], tags[i]);
			if (ret)
				return ret;
		}
		return 0;
	case T_REG_NR:
		break;
	}
	return -EINVAL;
}

int t_update(struct io_uring *ring, unsigned int idx, const struct iovec *iov,
	     __u64 tag)
{
	int ret;

	ret = io_uring_register_buffers_update_tag(ring, idx, iov, &tag, 1);
	if (ret < 0)
		return ret;
	if (ret != 1) {
		t_diag("update of slot %u returned %d", idx, ret);
		return -EPROTO;
	}
	return 0;
}

int t_unregister_or_fail(struct io_uring *ring, int ret)
{
	int res = io_uring_unregister_buffers(ring);

	if (res) {
		t_diag("unregister: %s", t_errname(res));
		return T_EXIT_FAIL;
	}
	return ret;
}

int t_register_refused(int res, bool mixed)
{
	if (res == -EINVAL && mixed)
		return t_skip("kernel refuses buffers mixing memory sources (-EINVAL)");
	if (res == -ENOMEM && geteuid())
		return t_skip("registration refused by RLIMIT_MEMLOCK (not root)");
	return 0;
}

int t_register_or_skip(struct io_uring *ring, const struct iovec *iov,
		       unsigned int nr, bool mixed)
{
	int ret = io_uring_register_buffers(ring, iov, nr);

	if (!ret)
		return T_EXIT_PASS;
	if (t_register_refused(ret, mixed))
		return T_EXIT_SKIP;
	t_diag("io_uring_register_buffers of %u buffers: %s", nr, strerror(-ret));
	return T_EXIT_FAIL;
}
