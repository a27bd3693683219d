/* SPDX-License-Identifier: MIT */
/*
 * The nft builders without root: a hand-made struct conf -> ruleset description -> nft text
 * (golden) and netlink batch, parsed back with libnftnl (message order, chains, set elements,
 * rule expressions as nft --debug=netlink prints them, sequence -> object descriptions).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "nftb.h"

/* ---- a client configuration built by hand (what conf_load() would produce) ---- */

struct fixture {
	struct conf c;
	struct conf_class classes[2];
	struct conf_tunnel tunnels[2];
	char iif[2][IF_NAMESIZE];
	struct mpq_prefix src[4];
	struct conf_port_range sport[3];
	uint8_t dscp[2];
	size_t cr_tunnels[1], bk_tunnels[1];
};

static void prefix(struct mpq_prefix *p, const char *s)
{
	assert_int_equal(mpq_prefix_parse(s, 0, p), 0);
}

static struct fixture *fixture_new(void)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct conf *c = &fx->c;
	struct sockaddr_in *sin = (struct sockaddr_in *)&c->server_addr;

	assert_non_null(fx);
	c->role = CONF_ROLE_CLIENT;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(443);
	inet_pton(AF_INET, "192.0.2.1", &sin->sin_addr);
	c->server_addr_len = sizeof(*sin);

	strcpy(fx->tunnels[0].name, "cr1");
	strcpy(fx->tunnels[0].tun, "mpq-cr1");
	strcpy(fx->tunnels[1].name, "bk1");
	strcpy(fx->tunnels[1].tun, "mpq-bk1");
	c->tunnels = fx->tunnels;
	c->n_tunnels = 2;

	/* critical: duplicates, nested prefixes and overlapping ports must be normalized */
	strcpy(fx->iif[0], "lan0");
	strcpy(fx->iif[1], "lan0");
	prefix(&fx->src[0], "192.168.1.0/24");
	prefix(&fx->src[1], "10.1.0.0/16");
	prefix(&fx->src[2], "10.0.0.0/8");
	prefix(&fx->src[3], "2001:db8::/32");
	fx->sport[0] = (struct conf_port_range){5060, 5060};
	fx->sport[1] = (struct conf_port_range){10000, 20000};
	fx->sport[2] = (struct conf_port_range){15000, 25000};
	fx->dscp[0] = 46;
	fx->dscp[1] = 10;
	strcpy(fx->classes[0].name, "critical");
	fx->classes[0].match = (struct conf_match){
		.iif = fx->iif,
		.n_iif = 2,
		.src = fx->src,
		.n_src = 4,
		.proto = IPPROTO_UDP,
		.sport = fx->sport,
		.n_sport = 3,
		.dscp = fx->dscp,
		.n_dscp = 1,
	};
	fx->cr_tunnels[0] = 0;
	fx->classes[0].tunnels = fx->cr_tunnels;
	fx->classes[0].n_tunnels = 1;
	fx->classes[0].mark = 0x00010000;
	fx->classes[0].table = 100;

	strcpy(fx->classes[1].name, "bulk");
	fx->classes[1].is_default = true;
	fx->classes[1].match.proto = -1;
	fx->bk_tunnels[0] = 1;
	fx->classes[1].tunnels = fx->bk_tunnels;
	fx->classes[1].n_tunnels = 1;
	fx->classes[1].mark = 0x00020000;
	fx->classes[1].table = 101;
	c->classes = fx->classes;
	c->n_classes = 2;

	c->classifier = (struct conf_classifier){
		.table = "mpquic",
		.mark_mask = 0x00ff0000,
		.rule_priority = 1000,
		.table_base = 100,
		.snat = true,
		.mss_clamp = true,
	};
	return fx;
}

static char *print_rs(const struct nftb_ruleset *rs)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(nftb_print(rs, f), 0);
	fclose(f);
	return text;
}

