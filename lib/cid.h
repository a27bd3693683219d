/* SPDX-License-Identifier: MIT */
/*
 * Server connection IDs and the CID -> connection table.
 *
 * Layout (draft-ietf-quic-load-balancers, plaintext CID; docs/protocol.md):
 *   byte 0: config rotation (top 3 bits; we use 0; 0b111 means "not routable") and the CID
 *           length minus one (low 5 bits: length self-description);
 *   byte 1: server ID (one octet);
 *   bytes 2..len-1: random nonce.
 *
 * The table is open-addressed (linear probing, backward-shift deletion), indexed by SipHash-2-4
 * under a random 16-byte key chosen at creation so that a peer cannot aim CIDs at one bucket.
 */
#ifndef MPQ_CID_H
#define MPQ_CID_H

#include <stddef.h>
#include <stdint.h>

#define MPQ_CID_LEN	  16 /* the length of the CIDs our server issues */
#define CID_MAX_LEN	  20 /* QUIC v1 maximum */
#define CID_ROTATION_NONE 7  /* config rotation 0b111: unroutable */

/*
 * Write a CID of len bytes (2..20) to out: rotation (0..6), server_id, then len - 2 bytes from
 * random (borrowed). Bad arguments are programmer errors (assert).
 */
void cid_build(uint8_t *out, size_t len, uint8_t config_rotation, uint8_t server_id,
	       const uint8_t *random);

/*
 * The server ID in cid (0..255), or -EINVAL if cid does not follow the layout: len outside
 * 2..20, config rotation 0b111, or a length field that is not len - 1.
 */
int cid_server_id(const uint8_t *cid, size_t len);

/* SipHash-2-4 of data under key (Aumasson & Bernstein), as the reference's 64-bit output. */
uint64_t mpq_siphash24(const uint8_t key[16], const void *data, size_t len);

struct cid_table;

/*
 * A new table hashing with key (copied), holding at most max_entries (0: no cap).
 * Returns NULL when out of memory.
 */
struct cid_table *cid_table_new(const uint8_t key[16], size_t max_entries);

/* Free the table (not the values). NULL-safe. */
void cid_table_free(struct cid_table *t);

/*
 * Map cid (len bytes, copied) to value (borrowed; NULL is allowed but then indistinguishable
 * from "absent" for cid_table_lookup()). Returns 0; -EINVAL if len is 0 or > 20; -EEXIST if
 * present; -ENOSPC if the table holds max_entries; -ENOMEM if it could not grow.
 */
int cid_table_insert(struct cid_table *t, const uint8_t *cid, size_t len, void *value);

/* Remove cid. Returns 0 or -ENOENT (also for a bad len). */
int cid_table_remove(struct cid_table *t, const uint8_t *cid, size_t len);

/* The value for cid, or NULL. Allocation-free; one SipHash and a short probe. */
void *cid_table_lookup(const struct cid_table *t, const uint8_t *cid, size_t len);

size_t cid_table_count(const struct cid_table *t);

#endif
