/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers for the regbuf registered-buffer tests (see helpers.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/mman.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <grp.h>
#include <time.h>

#include "helpers.h"

/* Guard bytes checked on each side of a fixed read. */
#define T_GUARD		(64UL << 10)

static __thread char skip_reason[256];
static unsigned int tap_nr, tap_pass, tap_fail, tap_skip;

const char *t_errname(int ret)
{
	static char bufs[4][32];
	static unsigned int next;
	char *buf = bufs[next++ % 4];

	switch (ret) {
	case 0:			return "0";
	case -EFAULT:		return "-EFAULT";
	case -EOPNOTSUPP:	return "-EOPNOTSUPP";
	case -EINVAL:		return "-EINVAL";
	case -ENOMEM:		return "-ENOMEM";
	case -EPERM:		return "-EPERM";
	case -ENXIO:		return "-ENXIO";
	case -EBUSY:		return "-EBUSY";
	case -EOVERFLOW:	return "-EOVERFLOW";
	}
	snprintf(buf, sizeof(bufs[0]), "%d", ret);
	return buf;
}

void t_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

int t_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(skip_reason, sizeof(skip_reason), fmt, ap);
	va_end(ap);
	return T_EXIT_SKIP;
}

const char *t_skip_reason(void)
{
	return skip_reason;
}

void t_tap_plan(unsigned int n)
{
	printf("TAP version 13\n1..%u\n", n);
	fflush(stdout);
}

void t_tap_result(int ret, const char *fmt, ...)
{
	va_list ap;

	tap_nr++;
	printf("%s %u ", ret == T_EXIT_PASS || ret == T_EXIT_SKIP ? "ok" : "not ok",
	       tap_nr);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (ret == T_EXIT_PASS) {
		tap_pass++;
	} else if (ret == T_EXIT_SKIP) {
		tap_skip++;
		printf(" # SKIP %s", skip_reason[0] ? skip_reason : "no reason given");
	} else {
		tap_fail++;
	}
	putchar('\n');
	fflush(stdout);
	skip_reason[0] = '\0';
}

int t_tap_exit(void)
{
	printf("# Totals: pass:%u fail:%u skip:%u\n", tap_pass, tap_fail, tap_skip);
	if (tap_fail)
		return T_EXIT_FAIL;
	if (!tap_pass)
		return T_EXIT_SKIP;
	return T_EXIT_PASS;
}

int t_run_cases(const struct t_case *cases, unsigned int nr)
{
	unsigned int i;

	t_tap_plan(nr);
	for (i = 0; i < nr; i++)
		t_tap_result(cases[i].fn(), "%s", cases[i].name);
	return t_tap_exit();
}

/* ---- memory ---- */

const char *t_mem_name(enum t_mem m)
{
	switch (m) {
	case T_MEM_ANON:		return "anon 4K";
	case T_MEM_THP:			return "anon THP";
	case T_MEM_ANON_SHARED:		return "MAP_SHARED anon";
	case T_MEM_MEMFD:		return "memfd";
	case T_MEM_TMPFS:		return "tmpfs file";
	case T_MEM_HUGETLBFS:		return "hugetlbfs file";
	case T_MEM_HUGETLB_2M:		return "MAP_HUGETLB 2M";
	case T_MEM_HUGETLB_1G:		return "MAP_HUGETLB 1G";
	case T_MEM_EXT4_SHARED:		return "ext4 MAP_SHARED";
	case T_MEM_EXT4_PRIVATE:	return "ext4 MAP_PRIVATE";
	}
	return "?";
}

size_t t_mem_pagesize(enum t_mem m)
{
	switch (m) {
	case T_MEM_THP:
	case T_MEM_HUGETLBFS:
	case T_MEM_HUGETLB_2M:
		return T_SZ_2M;
	case T_MEM_HUGETLB_1G:
		return T_SZ_1G;
	default:
		return T_PAGE;
	}
}

static long read_long(const char *path)
{
	FILE *fp = fopen(path, "r");
	long val = -1;

	if (!fp)
		return -1;
	if (fscanf(fp, "%ld", &val) != 1)
		val = -1;
	fclose(fp);
	return val;
}

long t_hugepages_avail(size_t pagesize)
{
	char path[128];
	long nfree, resv;

	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%zukB/free_hugepages",
		 pagesize >> 10);
	nfree = read_long(path);
	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%zukB/resv_hugepages",
		 pagesize >> 10);
	resv = read_long(path);
	if (nfree < 0 || resv < 0)
		return 0;
	return nfree - resv;
}

