/* SPDX-License-Identifier: MIT */
/* Placeholder until the config loader lands: every load fails with a clear error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int conf_load(const char *file, unsigned flags, struct conf **ret_conf, struct conf_errors *errs)
{
	char *m = NULL;

	(void)flags;
	(void)ret_conf;
	if (asprintf(&m, "%s: the configuration loader is not implemented yet", file) < 0)
		return -ENOMEM;
	errs->msg = calloc(1, sizeof(char *));
	if (!errs->msg) {
		free(m);
		return -ENOMEM;
	}
	errs->msg[0] = m;
	errs->n = 1;
	return -EINVAL;
}

void conf_free(struct conf *c)
{
	free(c);
}

void conf_errors_done(struct conf_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		free(errs->msg[i]);
	free(errs->msg);
	errs->msg = NULL;
	errs->n = 0;
}
