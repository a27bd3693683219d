/* SPDX-License-Identifier: MIT */
/*
 * WAN state from rtnetlink and per-WAN policy routing (see wan.h and docs/wan.md).
 *
 * The kernel's view is cached raw (links by name, addresses, the main table's default routes,
 * and the routes and rules we own in the WAN tables). A resync clears the cache and dumps
 * links, addresses, routes and rules in turn on the event socket; events keep arriving meanwhile
 * and update the same cache, so the result is current when the last dump ends. Nothing is
 * evaluated during a dump. After each batch of messages every WAN's state is derived from the
 * cache and published (callback on change), and the wanted routes and rules are reconciled with
 * the ones the kernel reported: missing ones are added, stale ones deleted.
 *
 * IPv4 removes routes without notifications when a link goes down or an address goes away,
 * so those events also schedule a resync.
 *
 * Timers:
 *   resync_timer:    retries a dump the kernel refused, one second later.
 *   reconcile_timer: WAN_RECONCILE_DELAY_S after a batch of messages, brings the routes and
 *                    rules in line with the published state (once our own events are read).
 *   tick_timer:      every WAN_TICK_S, reconciles again (retries adds the kernel refused, e.g.
 *                    a static gateway not reachable yet) and refills the reconcile budget.
 */
#include <errno.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "mpq.h"
#include "nl.h"
#include "util.h"
#include "wan.h"

#define WAN_TICK_S	      30.
#define WAN_MAX_DEFROUTES     64  /* default routes of the main table, all interfaces */
#define WAN_MAX_OWN	      32  /* routes and rules we own, per WAN */
#define WAN_MAX_SUPPRESS      256 /* suppress rules, all WANs */
#define WAN_RECONCILE_MAX     256 /* requests per WAN per tick before we stop fighting */
#define WAN_RECONCILE_DELAY_S 0.1
#define WAN_RCVBUF	      (4 << 20)
#define WAN_MSG_BUF	      1024
#define WAN_RULE_PRIO_BELOW   10

enum dump_step {
	DUMP_NONE = 0,
	DUMP_LINK,
	DUMP_ADDR,
	DUMP_ROUTE,
	DUMP_RULE,
};

/* A default route of the main table (one entry per next hop). */
struct defroute {
	uint8_t family;
	bool has_gw;
	int oif;
	uint32_t metric;
	uint8_t gw[16];
};

/* A route in a WAN table, wanted or as the kernel reported it. */
struct wroute {
	uint8_t family;
	uint8_t dst_len;
	bool has_gw;
	bool has_prefsrc;
	int oif;
	uint32_t metric; /* kernel's; not compared */
	uint8_t dst[16];
	uint8_t gw[16];
	uint8_t prefsrc[16];
};

/*
 * A WAN rule: "from src/src_len" or "oif oifname" at priority W to the WAN's table, or
 * (suppress) "from src/src_len lookup main suppress_prefixlength 0" at W - 1.
 */
struct wrule {
	uint8_t family;
	uint8_t src_len;
	uint8_t suppress;
	uint8_t src[16];
	char oifname[IF_NAMESIZE];
};

struct wan {
	struct wans *ws;	     /* borrowed */
	const struct conf_wan *conf; /* borrowed */
	char name[96];		     /* "wan 'wan2' (eth2)" */

	/* raw cache */
	int ifindex;
	unsigned flags;
	struct wan_addr addrs[WAN_MAX_ADDRS];
	size_t n_addrs;
	struct wroute routes[WAN_MAX_OWN]; /* proto static routes in conf->table */
	size_t n_routes;
	struct wrule rules[WAN_MAX_OWN]; /* our rules to conf->table */
	size_t n_rules;

	/*
	 * gateway "auto": the last gateway the kernel's main table gave for each family (IPv4,
	 * IPv6). An administrative link down flushes the main table's IPv4 routes via the link
	 * without a notification and nothing puts them back on "up" unless a DHCP client or
	 * ifup does: the WAN keeps using this one while it is on-link. An explicit delete of
	 * that route while the link is up forgets it (someone took the gateway away on purpose).
	 */
	struct wan_gw kept[2];

	struct wan_state pub; /* published */
	bool published;
	unsigned budget; /* reconcile requests left until the next tick */
	bool budget_warned;
	bool addrs_full_warned;
};

struct wans {
	struct ev_loop *loop;	 /* borrowed */
	struct nl *nl;		 /* borrowed: requests */
	const struct conf *conf; /* borrowed */
	wan_changed_fn changed;
	void *arg;
	struct mnl_socket *sock; /* owned: events and dumps */
	uint32_t portid;
	uint32_t seq;
	ev_io watcher;
	ev_timer resync_timer;
	ev_timer reconcile_timer;
	ev_timer tick_timer;
	uint32_t rule_priority;

	enum dump_step dump;
	uint32_t dump_seq;
	bool dump_again; /* a resync was asked for (or the dump was inconsistent) meanwhile */
	bool synced;	 /* the first dump completed */

	struct defroute defroutes[WAN_MAX_DEFROUTES];
	size_t n_defroutes;
	bool defroutes_full_warned;

	/* suppress rules as the kernel reported them (not per WAN: an address may be gone) */
	struct wrule suppress[WAN_MAX_SUPPRESS];
	size_t n_suppress;
	unsigned budget;
	bool budget_warned;

	struct wan *wans; /* owned */
	size_t n_wans;
};

static const char *family_name(int family)
{
	return family == AF_INET ? "IPv4" : "IPv6";
}

uint32_t wans_rule_priority(const struct conf *c)
{
	uint32_t p = c->classifier.rule_priority;

	/* W - 1 holds the suppress rules */
	return p > WAN_RULE_PRIO_BELOW + 1 ? p - WAN_RULE_PRIO_BELOW : 2;
}

static bool is_wan_table(const struct wans *ws, uint32_t table, size_t *ret_idx)
{
	for (size_t i = 0; i < ws->n_wans; i++) {
		if (ws->wans[i].conf->table == table) {
			*ret_idx = i;
			return true;
		}
	}
	return false;
}

/* ---- dumps ---- */

static void dump_send(struct wans *ws)
{
	char buf[WAN_MSG_BUF] __attribute__((aligned(4)));
	struct nlmsghdr *h = mnl_nlmsg_put_header(buf);
	static const uint16_t types[] = {
		[DUMP_LINK] = RTM_GETLINK,
		[DUMP_ADDR] = RTM_GETADDR,
		[DUMP_ROUTE] = RTM_GETROUTE,
		[DUMP_RULE] = RTM_GETRULE,
	};

	h->nlmsg_type = types[ws->dump];
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	h->nlmsg_seq = ws->dump_seq = ++ws->seq;
	/* rtgenmsg is the common prefix of every request header: family AF_UNSPEC = all */
	if (ws->dump == DUMP_LINK) {
		struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));

		ifi->ifi_family = AF_UNSPEC;
	} else if (ws->dump == DUMP_ADDR) {
		struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(h, sizeof(*ifa));

		ifa->ifa_family = AF_UNSPEC;
	} else if (ws->dump == DUMP_ROUTE) {
		struct rtmsg *rtm = mnl_nlmsg_put_extra_header(h, sizeof(*rtm));

		rtm->rtm_family = AF_UNSPEC;
	} else {
		struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(h, sizeof(*frh));

		frh->family = AF_UNSPEC;
	}
	if (mnl_socket_sendto(ws->sock, h, h->nlmsg_len) < 0) {
		log_warn("WAN monitor: cannot start an rtnetlink dump: %s, retrying",
			 strerror(errno));
		ws->dump = DUMP_NONE;
		ev_timer_stop(ws->loop, &ws->resync_timer);
		ev_timer_set(&ws->resync_timer, 1., 0.);
		ev_timer_start(ws->loop, &ws->resync_timer);
	}
}

