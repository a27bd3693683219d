/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mpq.h"
#include "nl.h"
#include "util.h"

/* Descriptions of requests in flight, by sequence number, for error messages. */
#define NL_PENDING 256
#define NL_MSG_BUF 1024

struct nl {
	struct mnl_socket *sock; /* owned */
	ev_io watcher;
	struct ev_loop *loop; /* borrowed */
	uint32_t seq;
	uint32_t portid;
	struct {
		uint32_t seq;
		unsigned ok; /* NL_OK_* errors that mean "already done" for this request */
		char what[160];
	} pending[NL_PENDING];
};

static void note_pending(struct nl *nl, uint32_t seq, unsigned ok, const char *what, const char *op)
{
	unsigned i = seq % NL_PENDING;

	nl->pending[i].seq = seq;
	nl->pending[i].ok = ok;
	snprintf(nl->pending[i].what, sizeof(nl->pending[i].what), "%s: %s", what, op);
}

static bool error_is_ok(unsigned ok, int err)
{
	return ((ok & NL_OK_EXIST) && err == EEXIST) ||
	       ((ok & NL_OK_NOENT) && (err == ENOENT || err == ESRCH));
}

static void nl_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct nl *nl = container_of(w, struct nl, watcher);
	char buf[8192] __attribute__((aligned(4)));

	(void)loop;
	(void)revents;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("rtnetlink: receive failed: %s", strerror(errno));
			return;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; mnl_nlmsg_ok(h, (int)n);
		     h = mnl_nlmsg_next(h, (int *)&n)) {
			const struct nlmsgerr *e;
			unsigned i;

			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			e = mnl_nlmsg_get_payload(h);
			if (e->error == 0)
				continue;
			i = h->nlmsg_seq % NL_PENDING;
			if (nl->pending[i].seq == h->nlmsg_seq &&
			    error_is_ok(nl->pending[i].ok, -e->error))
				continue;
			log_err("%s failed: %s",
				nl->pending[i].seq == h->nlmsg_seq ? nl->pending[i].what
								   : "rtnetlink request",
				strerror(-e->error));
		}
	}
}

int nl_new(struct ev_loop *loop, struct nl **ret)
{
	struct nl *nl = calloc(1, sizeof(*nl));
	int r;

	if (!nl)
		return -ENOMEM;
	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!nl->sock) {
		r = -errno;
		goto err_free;
	}
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto err_close;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	/* Room for the acknowledgements of a burst of requests (WAN routing at start). */
	mpq_set_sockbuf(mnl_socket_get_fd(nl->sock), SO_RCVBUF, 1 << 20);
	nl->seq = (uint32_t)time(NULL);
	nl->loop = loop;
	ev_io_init(&nl->watcher, nl_read_cb, mnl_socket_get_fd(nl->sock), EV_READ);
	ev_io_start(loop, &nl->watcher);
	*ret = nl;
	return 0;

err_close:
	mnl_socket_close(nl->sock);
err_free:
	free(nl);
	return r;
}

uint32_t nl_portid(const struct nl *nl)
{
	return nl->portid;
}

void nl_free(struct nl *nl)
{
	if (!nl)
		return;
	ev_io_stop(nl->loop, &nl->watcher);
	mnl_socket_close(nl->sock);
	free(nl);
}

static int nl_send(struct nl *nl, struct nlmsghdr *h, const char *what, const char *op)
{
	note_pending(nl, h->nlmsg_seq, 0, what, op);
	if (mnl_socket_sendto(nl->sock, h, h->nlmsg_len) < 0) {
		int r = -errno;

		log_err("%s: %s failed: %s", what, op, strerror(-r));
		return r;
	}
	return 0;
}

/* An RTM_NEWLINK request for ifindex in h, with its link header (returned) zeroed. */
static struct ifinfomsg *link_msg(struct nl *nl, struct nlmsghdr *h, int ifindex)
{
	struct ifinfomsg *ifi;

	h->nlmsg_type = RTM_NEWLINK;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = ++nl->seq;
	ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return ifi;
}