static struct nftb_ruleset *build(const struct conf *c, enum conf_role role)
{
	struct nftb_ruleset *rs = NULL;
	struct nftb_err err = {{0}};
	int r = nftb_ruleset_new(c, role, &rs, &err);

	if (r < 0)
		print_error("nftb_ruleset_new: %s\n", err.msg);
	assert_int_equal(r, 0);
	return rs;
}

static void assert_text(const char *got, const char *want)
{
	if (strcmp(got, want)) {
		print_error("--- got:\n%s--- want:\n%s", got, want);
		fail();
	}
}

/* ---- the nft script ---- */

static const char client_golden[] =
	"table inet mpquic\n"
	"delete table inet mpquic\n"
	"table inet mpquic {\n"
	"\tset cls_critical_iif {\n"
	"\t\ttype ifname\n"
	"\t\telements = { \"lan0\" }\n"
	"\t}\n\n"
	"\tset cls_critical_src4 {\n"
	"\t\ttype ipv4_addr\n"
	"\t\tflags interval\n"
	"\t\telements = { 10.0.0.0/8, 192.168.1.0/24 }\n"
	"\t}\n\n"
	"\tset cls_critical_src6 {\n"
	"\t\ttype ipv6_addr\n"
	"\t\tflags interval\n"
	"\t\telements = { 2001:db8::/32 }\n"
	"\t}\n\n"
	"\tset cls_critical_sport {\n"
	"\t\ttype inet_service\n"
	"\t\tflags interval\n"
	"\t\telements = { 5060, 10000-25000 }\n"
	"\t}\n\n"
	"\tchain prerouting {\n"
	"\t\ttype filter hook prerouting priority mangle; policy accept;\n"
	"\t\tct mark & 0x00ff0000 == 0x00010000 meta mark set meta mark & 0xff00ffff | 0x00010000 "
	"accept comment \"restore class critical\"\n"
	"\t\tct mark & 0x00ff0000 == 0x00020000 meta mark set meta mark & 0xff00ffff | 0x00020000 "
	"accept comment \"restore class bulk\"\n"
	"\t\tjump classify\n"
	"\t}\n\n"
	"\tchain classify {\n"
	"\t\tmeta nfproto ipv4 ip daddr 192.0.2.1 return comment \"mpquic server\"\n"
	"\t\tiifname @cls_critical_iif meta nfproto ipv4 ip saddr @cls_critical_src4 "
	"meta l4proto 17 th sport @cls_critical_sport ip dscp 46 "
	"meta mark set meta mark & 0xff00ffff | 0x00010000 "
	"ct mark set ct mark & 0xff00ffff | 0x00010000 return comment \"class critical\"\n"
	"\t\tiifname @cls_critical_iif meta nfproto ipv6 ip6 saddr @cls_critical_src6 "
	"meta l4proto 17 th sport @cls_critical_sport ip6 dscp 46 "
	"meta mark set meta mark & 0xff00ffff | 0x00010000 "
	"ct mark set ct mark & 0xff00ffff | 0x00010000 return comment \"class critical\"\n"
	"\t\tmeta mark set meta mark & 0xff00ffff | 0x00020000 "
	"ct mark set ct mark & 0xff00ffff | 0x00020000 return comment \"class bulk\"\n"
	"\t}\n\n"
	"\tchain postrouting {\n"
	"\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
	"\t\toifname \"mpq-cr1\" masquerade\n"
	"\t\toifname \"mpq-bk1\" masquerade\n"
	"\t}\n\n"
	"\tchain forward {\n"
	"\t\ttype filter hook forward priority mangle; policy accept;\n"
	"\t\toifname \"mpq-cr1\" tcp flags syn tcp option maxseg size set rt mtu\n"
	"\t\toifname \"mpq-bk1\" tcp flags syn tcp option maxseg size set rt mtu\n"
	"\t}\n"
	"}\n";

