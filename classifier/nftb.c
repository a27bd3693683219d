/* SPDX-License-Identifier: MIT */
/*
 * Configuration -> ruleset description, and description -> libnftnl netlink batch.
 * The expressions mirror what nft 1.0.x generates for the same text (nftb_print.c), so
 * `nft list table` shows our rules the way an operator would have written them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_conntrack_common.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "mpq.h"
#include "nftb.h"

/* nft's datatype numbers (nftables include/datatype.h), stored as the set key type. */
#define NFT_TYPE_IPADDR	      7
#define NFT_TYPE_IP6ADDR      8
#define NFT_TYPE_INET_SERVICE 13
#define NFT_TYPE_IFNAME	      41

/* nft's enum byteorder, stored in a set's NFTNL_UDATA_SET_KEYBYTEORDER */
#define NFT_BYTEORDER_HOST 1
#define NFT_BYTEORDER_BIG  2

#define PRIO_MANGLE (-150)
#define PRIO_SRCNAT 100

#define DEFAULT_TABLE "mpquic"

static void seterr(struct nftb_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void seterr(struct nftb_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

const char *nftb_table_name(const struct conf *c)
{
	return c->classifier.table[0] ? c->classifier.table : DEFAULT_TABLE;
}

/* The nft scanner's "string" token: ({letter}|[_.])({letter}|{digit}|[/\-_\.])* */
static bool nft_identifier_ok(const char *s)
{
	if (!*s ||
	    !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' || *s == '.'))
		return false;
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("/-_.", *s)))
			return false;
	}
	return true;
}

/* ---- ruleset description ---- */

static unsigned key_len(enum nftb_key k)
{
	switch (k) {
	case NFTB_KEY_IPV4:
		return 4;
	case NFTB_KEY_IPV6:
		return 16;
	case NFTB_KEY_PORT:
		return 2;
	case NFTB_KEY_IFNAME:
		return IF_NAMESIZE;
	}
	return 0;
}

static int key_cmp(const uint8_t *a, const uint8_t *b, unsigned len)
{
	return memcmp(a, b, len);
}

/* a += 1 (big-endian). Returns true on overflow (a was all ones). */
static bool key_inc(uint8_t *a, unsigned len)
{
	for (unsigned i = len; i-- > 0;) {
		if (++a[i] != 0)
			return false;
	}
	return true;
}

static int elem_cmp(const void *pa, const void *pb, void *key)
{
	const struct nftb_elem *a = pa, *b = pb;

	return key_cmp(a->lo, b->lo, key_len(*(const enum nftb_key *)key));
}

/* Sort and merge overlapping or adjacent ranges: the kernel refuses overlapping intervals. */
static void elems_normalize(struct nftb_set *s)
{
	unsigned len = key_len(s->key);
	size_t out = 0;

	if (s->key == NFTB_KEY_IFNAME) {
		/* plain set: drop duplicates, keep the configured order */
		for (size_t i = 0; i < s->n_elems; i++) {
			bool dup = false;

			for (size_t j = 0; j < out && !dup; j++)
				dup = !memcmp(s->elems[j].lo, s->elems[i].lo, len);
			if (!dup)
				s->elems[out++] = s->elems[i];
		}
		s->n_elems = out;
		return;
	}
	if (s->n_elems == 0)
		return;
	qsort_r(s->elems, s->n_elems, sizeof(s->elems[0]), elem_cmp, &s->key);
	for (size_t i = 1; i < s->n_elems; i++) {
		struct nftb_elem *cur = &s->elems[out];
		uint8_t next[16];

		memcpy(next, cur->hi, len);
		if (key_inc(next, len) || key_cmp(s->elems[i].lo, next, len) <= 0) {
			/* overlapping or adjacent (or cur already reaches the top) */
			if (key_cmp(s->elems[i].hi, cur->hi, len) > 0)
				memcpy(cur->hi, s->elems[i].hi, len);
		} else {
			s->elems[++out] = s->elems[i];
		}
	}
	s->n_elems = out + 1;
}

static void prefix_range(const struct mpq_prefix *p, struct nftb_elem *e)
{
	unsigned len = mpq_family_addrlen(p->family);

	memset(e, 0, sizeof(*e));
	for (unsigned i = 0; i < len; i++) {
		unsigned bits = p->len > i * 8 ? p->len - i * 8 : 0;
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));

		e->lo[i] = p->addr[i] & mask;
		e->hi[i] = p->addr[i] | (uint8_t)~mask;
	}
}

static int add_set(struct nftb_ruleset *rs, enum nftb_key key, const char *cls, const char *what,
		   size_t n, size_t *ret_idx)
{
	struct nftb_set *sets, *s;

	sets = realloc(rs->sets, (rs->n_sets + 1) * sizeof(*sets));
	if (!sets)
		return -ENOMEM;
	rs->sets = sets;
	s = &sets[rs->n_sets];
	memset(s, 0, sizeof(*s));
	s->key = key;
	snprintf(s->name, sizeof(s->name), "cls_%s_%s", cls, what);
	snprintf(s->desc, sizeof(s->desc), "class '%s' set '%s'", cls, s->name);
	s->elems = calloc(n ? n : 1, sizeof(*s->elems));
	if (!s->elems)
		return -ENOMEM;
	*ret_idx = rs->n_sets++;
	return 0;
}

