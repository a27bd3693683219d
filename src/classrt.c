/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "classrt.h"
#include "daemon.h"
#include "log.h"
#include "util.h"
#include "mpq.h"
#include "nl.h"
#include "route.h"

#define CLASSRT_REPAIR_DELAY_S 0.05
#define CLASSRT_TICK_S	       10.
#define CLASSRT_REPAIR_MAX     20 /* repairs per class per tick before we stop fighting */
#define CLASSRT_RCVBUF	       (1 << 20)

struct class_rt {
	int want;	       /* ifindex of the TUN the table must point at, 0: no route */
	char tun[IF_NAMESIZE]; /* its name */
	bool dirty;	       /* someone changed the table: repair_timer restores it */
	unsigned budget;       /* repairs left until the next tick */
	bool budget_warned;
	unsigned long repairs;
};

struct classrt {
	struct ev_loop *loop;	 /* borrowed */
	struct nl *nl;		 /* borrowed: requests */
	const struct conf *conf; /* borrowed */
	struct mnl_socket *sock; /* owned: events */
	ev_io watcher;
	ev_timer repair_timer;
	ev_timer tick_timer;
	struct class_rt *cls; /* owned; one per conf->classes[] */
	size_t n_cls;
};

static const char *fam_name(int family)
{
	return family == AF_INET6 ? "IPv6" : "IPv4";
}

/* Send class i's wanted default route, both families (a replace, or a delete). */
static void send_route(struct classrt *cr, size_t i)
{
	const struct conf_class *k = &cr->conf->classes[i];
	const struct class_rt *s = &cr->cls[i];
	char what[96], op[96];

	snprintf(what, sizeof(what), "class '%s' (table %" PRIu32 ")", k->name, k->table);
	for (int f = 0; f < 2; f++) {
		char buf[NL_ROUTE_MSG_SIZE] __attribute__((aligned(4)));
		int family = f == 0 ? AF_INET : AF_INET6;
		struct nlmsghdr *h = route_default_msg(buf, family, k->table, (unsigned)s->want);

		if (s->want)
			snprintf(op, sizeof(op), "%s default route dev %s", fam_name(family),
				 s->tun);
		else
			snprintf(op, sizeof(op), "removing the %s default route", fam_name(family));
		nl_request(cr->nl, h, s->want ? 0 : NL_OK_NOENT, what, op);
	}
}

void classrt_set(struct classrt *cr, size_t class_idx, int ifindex, const char *tun)
{
	struct class_rt *s;

	if (!cr || class_idx >= cr->n_cls)
		return;
	s = &cr->cls[class_idx];
	if (s->want == ifindex && !s->dirty)
		return;
	s->want = ifindex;
	snprintf(s->tun, sizeof(s->tun), "%s", ifindex ? tun : "");
	s->dirty = false;
	send_route(cr, class_idx);
}

unsigned long classrt_repairs(const struct classrt *cr, size_t class_idx)
{
	return cr && class_idx < cr->n_cls ? cr->cls[class_idx].repairs : 0;
}

static void repair_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct classrt *cr = container_of(t, struct classrt, repair_timer);

	(void)loop;
	(void)revents;
	for (size_t i = 0; i < cr->n_cls; i++) {
		struct class_rt *s = &cr->cls[i];
		const struct conf_class *k = &cr->conf->classes[i];
		char name[IF_NAMESIZE];

		if (!s->dirty)
			continue;
		s->dirty = false;
		/* the TUN itself went away: the client picks another tunnel */
		if (s->want && !if_indextoname((unsigned)s->want, name))
			continue;
		if (!s->budget) {
			if (!s->budget_warned)
				log_err("class '%s' (table %" PRIu32 "): its default route keeps "
					"being changed by another program; not restoring it for up "
					"to %.0f s",
					k->name, k->table, CLASSRT_TICK_S);
			s->budget_warned = true;
			continue;
		}
		s->budget--;
		s->repairs++;
		send_route(cr, i);
	}
}

static void mark_dirty(struct classrt *cr, size_t i)
{
	cr->cls[i].dirty = true;
	if (!ev_is_active(&cr->repair_timer)) {
		ev_timer_set(&cr->repair_timer, CLASSRT_REPAIR_DELAY_S, 0.);
		ev_timer_start(cr->loop, &cr->repair_timer);
	}
}

static bool class_of_table(const struct conf *c, uint32_t table, size_t *ret)
{
	for (size_t i = 0; i < c->n_classes; i++) {
		if (c->classes[i].table == table) {
			*ret = i;
			return true;
		}
	}
	return false;
}

