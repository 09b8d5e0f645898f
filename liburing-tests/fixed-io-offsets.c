/* SPDX-License-Identifier: MIT */
/*
 * Checks fixed reads and writes at many offsets and lengths of registered
 * anonymous, hugetlb, THP and mixed buffers, including ranges that cross,
 * start or end on folio boundaries and the whole buffer, byte for byte, with
 * O_DIRECT and buffered I/O.
 *
 * Prerequisites: root (memlock); cwd on ext4 with O_DIRECT; 4 free 2 MiB
 * hugepages and THP mode madvise or always for the hugetlb, THP and mixed
 * buffers (each SKIPs without them). Kernels that refuse mixed buffers
 * (before regbuf) SKIP the mixed one; everything else runs on any kernel.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "helpers.h"

struct buffer {
	const char *name;
	struct t_piece pieces[3];
	unsigned int nr_pieces;
};

static const struct buffer buffers[] = {
	{ "anon 4K x8", { { T_MEM_ANON, 8 * T_PAGE } }, 1 },
	{ "hugetlb 2M x3", { { T_MEM_HUGETLB_2M, 3 * T_SZ_2M } }, 1 },
	{ "THP x2", { { T_MEM_THP, 2 * T_SZ_2M } }, 1 },
	{ "anon 4K x4 + hugetlb 2M + anon 4K x4",
	  { { T_MEM_ANON, 4 * T_PAGE }, { T_MEM_HUGETLB_2M, T_SZ_2M },
	    { T_MEM_ANON, 4 * T_PAGE } }, 3 },
};

#define NR_BUFFERS	T_ARRAY_SIZE(buffers)
#define NR_RANDOM	24

struct target {
	struct io_uring *ring;
	struct t_file *f;
	int index;
	char *buf;
	size_t len;
	size_t align;
	unsigned int nr_cases;
};

/* [lo, hi) clipped to the buffer and rounded inward to the I/O alignment. */
static int check_range(struct target *t, long lo, long hi)
{
	long a = t->align;

	if (lo < 0)
		lo = 0;
	if (hi > (long)t->len)
		hi = t->len;
	lo = (lo + a - 1) / a * a;
	hi = hi / a * a;
	if (hi <= lo)
		return T_EXIT_PASS;
	t->nr_cases++;
	return t_check_fixed_rw(t->ring, t->f, t->index, t->buf + lo, hi - lo,
				lo, t->buf, t->buf + t->len);
}

/* Ranges around one folio boundary b, which lies inside the buffer. */
static int check_boundary(struct target *t, long b, long folio)
{
	long a = t->align;
	int ret;

	ret = check_range(t, b - a, b + a);
	if (!ret)
		ret = check_range(t, b, b + a);
	if (!ret)
		ret = check_range(t, b - a, b);
	if (!ret)
		ret = check_range(t, b - 3 * a, b + 5 * a);
	if (!ret)
		ret = check_range(t, b - (long)T_PAGE, b + (long)T_PAGE);
	if (!ret)
		ret = check_range(t, b, b + folio);
	if (!ret)
		ret = check_range(t, b - folio, b);
	if (!ret)
		ret = check_range(t, b - folio / 2, b + folio / 2 + a);
	if (!ret && a == 1)
		ret = check_range(t, b - 1, b + 1);
	if (!ret && a == 1)
		ret = check_range(t, b - 7, b + 13);
	if (!ret && a == 1)
		ret = check_range(t, b + 1, b + (long)T_PAGE - 1);
	return ret;
}

static int check_target(struct target *t, const struct buffer *b)
{
	unsigned long rnd = 0x2545f491;
	long start = 0, off, folio, len = t->len;
	unsigned int i;
	int ret;

	ret = check_range(t, 0, len);
	if (!ret)
		ret = check_range(t, 0, t->align);
	if (!ret)
		ret = check_range(t, len - t->align, len);
	if (!ret && t->align == 1)
		ret = check_range(t, 1, len - 1);

	for (i = 0; i < b->nr_pieces && !ret; i++) {
		folio = t_mem_pagesize(b->pieces[i].mem);
		for (off = 0; off < (long)b->pieces[i].len && !ret; off += folio) {
			if (start + off > 0)
				ret = check_boundary(t, start + off, folio);
		}
		start += b->pieces[i].len;
	}

	/* reproducible pseudo-random ranges */
	for (i = 0; i < NR_RANDOM && !ret; i++) {
		long lo, hi;

		rnd = rnd * 6364136223846793005UL + 1442695040888963407UL;
		lo = (rnd >> 33) % len;
		rnd = rnd * 6364136223846793005UL + 1442695040888963407UL;
		hi = lo + 1 + (long)((rnd >> 33) % (len - lo));
		ret = check_range(t, lo, hi);
	}
	return ret;
}

