/* SPDX-License-Identifier: MIT */
/*
 * Runtime rtnetlink over libmnl: one non-blocking NETLINK_ROUTE socket with its own watcher.
 * Requests are sent without waiting; the kernel applies an rtnetlink request while we send it,
 * and its acknowledgement (or error) is read by the watcher, which logs failures naming the
 * object the request was for.
 */
#ifndef MPQ_NL_H
#define MPQ_NL_H

#include <ev.h>
#include <stdbool.h>

#include "ipaddr.h"

struct nl;

/* Returns 0 or -errno. */
int nl_new(struct ev_loop *loop, struct nl **ret);
void nl_free(struct nl *nl); /* NULL-safe */

/* Set MTU (0 = leave) and administrative state up. what: e.g. "tunnel 'cr1' (mpq-cr1)". */
int nl_link_set(struct nl *nl, int ifindex, unsigned mtu, bool up, const char *what);
/* Add (or replace) an address with its prefix length; for a point-to-point TUN. */
int nl_addr_add(struct nl *nl, int ifindex, const struct mpq_prefix *addr, const char *what);
int nl_addr_del(struct nl *nl, int ifindex, const struct mpq_prefix *addr, const char *what);

#endif
