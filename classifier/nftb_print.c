/* SPDX-License-Identifier: MIT */
/*
 * Ruleset description -> nft script. Every construct here is the text form of exactly the
 * expressions nftb.c emits for it; t/netns/10-nft.t loads both and compares `nft list`.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "ipaddr.h"
#include "nftb.h"

static const char *set_type(enum nftb_key k)
{
	switch (k) {
	case NFTB_KEY_IPV4:
		return "ipv4_addr";
	case NFTB_KEY_IPV6:
		return "ipv6_addr";
	case NFTB_KEY_PORT:
		return "inet_service";
	case NFTB_KEY_IFNAME:
		return "ifname";
	}
	return "?";
}

/* Prefix length if lo..hi is exactly one prefix, else -1. */
static int range_prefix_len(const uint8_t *lo, const uint8_t *hi, unsigned bytes)
{
	unsigned bits = bytes * 8, i = 0;

	while (i < bits && ((lo[i / 8] ^ hi[i / 8]) & (0x80 >> (i % 8))) == 0)
		i++;
	for (unsigned j = i; j < bits; j++) {
		uint8_t bit = 0x80 >> (j % 8);

		if ((lo[j / 8] & bit) || !(hi[j / 8] & bit))
			return -1;
	}
	return (int)i;
}

static void print_elem(FILE *f, enum nftb_key k, const struct nftb_elem *e)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	int family = k == NFTB_KEY_IPV4 ? AF_INET : AF_INET6;
	int plen;

	switch (k) {
	case NFTB_KEY_IFNAME:
		fprintf(f, "\"%.*s\"", IF_NAMESIZE, (const char *)e->lo);
		return;
	case NFTB_KEY_PORT: {
		unsigned lo = (unsigned)e->lo[0] << 8 | e->lo[1];
		unsigned hi = (unsigned)e->hi[0] << 8 | e->hi[1];

		if (lo == hi)
			fprintf(f, "%u", lo);
		else
			fprintf(f, "%u-%u", lo, hi);
		return;
	}
	case NFTB_KEY_IPV4:
	case NFTB_KEY_IPV6:
		inet_ntop(family, e->lo, a, sizeof(a));
		plen = range_prefix_len(e->lo, e->hi, mpq_family_addrlen(family));
		if (plen >= 0) {
			fprintf(f, "%s/%d", a, plen);
		} else {
			inet_ntop(family, e->hi, b, sizeof(b));
			fprintf(f, "%s-%s", a, b);
		}
		return;
	}
}

static void print_set(FILE *f, const struct nftb_set *s)
{
	fprintf(f, "\tset %s {\n\t\ttype %s\n", s->name, set_type(s->key));
	if (s->key != NFTB_KEY_IFNAME)
		fprintf(f, "\t\tflags interval\n");
	if (s->n_elems) {
		fprintf(f, "\t\telements = { ");
		for (size_t i = 0; i < s->n_elems; i++) {
			if (i)
				fprintf(f, ", ");
			print_elem(f, s->key, &s->elems[i]);
		}
		fprintf(f, " }\n");
	}
	fprintf(f, "\t}\n\n");
}

static const char *fam_kw(int family)
{
	return family == AF_INET ? "ip" : "ip6";
}

