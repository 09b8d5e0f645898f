/* SPDX-License-Identifier: MIT */
/*
 * Checks the bound on the pins one ring may hold on a huge page: a 2 MiB
 * hugetlbfs page mapped at 512 consecutive addresses is 1 GiB of pins on
 * that one page, and two such buffers take the ring to 1024 pins per page
 * of it (GUP_PIN_COUNTING_BIAS, the refcount weight of the same memlock
 * charge in 4 KiB pins). One more 4 KiB of it is refused with -ETOOMANYREFS,
 * pinning and charging nothing; once one of the big buffers goes, it fits.
 * Kernels without the bound (6.1, mainline) accept it: the case SKIPs there.
 *
 * Prerequisites: root; one free 2 MiB hugepage and hugetlbfs at
 * /dev/hugepages (SKIP without).
 */
#include <errno.h>
#include <stdio.h>

#include "helpers.h"

#define ALIASES		512

static int expect(long kb, long pins, const char *what)
{
	if (t_vmpin_kb() == kb && t_foll_pins() == pins)
		return T_EXIT_PASS;
	t_diag("%s: VmPin %ld kB and %ld pins, want %ld kB and %ld pins", what,
	       t_vmpin_kb(), t_foll_pins(), kb, pins);
	return T_EXIT_FAIL;
}

static int test_pin_bound(void)
{
	const struct iovec giga = { NULL, ALIASES * T_SZ_2M };
	struct iovec iov[2] = { giga, giga }, more;
	struct io_uring ring;
	long kb, pins;
	char *buf;
	int ret, res;

	ret = t_alias_map(T_MEM_HUGETLBFS, T_SZ_2M, ALIASES, &buf);
	if (ret)
		return ret;
	iov[0].iov_base = iov[1].iov_base = buf;
	more = (struct iovec){ buf + T_PAGE, T_PAGE };
	ret = t_ring_setup(&ring);
	if (ret)
		goto out_unmap;
	res = io_uring_register_buffers_sparse(&ring, 3);
	if (!res)
		res = t_update(&ring, 0, &iov[0], 0);
	if (!res)
		res = t_update(&ring, 1, &iov[1], 0);
	if (res) {
		t_diag("two buffers of 1 GiB over one page: %s", t_errname(res));
		ret = T_EXIT_FAIL;
		goto out_ring;
	}
	kb = t_vmpin_kb();
	pins = t_foll_pins();
	res = t_update(&ring, 2, &more, 0);
	if (!res) {
		ret = t_skip("this kernel has no bound on a ring's pins per page");
	} else if (res != -ETOOMANYREFS) {
		t_diag("4 KiB more of a page pinned 1024 times per 4 KiB: %s, want -ETOOMANYREFS",
		       t_errname(res));
		ret = T_EXIT_FAIL;
	}
	if (!ret)
		ret = expect(kb, pins, "after -ETOOMANYREFS");
	if (!ret) {
		struct iovec none = { NULL, 0 };

		res = t_update(&ring, 0, &none, 0);
		if (!res)
			res = t_update(&ring, 0, &more, 0);
		if (res) {
			t_diag("4 KiB of it with one big buffer gone: %s, want 0",
			       t_errname(res));
			ret = T_EXIT_FAIL;
		}
	}
	ret = t_unregister_or_fail(&ring, ret);
out_ring:
	io_uring_queue_exit(&ring);
out_unmap:
	t_unreserve(buf, ALIASES * T_SZ_2M);
	return ret;
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "a 2M page pinned 1024 times per 4K: more is -ETOOMANYREFS",
		  test_pin_bound },
	};

	return t_run_cases(cases, T_ARRAY_SIZE(cases));
}
