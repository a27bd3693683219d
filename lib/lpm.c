/* SPDX-License-Identifier: MIT */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lpm.h"
#include "mpq.h"

/* An address as a 128-bit big-endian integer; IPv4 sits in the top 32 bits of hi. */
struct lpm_key {
	uint64_t hi, lo;
};

/*
 * A node stands for key/len. Nodes with a value are prefixes; nodes without one ("glue") exist
 * only where two subtrees diverge, so they always have two children.
 */
struct lpm_node {
	struct lpm_node *child[2]; /* owned */
	struct lpm_key key;	   /* bits after len are zero */
	uint8_t len;
	void *value; /* borrowed; NULL for glue */
};

struct lpm {
	struct lpm_node *root[2]; /* owned: [0] IPv4, [1] IPv6 */
	size_t count;
};

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

static void store64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static struct lpm_key key_load(int family, const uint8_t *addr)
{
	struct lpm_key k;

	if (family == AF_INET) {
		uint32_t v4;

		memcpy(&v4, addr, 4);
		k.hi = (uint64_t)be32toh(v4) << 32;
		k.lo = 0;
	} else {
		k.hi = load64(addr);
		k.lo = load64(addr + 8);
	}
	return k;
}

static struct lpm_key key_mask(struct lpm_key k, unsigned len)
{
	if (len == 0) {
		k.hi = 0;
		k.lo = 0;
	} else if (len <= 64) {
		k.hi &= ~UINT64_C(0) << (64 - len);
		k.lo = 0;
	} else {
		k.lo &= ~UINT64_C(0) << (128 - len);
	}
	return k;
}

static bool key_eq(struct lpm_key a, struct lpm_key b)
{
	return ((a.hi ^ b.hi) | (a.lo ^ b.lo)) == 0;
}

/* Bit i (0 = most significant) of k; i < 128. */
static unsigned key_bit(struct lpm_key k, unsigned i)
{
	return i < 64 ? (unsigned)(k.hi >> (63 - i)) & 1 : (unsigned)(k.lo >> (127 - i)) & 1;
}

/* Length of the common leading bits of a and b (128 if equal). */
static unsigned key_common(struct lpm_key a, struct lpm_key b)
{
	uint64_t x = a.hi ^ b.hi;

	if (x)
		return (unsigned)__builtin_clzll(x);
	x = a.lo ^ b.lo;
	if (x)
		return 64 + (unsigned)__builtin_clzll(x);
	return 128;
}

static int family_index(int family)
{
	return family == AF_INET ? 0 : family == AF_INET6 ? 1 : -1;
}

/* Validate p; set *ret_fi and *ret_k (masked). */
static int prefix_key(const struct mpq_prefix *p, int *ret_fi, struct lpm_key *ret_k)
{
	int fi = family_index(p->family);

	if (fi < 0 || p->len > mpq_family_maxlen(p->family))
		return -EINVAL;
	*ret_fi = fi;
	*ret_k = key_mask(key_load(p->family, p->addr), p->len);
	return 0;
}

struct lpm *lpm_new(void)
{
	return calloc(1, sizeof(struct lpm));
}

static void free_nodes(struct lpm_node *n)
{
	if (!n)
		return;
	free_nodes(n->child[0]);
	free_nodes(n->child[1]);
	free(n);
}

void lpm_free(struct lpm *t)
{
	if (!t)
		return;
	free_nodes(t->root[0]);
	free_nodes(t->root[1]);
	free(t);
}

static struct lpm_node *node_new(struct lpm_key k, unsigned len, void *value)
{
	struct lpm_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->key = k;
	n->len = (uint8_t)len;
	n->value = value;
	return n;
}

int lpm_insert(struct lpm *t, const struct mpq_prefix *p, void *value)
{
	struct lpm_node **link, *n, *leaf, *glue;
	struct lpm_key k;
	unsigned c = 0;
	int fi, r;

	r = prefix_key(p, &fi, &k);
	if (r < 0 || !value)
		return -EINVAL;
	link = &t->root[fi];
	while ((n = *link)) {
		c = MPQ_MIN(key_common(n->key, k), MPQ_MIN(n->len, p->len));
		if (c < n->len)
			break; /* p diverges from n, or is shorter: it goes above n */
		if (n->len == p->len) {
			if (n->value)
				return -EEXIST;
			n->value = value; /* a glue node becomes a prefix */
			t->count++;
			return 0;
		}
		link = &n->child[key_bit(k, n->len)];
	}
	leaf = node_new(k, p->len, value);
	if (!leaf)
		return -ENOMEM;
	if (!n) {
		*link = leaf;
	} else if (c == p->len) {
		leaf->child[key_bit(n->key, c)] = n;
		*link = leaf;
	} else {
		glue = node_new(key_mask(k, c), c, NULL);
		if (!glue) {
			free(leaf);
			return -ENOMEM;
		}
		glue->child[key_bit(k, c)] = leaf;
		glue->child[key_bit(n->key, c)] = n;
		*link = glue;
	}
	t->count++;
	return 0;
}