static int run_target(struct io_uring *ring, const struct buffer *b,
		      const struct t_layout *l, int index, bool direct)
{
	struct t_file f;
	struct target t = {
		.ring = ring,
		.f = &f,
		.index = index,
		.buf = l->buf,
		.len = l->len,
	};
	int ret;

	ret = t_file_open(&f, direct);
	if (ret)
		return ret;
	t.align = f.dio_align;
	ret = check_target(&t, b);
	t_file_close(&f);
	t_diag("%u ranges checked", t.nr_cases);
	return ret;
}

/*
 * Puts buffer i in slot i of the sparse table. Kernels before the regbuf
 * series refuse a buffer mixing memory sources with -EINVAL: that is
 * reg-mixed-source's to report, here it only skips the mixed buffer.
 */
static int register_slot(struct io_uring *ring, unsigned int i,
			 const struct t_layout *l)
{
	struct iovec iov = { .iov_base = l->buf, .iov_len = l->len };
	int res;

	res = io_uring_register_buffers_update_tag(ring, i, &iov, NULL, 1);
	if (res == 1)
		return T_EXIT_PASS;
	if (t_register_refused(res, buffers[i].nr_pieces > 1))
		return T_EXIT_SKIP;
	t_diag("registering %s in slot %u: %s", buffers[i].name, i,
	       t_errname(res));
	return T_EXIT_FAIL;
}

int main(void)
{
	char reason[NR_BUFFERS][256];
	struct t_layout layouts[NR_BUFFERS];
	int status[NR_BUFFERS], ret;
	struct io_uring ring;
	unsigned int i;

	t_tap_plan(2 * NR_BUFFERS + 1);
	ret = t_ring_setup(&ring);
	if (!ret) {
		ret = io_uring_register_buffers_sparse(&ring, NR_BUFFERS);
		if (ret == -EINVAL)
			ret = t_skip("no sparse buffer tables (kernel before 5.19)");
		else if (ret)
			t_diag("sparse table of %zu buffers: %s", NR_BUFFERS,
			       t_errname(ret));
	}
	if (ret) {
		ret = ret == T_EXIT_SKIP ? ret : T_EXIT_FAIL;
		for (i = 0; i < 2 * NR_BUFFERS + 1; i++)
			t_tap_result(ret, "ring setup");
		return t_tap_exit();
	}

	/* all buffers stay registered together, each in its own slot */
	for (i = 0; i < NR_BUFFERS; i++) {
		status[i] = t_layout_map(&layouts[i], buffers[i].pieces,
					 buffers[i].nr_pieces);
		if (!status[i])
			status[i] = register_slot(&ring, i, &layouts[i]);
		snprintf(reason[i], sizeof(reason[i]), "%s", t_skip_reason());
	}

	for (i = 0; i < 2 * NR_BUFFERS; i++) {
		unsigned int b = i / 2;
		bool direct = !(i % 2);

		if (status[b] == T_EXIT_SKIP)
			ret = t_skip("%s", reason[b]);
		else if (status[b])
			ret = status[b];
		else
			ret = run_target(&ring, &buffers[b], &layouts[b], b, direct);
		t_tap_result(ret, "%s %s", buffers[b].name,
			     direct ? "O_DIRECT" : "buffered");
	}

	ret = io_uring_unregister_buffers(&ring);
	if (ret)
		t_diag("io_uring_unregister_buffers: %s", t_errname(ret));
	t_tap_result(ret ? T_EXIT_FAIL : T_EXIT_PASS, "unregister all buffers");
	for (i = 0; i < NR_BUFFERS; i++)
		t_layout_unmap(&layouts[i]);
	io_uring_queue_exit(&ring);
	return t_tap_exit();
}
