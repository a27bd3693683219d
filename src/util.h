/* SPDX-License-Identifier: MIT */
/*
 * Small system helpers of the daemon and its tools: the monotonic clock, randomness, socket
 * buffers, file digests. No state, no loop.
 */
#ifndef MPQ_UTIL_H
#define MPQ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t mpq_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Set SO_RCVBUF or SO_SNDBUF (opt) of fd to size bytes, past the sysctl maximum when we may
 * (the FORCE variant); best effort. */
void mpq_set_sockbuf(int fd, int opt, int size);

/* Fill buf with cryptographically secure random bytes (getrandom). Never fails. */
void mpq_random(void *buf, size_t len);

/* Hex SHA-256 of a file into out[65]. Returns 0 or -errno. */
int mpq_file_sha256(const char *path, char out[65]);

#endif
