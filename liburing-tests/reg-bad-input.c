/* SPDX-License-Identifier: MIT */
/*
 * Checks that every malformed buffer registration fails with 6.1's exact
 * errno through IORING_REGISTER_BUFFERS, IORING_REGISTER_BUFFERS2 and
 * IORING_REGISTER_BUFFERS_UPDATE, takes back what it had pinned (VmPin as
 * before the call) and leaves the ring working: a NOP completes, a good
 * buffer carries fixed writes and reads byte for byte, and the slot the bad
 * buffer aimed at stays empty. Buffers over bad memory (holes, PROT_READ,
 * PROT_NONE, shared ext4 pages) are reg-errno's table.
 *
 * Prerequisites: cwd on a filesystem with files (the good buffer's I/O).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "helpers.h"

#define GOOD_LEN	(4 * T_PAGE)
#define NSLOTS		2
#define MAX_BUFFERS	16384	/* IORING_MAX_REG_BUFFERS */
#define GOOD_TAG	0x676f6f64ULL
#define BAD_TAG		0x626164ULL

#define BUF		(1U << T_REG_BUFFERS)
#define BUF2		(1U << T_REG_BUFFERS2)
#define UPD		(1U << T_REG_UPDATE)
#define ALL		(BUF | BUF2 | UPD)

/* Memory the cases point into; built once. */
struct env {
	char *good;		/* anon, registered whenever a case needs a buffer */
	char *unmapped;		/* a page with nothing mapped at it */
	struct t_file f;
};

static struct env env;

struct bad_case {
	const char *name;
	unsigned int hows;	/* interfaces the case applies to */
	int should[T_REG_NR];	/* result of the bad call per interface */
	/* BUFFERS[2]: a good table is registered before the bad call */
	bool busy;
	/* UPDATE: no table exists (else: NSLOTS, good in slot 0) */
	bool no_table;
	int (*call)(struct io_uring *ring, enum t_reg how,
		    const struct bad_case *c);
	int kind;		/* which bad iovec, for call_bad_iov() */
};

enum bad_iov {
	NULL_BASE,
	ZERO_LEN,
	OVER_1G,
	WRAPS,
};

static void bad_iov(enum bad_iov kind, struct iovec *iov)
{
	iov->iov_len = T_PAGE;
	switch (kind) {
	case NULL_BASE:
		iov->iov_base = NULL;
		break;
	case ZERO_LEN:
		iov->iov_base = env.good;
		iov->iov_len = 0;
		break;
	case OVER_1G:
		iov->iov_base = env.good;
		iov->iov_len = T_SZ_1G + T_PAGE;
		break;
	case WRAPS:
		/* the page-rounded end passes 2^64 */
		iov->iov_base = (void *)-T_PAGE;
		break;
	}
}

/*
 * iov[0..nr) and their tags through interface how, in one call (BUFFERS
 * takes no tags); an update writes slots off..off + nr - 1 of the table
 * the case prepared.
 */
static int call_via(struct io_uring *ring, enum t_reg how, unsigned int off,
		    const struct iovec *iov, const __u64 *tags, unsigned int nr)
{
	switch (how) {
	case T_REG_BUFFERS:
		return io_uring_register_buffers(ring, iov, nr);
	case T_REG_BUFFERS2:
		return io_uring_register_buffers_tags(ring, iov, tags, nr);
	default:
		return io_uring_register_buffers_update_tag(ring, off, iov,
							    tags, nr);
	}
}

/*
 * pair[1] goes second after the good pair[0], so the registration calls
 * must also release the first buffer; the update aims pair[1] alone at
 * slot 1, next to the good buffer in slot 0.
 */
static int call_after_good(struct io_uring *ring, enum t_reg how,
			   const struct iovec *pair, const __u64 *tags)
{
	if (how == T_REG_UPDATE)
		return call_via(ring, how, 1, &pair[1], &tags[1], 1);
	return call_via(ring, how, 0, pair, tags, 2);
}

static int call_bad_iov(struct io_uring *ring, enum t_reg how,
			const struct bad_case *c)
{
	struct iovec iov[2] = { { env.good, GOOD_LEN } };
	__u64 tags[2] = { GOOD_TAG, 0 };

	bad_iov(c->kind, &iov[1]);
	return call_after_good(ring, how, iov, tags);
}

static int call_nr_zero(struct io_uring *ring, enum t_reg how,
			const struct bad_case *c)
{
	struct iovec iov = { env.good, GOOD_LEN };
	__u64 tag = GOOD_TAG;

	(void)c;
	return call_via(ring, how, 1, &iov, &tag, 0);
}

