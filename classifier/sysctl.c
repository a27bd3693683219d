/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sysctl.h"

#define SYSCTL_MSG_MAX 400

/* Read one integer sysctl by its path under root ("net/ipv4/ip_forward"); -1 if unreadable. */
static int get(const char *root, const char *rel)
{
	char path[256], buf[32];
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", root, rel) >= (int)sizeof(path))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return atoi(buf);
}

/* net.ipv4.conf.<dev>.<key> (dev may hold dots: a path, not a dotted name) */
static int get_conf(const char *root, const char *dev, const char *key)
{
	char rel[128];

	snprintf(rel, sizeof(rel), "net/ipv4/conf/%s/%s", dev, key);
	return get(root, rel);
}

static int set(const char *root, const char *rel, const char *val)
{
	char path[256];
	int fd, r = 0;

	if (snprintf(path, sizeof(path), "%s/%s", root, rel) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		r = -errno;
	close(fd);
	return r;
}

static bool classes_name_ipv6(const struct conf *c)
{
	for (size_t i = 0; i < c->n_classes; i++) {
		const struct conf_match *m = &c->classes[i].match;

		for (size_t j = 0; j < m->n_src; j++)
			if (m->src[j].family == AF_INET6)
				return true;
		for (size_t j = 0; j < m->n_dst; j++)
			if (m->dst[j].family == AF_INET6)
				return true;
	}
	return false;
}

/*
 * The strict rp_filter that blocks tunnel replies: on an existing TUN the larger of all and
 * the device, else the larger of all and default (what a new TUN inherits). Writes the first
 * setting found strict into where.
 */
static bool rp_strict(const struct conf *c, const char *root, char *where, size_t size)
{
	if (get_conf(root, "all", "rp_filter") == 1) {
		snprintf(where, size, "net.ipv4.conf.all.rp_filter=1");
		return true;
	}
	for (size_t i = 0; i < c->n_tunnels; i++) {
		const char *dev = c->tunnels[i].tun;
		int v = get_conf(root, dev, "rp_filter");

		if (v < 0) /* not there yet: it will inherit default */
			v = get_conf(root, dev = "default", "rp_filter");
		if (v == 1) {
			snprintf(where, size, "net.ipv4.conf.%s.rp_filter=1", dev);
			return true;
		}
	}
	return false;
}

int sysctl_check(const struct conf *c, const char *root, bool fix, sysctl_report_fn report,
		 sysctl_report_fn note, void *arg)
{
	char msg[SYSCTL_MSG_MAX], where[128];
	int n = 0, v;

	if (c->role != CONF_ROLE_CLIENT || c->n_classes == 0)
		return 0;
	v = get(root, "net/ipv4/ip_forward");
	if (v == 0) {
		report(arg, "net.ipv4.ip_forward is 0: LAN traffic is not forwarded into the "
			    "tunnels; set net.ipv4.ip_forward=1");
		n++;
	}
	if (rp_strict(c, root, where, sizeof(where)) &&
	    get_conf(root, "all", "src_valid_mark") == 0) {
		int r = fix ? set(root, "net/ipv4/conf/all/src_valid_mark", "1") : -EPERM;

		if (r == 0) {
			if (note) {
				snprintf(msg, sizeof(msg),
					 "%s (strict reverse-path filter): set "
					 "net.ipv4.conf.all.src_valid_mark=1 "
					 "(classifier.set_sysctls)",
					 where);
				note(arg, msg);
			}
		} else {
			snprintf(msg, sizeof(msg),
				 "%s (strict reverse-path filter) with "
				 "net.ipv4.conf.all.src_valid_mark=0: replies arriving through the "
				 "tunnels are dropped as spoofed; set "
				 "net.ipv4.conf.all.src_valid_mark=1 (or classifier.set_sysctls: "
				 "true), or rp_filter=2 (loose)%s%s",
				 where, fix ? ": setting it failed: " : "",
				 fix ? strerror(-r) : "");
			report(arg, msg);
			n++;
		}
	}
	if (classes_name_ipv6(c) && get(root, "net/ipv6/conf/all/forwarding") == 0) {
		report(arg, "net.ipv6.conf.all.forwarding is 0 but classes match IPv6 prefixes: "
			    "IPv6 LAN traffic is not forwarded into the tunnels; set "
			    "net.ipv6.conf.all.forwarding=1");
		n++;
	}
	return n;
}