/* A set of the prefixes of one family; *ret_idx = (size_t)-1 when the list has none. */
static int add_prefix_set(struct nftb_ruleset *rs, const char *cls, const char *what, int family,
			  const struct mpq_prefix *p, size_t n, size_t *ret_idx)
{
	size_t idx, cnt = 0;
	int r;

	for (size_t i = 0; i < n; i++)
		cnt += p[i].family == family;
	*ret_idx = (size_t)-1;
	if (cnt == 0)
		return 0;
	r = add_set(rs, family == AF_INET ? NFTB_KEY_IPV4 : NFTB_KEY_IPV6, cls, what, cnt, &idx);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (p[i].family == family)
			prefix_range(&p[i], &rs->sets[idx].elems[rs->sets[idx].n_elems++]);
	}
	elems_normalize(&rs->sets[idx]);
	*ret_idx = idx;
	return 0;
}

static int add_port_set(struct nftb_ruleset *rs, const char *cls, const char *what,
			const struct conf_port_range *pr, size_t n, size_t *ret_idx)
{
	struct nftb_set *s;
	size_t idx;
	int r;

	r = add_set(rs, NFTB_KEY_PORT, cls, what, n, &idx);
	if (r < 0)
		return r;
	s = &rs->sets[idx];
	for (size_t i = 0; i < n; i++) {
		struct nftb_elem *e = &s->elems[s->n_elems++];
		uint16_t lo = htons(pr[i].lo), hi = htons(pr[i].hi);

		memcpy(e->lo, &lo, 2);
		memcpy(e->hi, &hi, 2);
	}
	elems_normalize(s);
	*ret_idx = idx;
	return 0;
}

static int add_chain(struct nftb_ruleset *rs, const char *name, const char *type, int hook,
		     int prio, const char *prio_name, size_t *ret_idx)
{
	struct nftb_chain *ch;

	if (rs->n_chains >= NFTB_MAX_CHAINS)
		return -ENOSPC;
	ch = &rs->chains[rs->n_chains];
	snprintf(ch->name, sizeof(ch->name), "%s", name);
	ch->base = type != NULL;
	ch->type = type;
	ch->hook = hook;
	ch->prio = prio;
	ch->prio_name = prio_name;
	if (ret_idx)
		*ret_idx = rs->n_chains;
	rs->n_chains++;
	return 0;
}

/* Append an empty rule to chain; returns NULL on -ENOMEM. */
static struct nftb_rule *add_rule(struct nftb_ruleset *rs, size_t chain, const char *comment,
				  const char *descfmt, ...) __attribute__((format(printf, 4, 5)));
static struct nftb_rule *add_rule(struct nftb_ruleset *rs, size_t chain, const char *comment,
				  const char *descfmt, ...)
{
	struct nftb_rule *r;
	va_list ap;

	if (rs->n_rules == rs->cap_rules) {
		size_t cap = rs->cap_rules ? rs->cap_rules * 2 : 32;
		struct nftb_rule *rules = realloc(rs->rules, cap * sizeof(*rules));

		if (!rules)
			return NULL;
		rs->rules = rules;
		rs->cap_rules = cap;
	}
	r = &rs->rules[rs->n_rules++];
	memset(r, 0, sizeof(*r));
	r->chain = chain;
	if (comment)
		snprintf(r->comment, sizeof(r->comment), "%s", comment);
	va_start(ap, descfmt);
	vsnprintf(r->desc, sizeof(r->desc), descfmt, ap);
	va_end(ap);
	return r;
}

static struct nftb_match *add_match(struct nftb_rule *r, enum nftb_match_kind kind)
{
	struct nftb_match *m;

	if (r->n_m >= NFTB_MAX_MATCH)
		abort(); /* programmer error: NFTB_MAX_MATCH too small */
	m = &r->m[r->n_m++];
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	return m;
}

static void add_stmt(struct nftb_rule *r, enum nftb_stmt_kind kind, uint32_t mask, uint32_t value)
{
	if (r->n_s >= NFTB_MAX_STMT)
		abort(); /* programmer error */
	r->s[r->n_s].kind = kind;
	r->s[r->n_s].mask = mask;
	r->s[r->n_s].value = value;
	r->n_s++;
}

static void match_ifname(struct nftb_rule *r, enum nftb_match_kind kind, bool neg,
			 const char *ifname)
{
	struct nftb_match *m = add_match(r, kind);

	m->neg = neg;
	snprintf(m->ifname, sizeof(m->ifname), "%s", ifname);
}

static void match_nfproto(struct nftb_rule *r, int family)
{
	add_match(r, NFTB_M_NFPROTO)->family = family;
}

static void match_set(struct nftb_rule *r, enum nftb_match_kind kind, size_t set)
{
	add_match(r, kind)->set = set;
}

/* The per-class sets and the family variants a class's rules are emitted for. */
struct class_sets {
	size_t iif;
	size_t src[2], dst[2]; /* [0] IPv4, [1] IPv6; (size_t)-1 = none of that family */
	size_t sport, dport;
};

#define NO_SET ((size_t)-1)

static int class_sets(struct nftb_ruleset *rs, const struct conf_class *cl, struct class_sets *cs)
{
	const struct conf_match *m = &cl->match;
	int r = 0;

	cs->iif = cs->sport = cs->dport = NO_SET;
	cs->src[0] = cs->src[1] = cs->dst[0] = cs->dst[1] = NO_SET;
	if (m->n_iif) {
		struct nftb_set *s;

		r = add_set(rs, NFTB_KEY_IFNAME, cl->name, "iif", m->n_iif, &cs->iif);
		if (r < 0)
			return r;
		s = &rs->sets[cs->iif];
		for (size_t i = 0; i < m->n_iif; i++)
			strncpy((char *)s->elems[s->n_elems++].lo, m->iif[i], IF_NAMESIZE - 1);
		elems_normalize(s);
	}
	if (r == 0)
		r = add_prefix_set(rs, cl->name, "src4", AF_INET, m->src, m->n_src, &cs->src[0]);
	if (r == 0)
		r = add_prefix_set(rs, cl->name, "src6", AF_INET6, m->src, m->n_src, &cs->src[1]);
	if (r == 0)
		r = add_prefix_set(rs, cl->name, "dst4", AF_INET, m->dst, m->n_dst, &cs->dst[0]);
	if (r == 0)
		r = add_prefix_set(rs, cl->name, "dst6", AF_INET6, m->dst, m->n_dst, &cs->dst[1]);
	if (r == 0 && m->n_sport)
		r = add_port_set(rs, cl->name, "sport", m->sport, m->n_sport, &cs->sport);
	if (r == 0 && m->n_dport)
		r = add_port_set(rs, cl->name, "dport", m->dport, m->n_dport, &cs->dport);
	return r;
}

