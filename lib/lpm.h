/* SPDX-License-Identifier: MIT */
/*
 * Longest-prefix-match table for IPv4 and IPv6: prefix -> value. One path-compressed binary
 * trie per family: a lookup visits at most one node per distinct prefix length on the path,
 * compares 128-bit keys held as two integers, and allocates nothing.
 *
 * Host bits of the prefixes given to every function are ignored: 10.0.0.1/24 is 10.0.0.0/24.
 * Values are borrowed (the table never frees them) and must not be NULL, since NULL is the
 * "no match" answer. Not thread-safe; one event loop owns a table.
 */
#ifndef MPQ_LPM_H
#define MPQ_LPM_H

#include <stddef.h>

#include "ipaddr.h"

struct lpm;

/* A new empty table, or NULL when out of memory. */
struct lpm *lpm_new(void);

/* Free the table and its nodes (not the values). NULL-safe. */
void lpm_free(struct lpm *t);

/* Add p -> value. Returns 0; -EEXIST if p is present; -EINVAL for a bad family or length or a
 * NULL value; -ENOMEM. */
int lpm_insert(struct lpm *t, const struct mpq_prefix *p, void *value);

/* Remove p (exact). Returns 0, -ENOENT if absent, -EINVAL for a bad family or length. */
int lpm_remove(struct lpm *t, const struct mpq_prefix *p);

/* The value of the longest prefix containing addr (family's length, network order), or NULL.
 * An unknown family matches nothing. */
void *lpm_lookup(const struct lpm *t, int family, const uint8_t *addr);

/* The value stored for exactly p, or NULL. */
void *lpm_get(const struct lpm *t, const struct mpq_prefix *p);

/* Switch p's value to value in one store (lookups see the old or the new one). Returns 0;
 * -ENOENT if p is absent; -EINVAL for a bad prefix or a NULL value. */
int lpm_replace(struct lpm *t, const struct mpq_prefix *p, void *value);

/* Number of prefixes stored. */
size_t lpm_count(const struct lpm *t);

/*
 * Call cb for every entry, IPv4 first, each family in address order (a prefix before the
 * longer prefixes it contains). cb must not change the table. A non-zero return from cb stops
 * the walk and is returned; otherwise returns 0.
 */
typedef int (*lpm_walk_cb)(void *arg, const struct mpq_prefix *p, void *value);
int lpm_walk(const struct lpm *t, lpm_walk_cb cb, void *arg);

#endif