/* Forget the cached kernel state and dump it again (or once the current dump is done). */
static void resync(struct wans *ws)
{
	if (ws->dump != DUMP_NONE) {
		ws->dump_again = true;
		return;
	}
	ws->dump_again = false;
	ws->n_defroutes = 0;
	ws->n_suppress = 0;
	for (size_t i = 0; i < ws->n_wans; i++) {
		struct wan *w = &ws->wans[i];

		w->ifindex = 0;
		w->flags = 0;
		w->n_addrs = 0;
		w->n_routes = 0;
		w->n_rules = 0;
	}
	ws->dump = DUMP_LINK;
	dump_send(ws);
}

static void resync_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct wans *ws = container_of(t, struct wans, resync_timer);

	(void)loop;
	(void)revents;
	resync(ws);
}

/* ---- links and addresses ---- */

static void forget_link(struct wan *w)
{
	w->ifindex = 0;
	w->flags = 0;
	w->n_addrs = 0;
}

static bool handle_link(struct wans *ws, const struct nlmsghdr *h)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(h);
	const struct nlattr *a;
	const char *ifname = NULL;
	bool again = false;

	/* bridge port messages (a DELLINK when a port leaves its bridge) say nothing of the link */
	if (ifi->ifi_family == AF_BRIDGE)
		return false;
	mnl_attr_for_each(a, h, sizeof(*ifi))
	{
		if (mnl_attr_get_type(a) == IFLA_IFNAME &&
		    mnl_attr_validate(a, MNL_TYPE_STRING) == 0)
			ifname = mnl_attr_get_str(a);
	}
	for (size_t i = 0; i < ws->n_wans; i++) {
		struct wan *w = &ws->wans[i];
		bool named = ifname && strcmp(ifname, w->conf->interface) == 0;

		if (h->nlmsg_type == RTM_DELLINK) {
			if (w->ifindex == ifi->ifi_index) {
				forget_link(w);
				again = true;
			}
			continue;
		}
		if (named) {
			if (w->ifindex != ifi->ifi_index)
				w->n_addrs = 0; /* a new device under the WAN's name */
			/* IPv4 flushes routes silently when the link goes down */
			if ((w->flags & IFF_UP) && !(ifi->ifi_flags & IFF_UP))
				again = true;
			w->ifindex = ifi->ifi_index;
			w->flags = ifi->ifi_flags;
		} else if (w->ifindex == ifi->ifi_index && ifname) {
			forget_link(w); /* renamed away */
			again = true;
		}
	}
	return again;
}

static bool handle_addr(struct wans *ws, const struct nlmsghdr *h)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(h);
	const struct nlattr *a;
	const void *local = NULL, *address = NULL;
	uint32_t flags = ifa->ifa_flags;
	unsigned alen = mpq_family_addrlen(ifa->ifa_family);
	struct wan_addr wa = {0};
	bool again = false;

	if (!alen)
		return false;
	mnl_attr_for_each(a, h, sizeof(*ifa))
	{
		switch (mnl_attr_get_type(a)) {
		case IFA_LOCAL:
			if (mnl_attr_get_payload_len(a) == alen)
				local = mnl_attr_get_payload(a);
			break;
		case IFA_ADDRESS:
			if (mnl_attr_get_payload_len(a) == alen)
				address = mnl_attr_get_payload(a);
			break;
		case IFA_FLAGS:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				flags = mnl_attr_get_u32(a);
			break;
		}
	}
	/* IFA_LOCAL is our address; IFA_ADDRESS is the peer on point-to-point IPv4 links */
	if (!local)
		local = address;
	if (!local)
		return false;
	wa.prefix.family = ifa->ifa_family;
	wa.prefix.len = ifa->ifa_prefixlen;
	memcpy(wa.prefix.addr, local, alen);
	wa.scope = ifa->ifa_scope;
	wa.flags = flags;
	for (size_t i = 0; i < ws->n_wans; i++) {
		struct wan *w = &ws->wans[i];
		size_t j;

		if (!w->ifindex || (int)ifa->ifa_index != w->ifindex)
			continue;
		for (j = 0; j < w->n_addrs; j++)
			if (w->addrs[j].prefix.family == wa.prefix.family &&
			    memcmp(w->addrs[j].prefix.addr, wa.prefix.addr, alen) == 0)
				break;
		if (h->nlmsg_type == RTM_DELADDR) {
			if (j < w->n_addrs) {
				memmove(&w->addrs[j], &w->addrs[j + 1],
					(w->n_addrs - j - 1) * sizeof(w->addrs[0]));
				w->n_addrs--;
			}
			if (wa.prefix.family == AF_INET)
				again = true; /* routes via that subnet vanish silently */
			continue;
		}
		if (j < w->n_addrs) {
			w->addrs[j] = wa;
		} else if (w->n_addrs < WAN_MAX_ADDRS) {
			w->addrs[w->n_addrs++] = wa;
		} else if (!w->addrs_full_warned) {
			w->addrs_full_warned = true;
			log_warn("%s: more than %d addresses, ignoring the rest", w->name,
				 WAN_MAX_ADDRS);
		}
	}
	return again;
}

/* ---- routes ---- */

struct rtinfo {
	const struct rtmsg *rtm;
	uint32_t table;
	uint32_t metric;
	int oif;
	const void *dst, *gw, *prefsrc;
	const struct nlattr *multipath;
};

static void parse_route(const struct nlmsghdr *h, struct rtinfo *ri)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(h);
	unsigned alen = mpq_family_addrlen(rtm->rtm_family);
	const struct nlattr *a;

	memset(ri, 0, sizeof(*ri));
	ri->rtm = rtm;
	ri->table = rtm->rtm_table;
	mnl_attr_for_each(a, h, sizeof(*rtm))
	{
		uint16_t len = mnl_attr_get_payload_len(a);

		switch (mnl_attr_get_type(a)) {
		case RTA_TABLE:
			if (len == 4)
				ri->table = mnl_attr_get_u32(a);
			break;
		case RTA_PRIORITY:
			if (len == 4)
				ri->metric = mnl_attr_get_u32(a);
			break;
		case RTA_OIF:
			if (len == 4)
				ri->oif = (int)mnl_attr_get_u32(a);
			break;
		case RTA_DST:
			if (len == alen)
				ri->dst = mnl_attr_get_payload(a);
			break;
		case RTA_GATEWAY:
			if (len == alen)
				ri->gw = mnl_attr_get_payload(a);
			break;
		case RTA_PREFSRC:
			if (len == alen)
				ri->prefsrc = mnl_attr_get_payload(a);
			break;
		case RTA_MULTIPATH:
			ri->multipath = a;
			break;
		}
	}
}

static void defroute_del(struct wans *ws, const struct defroute *d, bool any_nexthop)
{
	for (size_t i = 0; i < ws->n_defroutes;) {
		struct defroute *e = &ws->defroutes[i];
		bool match = e->family == d->family && e->metric == d->metric &&
			     (any_nexthop || (e->oif == d->oif && e->has_gw == d->has_gw &&
					      memcmp(e->gw, d->gw, sizeof(e->gw)) == 0));

		if (match) {
			*e = ws->defroutes[--ws->n_defroutes];
			continue;
		}
		i++;
	}
}