static void print_match(FILE *f, const struct nftb_ruleset *rs, const struct nftb_match *m)
{
	const struct nftb_set *s = m->set < rs->n_sets ? &rs->sets[m->set] : NULL;
	char addr[INET6_ADDRSTRLEN];

	switch (m->kind) {
	case NFTB_M_NFPROTO:
		fprintf(f, "meta nfproto %s", m->family == AF_INET ? "ipv4" : "ipv6");
		break;
	case NFTB_M_L4PROTO:
		fprintf(f, "meta l4proto %u", m->value);
		break;
	case NFTB_M_IIFNAME:
	case NFTB_M_OIFNAME:
		fprintf(f, "%s %s\"%s\"", m->kind == NFTB_M_IIFNAME ? "iifname" : "oifname",
			m->neg ? "!= " : "", m->ifname);
		break;
	case NFTB_M_IIF_SET:
		fprintf(f, "iifname @%s", s->name);
		break;
	case NFTB_M_SADDR_SET:
	case NFTB_M_DADDR_SET:
		fprintf(f, "%s %s @%s", s->key == NFTB_KEY_IPV4 ? "ip" : "ip6",
			m->kind == NFTB_M_SADDR_SET ? "saddr" : "daddr", s->name);
		break;
	case NFTB_M_DADDR:
		inet_ntop(m->family, m->addr, addr, sizeof(addr));
		fprintf(f, "%s daddr %s", fam_kw(m->family), addr);
		break;
	case NFTB_M_SPORT_SET:
	case NFTB_M_DPORT_SET:
		fprintf(f, "th %s @%s", m->kind == NFTB_M_SPORT_SET ? "sport" : "dport", s->name);
		break;
	case NFTB_M_DSCP:
		fprintf(f, "%s dscp %u", fam_kw(m->family), m->value);
		break;
	case NFTB_M_CTMARK:
		fprintf(f, "ct mark & 0x%08x == 0x%08x", m->mask, m->value);
		break;
	case NFTB_M_CTSTATE: {
		/* NF_CT_STATE_INVALID_BIT, then NF_CT_STATE_BIT(IP_CT_ESTABLISHED ...) */
		static const char *const names[] = {"invalid", "established", "related", "new"};
		const char *sep = "";

		fprintf(f, "ct state ");
		for (unsigned i = 0; i < 4; i++) {
			if (m->value & (1u << i)) {
				fprintf(f, "%s%s", sep, names[i]);
				sep = ",";
			}
		}
		break;
	}
	case NFTB_M_TCPSYN:
		fprintf(f, "tcp flags syn");
		break;
	}
}

static void print_stmt(FILE *f, const struct nftb_stmt *s)
{
	switch (s->kind) {
	case NFTB_S_MARK:
		fprintf(f, "meta mark set meta mark & 0x%08x | 0x%08x", ~s->mask, s->value);
		break;
	case NFTB_S_CTMARK:
		fprintf(f, "ct mark set ct mark & 0x%08x | 0x%08x", ~s->mask, s->value);
		break;
	case NFTB_S_MSS_RTMTU:
		fprintf(f, "tcp option maxseg size set rt mtu");
		break;
	case NFTB_S_MASQ:
		fprintf(f, "masquerade");
		break;
	}
}

static void print_rule(FILE *f, const struct nftb_ruleset *rs, const struct nftb_rule *r)
{
	const char *sep = "";

	fprintf(f, "\t\t");
	for (size_t i = 0; i < r->n_m; i++, sep = " ") {
		fputs(sep, f);
		print_match(f, rs, &r->m[i]);
	}
	for (size_t i = 0; i < r->n_s; i++, sep = " ") {
		fputs(sep, f);
		print_stmt(f, &r->s[i]);
	}
	switch (r->verdict) {
	case NFTB_V_ACCEPT:
		fprintf(f, "%saccept", sep);
		break;
	case NFTB_V_RETURN:
		fprintf(f, "%sreturn", sep);
		break;
	case NFTB_V_JUMP:
		fprintf(f, "%sjump %s", sep, rs->chains[r->jump_chain].name);
		break;
	case NFTB_V_NONE:
		break;
	}
	if (r->comment[0])
		fprintf(f, " comment \"%s\"", r->comment);
	fputc('\n', f);
}

static const char *hook_name(int hook)
{
	static const char *const names[] = {"prerouting", "input", "forward", "output",
					    "postrouting"};

	return hook >= 0 && hook < 5 ? names[hook] : "?";
}

int nftb_print(const struct nftb_ruleset *rs, FILE *f)
{
	fprintf(f, "table inet %s\ndelete table inet %s\ntable inet %s {\n", rs->table, rs->table,
		rs->table);
	for (size_t i = 0; i < rs->n_sets; i++)
		print_set(f, &rs->sets[i]);
	for (size_t c = 0; c < rs->n_chains; c++) {
		const struct nftb_chain *ch = &rs->chains[c];

		fprintf(f, "%s\tchain %s {\n", c ? "\n" : "", ch->name);
		if (ch->base)
			fprintf(f, "\t\ttype %s hook %s priority %s; policy accept;\n", ch->type,
				hook_name(ch->hook), ch->prio_name);
		for (size_t i = 0; i < rs->n_rules; i++) {
			if (rs->rules[i].chain == c)
				print_rule(f, rs, &rs->rules[i]);
		}
		fprintf(f, "\t}\n");
	}
	fprintf(f, "}\n");
	fflush(f);
	return ferror(f) ? -EIO : 0;
}

int nftb_print_delete(const char *table, FILE *f)
{
	fprintf(f, "table inet %s\ndelete table inet %s\n", table, table);
	fflush(f);
	return ferror(f) ? -EIO : 0;
}
