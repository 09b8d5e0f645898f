/* SPDX-License-Identifier: MIT */
/*
 * Drives send zero-copy from a registered buffer (IORING_OP_SEND_ZC with
 * IORING_RECVSEND_FIXED_BUF) over TCP and UDP on loopback, with coalesced
 * buffers (2 MiB hugetlb, THP, a layout mixing 4 KiB, THP and hugetlb
 * pieces): the skb fragments are built straight from the buffer's bvecs
 * (io_sg_from_iter()), so a multi-page segment becomes one fragment. Each
 * send crosses segment boundaries; every byte received is compared with
 * what was sent, and each send must post exactly one result CQE (flagged
 * IORING_CQE_F_MORE) and one notification (IORING_CQE_F_NOTIF).
 *
 * Prerequisites: loopback networking; free 2 MiB hugepages for the hugetlb
 * kinds (SKIP per kind without them).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "helpers.h"

#define UDP_MAX		60000

enum kind { K_HUGETLB, K_THP, K_MIXED, K_NR };

static const char *const kind_name[K_NR] = {
	"2 MiB hugetlb", "THP", "4 KiB + THP + hugetlb",
};

static const struct t_piece pieces[K_NR][4] = {
	[K_HUGETLB] = { { T_MEM_HUGETLB_2M, 2 * T_SZ_2M } },
	[K_THP] = { { T_MEM_THP, 2 * T_SZ_2M } },
	[K_MIXED] = { { T_MEM_ANON, 3 * T_PAGE }, { T_MEM_THP, T_SZ_2M },
		      { T_MEM_HUGETLB_2M, T_SZ_2M }, { T_MEM_ANON, T_PAGE } },
};

static const unsigned int nr_pieces[K_NR] = { 1, 1, 4 };

/* (offset, length) of each send; each crosses a 2 MiB boundary but one. */
static const struct {
	size_t off, len;
} tcp_sends[] = {
	{ 100, 5000 },
	{ T_SZ_2M - 7000, 20000 },
	{ T_SZ_2M / 2 + 1, T_SZ_2M + 4097 },
}, udp_sends[] = {
	{ 10, 1500 },
	{ T_SZ_2M - 30001, UDP_MAX },
	{ 2 * T_SZ_2M - UDP_MAX - 3 * T_PAGE, UDP_MAX },
};

struct receiver {
	int fd;
	char *buf;
	size_t want;
	ssize_t got;
	bool udp;
};

/* Reads exactly want bytes (TCP) or one datagram (UDP). */
static void *receive(void *arg)
{
	struct receiver *r = arg;

	r->got = 0;
	while ((size_t)r->got < r->want) {
		ssize_t n = recv(r->fd, r->buf + r->got, r->want - r->got, 0);

		if (n <= 0) {
			r->got = n < 0 ? -errno : r->got;
			break;
		}
		r->got += n;
		if (r->udp)
			break;
	}
	return NULL;
}

/*
 * One send_zc of [at, at + len) from buffer 0 on fd: waits for its result
 * and its notification, which may come in either order.
 */
static int send_zc(struct io_uring *ring, int fd, char *at, size_t len)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	unsigned int results = 0, notifs = 0;
	int ret, res = 0;

	/* MSG_WAITALL: a stream send is retried until all of it is queued */
	io_uring_prep_send_zc_fixed(sqe, fd, at, len, MSG_WAITALL, 0, 0);
	sqe->user_data = 0x2c;
	ret = io_uring_submit(ring);
	if (ret != 1)
		return ret < 0 ? ret : -EIO;
	while (notifs == 0 || results == 0) {
		ret = t_next_cqe(ring, T_WAIT_MS, &cqe);
		if (ret)
			return ret;
		if (cqe->user_data != 0x2c) {
			io_uring_cqe_seen(ring, cqe);
			continue;
		}
		if (cqe->flags & IORING_CQE_F_NOTIF) {
			notifs++;
		} else {
			results++;
			res = cqe->res;
			/* without F_MORE no notification follows */
			if (!(cqe->flags & IORING_CQE_F_MORE))
				notifs++;
		}
		io_uring_cqe_seen(ring, cqe);
	}
	if (results != 1 || notifs != 1) {
		t_diag("send_zc of %zu bytes: %u results, %u notifications",
		       len, results, notifs);
		return -EPROTO;
	}
	return res;
}