static void defroute_add(struct wans *ws, const struct defroute *d)
{
	defroute_del(ws, d, false);
	if (ws->n_defroutes < WAN_MAX_DEFROUTES) {
		ws->defroutes[ws->n_defroutes++] = *d;
	} else if (!ws->defroutes_full_warned) {
		ws->defroutes_full_warned = true;
		log_warn("WAN monitor: more than %d default routes in the main table, ignoring "
			 "the rest",
			 WAN_MAX_DEFROUTES);
	}
}

/* A default route via a WAN that is up was deleted on purpose: stop keeping its gateway. */
static void forget_kept(struct wans *ws, const struct defroute *d)
{
	for (size_t i = 0; i < ws->n_wans; i++) {
		struct wan *w = &ws->wans[i];
		struct wan_gw *k = &w->kept[d->family == AF_INET ? 0 : 1];

		if (w->ifindex && w->ifindex == d->oif && (w->flags & IFF_UP) &&
		    k->kind == WAN_GW_VIA && d->has_gw && memcmp(k->addr, d->gw, 16) == 0)
			memset(k, 0, sizeof(*k));
	}
}

/*
 * A default route of the main table: the candidates for "gateway": "auto". Notifications carry
 * the whole route, so a delete removes exactly its next hops. A replace does not say which
 * route it replaced: drop the ones with the same key and return true (read everything again).
 */
static bool handle_main_default(struct wans *ws, const struct nlmsghdr *h, const struct rtinfo *ri)
{
	int family = ri->rtm->rtm_family;
	unsigned alen = mpq_family_addrlen(family);
	bool del = h->nlmsg_type == RTM_DELROUTE;
	bool replace = !del && (h->nlmsg_flags & NLM_F_REPLACE);
	struct defroute d = {.family = (uint8_t)family, .metric = ri->metric, .oif = ri->oif};

	if (ri->gw) {
		d.has_gw = true;
		memcpy(d.gw, ri->gw, alen);
	}
	if (replace)
		defroute_del(ws, &d, true);
	if (del)
		forget_kept(ws, &d);
	if (ri->multipath) {
		const struct rtnexthop *nh = mnl_attr_get_payload(ri->multipath);
		int left = (int)mnl_attr_get_payload_len(ri->multipath);

		while (left >= (int)sizeof(*nh) && nh->rtnh_len >= sizeof(*nh) &&
		       nh->rtnh_len <= left) {
			struct defroute e = d;
			const struct nlattr *a =
				(const void *)((const char *)nh + RTNH_ALIGN(sizeof(*nh)));
			int rem = nh->rtnh_len - (int)RTNH_ALIGN(sizeof(*nh));

			e.oif = nh->rtnh_ifindex;
			e.has_gw = false;
			memset(e.gw, 0, sizeof(e.gw));
			while (mnl_attr_ok(a, rem)) {
				if (mnl_attr_get_type(a) == RTA_GATEWAY &&
				    mnl_attr_get_payload_len(a) == alen) {
					e.has_gw = true;
					memcpy(e.gw, mnl_attr_get_payload(a), alen);
				}
				rem -= (int)MNL_ALIGN(a->nla_len);
				a = mnl_attr_next(a);
			}
			if (del) {
				defroute_del(ws, &e, false);
				forget_kept(ws, &e);
			} else
				defroute_add(ws, &e);
			left -= RTNH_ALIGN(nh->rtnh_len);
			nh = (const void *)((const char *)nh + RTNH_ALIGN(nh->rtnh_len));
		}
		return replace;
	}
	if (del)
		defroute_del(ws, &d, false);
	else
		defroute_add(ws, &d);
	return replace;
}

static bool wroute_same(const struct wroute *a, const struct wroute *b)
{
	return a->family == b->family && a->dst_len == b->dst_len && a->oif == b->oif &&
	       a->has_gw == b->has_gw && memcmp(a->dst, b->dst, sizeof(a->dst)) == 0 &&
	       (!a->has_gw || memcmp(a->gw, b->gw, sizeof(a->gw)) == 0);
}

/* A route in one of our WAN tables: the "actual" side of the reconciliation. */
static void handle_own_route(struct wan *w, const struct nlmsghdr *h, const struct rtinfo *ri)
{
	const struct rtmsg *rtm = ri->rtm;
	unsigned alen = mpq_family_addrlen(rtm->rtm_family);
	struct wroute r = {.family = rtm->rtm_family,
			   .dst_len = rtm->rtm_dst_len,
			   .oif = ri->oif,
			   .metric = ri->metric};
	size_t j;

	if (rtm->rtm_protocol != RTPROT_STATIC || rtm->rtm_type != RTN_UNICAST || ri->multipath)
		return; /* not ours: another program's route in our table stays */
	if (ri->dst)
		memcpy(r.dst, ri->dst, alen);
	if (ri->gw) {
		r.has_gw = true;
		memcpy(r.gw, ri->gw, alen);
	}
	/* our adds are replaces: the route with the same key is gone without a DELROUTE */
	if (h->nlmsg_type == RTM_NEWROUTE && (h->nlmsg_flags & NLM_F_REPLACE)) {
		for (j = 0; j < w->n_routes;) {
			const struct wroute *o = &w->routes[j];

			if (o->family == r.family && o->dst_len == r.dst_len &&
			    o->metric == r.metric && memcmp(o->dst, r.dst, sizeof(r.dst)) == 0)
				w->routes[j] = w->routes[--w->n_routes];
			else
				j++;
		}
	}
	for (j = 0; j < w->n_routes; j++)
		if (wroute_same(&w->routes[j], &r) && w->routes[j].metric == r.metric)
			break;
	if (h->nlmsg_type == RTM_DELROUTE) {
		if (j < w->n_routes)
			w->routes[j] = w->routes[--w->n_routes];
		return;
	}
	if (j == w->n_routes && w->n_routes < WAN_MAX_OWN)
		w->routes[w->n_routes++] = r;
}

static bool handle_route(struct wans *ws, const struct nlmsghdr *h)
{
	struct rtinfo ri;
	size_t idx;

	parse_route(h, &ri);
	if (!mpq_family_addrlen(ri.rtm->rtm_family) || ri.rtm->rtm_tos)
		return false;
	if (ri.table == RT_TABLE_MAIN && ri.rtm->rtm_dst_len == 0 &&
	    ri.rtm->rtm_type == RTN_UNICAST)
		return handle_main_default(ws, h, &ri);
	if (is_wan_table(ws, ri.table, &idx))
		handle_own_route(&ws->wans[idx], h, &ri);
	return false;
}

/* ---- rules ---- */