static int class_rules(struct nftb_ruleset *rs, const struct conf *c, size_t ci, size_t chain,
		       struct nftb_err *err)
{
	const struct conf_class *cl = &c->classes[ci];
	const struct conf_match *m = &cl->match;
	uint32_t mask = c->classifier.mark_mask;
	struct class_sets cs;
	bool fam[2] = {true, true}, per_family;
	char comment[NFTB_NAME_MAX];
	int r;

	r = class_sets(rs, cl, &cs);
	if (r < 0)
		return r;
	if (m->n_src) {
		fam[0] &= cs.src[0] != NO_SET;
		fam[1] &= cs.src[1] != NO_SET;
	}
	if (m->n_dst) {
		fam[0] &= cs.dst[0] != NO_SET;
		fam[1] &= cs.dst[1] != NO_SET;
	}
	if (!fam[0] && !fam[1]) {
		seterr(err, "class '%s': src and dst have no address family in common", cl->name);
		return -EINVAL;
	}
	per_family = m->n_src || m->n_dst || m->n_dscp;
	snprintf(comment, sizeof(comment), "class %s", cl->name);
	for (int f = 0; f < (per_family ? 2 : 1); f++) {
		int family = per_family ? (f == 0 ? AF_INET : AF_INET6) : 0;

		if (per_family && !fam[f])
			continue;
		/* nft has no "any of these DSCP values" without a shifted set lookup, whose
		 * IPv6 form is byte-order fragile: one rule per value, an exact masked cmp. */
		for (size_t d = 0; d < (m->n_dscp ? m->n_dscp : 1); d++) {
			struct nftb_rule *rule;

			rule = add_rule(rs, chain, comment, "class '%s' rule", cl->name);
			if (!rule)
				return -ENOMEM;
			if (cs.iif != NO_SET)
				match_set(rule, NFTB_M_IIF_SET, cs.iif);
			if (family)
				match_nfproto(rule, family);
			if (m->n_src)
				match_set(rule, NFTB_M_SADDR_SET, cs.src[f]);
			if (m->n_dst)
				match_set(rule, NFTB_M_DADDR_SET, cs.dst[f]);
			if (m->proto >= 0)
				add_match(rule, NFTB_M_L4PROTO)->value = (uint32_t)m->proto;
			if (cs.sport != NO_SET)
				match_set(rule, NFTB_M_SPORT_SET, cs.sport);
			if (cs.dport != NO_SET)
				match_set(rule, NFTB_M_DPORT_SET, cs.dport);
			if (m->n_dscp) {
				struct nftb_match *dm = add_match(rule, NFTB_M_DSCP);

				dm->family = family;
				dm->value = m->dscp[d];
			}
			add_stmt(rule, NFTB_S_MARK, mask, cl->mark);
			add_stmt(rule, NFTB_S_CTMARK, mask, cl->mark);
			rule->verdict = NFTB_V_RETURN;
		}
	}
	return 0;
}

/* prerouting: restore a known class mark from the conntrack entry, else classify. */
static int hook_rules(struct nftb_ruleset *rs, const struct conf *c, size_t chain, size_t classify)
{
	uint32_t mask = c->classifier.mark_mask;
	struct nftb_rule *r;

	/* nft cannot OR two registers (meta mark & ~M | ct mark & M) before kernel 6.13, so the
	 * restore is one exact rule per class; a stale ct mark of an unknown class simply gets
	 * classified again. */
	for (size_t i = 0; i < c->n_classes; i++) {
		struct nftb_match *m;
		char comment[NFTB_NAME_MAX];

		snprintf(comment, sizeof(comment), "restore class %s", c->classes[i].name);
		r = add_rule(rs, chain, comment, "class '%s' restore rule in chain '%s'",
			     c->classes[i].name, rs->chains[chain].name);
		if (!r)
			return -ENOMEM;
		m = add_match(r, NFTB_M_CTMARK);
		m->mask = mask;
		m->value = c->classes[i].mark;
		add_stmt(r, NFTB_S_MARK, mask, c->classes[i].mark);
		r->verdict = NFTB_V_ACCEPT;
	}
	r = add_rule(rs, chain, NULL, "jump rule in chain '%s'", rs->chains[chain].name);
	if (!r)
		return -ENOMEM;
	r->verdict = NFTB_V_JUMP;
	r->jump_chain = classify;
	return 0;
}

static int mss_rule(struct nftb_ruleset *rs, size_t chain, const char *tun, const char *what)
{
	struct nftb_rule *r = add_rule(rs, chain, NULL, "%s MSS clamp rule", what);

	if (!r)
		return -ENOMEM;
	match_ifname(r, NFTB_M_OIFNAME, false, tun);
	add_match(r, NFTB_M_TCPSYN);
	add_stmt(r, NFTB_S_MSS_RTMTU, 0, 0);
	return 0;
}

