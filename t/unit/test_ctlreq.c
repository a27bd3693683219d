/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "ctlreq.h"

static int parse(const char *line, enum ctl_cmd *cmd, char *err, size_t errsize)
{
	return ctl_parse_request(line, strlen(line), cmd, err, errsize);
}

static void test_commands(void **state)
{
	enum ctl_cmd cmd = CTL_CMD_RELOAD;
	char err[128] = "";

	(void)state;
	assert_int_equal(parse("{\"command\":\"status\"}", &cmd, err, sizeof(err)), 0);
	assert_int_equal(cmd, CTL_CMD_STATUS);
	assert_int_equal(parse(" {\"command\" : \"metrics\", \"x\": 1} ", &cmd, err, sizeof(err)),
			 0);
	assert_int_equal(cmd, CTL_CMD_METRICS);
	assert_int_equal(parse("{\"command\":\"reload\"}", &cmd, err, sizeof(err)), 0);
	assert_int_equal(cmd, CTL_CMD_RELOAD);
	assert_string_equal(err, "");
}

static void test_errors(void **state)
{
	enum ctl_cmd cmd = CTL_CMD_METRICS;
	char err[128], tiny[8];

	(void)state;
	assert_int_equal(parse("{\"command\":", &cmd, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "malformed request"));
	assert_int_equal(parse("[\"status\"]", &cmd, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "expected {\"command\""));
	assert_int_equal(parse("{\"command\":7}", &cmd, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "expected {\"command\""));
	assert_int_equal(
		parse("{\"command\":\"status\",\"command\":\"reload\"}", &cmd, err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "malformed request"));
	assert_int_equal(parse("{\"command\":\"statusx\"}", &cmd, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unknown command 'statusx'");
	/* A NUL inside the command ends the name it is compared by: still unknown. */
	assert_int_equal(parse("{\"command\":\"status\\u0000x\"}", &cmd, err, sizeof(err)),
			 -EINVAL);
	/* The message is cut to the buffer, never overrun. */
	assert_int_equal(parse("{}", &cmd, tiny, sizeof(tiny)), -EINVAL);
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
	assert_int_equal(cmd, CTL_CMD_METRICS); /* untouched on failure */
}

static void test_not_terminated(void **state)
{
	const char buf[] = "{\"command\":\"reload\"}garbage";
	enum ctl_cmd cmd;
	char err[128];

	(void)state;
	/* Only len bytes count; the line need not end in NUL. */
	assert_int_equal(ctl_parse_request(buf, 20, &cmd, err, sizeof(err)), 0);
	assert_int_equal(cmd, CTL_CMD_RELOAD);
	assert_int_equal(ctl_parse_request(buf, 19, &cmd, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_not_terminated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
