/* SPDX-License-Identifier: MIT */
/*
 * The control socket's request parser (lib/ctlreq.c) on every line of the input, split at
 * newlines as src/ctl.c splits what a client sends. A parsed command must survive a round
 * trip through its canonical request; a refused one must come with a message.
 */
#include <errno.h>
#include <string.h>

#include "ctlreq.h"
#include "fuzz.h"

static const char *const names[] = {"status", "metrics", "reload"};

static void check_line(const char *line, size_t len)
{
	enum ctl_cmd cmd = (enum ctl_cmd) - 1, again;
	char err[256], canon[64];
	int r, n;

	memset(err, 0x55, sizeof(err));
	r = ctl_parse_request(line, len, &cmd, err, sizeof(err));
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL && cmd == (enum ctl_cmd) - 1);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
		return;
	}
	FUZZ_CHECK(r == 0 && (unsigned)cmd < sizeof(names) / sizeof(names[0]));
	n = snprintf(canon, sizeof(canon), "{\"command\":\"%s\"}", names[cmd]);
	FUZZ_CHECK(ctl_parse_request(canon, (size_t)n, &again, err, sizeof(err)) == 0);
	FUZZ_CHECK(again == cmd);
	/* A request cut short is never a valid one. */
	if (len > 0 && line[len - 1] == '}')
		FUZZ_CHECK(ctl_parse_request(line, len - 1, &again, err, 1) == -EINVAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (len > 0)
			check_line(p, len);
		p += len + 1;
	}
	return 0;
}

static const char *const seeds[] = {
	"{\"command\":\"status\"}\n",
	"{\"command\": \"metrics\"}\n{\"command\":\"reload\"}\n",
	"{\"command\":\"stat\\u0075s\", \"extra\": [1, 2.5, null, true]}\n",
	"{\"command\":\"status\",\"command\":\"status\"}\n[]\n\"status\"\n{\"command\":42}\n",
};

size_t fuzz_seed(unsigned i, uint8_t *buf, size_t size)
{
	size_t len;

	if (i >= sizeof(seeds) / sizeof(seeds[0]))
		return 0;
	len = strlen(seeds[i]);
	if (len > size)
		return 0;
	memcpy(buf, seeds[i], len);
	return len;
}