static int check_client(const struct conf *c, struct nftb_err *err)
{
	uint32_t mask = c->classifier.mark_mask;
	char setname[NFTB_NAME_MAX];
	size_t n_default = 0;

	if (mask == 0) {
		seterr(err, "classifier.mark_mask is 0");
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n_classes; i++) {
		const struct conf_class *cl = &c->classes[i];

		if (cl->mark == 0 || (cl->mark & ~mask)) {
			seterr(err,
			       "class '%s': mark 0x%08x is not a non-zero value inside mark_mask "
			       "0x%08x",
			       cl->name, cl->mark, mask);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (c->classes[j].mark == cl->mark) {
				seterr(err, "class '%s': mark 0x%08x already used by class '%s'",
				       cl->name, cl->mark, c->classes[j].name);
				return -EINVAL;
			}
		}
		snprintf(setname, sizeof(setname), "cls_%s", cl->name);
		if (!nft_identifier_ok(setname)) {
			seterr(err, "class '%s': name cannot be used in an nft set name", cl->name);
			return -EINVAL;
		}
		n_default += cl->is_default;
	}
	if (n_default > 1) {
		seterr(err, "more than one default class");
		return -EINVAL;
	}
	return 0;
}

static int build_client(struct nftb_ruleset *rs, const struct conf *c, struct nftb_err *err)
{
	size_t pre, classify, post = 0, fwd = 0;
	int r;

	r = check_client(c, err);
	if (r < 0)
		return r;
	/*
	 * No output chain: the box's own traffic is not classified (docs/classifier.md § The edge
	 * box's own traffic). Its source address is chosen before any mark, the WAN "from" rules
	 * come first, and replies to connections made to the box, sockets bound to a WAN and the
	 * tunnels' own packets must keep their WAN.
	 */
	if ((r = add_chain(rs, "prerouting", "filter", NF_INET_PRE_ROUTING, PRIO_MANGLE, "mangle",
			   &pre)) < 0 ||
	    (r = add_chain(rs, "classify", NULL, 0, 0, NULL, &classify)) < 0)
		return r;
	if (c->classifier.snat && (r = add_chain(rs, "postrouting", "nat", NF_INET_POST_ROUTING,
						 PRIO_SRCNAT, "srcnat", &post)) < 0)
		return r;
	if (c->classifier.mss_clamp && (r = add_chain(rs, "forward", "filter", NF_INET_FORWARD,
						      PRIO_MANGLE, "mangle", &fwd)) < 0)
		return r;

	if ((r = hook_rules(rs, c, pre, classify)) < 0)
		return r;

	/* The tunnels' own QUIC packets to the concentrator must never be steered into a
	 * tunnel: leave them unmarked so they follow the main (or per-WAN) routing. */
	if (c->server_addr_len > 0) {
		const struct sockaddr_storage *ss = &c->server_addr;
		struct nftb_rule *rule;
		struct nftb_match *m;

		rule = add_rule(rs, classify, "mpquic server", "rule skipping the server address");
		if (!rule)
			return -ENOMEM;
		match_nfproto(rule, ss->ss_family);
		m = add_match(rule, NFTB_M_DADDR);
		m->family = ss->ss_family;
		if (ss->ss_family == AF_INET)
			memcpy(m->addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		else
			memcpy(m->addr, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
		rule->verdict = NFTB_V_RETURN;
	}
	for (size_t i = 0; i < c->n_classes; i++) {
		if (!c->classes[i].is_default && (r = class_rules(rs, c, i, classify, err)) < 0)
			return r;
	}
	for (size_t i = 0; i < c->n_classes; i++) {
		if (c->classes[i].is_default && (r = class_rules(rs, c, i, classify, err)) < 0)
			return r;
	}

	for (size_t i = 0; c->classifier.snat && i < c->n_tunnels; i++) {
		struct nftb_rule *rule;

		rule = add_rule(rs, post, NULL, "tunnel '%s' masquerade rule", c->tunnels[i].name);
		if (!rule)
			return -ENOMEM;
		match_ifname(rule, NFTB_M_OIFNAME, false, c->tunnels[i].tun);
		add_stmt(rule, NFTB_S_MASQ, 0, 0);
	}
	for (size_t i = 0; c->classifier.mss_clamp && i < c->n_tunnels; i++) {
		char what[NFTB_DESC_MAX];

		snprintf(what, sizeof(what), "tunnel '%s'", c->tunnels[i].name);
		if ((r = mss_rule(rs, fwd, c->tunnels[i].tun, what)) < 0)
			return r;
	}
	return 0;
}

static int build_server(struct nftb_ruleset *rs, const struct conf *c)
{
	const char *tun = c->tun_name[0] ? c->tun_name : "mpq0";
	struct nftb_rule *r;
	size_t post, fwd;
	int ret;

	if ((ret = add_chain(rs, "postrouting", "nat", NF_INET_POST_ROUTING, PRIO_SRCNAT, "srcnat",
			     &post)) < 0 ||
	    (ret = add_chain(rs, "forward", "filter", NF_INET_FORWARD, PRIO_MANGLE, "mangle",
			     &fwd)) < 0)
		return ret;
	r = add_rule(rs, post, NULL, "server TUN '%s' masquerade rule", tun);
	if (!r)
		return -ENOMEM;
	match_ifname(r, NFTB_M_IIFNAME, false, tun);
	match_ifname(r, NFTB_M_OIFNAME, true, tun);
	add_stmt(r, NFTB_S_MASQ, 0, 0);

	/* the clamp has no verdict: it must come before the accepts */
	if (c->classifier.mss_clamp) {
		char what[NFTB_DESC_MAX];

		snprintf(what, sizeof(what), "server TUN '%s'", tun);
		if ((ret = mss_rule(rs, fwd, tun, what)) < 0)
			return ret;
	}
	r = add_rule(rs, fwd, NULL, "conntrack state accept rule");
	if (!r)
		return -ENOMEM;
	add_match(r, NFTB_M_CTSTATE)->value =
		NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED);
	r->verdict = NFTB_V_ACCEPT;
	r = add_rule(rs, fwd, NULL, "server TUN '%s' forward accept rule", tun);
	if (!r)
		return -ENOMEM;
	match_ifname(r, NFTB_M_IIFNAME, false, tun);
	r->verdict = NFTB_V_ACCEPT;
	return 0;
}

int nftb_ruleset_new(const struct conf *c, enum conf_role role, struct nftb_ruleset **ret_rs,
		     struct nftb_err *err)
{
	struct nftb_ruleset *rs;
	const char *table = nftb_table_name(c);
	int r;

	if (!nft_identifier_ok(table)) {
		seterr(err,
		       "classifier.table '%s' is not an nft identifier (letters, digits, '_', "
		       "'-', '.', starting with a letter, '_' or '.')",
		       table);
		return -EINVAL;
	}
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	snprintf(rs->table, sizeof(rs->table), "%s", table);
	if (role == CONF_ROLE_SERVER)
		r = build_server(rs, c);
	else
		r = build_client(rs, c, err);
	if (r < 0) {
		if (r == -ENOMEM)
			seterr(err, "out of memory");
		else if (r != -EINVAL)
			seterr(err, "cannot build the ruleset: %s", strerror(-r));
		nftb_ruleset_free(rs);
		return r;
	}
	*ret_rs = rs;
	return 0;
}

int nftb_ruleset_add_fault(struct nftb_ruleset *rs)
{
	struct nftb_rule *r;

	r = add_rule(rs, 0, NULL, "test fault rule in chain '%s' (MPQUIC_NFT_TEST_FAULT)",
		     rs->chains[0].name);
	if (!r)
		return -ENOMEM;
	add_stmt(r, NFTB_S_MSS_RTMTU, 0, 0);
	return 0;
}

void nftb_ruleset_free(struct nftb_ruleset *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n_sets; i++)
		free(rs->sets[i].elems);
	free(rs->sets);
	free(rs->rules);
	free(rs);
}