/* The link holding the node for exactly k/len (value or glue), and its parent's link. */
static struct lpm_node **find_link(struct lpm_node **link, struct lpm_key k, unsigned len,
				   struct lpm_node ***ret_parent)
{
	struct lpm_node *n;

	*ret_parent = NULL;
	while ((n = *link)) {
		if (n->len > len || !key_eq(key_mask(k, n->len), n->key))
			return NULL;
		if (n->len == len)
			return link;
		*ret_parent = link;
		link = &n->child[key_bit(k, n->len)];
	}
	return NULL;
}

int lpm_remove(struct lpm *t, const struct mpq_prefix *p)
{
	struct lpm_node **link, **parent, *n, *pn;
	struct lpm_key k;
	int fi, r;

	r = prefix_key(p, &fi, &k);
	if (r < 0)
		return r;
	link = find_link(&t->root[fi], k, p->len, &parent);
	if (!link || !(*link)->value)
		return -ENOENT;
	n = *link;
	t->count--;
	if (n->child[0] && n->child[1]) {
		n->value = NULL; /* still a divergence point: keep as glue */
		return 0;
	}
	*link = n->child[0] ? n->child[0] : n->child[1];
	free(n);
	/* A glue parent left with one child is no longer needed. */
	if (parent && !*link) {
		pn = *parent;
		if (!pn->value) {
			*parent = pn->child[0] ? pn->child[0] : pn->child[1];
			free(pn);
		}
	}
	return 0;
}

void *lpm_lookup(const struct lpm *t, int family, const uint8_t *addr)
{
	const struct lpm_node *n;
	struct lpm_key k;
	void *best = NULL;
	int fi = family_index(family);

	if (MPQ_UNLIKELY(fi < 0))
		return NULL;
	k = key_load(family, addr);
	n = t->root[fi];
	while (n) {
		if (!key_eq(key_mask(k, n->len), n->key))
			break;
		if (n->value)
			best = n->value;
		if (n->len >= 128)
			break;
		n = n->child[key_bit(k, n->len)];
	}
	return best;
}

void *lpm_get(const struct lpm *t, const struct mpq_prefix *p)
{
	struct lpm_node **link, **parent;
	struct lpm_key k;
	int fi;

	if (prefix_key(p, &fi, &k) < 0)
		return NULL;
	link = find_link((struct lpm_node **)&t->root[fi], k, p->len, &parent);
	return link ? (*link)->value : NULL;
}

int lpm_replace(struct lpm *t, const struct mpq_prefix *p, void *value)
{
	struct lpm_node **link, **parent;
	struct lpm_key k;
	int fi;

	if (prefix_key(p, &fi, &k) < 0 || !value)
		return -EINVAL;
	link = find_link(&t->root[fi], k, p->len, &parent);
	if (!link || !(*link)->value)
		return -ENOENT;
	(*link)->value = value;
	return 0;
}

size_t lpm_count(const struct lpm *t)
{
	return t->count;
}

static int walk_nodes(const struct lpm_node *n, int family, lpm_walk_cb cb, void *arg)
{
	struct mpq_prefix p;
	int r;

	if (!n)
		return 0;
	if (n->value) {
		memset(&p, 0, sizeof(p));
		p.family = (uint8_t)family;
		p.len = n->len;
		if (family == AF_INET) {
			uint8_t tmp[8];

			store64(tmp, n->key.hi);
			memcpy(p.addr, tmp, 4);
		} else {
			store64(p.addr, n->key.hi);
			store64(p.addr + 8, n->key.lo);
		}
		r = cb(arg, &p, n->value);
		if (r)
			return r;
	}
	r = walk_nodes(n->child[0], family, cb, arg);
	if (r)
		return r;
	return walk_nodes(n->child[1], family, cb, arg);
}

int lpm_walk(const struct lpm *t, lpm_walk_cb cb, void *arg)
{
	int r = walk_nodes(t->root[0], AF_INET, cb, arg);

	if (r)
		return r;
	return walk_nodes(t->root[1], AF_INET6, cb, arg);
}