#define ATTR_MAX 63 /* above RTA_MAX and FRA_MAX */

/* The u32 attributes we read (route and rule messages), by type. */
static int attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (type <= ATTR_MAX && mnl_attr_get_payload_len(a) >= 4)
		tb[type] = a;
	return MNL_CB_OK;
}

static void ifname(int ifindex, char *buf)
{
	if (!ifindex || !if_indextoname((unsigned)ifindex, buf))
		snprintf(buf, IF_NAMESIZE, ifindex ? "#%d" : "-", ifindex);
}

/* A route event: does it leave a class table other than the daemon decided? */
static void handle_route(struct classrt *cr, const struct nlmsghdr *h)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(h);
	const struct nlattr *tb[ATTR_MAX + 1] = {0};
	uint32_t table, metric = 0;
	int oif = 0;
	size_t i;
	struct class_rt *s;
	char name[IF_NAMESIZE];

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)) || rtm->rtm_dst_len != 0 ||
	    (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6) ||
	    rtm->rtm_type != RTN_UNICAST)
		return; /* the kill switch is unreachable: mpquic-nft's */
	mnl_attr_parse(h, sizeof(*rtm), attr_cb, tb);
	table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	if (tb[RTA_PRIORITY])
		metric = mnl_attr_get_u32(tb[RTA_PRIORITY]);
	if (tb[RTA_OIF])
		oif = (int)mnl_attr_get_u32(tb[RTA_OIF]);
	if (!class_of_table(cr->conf, table, &i) || metric != route_default_metric(rtm->rtm_family))
		return;
	s = &cr->cls[i];
	if (h->nlmsg_type == RTM_NEWROUTE && oif != s->want) {
		ifname(oif, name);
		log_warn("class '%s' (table %" PRIu32 "): %s default route %s dev %s by another "
			 "program, %s",
			 cr->conf->classes[i].name, table, fam_name(rtm->rtm_family),
			 h->nlmsg_flags & NLM_F_REPLACE ? "replaced with" : "added", name,
			 s->want ? "restoring it" : "removing it (no tunnel of the class is up)");
		mark_dirty(cr, i);
	} else if (h->nlmsg_type == RTM_DELROUTE && s->want && oif == s->want) {
		log_warn("class '%s' (table %" PRIu32 "): %s default route dev %s removed by "
			 "another program, restoring it",
			 cr->conf->classes[i].name, table, fam_name(rtm->rtm_family), s->tun);
		mark_dirty(cr, i);
	}
}

/* A rule event: say when a class's policy rule goes (mpquic-nft delete) or comes back. */
static void handle_rule(struct classrt *cr, const struct nlmsghdr *h)
{
	const struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(h);
	const struct nlattr *tb[ATTR_MAX + 1] = {0};
	const struct conf_classifier *k = &cr->conf->classifier;
	uint32_t table;
	size_t i;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*frh)))
		return;
	mnl_attr_parse(h, sizeof(*frh), attr_cb, tb);
	table = tb[FRA_TABLE] ? mnl_attr_get_u32(tb[FRA_TABLE]) : frh->table;
	if (!class_of_table(cr->conf, table, &i) || !tb[FRA_FWMARK] || !tb[FRA_PRIORITY] ||
	    mnl_attr_get_u32(tb[FRA_FWMARK]) != cr->conf->classes[i].mark ||
	    mnl_attr_get_u32(tb[FRA_PRIORITY]) != k->rule_priority + 1)
		return;
	if (h->nlmsg_type == RTM_DELRULE)
		log_warn("class '%s': its %s policy rule (priority %" PRIu32 " fwmark 0x%" PRIx32
			 "/0x%" PRIx32 " lookup %" PRIu32 ") was removed: its traffic is no "
			 "longer steered into its tunnels (run mpquic-nft apply)",
			 cr->conf->classes[i].name, fam_name(frh->family), k->rule_priority + 1,
			 cr->conf->classes[i].mark, k->mark_mask, table);
	else
		log_info("class '%s': its %s policy rule is in place", cr->conf->classes[i].name,
			 fam_name(frh->family));
}