static void test_print_client(void **state)
{
	struct fixture *fx = fixture_new();
	struct nftb_ruleset *rs = build(&fx->c, CONF_ROLE_CLIENT);
	char *text = print_rs(rs);

	assert_text(text, client_golden);
	free(text);
	nftb_ruleset_free(rs);
	free(fx);
}

static void test_print_options_off(void **state)
{
	struct fixture *fx = fixture_new();
	struct nftb_ruleset *rs;
	char *text;

	fx->c.classifier.snat = false;
	fx->c.classifier.mss_clamp = false;
	fx->c.server_addr_len = 0;
	strcpy(fx->c.classifier.table, "edge.classes");
	rs = build(&fx->c, CONF_ROLE_CLIENT);
	text = print_rs(rs);
	assert_non_null(strstr(text, "table inet edge.classes {\n"));
	assert_null(strstr(text, "postrouting"));
	assert_null(strstr(text, "forward"));
	assert_null(strstr(text, "mpquic server"));
	free(text);
	nftb_ruleset_free(rs);
	free(fx);
}

static void test_print_server(void **state)
{
	static const char golden[] =
		"table inet mpquic\n"
		"delete table inet mpquic\n"
		"table inet mpquic {\n"
		"\tchain postrouting {\n"
		"\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
		"\t\tiifname \"mpq0\" oifname != \"mpq0\" masquerade\n"
		"\t}\n\n"
		"\tchain forward {\n"
		"\t\ttype filter hook forward priority mangle; policy accept;\n"
		"\t\toifname \"mpq0\" tcp flags syn tcp option maxseg size set rt mtu\n"
		"\t\tct state established,related accept\n"
		"\t\tiifname \"mpq0\" accept\n"
		"\t}\n"
		"}\n";
	struct conf c = {0};
	struct nftb_ruleset *rs;
	char *text;

	c.role = CONF_ROLE_SERVER;
	strcpy(c.tun_name, "mpq0");
	c.classifier = (struct conf_classifier){.table = "mpquic", .mss_clamp = true};
	rs = build(&c, CONF_ROLE_SERVER);
	text = print_rs(rs);
	assert_text(text, golden);
	free(text);
	nftb_ruleset_free(rs);
}

static void test_errors(void **state)
{
	struct fixture *fx = fixture_new();
	struct nftb_ruleset *rs = NULL;
	struct nftb_err err = {{0}};
	struct mpq_prefix dst;

	fx->c.classes[1].mark = 0x01000000;
	assert_int_equal(nftb_ruleset_new(&fx->c, CONF_ROLE_CLIENT, &rs, &err), -EINVAL);
	assert_string_equal(err.msg, "class 'bulk': mark 0x01000000 is not a non-zero value inside "
				     "mark_mask 0x00ff0000");
	fx->c.classes[1].mark = 0x00010000;
	assert_int_equal(nftb_ruleset_new(&fx->c, CONF_ROLE_CLIENT, &rs, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "class 'bulk': mark 0x00010000 already used by class 'critical'");
	fx->c.classes[1].mark = 0x00020000;

	strcpy(fx->c.classifier.table, "1st");
	assert_int_equal(nftb_ruleset_new(&fx->c, CONF_ROLE_CLIENT, &rs, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "classifier.table '1st' is not an nft identifier"));
	strcpy(fx->c.classifier.table, "mpquic");

	/* src only IPv6 and dst only IPv4: nothing can match */
	prefix(&dst, "203.0.113.0/24");
	fx->c.classes[0].match.n_src = 0;
	fx->c.classes[0].match.src = NULL;
	fx->c.classes[0].match.src = &fx->src[3];
	fx->c.classes[0].match.n_src = 1;
	fx->c.classes[0].match.dst = &dst;
	fx->c.classes[0].match.n_dst = 1;
	assert_int_equal(nftb_ruleset_new(&fx->c, CONF_ROLE_CLIENT, &rs, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "class 'critical': src and dst have no address family in common");
	assert_null(rs);
	free(fx);
}

/* ---- the netlink batch, parsed back ---- */

struct parsed {
	uint16_t types[512];
	uint32_t seqs[512];
	size_t n;
};

static void walk(const struct nftb_batch *b, struct parsed *p)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)b->buf;
	int len = (int)b->len;

	p->n = 0;
	for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
		assert_true(p->n < 512);
		p->types[p->n] = nlh->nlmsg_type;
		p->seqs[p->n] = nlh->nlmsg_seq;
		if (nlh->nlmsg_type != NFNL_MSG_BATCH_BEGIN &&
		    nlh->nlmsg_type != NFNL_MSG_BATCH_END)
			assert_true(nlh->nlmsg_flags & NLM_F_ACK);
		p->n++;
	}
	assert_int_equal(len, 0);
}