/* ---- netlink batch ---- */

#define MSG_ROOM      16384 /* bound on one message: rules and element chunks stay far below */
#define ELEMS_PER_MSG 128

static int batch_reserve(struct nftb_batch *b, size_t need)
{
	if (b->len + need > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		char *buf;

		while (cap < b->len + need)
			cap *= 2;
		buf = realloc(b->buf, cap);
		if (!buf)
			return -ENOMEM;
		/* libnftnl builders expect zeroed headroom */
		memset(buf + b->cap, 0, cap - b->cap);
		b->buf = buf;
		b->cap = cap;
	}
	if (b->n_desc == b->cap_desc) {
		size_t cap = b->cap_desc ? b->cap_desc * 2 : 64;
		char(*desc)[NFTB_DESC_MAX] = realloc(b->desc, cap * sizeof(*desc));

		if (!desc)
			return -ENOMEM;
		b->desc = desc;
		b->cap_desc = cap;
	}
	return 0;
}

/* Start a message of type (NFT_MSG_*); the caller fills the payload, then batch_commit(). */
static struct nlmsghdr *batch_msg(struct nftb_batch *b, uint16_t type, uint16_t flags,
				  const char *desc)
{
	struct nlmsghdr *nlh;

	if (batch_reserve(b, MSG_ROOM) < 0)
		return NULL;
	nlh = nftnl_nlmsg_build_hdr(b->buf + b->len, type, NFPROTO_INET, flags | NLM_F_ACK,
				    b->seq_next);
	snprintf(b->desc[b->n_desc], NFTB_DESC_MAX, "%s", desc);
	return nlh;
}

static void batch_commit(struct nftb_batch *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	b->n_desc++;
	b->seq_next++;
	b->n_msgs++;
}

static int batch_begin(uint32_t seq, struct nftb_batch **ret_b)
{
	struct nftb_batch *b = calloc(1, sizeof(*b));
	struct nlmsghdr *nlh;

	if (!b || batch_reserve(b, MSG_ROOM) < 0) {
		nftb_batch_free(b);
		return -ENOMEM;
	}
	b->seq_first = seq;
	b->seq_next = seq;
	nlh = nftnl_batch_begin(b->buf, b->seq_next++);
	b->len = NLMSG_ALIGN(nlh->nlmsg_len);
	snprintf(b->desc[b->n_desc++], NFTB_DESC_MAX, "batch begin");
	*ret_b = b;
	return 0;
}

static int batch_end(struct nftb_batch *b)
{
	struct nlmsghdr *nlh;

	if (batch_reserve(b, MSG_ROOM) < 0)
		return -ENOMEM;
	b->end_off = b->len;
	nlh = nftnl_batch_end(b->buf + b->len, b->seq_next++);
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	snprintf(b->desc[b->n_desc++], NFTB_DESC_MAX, "batch end");
	return 0;
}

static int put_table(struct nftb_batch *b, const char *name, uint16_t type, uint16_t flags)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	char desc[NFTB_DESC_MAX];

	if (!t)
		return -ENOMEM;
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	snprintf(desc, sizeof(desc), "table inet '%s'", name);
	nlh = batch_msg(b, type, flags, desc);
	if (!nlh) {
		nftnl_table_free(t);
		return -ENOMEM;
	}
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	batch_commit(b, nlh);
	return 0;
}