static bool handle_rule(struct wans *ws, const struct nlmsghdr *h)
{
	const struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(h);
	unsigned alen = mpq_family_addrlen(frh->family);
	uint32_t table = frh->table, prio = 0;
	struct wrule r = {.family = frh->family, .src_len = frh->src_len};
	bool has_suppress = false;
	struct wrule *list;
	size_t *n, cap;
	const struct nlattr *a;
	/* (the kernel's own flags, e.g. FIB_RULE_OIF_DETACHED for a missing device, are fine) */
	bool foreign = frh->action != FR_ACT_TO_TBL || frh->dst_len || frh->tos ||
		       (frh->flags & FIB_RULE_INVERT);
	struct wan *w;
	size_t idx, j;

	if (!alen)
		return false;
	mnl_attr_for_each(a, h, sizeof(*frh))
	{
		uint16_t len = mnl_attr_get_payload_len(a);

		switch (mnl_attr_get_type(a)) {
		case FRA_TABLE:
			if (len == 4)
				table = mnl_attr_get_u32(a);
			break;
		case FRA_PRIORITY:
			if (len == 4)
				prio = mnl_attr_get_u32(a);
			break;
		case FRA_SRC:
			if (len == alen)
				memcpy(r.src, mnl_attr_get_payload(a), alen);
			break;
		case FRA_OIFNAME:
			if (mnl_attr_validate(a, MNL_TYPE_STRING) == 0)
				snprintf(r.oifname, sizeof(r.oifname), "%s", mnl_attr_get_str(a));
			break;
		case FRA_FWMARK:
			if (len == 4 && mnl_attr_get_u32(a))
				foreign = true;
			break;
		/* the kernel reports these with -1 when they are not set */
		case FRA_SUPPRESS_PREFIXLEN:
			if (len == 4 && mnl_attr_get_u32(a) == UINT32_MAX)
				break;
			has_suppress = true;
			if (len != 4 || mnl_attr_get_u32(a) != 0)
				foreign = true;
			break;
		case FRA_SUPPRESS_IFGROUP:
			if (len != 4 || mnl_attr_get_u32(a) != UINT32_MAX)
				foreign = true;
			break;
		case FRA_IIFNAME:
		case FRA_DST:
		case FRA_IP_PROTO:
		case FRA_SPORT_RANGE:
		case FRA_DPORT_RANGE:
		case FRA_UID_RANGE:
		case FRA_L3MDEV:
			foreign = true;
			break;
		}
	}
	if (foreign)
		return false;
	if (has_suppress) {
		/* ours: "from <host> lookup main suppress_prefixlength 0" at W - 1 */
		if (prio != ws->rule_priority - 1 || table != RT_TABLE_MAIN ||
		    r.src_len != mpq_family_maxlen(r.family) || r.oifname[0])
			return false;
		r.suppress = 1;
		list = ws->suppress;
		n = &ws->n_suppress;
		cap = WAN_MAX_SUPPRESS;
	} else {
		/* ours: priority W, a WAN table, exactly one of the two selectors we write */
		if (prio != ws->rule_priority || !is_wan_table(ws, table, &idx) ||
		    (r.src_len != 0) == (r.oifname[0] != '\0'))
			return false;
		w = &ws->wans[idx];
		list = w->rules;
		n = &w->n_rules;
		cap = WAN_MAX_OWN;
	}
	for (j = 0; j < *n; j++)
		if (memcmp(&list[j], &r, sizeof(r)) == 0)
			break;
	if (h->nlmsg_type == RTM_DELRULE) {
		if (j < *n)
			list[j] = list[--*n];
	} else if (j == *n && *n < cap) {
		list[(*n)++] = r;
	}
	return false;
}

/* ---- deriving the state ---- */

static bool addr_global(const struct wan_addr *a)
{
	return a->scope == RT_SCOPE_UNIVERSE && !(a->flags & IFA_F_DADFAILED);
}

/* Usable as a source for new sockets. */
static bool addr_usable(const struct wan_addr *a)
{
	return addr_global(a) && !(a->flags & (IFA_F_TENTATIVE | IFA_F_DEPRECATED));
}

static struct wan_gw auto_gateway(const struct wans *ws, int family, int ifindex)
{
	struct wan_gw g = {0};
	const struct defroute *best = NULL;

	for (size_t i = 0; i < ws->n_defroutes; i++) {
		const struct defroute *d = &ws->defroutes[i];

		if (d->family != family || d->oif != ifindex)
			continue;
		if (!best || d->metric < best->metric)
			best = d;
	}
	if (best) {
		g.kind = best->has_gw ? WAN_GW_VIA : WAN_GW_DIRECT;
		memcpy(g.addr, best->gw, sizeof(g.addr));
		g.metric = best->metric;
	}
	return g;
}

static bool has_family(const struct wan_state *s, int family)
{
	for (size_t i = 0; i < s->n_addrs; i++)
		if (s->addrs[i].prefix.family == family && addr_global(&s->addrs[i]))
			return true;
	return false;
}

/* gw is on one of s's connected prefixes (IPv6: or link-local), so it can still be a next hop. */
static bool gw_on_link(const struct wan_state *s, int family, const uint8_t *gw)
{
	if (family == AF_INET6 && gw[0] == 0xfe && (gw[1] & 0xc0) == 0x80)
		return true;
	for (size_t i = 0; i < s->n_addrs; i++) {
		const struct wan_addr *a = &s->addrs[i];

		if (a->prefix.family == family && addr_global(a) &&
		    a->prefix.len < mpq_family_maxlen(family) &&
		    mpq_prefix_contains(&a->prefix, family, gw))
			return true;
	}
	return false;
}

/* gateway "auto" for one family: the kernel's, else the kept one while it is on-link. */
static struct wan_gw auto_gateway_kept(struct wan *w, const struct wan_state *s, int family)
{
	struct wan_gw g = auto_gateway(w->ws, family, w->ifindex);
	struct wan_gw *k = &w->kept[family == AF_INET ? 0 : 1];

	if (g.kind == WAN_GW_VIA) {
		*k = g;
	} else if (g.kind == WAN_GW_UNKNOWN && k->kind == WAN_GW_VIA) {
		if (gw_on_link(s, family, k->addr)) {
			g = *k;
			g.kept = true;
		} else if (s->flags & IFF_UP) {
			/* its subnet is gone (a new address, another network): forget it */
			memset(k, 0, sizeof(*k));
		}
	} else if (g.kind == WAN_GW_DIRECT) {
		memset(k, 0, sizeof(*k));
	}
	return g;
}

static void derive(struct wan *w, struct wan_state *s)
{
	const struct conf_wan *cw = w->conf;

	memset(s, 0, sizeof(*s));
	s->ifindex = w->ifindex;
	s->flags = w->flags;
	s->up = w->ifindex && (w->flags & IFF_UP) && (w->flags & IFF_RUNNING);
	memcpy(s->addrs, w->addrs, w->n_addrs * sizeof(w->addrs[0]));
	s->n_addrs = w->n_addrs;
	if (!w->ifindex)
		return;
	switch (cw->gw_mode) {
	case CONF_GW_AUTO:
		s->gw4 = auto_gateway_kept(w, s, AF_INET);
		s->gw6 = auto_gateway_kept(w, s, AF_INET6);
		break;
	case CONF_GW_STATIC: {
		struct wan_gw *g = cw->gateway.family == AF_INET ? &s->gw4 : &s->gw6;

		g->kind = WAN_GW_VIA;
		memcpy(g->addr, cw->gateway.addr, sizeof(g->addr));
		break;
	}
	case CONF_GW_NONE:
		if (has_family(s, AF_INET))
			s->gw4.kind = WAN_GW_DIRECT;
		if (has_family(s, AF_INET6))
			s->gw6.kind = WAN_GW_DIRECT;
		break;
	}
}

/* The next global address of s from index *i on, or NULL. */
static const struct wan_addr *next_global(const struct wan_state *s, size_t *i)
{
	for (; *i < s->n_addrs; (*i)++)
		if (addr_global(&s->addrs[*i]))
			return &s->addrs[(*i)++];
	return NULL;
}

