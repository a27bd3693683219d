/* SPDX-License-Identifier: MIT */
/*
 * The kernel settings the client's design depends on, checked by mpquicd (client role, at
 * start and on reload) and by `mpquic-nft apply`, so that a box that cannot forward class
 * traffic says so instead of dropping it silently:
 *
 *   net.ipv4.ip_forward = 1                    LAN traffic is forwarded at all
 *   net.ipv4.conf.all.src_valid_mark = 1       needed when rp_filter is strict (1) on the TUNs:
 *     (or rp_filter 0 or 2 there)              replies from a tunnel are validated against the
 *                                              class table only when the mark counts
 *   net.ipv6.conf.all.forwarding = 1           when a class names IPv6 prefixes
 *
 * The rp_filter in force on a device is the larger of conf.all and conf.<dev> (conf.default
 * for a TUN that does not exist yet); src_valid_mark is conf.all or conf.<dev>.
 */
#ifndef MPQ_SYSCTL_H
#define MPQ_SYSCTL_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

/* One problem, as a sentence that names the sysctl(s) and the value(s) to set. */
typedef void (*sysctl_report_fn)(void *arg, const char *msg);

/*
 * Check client configuration c against the sysctls under root (normally "/proc/sys"; a test
 * may point elsewhere). With fix, set net.ipv4.conf.all.src_valid_mark=1 when strict rp_filter
 * needs it (classifier.set_sysctls) and report what was set through note (may be NULL). Each
 * remaining problem is passed to report. Returns the number of problems reported (a sysctl
 * that cannot be read is not a problem: the kernel may lack IPv6).
 */
int sysctl_check(const struct conf *c, const char *root, bool fix, sysctl_report_fn report,
		 sysctl_report_fn note, void *arg);

#endif