/* A table one larger than the limit, of good buffers all alike. */
static int call_nr_too_many(struct io_uring *ring, enum t_reg how,
			    const struct bad_case *c)
{
	unsigned int i, nr = MAX_BUFFERS + 1;
	struct iovec *iov;
	int ret;

	(void)c;
	iov = calloc(nr, sizeof(*iov));
	if (!iov) {
		t_diag("calloc %u iovecs", nr);
		return -ENOMEM;
	}
	for (i = 0; i < nr; i++) {
		iov[i].iov_base = env.good;
		iov[i].iov_len = T_PAGE;
	}
	ret = call_via(ring, how, 0, iov, NULL, nr);
	free(iov);
	return ret;
}

static int call_twice(struct io_uring *ring, enum t_reg how,
		      const struct bad_case *c)
{
	struct iovec iov = { env.good, GOOD_LEN };
	__u64 tag = GOOD_TAG;

	(void)c;
	if (how == T_REG_UPDATE)
		return io_uring_register_buffers_sparse(ring, NSLOTS);
	return call_via(ring, how, 0, &iov, &tag, 1);
}

static int call_past_end(struct io_uring *ring, enum t_reg how,
			 const struct bad_case *c)
{
	struct iovec iov[2] = { { env.good, GOOD_LEN }, { env.good, GOOD_LEN } };

	(void)how;
	return io_uring_register_buffers_update_tag(ring, NSLOTS - 2 + c->kind,
						    iov, NULL, 2);
}

static int call_update_no_table(struct io_uring *ring, enum t_reg how,
				const struct bad_case *c)
{
	struct iovec iov = { env.good, GOOD_LEN };

	(void)how;
	(void)c;
	return io_uring_register_buffers_update_tag(ring, 0, &iov, NULL, 1);
}

/* offset + nr wraps the 32-bit offset */
static int call_offset_wraps(struct io_uring *ring, enum t_reg how,
			     const struct bad_case *c)
{
	struct iovec iov = { env.good, GOOD_LEN };

	(void)how;
	(void)c;
	return io_uring_register_buffers_update_tag(ring, ~0U, &iov, NULL, 1);
}

static int call_bad_iov_ptr(struct io_uring *ring, enum t_reg how,
			    const struct bad_case *c)
{
	struct iovec *iov = (struct iovec *)env.unmapped;
	__u64 tags[2] = { GOOD_TAG, 0 };

	/* kind 1: the first iovec is readable, the second is not */
	if (c->kind) {
		iov = (struct iovec *)(env.unmapped - sizeof(*iov));
		iov->iov_base = env.good;
		iov->iov_len = GOOD_LEN;
	}
	return call_via(ring, how, 0, iov, tags, 2);
}

static int call_bad_tags_ptr(struct io_uring *ring, enum t_reg how,
			     const struct bad_case *c)
{
	struct iovec iov = { env.good, GOOD_LEN };
	__u64 *tags = (__u64 *)env.unmapped;

	(void)c;
	return call_via(ring, how, 1, &iov, tags, 1);
}

static int call_null_tagged(struct io_uring *ring, enum t_reg how,
			    const struct bad_case *c)
{
	struct iovec iov[2] = { { env.good, GOOD_LEN }, { NULL, 0 } };
	__u64 tags[2] = { GOOD_TAG, BAD_TAG };

	(void)c;
	return call_after_good(ring, how, iov, tags);
}

#define EACH(e)		{ e, e, e }

static const struct bad_case cases[] = {
	{ "NULL base, length 4096", ALL, EACH(-EFAULT), .call = call_bad_iov,
	  .kind = NULL_BASE },
	{ "length 0", ALL, EACH(-EFAULT), .call = call_bad_iov,
	  .kind = ZERO_LEN },
	{ "length 1 GiB + 4096", ALL, EACH(-EFAULT), .call = call_bad_iov,
	  .kind = OVER_1G },
	{ "range wraps past 2^64", ALL, EACH(-EOVERFLOW), .call = call_bad_iov,
	  .kind = WRAPS },
	{ "0 buffers", ALL, EACH(-EINVAL), .call = call_nr_zero },
	{ "16385 buffers", BUF | BUF2, EACH(-EINVAL), .call = call_nr_too_many },
	{ "second table", ALL, EACH(-EBUSY), .call = call_twice, .busy = true },
	{ "update slots 1..2 of 2", UPD, EACH(-EINVAL), .call = call_past_end,
	  .kind = 1 },
	{ "update slots 2..3 of 2", UPD, EACH(-EINVAL), .call = call_past_end,
	  .kind = 2 },
	{ "update offset 2^32-1 wraps", UPD, EACH(-EOVERFLOW),
	  .call = call_offset_wraps },
	{ "update without a table", UPD, EACH(-ENXIO),
	  .call = call_update_no_table, .no_table = true },
	{ "iovec array unmapped", ALL, EACH(-EFAULT), .call = call_bad_iov_ptr },
	/* an update stops at the first bad entry and returns the count done */
	{ "iovec array's second entry unmapped", ALL, { -EFAULT, -EFAULT, 1 },
	  .call = call_bad_iov_ptr, .kind = 1 },
	{ "tags array unmapped", BUF2 | UPD, EACH(-EFAULT),
	  .call = call_bad_tags_ptr },
	{ "NULL base with a tag", BUF2 | UPD, EACH(-EINVAL),
	  .call = call_null_tagged },
};