/* Equal for every purpose of the WAN (link-local addresses and flag details do not count). */
static bool state_same(const struct wan_state *a, const struct wan_state *b)
{
	size_t i = 0, j = 0;

	if (a->ifindex != b->ifindex || a->up != b->up ||
	    (a->flags & IFF_UP) != (b->flags & IFF_UP) ||
	    memcmp(&a->gw4, &b->gw4, sizeof(a->gw4)) != 0 ||
	    memcmp(&a->gw6, &b->gw6, sizeof(a->gw6)) != 0)
		return false;
	for (;;) {
		const struct wan_addr *x = next_global(a, &i), *y = next_global(b, &j);

		if (!x || !y)
			return x == y;
		if (memcmp(&x->prefix, &y->prefix, sizeof(x->prefix)) != 0 ||
		    addr_usable(x) != addr_usable(y))
			return false;
	}
}

static char *gw_format(const struct wan_gw *g, int family, char *buf, size_t size)
{
	switch (g->kind) {
	case WAN_GW_VIA:
		return mpq_addr_format(family, g->addr, buf, size);
	case WAN_GW_DIRECT:
		snprintf(buf, size, "direct");
		return buf;
	default:
		snprintf(buf, size, "none");
		return buf;
	}
}

static void log_state(const struct wan *w, const struct wan_state *s)
{
	char line[512], p[MPQ_PREFIX_STRLEN], g4[MPQ_PREFIX_STRLEN], g6[MPQ_PREFIX_STRLEN];
	size_t off = 0;

	if (!s->ifindex) {
		log_notice("%s: interface does not exist", w->name);
		return;
	}
	line[0] = '\0';
	for (size_t i = 0; i < s->n_addrs && off < sizeof(line) - MPQ_PREFIX_STRLEN - 2; i++) {
		if (!addr_global(&s->addrs[i]))
			continue;
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s", off ? " " : "",
					mpq_prefix_format(&s->addrs[i].prefix, p, sizeof(p)));
	}
	log_notice("%s: %s, addresses [%s], gateway IPv4 %s%s, IPv6 %s%s", w->name,
		   s->up		 ? "up"
		   : (s->flags & IFF_UP) ? "no carrier"
					 : "down",
		   line, gw_format(&s->gw4, AF_INET, g4, sizeof(g4)),
		   s->gw4.kept ? " (kept: no longer in the main table)" : "",
		   gw_format(&s->gw6, AF_INET6, g6, sizeof(g6)),
		   s->gw6.kept ? " (kept: no longer in the main table)" : "");
}

/* ---- reconciling routes and rules ---- */

static void route_request(struct wan *w, int type, const struct wroute *r)
{
	char buf[WAN_MSG_BUF] __attribute__((aligned(4)));
	struct nlmsghdr *h = mnl_nlmsg_put_header(buf);
	unsigned alen = mpq_family_addrlen(r->family);
	uint32_t table = w->conf->table;
	char op[160], d[MPQ_PREFIX_STRLEN], g[MPQ_PREFIX_STRLEN];
	struct mpq_prefix dst = {.family = r->family, .len = r->dst_len};
	struct rtmsg *rtm;

	memcpy(dst.addr, r->dst, alen);
	h->nlmsg_type = (uint16_t)type;
	h->nlmsg_flags = type == RTM_NEWROUTE ? NLM_F_CREATE | NLM_F_REPLACE : 0;
	rtm = mnl_nlmsg_put_extra_header(h, sizeof(*rtm));
	rtm->rtm_family = r->family;
	rtm->rtm_dst_len = r->dst_len;
	rtm->rtm_table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_type = RTN_UNICAST;
	if (type == RTM_DELROUTE)
		rtm->rtm_scope = RT_SCOPE_NOWHERE; /* any scope */
	else
		rtm->rtm_scope = r->has_gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	mnl_attr_put_u32(h, RTA_TABLE, table);
	if (r->dst_len)
		mnl_attr_put(h, RTA_DST, alen, r->dst);
	mnl_attr_put_u32(h, RTA_OIF, (uint32_t)r->oif);
	if (r->has_gw)
		mnl_attr_put(h, RTA_GATEWAY, alen, r->gw);
	if (r->has_prefsrc && type == RTM_NEWROUTE)
		mnl_attr_put(h, RTA_PREFSRC, alen, r->prefsrc);
	if (type == RTM_DELROUTE && r->metric)
		mnl_attr_put_u32(h, RTA_PRIORITY, r->metric);
	snprintf(op, sizeof(op), "%s route %s%s%s in table %" PRIu32,
		 type == RTM_NEWROUTE ? "adding" : "removing",
		 r->dst_len ? mpq_prefix_format(&dst, d, sizeof(d)) : "default",
		 r->has_gw ? " via " : "",
		 r->has_gw ? mpq_addr_format(r->family, r->gw, g, sizeof(g)) : "", table);
	log_debug("%s: %s", w->name, op);
	nl_request(w->ws->nl, h, type == RTM_DELROUTE ? NL_OK_NOENT : 0, w->name, op);
}

/* who: the object named in error messages; table: the WAN's (unused for a suppress rule) */
static void rule_request(struct wans *ws, const char *who, uint32_t table, int type,
			 const struct wrule *r)
{
	char buf[WAN_MSG_BUF] __attribute__((aligned(4)));
	struct nlmsghdr *h = mnl_nlmsg_put_header(buf);
	unsigned alen = mpq_family_addrlen(r->family);
	char op[160], s[MPQ_PREFIX_STRLEN];
	const char *suffix = "";
	struct fib_rule_hdr *frh;

	h->nlmsg_type = (uint16_t)type;
	h->nlmsg_flags = type == RTM_NEWRULE ? NLM_F_CREATE | NLM_F_EXCL : 0;
	if (r->suppress)
		table = RT_TABLE_MAIN;
	frh = mnl_nlmsg_put_extra_header(h, sizeof(*frh));
	frh->family = r->family;
	frh->action = FR_ACT_TO_TBL;
	frh->table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	frh->src_len = r->src_len;
	mnl_attr_put_u32(h, FRA_TABLE, table);
	mnl_attr_put_u32(h, FRA_PRIORITY, ws->rule_priority - (r->suppress ? 1 : 0));
	if (r->suppress) {
		mnl_attr_put_u32(h, FRA_SUPPRESS_PREFIXLEN, 0);
		suffix = " suppress_prefixlength 0";
	}
	if (r->src_len) {
		struct mpq_prefix p = {.family = r->family, .len = r->src_len};

		memcpy(p.addr, r->src, alen);
		mnl_attr_put(h, FRA_SRC, alen, r->src);
		snprintf(op, sizeof(op), "%s %s rule from %s lookup %" PRIu32 "%s",
			 type == RTM_NEWRULE ? "adding" : "removing", family_name(r->family),
			 mpq_prefix_format(&p, s, sizeof(s)), table, suffix);
	} else {
		mnl_attr_put_strz(h, FRA_OIFNAME, r->oifname);
		snprintf(op, sizeof(op), "%s %s rule oif %s lookup %" PRIu32,
			 type == RTM_NEWRULE ? "adding" : "removing", family_name(r->family),
			 r->oifname, table);
	}
	log_debug("%s: %s", who, op);
	/* NLM_F_EXCL: the kernel compares every attribute, so a rule is never duplicated */
	nl_request(ws->nl, h, type == RTM_NEWRULE ? NL_OK_EXIST : NL_OK_NOENT, who, op);
}

