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
#include <stdint.h>

#include "ipaddr.h"

struct nl;

/* The socket's netlink port id: events the kernel sends because of our requests carry it. */
uint32_t nl_portid(const struct nl *nl);
/* Returns 0 or -errno. */
int nl_new(struct ev_loop *loop, struct nl **ret);
void nl_free(struct nl *nl); /* NULL-safe */

/* Set MTU (0 = leave) and administrative state up. what: e.g. "tunnel 'cr1' (mpq-cr1)". */
int nl_link_set(struct nl *nl, int ifindex, unsigned mtu, bool up, const char *what);
/* Add (or replace) an address with its prefix length; for a point-to-point TUN. */
int nl_addr_add(struct nl *nl, int ifindex, const struct mpq_prefix *addr, const char *what);
int nl_addr_del(struct nl *nl, int ifindex, const struct mpq_prefix *addr, const char *what);

/*
 * Send a request built by the caller (type, flags and payload set; sequence number, REQUEST and
 * ACK are filled in here) without waiting. A kernel error in the acknowledgement is logged as
 * "<what>: <op> failed: ...", except the ones named in ok:
 *   NL_OK_EXIST  EEXIST (an NLM_F_EXCL add of something already there)
 *   NL_OK_NOENT  ENOENT, ESRCH (a delete of something already gone)
 * Returns 0, or -errno if it could not be sent (logged).
 */
#define NL_OK_EXIST 0x1
#define NL_OK_NOENT 0x2
struct nlmsghdr;
int nl_request(struct nl *nl, struct nlmsghdr *h, unsigned ok, const char *what, const char *op);

#endif
