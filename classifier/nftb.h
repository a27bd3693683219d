/* SPDX-License-Identifier: MIT */
/*
 * nftables ruleset builder: configuration classes -> one small intermediate description
 * (struct nftb_ruleset) -> either nft syntax text (nftb_print.c) or one netlink batch of
 * libnftnl objects (nftb.c). Both outputs are driven by the same description, so the text that
 * `mpquic-nft print` shows is the ruleset that `apply` sends.
 *
 * No sockets, no root, no logging: the unit tests build and parse batches directly.
 *
 * Client ruleset, all in `table inet <classifier.table>` (docs/classifier.md):
 *   prerouting  filter/prerouting/mangle: restore the class mark from the conntrack mark
 *               (one rule per class), else jump classify
 *   output      route/output/mangle: the same for locally generated traffic
 *   classify    skip the concentrator's address; per class (default last) match -> set the
 *               class bits of meta mark and ct mark, return
 *   postrouting nat/postrouting/srcnat (classifier.snat): oifname <tun> masquerade
 *   forward     filter/forward/mangle (classifier.mss_clamp): clamp SYN MSS to the route MTU
 * Server ruleset: postrouting masquerade of traffic from the server TUN, forward accepts.
 */
#ifndef MPQ_NFTB_H
#define MPQ_NFTB_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "ipaddr.h"

#define NFTB_NAME_MAX	64 /* chain and set names */
#define NFTB_DESC_MAX	96 /* "class 'critical' rule" */
#define NFTB_MAX_MATCH	10
#define NFTB_MAX_STMT	4
#define NFTB_MAX_CHAINS 6
#define NFTB_ERR_MAX	256

enum nftb_key {
	NFTB_KEY_IPV4 = 1, /* ipv4_addr, interval */
	NFTB_KEY_IPV6,	   /* ipv6_addr, interval */
	NFTB_KEY_PORT,	   /* inet_service, interval */
	NFTB_KEY_IFNAME,   /* ifname */
};

/* One set element: the inclusive range lo..hi, big-endian (ports: 2 bytes; ifname: lo only). */
struct nftb_elem {
	uint8_t lo[16];
	uint8_t hi[16];
};

struct nftb_set {
	char name[NFTB_NAME_MAX];
	enum nftb_key key;
	struct nftb_elem *elems; /* owned; sorted, overlapping and adjacent ranges merged */
	size_t n_elems;
	char desc[NFTB_DESC_MAX];
};

enum nftb_match_kind {
	NFTB_M_NFPROTO = 1, /* meta nfproto ipv4|ipv6 (family) */
	NFTB_M_L4PROTO,	    /* meta l4proto <value> */
	NFTB_M_IIFNAME,	    /* meta iifname [!=] "<ifname>" */
	NFTB_M_OIFNAME,	    /* meta oifname [!=] "<ifname>" */
	NFTB_M_IIF_SET,	    /* meta iifname @set */
	NFTB_M_SADDR_SET,   /* ip|ip6 saddr @set (family from the set's key) */
	NFTB_M_DADDR_SET,   /* ip|ip6 daddr @set */
	NFTB_M_DADDR,	    /* ip|ip6 daddr <addr> (host address) */
	NFTB_M_SPORT_SET,   /* th sport @set */
	NFTB_M_DPORT_SET,   /* th dport @set */
	NFTB_M_DSCP,	    /* ip|ip6 dscp <value> (family) */
	NFTB_M_CTMARK,	    /* ct mark & <mask> == <value> */
	NFTB_M_CTSTATE,	    /* ct state <bits> (any of) */
	NFTB_M_TCPSYN,	    /* tcp flags syn (with its meta l4proto tcp dependency) */
};

struct nftb_match {
	enum nftb_match_kind kind;
	bool neg;	/* != (ifname matches only) */
	int family;	/* AF_INET / AF_INET6 where the match is family-specific */
	uint32_t value; /* l4proto, dscp, ct mark value, ct state bits */
	uint32_t mask;	/* ct mark mask */
	size_t set;	/* index into ruleset sets */
	char ifname[IF_NAMESIZE];
	uint8_t addr[16];
};

enum nftb_stmt_kind {
	NFTB_S_MARK = 1,  /* meta mark set meta mark & ~mask | value */
	NFTB_S_CTMARK,	  /* ct mark set ct mark & ~mask | value */
	NFTB_S_MSS_RTMTU, /* tcp option maxseg size set rt mtu */
	NFTB_S_MASQ,	  /* masquerade */
};

struct nftb_stmt {
	enum nftb_stmt_kind kind;
	uint32_t mask, value;
};