#define NFT(t) ((NFNL_SUBSYS_NFTABLES << 8) | (t))

static const struct nlmsghdr *nth(const struct nftb_batch *b, size_t i)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)b->buf;
	int len = (int)b->len;

	while (i-- > 0)
		nlh = mnl_nlmsg_next(nlh, &len);
	return nlh;
}

/* nft --debug=netlink style dump of one NEWRULE message */
static char *rule_text(const struct nlmsghdr *nlh)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	char *buf = malloc(8192);

	assert_non_null(buf);
	assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
	nftnl_rule_snprintf(buf, 8190, r, NFTNL_OUTPUT_DEFAULT, 0);
	if (buf[0] && buf[strlen(buf) - 1] != '\n') /* libnftnl ends userdata without one */
		strcat(buf, "\n");
	nftnl_rule_free(r);
	return buf;
}

static void test_batch_layout(void **state)
{
	struct fixture *fx = fixture_new();
	struct nftb_ruleset *rs = build(&fx->c, CONF_ROLE_CLIENT);
	struct nftb_batch *b = NULL;
	struct parsed p;
	size_t i = 0;

	assert_int_equal(nftb_batch_replace(rs, 100, &b), 0);
	walk(b, &p);
	assert_int_equal(p.types[i++], NFNL_MSG_BATCH_BEGIN);
	assert_int_equal(p.types[i++], NFT(NFT_MSG_NEWTABLE));
	assert_int_equal(p.types[i++], NFT(NFT_MSG_DELTABLE));
	assert_int_equal(p.types[i++], NFT(NFT_MSG_NEWTABLE));
	for (size_t k = 0; k < 4;
	     k++) /* no output chain: the box's own traffic is not classified */
		assert_int_equal(p.types[i++], NFT(NFT_MSG_NEWCHAIN));
	for (size_t k = 0; k < 4; k++) {
		assert_int_equal(p.types[i++], NFT(NFT_MSG_NEWSET));
		assert_int_equal(p.types[i++], NFT(NFT_MSG_NEWSETELEM));
	}
	/* 2 restore + jump in prerouting, server, 2 critical, bulk, 2 masq, 2 mss */
	for (size_t k = 0; k < 11; k++)
		assert_int_equal(p.types[i++], NFT(NFT_MSG_NEWRULE));
	assert_int_equal(p.types[i++], NFNL_MSG_BATCH_END);
	assert_int_equal(i, p.n);
	assert_int_equal(b->n_msgs, p.n - 2);
	for (size_t k = 0; k < p.n; k++)
		assert_int_equal(p.seqs[k], 100 + k);
	assert_int_equal(b->end_off, b->len - NLMSG_ALIGN(nth(b, p.n - 1)->nlmsg_len));

	/* every sequence number names its object */
	assert_string_equal(nftb_batch_desc(b, 101), "table inet 'mpquic'");
	assert_string_equal(nftb_batch_desc(b, 104), "chain 'prerouting'");
	assert_string_equal(nftb_batch_desc(b, 108), "class 'critical' set 'cls_critical_iif'");
	assert_string_equal(nftb_batch_desc(b, 109),
			    "elements of class 'critical' set 'cls_critical_iif'");
	assert_string_equal(nftb_batch_desc(b, 116),
			    "class 'critical' restore rule in chain 'prerouting'");
	assert_string_equal(nftb_batch_desc(b, 120), "class 'critical' rule");
	assert_string_equal(nftb_batch_desc(b, 122), "class 'bulk' rule");
	assert_string_equal(nftb_batch_desc(b, 123), "tunnel 'cr1' masquerade rule");
	assert_string_equal(nftb_batch_desc(b, 126), "tunnel 'bk1' MSS clamp rule");
	assert_null(nftb_batch_desc(b, 99));
	assert_null(nftb_batch_desc(b, 100 + (uint32_t)p.n));

	nftb_batch_free(b);
	nftb_ruleset_free(rs);
	free(fx);
}