static int put_chain(struct nftb_batch *b, const char *table, const struct nftb_chain *ch)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;
	char desc[NFTB_DESC_MAX];

	if (!c)
		return -ENOMEM;
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, ch->name);
	if (ch->base) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)ch->hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, ch->prio);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, ch->type);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	snprintf(desc, sizeof(desc), "chain '%s'", ch->name);
	nlh = batch_msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, desc);
	if (!nlh) {
		nftnl_chain_free(c);
		return -ENOMEM;
	}
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	batch_commit(b, nlh);
	return 0;
}

static uint32_t set_key_type(enum nftb_key k)
{
	switch (k) {
	case NFTB_KEY_IPV4:
		return NFT_TYPE_IPADDR;
	case NFTB_KEY_IPV6:
		return NFT_TYPE_IP6ADDR;
	case NFTB_KEY_PORT:
		return NFT_TYPE_INET_SERVICE;
	case NFTB_KEY_IFNAME:
		return NFT_TYPE_IFNAME;
	}
	return 0;
}

static struct nftnl_set *set_obj(const char *table, const struct nftb_set *s, uint32_t id)
{
	struct nftnl_set *ns = nftnl_set_alloc();

	if (!ns)
		return NULL;
	nftnl_set_set_u32(ns, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_str(ns, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(ns, NFTNL_SET_NAME, s->name);
	nftnl_set_set_u32(ns, NFTNL_SET_ID, id);
	return ns;
}

static int add_elem(struct nftnl_set *ns, const uint8_t *key, unsigned len, bool end)
{
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();

	if (!e)
		return -ENOMEM;
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, len);
	if (end)
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
	nftnl_set_elem_add(ns, e);
	return 0;
}

static int put_elems(struct nftb_batch *b, const char *table, const struct nftb_set *s, uint32_t id,
		     size_t from, size_t to)
{
	struct nftnl_set *ns = set_obj(table, s, id);
	unsigned len = key_len(s->key);
	struct nlmsghdr *nlh;
	char desc[NFTB_DESC_MAX + 16];
	int r = 0;

	if (!ns)
		return -ENOMEM;
	for (size_t i = from; i < to && r == 0; i++) {
		const struct nftb_elem *e = &s->elems[i];
		uint8_t end[16];

		r = add_elem(ns, e->lo, len, false);
		if (r == 0 && s->key != NFTB_KEY_IFNAME) {
			/* an interval is [start, end): no end element when it reaches the top */
			memcpy(end, e->hi, len);
			if (!key_inc(end, len))
				r = add_elem(ns, end, len, true);
		}
	}
	if (r == 0) {
		snprintf(desc, sizeof(desc), "elements of %s", s->desc);
		nlh = batch_msg(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE, desc);
		if (!nlh) {
			r = -ENOMEM;
		} else {
			nftnl_set_elems_nlmsg_build_payload(nlh, ns);
			batch_commit(b, nlh);
		}
	}
	nftnl_set_free(ns);
	return r;
}

static int put_set(struct nftb_batch *b, const char *table, const struct nftb_set *s, uint32_t id)
{
	struct nftnl_set *ns = set_obj(table, s, id);
	struct nftnl_udata_buf *ud;
	struct nlmsghdr *nlh;
	int r;

	if (!ns)
		return -ENOMEM;
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN, key_len(s->key));
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_TYPE, set_key_type(s->key));
	nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, s->key == NFTB_KEY_IFNAME ? 0 : NFT_SET_INTERVAL);
	/* nft reads the key's byte order from the set's user data to print the elements (an
	 * ifname set without it lists as ""): store it the way nft does */
	ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
	if (!ud || !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER,
					s->key == NFTB_KEY_IFNAME ? NFT_BYTEORDER_HOST
								  : NFT_BYTEORDER_BIG)) {
		nftnl_udata_buf_free(ud);
		nftnl_set_free(ns);
		return -ENOMEM;
	}
	nftnl_set_set_data(ns, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
			   nftnl_udata_buf_len(ud));
	nftnl_udata_buf_free(ud);
	nlh = batch_msg(b, NFT_MSG_NEWSET, NLM_F_CREATE, s->desc);
	if (!nlh) {
		nftnl_set_free(ns);
		return -ENOMEM;
	}
	nftnl_set_nlmsg_build_payload(nlh, ns);
	nftnl_set_free(ns);
	batch_commit(b, nlh);
	for (size_t i = 0; i < s->n_elems; i += ELEMS_PER_MSG) {
		r = put_elems(b, table, s, id, i, MPQ_MIN(s->n_elems, i + ELEMS_PER_MSG));
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- expressions (the same sequences nft generates) ---- */

static struct nftnl_expr *expr(struct nftnl_rule *r, const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	if (e)
		nftnl_rule_add_expr(r, e);
	return e;
}

#define TRY(x)                          \
	do {                            \
		if (!(x))               \
			return -ENOMEM; \
	} while (0)

static int e_meta_load(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e;

	TRY(e = expr(r, "meta"));
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	return 0;
}

static int e_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e;

	TRY(e = expr(r, "cmp"));
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	return 0;
}

static int e_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len)
{
	struct nftnl_expr *e;

	TRY(e = expr(r, "payload"));
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	return 0;
}

static int e_bitwise(struct nftnl_rule *r, uint32_t len, const void *mask, const void * xor)
{
	struct nftnl_expr *e;

	TRY(e = expr(r, "bitwise"));
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_OP, NFT_BITWISE_BOOL);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor, len);
	return 0;
}

