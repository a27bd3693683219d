/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ctlreq.h"

static const char *const cmd_names[] = {
	[CTL_CMD_STATUS] = "status",
	[CTL_CMD_METRICS] = "metrics",
	[CTL_CMD_RELOAD] = "reload",
};

int ctl_parse_request(const char *line, size_t len, enum ctl_cmd *ret_cmd, char *err,
		      size_t errsize)
{
	json_error_t je;
	json_t *req, *cmd;
	const char *name;
	int r = -EINVAL;

	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (!req) {
		snprintf(err, errsize, "malformed request: %s", je.text);
		return -EINVAL;
	}
	cmd = json_is_object(req) ? json_object_get(req, "command") : NULL;
	if (!json_is_string(cmd)) {
		snprintf(err, errsize, "%s",
			 "expected {\"command\": \"status\"|\"metrics\"|\"reload\"}");
		goto out;
	}
	name = json_string_value(cmd);
	for (size_t i = 0; i < sizeof(cmd_names) / sizeof(cmd_names[0]); i++) {
		if (strcmp(name, cmd_names[i]) == 0) {
			*ret_cmd = (enum ctl_cmd)i;
			r = 0;
			goto out;
		}
	}
	snprintf(err, errsize, "unknown command '%.64s'", name);
out:
	json_decref(req);
	return r;
}
