/* SPDX-License-Identifier: MIT */
/*
 * WAN uplinks of the client: what the kernel says about each configured WAN (interface index,
 * link state, addresses, gateway), followed over rtnetlink, and the policy routing that sends
 * each WAN's own traffic out of that WAN whatever the main table says (docs/wan.md):
 *
 *   priority W-1 from <each address of the WAN> lookup main suppress_prefixlength 0
 *   priority W   from <each address of the WAN> lookup <wan.table>
 *   priority W   oif <wan.interface> lookup <wan.table>      (SO_BINDTODEVICE sockets)
 *   table T      default via <gateway> dev <interface>       (or "default dev <interface>")
 *                <each connected prefix of the WAN> dev <interface>
 *
 * W = wans_rule_priority() (below the classifier's rules), T = conf_wan.table. Gateways come
 * from the kernel only (auto: the lowest-metric default route via the interface in the main
 * table), never from DHCP lease files.
 *
 * One NETLINK_ROUTE socket subscribed to link, address, route and rule events, non-blocking,
 * with its own ev_io watcher; the state is (re)built by dumps sent on that socket and read by
 * the same watcher, never by a blocking receive. Routes and rules are written through the
 * daemon's struct nl (fire and forget, errors logged) and reconciled against what the kernel
 * reports: idempotent, repaired when someone else deletes them, removed by wans_free().
 */
#ifndef MPQ_WAN_H
#define MPQ_WAN_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf.h"
#include "ipaddr.h"

struct nl;
struct wans;

#define WAN_MAX_ADDRS 16 /* addresses remembered per WAN interface */

enum wan_gw_kind {
	WAN_GW_UNKNOWN = 0, /* no default route for this family */
	WAN_GW_VIA,	    /* default via addr */
	WAN_GW_DIRECT,	    /* default dev <interface> (gateway "none", or a device route) */
};

struct wan_gw {
	enum wan_gw_kind kind;
	uint8_t addr[16]; /* network order, when kind == WAN_GW_VIA */
	uint32_t metric;  /* of the main-table route it came from (auto) */
	bool kept;	  /* auto: the kernel flushed that route; the last known gateway */
};

struct wan_addr {
	struct mpq_prefix prefix; /* address with its prefix length, host bits kept */
	uint8_t scope;		  /* RT_SCOPE_* */
	uint32_t flags;		  /* IFA_F_* */
};

/* The published state of one WAN, updated after every batch of rtnetlink messages. */
struct wan_state {
	int ifindex;	/* 0 while the interface does not exist */
	unsigned flags; /* IFF_* of the link */
	bool up;	/* IFF_UP and IFF_RUNNING (carrier) */
	struct wan_addr addrs[WAN_MAX_ADDRS];
	size_t n_addrs;
	struct wan_gw gw4, gw6;
	uint64_t changed_ns; /* monotonic time of the last change */
	uint64_t changes;    /* how many times it changed since the start */
};

/* Called after WAN wan_idx's state changed (and once per WAN when the first dump is done). */
typedef void (*wan_changed_fn)(void *arg, size_t wan_idx);

/*
 * Open the event socket and start the first dump. c must outlive the object. Returns 0 or
 * -errno; nothing is reported through fn before the first dump completed.
 */
int wans_new(struct ev_loop *loop, struct nl *nl, const struct conf *c, wan_changed_fn fn,
	     void *arg, struct wans **ret);
/*
 * A reload kept the WANs unchanged (same entries, in the same order): point at the new
 * configuration, which must outlive the object.
 */
void wans_set_conf(struct wans *ws, const struct conf *c);

/* Remove our rules and routes (fire and forget), stop the watchers, free. NULL-safe. */
void wans_free(struct wans *ws);

/* True once the first dump has completed. */
bool wans_synced(const struct wans *ws);
const struct wan_state *wans_state(const struct wans *ws, size_t wan_idx);

/*
 * The address a socket on WAN wan_idx binds for family: the configured source when the
 * interface has it, else the interface's first usable global address (IPv4 primary, IPv6
 * neither tentative nor deprecated). Returns 0 and *ret (host prefix), or
 *   -ENODEV         the interface does not exist
 *   -ENETDOWN       it is down or has no carrier
 *   -EADDRNOTAVAIL  no usable address of that family (or not the configured source)
 */
int wans_source(const struct wans *ws, size_t wan_idx, int family, struct mpq_prefix *ret);

/*
 * Whether a tunnel on WAN wan_idx can reach dst (the server): 0 when the WAN has a gateway of
 * dst's family (or a direct default route), or dst is on one of its connected prefixes;
 * -ENETUNREACH otherwise (gateway "auto" and no default route via the interface).
 */
int wans_reach(const struct wans *ws, size_t wan_idx, const struct sockaddr *dst);

/* Priority W of the WAN rules: 10 below classifier.rule_priority (at least 2; W - 1 is used). */
uint32_t wans_rule_priority(const struct conf *c);

/* Append one object per WAN to arr (status JSON, see docs/wan.md). */
void wans_status(const struct wans *ws, json_t *arr);

#endif