static int e_lookup(struct nftnl_rule *r, const struct nftb_set *s, uint32_t id)
{
	struct nftnl_expr *e;

	TRY(e = expr(r, "lookup"));
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, s->name);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, id);
	return 0;
}

static int e_ct_load(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e;

	TRY(e = expr(r, "ct"));
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	return 0;
}

static int e_ifname(struct nftnl_rule *r, uint32_t key, bool neg, const char *ifname)
{
	char buf[IF_NAMESIZE] = {0};
	int ret;

	strncpy(buf, ifname, sizeof(buf) - 1);
	ret = e_meta_load(r, key);
	return ret ? ret : e_cmp(r, neg ? NFT_CMP_NEQ : NFT_CMP_EQ, buf, sizeof(buf));
}

static int e_nfproto(struct nftnl_rule *r, int family)
{
	uint8_t v = family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
	int ret = e_meta_load(r, NFT_META_NFPROTO);

	return ret ? ret : e_cmp(r, NFT_CMP_EQ, &v, 1);
}

static int e_l4proto(struct nftnl_rule *r, uint8_t proto)
{
	int ret = e_meta_load(r, NFT_META_L4PROTO);

	return ret ? ret : e_cmp(r, NFT_CMP_EQ, &proto, 1);
}

/* x & ~mask ^ value on a 32-bit host-order register loaded by load(key) and stored by set. */
static int e_mark_set(struct nftnl_rule *r, const char *name, uint32_t key, uint32_t mask,
		      uint32_t value)
{
	uint32_t keep = ~mask;
	struct nftnl_expr *e;
	int ret;

	ret = !strcmp(name, "meta") ? e_meta_load(r, key) : e_ct_load(r, key);
	if (ret == 0)
		ret = e_bitwise(r, 4, &keep, &value);
	if (ret)
		return ret;
	TRY(e = expr(r, name));
	if (!strcmp(name, "meta")) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG_1);
	} else {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
	}
	return 0;
}

static int e_match(struct nftnl_rule *r, const struct nftb_ruleset *rs, const struct nftb_match *m)
{
	static const uint8_t zero[16];
	const struct nftb_set *s = m->set < rs->n_sets ? &rs->sets[m->set] : NULL;
	int v6, ret = 0;

	switch (m->kind) {
	case NFTB_M_NFPROTO:
		return e_nfproto(r, m->family);
	case NFTB_M_L4PROTO:
		return e_l4proto(r, (uint8_t)m->value);
	case NFTB_M_IIFNAME:
		return e_ifname(r, NFT_META_IIFNAME, m->neg, m->ifname);
	case NFTB_M_OIFNAME:
		return e_ifname(r, NFT_META_OIFNAME, m->neg, m->ifname);
	case NFTB_M_IIF_SET:
		ret = e_meta_load(r, NFT_META_IIFNAME);
		break;
	case NFTB_M_SADDR_SET:
	case NFTB_M_DADDR_SET:
		v6 = s->key == NFTB_KEY_IPV6;
		ret = e_payload(r, NFT_PAYLOAD_NETWORK_HEADER,
				(v6 ? 8 : 12) + (m->kind == NFTB_M_DADDR_SET ? (v6 ? 16 : 4) : 0),
				v6 ? 16 : 4);
		break;
	case NFTB_M_DADDR:
		v6 = m->family == AF_INET6;
		ret = e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, v6 ? 24 : 16, v6 ? 16 : 4);
		return ret ? ret : e_cmp(r, NFT_CMP_EQ, m->addr, v6 ? 16 : 4);
	case NFTB_M_SPORT_SET:
	case NFTB_M_DPORT_SET:
		ret = e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER,
				m->kind == NFTB_M_SPORT_SET ? 0 : 2, 2);
		break;
	case NFTB_M_DSCP:
		if (m->family == AF_INET) {
			uint8_t mask = 0xfc, val = (uint8_t)(m->value << 2);

			ret = e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 1, 1);
			if (ret == 0)
				ret = e_bitwise(r, 1, &mask, zero);
			return ret ? ret : e_cmp(r, NFT_CMP_EQ, &val, 1);
		} else {
			/* version:4 dscp:6 ecn:2 flow:20 -> bytes 0-1 & 0x0fc0 */
			uint8_t mask[2] = {0x0f, 0xc0};
			uint8_t val[2] = {(uint8_t)(m->value >> 2), (uint8_t)((m->value & 3) << 6)};

			ret = e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 0, 2);
			if (ret == 0)
				ret = e_bitwise(r, 2, mask, zero);
			return ret ? ret : e_cmp(r, NFT_CMP_EQ, val, 2);
		}
	case NFTB_M_CTMARK:
		ret = e_ct_load(r, NFT_CT_MARK);
		if (ret == 0)
			ret = e_bitwise(r, 4, &m->mask, zero);
		return ret ? ret : e_cmp(r, NFT_CMP_EQ, &m->value, 4);
	case NFTB_M_CTSTATE:
		ret = e_ct_load(r, NFT_CT_STATE);
		if (ret == 0)
			ret = e_bitwise(r, 4, &m->value, zero);
		return ret ? ret : e_cmp(r, NFT_CMP_NEQ, zero, 4);
	case NFTB_M_TCPSYN: {
		uint8_t syn = 0x02;

		ret = e_l4proto(r, IPPROTO_TCP);
		if (ret == 0)
			ret = e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1);
		if (ret == 0)
			ret = e_bitwise(r, 1, &syn, zero);
		return ret ? ret : e_cmp(r, NFT_CMP_NEQ, zero, 1);
	}
	}
	/* the set lookups */
	return ret ? ret : e_lookup(r, s, (uint32_t)m->set + 1);
}

