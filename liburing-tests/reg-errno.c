/* SPDX-License-Identifier: MIT */
/*
 * Checks the result of registering a buffer for each memory type and each
 * broken layout, through IORING_REGISTER_BUFFERS, IORING_REGISTER_BUFFERS2 and
 * IORING_REGISTER_BUFFERS_UPDATE: accepted buffers must carry fixed reads and
 * writes byte for byte, refused ones must leave the ring usable.
 *
 * Prerequisites: root; cwd on ext4 with O_DIRECT; for some rows THP mode
 * madvise or always, hugetlbfs at /dev/hugepages and free 2 MiB hugepages
 * (rows SKIP without them).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "helpers.h"

#define RW		(PROT_READ | PROT_WRITE)
#define NPAGES		4
#define LEN4		(NPAGES * T_PAGE)
#define LAST		(NPAGES - 1)

/* One page of a buffer made different from the rest. */
enum spot {
	SPOT_NONE,
	SPOT_MEM,	/* that page is spot_mem, mapped over it with MAP_FIXED */
	SPOT_RDONLY,	/* mprotect(PROT_READ) */
	SPOT_HOLE,	/* munmap */
	SPOT_PROTNONE,	/* mprotect(PROT_NONE) */
};

struct row {
	const char *name;
	enum t_mem mem;
	size_t len;
	int prot;
	enum spot spot;
	enum t_mem spot_mem;
	int spot_page;
};

/* the whole buffer is one memory type */
#define WHOLE(n, m, l, p)	{ .name = n, .mem = m, .len = l, .prot = p }
/* NPAGES of anon 4K with one page changed */
#define ONE_PAGE(n, s, sm, pg)	{ .name = n, .mem = T_MEM_ANON, .len = LEN4, \
				  .prot = RW, .spot = s, .spot_mem = sm, \
				  .spot_page = pg }

static const struct row rows[] = {
	WHOLE("anon 4K",			T_MEM_ANON,		LEN4,	 RW),
	WHOLE("anon THP",			T_MEM_THP,		T_SZ_2M, RW),
	WHOLE("MAP_SHARED anon",		T_MEM_ANON_SHARED,	LEN4,	 RW),
	WHOLE("memfd",				T_MEM_MEMFD,		LEN4,	 RW),
	WHOLE("tmpfs file MAP_SHARED",		T_MEM_TMPFS,		LEN4,	 RW),
	WHOLE("hugetlbfs file",			T_MEM_HUGETLBFS,	T_SZ_2M, RW),
	WHOLE("MAP_HUGETLB 2M",			T_MEM_HUGETLB_2M,	T_SZ_2M, RW),
	WHOLE("ext4 MAP_PRIVATE rw",		T_MEM_EXT4_PRIVATE,	LEN4,	 RW),
	WHOLE("ext4 MAP_SHARED",		T_MEM_EXT4_SHARED,	LEN4,	 RW),
	ONE_PAGE("ext4 MAP_SHARED first page",	SPOT_MEM, T_MEM_EXT4_SHARED, 0),
	ONE_PAGE("ext4 MAP_SHARED middle page",	SPOT_MEM, T_MEM_EXT4_SHARED, 1),
	ONE_PAGE("ext4 MAP_SHARED last page",	SPOT_MEM, T_MEM_EXT4_SHARED, LAST),
	WHOLE("ext4 MAP_PRIVATE read-only",	T_MEM_EXT4_PRIVATE,	LEN4,	 PROT_READ),
	ONE_PAGE("PROT_READ first page",	SPOT_RDONLY,	T_MEM_ANON, 0),
	ONE_PAGE("PROT_READ middle page",	SPOT_RDONLY,	T_MEM_ANON, 1),
	ONE_PAGE("PROT_READ last page",		SPOT_RDONLY,	T_MEM_ANON, LAST),
	ONE_PAGE("hole at first page",		SPOT_HOLE,	T_MEM_ANON, 0),
	ONE_PAGE("hole at middle page",		SPOT_HOLE,	T_MEM_ANON, 1),
	ONE_PAGE("hole at last page",		SPOT_HOLE,	T_MEM_ANON, LAST),
	ONE_PAGE("PROT_NONE first page",	SPOT_PROTNONE,	T_MEM_ANON, 0),
	ONE_PAGE("PROT_NONE middle page",	SPOT_PROTNONE,	T_MEM_ANON, 1),
	ONE_PAGE("PROT_NONE last page",		SPOT_PROTNONE,	T_MEM_ANON, LAST),
};

/*
 * Pinning for write must fault on any page that is not mapped writable;
 * every writable page may be registered except a MAP_SHARED page of a file
 * that needs dirty tracking, which GUP refuses to pin long term.
 */
static int should(const struct row *r)
{
	if (!(r->prot & PROT_WRITE) || r->spot == SPOT_RDONLY ||
	    r->spot == SPOT_HOLE || r->spot == SPOT_PROTNONE)
		return -EFAULT;
	if (r->mem == T_MEM_EXT4_SHARED ||
	    (r->spot == SPOT_MEM && r->spot_mem == T_MEM_EXT4_SHARED))
		return t_shared_file_errno();
	return 0;
}