/* What the WAN's table and rules should hold, from the published state. */
static void wanted(const struct wan *w, struct wroute *routes, size_t *n_routes,
		   struct wrule *rules, size_t *n_rules)
{
	const struct wan_state *s = &w->pub;
	static const int families[] = {AF_INET, AF_INET6};

	*n_routes = *n_rules = 0;
	for (size_t f = 0; f < 2; f++) {
		struct wrule *r = &rules[(*n_rules)++];

		memset(r, 0, sizeof(*r));
		r->family = (uint8_t)families[f];
		snprintf(r->oifname, sizeof(r->oifname), "%s", w->conf->interface);
	}
	if (!s->ifindex)
		return;
	for (size_t i = 0; i < s->n_addrs; i++) {
		const struct wan_addr *a = &s->addrs[i];
		unsigned alen = mpq_family_addrlen(a->prefix.family);
		struct mpq_prefix net = a->prefix;
		struct wroute rt = {0};
		size_t j;

		if (!addr_global(a) || *n_rules >= WAN_MAX_OWN)
			continue;
		rules[*n_rules] =
			(struct wrule){.family = a->prefix.family,
				       .src_len = (uint8_t)mpq_family_maxlen(a->prefix.family)};
		memcpy(rules[*n_rules].src, a->prefix.addr, alen);
		(*n_rules)++;
		/* the connected prefix, so that from-address traffic to it stays on the link */
		if (a->prefix.len >= mpq_family_maxlen(a->prefix.family) || !(s->flags & IFF_UP))
			continue;
		mpq_prefix_mask(&net);
		rt.family = net.family;
		rt.dst_len = net.len;
		rt.oif = s->ifindex;
		memcpy(rt.dst, net.addr, alen);
		if (net.family == AF_INET) {
			rt.has_prefsrc = true;
			memcpy(rt.prefsrc, a->prefix.addr, alen);
		}
		for (j = 0; j < *n_routes; j++)
			if (wroute_same(&routes[j], &rt))
				break;
		if (j == *n_routes && *n_routes < WAN_MAX_OWN)
			routes[(*n_routes)++] = rt;
	}
	if (!(s->flags & IFF_UP))
		return;
	for (size_t f = 0; f < 2 && *n_routes < WAN_MAX_OWN; f++) {
		const struct wan_gw *g = f == 0 ? &s->gw4 : &s->gw6;
		struct wroute rt = {.family = (uint8_t)families[f], .oif = s->ifindex};

		/* without an address of the family the kernel refuses the route anyway */
		if (g->kind == WAN_GW_UNKNOWN || !has_family(s, families[f]))
			continue;
		if (g->kind == WAN_GW_VIA) {
			rt.has_gw = true;
			memcpy(rt.gw, g->addr, sizeof(rt.gw));
		}
		routes[(*n_routes)++] = rt;
	}
}

static bool spend(struct wan *w)
{
	if (w->budget > 0) {
		w->budget--;
		return true;
	}
	if (!w->budget_warned) {
		w->budget_warned = true;
		log_err("%s: its routes or rules keep changing under us; not touching them for "
			"%.0f s",
			w->name, WAN_TICK_S);
	}
	return false;
}

static void reconcile(struct wan *w)
{
	struct wroute routes[WAN_MAX_OWN];
	struct wrule rules[WAN_MAX_OWN];
	size_t n_routes, n_rules;

	wanted(w, routes, &n_routes, rules, &n_rules);
	/* Add before delete: a replaced gateway never leaves the table empty. */
	for (size_t i = 0; i < n_routes; i++) {
		bool have = false;

		for (size_t j = 0; j < w->n_routes && !have; j++)
			have = wroute_same(&routes[i], &w->routes[j]);
		if (!have && spend(w))
			route_request(w, RTM_NEWROUTE, &routes[i]);
	}
	for (size_t i = 0; i < n_rules; i++) {
		bool have = false;

		for (size_t j = 0; j < w->n_rules && !have; j++)
			have = memcmp(&rules[i], &w->rules[j], sizeof(rules[i])) == 0;
		if (!have && spend(w))
			rule_request(w->ws, w->name, w->conf->table, RTM_NEWRULE, &rules[i]);
	}
	for (size_t j = 0; j < w->n_routes; j++) {
		bool want = false;

		for (size_t i = 0; i < n_routes && !want; i++)
			want = wroute_same(&routes[i], &w->routes[j]);
		if (!want && spend(w))
			route_request(w, RTM_DELROUTE, &w->routes[j]);
	}
	for (size_t j = 0; j < w->n_rules; j++) {
		bool want = false;

		for (size_t i = 0; i < n_rules && !want; i++)
			want = memcmp(&rules[i], &w->rules[j], sizeof(rules[i])) == 0;
		if (!want && spend(w))
			rule_request(w->ws, w->name, w->conf->table, RTM_DELRULE, &w->rules[j]);
	}
}

/*
 * The suppress rules: traffic from a WAN address first sees the main table without its default
 * routes, so that replies to the LAN and anything with a specific route keep it; only what
 * would take a default route goes to the WAN's table (the classifier's idea, for WAN sources).
 */
static void wanted_suppress(const struct wans *ws, struct wrule *rules, size_t *n_rules)
{
	*n_rules = 0;
	for (size_t i = 0; i < ws->n_wans; i++) {
		const struct wan_state *s = &ws->wans[i].pub;

		for (size_t k = 0; s->ifindex && k < s->n_addrs; k++) {
			const struct wan_addr *a = &s->addrs[k];
			struct wrule r = {.family = a->prefix.family, .suppress = 1};
			size_t j;

			if (!addr_global(a))
				continue;
			r.src_len = (uint8_t)mpq_family_maxlen(r.family);
			memcpy(r.src, a->prefix.addr, mpq_family_addrlen(r.family));
			for (j = 0; j < *n_rules; j++)
				if (memcmp(&rules[j], &r, sizeof(r)) == 0)
					break;
			if (j == *n_rules && *n_rules < WAN_MAX_SUPPRESS)
				rules[(*n_rules)++] = r;
		}
	}
}

static void reconcile_suppress(struct wans *ws)
{
	struct wrule rules[WAN_MAX_SUPPRESS];
	size_t n;

	wanted_suppress(ws, rules, &n);
	/* pass 0 adds what is missing, pass 1 deletes what is no longer wanted */
	for (int pass = 0; pass < 2; pass++) {
		const struct wrule *from = pass ? ws->suppress : rules;
		const struct wrule *in = pass ? rules : ws->suppress;
		size_t n_from = pass ? ws->n_suppress : n, n_in = pass ? n : ws->n_suppress;

		for (size_t i = 0; i < n_from; i++) {
			bool have = false;

			for (size_t j = 0; j < n_in && !have; j++)
				have = memcmp(&from[i], &in[j], sizeof(from[i])) == 0;
			if (have)
				continue;
			if (!ws->budget) {
				if (!ws->budget_warned)
					log_err("WAN routing: suppress rules keep changing under "
						"us; "
						"not touching them for %.0f s",
						WAN_TICK_S);
				ws->budget_warned = true;
				return;
			}
			ws->budget--;
			rule_request(ws, "WAN routing", 0, pass ? RTM_DELRULE : RTM_NEWRULE,
				     &from[i]);
		}
	}
}

