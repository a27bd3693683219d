/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "cipath.h"

static void test_plain_and_encoded(void **state)
{
	struct cipath p;

	(void)state;
	assert_int_equal(cipath_parse("/.well-known/masque/ip/*/*/?tunnel=t1", &p), 0);
	assert_string_equal(p.target, "*");
	assert_string_equal(p.ipproto, "*");
	assert_string_equal(p.tunnel, "t1");
	/* RFC 6570 expansion percent-encodes "*": both cases of the hex digits. */
	assert_int_equal(cipath_parse("/.well-known/masque/ip/%2A/%2a/?tunnel=t%31", &p), 0);
	assert_string_equal(p.target, "*");
	assert_string_equal(p.ipproto, "*");
	assert_string_equal(p.tunnel, "t1");
	assert_int_equal(cipath_parse("/.well-known/masque/ip/192.0.2.0%2F24/17/?tunnel=a.b-c", &p),
			 0);
	assert_string_equal(p.target, "192.0.2.0/24");
	assert_string_equal(p.ipproto, "17");
	assert_string_equal(p.tunnel, "a.b-c");
}

static void test_broken_encoding(void **state)
{
	static const char *const bad[] = {
		"/.well-known/masque/ip/%2G/*/?tunnel=t1", /* not hex */
		"/.well-known/masque/ip/%2/*/?tunnel=t1",  /* one digit before the '/' */
		"/.well-known/masque/ip/*/%/?tunnel=t1",   /* bare '%' */
		"/.well-known/masque/ip/*/*/?tunnel=t1%",  /* '%' at the end */
		"/.well-known/masque/ip/*/*/?tunnel=t1%4", /* one digit at the end */
		"/.well-known/masque/ip/%00/*/?tunnel=t1", /* decodes to NUL */
		"/.well-known/masque/ip/%zz/*/?tunnel=t1",
		"/.well-known/masque/ip//*/?tunnel=t1", /* empty variable */
		"/.well-known/masque/ip/*/*/?tunnel=",	/* empty name */
	};
	struct cipath p;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cipath_parse(bad[i], &p), -EINVAL);
}

static void test_not_the_template(void **state)
{
	static const char *const other[] = {
		"/",
		"/.well-known/masque/udp/*/*/?tunnel=t1",
		"/.well-known/masque/ip/*/?tunnel=t1",	       /* one segment */
		"/.well-known/masque/ip/*/*?tunnel=t1",	       /* no trailing slash */
		"/.well-known/masque/ip/*/*/",		       /* no query */
		"/.well-known/masque/ip/*/*/?name=t1",	       /* other query */
		"/.well-known/masque/ip/*/*/?tunnel=t1&x=1",   /* extra parameter */
		"/.well-known/masque/ip/*/*/extra/?tunnel=t1", /* extra segment */
	};
	struct cipath p;

	(void)state;
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		assert_int_equal(cipath_parse(other[i], &p), -ENOENT);
}

static void test_decode_limits(void **state)
{
	char out[4];

	(void)state;
	assert_int_equal(cipath_decode("abc", 3, out, sizeof(out)), 3);
	assert_string_equal(out, "abc");
	assert_int_equal(cipath_decode("abcd", 4, out, sizeof(out)), -ENAMETOOLONG);
	assert_int_equal(cipath_decode("%41%42%43", 9, out, sizeof(out)), 3);
	assert_string_equal(out, "ABC");
	/* len bounds the input: the escape cut by len is broken even if more bytes follow. */
	assert_int_equal(cipath_decode("%41", 2, out, sizeof(out)), -EINVAL);
	assert_int_equal(cipath_decode("", 0, out, 0), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_and_encoded),
		cmocka_unit_test(test_broken_encoding),
		cmocka_unit_test(test_not_the_template),
		cmocka_unit_test(test_decode_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
