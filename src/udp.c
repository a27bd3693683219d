/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mpq.h"
#include "udp.h"
#include "util.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define UDP_SOCKBUF (4 * 1024 * 1024)

int udp_open(const struct sockaddr *addr, socklen_t addr_len, const char *ifname, bool pktinfo,
	     struct udp_sock *ret)
{
	struct udp_sock s = {.fd = -1, .family = addr->sa_family, .pktinfo = pktinfo};
	int one = 1, r;

	s.fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (s.fd < 0)
		return -errno;
	if (addr->sa_family == AF_INET6 &&
	    setsockopt(s.fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto err_errno;
	if (ifname && ifname[0] &&
	    setsockopt(s.fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) < 0)
		goto err_errno;
	if (pktinfo) {
		if (addr->sa_family == AF_INET)
			r = setsockopt(s.fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		else
			r = setsockopt(s.fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
		if (r < 0)
			goto err_errno;
	}
	/* Path MTU discovery is QUIC's job: never let the kernel fragment our datagrams. */
	if (addr->sa_family == AF_INET) {
		int v = IP_PMTUDISC_PROBE;

		(void)setsockopt(s.fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v));
	} else {
		int v = IPV6_PMTUDISC_PROBE;

		(void)setsockopt(s.fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof(v));
	}
	mpq_set_sockbuf(s.fd, SO_RCVBUF, UDP_SOCKBUF);
	mpq_set_sockbuf(s.fd, SO_SNDBUF, UDP_SOCKBUF);
	if (bind(s.fd, addr, addr_len) < 0)
		goto err_errno;
	s.local_len = sizeof(s.local);
	if (getsockname(s.fd, (struct sockaddr *)&s.local, &s.local_len) < 0)
		goto err_errno;
	s.gso = true;
	(void)setsockopt(s.fd, IPPROTO_UDP, UDP_GRO, &one, sizeof(one));
	*ret = s;
	return 0;

err_errno:
	r = -errno;
	close(s.fd);
	return r;
}

void udp_close(struct udp_sock *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static void parse_cmsgs(struct msghdr *mh, struct udp_rx *rx, int family, uint16_t port)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO) {
			int seg;

			memcpy(&seg, CMSG_DATA(c), sizeof(seg));
			if (seg > 0 && (size_t)seg < rx->len)
				rx->segsize = (size_t)seg;
		} else if (family == AF_INET && c->cmsg_level == IPPROTO_IP &&
			   c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			struct sockaddr_in *sin = (struct sockaddr_in *)&rx->local;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memset(sin, 0, sizeof(*sin));
			sin->sin_family = AF_INET;
			sin->sin_addr = pi.ipi_addr;
			sin->sin_port = port;
			rx->local_len = sizeof(*sin);
		} else if (family == AF_INET6 && c->cmsg_level == IPPROTO_IPV6 &&
			   c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&rx->local;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memset(sin6, 0, sizeof(*sin6));
			sin6->sin6_family = AF_INET6;
			sin6->sin6_addr = pi.ipi6_addr;
			sin6->sin6_port = port;
			rx->local_len = sizeof(*sin6);
		}
	}
}

int udp_recv_batch(struct udp_sock *s, uint8_t *bufs, size_t bufsize, struct udp_rx *out, int max)
{
	struct mmsghdr msgs[64];
	struct iovec iov[64];
	union {
		char buf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} ctl[64];
	uint16_t port;
	int n;

	if (max > (int)ARRAY_SIZE(msgs))
		max = (int)ARRAY_SIZE(msgs);
	for (int i = 0; i < max; i++) {
		iov[i].iov_base = bufs + (size_t)i * bufsize;
		iov[i].iov_len = bufsize;
		memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
		msgs[i].msg_hdr.msg_name = &out[i].peer;
		msgs[i].msg_hdr.msg_namelen = sizeof(out[i].peer);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_control = ctl[i].buf;
		msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
	}
	do
		n = recvmmsg(s->fd, msgs, (unsigned)max, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	port = s->family == AF_INET ? ((struct sockaddr_in *)&s->local)->sin_port
				    : ((struct sockaddr_in6 *)&s->local)->sin6_port;
	for (int i = 0; i < n; i++) {
		struct udp_rx *rx = &out[i];

		rx->data = iov[i].iov_base;
		rx->len = msgs[i].msg_len;
		rx->segsize = rx->len;
		rx->peer_len = msgs[i].msg_hdr.msg_namelen;
		memcpy(&rx->local, &s->local, s->local_len);
		rx->local_len = s->local_len;
		parse_cmsgs(&msgs[i].msg_hdr, rx, s->family, port);
	}
	return n;
}

static size_t put_pktinfo(struct msghdr *mh, char *buf, size_t size, int family,
			  const struct sockaddr *local)
{
	struct cmsghdr *c = (struct cmsghdr *)buf;

	if (family == AF_INET) {
		struct in_pktinfo pi = {.ipi_spec_dst =
						((const struct sockaddr_in *)local)->sin_addr};

		if (size < CMSG_SPACE(sizeof(pi)))
			return 0;
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		(void)mh;
		return CMSG_SPACE(sizeof(pi));
	}
	struct in6_pktinfo pi6 = {.ipi6_addr = ((const struct sockaddr_in6 *)local)->sin6_addr};

	if (size < CMSG_SPACE(sizeof(pi6)))
		return 0;
	c->cmsg_level = IPPROTO_IPV6;
	c->cmsg_type = IPV6_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(pi6));
	memcpy(CMSG_DATA(c), &pi6, sizeof(pi6));
	return CMSG_SPACE(sizeof(pi6));
}

static bool is_wildcard(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return true;
}

static int send_one(struct udp_sock *s, const struct sockaddr *peer, socklen_t peer_len,
		    const struct sockaddr *local, const uint8_t *data, size_t len, size_t segsize)
{
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	struct msghdr mh = {
		.msg_name = (void *)peer,
		.msg_namelen = peer_len,
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	size_t clen = 0;
	ssize_t r;

	memset(&ctl, 0, sizeof(ctl));
	if (s->pktinfo && local && !is_wildcard(local))
		clen += put_pktinfo(&mh, ctl.buf, sizeof(ctl.buf), s->family, local);
	if (segsize < len) {
		struct cmsghdr *c = (struct cmsghdr *)(ctl.buf + clen);
		uint16_t seg = (uint16_t)segsize;

		c->cmsg_level = IPPROTO_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(seg));
		memcpy(CMSG_DATA(c), &seg, sizeof(seg));
		clen += CMSG_SPACE(sizeof(seg));
	}
	if (clen) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = clen;
	}
	do
		r = sendmsg(s->fd, &mh, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

/* udp_send_batch() without counting a full buffer; *ret_seg: the segment size used. */
static int send_batch(struct udp_sock *s, const struct sockaddr *peer, socklen_t peer_len,
		      const struct sockaddr *local, const uint8_t *data, size_t len, size_t segsize,
		      size_t *ret_sent, size_t *ret_seg)
{
	int r;

	*ret_sent = 0;
	*ret_seg = 1;
	if (len == 0)
		return 0;
	if (segsize == 0 || segsize > len)
		segsize = len;
	*ret_seg = segsize;
	if (segsize >= len || s->gso) {
		r = send_one(s, peer, peer_len, local, data, len, segsize);
		if (r == 0) {
			*ret_sent = len;
			return 0;
		}
		if (segsize < len && (r == -EIO || r == -EINVAL || r == -EOPNOTSUPP)) {
			/* The device cannot segment for us: stop asking, send one by one. */
			s->gso = false;
		} else if (r == -EAGAIN || r == -ENOBUFS) {
			return -EAGAIN;
		} else {
			s->tx_errors++;
			return r;
		}
	}
	for (size_t off = 0; off < len; off += segsize) {
		size_t n = MPQ_MIN(segsize, len - off);

		r = send_one(s, peer, peer_len, local, data + off, n, n);
		if (r == -EAGAIN || r == -ENOBUFS)
			return -EAGAIN;
		if (r < 0) {
			s->tx_errors++;
			return r;
		}
		*ret_sent = off + n;
	}
	return 0;
}

int udp_send_batch(struct udp_sock *s, const struct sockaddr *peer, socklen_t peer_len,
		   const struct sockaddr *local, const uint8_t *data, size_t len, size_t segsize,
		   size_t *ret_sent)
{
	size_t seg;
	int r = send_batch(s, peer, peer_len, local, data, len, segsize, ret_sent, &seg);

	if (r == -EAGAIN)
		s->tx_blocked++;
	return r;
}

int udp_send(struct udp_sock *s, const struct sockaddr *peer, socklen_t peer_len,
	     const struct sockaddr *local, const uint8_t *data, size_t len, size_t segsize)
{
	size_t sent, seg;
	int r = send_batch(s, peer, peer_len, local, data, len, segsize, &sent, &seg);

	if (r != -EAGAIN)
		return r;
	/* Not kept: every datagram that did not go counts, not the send that failed. */
	s->tx_eagain += (len - sent + seg - 1) / seg;
	return 0;
}
