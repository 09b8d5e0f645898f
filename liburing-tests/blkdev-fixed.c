/* SPDX-License-Identifier: MIT */
/*
 * Drives the block consumers of registered buffers with coalesced buffers,
 * on the real drivers of the devices qemu emulates (vm/run.sh): O_DIRECT
 * fixed reads and writes on the NVMe namespace and on the virtio-blk disk,
 * and NVMe passthrough (IORING_OP_URING_CMD with IORING_URING_CMD_FIXED on
 * /dev/ng0n1). Each buffer kind (2 MiB hugetlb, THP, a 1 GiB page, a layout
 * mixing 4 KiB, THP and hugetlb pieces, a buffer starting mid-folio) is
 * written to the device and read back at offsets and lengths that cross its
 * segment boundaries; every byte is checked, also through a plain O_DIRECT
 * pread. A passthrough transfer larger than the device's max_hw_sectors_kb
 * must fail with -EINVAL and leave memory alone.
 *
 * Prerequisites: root; /dev/nvme0n1, /dev/ng0n1 and /dev/vda (SKIP without
 * them); free hugepages for the hugetlb kinds (SKIP per kind without them).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/nvme_ioctl.h>

#include "helpers.h"

#define NVME_BLK	"/dev/nvme0n1"
#define NVME_CHAR	"/dev/ng0n1"
#define VIRTIO_BLK	"/dev/vda"
#define LBA		512
#define NVME_READ	0x02
#define NVME_WRITE	0x01

enum kind { K_HUGETLB, K_THP, K_GIGA, K_MIXED, K_MID, K_NR };

static const char *const kind_name[K_NR] = {
	"2 MiB hugetlb", "THP", "1 GiB hugetlb", "4 KiB + THP + hugetlb",
	"THP from mid-folio",
};

/* A registered buffer under test: [buf, buf + len) at buffer index 0. */
struct tbuf {
	struct t_layout layout;
	char *buf;
	size_t len;
	char *check;		/* O_DIRECT bounce for pread checks */
};