static void test_batch_chains(void **state)
{
	static const struct {
		const char *name, *type;
		uint32_t hook;
		int32_t prio;
	} want[] = {
		{"prerouting", "filter", NF_INET_PRE_ROUTING, -150},
		{"classify", NULL, 0, 0},
		{"postrouting", "nat", NF_INET_POST_ROUTING, 100},
		{"forward", "filter", NF_INET_FORWARD, -150},
	};
	struct fixture *fx = fixture_new();
	struct nftb_ruleset *rs = build(&fx->c, CONF_ROLE_CLIENT);
	struct nftb_batch *b = NULL;
	struct nftnl_table *t = nftnl_table_alloc();

	assert_int_equal(nftb_batch_replace(rs, 1, &b), 0);
	assert_int_equal(nftnl_table_nlmsg_parse(nth(b, 3), t), 0);
	assert_string_equal(nftnl_table_get_str(t, NFTNL_TABLE_NAME), "mpquic");
	assert_int_equal(nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY), NFPROTO_INET);
	nftnl_table_free(t);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct nftnl_chain *ch = nftnl_chain_alloc();

		assert_int_equal(nftnl_chain_nlmsg_parse(nth(b, 4 + i), ch), 0);
		assert_string_equal(nftnl_chain_get_str(ch, NFTNL_CHAIN_NAME), want[i].name);
		assert_string_equal(nftnl_chain_get_str(ch, NFTNL_CHAIN_TABLE), "mpquic");
		if (want[i].type) {
			assert_string_equal(nftnl_chain_get_str(ch, NFTNL_CHAIN_TYPE),
					    want[i].type);
			assert_int_equal(nftnl_chain_get_u32(ch, NFTNL_CHAIN_HOOKNUM),
					 want[i].hook);
			assert_int_equal(nftnl_chain_get_s32(ch, NFTNL_CHAIN_PRIO), want[i].prio);
			assert_int_equal(nftnl_chain_get_u32(ch, NFTNL_CHAIN_POLICY), NF_ACCEPT);
		} else {
			assert_false(nftnl_chain_is_set(ch, NFTNL_CHAIN_HOOKNUM));
		}
		nftnl_chain_free(ch);
	}
	nftb_batch_free(b);
	nftb_ruleset_free(rs);
	free(fx);
}

/*
 * Elements of a NEWSETELEM message as "key[/end]" hex strings, comma separated. Parsed with
 * libmnl: libnftnl 1.2.4 numbers the element nests 1, 2, 3... when building (the kernel ignores
 * the nest type) but its own parser accepts only NFTA_LIST_ELEM, i.e. one element.
 */
