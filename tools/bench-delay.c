/*
 * bench-delay: a constant-delay line for tools/bench on kernels without sch_netem.
 *
 *   bench-delay QUEUE DELAY_US
 *
 * Binds to netfilter queue QUEUE (fed by an iptables NFQUEUE rule), and accepts every packet
 * DELAY_US microseconds after it was queued. Only metadata is copied to userspace (never the
 * payload), GSO packets are queued whole, and verdicts go out in batches: since the delay is
 * constant the queue is FIFO, so one NFQNL_MSG_VERDICT_BATCH accepts every packet that is due.
 * The queue fails open (the kernel accepts packets itself when the queue is full), so an
 * overload shows as less delay, never as extra loss; the count of such packets cannot be seen
 * from here, which is why the ring below is sized far beyond what a 2-core machine can fill.
 *
 * Runs until SIGTERM/SIGINT. A benchmark helper only: not installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libmnl/libmnl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING_SIZE (1u << 18) /* packets in flight; far above the queue's in-flight load */
#define RCVBUF	  (16 << 20)

struct slot {
	uint32_t id;
	uint64_t due_ns;
};

static struct slot ring[RING_SIZE];
static unsigned int head, tail; /* head: oldest pending; tail: next free */
static volatile sig_atomic_t stop;
static uint64_t delay_ns;
static uint16_t queue_num;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct nlmsghdr *put_header(char *buf, int type)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(queue_num);
	return nlh;
}

static int send_config(struct mnl_socket *nl)
{
	char buf[512];
	struct nlmsghdr *nlh;
	struct nfqnl_msg_config_cmd cmd = {.command = NFQNL_CFG_CMD_BIND};
	struct nfqnl_msg_config_params params = {.copy_range = 0, .copy_mode = NFQNL_COPY_META};
	uint32_t flags = htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN);

	nlh = put_header(buf, NFQNL_MSG_CONFIG);
	mnl_attr_put(nlh, NFQA_CFG_CMD, sizeof(cmd), &cmd);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	nlh = put_header(buf, NFQNL_MSG_CONFIG);
	params.copy_range = htonl(0);
	mnl_attr_put(nlh, NFQA_CFG_PARAMS, sizeof(params), &params);
	mnl_attr_put_u32(nlh, NFQA_CFG_QUEUE_MAXLEN, htonl(RING_SIZE / 2));
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, flags);
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, flags);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	return 0;
}

/* Accept every queued packet up to and including ID. */
static int send_verdict(struct mnl_socket *nl, uint32_t id)
{
	char buf[256];
	struct nlmsghdr *nlh = put_header(buf, NFQNL_MSG_VERDICT_BATCH);
	struct nfqnl_msg_verdict_hdr vh = {.verdict = htonl(NF_ACCEPT), .id = htonl(id)};

	mnl_attr_put(nlh, NFQA_VERDICT_HDR, sizeof(vh), &vh);
	return mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0 ? -errno : 0;
}

static int attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, NFQA_MAX) > 0)
		tb[type] = attr;
	return MNL_CB_OK;
}

static int packet_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[NFQA_MAX + 1] = {0};
	const struct nfqnl_msg_packet_hdr *ph;
	uint64_t *now = data;

	mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attr_cb, tb);
	if (!tb[NFQA_PACKET_HDR] || mnl_attr_get_payload_len(tb[NFQA_PACKET_HDR]) < sizeof(*ph))
		return MNL_CB_OK;
	ph = mnl_attr_get_payload(tb[NFQA_PACKET_HDR]);
	if (tail - head >= RING_SIZE)
		return MNL_CB_OK; /* cannot happen with the queue cap at half the ring */
	ring[tail % RING_SIZE] = (struct slot){ntohl(ph->packet_id), *now + delay_ns};
	tail++;
	return MNL_CB_OK;
}

int main(int argc, char **argv)
{
	static char buf[1 << 16];
	struct mnl_socket *nl;
	struct sigaction sa = {.sa_handler = on_signal};
	int fd, one = 1, rcvbuf = RCVBUF;
	char *end;
	long q, d;

	if (argc != 3) {
		fprintf(stderr, "usage: bench-delay QUEUE DELAY_US\n");
		return 2;
	}
	q = strtol(argv[1], &end, 10);
	if (*end || q < 0 || q > 65535) {
		fprintf(stderr, "bench-delay: bad queue number '%s'\n", argv[1]);
		return 2;
	}
	d = strtol(argv[2], &end, 10);
	if (*end || d < 0 || d > 10000000) {
		fprintf(stderr, "bench-delay: bad delay '%s' (0..10000000 us)\n", argv[2]);
		return 2;
	}
	queue_num = (uint16_t)q;
	delay_ns = (uint64_t)d * 1000u;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("bench-delay: netlink");
		return 1;
	}
	fd = mnl_socket_get_fd(nl);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	if (send_config(nl) < 0) {
		perror("bench-delay: bind queue");
		return 1;
	}
	fprintf(stderr, "bench-delay: queue %u, delay %ld us\n", queue_num, d);

	while (!stop) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		struct timespec ts, *tsp = NULL;
		uint64_t now = now_ns();
		ssize_t n;

		if (head != tail) {
			uint64_t due = ring[head % RING_SIZE].due_ns;
			uint64_t wait = due > now ? due - now : 0;

			ts.tv_sec = (time_t)(wait / 1000000000u);
			ts.tv_nsec = (long)(wait % 1000000000u);
			tsp = &ts;
		}
		if (ppoll(&pfd, 1, tsp, NULL) < 0 && errno != EINTR) {
			perror("bench-delay: ppoll");
			return 1;
		}
		now = now_ns();
		/* Drain what arrived: each packet is stamped with the time we saw it. */
		while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			mnl_cb_run(buf, (size_t)n, 0, 0, packet_cb, &now);
		now = now_ns();
		if (head != tail && ring[head % RING_SIZE].due_ns <= now) {
			uint32_t last;

			do {
				last = ring[head % RING_SIZE].id;
				head++;
			} while (head != tail && ring[head % RING_SIZE].due_ns <= now);
			if (send_verdict(nl, last) < 0 && errno != ENOENT)
				perror("bench-delay: verdict");
		}
	}
	/* Release what is still held; the queue unbinds when the socket closes. */
	if (head != tail)
		send_verdict(nl, ring[(tail - 1) % RING_SIZE].id);
	mnl_socket_close(nl);
	return 0;
}
