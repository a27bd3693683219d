/* SPDX-License-Identifier: MIT */
/*
 * mpquic-nft: install, show, check or remove mpquic's nftables table and policy routing.
 *
 * Exit status: 0 ok, 1 configuration, runtime or kernel error, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netlink.h>

#include "conf.h"
#include "mpq_build.h"
#include "nftb.h"
#include "route.h"
#include "sysctl.h"
#include "talk.h"

#define PROG "mpquic-nft"

enum cmd {
	CMD_PRINT,
	CMD_APPLY,
	CMD_DELETE,
	CMD_CHECK,
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG
		" -c FILE [--role client|server] [--dry-run] print|apply|delete|check\n"
		"\n"
		"  print    print the nft script of the ruleset (nothing is changed)\n"
		"  apply    replace table inet <classifier.table> atomically; client: add the\n"
		"           policy routing rules and each class's kill switch, check the sysctls\n"
		"  delete   remove that table (and the client's rules and kill switches), nothing\n"
		"           else; the routes to the tunnels are mpquicd's\n"
		"  check    ask the kernel whether it accepts the ruleset, changing nothing\n"
		"\n"
		"  -c, --config FILE   configuration file (JSON)\n"
		"  -r, --role ROLE     client or server (default: the configuration's role)\n"
		"  -n, --dry-run       apply/delete: print what would be done instead\n"
		"  -V, --version       print the version\n"
		"  -h, --help          this help\n");
}

static int load(const char *file, struct conf **ret_c)
{
	struct conf_errors errs = {0};
	int r;

	/* the classifier never opens the TLS files: do not make the boot-time apply fail on a
	 * certificate that is not deployed yet */
	r = conf_load(file, CONF_NO_FILE_CHECKS, ret_c, &errs);
	if (r < 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		if (errs.n == 0)
			fprintf(stderr, "%s: %s\n", file, strerror(-r));
		conf_errors_done(&errs);
	}
	return r;
}

static void print_routing(const struct conf *c, bool apply)
{
	const char *fam[] = {"-4", "-6"};
	uint32_t p = c->classifier.rule_priority;

	printf("\n# policy routing (rtnetlink)\n");
	for (int f = 0; f < 2; f++) {
		printf("# ip %s rule %s priority %u lookup main suppress_prefixlength 0\n", fam[f],
		       apply ? "add" : "del", p);
		for (size_t i = 0; i < c->n_classes; i++)
			printf("# ip %s rule %s priority %u fwmark 0x%x/0x%x lookup %u\n", fam[f],
			       apply ? "add" : "del", p + 1, c->classes[i].mark,
			       c->classifier.mark_mask, c->classes[i].table);
	}
	for (size_t i = 0; i < c->n_classes; i++) {
		bool on = apply && c->classes[i].when_down == CONF_WHEN_DOWN_DROP;

		for (int f = 0; f < 2; f++)
			printf("# ip %s route %s unreachable default metric %u table %u%s\n",
			       fam[f], on ? "replace" : "del", ROUTE_KILL_METRIC,
			       c->classes[i].table,
			       on      ? ""
			       : apply ? "   (when_down: wan; absent is fine)"
				       : "");
	}
	if (apply)
		printf("# (the default route to the active tunnel in each class table is "
		       "mpquicd's)\n");
}

static int send_batch(const struct nftb_batch *b, bool check)
{
	struct mnl_socket *nl;
	char err[TALK_ERR_MAX];
	int r;

	r = talk_open(NETLINK_NETFILTER, &nl);
	if (r < 0) {
		fprintf(stderr, PROG ": netlink (nf_tables): %s\n", strerror(-r));
		return r;
	}
	r = check ? talk_batch_check(nl, b, err, sizeof(err)) : talk_batch(nl, b, err, sizeof(err));
	mnl_socket_close(nl);
	if (r < 0)
		fprintf(stderr,
			PROG ": %s; the kernel rejected the whole batch, nothing was changed\n",
			err);
	return r;
}

/*
 * The rules and each class's kill switch. The class tables' default routes to the tunnels are
 * left to mpquicd, which owns them at run time (it alone knows which tunnel is up): writing them
 * here would point a class back at a tunnel that is down.
 */
static int routing(const struct conf *c, bool apply)
{
	struct mnl_socket *nl;
	int r, ret = 0;

	r = talk_open(NETLINK_ROUTE, &nl);
	if (r < 0) {
		fprintf(stderr, PROG ": netlink (route): %s\n", strerror(-r));
		return r;
	}
	r = apply ? route_rules_apply(nl, c) : route_rules_delete(nl, c);
	if (r < 0) {
		fprintf(stderr, PROG ": %s policy routing rules (priority %u, %u): %s\n",
			apply ? "adding" : "deleting", c->classifier.rule_priority,
			c->classifier.rule_priority + 1, strerror(-r));
		ret = r;
	}
	for (size_t i = 0; i < c->n_classes; i++) {
		const struct conf_class *cl = &c->classes[i];
		bool on = apply && cl->when_down == CONF_WHEN_DOWN_DROP;
		int family = 0;

		r = route_class_killswitch(nl, c, i, on, &family);
		if (r < 0) {
			fprintf(stderr,
				PROG ": class '%s': %s the %s kill switch (unreachable default "
				     "metric %u) in table %u: %s\n",
				cl->name, on ? "adding" : "removing",
				family == AF_INET6 ? "IPv6" : "IPv4", ROUTE_KILL_METRIC, cl->table,
				strerror(-r));
			ret = r;
		}
	}
	mnl_socket_close(nl);
	return ret;
}

