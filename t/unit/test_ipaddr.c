/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "ipaddr.h"

static void test_prefix_parse_v4(void **state)
{
	struct mpq_prefix p;
	char buf[MPQ_PREFIX_STRLEN];

	(void)state;
	assert_int_equal(mpq_prefix_parse("10.1.2.3/8", 0, &p), 0);
	assert_int_equal(p.family, AF_INET);
	assert_int_equal(p.len, 8);
	assert_string_equal(mpq_prefix_format(&p, buf, sizeof(buf)), "10.0.0.0/8");
	assert_int_equal(mpq_prefix_parse("10.1.2.3/8", MPQ_PREFIX_KEEP_HOST, &p), 0);
	assert_string_equal(mpq_prefix_format(&p, buf, sizeof(buf)), "10.1.2.3/8");
	assert_int_equal(mpq_prefix_parse("10.1.2.3/8", MPQ_PREFIX_STRICT, &p), -EINVAL);
	assert_int_equal(mpq_prefix_parse("192.0.2.7", 0, &p), 0);
	assert_int_equal(p.len, 32);
	assert_int_equal(mpq_prefix_parse("0.0.0.0/0", MPQ_PREFIX_STRICT, &p), 0);
	assert_int_equal(p.len, 0);
}

static void test_prefix_parse_bad(void **state)
{
	static const char *const bad[] = {
		"",	    "10.0.0.0/",  "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/1a",
		"10.0.0/8", "fd00::/129", "fd00::/0128", "hello",	"10.0.0.0/8/8",
		"::g/64",
	};
	struct mpq_prefix p;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mpq_prefix_parse(bad[i], 0, &p), -EINVAL);
	assert_int_equal(mpq_prefix_parse(NULL, 0, &p), -EINVAL);
}

static void test_prefix_v6_contains_overlaps(void **state)
{
	struct mpq_prefix a, b, c;
	uint8_t addr[16];

	(void)state;
	assert_int_equal(mpq_prefix_parse("fd00:1::/33", 0, &a), 0);
	assert_int_equal(inet_pton(AF_INET6, "fd00:1:7fff::1", addr), 1);
	assert_true(mpq_prefix_contains(&a, AF_INET6, addr));
	assert_int_equal(inet_pton(AF_INET6, "fd00:1:8000::1", addr), 1);
	assert_false(mpq_prefix_contains(&a, AF_INET6, addr));
	assert_false(mpq_prefix_contains(&a, AF_INET, addr));
	assert_int_equal(mpq_prefix_parse("fd00:1:1::/48", 0, &b), 0);
	assert_true(mpq_prefix_overlaps(&a, &b));
	assert_true(mpq_prefix_overlaps(&b, &a));
	assert_int_equal(mpq_prefix_parse("fd00:2::/32", 0, &c), 0);
	assert_false(mpq_prefix_overlaps(&a, &c));
	assert_int_equal(mpq_prefix_parse("10.0.0.0/8", 0, &c), 0);
	assert_false(mpq_prefix_overlaps(&a, &c));
}

static void test_sockaddr(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[80];

	(void)state;
	assert_int_equal(mpq_sockaddr_parse("192.0.2.1:443", 0, &ss, &len), 0);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_string_equal(mpq_sockaddr_format((struct sockaddr *)&ss, buf, sizeof(buf)),
			    "192.0.2.1:443");
	assert_int_equal(mpq_sockaddr_parse("[2001:db8::1]:8443", 0, &ss, &len), 0);
	assert_string_equal(mpq_sockaddr_format((struct sockaddr *)&ss, buf, sizeof(buf)),
			    "[2001:db8::1]:8443");
	assert_int_equal(mpq_sockaddr_parse("2001:db8::1", 443, &ss, &len), 0);
	assert_string_equal(mpq_sockaddr_format((struct sockaddr *)&ss, buf, sizeof(buf)),
			    "[2001:db8::1]:443");
	assert_int_equal(mpq_sockaddr_parse("192.0.2.1", 0, &ss, &len), -EINVAL);
	assert_int_equal(mpq_sockaddr_parse("192.0.2.1:0", 0, &ss, &len), -EINVAL);
	assert_int_equal(mpq_sockaddr_parse("192.0.2.1:65536", 0, &ss, &len), -EINVAL);
	assert_int_equal(mpq_sockaddr_parse("host.example:443", 0, &ss, &len), -EINVAL);
	assert_int_equal(mpq_sockaddr_parse("[192.0.2.1]:443", 0, &ss, &len), -EINVAL);
	assert_int_equal(mpq_sockaddr_parse("[2001:db8::1]x", 0, &ss, &len), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_parse_v4),
		cmocka_unit_test(test_prefix_parse_bad),
		cmocka_unit_test(test_prefix_v6_contains_overlaps),
		cmocka_unit_test(test_sockaddr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
