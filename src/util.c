/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "daemon.h"
#include "log.h"

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
