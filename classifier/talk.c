/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netlink.h>

#include "talk.h"

int talk_open(int bus, struct mnl_socket **ret_nl)
{
	struct mnl_socket *nl;
	int one = 1, r;

	nl = mnl_socket_open(bus);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		mnl_socket_close(nl);
		return r;
	}
	/* best effort: older kernels simply send plain acks */
	mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	*ret_nl = nl;
	return 0;
}

static int ext_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type == NLMSGERR_ATTR_MSG && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
		tb[type] = attr;
	return MNL_CB_OK;
}

int talk_parse_ack(const struct nlmsghdr *nlh, char *ext, size_t extlen)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[NLMSGERR_ATTR_MAX + 1] = {0};

	if (ext && extlen)
		ext[0] = '\0';
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return -EBADMSG;
	if (ext && extlen && (nlh->nlmsg_flags & NLM_F_ACK_TLVS)) {
		unsigned off = sizeof(*e);

		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			off += e->msg.nlmsg_len - sizeof(e->msg);
		if (mnl_nlmsg_size(off) <= nlh->nlmsg_len) {
			mnl_attr_parse(nlh, off, ext_attr_cb, tb);
			if (tb[NLMSGERR_ATTR_MSG])
				snprintf(ext, extlen, "%s",
					 mnl_attr_get_str(tb[NLMSGERR_ATTR_MSG]));
		}
	}
	return e->error;
}

/* Make room for the whole batch in one sendmsg and for one ack per message. */
static void size_buffers(struct mnl_socket *nl, const struct nftb_batch *b)
{
	int fd = mnl_socket_get_fd(nl);
	int snd = (int)(b->len + 65536), rcv = (int)(b->n_msgs * 1024 + 262144);

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
}

static int talk(struct mnl_socket *nl, const struct nftb_batch *b, size_t send_len, char *err,
		size_t errlen)
{
	uint32_t portid = mnl_socket_get_portid(nl);
	uint32_t first_seq = 0;
	int first_err = 0, n_err = 0, waited_ms = 0;
	size_t n_ack = 0;
	char ext[256] = "", first_ext[256] = "";
	char *buf;
	int r = 0;

	buf = malloc(MNL_SOCKET_BUFFER_SIZE);
	if (!buf)
		return -ENOMEM;
	size_buffers(nl, b);
	if (mnl_socket_sendto(nl, b->buf, send_len) < 0) {
		r = -errno;
		snprintf(err, errlen, "sending the nf_tables batch (%zu bytes): %s", send_len,
			 strerror(errno));
		goto out;
	}
	/* nfnetlink processes the batch inside sendmsg(): the answers are queued already; the
	 * bounded wait only covers a busy kernel. Stop at the first error's batch-wide abort. */
	while (n_ack + (size_t)n_err < b->n_msgs) {
		struct pollfd pfd = {.fd = mnl_socket_get_fd(nl), .events = POLLIN};
		ssize_t len;

		if (poll(&pfd, 1, n_err ? 0 : 100) <= 0) {
			if (n_err || (waited_ms += 100) >= 1000)
				break;
			continue;
		}
		len = recv(pfd.fd, buf, MNL_SOCKET_BUFFER_SIZE, MSG_DONTWAIT);
		if (len < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			r = -errno;
			snprintf(err, errlen, "reading nf_tables acknowledgements: %s",
				 strerror(errno));
			goto out;
		}
		int left = (int)len;

		for (struct nlmsghdr *nlh = (struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, left);
		     nlh = mnl_nlmsg_next(nlh, &left)) {
			int e;

			if (nlh->nlmsg_pid != portid || nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			e = talk_parse_ack(nlh, ext, sizeof(ext));
			if (e == 0) {
				n_ack++;
				continue;
			}
			if (n_err++ == 0 || nlh->nlmsg_seq < first_seq) {
				first_seq = nlh->nlmsg_seq;
				first_err = e;
				snprintf(first_ext, sizeof(first_ext), "%s", ext);
			}
		}
	}
	if (n_err) {
		const char *desc = nftb_batch_desc(b, first_seq);

		r = first_err;
		snprintf(err, errlen, "%s: %s%s%s%s", desc ? desc : "nf_tables batch",
			 strerror(-first_err), first_ext[0] ? " (" : "", first_ext,
			 first_ext[0] ? ")" : "");
	} else if (n_ack < b->n_msgs) {
		r = -EIO;
		snprintf(err, errlen, "nf_tables batch: %zu of %zu acknowledgements missing",
			 b->n_msgs - n_ack, b->n_msgs);
	}
out:
	free(buf);
	return r;
}

int talk_batch(struct mnl_socket *nl, const struct nftb_batch *b, char *err, size_t errlen)
{
	return talk(nl, b, b->len, err, errlen);
}

int talk_batch_check(struct mnl_socket *nl, const struct nftb_batch *b, char *err, size_t errlen)
{
	return talk(nl, b, b->end_off, err, errlen);
}