static void elems_text(const struct nlmsghdr *nlh, char *out, size_t size, const char *name)
{
	const struct nlattr *a, *el, *x, *v;
	size_t off = 0;
	bool named = false;

	out[0] = '\0';
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_SET) {
			assert_string_equal(mnl_attr_get_str(a), name);
			named = true;
		}
		if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(el, a)
		{
			bool end = false;

			if (off)
				off += (size_t)snprintf(out + off, size - off, ",");
			mnl_attr_for_each_nested(x, el)
			{
				if (mnl_attr_get_type(x) == NFTA_SET_ELEM_FLAGS)
					end = ntohl(mnl_attr_get_u32(x)) &
					      NFT_SET_ELEM_INTERVAL_END;
				if (mnl_attr_get_type(x) != NFTA_SET_ELEM_KEY)
					continue;
				mnl_attr_for_each_nested(v, x)
				{
					const uint8_t *k = mnl_attr_get_payload(v);

					for (uint16_t j = 0; j < mnl_attr_get_payload_len(v); j++)
						off += (size_t)snprintf(out + off, size - off,
									"%02x", k[j]);
				}
			}
			if (end)
				off += (size_t)snprintf(out + off, size - off, "/end");
		}
	}
	assert_true(named);
}

static void test_batch_sets(void **state)
{
	struct fixture *fx = fixture_new();
	struct nftb_ruleset *rs = build(&fx->c, CONF_ROLE_CLIENT);
	struct nftb_batch *b = NULL;
	struct nftnl_set *s = nftnl_set_alloc();
	char text[1024];

	assert_int_equal(nftb_batch_replace(rs, 1, &b), 0);
	/* the ifname set: plain, 16-byte keys, one "lan0" (the duplicate is gone) */
	assert_int_equal(nftnl_set_nlmsg_parse(nth(b, 8), s), 0);
	assert_string_equal(nftnl_set_get_str(s, NFTNL_SET_NAME), "cls_critical_iif");
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN), 16);
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE), 41);
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_FLAGS), 0);
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_ID), 1);
	nftnl_set_free(s);
	elems_text(nth(b, 9), text, sizeof(text), "cls_critical_iif");
	assert_string_equal(text, "6c616e30000000000000000000000000");

	s = nftnl_set_alloc();
	assert_int_equal(nftnl_set_nlmsg_parse(nth(b, 10), s), 0);
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN), 4);
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE), 7);
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_FLAGS), NFT_SET_INTERVAL);
	nftnl_set_free(s);
	/* 10.1.0.0/16 folded into 10.0.0.0/8; intervals are [start, end) */
	elems_text(nth(b, 11), text, sizeof(text), "cls_critical_src4");
	assert_string_equal(text, "0a000000,0b000000/end,c0a80100,c0a80200/end");
	elems_text(nth(b, 13), text, sizeof(text), "cls_critical_src6");
	assert_string_equal(text, "20010db8000000000000000000000000,"
				  "20010db9000000000000000000000000/end");
	/* 10000-20000 and 15000-25000 merged */
	elems_text(nth(b, 15), text, sizeof(text), "cls_critical_sport");
	assert_string_equal(text, "13c4,13c5/end,2710,61a9/end");

	nftb_batch_free(b);
	nftb_ruleset_free(rs);
	free(fx);
}

static void test_batch_full_ranges(void **state)
{
	struct fixture *fx = fixture_new();
	struct nftb_ruleset *rs;
	struct nftb_batch *b = NULL;
	struct mpq_prefix any[2];
	struct conf_port_range all = {0, 65535};
	char text[256];

	/* a range that reaches the top of the key space has no end element */
	prefix(&any[0], "0.0.0.0/0");
	prefix(&any[1], "255.255.255.255/32");
	fx->c.classes[0].match.src = any;
	fx->c.classes[0].match.n_src = 2;
	fx->c.classes[0].match.sport = &all;
	fx->c.classes[0].match.n_sport = 1;
	rs = build(&fx->c, CONF_ROLE_CLIENT);
	assert_int_equal(nftb_batch_replace(rs, 1, &b), 0);
	elems_text(nth(b, 11), text, sizeof(text), "cls_critical_src4");
	assert_string_equal(text, "00000000");
	elems_text(nth(b, 13), text, sizeof(text), "cls_critical_sport");
	assert_string_equal(text, "0000");
	nftb_batch_free(b);
	nftb_ruleset_free(rs);
	free(fx);
}

