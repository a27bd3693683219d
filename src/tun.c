/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tun.h"

int tun_open(const char *name, struct tun *ret)
{
	struct ifreq ifr = {0};
	struct tun t = {.fd = -1};
	int r;

	if (strlen(name) >= IF_NAMESIZE)
		return -ENAMETOOLONG;
	t.fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t.fd < 0)
		return -errno;
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	strncpy(ifr.ifr_name, name, IF_NAMESIZE - 1);
	if (ioctl(t.fd, TUNSETIFF, &ifr) < 0)
		goto err_errno;
	memcpy(t.name, ifr.ifr_name, IF_NAMESIZE);
	t.name[IF_NAMESIZE - 1] = '\0';
	t.ifindex = (int)if_nametoindex(t.name);
	if (t.ifindex == 0)
		goto err_errno;
	*ret = t;
	return 0;

err_errno:
	r = -errno;
	close(t.fd);
	return r;
}

void tun_close(struct tun *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

ssize_t tun_read(struct tun *t, uint8_t *buf, size_t size)
{
	ssize_t n;

	do
		n = read(t->fd, buf, size);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

ssize_t tun_read2(struct tun *t, uint8_t *buf, size_t size, uint8_t *spill, size_t spill_size)
{
	struct iovec iov[2] = {{.iov_base = buf, .iov_len = size},
			       {.iov_base = spill, .iov_len = spill_size}};
	ssize_t n;

	do
		n = readv(t->fd, iov, 2);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

int tun_write(struct tun *t, const uint8_t *pkt, size_t len)
{
	ssize_t n;

	do
		n = write(t->fd, pkt, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return 0;
}