static bool fs_is(const char *path, long magic)
{
	struct statfs sfs;

	return !statfs(path, &sfs) && (long)sfs.f_type == magic;
}

static const char *tmpfs_dir(void)
{
	if (fs_is("/tmp", TMPFS_MAGIC))
		return "/tmp";
	if (fs_is("/dev/shm", TMPFS_MAGIC))
		return "/dev/shm";
	return NULL;
}

static int thp_check(void)
{
	char mode[128] = "";
	FILE *fp;

	fp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (!fp)
		return t_skip("no THP support (CONFIG_TRANSPARENT_HUGEPAGE off)");
	if (!fgets(mode, sizeof(mode), fp))
		mode[0] = '\0';
	fclose(fp);
	if (strstr(mode, "[never]"))
		return t_skip("THP mode is never");
	return T_EXIT_PASS;
}

static int hugepage_check(size_t pagesize, size_t len)
{
	long want = len / pagesize, have = t_hugepages_avail(pagesize);

	if (have < want)
		return t_skip("need %ld free %zu MiB hugepages, have %ld",
			      want, pagesize >> 20, have);
	return T_EXIT_PASS;
}

int t_mem_check(enum t_mem m, size_t len)
{
	struct statfs sfs;

	if (!len || len % t_mem_pagesize(m)) {
		t_diag("%s: length %zu is not a multiple of %zu", t_mem_name(m),
		       len, t_mem_pagesize(m));
		return T_EXIT_FAIL;
	}
	switch (m) {
	case T_MEM_THP:
		return thp_check();
	case T_MEM_HUGETLB_2M:
		return hugepage_check(T_SZ_2M, len);
	case T_MEM_HUGETLB_1G:
		return hugepage_check(T_SZ_1G, len);
	case T_MEM_HUGETLBFS:
		if (statfs("/dev/hugepages", &sfs) ||
		    sfs.f_type != (typeof(sfs.f_type))HUGETLBFS_MAGIC)
			return t_skip("hugetlbfs not mounted at /dev/hugepages");
		if ((size_t)sfs.f_bsize != T_SZ_2M)
			return t_skip("/dev/hugepages page size is %ld, not 2 MiB",
				      (long)sfs.f_bsize);
		return hugepage_check(T_SZ_2M, len);
	case T_MEM_TMPFS:
		if (!tmpfs_dir())
			return t_skip("neither /tmp nor /dev/shm is tmpfs");
		return T_EXIT_PASS;
	case T_MEM_EXT4_SHARED:
	case T_MEM_EXT4_PRIVATE:
		if (!fs_is(".", EXT4_SUPER_MAGIC))
			return t_skip("cwd is not on ext4");
		return T_EXIT_PASS;
	default:
		return T_EXIT_PASS;
	}
}

char *t_reserve(size_t len, size_t align)
{
	char *p, *base;
	size_t head;

	p = mmap(NULL, len + align, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		t_diag("reserve %zu bytes: %s", len + align, strerror(errno));
		return NULL;
	}
	base = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	head = base - p;
	if (head)
		munmap(p, head);
	if (align - head)
		munmap(base + len, align - head);
	return base;
}

void t_unreserve(char *base, size_t len)
{
	if (base)
		munmap(base, len);
}

