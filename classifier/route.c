/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>

#include "route.h"
#include "talk.h"

#define NL_TIMEOUT_MS 1000
#define NL_BUF_SIZE   8192 /* MNL_SOCKET_BUFFER_SIZE is not a constant expression */

/* Send one request and wait (bounded) for the ack with its sequence number. */
static int nl_request(struct mnl_socket *nl, struct nlmsghdr *nlh)
{
	char buf[NL_BUF_SIZE];
	uint32_t portid = mnl_socket_get_portid(nl);
	static uint32_t seq;
	int waited = 0;

	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	if (seq == 0)
		seq = (uint32_t)time(NULL);
	nlh->nlmsg_seq = ++seq;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		struct pollfd pfd = {.fd = mnl_socket_get_fd(nl), .events = POLLIN};
		ssize_t len;
		int left;

		if (poll(&pfd, 1, 100) <= 0) {
			if ((waited += 100) >= NL_TIMEOUT_MS)
				return -ETIMEDOUT;
			continue;
		}
		len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (len < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		left = (int)len;
		for (struct nlmsghdr *r = (struct nlmsghdr *)buf; mnl_nlmsg_ok(r, left);
		     r = mnl_nlmsg_next(r, &left)) {
			if (r->nlmsg_pid == portid && r->nlmsg_seq == nlh->nlmsg_seq &&
			    r->nlmsg_type == NLMSG_ERROR)
				return talk_parse_ack(r, NULL, 0);
		}
	}
}

static struct nlmsghdr *route_msg(char *buf, uint16_t type, uint16_t flags, int family,
				  uint32_t table)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (unsigned char)family;
	rtm->rtm_dst_len = 0;
	rtm->rtm_table = table < 256 ? (unsigned char)table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = type == RTM_DELROUTE ? RT_SCOPE_NOWHERE : RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	return nlh;
}

struct nlmsghdr *route_default_msg(char *buf, int family, uint32_t table, unsigned ifindex)
{
	struct nlmsghdr *nlh;

	if (!ifindex) {
		/* an exact metric: IPv6 would take 0 for "any", the kill switch included */
		nlh = route_msg(buf, RTM_DELROUTE, 0, family, table);
		mnl_attr_put_u32(nlh, RTA_PRIORITY, route_default_metric(family));
		return nlh;
	}
	nlh = route_msg(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, family, table);
	mnl_attr_put_u32(nlh, RTA_OIF, ifindex);
	return nlh;
}

int route_class_killswitch(struct mnl_socket *nl, const struct conf *c, size_t class_idx, bool on,
			   int *ret_family)
{
	static const int families[] = {AF_INET, AF_INET6};

	for (size_t i = 0; i < 2; i++) {
		char buf[NL_BUF_SIZE];
		struct nlmsghdr *nlh;
		struct rtmsg *rtm;
		int r;

		nlh = route_msg(buf, on ? RTM_NEWROUTE : RTM_DELROUTE,
				on ? NLM_F_CREATE | NLM_F_REPLACE : 0, families[i],
				c->classes[class_idx].table);
		rtm = mnl_nlmsg_get_payload(nlh);
		rtm->rtm_type = RTN_UNREACHABLE;
		rtm->rtm_scope = on ? RT_SCOPE_UNIVERSE : RT_SCOPE_NOWHERE;
		mnl_attr_put_u32(nlh, RTA_PRIORITY, ROUTE_KILL_METRIC);
		r = nl_request(nl, nlh);
		if (r == -ESRCH || r == -ENOENT)
			r = 0; /* removing one that is not there */
		if (r < 0) {
			if (ret_family)
				*ret_family = families[i];
			return r;
		}
	}
	return 0;
}

/* fwmark rule of class i, or the suppress rule when i == (size_t)-1 */
static struct nlmsghdr *rule_msg(char *buf, uint16_t type, uint16_t flags, int family,
				 const struct conf *c, size_t i)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct fib_rule_hdr *frh;
	uint32_t table = i == (size_t)-1 ? RT_TABLE_MAIN : c->classes[i].table;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = (uint8_t)family;
	frh->action = FR_ACT_TO_TBL;
	frh->table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	mnl_attr_put_u32(nlh, FRA_TABLE, table);
	if (i == (size_t)-1) {
		mnl_attr_put_u32(nlh, FRA_PRIORITY, c->classifier.rule_priority);
		mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, 0);
	} else {
		mnl_attr_put_u32(nlh, FRA_PRIORITY, c->classifier.rule_priority + 1);
		mnl_attr_put_u32(nlh, FRA_FWMARK, c->classes[i].mark);
		mnl_attr_put_u32(nlh, FRA_FWMASK, c->classifier.mark_mask);
	}
	return nlh;
}

int route_rules_apply(struct mnl_socket *nl, const struct conf *c)
{
	static const int families[] = {AF_INET, AF_INET6};

	for (size_t f = 0; f < 2; f++) {
		for (size_t i = (size_t)-1; i == (size_t)-1 || i < c->n_classes; i++) {
			char buf[NL_BUF_SIZE];
			int r;

			/* the kernel compares every attribute under NLM_F_EXCL (rule_exists()):
			 * atomic, unlike a dump followed by an add */
			r = nl_request(nl, rule_msg(buf, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL,
						    families[f], c, i));
			if (r < 0 && r != -EEXIST)
				return r;
		}
	}
	return 0;
}

int route_rules_delete(struct mnl_socket *nl, const struct conf *c)
{
	static const int families[] = {AF_INET, AF_INET6};

	for (size_t f = 0; f < 2; f++) {
		for (size_t i = (size_t)-1; i == (size_t)-1 || i < c->n_classes; i++) {
			for (int n = 0; n < 16; n++) {
				char buf[NL_BUF_SIZE];
				int r;

				r = nl_request(nl,
					       rule_msg(buf, RTM_DELRULE, 0, families[f], c, i));
				if (r == -ENOENT || r == -ESRCH)
					break;
				if (r < 0)
					return r;
			}
		}
	}
	return 0;
}