/*
 * No IPv6 link-local address on a TUN: without one the kernel sends no router solicitations
 * or MLD reports into the tunnel, which the server would only count as spoofed. Sent before
 * the link goes up, and only when the kernel has IPv6.
 */
static int link_no_ipv6_ll(struct nl *nl, int ifindex, const char *what)
{
	char buf[NL_MSG_BUF] __attribute__((aligned(4)));
	struct nlmsghdr *h = mnl_nlmsg_put_header(buf);
	struct nlattr *af, *in6;

	if (access("/proc/sys/net/ipv6", F_OK) != 0)
		return 0;
	(void)link_msg(nl, h, ifindex);
	af = mnl_attr_nest_start(h, IFLA_AF_SPEC);
	in6 = mnl_attr_nest_start(h, AF_INET6);
	mnl_attr_put_u8(h, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
	mnl_attr_nest_end(h, in6);
	mnl_attr_nest_end(h, af);
	return nl_send(nl, h, what, "turning off IPv6 link-local addressing");
}

int nl_link_set(struct nl *nl, int ifindex, unsigned mtu, bool up, const char *what)
{
	char buf[NL_MSG_BUF] __attribute__((aligned(4)));
	struct nlmsghdr *h = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	if (up)
		(void)link_no_ipv6_ll(nl, ifindex, what);
	ifi = link_msg(nl, h, ifindex);
	if (up) {
		ifi->ifi_flags = IFF_UP;
		ifi->ifi_change = IFF_UP;
	}
	if (mtu)
		mnl_attr_put_u32(h, IFLA_MTU, mtu);
	return nl_send(nl, h, what, "setting link MTU/up");
}

static int addr_msg(struct nl *nl, int type, int flags, int ifindex, const struct mpq_prefix *a,
		    const char *what, const char *op)
{
	char buf[NL_MSG_BUF] __attribute__((aligned(4)));
	struct nlmsghdr *h = mnl_nlmsg_put_header(buf);
	unsigned alen = mpq_family_addrlen(a->family);
	struct ifaddrmsg *ifa;

	h->nlmsg_type = (uint16_t)type;
	h->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | NLM_F_ACK | flags);
	h->nlmsg_seq = ++nl->seq;
	ifa = mnl_nlmsg_put_extra_header(h, sizeof(*ifa));
	ifa->ifa_family = a->family;
	ifa->ifa_prefixlen = a->len;
	ifa->ifa_index = (unsigned)ifindex;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	if (a->family == AF_INET6)
		ifa->ifa_flags = IFA_F_NODAD;
	mnl_attr_put(h, IFA_LOCAL, alen, a->addr);
	mnl_attr_put(h, IFA_ADDRESS, alen, a->addr);
	if (a->family == AF_INET6)
		mnl_attr_put_u32(h, IFA_FLAGS, IFA_F_NODAD);
	return nl_send(nl, h, what, op);
}

int nl_addr_add(struct nl *nl, int ifindex, const struct mpq_prefix *addr, const char *what)
{
	char op[80], p[MPQ_PREFIX_STRLEN];

	snprintf(op, sizeof(op), "adding address %s", mpq_prefix_format(addr, p, sizeof(p)));
	return addr_msg(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, ifindex, addr, what, op);
}

int nl_addr_del(struct nl *nl, int ifindex, const struct mpq_prefix *addr, const char *what)
{
	char op[80], p[MPQ_PREFIX_STRLEN];

	snprintf(op, sizeof(op), "removing address %s", mpq_prefix_format(addr, p, sizeof(p)));
	return addr_msg(nl, RTM_DELADDR, 0, ifindex, addr, what, op);
}

int nl_request(struct nl *nl, struct nlmsghdr *h, unsigned ok, const char *what, const char *op)
{
	h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = ++nl->seq;
	note_pending(nl, h->nlmsg_seq, ok, what, op);
	if (mnl_socket_sendto(nl->sock, h, h->nlmsg_len) < 0) {
		int r = -errno;

		log_err("%s: %s failed: %s", what, op, strerror(-r));
		return r;
	}
	return 0;
}