static int build(const struct row *r, char **basep)
{
	char *base, *page;
	int ret;

	*basep = NULL;
	ret = t_mem_check(r->mem, r->len);
	if (!ret && r->spot == SPOT_MEM)
		ret = t_mem_check(r->spot_mem, T_PAGE);
	if (ret)
		return ret;
	base = t_reserve(r->len, t_mem_pagesize(r->mem));
	if (!base)
		return T_EXIT_FAIL;
	ret = t_map_fixed(base, r->len, r->mem, r->prot, NULL);
	if (ret)
		goto fail;

	page = base + r->spot_page * T_PAGE;
	switch (r->spot) {
	case SPOT_NONE:
		break;
	case SPOT_MEM:
		ret = t_map_fixed(page, T_PAGE, r->spot_mem, RW, NULL);
		break;
	case SPOT_RDONLY:
		ret = mprotect(page, T_PAGE, PROT_READ) ? T_EXIT_FAIL : 0;
		break;
	case SPOT_HOLE:
		ret = munmap(page, T_PAGE) ? T_EXIT_FAIL : 0;
		break;
	case SPOT_PROTNONE:
		ret = mprotect(page, T_PAGE, PROT_NONE) ? T_EXIT_FAIL : 0;
		break;
	}
	if (ret)
		goto fail;
	*basep = base;
	return T_EXIT_PASS;
fail:
	t_unreserve(base, r->len);
	return ret;
}

static int check_fixed_io(struct io_uring *ring, char *buf, size_t len)
{
	struct t_file f;
	int direct, ret;

	for (direct = 1; direct >= 0; direct--) {
		ret = t_file_open(&f, direct);
		if (ret)
			return ret;
		ret = t_check_fixed_rw(ring, &f, 0, buf, len, 0, buf, buf + len);
		t_file_close(&f);
		if (ret)
			return ret;
	}
	return T_EXIT_PASS;
}

/*
 * After a refused registration nothing may be left registered (or the sparse
 * slot stays empty), and a good buffer registers and works.
 */
static int check_ring_after_failure(struct io_uring *ring, enum t_reg how)
{
	struct iovec iov;
	struct t_file f;
	char *good;
	int ret, res;

	ret = t_alloc(T_MEM_ANON, LEN4, &good, NULL);
	if (ret)
		return ret;
	ret = t_file_open(&f, false);
	if (ret)
		goto out_free;

	ret = T_EXIT_FAIL;
	if (how == T_REG_UPDATE) {
		res = t_fixed_io(ring, false, f.fd, good, T_PAGE, 0, 0);
		if (res != -EFAULT) {
			t_diag("fixed read from the empty slot: %s, want -EFAULT",
			       t_errname(res));
			goto out_file;
		}
		res = io_uring_unregister_buffers(ring);
		if (res) {
			t_diag("unregister the sparse table: %s", t_errname(res));
			goto out_file;
		}
	} else {
		res = io_uring_unregister_buffers(ring);
		if (res != -ENXIO) {
			t_diag("unregister after the failure: %s, want -ENXIO",
			       t_errname(res));
			goto out_file;
		}
	}

	iov.iov_base = good;
	iov.iov_len = LEN4;
	res = t_register(ring, how, &iov, 1);
	if (res) {
		t_diag("registering a good buffer afterwards: %s", t_errname(res));
		goto out_file;
	}
	ret = t_check_fixed_rw(ring, &f, 0, good, LEN4, 0, good, good + LEN4);
	res = io_uring_unregister_buffers(ring);
	if (res) {
		t_diag("unregister the good buffer: %s", t_errname(res));
		ret = T_EXIT_FAIL;
	}
out_file:
	t_file_close(&f);
out_free:
	t_unreserve(good, LEN4);
	return ret;
}

static int test_row(const struct row *r, enum t_reg how)
{
	struct io_uring ring;
	struct iovec iov;
	char *base;
	int ret, did, res;

	ret = t_ring_setup(&ring);
	if (ret)
		return ret;
	ret = build(r, &base);
	if (ret)
		goto out_ring;

	iov.iov_base = base;
	iov.iov_len = r->len;
	did = t_register(&ring, how, &iov, 1);
	if (did != should(r)) {
		t_diag("should %s, did %s", t_errname(should(r)), t_errname(did));
		ret = T_EXIT_FAIL;
	} else if (!did) {
		ret = check_fixed_io(&ring, base, r->len);
		res = io_uring_unregister_buffers(&ring);
		if (res) {
			t_diag("unregister: %s", t_errname(res));
			ret = T_EXIT_FAIL;
		}
	} else {
		ret = check_ring_after_failure(&ring, how);
	}

	t_unreserve(base, r->len);
out_ring:
	io_uring_queue_exit(&ring);
	return ret;
}

int main(void)
{
	unsigned int i;
	int how;

	t_tap_plan(T_ARRAY_SIZE(rows) * T_REG_NR);
	for (i = 0; i < T_ARRAY_SIZE(rows); i++) {
		for (how = 0; how < T_REG_NR; how++)
			t_tap_result(test_row(&rows[i], how), "%s via %s: should %s",
				     rows[i].name, t_reg_name(how),
				     t_errname(should(&rows[i])));
	}
	return t_tap_exit();
}
