/* SPDX-License-Identifier: MIT */
/*
 * What the kernel reports: /proc fields, fdinfo of registered buffers, VmPin
 * and FOLL_PIN counts; memlock limits, dropping privileges, children.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "helpers.h"

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

int t_ring_memory_charged(void)
{
	struct io_uring ring;
	struct rlimit old;
	int ret;

	if (getrlimit(RLIMIT_MEMLOCK, &old)) {
		t_diag("getrlimit(RLIMIT_MEMLOCK): %s", strerror(errno));
		return -1;
	}
	ret = t_set_memlock(0, old.rlim_max);
	if (ret)
		return -1;
	ret = io_uring_queue_init(8, &ring, 0);
	if (!ret)
		io_uring_queue_exit(&ring);
	if (t_set_memlock(old.rlim_cur, old.rlim_max))
		return -1;
	return ret == -ENOMEM;
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

int t_shared_file_errno(void)
{
	unsigned int major, minor;
	struct utsname u;

	if (uname(&u) || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return -EOPNOTSUPP;
	return major > 6 || (major == 6 && minor >= 5) ? -EFAULT : -EOPNOTSUPP;
}

/* What the kernel logs when a checker fires, as runtests.sh looks for it. */
static const char *const klog_patterns[] = {
	"WARNING:", "BUG:", "BUG at", "Oops", "KASAN", "UBSAN",
	"possible circular locking", "possible recursive locking",
	"inconsistent lock state", "suspicious RCU usage",
	"general protection fault",
};

static int klog_fd = -1;

int t_klog_mark(void)
{
	klog_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (klog_fd < 0)
		return t_skip("cannot read /dev/kmsg (%s): the kernel log is what this test checks",
			      strerror(errno));
	lseek(klog_fd, 0, SEEK_END);
	return T_EXIT_PASS;
}

int t_klog_check(int ret)
{
	char rec[8192];
	unsigned int i;
	ssize_t n;

	if (klog_fd < 0)
		return ret;
	while ((n = read(klog_fd, rec, sizeof(rec) - 1)) > 0 ||
	       (n < 0 && errno == EPIPE)) {
		if (n < 0)
			continue;
		rec[n] = '\0';
		for (i = 0; i < T_ARRAY_SIZE(klog_patterns); i++) {
			if (strstr(rec, klog_patterns[i])) {
				t_diag("kernel log: %.*s", (int)strcspn(rec, "\n"),
				       strchr(rec, ';') ? strchr(rec, ';') + 1 : rec);
				ret = T_EXIT_FAIL;
				break;
			}
		}
	}
	close(klog_fd);
	klog_fd = -1;
	return ret;
}

uint64_t t_pagemap_pfn(const void *addr)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), (uintptr_t)addr / T_PAGE * sizeof(e)) !=
	    sizeof(e))
		e = 0;
	close(fd);
	return e >> 63 ? e & ((1ULL << 55) - 1) : 0;
}