enum nftb_verdict {
	NFTB_V_NONE = 0,
	NFTB_V_ACCEPT,
	NFTB_V_RETURN,
	NFTB_V_JUMP,
};

struct nftb_rule {
	size_t chain; /* index into ruleset chains */
	struct nftb_match m[NFTB_MAX_MATCH];
	size_t n_m;
	struct nftb_stmt s[NFTB_MAX_STMT];
	size_t n_s;
	enum nftb_verdict verdict;
	size_t jump_chain;	     /* NFTB_V_JUMP */
	char comment[NFTB_NAME_MAX]; /* rule comment shown by nft list ("" = none) */
	char desc[NFTB_DESC_MAX];    /* names the rule in error messages */
};

struct nftb_chain {
	char name[NFTB_NAME_MAX];
	bool base;	       /* base chain (hooked) or regular chain */
	const char *type;      /* "filter", "route", "nat" */
	int hook;	       /* NF_INET_* */
	int prio;	       /* numeric priority */
	const char *prio_name; /* "mangle", "srcnat" */
};

struct nftb_ruleset {
	char table[CONF_NAME_MAX + 1];
	struct nftb_chain chains[NFTB_MAX_CHAINS];
	size_t n_chains;
	struct nftb_set *sets; /* owned */
	size_t n_sets;
	struct nftb_rule *rules; /* owned */
	size_t n_rules;
	size_t cap_rules;
};

/* Error text for the caller to print ("class 'critical': mark 0x1 outside mark_mask ..."). */
struct nftb_err {
	char msg[NFTB_ERR_MAX];
};

/*
 * Build the description of the ruleset for c in role (CONF_ROLE_CLIENT or CONF_ROLE_SERVER).
 * Returns 0 and *ret_rs (free with nftb_ruleset_free()), -EINVAL with err filled when c cannot
 * be expressed (mark outside the mask, table name nft cannot print, ...), or -ENOMEM.
 */
int nftb_ruleset_new(const struct conf *c, enum conf_role role, struct nftb_ruleset **ret_rs,
		     struct nftb_err *err);
void nftb_ruleset_free(struct nftb_ruleset *rs); /* NULL-safe */

/*
 * Print rs as an nft script: "table inet T", "delete table inet T", then the table's full
 * definition, so `nft -f` replaces the table atomically exactly like nftb_batch_replace().
 * Returns 0 or -errno from the stream.
 */
int nftb_print(const struct nftb_ruleset *rs, FILE *f);

/* Print the two-line script that deletes table T (if present) and nothing else. */
int nftb_print_delete(const char *table, FILE *f);

/*
 * A netlink batch (BEGIN, messages, END) in one contiguous buffer, with a description of the
 * object behind every sequence number so kernel errors can name it.
 */
struct nftb_batch {
	char *buf; /* owned */
	size_t len, cap;
	uint32_t seq_first; /* sequence number of the BEGIN message */
	uint32_t seq_next;
	char (*desc)[NFTB_DESC_MAX]; /* owned; desc[seq - seq_first] */
	size_t n_desc, cap_desc;
	size_t n_msgs;	/* messages between BEGIN and END (each asks for an ack) */
	size_t end_off; /* offset of the END message: sending only buf[0..end_off) makes the
			 * kernel validate the batch and abort it (check mode, like nft -c) */
};

/*
 * The batch that replaces table rs->table atomically: NEWTABLE, DELTABLE, NEWTABLE, then every
 * chain, set, element and rule. Sequence numbers start at seq. Returns 0 and *ret_b (free with
 * nftb_batch_free()), or -ENOMEM.
 */
int nftb_batch_replace(const struct nftb_ruleset *rs, uint32_t seq, struct nftb_batch **ret_b);

/* The batch that deletes table T if it exists (NEWTABLE + DELTABLE): same contract. */
int nftb_batch_delete(const char *table, uint32_t seq, struct nftb_batch **ret_b);

void nftb_batch_free(struct nftb_batch *b); /* NULL-safe */

/* The description of the message with sequence number seq, or NULL. */
const char *nftb_batch_desc(const struct nftb_batch *b, uint32_t seq);

/*
 * Test hook: append to rs a rule the kernel refuses (an MSS clamp from the route MTU in the
 * prerouting hook, EOPNOTSUPP) as the batch's last message, to prove a rejected batch changes
 * nothing. Used by mpquic-nft only when MPQUIC_NFT_TEST_FAULT is set. Returns 0 or -ENOMEM.
 */
int nftb_ruleset_add_fault(struct nftb_ruleset *rs);

/* The table name for c: classifier.table, or "mpquic" when empty. */
const char *nftb_table_name(const struct conf *c);

#endif