static bool table_after(const struct bad_case *c, enum t_reg how)
{
	if (how == T_REG_UPDATE)
		return !c->no_table;
	return c->busy;
}

/*
 * With nothing registered, registers the good buffer; then checks that
 * slot 0 carries fixed I/O and slot 1 refuses it, unregisters everything
 * and checks VmPin is back at start_kb.
 */
static int check_ring(struct io_uring *ring, enum t_reg how, bool registered,
		      long start_kb)
{
	struct iovec iov = { env.good, GOOD_LEN };
	int ret, res;

	res = t_nop(ring);
	if (res) {
		t_diag("NOP: %s", t_errname(res));
		return T_EXIT_FAIL;
	}
	if (!registered) {
		res = io_uring_unregister_buffers(ring);
		if (res != -ENXIO) {
			t_diag("unregister with no table: %s, want -ENXIO",
			       t_errname(res));
			return T_EXIT_FAIL;
		}
		res = t_register(ring, how, &iov, 1);
		if (res) {
			t_diag("registering the good buffer: %s", t_errname(res));
			return T_EXIT_FAIL;
		}
	}
	ret = t_check_fixed_rw(ring, &env.f, 0, env.good, GOOD_LEN, 0, env.good,
			       env.good + GOOD_LEN);
	if (ret)
		return ret;
	res = t_fixed_io(ring, false, env.f.fd, env.good, T_PAGE, 0, 1);
	if (res != -EFAULT) {
		t_diag("fixed read through slot 1: %s, want -EFAULT",
		       t_errname(res));
		return T_EXIT_FAIL;
	}
	res = io_uring_unregister_buffers(ring);
	if (res) {
		t_diag("unregister: %s", t_errname(res));
		return T_EXIT_FAIL;
	}
	return t_vmpin_expect(start_kb, "after unregistering the good buffer");
}

static int prepare(struct io_uring *ring, const struct bad_case *c,
		   enum t_reg how)
{
	struct iovec iov = { env.good, GOOD_LEN };
	int res;

	if (how == T_REG_UPDATE && !c->no_table) {
		res = io_uring_register_buffers_sparse(ring, NSLOTS);
		if (!res)
			res = t_update(ring, 0, &iov, GOOD_TAG);
	} else if (how != T_REG_UPDATE && c->busy) {
		res = t_register(ring, how, &iov, 1);
	} else {
		return T_EXIT_PASS;
	}
	if (res) {
		t_diag("preparing the table: %s", t_errname(res));
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

static int test_case(const struct bad_case *c, enum t_reg how)
{
	long start_kb, before_kb;
	struct io_uring ring;
	int ret, did;

	ret = t_ring_setup(&ring);
	if (ret)
		return ret;
	start_kb = t_vmpin_kb();
	if (start_kb < 0) {
		ret = t_skip("no VmPin in /proc/self/status");
		goto out;
	}
	ret = prepare(&ring, c, how);
	if (ret)
		goto out;
	before_kb = t_vmpin_kb();

	did = c->call(&ring, how, c);
	if (did != c->should[how]) {
		t_diag("should %s, did %s", t_errname(c->should[how]),
		       t_errname(did));
		ret = T_EXIT_FAIL;
		goto out;
	}
	ret = t_vmpin_expect(before_kb, "after the bad call");
	if (!ret)
		ret = check_ring(&ring, how, table_after(c, how), start_kb);
out:
	io_uring_queue_exit(&ring);
	return ret;
}

static int env_setup(void)
{
	int ret;

	ret = t_alloc(T_MEM_ANON, GOOD_LEN, &env.good, NULL);
	if (ret)
		return ret;

	/* a writable page followed by an unmapped one */
	if (t_alloc(T_MEM_ANON, 2 * T_PAGE, &env.unmapped, NULL))
		return T_EXIT_FAIL;
	env.unmapped += T_PAGE;
	munmap(env.unmapped, T_PAGE);
	return t_file_open(&env.f, false);
}

int main(void)
{
	unsigned int i, nr = 0;
	int how, ret;

	for (i = 0; i < T_ARRAY_SIZE(cases); i++)
		nr += __builtin_popcount(cases[i].hows);
	t_tap_plan(nr);
	ret = env_setup();
	for (i = 0; i < T_ARRAY_SIZE(cases); i++) {
		for (how = 0; how < T_REG_NR; how++) {
			if (!(cases[i].hows & (1U << how)))
				continue;
			t_tap_result(ret ? ret : test_case(&cases[i], how),
				     "%s via %s: should %s", cases[i].name,
				     t_reg_name(how),
				     t_errname(cases[i].should[how]));
		}
	}
	return t_tap_exit();
}
