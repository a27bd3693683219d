/* SPDX-License-Identifier: MIT */
/*
 * Policy routing for the traffic classes over rtnetlink (libmnl), IPv4 and IPv6:
 *
 *   priority P     lookup main suppress_prefixlength 0   (connected and specific routes win)
 *   priority P+1   fwmark <class mark>/<mark_mask> lookup <class table>   (one per class)
 *   table T        default dev <the class's active tunnel TUN>
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

#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

#include "conf.h"

/*
 * Point class class_idx's table at tun_ifname (default routes, both families, NLM_F_REPLACE).
 * Returns -ENODEV if tun_ifname does not exist, -ENETDOWN if it is down (the daemon installs
 * the route when the tunnel comes up), or the kernel's -errno; *ret_family (may be NULL) tells
 * which family failed.
 */
int route_class_set(struct mnl_socket *nl, const struct conf *c, size_t class_idx,
		    const char *tun_ifname, int *ret_family);

/*
 * Build (no I/O) the request route_class_set() sends for one family: "default dev <ifindex>"
 * in table, created or replaced. buf must hold NL_ROUTE_MSG_SIZE bytes, 4-byte aligned. The
 * daemon sends it on its own non-blocking socket when a class moves to another tunnel.
 */
#define NL_ROUTE_MSG_SIZE 256
struct nlmsghdr *route_default_msg(char *buf, int family, uint32_t table, unsigned ifindex);

/* Remove the default routes (both families) from class class_idx's table; absent is fine. */
int route_class_clear(struct mnl_socket *nl, const struct conf *c, size_t class_idx);

/*
 * Add the suppress rule and one fwmark rule per class, both families. Adding uses NLM_F_EXCL
 * and treats EEXIST as done, so applying twice creates no duplicates.
 */
int route_rules_apply(struct mnl_socket *nl, const struct conf *c);

/* Delete exactly the rules route_rules_apply() adds (and any duplicates of them). */
int route_rules_delete(struct mnl_socket *nl, const struct conf *c);

#endif
