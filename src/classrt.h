/* SPDX-License-Identifier: MIT */
/*
 * The class tables' default routes at run time (docs/classifier.md § Policy routing): the
 * daemon decides which tunnel each class rides (client.c) and this module makes the class's
 * routing table say so, and keep saying so. It listens to rtnetlink route and rule events on
 * its own non-blocking socket; when a class table's default route is deleted or pointed
 * elsewhere by someone else (an older `mpquic-nft apply`, an operator's `ip route`), it is
 * restored within CLASSRT_REPAIR_DELAY_S, at most CLASSRT_REPAIR_MAX times per class per
 * CLASSRT_TICK_S (then it logs that it stops fighting, until the next tick). When a class's
 * policy rule disappears (`mpquic-nft delete`), it says that the class is no longer steered.
 *
 * Owned: "default dev <TUN>" in each class table (metric 0; 1024 for IPv6), unicast. Never
 * touched: the kill switch (unreachable, metric ROUTE_KILL_METRIC) and the rules, which are
 * mpquic-nft's.
 *
 * Timers:
 *   repair_timer: CLASSRT_REPAIR_DELAY_S after an event that contradicts a class's route
 *                 (coalesces a burst), re-sends the routes of the classes marked dirty.
 *   tick_timer:   every CLASSRT_TICK_S, refills the repair budget.
 */
#ifndef MPQ_CLASSRT_H
#define MPQ_CLASSRT_H

#include <ev.h>
#include <jansson.h>
#include <stddef.h>

#include "conf.h"

struct nl;
struct classrt;

/* Open the event socket. c (a client configuration) must outlive the object. 0 or -errno. */
int classrt_new(struct ev_loop *loop, struct nl *nl, const struct conf *c, struct classrt **ret);

/*
 * A reload: point at the new configuration (which must outlive the object). Every class starts
 * with no route wanted; the caller sets each again. A table no class uses any more loses our
 * route. 0 or -ENOMEM (the old state stays).
 */
int classrt_set_conf(struct classrt *cr, const struct conf *c);

/*
 * Make class class_idx's table send its traffic to TUN ifindex (tun: its name, for messages),
 * or (ifindex 0) hold no default route of ours, now and whenever someone changes it. Sends the
 * request only when the wanted state changes.
 */
void classrt_set(struct classrt *cr, size_t class_idx, int ifindex, const char *tun);

/* Repairs made in class class_idx's table since the start. */
unsigned long classrt_repairs(const struct classrt *cr, size_t class_idx);

/* Stop the watchers, close, free; leaves the routes (they go with the TUNs). NULL-safe. */
void classrt_free(struct classrt *cr);

#endif