static void sysctl_warn(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, PROG ": warning: %s\n", msg);
}

static void sysctl_note(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, PROG ": %s\n", msg);
}

static int run(const struct conf *c, enum conf_role role, enum cmd cmd, bool dry_run)
{
	struct nftb_ruleset *rs = NULL;
	struct nftb_batch *b = NULL;
	struct nftb_err err = {{0}};
	const char *table = nftb_table_name(c);
	bool client = role == CONF_ROLE_CLIENT;
	int r;

	if (cmd == CMD_DELETE) {
		if (dry_run) {
			nftb_print_delete(table, stdout);
			if (client)
				print_routing(c, false);
			return 0;
		}
		r = nftb_batch_delete(table, 1, &b);
		if (r == 0)
			r = send_batch(b, false);
		nftb_batch_free(b);
		if (client && routing(c, false) < 0)
			r = -1;
		return r < 0 ? 1 : 0;
	}

	r = nftb_ruleset_new(c, role, &rs, &err);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", c->path ? c->path : "configuration", err.msg);
		return 1;
	}
	if (cmd != CMD_PRINT && getenv("MPQUIC_NFT_TEST_FAULT") &&
	    (r = nftb_ruleset_add_fault(rs)) < 0)
		goto out;
	if (cmd == CMD_PRINT || dry_run) {
		r = nftb_print(rs, stdout);
		if (r == 0 && cmd == CMD_APPLY && client)
			print_routing(c, true);
		goto out;
	}
	r = nftb_batch_replace(rs, 1, &b);
	if (r < 0)
		goto out;
	r = send_batch(b, cmd == CMD_CHECK);
	if (r == 0 && cmd == CMD_CHECK)
		printf("ruleset OK\n");
	if (r == 0 && cmd == CMD_APPLY && client) {
		r = routing(c, true);
		/* after the routing: a warning, not a failure (the box may be set up later) */
		sysctl_check(c, "/proc/sys", c->classifier.set_sysctls, sysctl_warn, sysctl_note,
			     NULL);
	}
out:
	if (r == -ENOMEM || r == -EIO)
		fprintf(stderr, PROG ": %s\n", strerror(-r));
	nftb_batch_free(b);
	nftb_ruleset_free(rs);
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"role", required_argument, NULL, 'r'},
		{"dry-run", no_argument, NULL, 'n'},	  {"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},	  {0},
	};
	static const char *const cmds[] = {"print", "apply", "delete", "check"};
	const char *file = NULL, *role_arg = NULL;
	enum conf_role role;
	bool dry_run = false;
	struct conf *c = NULL;
	int o, cmd = -1, ret;

	while ((o = getopt_long(argc, argv, "c:r:nVh", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			file = optarg;
			break;
		case 'r':
			role_arg = optarg;
			break;
		case 'n':
			dry_run = true;
			break;
		case 'V':
			printf(PROG " %s\n", MPQ_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, PROG ": %s\n", optind < argc ? "too many arguments" : "no command");
		usage(stderr);
		return 2;
	}
	for (int i = 0; i < (int)(sizeof(cmds) / sizeof(cmds[0])); i++) {
		if (!strcmp(argv[optind], cmds[i]))
			cmd = i;
	}
	if (cmd < 0) {
		fprintf(stderr, PROG ": unknown command '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (role_arg && strcmp(role_arg, "client") && strcmp(role_arg, "server")) {
		fprintf(stderr, PROG ": --role: expected client or server, got '%s'\n", role_arg);
		return 2;
	}
	if (!file) {
		fprintf(stderr, PROG ": no configuration file (use -c FILE)\n");
		usage(stderr);
		return 2;
	}
	if (dry_run && cmd != CMD_APPLY && cmd != CMD_DELETE) {
		fprintf(stderr, PROG ": --dry-run applies to apply and delete only\n");
		return 2;
	}
	if (load(file, &c) < 0)
		return 1;
	role = c->role;
	if (role_arg) {
		enum conf_role want =
			!strcmp(role_arg, "server") ? CONF_ROLE_SERVER : CONF_ROLE_CLIENT;

		if (want != role) {
			fprintf(stderr, PROG ": --role %s, but %s is a %s configuration\n",
				role_arg, file, role == CONF_ROLE_SERVER ? "server" : "client");
			conf_free(c);
			return 2;
		}
	}
	ret = run(c, role, (enum cmd)cmd, dry_run);
	conf_free(c);
	return ret;
}
