/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "log.h"
#include "util.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

void mpq_set_sockbuf(int fd, int opt, int size)
{
	int force = opt == SO_RCVBUF ? SO_RCVBUFFORCE : SO_SNDBUFFORCE;

	/* FORCE variants ignore rmem_max/wmem_max but need CAP_NET_ADMIN; fall back quietly. */
	if (setsockopt(fd, SOL_SOCKET, force, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
}

void mpq_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("getrandom: %s", strerror(errno));
			abort();
		}
		p += n;
		len -= (size_t)n;
	}
}

int mpq_file_sha256(const char *path, char out[65])
{
	uint8_t buf[8192], dig[WC_SHA256_DIGEST_SIZE];
	wc_Sha256 sha;
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return -errno;
	wc_InitSha256(&sha);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		wc_Sha256Update(&sha, buf, (word32)n);
	fclose(f);
	wc_Sha256Final(&sha, dig);
	wc_Sha256Free(&sha);
	for (size_t i = 0; i < sizeof(dig); i++)
		snprintf(out + 2 * i, 3, "%02x", dig[i]);
	return 0;
}