/* A connected pair on loopback: *tx sends, *rx receives. */
static int socket_pair(bool udp, int *tx, int *rx)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t alen = sizeof(addr);
	int type = udp ? SOCK_DGRAM : SOCK_STREAM, lfd;

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, type, 0);
	*tx = socket(AF_INET, type, 0);
	if (lfd < 0 || *tx < 0 ||
	    bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    getsockname(lfd, (struct sockaddr *)&addr, &alen) ||
	    (!udp && listen(lfd, 1)) ||
	    connect(*tx, (struct sockaddr *)&addr, sizeof(addr))) {
		t_diag("loopback %s sockets: %s", udp ? "UDP" : "TCP",
		       strerror(errno));
		return T_EXIT_FAIL;
	}
	if (udp) {
		*rx = lfd;
		return T_EXIT_PASS;
	}
	*rx = accept(lfd, NULL, NULL);
	close(lfd);
	return *rx < 0 ? T_EXIT_FAIL : T_EXIT_PASS;
}

static int run(enum kind k, bool udp)
{
	struct t_layout l;
	struct io_uring ring;
	struct iovec iov;
	unsigned int i, n = udp ? T_ARRAY_SIZE(udp_sends) : T_ARRAY_SIZE(tcp_sends);
	char *rbuf = malloc(3 * T_SZ_2M);
	int tx = -1, rx = -1, ret;

	if (!rbuf)
		return T_EXIT_FAIL;
	ret = t_layout_map(&l, pieces[k], nr_pieces[k]);
	if (ret)
		goto out_free;
	ret = t_ring_setup(&ring);
	if (ret)
		goto out_unmap;
	iov.iov_base = l.buf;
	iov.iov_len = l.len;
	ret = t_register_or_skip(&ring, &iov, 1, k == K_MIXED);
	if (!ret)
		ret = socket_pair(udp, &tx, &rx);
	for (i = 0; !ret && i < n; i++) {
		size_t off = udp ? udp_sends[i].off : tcp_sends[i].off;
		size_t len = udp ? udp_sends[i].len : tcp_sends[i].len;
		struct receiver r = { rx, rbuf, len, 0, udp };
		unsigned int seed = t_seed();
		pthread_t thread;
		int res;

		if (off + len > l.len)
			continue;
		t_fill(l.buf + off, len, seed, 0);
		if (pthread_create(&thread, NULL, receive, &r)) {
			ret = T_EXIT_FAIL;
			break;
		}
		res = send_zc(&ring, tx, l.buf + off, len);
		pthread_join(thread, NULL);
		if (res != (int)len || r.got != (ssize_t)len) {
			t_diag("%s, %s: sent %s of %zu bytes at +%zu, received %zd",
			       udp ? "UDP" : "TCP", kind_name[k], t_errname(res),
			       len, off, r.got);
			ret = T_EXIT_FAIL;
			break;
		}
		ret = t_verify(rbuf, len, seed, 0, "data received");
	}
	if (tx >= 0)
		close(tx);
	if (rx >= 0)
		close(rx);
	io_uring_queue_exit(&ring);
out_unmap:
	t_layout_unmap(&l);
out_free:
	free(rbuf);
	return ret;
}

static int test_tcp_hugetlb(void) { return run(K_HUGETLB, false); }
static int test_tcp_thp(void) { return run(K_THP, false); }
static int test_tcp_mixed(void) { return run(K_MIXED, false); }
static int test_udp_hugetlb(void) { return run(K_HUGETLB, true); }
static int test_udp_thp(void) { return run(K_THP, true); }
static int test_udp_mixed(void) { return run(K_MIXED, true); }

int main(void)
{
	static const struct t_case cases[] = {
		{ "TCP send_zc from 2 MiB hugetlb", test_tcp_hugetlb },
		{ "TCP send_zc from THP", test_tcp_thp },
		{ "TCP send_zc from mixed folios", test_tcp_mixed },
		{ "UDP send_zc from 2 MiB hugetlb", test_udp_hugetlb },
		{ "UDP send_zc from THP", test_udp_thp },
		{ "UDP send_zc from mixed folios", test_udp_mixed },
	};

	return t_run_cases(cases, T_ARRAY_SIZE(cases));
}