static int e_stmt(struct nftnl_rule *r, const struct nftb_stmt *s)
{
	struct nftnl_expr *e;

	switch (s->kind) {
	case NFTB_S_MARK:
		return e_mark_set(r, "meta", NFT_META_MARK, s->mask, s->value);
	case NFTB_S_CTMARK:
		return e_mark_set(r, "ct", NFT_CT_MARK, s->mask, s->value);
	case NFTB_S_MASQ:
		TRY(expr(r, "masq"));
		return 0;
	case NFTB_S_MSS_RTMTU:
		TRY(e = expr(r, "rt"));
		nftnl_expr_set_u32(e, NFTNL_EXPR_RT_KEY, NFT_RT_TCPMSS);
		nftnl_expr_set_u32(e, NFTNL_EXPR_RT_DREG, NFT_REG_1);
		TRY(e = expr(r, "byteorder"));
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, 2);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, 2);
		TRY(e = expr(r, "exthdr"));
		nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_SREG, NFT_REG_1);
		nftnl_expr_set_u8(e, NFTNL_EXPR_EXTHDR_TYPE, 2); /* TCPOPT_MAXSEG */
		nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_OFFSET, 2);
		nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_LEN, 2);
		nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_OP, NFT_EXTHDR_OP_TCPOPT);
		return 0;
	}
	return -EINVAL;
}

static int e_verdict(struct nftnl_rule *r, const struct nftb_ruleset *rs,
		     const struct nftb_rule *rule)
{
	struct nftnl_expr *e;

	if (rule->verdict == NFTB_V_NONE)
		return 0;
	TRY(e = expr(r, "immediate"));
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	switch (rule->verdict) {
	case NFTB_V_ACCEPT:
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_ACCEPT);
		break;
	case NFTB_V_RETURN:
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)NFT_RETURN);
		break;
	case NFTB_V_JUMP:
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)NFT_JUMP);
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, rs->chains[rule->jump_chain].name);
		break;
	case NFTB_V_NONE:
		break;
	}
	return 0;
}

static int put_rule(struct nftb_batch *b, const struct nftb_ruleset *rs,
		    const struct nftb_rule *rule)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;
	int ret = 0;

	if (!r)
		return -ENOMEM;
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, rs->table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, rs->chains[rule->chain].name);
	for (size_t i = 0; i < rule->n_m && ret == 0; i++)
		ret = e_match(r, rs, &rule->m[i]);
	for (size_t i = 0; i < rule->n_s && ret == 0; i++)
		ret = e_stmt(r, &rule->s[i]);
	if (ret == 0)
		ret = e_verdict(r, rs, rule);
	if (ret == 0 && rule->comment[0]) {
		struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);

		if (!ud || !nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, rule->comment))
			ret = -ENOMEM;
		else
			nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud),
					    nftnl_udata_buf_len(ud));
		nftnl_udata_buf_free(ud);
	}
	if (ret == 0) {
		nlh = batch_msg(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, rule->desc);
		if (!nlh) {
			ret = -ENOMEM;
		} else {
			nftnl_rule_nlmsg_build_payload(nlh, r);
			batch_commit(b, nlh);
		}
	}
	nftnl_rule_free(r);
	return ret;
}

int nftb_batch_replace(const struct nftb_ruleset *rs, uint32_t seq, struct nftb_batch **ret_b)
{
	struct nftb_batch *b;
	int r;

	r = batch_begin(seq, &b);
	if (r < 0)
		return r;
	/* add (so the delete cannot fail), delete, add: the kernel applies all or nothing */
	if ((r = put_table(b, rs->table, NFT_MSG_NEWTABLE, NLM_F_CREATE)) < 0 ||
	    (r = put_table(b, rs->table, NFT_MSG_DELTABLE, 0)) < 0 ||
	    (r = put_table(b, rs->table, NFT_MSG_NEWTABLE, NLM_F_CREATE)) < 0)
		goto err_free;
	for (size_t i = 0; i < rs->n_chains; i++) {
		if ((r = put_chain(b, rs->table, &rs->chains[i])) < 0)
			goto err_free;
	}
	for (size_t i = 0; i < rs->n_sets; i++) {
		if ((r = put_set(b, rs->table, &rs->sets[i], (uint32_t)i + 1)) < 0)
			goto err_free;
	}
	for (size_t i = 0; i < rs->n_rules; i++) {
		if ((r = put_rule(b, rs, &rs->rules[i])) < 0)
			goto err_free;
	}
	if ((r = batch_end(b)) < 0)
		goto err_free;
	*ret_b = b;
	return 0;

err_free:
	nftb_batch_free(b);
	return r;
}

int nftb_batch_delete(const char *table, uint32_t seq, struct nftb_batch **ret_b)
{
	struct nftb_batch *b;
	int r;

	r = batch_begin(seq, &b);
	if (r < 0)
		return r;
	if ((r = put_table(b, table, NFT_MSG_NEWTABLE, NLM_F_CREATE)) < 0 ||
	    (r = put_table(b, table, NFT_MSG_DELTABLE, 0)) < 0 || (r = batch_end(b)) < 0) {
		nftb_batch_free(b);
		return r;
	}
	*ret_b = b;
	return 0;
}

void nftb_batch_free(struct nftb_batch *b)
{
	if (!b)
		return;
	free(b->buf);
	free(b->desc);
	free(b);
}

const char *nftb_batch_desc(const struct nftb_batch *b, uint32_t seq)
{
	if (seq < b->seq_first || seq - b->seq_first >= b->n_desc)
		return NULL;
	return b->desc[seq - b->seq_first];
}
