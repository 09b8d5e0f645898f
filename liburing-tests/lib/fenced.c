/* SPDX-License-Identifier: MIT */
/*
 * A ring whose buffer releases can be waited for, at any memlock limit:
 * see struct t_fenced in helpers.h.
 */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "helpers.h"

static __u64 fenced_tag(struct t_fenced *t)
{
	return ++t->next_tag;
}

/* Registers iov[0..nr) in slots 0..nr-1 of nslots, in one BUFFERS2 call. */
int t_fenced_open(struct t_fenced *t, const struct iovec *iov,
		  unsigned int nr, unsigned int nslots, char *fence)
{
	struct iovec table[T_FENCED_SLOTS + 1] = { { 0 } };
	unsigned int i;
	int ret;

	memset(t, 0, sizeof(*t));
	t->fence = fence;
	t->nslots = nslots;
	t->next_tag = 0x7400;
	ret = t_ring_setup(&t->ring);
	if (ret)
		return ret;
	for (i = 0; i < nr; i++) {
		table[i] = iov[i];
		t->tag[i] = fenced_tag(t);
	}
	table[nslots].iov_base = t->fence;
	table[nslots].iov_len = T_PAGE;
	t->tag[nslots] = fenced_tag(t);
	ret = io_uring_register_buffers_tags(&t->ring, table, t->tag, nslots + 1);
	if (ret) {
		t_diag("registering %u buffers and the fence: %s", nr,
		       t_errname(ret));
		io_uring_queue_exit(&t->ring);
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

/* Puts [base, base + len) in slot (NULL empties it); 0 or -errno. */
int t_fenced_set(struct t_fenced *t, unsigned int slot, void *base,
		 size_t len)
{
	struct iovec iov = { base, base ? len : 0 };
	__u64 tag = base ? fenced_tag(t) : 0;
	int ret;

	ret = t_update(&t->ring, slot, &iov, tag);
	if (ret)
		return ret;
	if (t->tag[slot])
		t->pending[t->nr_pending++] = t->tag[slot];
	t->tag[slot] = tag;
	return 0;
}

/* t_fenced_set() that must succeed */
int t_fenced_put(struct t_fenced *t, unsigned int slot, void *base,
		 size_t len)
{
	int ret = t_fenced_set(t, slot, base, len);

	if (ret) {
		t_diag("putting %zu bytes at %p in slot %u: %s", len, base,
		       slot, t_errname(ret));
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

/*
 * Moves the soft memlock limit by @delta bytes, so that t_fenced_settle() can
 * replace the fence by itself at any limit: the new fence is charged
 * before the old one goes.
 */
static int fence_shift_limit(long delta)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl)) {
		t_diag("getrlimit(RLIMIT_MEMLOCK): %s", strerror(errno));
		return T_EXIT_FAIL;
	}
	return t_set_memlock(rl.rlim_cur + delta, rl.rlim_max);
}

int t_fenced_settle(struct t_fenced *t)
{
	__u64 old_fence;
	int ret;

	ret = t_wait_tags(&t->ring, t->pending, t->nr_pending, T_WAIT_MS);
	if (ret)
		return T_EXIT_FAIL;
	t->nr_pending = 0;
	old_fence = t->tag[t->nslots];
	ret = fence_shift_limit(T_PAGE);
	if (ret)
		return ret;
	ret = t_fenced_put(t, t->nslots, t->fence, T_PAGE);
	if (!ret)
		ret = t_wait_tags(&t->ring, &old_fence, 1, T_WAIT_MS) ?
		      T_EXIT_FAIL : T_EXIT_PASS;
	t->nr_pending = 0;
	return fence_shift_limit(-T_PAGE) ?: ret;
}

/* Unregisters everything (synchronous) and closes the ring. */
int t_fenced_close(struct t_fenced *t)
{
	int ret = io_uring_unregister_buffers(&t->ring);

	io_uring_queue_exit(&t->ring);
	if (ret) {
		t_diag("unregister: %s", t_errname(ret));
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}