static void reconcile_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct wans *ws = container_of(t, struct wans, reconcile_timer);

	(void)loop;
	(void)revents;
	if (ws->dump != DUMP_NONE)
		return; /* evaluate() schedules us again when the dump is done */
	for (size_t i = 0; i < ws->n_wans; i++)
		reconcile(&ws->wans[i]);
	reconcile_suppress(ws);
}

/* After a batch of messages: publish what changed, tell the client, fix the routing. */
static void evaluate(struct wans *ws)
{
	if (ws->dump != DUMP_NONE)
		return;
	ws->synced = true;
	for (size_t i = 0; i < ws->n_wans; i++) {
		struct wan *w = &ws->wans[i];
		struct wan_state s;

		derive(w, &s);
		if (!w->published || !state_same(&s, &w->pub)) {
			s.changed_ns = mpq_now_ns();
			s.changes = w->pub.changes + (w->published ? 1 : 0);
			w->pub = s;
			w->published = true;
			log_state(w, &s);
			/* routes first: the client may open sockets on this WAN right away */
			reconcile(w);
			ws->changed(ws->arg, i);
		} else {
			/* keep flags and address flags current without calling it a change */
			s.changed_ns = w->pub.changed_ns;
			s.changes = w->pub.changes;
			w->pub = s;
		}
	}
	/*
	 * And once more a little later, not now: the kernel reports our own requests as events,
	 * and until those are read another pass would send the same requests again.
	 */
	if (!ev_is_active(&ws->reconcile_timer)) {
		ev_timer_set(&ws->reconcile_timer, WAN_RECONCILE_DELAY_S, 0.);
		ev_timer_start(ws->loop, &ws->reconcile_timer);
	}
}

/* ---- the event socket ---- */

static void read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct wans *ws = container_of(io, struct wans, watcher);
	char buf[32768] __attribute__((aligned(4)));
	bool again = false;

	(void)loop;
	(void)revents;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(ws->sock, buf, sizeof(buf));
		int left = (int)n;

		if (n < 0) {
			if (errno == ENOBUFS) {
				log_warn("WAN monitor: rtnetlink events were lost, reading the "
					 "state again");
				again = true;
				continue;
			}
			if (errno != EAGAIN && errno != EINTR)
				log_warn("WAN monitor: receive failed: %s", strerror(errno));
			break;
		}
		for (const struct nlmsghdr *h = (const void *)buf; mnl_nlmsg_ok(h, left);
		     h = mnl_nlmsg_next(h, &left)) {
			bool mine = ws->dump != DUMP_NONE && h->nlmsg_pid == ws->portid &&
				    h->nlmsg_seq == ws->dump_seq;

			if (mine && (h->nlmsg_flags & NLM_F_DUMP_INTR))
				ws->dump_again = true;
			switch (h->nlmsg_type) {
			case NLMSG_DONE:
				if (!mine)
					break;
				if (ws->dump == DUMP_RULE) {
					ws->dump = DUMP_NONE;
					if (ws->dump_again)
						resync(ws);
				} else {
					ws->dump++;
					dump_send(ws);
				}
				break;
			case NLMSG_ERROR: {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);

				if (!mine || !e->error)
					break;
				log_warn("WAN monitor: rtnetlink dump failed: %s, retrying",
					 strerror(-e->error));
				ws->dump = DUMP_NONE;
				ev_timer_stop(ws->loop, &ws->resync_timer);
				ev_timer_set(&ws->resync_timer, 1., 0.);
				ev_timer_start(ws->loop, &ws->resync_timer);
				break;
			}
			case RTM_NEWLINK:
			case RTM_DELLINK:
				again |= handle_link(ws, h);
				break;
			case RTM_NEWADDR:
			case RTM_DELADDR:
				again |= handle_addr(ws, h);
				break;
			case RTM_NEWROUTE:
			case RTM_DELROUTE:
				again |= handle_route(ws, h);
				break;
			case RTM_NEWRULE:
			case RTM_DELRULE:
				again |= handle_rule(ws, h);
				break;
			}
		}
	}
	/* After a dump the cache is fresh already; a change during one is caught by dump_again. */
	if (again && ws->synced)
		resync(ws);
	evaluate(ws);
}

static void tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct wans *ws = container_of(t, struct wans, tick_timer);

	(void)loop;
	(void)revents;
	for (size_t i = 0; i < ws->n_wans; i++) {
		ws->wans[i].budget = WAN_RECONCILE_MAX;
		ws->wans[i].budget_warned = false;
	}
	ws->budget = WAN_RECONCILE_MAX;
	ws->budget_warned = false;
	if (ws->dump == DUMP_NONE && ws->synced) {
		for (size_t i = 0; i < ws->n_wans; i++)
			reconcile(&ws->wans[i]);
		reconcile_suppress(ws);
	}
}

/* ---- lifecycle and queries ---- */

void wans_set_conf(struct wans *ws, const struct conf *c)
{
	ws->conf = c;
	for (size_t i = 0; i < ws->n_wans && i < c->n_wans; i++)
		ws->wans[i].conf = &c->wans[i];
}

int wans_new(struct ev_loop *loop, struct nl *nl, const struct conf *c, wan_changed_fn fn,
	     void *arg, struct wans **ret)
{
	static const unsigned groups[] = {
		RTNLGRP_LINK,	    RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE,
		RTNLGRP_IPV6_ROUTE, RTNLGRP_IPV4_RULE,	 RTNLGRP_IPV6_RULE,
	};
	struct wans *ws = calloc(1, sizeof(*ws));
	int r;

	if (!ws)
		return -ENOMEM;
	ws->wans = calloc(c->n_wans ? c->n_wans : 1, sizeof(*ws->wans));
	if (!ws->wans) {
		r = -ENOMEM;
		goto err_free;
	}
	ws->loop = loop;
	ws->nl = nl;
	ws->conf = c;
	ws->changed = fn;
	ws->arg = arg;
	ws->rule_priority = wans_rule_priority(c);
	ws->budget = WAN_RECONCILE_MAX;
	ws->n_wans = c->n_wans;
	for (size_t i = 0; i < c->n_wans; i++) {
		struct wan *w = &ws->wans[i];

		w->ws = ws;
		w->conf = &c->wans[i];
		w->budget = WAN_RECONCILE_MAX;
		snprintf(w->name, sizeof(w->name), "wan '%s' (%s)", w->conf->name,
			 w->conf->interface);
	}
	ws->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!ws->sock) {
		r = -errno;
		goto err_free;
	}
	if (mnl_socket_bind(ws->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto err_close;
	}
	for (size_t i = 0; i < ARRAY_SIZE(groups); i++) {
		if (mnl_socket_setsockopt(ws->sock, NETLINK_ADD_MEMBERSHIP, (void *)&groups[i],
					  sizeof(groups[i])) < 0) {
			r = -errno;
			goto err_close;
		}
	}
	/* Events come in bursts (a link going down takes its addresses and routes along). */
	mpq_set_sockbuf(mnl_socket_get_fd(ws->sock), SO_RCVBUF, WAN_RCVBUF);
	ws->portid = mnl_socket_get_portid(ws->sock);
	ws->seq = (uint32_t)mpq_now_ns();
	ev_io_init(&ws->watcher, read_cb, mnl_socket_get_fd(ws->sock), EV_READ);
	ev_io_start(loop, &ws->watcher);
	ev_timer_init(&ws->resync_timer, resync_cb, 1., 0.);
	ev_timer_init(&ws->reconcile_timer, reconcile_cb, WAN_RECONCILE_DELAY_S, 0.);
	ev_timer_init(&ws->tick_timer, tick_cb, WAN_TICK_S, WAN_TICK_S);
	ev_timer_start(loop, &ws->tick_timer);
	resync(ws);
	*ret = ws;
	return 0;

err_close:
	mnl_socket_close(ws->sock);
err_free:
	free(ws->wans);
	free(ws);
	return r;
}

