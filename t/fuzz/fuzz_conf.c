/* SPDX-License-Identifier: MIT */
/*
 * conf_load() on any file content: a valid config must load, an invalid one must fail with
 * at least one message and nothing allocated left behind (ASan/LSan). conf_load() reads a
 * path, so the input goes into a memfd, read back through /proc/self/fd/N (no file system
 * writes, nothing to clean up). TLS file existence checks are off (CONF_NO_FILE_CHECKS).
 * Seeds: t/fuzz/corpus/conf/ (copies of the t/conf fixtures) and the configs below.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"
#include "fuzz.h"

static int mfd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;
	int r;

	if (mfd < 0) {
		mfd = memfd_create("fuzz-conf", MFD_CLOEXEC);
		if (mfd < 0) {
			perror("memfd_create");
			abort();
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
	}
	if (ftruncate(mfd, 0) < 0 || pwrite(mfd, data, size, 0) != (ssize_t)size) {
		perror("memfd write");
		abort();
	}
	r = conf_load(path, CONF_NO_FILE_CHECKS, &c, &errs);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	if (r == 0) {
		FUZZ_CHECK(c != NULL && errs.n == 0);
		FUZZ_CHECK(c->role == CONF_ROLE_CLIENT || c->role == CONF_ROLE_SERVER);
		conf_free(c);
	} else {
		FUZZ_CHECK(c == NULL);
		FUZZ_CHECK(r == -ENOMEM || errs.n > 0);
		for (size_t i = 0; i < errs.n; i++)
			FUZZ_CHECK(errs.msg[i] && strlen(errs.msg[i]) < 4096);
	}
	conf_errors_done(&errs);
	return 0;
}

static const char *const seeds[] = {
	"{\"role\": \"client\", \"tls\": {\"ca\": \"ca.crt\", \"cert\": \"c.crt\", \"key\": "
	"\"c.key\"}, \"server\": {\"address\": \"192.0.2.1\", \"port\": 443, \"name\": "
	"\"vps.example\"}, \"tunnels\": [{\"name\": \"t1\", \"tun\": \"mpq1\"}]}",
	"{\"role\": \"server\", \"tls\": {\"cert\": \"s.crt\", \"key\": \"s.key\", \"client_ca\": "
	"\"ca.crt\"}, \"listen\": [\"0.0.0.0:443\"], \"tun\": {\"name\": \"mpqs0\", \"address\": "
	"[\"10.200.0.1/16\"]}, \"clients\": [{\"identity\": \"edge1\", \"tunnels\": [{\"name\": "
	"\"t1\", \"address\": [\"10.200.1.1/32\"], \"routes\": [\"192.168.10.0/24\"]}]}]}",
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
