/* SPDX-License-Identifier: MIT */
/*
 * Test only, linked into mpquicd-fault-lpm (never installed): lpm_insert() is wrapped at link
 * time (-Wl,--wrap=lpm_insert) and fails once, with -ENOMEM, on its call number
 * $MPQ_FAULT_LPM_INSERT (counted from 1 since start). The daemon's own code is unchanged.
 */
#include <errno.h>
#include <stdlib.h>

#include "lpm.h"

int __real_lpm_insert(struct lpm *t, const struct mpq_prefix *p, void *value);
int __wrap_lpm_insert(struct lpm *t, const struct mpq_prefix *p, void *value);

int __wrap_lpm_insert(struct lpm *t, const struct mpq_prefix *p, void *value)
{
	static long calls, fail_at = -1;

	if (fail_at < 0) {
		const char *e = getenv("MPQ_FAULT_LPM_INSERT");

		fail_at = e ? atol(e) : 0;
	}
	if (++calls == fail_at)
		return -ENOMEM;
	return __real_lpm_insert(t, p, value);
}
