/* SPDX-License-Identifier: MIT */
/*
 * Policy routing for the traffic classes over rtnetlink (libmnl), IPv4 and IPv6:
 *
 *   priority P     lookup main suppress_prefixlength 0   (connected and specific routes win)
 *   priority P+1   fwmark <class mark>/<mark_mask> lookup <class table>   (one per class)
 *   table T        default dev <the class's active tunnel TUN>      (mpquicd's)
 *                  unreachable default metric ROUTE_KILL_METRIC     (when_down "drop")
 *
 * P is classifier.rule_priority. Only traffic that would leave by the main table's default
 * route is steered into a tunnel, so replies to the LAN and the concentrator's own address
 * keep their normal routes even when their packets carry a class mark.
 *
 * These calls block until the kernel answers (bounded to one second each); the daemon runs
 * them outside its packet path. All are idempotent. They return 0 or -errno.
 */
#ifndef MPQ_ROUTE_H
#define MPQ_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>
#include <sys/socket.h>

#include "conf.h"

/*
 * The class tables hold two kinds of default route:
 *
 *   default dev <TUN>                       metric 0, mpquicd's: the class's active tunnel
 *   unreachable default  metric ROUTE_KILL_METRIC   mpquic-nft's kill switch (when_down "drop")
 *
 * At run time the daemon alone owns the first (it follows failover and restores it when someone
 * else changes it); mpquic-nft never writes it. The kill switch is present whether or not the
 * daemon runs, so class traffic that no tunnel carries is refused (ICMP unreachable) instead of
 * falling through to the main table and out of a WAN unencrypted.
 */
#define ROUTE_KILL_METRIC 2147483647u

/* The metric the kernel gives route_default_msg()'s route: 0, or 1024 for IPv6. */
static inline uint32_t route_default_metric(int family)
{
	return family == AF_INET6 ? 1024 : 0;
}

/*
 * Build (no I/O) the request that points table at a TUN: "default dev <ifindex>" (metric 0),
 * created or replaced; with ifindex 0, the request that deletes the table's metric-0 unicast
 * default route. buf must hold NL_ROUTE_MSG_SIZE bytes, 4-byte aligned. The daemon sends it on
 * its own non-blocking socket.
 */
#define NL_ROUTE_MSG_SIZE 256
struct nlmsghdr *route_default_msg(char *buf, int family, uint32_t table, unsigned ifindex);

/*
 * Install (on) or remove (!on) class class_idx's kill switch, both families. Installing
 * replaces an existing one; removing one that is absent is fine. Returns 0 or -errno; on
 * error *ret_family (may be NULL) tells which family failed.
 */
int route_class_killswitch(struct mnl_socket *nl, const struct conf *c, size_t class_idx, bool on,
			   int *ret_family);

/*
 * Add the suppress rule and one fwmark rule per class, both families. Adding uses NLM_F_EXCL
 * and treats EEXIST as done, so applying twice creates no duplicates.
 */
int route_rules_apply(struct mnl_socket *nl, const struct conf *c);

/* Delete exactly the rules route_rules_apply() adds (and any duplicates of them). */
int route_rules_delete(struct mnl_socket *nl, const struct conf *c);

#endif
