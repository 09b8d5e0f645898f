/* SPDX-License-Identifier: MIT */
/*
 * Waits for CQEs while io-wq workers overflow the CQ ring: a ring with a
 * 2-entry CQ gets batches of IOSQE_ASYNC nops and reaps them one wait at a
 * time, so overflows keep arriving while the task is in io_cqring_wait().
 * Every nop must complete exactly once, with res 0 (IORING_FEAT_NODROP).
 *
 * It also checks the kernel log: 6.1.192 flushed the overflow list under
 * ->uring_lock while still TASK_INTERRUPTIBLE, and a DEBUG_ATOMIC_SLEEP
 * kernel logs a WARNING for it (patch 0002 of the series fixes it), which
 * fails the test, run alone or by runtests.sh. On the unpatched
 * debug kernel under qemu TCG it did in 6 runs of 6 with the VM's two
 * CPUs, and in none of 3 with one: the race wants an io-wq worker posting
 * on another CPU while the task checks for events.
 *
 * Prerequisites: root (to read /dev/kmsg), two online CPUs and
 * IORING_FEAT_NODROP (5.5); SKIPs without.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define RUN_SECONDS	4
#define BATCH		64

/* Queues BATCH async nops, user_data first .. first + BATCH - 1. */
static int submit_batch(struct io_uring *ring, __u64 first)
{
	for (unsigned int i = 0; i < BATCH; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
		int ret;

		if (!sqe) {
			t_diag("no SQE for nop %u", i);
			return T_EXIT_FAIL;
		}
		io_uring_prep_nop(sqe);
		sqe->flags |= IOSQE_ASYNC;
		sqe->user_data = first + i;
		/* the SQ has one entry: submit each on its own */
		ret = io_uring_submit(ring);
		if (ret != 1) {
			t_diag("submitting nop %u: %s", i, t_errname(ret));
			return T_EXIT_FAIL;
		}
	}
	return T_EXIT_PASS;
}

/* Reaps the batch that starts at first, each CQE by its own wait. */
static int reap_batch(struct io_uring *ring, __u64 first)
{
	bool seen[BATCH];

	memset(seen, 0, sizeof(seen));
	for (unsigned int i = 0; i < BATCH; i++) {
		struct io_uring_cqe *cqe;
		__u64 data;
		int ret, res;

		ret = io_uring_wait_cqe(ring, &cqe);
		if (ret) {
			t_diag("waiting for CQE %u of the batch: %s", i,
			       t_errname(ret));
			return T_EXIT_FAIL;
		}
		data = cqe->user_data;
		res = cqe->res;
		io_uring_cqe_seen(ring, cqe);
		if (data < first || data >= first + BATCH || seen[data - first]) {
			t_diag("CQE user_data %llu: not one of %llu..%llu once",
			       (unsigned long long)data,
			       (unsigned long long)first,
			       (unsigned long long)first + BATCH - 1);
			return T_EXIT_FAIL;
		}
		seen[data - first] = true;
		if (res) {
			t_diag("nop %llu: res %s, want 0",
			       (unsigned long long)data, t_errname(res));
			return T_EXIT_FAIL;
		}
	}
	return T_EXIT_PASS;
}

static int test_overflow_while_waiting(void)
{
	struct io_uring_params p;
	struct io_uring ring;
	unsigned long batches = 0;
	struct timespec end;
	int ret;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return t_skip("one CPU: no io-wq worker posts while the task waits");
	memset(&p, 0, sizeof(p));
	ret = io_uring_queue_init_params(1, &ring, &p);
	if (ret) {
		t_diag("ring setup: %s", t_errname(ret));
		return T_EXIT_FAIL;
	}
	if (!(p.features & IORING_FEAT_NODROP)) {
		io_uring_queue_exit(&ring);
		return t_skip("no IORING_FEAT_NODROP: overflowed CQEs may be dropped");
	}

	ret = t_klog_mark();
	t_deadline(&end, RUN_SECONDS * 1000);
	while (ret == T_EXIT_PASS && !t_deadline_passed(&end)) {
		__u64 first = (__u64)batches * BATCH;

		ret = submit_batch(&ring, first);
		if (ret == T_EXIT_PASS)
			ret = reap_batch(&ring, first);
		batches++;
	}
	io_uring_queue_exit(&ring);
	ret = t_klog_check(ret);
	if (ret == T_EXIT_PASS)
		t_diag("%lu batches of %u nops on a %u-entry CQ", batches,
		       BATCH, p.cq_entries);
	return ret;
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "async nops overflow a 2-entry CQ while the task waits",
		  test_overflow_while_waiting },
	};

	return t_run_cases(cases, T_ARRAY_SIZE(cases));
}
