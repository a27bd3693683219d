/* SPDX-License-Identifier: MIT */
/*
 * The netlink "talker": opens netlink sockets, sends one nf_tables batch, reads every
 * acknowledgement and maps a failure back to the object that caused it by sequence number.
 *
 * The kernel applies an nf_tables batch as one transaction: when any message fails the whole
 * batch is aborted, so a failed talk_batch() has changed nothing.
 */
#ifndef MPQ_TALK_H
#define MPQ_TALK_H

#include <stddef.h>

#include <libmnl/libmnl.h>

#include "nftb.h"

#define TALK_ERR_MAX 512

/*
 * Open and bind a netlink socket of protocol bus (NETLINK_NETFILTER, NETLINK_ROUTE) with
 * extended and capped acknowledgements. Returns 0 and *ret_nl (close with mnl_socket_close()),
 * or -errno.
 */
int talk_open(int bus, struct mnl_socket **ret_nl);

/*
 * Send batch b on nl (NETLINK_NETFILTER) and wait for its acknowledgements (bounded: the kernel
 * answers within the send call; at most one second is spent waiting for stragglers).
 * Returns 0 when every message was acknowledged. Otherwise -errno of the failing message with
 * the lowest sequence number and err filled with "<object>: <reason>", e.g.
 * "class 'critical' rule: Operation not supported"; -EIO if acknowledgements are missing.
 */
int talk_batch(struct mnl_socket *nl, const struct nftb_batch *b, char *err, size_t errlen);

/* Like talk_batch(), but without the END message: the kernel validates every message, then
 * aborts the transaction. Nothing is ever changed; the result says whether it would apply. */
int talk_batch_check(struct mnl_socket *nl, const struct nftb_batch *b, char *err, size_t errlen);

/*
 * The status carried by an NLMSG_ERROR message: 0 (an ack) or -errno. Copies the kernel's
 * extended ack message, if any, into ext (else ext = ""). ext may be NULL.
 */
int talk_parse_ack(const struct nlmsghdr *nlh, char *ext, size_t extlen);

#endif
