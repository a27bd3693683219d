/* SPDX-License-Identifier: MIT */
/*
 * mpquicd: command line, configuration check, and (with the data plane) the event loop.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "mpq_build.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: mpquicd -c FILE [--foreground]\n"
		   "       mpquicd --check-config FILE\n"
		   "\n"
		   "  -c, --config FILE        configuration file (JSON)\n"
		   "  -n, --check-config FILE  validate FILE, print \"configuration OK\" or the errors\n"
		   "  -f, --foreground         stay in the foreground (the default under systemd)\n"
		   "  -V, --version            print the version\n"
		   "  -h, --help               this help\n");
}

/* Print every error of a failed load, one per line. */
static void print_conf_errors(const struct conf_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		fprintf(stderr, "%s\n", errs->msg[i]);
}

static int check_config(const char *file)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;
	int r;

	r = conf_load(file, 0, &c, &errs);
	if (r < 0) {
		print_conf_errors(&errs);
		if (errs.n == 0)
			fprintf(stderr, "%s: %s\n", file, strerror(-r));
		conf_errors_done(&errs);
		return 1;
	}
	conf_free(c);
	printf("configuration OK\n");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", required_argument, NULL, 'n'},
		{"foreground", no_argument, NULL, 'f'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *config = NULL, *check = NULL;
	int o;

	while ((o = getopt_long(argc, argv, "c:n:fVh", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			config = optarg;
			break;
		case 'n':
			check = optarg;
			break;
		case 'f':
			break;
		case 'V':
			printf("mpquicd %s\n", MPQ_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mpquicd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (check)
		return check_config(check);
	if (!config) {
		fprintf(stderr, "mpquicd: no configuration file (use -c FILE)\n");
		usage(stderr);
		return 2;
	}
	fprintf(stderr, "mpquicd: the data plane is not implemented yet\n");
	return 1;
}
