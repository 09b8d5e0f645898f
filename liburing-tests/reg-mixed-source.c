/* SPDX-License-Identifier: MIT */
/*
 * Checks that one buffer mixing anonymous, memfd (shmem) and hugetlb pages
 * registers (result 0) through each interface and carries fixed reads and
 * writes byte for byte, with the memfd part landing in the memfd's own pages.
 *
 * Prerequisites: cwd on ext4 with O_DIRECT; one free 2 MiB hugepage for the
 * hugetlb cases (they SKIP without it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define SMALL	(4 * T_PAGE)

static const struct t_piece anon_memfd[] = {
	{ T_MEM_ANON,		SMALL },
	{ T_MEM_MEMFD,		SMALL },
	{ T_MEM_ANON,		SMALL },
};

static const struct t_piece anon_memfd_hugetlb[] = {
	{ T_MEM_ANON,		SMALL },
	{ T_MEM_MEMFD,		SMALL },
	{ T_MEM_HUGETLB_2M,	T_SZ_2M },
	{ T_MEM_ANON,		SMALL },
};

/* The bytes the ring read into the memfd piece must be in the memfd itself. */
static int check_memfd_piece(const struct t_layout *l, const struct t_piece *p,
			     unsigned int nr)
{
	size_t off = 0;
	unsigned int i;
	char *copy;
	int ret = T_EXIT_PASS;

	for (i = 0; i < nr; off += p[i].len, i++) {
		if (p[i].mem != T_MEM_MEMFD)
			continue;
		copy = malloc(p[i].len);
		if (!copy)
			return T_EXIT_FAIL;
		if (pread(l->fd[i], copy, p[i].len, 0) != (ssize_t)p[i].len ||
		    memcmp(copy, l->buf + off, p[i].len)) {
			t_diag("memfd piece %u does not hold the buffer's bytes", i);
			ret = T_EXIT_FAIL;
		}
		free(copy);
	}
	return ret;
}

/* Ranges that start, end or cross where one memory source meets the next. */
static int check_boundaries(struct io_uring *ring, struct t_file *f,
			    const struct t_layout *l, const struct t_piece *p,
			    unsigned int nr)
{
	size_t off = 0, a = f->direct ? f->dio_align : 1;
	unsigned int i;
	int ret;

	for (i = 0; i + 1 < nr; i++) {
		off += p[i].len;
		ret = t_check_fixed_rw(ring, f, 0, l->buf + off - 2 * a, 4 * a,
				       off - 2 * a, l->buf, l->buf + l->len);
		if (!ret)
			ret = t_check_fixed_rw(ring, f, 0, l->buf + off - T_PAGE,
					       T_PAGE, off - T_PAGE, l->buf,
					       l->buf + l->len);
		if (!ret)
			ret = t_check_fixed_rw(ring, f, 0, l->buf + off, T_PAGE,
					       off, l->buf, l->buf + l->len);
		if (ret) {
			t_diag("  at the boundary between piece %u (%s) and %u (%s)",
			       i, t_mem_name(p[i].mem), i + 1,
			       t_mem_name(p[i + 1].mem));
			return ret;
		}
	}
	return T_EXIT_PASS;
}

static int test_layout(const struct t_piece *p, unsigned int nr, enum t_reg how)
{
	struct io_uring ring;
	struct t_layout l;
	struct t_file f;
	struct iovec iov;
	int direct, ret, res;

	ret = t_ring_setup(&ring);
	if (ret)
		return ret;
	ret = t_layout_map(&l, p, nr);
	if (ret)
		goto out;

	iov.iov_base = l.buf;
	iov.iov_len = l.len;
	res = t_register(&ring, how, &iov, 1);
	if (res) {
		t_diag("registering the mixed buffer via %s: %s, want 0",
		       t_reg_name(how), t_errname(res));
		ret = T_EXIT_FAIL;
		goto out;
	}
	for (direct = 1; direct >= 0 && !ret; direct--) {
		ret = t_file_open(&f, direct);
		if (ret)
			break;
		ret = t_check_fixed_rw(&ring, &f, 0, l.buf, l.len, 0, l.buf,
				       l.buf + l.len);
		if (!ret)
			ret = check_memfd_piece(&l, p, nr);
		if (!ret)
			ret = check_boundaries(&ring, &f, &l, p, nr);
		t_file_close(&f);
	}
	ret = t_unregister_or_fail(&ring, ret);
out:
	t_layout_unmap(&l);
	io_uring_queue_exit(&ring);
	return ret;
}

#define TEST(name, layout, how)						\
	static int name(void)						\
	{								\
		return test_layout(layout, T_ARRAY_SIZE(layout), how);	\
	}

TEST(test_anon_memfd_buffers, anon_memfd, T_REG_BUFFERS)
TEST(test_anon_memfd_buffers2, anon_memfd, T_REG_BUFFERS2)
TEST(test_anon_memfd_update, anon_memfd, T_REG_UPDATE)
TEST(test_anon_memfd_hugetlb_buffers, anon_memfd_hugetlb, T_REG_BUFFERS)
TEST(test_anon_memfd_hugetlb_buffers2, anon_memfd_hugetlb, T_REG_BUFFERS2)
TEST(test_anon_memfd_hugetlb_update, anon_memfd_hugetlb, T_REG_UPDATE)

int main(void)
{
	static const struct t_case cases[] = {
		{ "anon + memfd via REGISTER_BUFFERS", test_anon_memfd_buffers },
		{ "anon + memfd via REGISTER_BUFFERS2", test_anon_memfd_buffers2 },
		{ "anon + memfd via REGISTER_BUFFERS_UPDATE", test_anon_memfd_update },
		{ "anon + memfd + hugetlb via REGISTER_BUFFERS",
		  test_anon_memfd_hugetlb_buffers },
		{ "anon + memfd + hugetlb via REGISTER_BUFFERS2",
		  test_anon_memfd_hugetlb_buffers2 },
		{ "anon + memfd + hugetlb via REGISTER_BUFFERS_UPDATE",
		  test_anon_memfd_hugetlb_update },
	};

	return t_run_cases(cases, T_ARRAY_SIZE(cases));
}
