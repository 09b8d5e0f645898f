/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers for the regbuf registered-buffer tests: TAP output, ring
 * setup, buffer allocation for each memory type, registration through each
 * interface, fixed I/O round trips, data patterns, the fdinfo parser,
 * VmPin accounting, privilege dropping, child processes and a seeded PRNG.
 * Everything here may be called from several threads at once.
 */
#ifndef REGBUF_TEST_HELPERS_H
#define REGBUF_TEST_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <sys/uio.h>
#include <liburing.h>

enum t_exit {
	T_EXIT_PASS	= 0,
	T_EXIT_FAIL	= 1,
	T_EXIT_SKIP	= 77,
};

#define T_PAGE		4096UL
#define T_SZ_2M		(2UL << 20)
#define T_SZ_1G		(1UL << 30)
#define T_ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- diagnostics and TAP (kselftest style) ---- */

/* "0" or the errno name of a negative return value, for diagnostics. */
const char *t_errname(int ret);
/* Prints a "# ..." diagnostic line on stdout. */
void t_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Records why something is skipped; returns T_EXIT_SKIP. */
int t_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The reason recorded by the last t_skip(). */
const char *t_skip_reason(void);

void t_tap_plan(unsigned int n);
/* Reports one case: ret is a T_EXIT_* value; a skip prints the last reason. */
void t_tap_result(int ret, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prints totals; returns FAIL if any case failed, SKIP if all skipped. */
int t_tap_exit(void);

struct t_case {
	const char *name;
	int (*fn)(void);
};
/* Runs the scenarios in order, one TAP line each, and returns the exit code. */
int t_run_cases(const struct t_case *cases, unsigned int nr);

/* ---- memory ---- */

enum t_mem {
	T_MEM_ANON,		/* private anonymous, MADV_NOHUGEPAGE */
	T_MEM_THP,		/* private anonymous, MADV_HUGEPAGE, faulted in */
	T_MEM_THP_PTE,		/* T_MEM_THP with each THP mapped by 512 PTEs */
	T_MEM_ANON_SHARED,	/* MAP_SHARED | MAP_ANONYMOUS */
	T_MEM_MEMFD,		/* memfd_create(), MAP_SHARED */
	T_MEM_TMPFS,		/* file on tmpfs, MAP_SHARED */
	T_MEM_HUGETLBFS,	/* file in /dev/hugepages, MAP_SHARED */
	T_MEM_HUGETLB_2M,	/* MAP_HUGETLB | MAP_HUGE_2MB, private */
	T_MEM_HUGETLB_1G,	/* MAP_HUGETLB | MAP_HUGE_1GB, private */
	T_MEM_EXT4_SHARED,	/* file in the cwd (ext4), MAP_SHARED */
	T_MEM_EXT4_PRIVATE,	/* file in the cwd (ext4) opened O_RDWR, MAP_PRIVATE */
};

const char *t_mem_name(enum t_mem m);
/* Size of the pages (and required alignment) of a memory type. */
size_t t_mem_pagesize(enum t_mem m);
/* T_EXIT_PASS if len bytes of this type can be had here, else a SKIP. */
int t_mem_check(enum t_mem m, size_t len);
/*
 * The mode selected in /sys/kernel/mm/transparent_hugepage/<knob> ("enabled"
 * or "shmem_enabled"), e.g. "madvise"; NULL without THP.
 */
const char *t_thp_mode(const char *knob);
/* 2 MiB or 1 GiB hugepages that can still be reserved. */
long t_hugepages_avail(size_t pagesize);

/*
 * Reserves len bytes of address space (PROT_NONE) aligned to align, so that
 * pieces of different memory types can be placed in it with t_map_fixed().
 * Release it (and everything mapped in it) with t_unreserve().
 */
char *t_reserve(size_t len, size_t align);
void t_unreserve(char *base, size_t len);

/*
 * Maps len bytes of memory type m at at (MAP_FIXED, inside a reservation).
 * Files are created in their directory and unlinked at once. If fdp is not
 * NULL it receives the file descriptor (or -1 for anonymous types); the
 * caller closes it. Returns a T_EXIT_* value.
 */
int t_map_fixed(char *at, size_t len, enum t_mem m, int prot, int *fdp);
/* t_reserve() + t_map_fixed() of one memory type, read-write. */
int t_alloc(enum t_mem m, size_t len, char **bufp, int *fdp);

/*
 * A buffer made of pieces of different memory types placed back to back in
 * one reservation, each piece aligned to its page size.
 */
#define T_LAYOUT_MAX	8

struct t_piece {
	enum t_mem mem;
	size_t len;
};

struct t_layout {
	char *buf;		/* start of the first piece */
	size_t len;		/* sum of the piece lengths */
	char *resv;		/* the reservation holding it */
	size_t resv_len;
	int fd[T_LAYOUT_MAX];	/* file of each piece, or -1 */
};

int t_layout_map(struct t_layout *l, const struct t_piece *pieces,
		 unsigned int nr);
void t_layout_unmap(struct t_layout *l);

/*
 * Maps one page of size bytes of a shared file type m (memfd, hugetlbfs)
 * at n consecutive addresses: one page, n aliases. T_EXIT_* value.
 */
int t_alias_map(enum t_mem m, size_t size, unsigned int n, char **bufp);

/*
 * A field in kB (e.g. "AnonHugePages") of a /proc file such as /proc/meminfo;
 * -1 if the file or the field is missing.
 */
long t_proc_kb(const char *path, const char *field);
/* A field (e.g. "Rss") of the smaps entry of the mapping containing addr, in kB. */
long t_smaps_kb(const void *addr, const char *field);
/* Size of the AnonHugePages of the mapping containing addr, in bytes. */
long t_anon_huge_bytes(const void *addr);
/* The pfn behind addr from /proc/self/pagemap; 0 if absent or hidden (not root). */
uint64_t t_pagemap_pfn(const void *addr);

/* ---- time bounds (CLOCK_MONOTONIC) ---- */

/* Sets *end to ms milliseconds from now. */
void t_deadline(struct timespec *end, unsigned long ms);
/* Whether the clock has reached *end. */
bool t_deadline_passed(const struct timespec *end);

/* ---- rings and registration ---- */

/* Bound on every wait for the kernel to finish something asynchronous. */
#define T_WAIT_MS	30000

/* A ring of 8 entries, or SKIP when io_uring is unavailable. */
int t_ring_setup(struct io_uring *ring);
int t_ring_setup_sized(struct io_uring *ring, unsigned int entries);
/* One NOP round trip; returns its cqe->res (0) or -errno. */
int t_nop(struct io_uring *ring);
/*
 * Waits up to timeout_ms for the next CQE, retrying after a signal; the
 * caller marks it seen. Returns 0, -ETIME or -errno.
 */
int t_next_cqe(struct io_uring *ring, unsigned int timeout_ms,
	       struct io_uring_cqe **cqe);
/*
 * Waits up to timeout_ms for the CQE carrying user_data, dropping others
 * (buffer-tag CQEs, leftovers); *res gets its result. Returns 0, -ETIME
 * or -errno.
 */
int t_wait_user_data(struct io_uring *ring, __u64 user_data,
		     unsigned int timeout_ms, int *res);
/*
 * Waits up to timeout_ms until a CQE arrived for each of user_data[0..nr)
 * (buffer tags posted when registered buffers are released), dropping
 * others. Returns 0, -ETIME (naming a missing one) or -errno.
 */
int t_wait_tags(struct io_uring *ring, const __u64 *user_data,
		unsigned int nr, unsigned int timeout_ms);

enum t_reg {
	T_REG_BUFFERS,		/* IORING_REGISTER_BUFFERS */
	T_REG_BUFFERS2,		/* IORING_REGISTER_BUFFERS2 with tags */
	T_REG_UPDATE,		/* sparse table + IORING_REGISTER_BUFFERS_UPDATE */
	T_REG_NR,
};

const char *t_reg_name(enum t_reg how);
/* Registers iov[0..nr) at indexes 0..nr-1; returns 0 or -errno. */
int t_register(struct io_uring *ring, enum t_reg how,
	       const struct iovec *iov, unsigned int nr);
/*
 * IORING_REGISTER_BUFFERS_UPDATE of slot idx alone, with tag (0 for none);
 * iov NULL base and length 0 empties the slot. Returns 0 or -errno.
 */
int t_update(struct io_uring *ring, unsigned int idx, const struct iovec *iov,
	     __u64 tag);
/*
 * Unregisters the ring's buffers at the end of a case whose result so far is
 * ret: ret, or FAIL with a diagnostic if unregistering fails.
 */
int t_unregister_or_fail(struct io_uring *ring, int ret);
/*
 * SKIP (with the reason) when registration failed with res for a reason that
 * is not under test: a kernel before regbuf refusing a buffer that mixes
 * memory sources (mixed: the buffer does), or RLIMIT_MEMLOCK for a user
 * without CAP_IPC_LOCK; 0 otherwise.
 */
int t_register_refused(int res, bool mixed);
/* io_uring_register_buffers(), or SKIP as t_register_refused() says. */
int t_register_or_skip(struct io_uring *ring, const struct iovec *iov,
		       unsigned int nr, bool mixed);

/* ---- files and fixed I/O ---- */

/*
 * A data file in the cwd, unlinked at once: fd is used for fixed I/O
 * (O_DIRECT if asked), bfd is a buffered descriptor of the same file used to
 * check and prepare its contents.
 */
struct t_file {
	int fd;
	int bfd;
	bool direct;
	size_t dio_align;	/* offset/length/address alignment for O_DIRECT */
};

int t_file_open(struct t_file *f, bool direct);
void t_file_close(struct t_file *f);

/* One fixed read (write == false) or write; returns cqe->res. */
int t_fixed_io(struct io_uring *ring, bool write, int fd, void *addr,
	       size_t len, off_t off, int buf_index);
/* Queues and submits one fixed read or write without waiting; 0 or -errno. */
int t_fixed_io_submit(struct io_uring *ring, bool write, int fd, void *addr,
		      size_t len, off_t off, int buf_index, __u64 user_data);

/* pread/pwrite of exactly len bytes of the buffered descriptor, else FAIL. */
int t_file_read(struct t_file *f, void *buf, size_t len, off_t off);
int t_file_write(struct t_file *f, const void *buf, size_t len, off_t off);

/*
 * Round trip through file f at offset off of [buf, buf + len), which lies in
 * registered buffer buf_index spanning [lo, hi): a fixed write, checked with
 * a buffered pread, then a fixed read of fresh data, checked in memory along
 * with the guard bytes around the range inside [lo, hi).
 */
int t_check_fixed_rw(struct io_uring *ring, struct t_file *f, int buf_index,
		     char *buf, size_t len, off_t off, char *lo, char *hi);

/* ---- data patterns ---- */

/* Fresh seed for each use, so stale data never matches. */
unsigned int t_seed(void);
uint8_t t_pattern_byte(unsigned int seed, uint64_t pos);
/* Fills buf with the pattern for positions pos .. pos + len - 1. */
void t_fill(void *buf, size_t len, unsigned int seed, uint64_t pos);
/* T_EXIT_PASS if buf holds that pattern, else FAIL with the first mismatch. */
int t_verify(const void *buf, size_t len, unsigned int seed, uint64_t pos,
	     const char *what);

/* PASS if got equals want, else FAIL naming the first differing byte. */
int t_compare(const void *got, const void *want, size_t len, const char *what);

/* ---- fdinfo ---- */

struct t_ubuf_info {
	uint64_t addr;
	uint32_t len;
	uint32_t nr_bvecs;
	uint32_t seg_shift;
};

/*
 * Parses the line of registered buffer idx in /proc/self/fdinfo/<ring fd>.
 * Returns T_EXIT_SKIP (with reason) if the kernel does not report coalescing
 * (no nr_bvecs=/seg_shift=, as in unpatched kernels), FAIL if the buffer is
 * not listed or a line does not parse.
 */
int t_fdinfo_ubuf(struct io_uring *ring, unsigned int idx,
		  struct t_ubuf_info *info);

/* ---- pinned-memory accounting ---- */

/*
 * VmPin of this process in kB: the mm's pinned_vm, which io_uring charges
 * for the registered buffers of every ring this process created. -1 if the
 * kernel does not report it.
 */
long t_vmpin_kb(void);
/*
 * FOLL_PIN pins held system-wide (nr_foll_pin_acquired - released in
 * /proc/vmstat, exact for root, which can fold the per-cpu counts first),
 * or -1 where the kernel does not count them.
 */
long t_foll_pins(void);
/*
 * Waits (up to T_WAIT_MS: ring teardown and buffer release can be
 * asynchronous) until VmPin is want_kb. PASS, FAIL with a diagnostic naming
 * what, or SKIP when the kernel has no VmPin.
 */
int t_vmpin_expect(long want_kb, const char *what);

/*
 * The errno a long-term writable pin of a MAP_SHARED ext4 mapping gets, so
 * that the tests tell the truth on any kernel: -EOPNOTSUPP on 6.1, with or
 * without the regbuf series (6.1 io_uring refused file-backed buffers with
 * it, and the series keeps it), -EFAULT from 6.5 on, where mainline's GUP
 * refuses such pins and io_uring reports any short pin as a fault.
 */
int t_shared_file_errno(void);

/*
 * A test whose failure the kernel reports in its log (a WARNING from a
 * debug checker, say) marks the log before the run and checks it after:
 * t_klog_check() turns ret into FAIL, naming the first report, when the
 * log shows one since t_klog_mark(). The mark SKIPs without /dev/kmsg.
 */
int t_klog_mark(void);
int t_klog_check(int ret);

/* ---- a ring whose buffer releases can be waited for ---- */

#define T_FENCED_SLOTS	80

/*
 * A ring whose buffer table ends with a fence slot holding t->fence.
 * Buffers replaced through BUFFERS_UPDATE are released asynchronously and
 * post their tag first; t_fenced_settle() waits for those tags, then replaces the
 * fence buffer by itself and waits for the old fence's tag, which is
 * posted only after the release work that posted the others has finished.
 * After it VmPin shows every release. The fence costs one page, and one
 * more while it replaces itself, which t_fenced_settle() allows for.
 */
struct t_fenced {
	struct io_uring ring;
	unsigned int nslots;		/* the fence is slot nslots */
	__u64 tag[T_FENCED_SLOTS];		/* current tag of each slot, 0 if empty */
	__u64 pending[T_FENCED_SLOTS * 2];	/* tags of released buffers */
	unsigned int nr_pending;
	__u64 next_tag;
	char *fence;
};

/*
 * Registers iov[0..nr) in slots 0..nr-1 of nslots, and the fence page in
 * slot nslots, in one BUFFERS2 call with tags.
 */
int t_fenced_open(struct t_fenced *t, const struct iovec *iov,
		  unsigned int nr, unsigned int nslots, char *fence);
/* Puts [base, base + len) in slot (NULL empties it); 0 or -errno. */
int t_fenced_set(struct t_fenced *t, unsigned int slot, void *base,
		 size_t len);
/* t_fenced_set() that must succeed: PASS or FAIL with a diagnostic */
int t_fenced_put(struct t_fenced *t, unsigned int slot, void *base,
		 size_t len);
/* Returns once every buffer replaced so far is released. */
int t_fenced_settle(struct t_fenced *t);
/* Unregisters everything (synchronous) and closes the ring. */
int t_fenced_close(struct t_fenced *t);

/* ---- privileges and children ---- */

#define T_NOBODY	65534

/*
 * Sets RLIMIT_MEMLOCK: PASS, FAIL, or SKIP when raising the hard limit needs
 * CAP_SYS_RESOURCE.
 */
int t_set_memlock(unsigned long soft, unsigned long hard);
/*
 * 1 if this kernel charges a ring's own memory to RLIMIT_MEMLOCK (a ring
 * cannot be set up under a limit of 0, as on recent mainline), 0 if not
 * (6.1, 6.12), -1 on error (reported). Meaningful without CAP_IPC_LOCK
 * only.
 */
int t_ring_memory_charged(void);
/*
 * Root only: drops supplementary groups, gid and uid to T_NOBODY, which
 * clears every capability (CAP_IPC_LOCK included); FAIL if any remains.
 */
int t_drop_privileges(void);
/* Waits for child pid: its T_EXIT_* exit status, FAIL if a signal killed it. */
int t_wait_child(pid_t pid, const char *what);

/* ---- a seeded PRNG (splitmix64) for randomized tests ---- */

struct t_rng {
	uint64_t state;
};

/*
 * The seed in environment variable env, else a fresh one; prints it with
 * the way to replay it.
 */
uint64_t t_rng_seed(const char *env);
void t_rng_init(struct t_rng *r, uint64_t seed);
uint64_t t_rng_next(struct t_rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t t_rng_below(struct t_rng *r, uint64_t n);

#endif