void wans_free(struct wans *ws)
{
	if (!ws)
		return;
	/* Remove what we installed: what the kernel reported, and what we asked for since. */
	for (size_t i = 0; i < ws->n_wans; i++) {
		struct wan *w = &ws->wans[i];
		struct wroute routes[WAN_MAX_OWN];
		struct wrule rules[WAN_MAX_OWN];
		size_t n_routes, n_rules;

		if (w->published)
			wanted(w, routes, &n_routes, rules, &n_rules);
		else
			n_routes = n_rules = 0;
		for (size_t j = 0; j < w->n_routes; j++)
			route_request(w, RTM_DELROUTE, &w->routes[j]);
		for (size_t j = 0; j < n_routes; j++)
			route_request(w, RTM_DELROUTE, &routes[j]);
		for (size_t j = 0; j < w->n_rules; j++)
			rule_request(w->ws, w->name, w->conf->table, RTM_DELRULE, &w->rules[j]);
		for (size_t j = 0; j < n_rules; j++)
			rule_request(ws, w->name, w->conf->table, RTM_DELRULE, &rules[j]);
	}
	{
		struct wrule rules[WAN_MAX_SUPPRESS];
		size_t n;

		wanted_suppress(ws, rules, &n);
		for (size_t j = 0; j < ws->n_suppress; j++)
			rule_request(ws, "WAN routing", 0, RTM_DELRULE, &ws->suppress[j]);
		for (size_t j = 0; j < n; j++)
			rule_request(ws, "WAN routing", 0, RTM_DELRULE, &rules[j]);
	}
	ev_io_stop(ws->loop, &ws->watcher);
	ev_timer_stop(ws->loop, &ws->resync_timer);
	ev_timer_stop(ws->loop, &ws->reconcile_timer);
	ev_timer_stop(ws->loop, &ws->tick_timer);
	mnl_socket_close(ws->sock);
	free(ws->wans);
	free(ws);
}

bool wans_synced(const struct wans *ws)
{
	return ws->synced;
}

const struct wan_state *wans_state(const struct wans *ws, size_t wan_idx)
{
	return &ws->wans[wan_idx].pub;
}

int wans_source(const struct wans *ws, size_t wan_idx, int family, struct mpq_prefix *ret)
{
	const struct wan *w = &ws->wans[wan_idx];
	const struct wan_state *s = &w->pub;
	unsigned alen = mpq_family_addrlen(family);
	const struct wan_addr *best = NULL;

	if (!s->ifindex)
		return -ENODEV;
	if (!s->up)
		return -ENETDOWN;
	for (size_t i = 0; i < s->n_addrs; i++) {
		const struct wan_addr *a = &s->addrs[i];

		if (a->prefix.family != family || !addr_usable(a))
			continue;
		if (w->conf->has_source) {
			if (w->conf->source.family == family &&
			    memcmp(w->conf->source.addr, a->prefix.addr, alen) == 0) {
				best = a;
				break;
			}
			continue;
		}
		/* IPv4: the primary address of its subnet, as the kernel would choose */
		if (!best || ((best->flags & IFA_F_SECONDARY) && !(a->flags & IFA_F_SECONDARY)))
			best = a;
	}
	if (!best)
		return -EADDRNOTAVAIL;
	memset(ret, 0, sizeof(*ret));
	ret->family = (uint8_t)family;
	ret->len = (uint8_t)mpq_family_maxlen(family);
	memcpy(ret->addr, best->prefix.addr, alen);
	return 0;
}

int wans_reach(const struct wans *ws, size_t wan_idx, const struct sockaddr *dst)
{
	const struct wan_state *s = &ws->wans[wan_idx].pub;
	int family = dst->sa_family;
	const uint8_t *a =
		family == AF_INET ? (const uint8_t *)&((const struct sockaddr_in *)dst)->sin_addr
				  : (const uint8_t *)&((const struct sockaddr_in6 *)dst)->sin6_addr;

	if ((family == AF_INET ? &s->gw4 : &s->gw6)->kind != WAN_GW_UNKNOWN)
		return 0;
	for (size_t i = 0; i < s->n_addrs; i++)
		if (s->addrs[i].prefix.family == family &&
		    mpq_prefix_contains(&s->addrs[i].prefix, family, a))
			return 0;
	return -ENETUNREACH;
}

static json_t *gw_json(const struct wan_gw *g, int family)
{
	char b[MPQ_PREFIX_STRLEN];

	if (g->kind == WAN_GW_UNKNOWN)
		return json_null();
	return json_string(gw_format(g, family, b, sizeof(b)));
}

void wans_status(const struct wans *ws, json_t *arr)
{
	static const char *const modes[] = {
		[CONF_GW_AUTO] = "auto",
		[CONF_GW_NONE] = "none",
		[CONF_GW_STATIC] = "static",
	};
	uint64_t now = mpq_now_ns();
	char p[MPQ_PREFIX_STRLEN];

	for (size_t i = 0; ws && i < ws->n_wans; i++) {
		const struct wan *w = &ws->wans[i];
		const struct wan_state *s = &w->pub;
		json_t *o = json_object(), *addrs = json_array();
		const char *state;

		if (!ws->synced)
			state = "unknown";
		else if (!s->ifindex)
			state = "missing";
		else if (!(s->flags & IFF_UP))
			state = "down";
		else if (!s->up)
			state = "no-carrier";
		else
			state = "up";
		for (size_t j = 0; j < s->n_addrs; j++)
			if (addr_global(&s->addrs[j]))
				json_array_append_new(
					addrs, json_string(mpq_prefix_format(&s->addrs[j].prefix, p,
									     sizeof(p))));
		json_object_set_new(o, "name", json_string(w->conf->name));
		json_object_set_new(o, "interface", json_string(w->conf->interface));
		json_object_set_new(o, "ifindex", json_integer(s->ifindex));
		json_object_set_new(o, "state", json_string(state));
		json_object_set_new(o, "addresses", addrs);
		json_object_set_new(o, "gateway_mode", json_string(modes[w->conf->gw_mode]));
		json_object_set_new(o, "gateway4", gw_json(&s->gw4, AF_INET));
		json_object_set_new(o, "gateway6", gw_json(&s->gw6, AF_INET6));
		json_object_set_new(o, "gateway4_kept", json_boolean(s->gw4.kept));
		json_object_set_new(o, "gateway6_kept", json_boolean(s->gw6.kept));
		json_object_set_new(o, "table", json_integer(w->conf->table));
		json_object_set_new(o, "rule_priority", json_integer(ws->rule_priority));
		json_object_set_new(o, "routes_installed", json_integer((json_int_t)w->n_routes));
		json_object_set_new(o, "rules_installed", json_integer((json_int_t)w->n_rules));
		json_object_set_new(o, "changes", json_integer((json_int_t)s->changes));
		json_object_set_new(
			o, "changed_for_s",
			json_real(s->changed_ns ? (double)(now - s->changed_ns) / 1e9 : 0.));
		json_array_append_new(arr, o);
	}
}
