/* SPDX-License-Identifier: MIT */
/*
 * TUN devices (IFF_TUN | IFF_NO_PI): created or attached by name, non-blocking.
 */
#ifndef MPQ_TUN_H
#define MPQ_TUN_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A buffer that holds any packet a TUN read can return (IPv4 and IPv6 total length). */
#define MPQ_PKT_MAX 65536

struct tun {
	int fd; /* owned; -1 when closed */
	int ifindex;
	char name[IF_NAMESIZE];
};

/* Create (or attach to an existing persistent) TUN named name. Returns 0 or -errno. */
int tun_open(const char *name, struct tun *ret);
void tun_close(struct tun *t);

/*
 * One packet: length, -EAGAIN when empty, or -errno. The length is the packet's, even when it
 * was larger than size and only size bytes were stored (the kernel truncates silently).
 */
ssize_t tun_read(struct tun *t, uint8_t *buf, size_t size);
/* The same, scattered: the packet fills buf, then spill (see tun_read for the length). */
ssize_t tun_read2(struct tun *t, uint8_t *buf, size_t size, uint8_t *spill, size_t spill_size);
/* Returns 0 or -errno (-EAGAIN: the device queue is full, the packet is dropped). */
int tun_write(struct tun *t, const uint8_t *pkt, size_t len);

#endif