static void test_batch_rules(void **state)
{
	/* the same expressions nft 1.0.6 generates for the printed text (nft --debug=netlink) */
	static const char restore[] = "inet mpquic prerouting\n"
				      "  [ ct load mark => reg 1 ]\n"
				      "  [ bitwise reg 1 = ( reg 1 & 0x00ff0000 ) ^ 0x00000000 ]\n"
				      "  [ cmp eq reg 1 0x00010000 ]\n"
				      "  [ meta load mark => reg 1 ]\n"
				      "  [ bitwise reg 1 = ( reg 1 & 0xff00ffff ) ^ 0x00010000 ]\n"
				      "  [ meta set mark with reg 1 ]\n"
				      "  [ immediate reg 0 accept ]\n"
				      "  userdata = { \\x00\\x17restore class critical\\x00 }\n";
	static const char server[] = "inet mpquic classify\n"
				     "  [ meta load nfproto => reg 1 ]\n"
				     "  [ cmp eq reg 1 0x00000002 ]\n"
				     "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
				     "  [ cmp eq reg 1 0x010200c0 ]\n"
				     "  [ immediate reg 0 return ]\n"
				     "  userdata = { \\x00\\x0empquic server\\x00 }\n";
	static const char critical4[] =
		"inet mpquic classify\n"
		"  [ meta load iifname => reg 1 ]\n"
		"  [ lookup reg 1 set cls_critical_iif ]\n"
		"  [ meta load nfproto => reg 1 ]\n"
		"  [ cmp eq reg 1 0x00000002 ]\n"
		"  [ payload load 4b @ network header + 12 => reg 1 ]\n"
		"  [ lookup reg 1 set cls_critical_src4 ]\n"
		"  [ meta load l4proto => reg 1 ]\n"
		"  [ cmp eq reg 1 0x00000011 ]\n"
		"  [ payload load 2b @ transport header + 0 => reg 1 ]\n"
		"  [ lookup reg 1 set cls_critical_sport ]\n"
		"  [ payload load 1b @ network header + 1 => reg 1 ]\n"
		"  [ bitwise reg 1 = ( reg 1 & 0x000000fc ) ^ 0x00000000 ]\n"
		"  [ cmp eq reg 1 0x000000b8 ]\n"
		"  [ meta load mark => reg 1 ]\n"
		"  [ bitwise reg 1 = ( reg 1 & 0xff00ffff ) ^ 0x00010000 ]\n"
		"  [ meta set mark with reg 1 ]\n"
		"  [ ct load mark => reg 1 ]\n"
		"  [ bitwise reg 1 = ( reg 1 & 0xff00ffff ) ^ 0x00010000 ]\n"
		"  [ ct set mark with reg 1 ]\n"
		"  [ immediate reg 0 return ]\n"
		"  userdata = { \\x00\\x0fclass critical\\x00 }\n";
	static const char critical6_dscp[] =
		"  [ payload load 2b @ network header + 0 => reg 1 ]\n"
		"  [ bitwise reg 1 = ( reg 1 & 0x0000c00f ) ^ 0x00000000 ]\n"
		"  [ cmp eq reg 1 0x0000800b ]\n";
	static const char mss[] = "inet mpquic forward\n"
				  "  [ meta load oifname => reg 1 ]\n"
				  "  [ cmp eq reg 1 0x2d71706d 0x00317263 0x00000000 0x00000000 ]\n"
				  "  [ meta load l4proto => reg 1 ]\n"
				  "  [ cmp eq reg 1 0x00000006 ]\n"
				  "  [ payload load 1b @ transport header + 13 => reg 1 ]\n"
				  "  [ bitwise reg 1 = ( reg 1 & 0x00000002 ) ^ 0x00000000 ]\n"
				  "  [ cmp neq reg 1 0x00000000 ]\n"
				  "  [ rt load tcpmss => reg 1 ]\n"
				  "  [ byteorder reg 1 = hton(reg 1, 2, 2) ]\n"
				  "  [ exthdr write tcpopt reg 1 => 2b @ 2 + 2 ]\n";
	struct fixture *fx = fixture_new();
	struct nftb_ruleset *rs = build(&fx->c, CONF_ROLE_CLIENT);
	struct nftb_batch *b = NULL;
	char *t;

	assert_int_equal(nftb_batch_replace(rs, 1, &b), 0);
	t = rule_text(nth(b, 16));
	assert_text(t, restore);
	free(t);
	t = rule_text(nth(b, 18));
	assert_non_null(strstr(t, "[ immediate reg 0 jump -> classify ]"));
	free(t);
	t = rule_text(nth(b, 19));
	assert_text(t, server);
	free(t);
	t = rule_text(nth(b, 20));
	assert_text(t, critical4);
	free(t);
	t = rule_text(nth(b, 21));
	assert_non_null(strstr(t, "[ payload load 16b @ network header + 8 => reg 1 ]\n"
				  "  [ lookup reg 1 set cls_critical_src6 ]\n"));
	assert_non_null(strstr(t, critical6_dscp));
	free(t);
	t = rule_text(nth(b, 22));
	assert_non_null(strstr(t, "inet mpquic classify\n  [ meta load mark => reg 1 ]\n"));
	free(t);
	t = rule_text(nth(b, 23));
	assert_non_null(strstr(t, "inet mpquic postrouting\n"));
	assert_non_null(strstr(t, "  [ masq ]\n"));
	free(t);
	t = rule_text(nth(b, 25));
	assert_text(t, mss);
	free(t);

	nftb_batch_free(b);
	nftb_ruleset_free(rs);
	free(fx);
}