static void read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct classrt *cr = container_of(io, struct classrt, watcher);
	char buf[16384] __attribute__((aligned(4)));
	uint32_t own = nl_portid(cr->nl);

	(void)loop;
	(void)revents;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(cr->sock, buf, sizeof(buf));
		int left = (int)n;

		if (n < 0) {
			if (errno == ENOBUFS) {
				/* events were lost: send every wanted route again */
				for (size_t i = 0; i < cr->n_cls; i++)
					mark_dirty(cr, i);
				continue;
			}
			if (errno != EAGAIN && errno != EINTR)
				log_warn("class routes: receive failed: %s", strerror(errno));
			return;
		}
		for (const struct nlmsghdr *h = (const void *)buf; mnl_nlmsg_ok(h, left);
		     h = mnl_nlmsg_next(h, &left)) {
			if (own && h->nlmsg_pid == own)
				continue; /* the echo of our own request */
			switch (h->nlmsg_type) {
			case RTM_NEWROUTE:
			case RTM_DELROUTE:
				handle_route(cr, h);
				break;
			case RTM_NEWRULE:
			case RTM_DELRULE:
				handle_rule(cr, h);
				break;
			}
		}
	}
}

static void tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct classrt *cr = container_of(t, struct classrt, tick_timer);

	(void)loop;
	(void)revents;
	for (size_t i = 0; i < cr->n_cls; i++) {
		cr->cls[i].budget = CLASSRT_REPAIR_MAX;
		cr->cls[i].budget_warned = false;
	}
}

static struct class_rt *cls_new(const struct conf *c)
{
	struct class_rt *cls = calloc(c->n_classes ? c->n_classes : 1, sizeof(*cls));

	for (size_t i = 0; cls && i < c->n_classes; i++)
		cls[i].budget = CLASSRT_REPAIR_MAX;
	return cls;
}

int classrt_set_conf(struct classrt *cr, const struct conf *c)
{
	struct class_rt *cls = cls_new(c);

	if (!cls)
		return -ENOMEM;
	/* a table no class uses any more: our route there goes */
	for (size_t i = 0; i < cr->n_cls; i++) {
		size_t j;

		if (!cr->cls[i].want || class_of_table(c, cr->conf->classes[i].table, &j))
			continue;
		cr->cls[i].want = 0;
		send_route(cr, i);
	}
	free(cr->cls);
	cr->cls = cls;
	cr->n_cls = c->n_classes;
	cr->conf = c;
	return 0;
}

int classrt_new(struct ev_loop *loop, struct nl *nl, const struct conf *c, struct classrt **ret)
{
	static const unsigned groups[] = {
		RTNLGRP_IPV4_ROUTE,
		RTNLGRP_IPV6_ROUTE,
		RTNLGRP_IPV4_RULE,
		RTNLGRP_IPV6_RULE,
	};
	struct classrt *cr = calloc(1, sizeof(*cr));
	int r;

	if (!cr)
		return -ENOMEM;
	cr->cls = cls_new(c);
	if (!cr->cls) {
		r = -ENOMEM;
		goto err_free;
	}
	cr->n_cls = c->n_classes;
	cr->loop = loop;
	cr->nl = nl;
	cr->conf = c;
	cr->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!cr->sock) {
		r = -errno;
		goto err_free;
	}
	if (mnl_socket_bind(cr->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto err_close;
	}
	for (size_t i = 0; i < ARRAY_SIZE(groups); i++) {
		if (mnl_socket_setsockopt(cr->sock, NETLINK_ADD_MEMBERSHIP, (void *)&groups[i],
					  sizeof(groups[i])) < 0) {
			r = -errno;
			goto err_close;
		}
	}
	mpq_set_sockbuf(mnl_socket_get_fd(cr->sock), SO_RCVBUF, CLASSRT_RCVBUF);
	ev_io_init(&cr->watcher, read_cb, mnl_socket_get_fd(cr->sock), EV_READ);
	ev_io_start(loop, &cr->watcher);
	ev_timer_init(&cr->repair_timer, repair_cb, CLASSRT_REPAIR_DELAY_S, 0.);
	ev_timer_init(&cr->tick_timer, tick_cb, CLASSRT_TICK_S, CLASSRT_TICK_S);
	ev_timer_start(loop, &cr->tick_timer);
	*ret = cr;
	return 0;

err_close:
	mnl_socket_close(cr->sock);
err_free:
	free(cr->cls);
	free(cr);
	return r;
}

void classrt_free(struct classrt *cr)
{
	if (!cr)
		return;
	ev_io_stop(cr->loop, &cr->watcher);
	ev_timer_stop(cr->loop, &cr->repair_timer);
	ev_timer_stop(cr->loop, &cr->tick_timer);
	mnl_socket_close(cr->sock);
	free(cr->cls);
	free(cr);
}