static int tbuf_map(struct tbuf *b, enum kind k)
{
	static const struct t_piece mixed[] = {
		{ T_MEM_ANON, 3 * T_PAGE }, { T_MEM_THP, T_SZ_2M },
		{ T_MEM_HUGETLB_2M, T_SZ_2M }, { T_MEM_ANON, T_PAGE },
	};
	struct t_piece one;
	int ret;

	switch (k) {
	case K_HUGETLB:
		one = (struct t_piece){ T_MEM_HUGETLB_2M, 2 * T_SZ_2M };
		break;
	case K_THP:
	case K_MID:
		one = (struct t_piece){ T_MEM_THP, 2 * T_SZ_2M };
		break;
	case K_GIGA:
		one = (struct t_piece){ T_MEM_HUGETLB_1G, T_SZ_1G };
		break;
	default:
		one = mixed[0];
		break;
	}
	if (k == K_MIXED)
		ret = t_layout_map(&b->layout, mixed, T_ARRAY_SIZE(mixed));
	else
		ret = t_layout_map(&b->layout, &one, 1);
	if (ret)
		return ret;
	b->buf = b->layout.buf;
	b->len = b->layout.len;
	if (k == K_MID) {
		/* starts 3 pages and 512 bytes into the first THP */
		b->buf += 3 * T_PAGE + LBA;
		b->len -= 3 * T_PAGE + LBA;
	}
	if (k == K_GIGA)
		b->len = 8 * T_SZ_2M;	/* 16 MiB of it is plenty to cross */
	if (posix_memalign((void **)&b->check, T_PAGE, 4 * T_SZ_2M)) {
		t_layout_unmap(&b->layout);
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

static void tbuf_unmap(struct tbuf *b)
{
	free(b->check);
	t_layout_unmap(&b->layout);
}

/*
 * (offset in the buffer, length) of each transfer: within a segment, across
 * one 2 MiB boundary from just before it, across two, and one of LBA bytes.
 */
static const struct {
	size_t off, len;
} transfers[] = {
	{ 0, 8 * T_PAGE },
	{ T_SZ_2M - 3 * LBA, 6 * LBA },
	{ T_SZ_2M - 32 * T_PAGE - LBA, 64 * T_PAGE },
	{ T_SZ_2M / 2 + LBA, T_SZ_2M + 5 * LBA },
	{ 3 * T_SZ_2M - LBA, LBA },
};

/* Device offset for transfer i of kind k: disjoint for every pair. */
static off_t dev_off(enum kind k, unsigned int i)
{
	return ((off_t)k * 8 + i) * 4 * T_SZ_2M;
}

struct passthru {
	int fd;
	__u32 nsid;
	size_t max_bytes;	/* max_hw_sectors_kb */
};

/* One NVMe read or write of len bytes at byte offset off via uring_cmd. */
static int nvme_io(struct io_uring *ring, const struct passthru *p, bool write,
		   void *addr, size_t len, off_t off)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct nvme_uring_cmd cmd = { 0 };
	__u64 slba = off / LBA;
	int ret, res;

	if (!sqe)
		return -EBUSY;
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = p->fd;
	sqe->cmd_op = NVME_URING_CMD_IO;
	sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
	sqe->buf_index = 0;
	sqe->user_data = 0x17;
	cmd.opcode = write ? NVME_WRITE : NVME_READ;
	cmd.nsid = p->nsid;
	cmd.addr = (__u64)(uintptr_t)addr;
	cmd.data_len = len;
	cmd.cdw10 = slba & 0xffffffff;
	cmd.cdw11 = slba >> 32;
	cmd.cdw12 = len / LBA - 1;
	/* an SQE128 ring: the command fills the second half of the entry */
	memcpy((char *)(uintptr_t)sqe + offsetof(struct io_uring_sqe, cmd), &cmd,
	       sizeof(cmd));
	ret = io_uring_submit(ring);
	if (ret != 1)
		return ret < 0 ? ret : -EIO;
	ret = t_wait_user_data(ring, 0x17, T_WAIT_MS, &res);
	return ret ? ret : res;
}

static int direct_io(struct io_uring *ring, int fd, bool write, void *addr,
		     size_t len, off_t off)
{
	int res = t_fixed_io(ring, write, fd, addr, len, off, 0);

	return res == (int)len ? 0 : res < 0 ? res : -EIO;
}

/*
 * Writes a fresh pattern from the buffer to the device at off, checks it
 * with a plain O_DIRECT pread, then reads it back into the buffer, after
 * clearing it, and checks it there, guards around it included.
 */
static int round_trip(struct io_uring *ring, const struct tbuf *b, int blk,
		      const struct passthru *p, size_t boff, size_t len,
		      off_t off, const char *what)
{
	unsigned int seed = t_seed();
	char *at = b->buf + boff;
	size_t gl = boff >= LBA ? LBA : boff;
	size_t gr = b->len - boff - len >= LBA ? LBA : b->len - boff - len;
	int ret;

	t_fill(at, len, seed, 0);
	ret = p ? nvme_io(ring, p, true, at, len, off) :
		  direct_io(ring, blk, true, at, len, off);
	if (ret) {
		t_diag("%s: write of %zu bytes at +%zu: %s", what, len, boff,
		       t_errname(ret));
		return T_EXIT_FAIL;
	}
	if (pread(blk, b->check, len, off) != (ssize_t)len) {
		t_diag("%s: pread: %s", what, strerror(errno));
		return T_EXIT_FAIL;
	}
	ret = t_verify(b->check, len, seed, 0, what);
	if (ret)
		return ret;
	memset(at - gl, 0x5a, gl + len + gr);
	ret = p ? nvme_io(ring, p, false, at, len, off) :
		  direct_io(ring, blk, false, at, len, off);
	if (ret) {
		t_diag("%s: read of %zu bytes at +%zu: %s", what, len, boff,
		       t_errname(ret));
		return T_EXIT_FAIL;
	}
	ret = t_verify(at, len, seed, 0, what);
	for (size_t i = 0; !ret && i < gl + gr; i++) {
		char c = i < gl ? at[-1 - (long)i] : at[len + i - gl];

		if (c != 0x5a) {
			t_diag("%s: a read of %zu bytes at +%zu wrote outside it",
			       what, len, boff);
			ret = T_EXIT_FAIL;
		}
	}
	return ret;
}

static int open_dev(const char *path, int flags, int *fd)
{
	*fd = open(path, flags);
	if (*fd < 0)
		return t_skip("no %s (%s): vm/run.sh gives the guest one",
			      path, strerror(errno));
	return T_EXIT_PASS;
}

/* Every transfer of every kind through blk (O_DIRECT) or passthrough p. */
static int run_kind(enum kind k, const char *dev, const struct passthru *p)
{
	struct iovec iov;
	struct io_uring ring;
	struct io_uring_params params = {
		.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQE32,
	};
	struct tbuf b;
	char what[128];
	unsigned int i;
	int blk, ret;

	ret = open_dev(dev, O_RDWR | O_DIRECT, &blk);
	if (ret)
		return ret;
	ret = tbuf_map(&b, k);
	if (ret)
		goto out_fd;
	if (io_uring_queue_init_params(8, &ring, &params)) {
		ret = T_EXIT_FAIL;
		goto out_buf;
	}
	iov.iov_base = b.buf;
	iov.iov_len = b.len;
	ret = t_register_or_skip(&ring, &iov, 1, k == K_MIXED);
	for (i = 0; !ret && i < T_ARRAY_SIZE(transfers); i++) {
		size_t off = transfers[i].off, len = transfers[i].len;

		/* passthrough does not split: past max_hw_sectors is -EINVAL */
		if (off + len > b.len || (p && len > p->max_bytes))
			continue;
		snprintf(what, sizeof(what), "%s, %s, %zu bytes at +%zu",
			 p ? NVME_CHAR : dev, kind_name[k], len, off);
		ret = round_trip(&ring, &b, blk, p, off, len, dev_off(k, i),
				 what);
	}
	io_uring_queue_exit(&ring);
out_buf:
	tbuf_unmap(&b);
out_fd:
	close(blk);
	return ret;
}

static long sysfs_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int passthru_open(struct passthru *p)
{
	int ret = open_dev(NVME_CHAR, O_RDWR, &p->fd);
	long kb = sysfs_long("/sys/block/nvme0n1/queue/max_hw_sectors_kb");

	if (ret)
		return ret;
	ret = ioctl(p->fd, NVME_IOCTL_ID);
	if (ret <= 0 || kb <= 0) {
		t_diag("namespace id %d, max_hw_sectors_kb %ld", ret, kb);
		close(p->fd);
		return T_EXIT_FAIL;
	}
	p->nsid = ret;
	p->max_bytes = kb * 1024;
	return T_EXIT_PASS;
}

/*
 * A passthrough transfer past max_hw_sectors_kb is refused with -EINVAL,
 * touching neither the buffer nor the device.
 */
static int test_passthru_too_large(void)
{
	struct io_uring_params params = {
		.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQE32,
	};
	struct io_uring ring;
	struct passthru p;
	struct iovec iov;
	struct tbuf b;
	size_t len;
	int ret, res;

	ret = passthru_open(&p);
	if (ret)
		return ret;
	len = p.max_bytes + 8 * LBA;
	ret = tbuf_map(&b, K_THP);
	if (ret)
		goto out_fd;
	if (len > b.len || io_uring_queue_init_params(8, &ring, &params)) {
		ret = T_EXIT_FAIL;
		goto out_buf;
	}
	iov.iov_base = b.buf;
	iov.iov_len = b.len;
	ret = t_register_or_skip(&ring, &iov, 1, false);
	if (!ret) {
		memset(b.buf, 0x3c, len);
		res = nvme_io(&ring, &p, false, b.buf, len, 0);
		if (res != -EINVAL) {
			t_diag("reading %zu bytes, max_hw_sectors_kb %zu: %s, want -EINVAL",
			       len, p.max_bytes / 1024, t_errname(res));
			ret = T_EXIT_FAIL;
		}
		for (size_t i = 0; !ret && i < len; i++)
			if (b.buf[i] != 0x3c) {
				t_diag("a refused read changed byte %zu", i);
				ret = T_EXIT_FAIL;
			}
	}
	io_uring_queue_exit(&ring);
out_buf:
	tbuf_unmap(&b);
out_fd:
	close(p.fd);
	return ret;
}

#define KIND_CASES(tag, k)						\
	static int test_nvme_##tag(void)				\
	{								\
		return run_kind(k, NVME_BLK, NULL);			\
	}								\
	static int test_virtio_##tag(void)				\
	{								\
		return run_kind(k, VIRTIO_BLK, NULL);			\
	}								\
	static int test_passthru_##tag(void)				\
	{								\
		struct passthru p;					\
		int ret = passthru_open(&p);				\
									\
		if (!ret) {						\
			ret = run_kind(k, NVME_BLK, &p);		\
			close(p.fd);					\
		}							\
		return ret;						\
	}

KIND_CASES(hugetlb, K_HUGETLB)
KIND_CASES(thp, K_THP)
KIND_CASES(giga, K_GIGA)
KIND_CASES(mixed, K_MIXED)
KIND_CASES(mid, K_MID)

int main(void)
{
	static const struct t_case cases[] = {
		{ "O_DIRECT on NVMe, 2 MiB hugetlb", test_nvme_hugetlb },
		{ "O_DIRECT on NVMe, THP", test_nvme_thp },
		{ "O_DIRECT on NVMe, 1 GiB page", test_nvme_giga },
		{ "O_DIRECT on NVMe, mixed folios", test_nvme_mixed },
		{ "O_DIRECT on NVMe, from mid-folio", test_nvme_mid },
		{ "O_DIRECT on virtio-blk, 2 MiB hugetlb", test_virtio_hugetlb },
		{ "O_DIRECT on virtio-blk, THP", test_virtio_thp },
		{ "O_DIRECT on virtio-blk, 1 GiB page", test_virtio_giga },
		{ "O_DIRECT on virtio-blk, mixed folios", test_virtio_mixed },
		{ "O_DIRECT on virtio-blk, from mid-folio", test_virtio_mid },
		{ "NVMe passthrough, 2 MiB hugetlb", test_passthru_hugetlb },
		{ "NVMe passthrough, THP", test_passthru_thp },
		{ "NVMe passthrough, 1 GiB page", test_passthru_giga },
		{ "NVMe passthrough, mixed folios", test_passthru_mixed },
		{ "NVMe passthrough, from mid-folio", test_passthru_mid },
		{ "NVMe passthrough past max_hw_sectors_kb: -EINVAL",
		  test_passthru_too_large },
	};

	if (geteuid())
		return t_skip("not root: cannot open the block devices");
	return t_run_cases(cases, T_ARRAY_SIZE(cases));
}