static int create_file(const char *dir, size_t len)
{
	static unsigned int nr;
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/regbuf-%d-%u", dir, getpid(),
		 __atomic_fetch_add(&nr, 1, __ATOMIC_RELAXED));
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		t_diag("create %s: %s", path, strerror(errno));
		return -1;
	}
	unlink(path);
	if (ftruncate(fd, len)) {
		t_diag("ftruncate %s to %zu: %s", path, len, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The first "<field>: <n> kB" line of the /proc file at path: n, or -1 if
 * the file or the line is missing. smaps repeats the fields under a
 * "<start>-<end> ..." header line for each mapping: with vma_addr, only the
 * lines under the header of the mapping containing it count.
 */
static long proc_field_kb(const char *path, const void *vma_addr,
			  const char *field)
{
	size_t flen = strlen(field);
	unsigned long start, end;
	bool in_scope = !vma_addr;
	char line[512];
	long kb = -1;
	FILE *fp;

	fp = fopen(path, "r");
	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp)) {
		if (vma_addr && sscanf(line, "%lx-%lx ", &start, &end) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in_scope = (uintptr_t)vma_addr >= start &&
				   (uintptr_t)vma_addr < end;
			continue;
		}
		if (in_scope && !strncmp(line, field, flen) &&
		    line[flen] == ':') {
			kb = strtol(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(fp);
	return kb;
}

long t_proc_kb(const char *path, const char *field)
{
	return proc_field_kb(path, NULL, field);
}

long t_smaps_kb(const void *addr, const char *field)
{
	return proc_field_kb("/proc/self/smaps", addr, field);
}

long t_anon_huge_bytes(const void *addr)
{
	long kb = t_smaps_kb(addr, "AnonHugePages");

	return kb < 0 ? -1 : kb << 10;
}

static int thp_populate(char *at, size_t len)
{
	size_t off;
	long huge;

	if (madvise(at, len, MADV_HUGEPAGE)) {
		t_diag("madvise(MADV_HUGEPAGE): %s", strerror(errno));
		return T_EXIT_FAIL;
	}
	for (off = 0; off < len; off += T_SZ_2M)
		at[off] = 1;
	huge = t_anon_huge_bytes(at);
	if (huge < (long)len)
		return t_skip("no THP: AnonHugePages of the mapping is %ld kB, want %zu kB",
			      huge < 0 ? 0 : huge >> 10, len >> 10);
	return T_EXIT_PASS;
}

int t_map_fixed(char *at, size_t len, enum t_mem m, int prot, int *fdp)
{
	int flags = MAP_FIXED, fd = -1, ret;
	void *p;

	if (fdp)
		*fdp = -1;
	ret = t_mem_check(m, len);
	if (ret)
		return ret;
	if ((uintptr_t)at % t_mem_pagesize(m)) {
		t_diag("%s at %p: misaligned", t_mem_name(m), at);
		return T_EXIT_FAIL;
	}

	switch (m) {
	case T_MEM_ANON:
	case T_MEM_THP:
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
		break;
	case T_MEM_ANON_SHARED:
		flags |= MAP_SHARED | MAP_ANONYMOUS;
		break;
	case T_MEM_HUGETLB_2M:
		flags |= MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB;
		break;
	case T_MEM_HUGETLB_1G:
		flags |= MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_1GB;
		break;
	case T_MEM_MEMFD:
		flags |= MAP_SHARED;
		fd = memfd_create("regbuf", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, len)) {
			t_diag("memfd of %zu bytes: %s", len, strerror(errno));
			if (fd >= 0)
				close(fd);
			return T_EXIT_FAIL;
		}
		break;
	case T_MEM_TMPFS:
		flags |= MAP_SHARED;
		fd = create_file(tmpfs_dir(), len);
		break;
	case T_MEM_HUGETLBFS:
		flags |= MAP_SHARED;
		fd = create_file("/dev/hugepages", len);
		break;
	case T_MEM_EXT4_SHARED:
		flags |= MAP_SHARED;
		fd = create_file(".", len);
		break;
	case T_MEM_EXT4_PRIVATE:
		flags |= MAP_PRIVATE;
		fd = create_file(".", len);
		break;
	}
	if (!(flags & MAP_ANONYMOUS) && fd < 0)
		return T_EXIT_FAIL;

	p = mmap(at, len, prot, flags, fd, 0);
	if (p == MAP_FAILED) {
		ret = errno;
		if (fd >= 0)
			close(fd);
		if (ret == ENOMEM && t_mem_pagesize(m) > T_PAGE)
			return t_skip("mmap of %zu bytes of %s: ENOMEM (hugepages taken?)",
				      len, t_mem_name(m));
		t_diag("mmap %zu bytes of %s at %p: %s", len, t_mem_name(m), at,
		       strerror(ret));
		return T_EXIT_FAIL;
	}

	ret = T_EXIT_PASS;
	if (m == T_MEM_ANON && madvise(at, len, MADV_NOHUGEPAGE)) {
		t_diag("madvise(MADV_NOHUGEPAGE): %s", strerror(errno));
		ret = T_EXIT_FAIL;
	} else if (m == T_MEM_THP) {
		ret = thp_populate(at, len);
	}
	if (fdp && !ret)
		*fdp = fd;
	else if (fd >= 0)
		close(fd);
	return ret;
}

int t_alloc(enum t_mem m, size_t len, char **bufp, int *fdp)
{
	char *base;
	int ret;

	*bufp = NULL;
	if (fdp)
		*fdp = -1;
	ret = t_mem_check(m, len);
	if (ret)
		return ret;
	base = t_reserve(len, t_mem_pagesize(m));
	if (!base)
		return T_EXIT_FAIL;
	ret = t_map_fixed(base, len, m, PROT_READ | PROT_WRITE, fdp);
	if (ret) {
		t_unreserve(base, len);
		return ret;
	}
	*bufp = base;
	return T_EXIT_PASS;
}

int t_layout_map(struct t_layout *l, const struct t_piece *pieces,
		 unsigned int nr)
{
	size_t align = T_PAGE, lead = 0, off;
	unsigned int i;
	int ret;

	memset(l, 0, sizeof(*l));
	for (i = 0; i < T_LAYOUT_MAX; i++)
		l->fd[i] = -1;
	if (nr > T_LAYOUT_MAX) {
		t_diag("layout of %u pieces, at most %d", nr, T_LAYOUT_MAX);
		return T_EXIT_FAIL;
	}
	for (i = 0; i < nr; i++) {
		ret = t_mem_check(pieces[i].mem, pieces[i].len);
		if (ret)
			return ret;
		/* the first piece of the largest page size fixes the start */
		if (t_mem_pagesize(pieces[i].mem) > align) {
			align = t_mem_pagesize(pieces[i].mem);
			lead = l->len;
		}
		l->len += pieces[i].len;
	}
	l->resv_len = l->len + align;
	l->resv = t_reserve(l->resv_len, align);
	if (!l->resv)
		return T_EXIT_FAIL;
	l->buf = l->resv + (align - lead % align) % align;
	for (i = 0, off = 0; i < nr; off += pieces[i].len, i++) {
		ret = t_map_fixed(l->buf + off, pieces[i].len, pieces[i].mem,
				  PROT_READ | PROT_WRITE, &l->fd[i]);
		if (ret) {
			t_layout_unmap(l);
			return ret;
		}
	}
	return T_EXIT_PASS;
}

void t_layout_unmap(struct t_layout *l)
{
	unsigned int i;

	for (i = 0; i < T_LAYOUT_MAX; i++) {
		if (l->fd[i] >= 0)
			close(l->fd[i]);
		l->fd[i] = -1;
	}
	t_unreserve(l->resv, l->resv_len);
	l->resv = l->buf = NULL;
}

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

int t_register_or_skip(struct io_uring *ring, const struct iovec *iov,
		       unsigned int nr)
{
	int ret = io_uring_register_buffers(ring, iov, nr);

	if (!ret)
		return T_EXIT_PASS;
	if (ret == -ENOMEM && geteuid())
		return t_skip("registration refused by RLIMIT_MEMLOCK (not root)");
	t_diag("io_uring_register_buffers of %u buffers: %s", nr, strerror(-ret));
	return T_EXIT_FAIL;
}

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

static int full_pread(int fd, void *buf, size_t len, off_t off)
{
	ssize_t ret = pread(fd, buf, len, off);

	if (ret != (ssize_t)len) {
		t_diag("pread %zu@%lld: %zd (%s)", len, (long long)off, ret,
		       ret < 0 ? strerror(errno) : "short");
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

static int full_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t ret = pwrite(fd, buf, len, off);

	if (ret != (ssize_t)len) {
		t_diag("pwrite %zu@%lld: %zd (%s)", len, (long long)off, ret,
		       ret < 0 ? strerror(errno) : "short");
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

int t_file_read(struct t_file *f, void *buf, size_t len, off_t off)
{
	return full_pread(f->bfd, buf, len, off);
}

int t_file_write(struct t_file *f, const void *buf, size_t len, off_t off)
{
	return full_pwrite(f->bfd, buf, len, off);
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
	ret = t_fixed_io(ring, true, f->fd, buf, len, off, buf_index);
	if (ret != (int)len) {
		t_diag("%s fixed write of buffer %d +%td len %zu at %lld: res %d, want %zu",
		       mode, buf_index, buf - lo, len, (long long)off, ret, len);
		ret = T_EXIT_FAIL;
		goto out;
	}
	ret = full_pread(f->bfd, bounce, len, off);
	if (!ret)
		ret = t_verify(bounce, len, s_write, off, "file after fixed write");
	if (ret) {
		t_diag("  (%s fixed write of buffer %d +%td len %zu at %lld)", mode,
		       buf_index, buf - lo, len, (long long)off);
		goto out;
	}

	/* file -> memory; the guards must come through untouched */
	t_fill(bounce, len, s_read, off);
	ret = full_pwrite(f->bfd, bounce, len, off);
	if (ret)
		goto out;
	t_fill(glo, ghi - glo, s_guard, glo - lo);
	ret = t_fixed_io(ring, false, f->fd, buf, len, off, buf_index);
	if (ret != (int)len) {
		t_diag("%s fixed read into buffer %d +%td len %zu at %lld: res %d, want %zu",
		       mode, buf_index, buf - lo, len, (long long)off, ret, len);
		ret = T_EXIT_FAIL;
		goto out;
	}
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

/* ---- data patterns ---- */

unsigned int t_seed(void)
{
	static unsigned int seed;
	unsigned int zero = 0;

	__atomic_compare_exchange_n(&seed, &zero,
				    (unsigned int)getpid() * 2654435761u, false,
				    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	return __atomic_add_fetch(&seed, 1, __ATOMIC_RELAXED);
}

static uint64_t pattern_word(unsigned int seed, uint64_t word)
{
	uint64_t x = ((uint64_t)seed << 32) ^ word;

	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint8_t t_pattern_byte(unsigned int seed, uint64_t pos)
{
	return pattern_word(seed, pos >> 3) >> ((pos & 7) * 8);
}

void t_fill(void *buf, size_t len, unsigned int seed, uint64_t pos)
{
	uint8_t *p = buf;
	size_t i = 0;

	for (; i < len && ((pos + i) & 7); i++)
		p[i] = t_pattern_byte(seed, pos + i);
	for (; i + 8 <= len; i += 8) {
		uint64_t w = pattern_word(seed, (pos + i) >> 3);
		unsigned int b;

		for (b = 0; b < 8; b++)
			p[i + b] = w >> (b * 8);
	}
	for (; i < len; i++)
		p[i] = t_pattern_byte(seed, pos + i);
}

int t_verify(const void *buf, size_t len, unsigned int seed, uint64_t pos,
	     const char *what)
{
	const uint8_t *p = buf;
	size_t i, bad = 0, first = 0;

	for (i = 0; i < len; i++) {
		if (p[i] != t_pattern_byte(seed, pos + i) && !bad++)
			first = i;
	}
	if (!bad)
		return T_EXIT_PASS;
	t_diag("%s: %zu of %zu bytes wrong, first at +%zu: 0x%02x, want 0x%02x",
	       what, bad, len, first, p[first], t_pattern_byte(seed, pos + first));
	return T_EXIT_FAIL;
}

int t_compare(const void *got, const void *want, size_t len, const char *what)
{
	const uint8_t *g = got, *w = want;
	size_t i, bad = 0, first = 0;

	for (i = 0; i < len; i++) {
		if (g[i] != w[i] && !bad++)
			first = i;
	}
	if (!bad)
		return T_EXIT_PASS;
	t_diag("%s: %zu of %zu bytes wrong, first at +%zu: 0x%02x, want 0x%02x",
	       what, bad, len, first, g[first], w[first]);
	return T_EXIT_FAIL;
}

/* ---- fdinfo ---- */

int t_fdinfo_ubuf(struct io_uring *ring, unsigned int idx,
		  struct t_ubuf_info *info)
{
	unsigned int i, len, nr, shift, nbufs;
	unsigned long long addr;
	bool listed = false;
	int ret = T_EXIT_FAIL;
	char path[64], *line = NULL;
	size_t cap = 0;
	FILE *fp;
	int n;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ring->ring_fd);
	fp = fopen(path, "r");
	if (!fp) {
		t_diag("open %s: %s", path, strerror(errno));
		return T_EXIT_FAIL;
	}
	while (getline(&line, &cap, fp) > 0) {
		if (!listed) {
			listed = sscanf(line, "UserBufs: %u", &nbufs) == 1;
			continue;
		}
		n = sscanf(line, "%u: 0x%llx/%u nr_bvecs=%u seg_shift=%u",
			   &i, &addr, &len, &nr, &shift);
		if (n < 3)
			break;
		if (i != idx)
			continue;
		info->addr = addr;
		info->len = len;
		if (n == 5) {
			info->nr_bvecs = nr;
			info->seg_shift = shift;
			ret = T_EXIT_PASS;
		} else {
			ret = t_skip("kernel reports no nr_bvecs/seg_shift in fdinfo (no coalescing)");
		}
		goto out;
	}
	if (!listed)
		ret = t_skip("kernel lists no UserBufs in fdinfo");
	else
		t_diag("buffer %u not listed in %s", idx, path);
out:
	free(line);
	fclose(fp);
	return ret;
}

/* ---- pinned-memory accounting ---- */

long t_vmpin_kb(void)
{
	return t_proc_kb("/proc/self/status", "VmPin");
}

long t_foll_pins(void)
{
	long acquired = -1, released = -1, v;
	char name[64];
	FILE *f = fopen("/proc/sys/vm/stat_refresh", "w");

	/* fold the per-cpu deltas, which /proc/vmstat alone lags behind */
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", name, &v) == 2) {
		if (!strcmp(name, "nr_foll_pin_acquired"))
			acquired = v;
		else if (!strcmp(name, "nr_foll_pin_released"))
			released = v;
	}
	fclose(f);
	return acquired < 0 || released < 0 ? -1 : acquired - released;
}

int t_vmpin_expect(long want_kb, const char *what)
{
	struct timespec delay = { 0, 10 * 1000000L };
	unsigned int waited_ms = 0;
	long kb;

	for (;;) {
		kb = t_vmpin_kb();
		if (kb < 0)
			return t_skip("no VmPin in /proc/self/status");
		if (kb == want_kb)
			return T_EXIT_PASS;
		if (waited_ms >= T_WAIT_MS)
			break;
		nanosleep(&delay, NULL);
		waited_ms += 10;
	}
	t_diag("%s: VmPin %ld kB after %u ms, want %ld kB (%+ld pages)", what,
	       kb, waited_ms, want_kb, (kb - want_kb) / (long)(T_PAGE >> 10));
	return T_EXIT_FAIL;
}

/* ---- privileges and children ---- */

int t_set_memlock(unsigned long soft, unsigned long hard)
{
	struct rlimit rl = { .rlim_cur = soft, .rlim_max = hard };

	if (setrlimit(RLIMIT_MEMLOCK, &rl)) {
		if (errno == EPERM)
			return t_skip("raising RLIMIT_MEMLOCK's hard limit to %lu needs %s",
				      hard, "CAP_SYS_RESOURCE");
		t_diag("setrlimit(RLIMIT_MEMLOCK, %lu, %lu): %s", soft, hard,
		       strerror(errno));
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

int t_drop_privileges(void)
{
	char line[256];
	unsigned long long caps = ~0ULL;
	FILE *fp;

	if (setgroups(0, NULL) || setgid(T_NOBODY) || setuid(T_NOBODY)) {
		t_diag("dropping to uid/gid %d: %s", T_NOBODY, strerror(errno));
		return T_EXIT_FAIL;
	}
	fp = fopen("/proc/self/status", "r");
	if (!fp) {
		t_diag("open /proc/self/status: %s", strerror(errno));
		return T_EXIT_FAIL;
	}
	while (fgets(line, sizeof(line), fp)) {
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	}
	fclose(fp);
	if (caps) {
		t_diag("capabilities left after setuid(%d): CapEff %llx",
		       T_NOBODY, caps);
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

int t_wait_child(pid_t pid, const char *what)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			t_diag("waitpid for %s: %s", what, strerror(errno));
			return T_EXIT_FAIL;
		}
	}
	if (WIFSIGNALED(status)) {
		t_diag("%s killed by signal %d", what, WTERMSIG(status));
		return T_EXIT_FAIL;
	}
	switch (WEXITSTATUS(status)) {
	case T_EXIT_PASS:
	case T_EXIT_SKIP:
		return WEXITSTATUS(status);
	default:
		t_diag("%s exited with status %d", what, WEXITSTATUS(status));
		return T_EXIT_FAIL;
	}
}

/* ---- a seeded PRNG (splitmix64) for randomized tests ---- */

uint64_t t_rng_seed(const char *env)
{
	const char *val = getenv(env);
	struct timespec ts;
	uint64_t seed;

	if (val && *val) {
		seed = strtoull(val, NULL, 0);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ ts.tv_nsec ^
		       ((uint64_t)getpid() << 40);
	}
	t_diag("seed %llu (replay with %s=%llu)", (unsigned long long)seed, env,
	       (unsigned long long)seed);
	return seed;
}

void t_rng_init(struct t_rng *r, uint64_t seed)
{
	r->state = seed;
}

uint64_t t_rng_next(struct t_rng *r)
{
	uint64_t x = (r->state += 0x9e3779b97f4a7c15ULL);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint64_t t_rng_below(struct t_rng *r, uint64_t n)
{
	return t_rng_next(r) % n;
}
