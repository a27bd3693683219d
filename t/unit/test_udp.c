/* SPDX-License-Identifier: MIT */
/*
 * src/udp.c's handling of a full socket buffer, on an AF_UNIX datagram socketpair whose reader
 * never reads: the kernel then refuses sends with EAGAIN, as a UDP socket does when its send
 * buffer is full. (UDP_SEGMENT is not a SOL_SOCKET option, so AF_UNIX ignores it and takes a
 * GSO batch as one datagram: enough to see what a refused batch costs.)
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "udp.h"

struct pair {
	struct udp_sock s;
	int peer;
};

static void pair_open(struct pair *p, bool gso)
{
	int sv[2], size = 131072; /* a GSO batch must fit: AF_UNIX refuses larger */

	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
	memset(&p->s, 0, sizeof(p->s));
	p->s.fd = sv[0];
	p->s.family = AF_UNIX;
	p->s.gso = gso;
	p->peer = sv[1];
}

/* Send single datagrams until the socket refuses one. */
static void fill(struct pair *p)
{
	static uint8_t d[1000];
	int i;

	for (i = 0; i < 100000; i++)
		if (send(p->s.fd, d, sizeof(d), MSG_DONTWAIT) < 0)
			break;
	assert_true(errno == EAGAIN || errno == ENOBUFS);
}

static void drain(struct pair *p)
{
	static uint8_t d[65536];

	while (recv(p->peer, d, sizeof(d), MSG_DONTWAIT) > 0)
		;
}

static void pair_close(struct pair *p)
{
	close(p->s.fd);
	close(p->peer);
}

/* A dropped GSO batch counts its datagrams, not the one send that failed. */
static void test_drop_counts_datagrams(void **state)
{
	static uint8_t batch[40 * 1200 + 500];
	struct pair p;

	(void)state;
	pair_open(&p, true);
	fill(&p);
	assert_int_equal(udp_send(&p.s, NULL, 0, NULL, batch, sizeof(batch), 1200), 0);
	assert_int_equal(p.s.tx_eagain, 41);
	assert_int_equal(p.s.tx_blocked, 0);
	/* one by one (no GSO): the same count */
	p.s.gso = false;
	p.s.tx_eagain = 0;
	assert_int_equal(udp_send(&p.s, NULL, 0, NULL, batch, 10 * 1200, 1200), 0);
	assert_int_equal(p.s.tx_eagain, 10);
	pair_close(&p);
}

/* udp_send_batch() reports a full buffer and what went, and counts nothing as dropped. */
static void test_batch_kept(void **state)
{
	static uint8_t batch[8 * 1200];
	struct pair p;
	size_t sent = 99;

	(void)state;
	pair_open(&p, true);
	fill(&p);
	assert_int_equal(udp_send_batch(&p.s, NULL, 0, NULL, batch, sizeof(batch), 1200, &sent),
			 -EAGAIN);
	assert_int_equal(sent, 0);
	assert_int_equal(p.s.tx_blocked, 1);
	assert_int_equal(p.s.tx_eagain, 0);
	drain(&p);
	assert_int_equal(udp_send_batch(&p.s, NULL, 0, NULL, batch, sizeof(batch), 1200, &sent), 0);
	assert_int_equal(sent, sizeof(batch));

	/* One by one, with room for a few: the packets before the refusal went, whole. */
	p.s.gso = false;
	drain(&p);
	fill(&p);
	for (int i = 0; i < 3; i++)
		assert_true(recv(p.peer, batch, 1000, MSG_DONTWAIT) > 0);
	assert_int_equal(udp_send_batch(&p.s, NULL, 0, NULL, batch, sizeof(batch), 1200, &sent),
			 -EAGAIN);
	assert_int_equal(sent % 1200, 0);
	assert_true(sent > 0 && sent < sizeof(batch));
	assert_int_equal(p.s.tx_eagain, 0);
	pair_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop_counts_datagrams),
		cmocka_unit_test(test_batch_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