static void test_batch_delete(void **state)
{
	struct nftb_batch *b = NULL;
	struct nftnl_table *t = nftnl_table_alloc();
	struct parsed p;

	assert_int_equal(nftb_batch_delete("mpquic", 7, &b), 0);
	walk(b, &p);
	assert_int_equal(p.n, 4);
	assert_int_equal(p.types[1], NFT(NFT_MSG_NEWTABLE));
	assert_int_equal(p.types[2], NFT(NFT_MSG_DELTABLE));
	assert_int_equal(nftnl_table_nlmsg_parse(nth(b, 2), t), 0);
	assert_string_equal(nftnl_table_get_str(t, NFTNL_TABLE_NAME), "mpquic");
	assert_int_equal(b->n_msgs, 2);
	nftnl_table_free(t);
	nftb_batch_free(b);
}

static void test_fault_rule(void **state)
{
	struct fixture *fx = fixture_new();
	struct nftb_ruleset *rs = build(&fx->c, CONF_ROLE_CLIENT);
	struct nftb_batch *b = NULL;
	struct parsed p;
	char *t;

	assert_int_equal(nftb_ruleset_add_fault(rs), 0);
	assert_int_equal(nftb_batch_replace(rs, 1, &b), 0);
	walk(b, &p);
	t = rule_text(nth(b, p.n - 2));
	assert_non_null(strstr(t, "inet mpquic prerouting\n  [ rt load tcpmss => reg 1 ]"));
	free(t);
	assert_non_null(strstr(nftb_batch_desc(b, p.seqs[p.n - 2]), "MPQUIC_NFT_TEST_FAULT"));
	nftb_batch_free(b);
	nftb_ruleset_free(rs);
	free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_print_client), cmocka_unit_test(test_print_options_off),
		cmocka_unit_test(test_print_server), cmocka_unit_test(test_errors),
		cmocka_unit_test(test_batch_layout), cmocka_unit_test(test_batch_chains),
		cmocka_unit_test(test_batch_sets),   cmocka_unit_test(test_batch_full_ranges),
		cmocka_unit_test(test_batch_rules),  cmocka_unit_test(test_batch_delete),
		cmocka_unit_test(test_fault_rule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
