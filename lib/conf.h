/* SPDX-License-Identifier: MIT */
/*
 * Configuration model: one JSON file (jansson) describing a client (edge box) or a server
 * (concentrator), parsed and validated into plain C structs. No json_t escapes this module.
 *
 * The schema is documented in docs/configuration.md; conf/ has examples.
 */
#ifndef MPQ_CONF_H
#define MPQ_CONF_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ipaddr.h"

#define CONF_NAME_MAX	  32 /* tunnel, class, WAN names: [A-Za-z0-9_.-]{1,32} */
#define CONF_IDENTITY_MAX 64 /* client identity: certificate CN or DNS SAN */
#define CONF_MAX_TUNNELS  4096
#define CONF_MAX_CLIENTS  4096
#define CONF_MAX_LISTEN	  8
#define CONF_MAX_PREFIXES 256 /* per list (addresses, routes, match sets) */
#define CONF_MAX_CLASSES  32
#define CONF_MAX_WANS	  64 /* uplinks of one client */

enum conf_role {
	CONF_ROLE_CLIENT = 1,
	CONF_ROLE_SERVER = 2,
};

enum conf_cc {
	CONF_CC_CUBIC = 0,
	CONF_CC_BBR,
	CONF_CC_RENO,
};

enum conf_log_level {
	CONF_LOG_ERR = 3,
	CONF_LOG_WARNING = 4,
	CONF_LOG_NOTICE = 5,
	CONF_LOG_INFO = 6,
	CONF_LOG_DEBUG = 7,
};

enum conf_gw_mode {
	CONF_GW_AUTO = 0, /* from the kernel's default route(s) via the WAN's interface */
	CONF_GW_NONE,	  /* point-to-point link: routes without a gateway */
	CONF_GW_STATIC,	  /* the address in conf_wan.gateway */
};

/* How a class uses its tunnels (docs/configuration.md, classes[].policy). */
enum conf_policy {
	CONF_POLICY_FAILOVER = 0, /* the first healthy tunnel in list order */
	CONF_POLICY_LOWEST_RTT,	  /* the healthy tunnel with the lowest RTT (with hysteresis) */
	CONF_POLICY_DUPLICATE,	  /* every packet on the two best tunnels on different WANs */
};

/* Path health of the tunnels of a class (lib/health.h); 0 = automatic where allowed. */
struct conf_health {
	uint32_t probe_interval_ms; /* default 100 */
	uint32_t silence_ms;	    /* 0 = max(300, 3 * probe_interval_ms) */
	uint32_t loss_pct;	    /* default 10; 0 = loss is not judged */
	uint32_t max_rtt_ms;	    /* 0 = off */
	uint32_t recover_ms;	    /* 0 = max(1000, 10 * probe_interval_ms) */
};

enum conf_retry {
	CONF_RETRY_AUTO = 0, /* Retry only past limits.max_handshakes half-open handshakes */
	CONF_RETRY_ALWAYS,
	CONF_RETRY_NEVER,
};

/* QUIC and recovery knobs; "defaults" fills them, each tunnel may override. */
struct conf_quic {
	uint32_t keepalive_ms;	  /* default 15000; 0 disables */
	uint32_t idle_timeout_ms; /* default 30000; > keepalive_ms when both set */
	uint32_t backoff_min_ms;  /* client reconnect backoff, default 100 */
	uint32_t backoff_max_ms;  /* default 10000, >= backoff_min_ms */
	uint32_t mtu;		  /* TUN MTU; 0 = the default (lib/pktsize.h) */
	enum conf_cc cc;	  /* default CONF_CC_BBR (see docs/benchmarks.md) */
	uint32_t delay_target_us; /* delay_target_ms: queueing delay the tunnel may add, in
				     microseconds; default 0 = off */
};

struct conf_tls {
	char *ca;	 /* owned; client: CA that signed the server certificate */
	char *cert;	 /* owned */
	char *key;	 /* owned */
	char *client_ca; /* owned; server: CA that signs client certificates */
};

struct conf_wan {
	char name[CONF_NAME_MAX + 1];
	char interface[IF_NAMESIZE];
	bool has_source;
	struct mpq_prefix source; /* host address (/32 or /128) when has_source */
	enum conf_gw_mode gw_mode;
	struct mpq_prefix gateway; /* host address when gw_mode == CONF_GW_STATIC */
	uint32_t table;		   /* routing table id for this WAN; default 200 + index */
	uint32_t keepalive_ms;	   /* 0 = the tunnels' own setting */
};

struct conf_port_range {
	uint16_t lo, hi; /* inclusive; lo <= hi */
};

struct conf_match {
	char (*iif)[IF_NAMESIZE]; /* owned; input interfaces */
	size_t n_iif;
	struct mpq_prefix *src; /* owned; source prefixes (v4 and v6 mixed) */
	size_t n_src;
	struct mpq_prefix *dst; /* owned */
	size_t n_dst;
	int proto;		       /* IPPROTO_* number, or -1 for any */
	struct conf_port_range *sport; /* owned; needs proto tcp, udp or sctp */
	size_t n_sport;
	struct conf_port_range *dport; /* owned */
	size_t n_dport;
	uint8_t *dscp; /* owned; values 0..63 */
	size_t n_dscp;
};

/* What a class's traffic does while none of its tunnels can carry it (or mpquicd is stopped). */
enum conf_when_down {
	CONF_WHEN_DOWN_DROP = 0, /* an unreachable route in the class table: nothing leaks */
	CONF_WHEN_DOWN_WAN,	 /* fall through to the main table: out a WAN, unencrypted */
};

struct conf_class {
	char name[CONF_NAME_MAX + 1];
	bool is_default;	 /* matches everything not matched before; at most one */
	struct conf_match match; /* empty for the default class */
	size_t *tunnels;	 /* owned; indexes into conf.tunnels, primary first */
	size_t n_tunnels;
	uint32_t mark;	/* fwmark value (inside classifier.mark_mask), assigned in order */
	uint32_t table; /* routing table id for this class */
	enum conf_policy policy;
	struct conf_health health;
	enum conf_when_down when_down; /* default CONF_WHEN_DOWN_DROP */
};

/* Client side tunnel: one QUIC connection + CONNECT-IP session + TUN device. */
struct conf_tunnel {
	char name[CONF_NAME_MAX + 1];
	char tun[IF_NAMESIZE]; /* TUN device name; default "mpq-" + name (must fit 15 chars) */
	int wan;	       /* index into conf.wans, or -1 (use the main routing table) */
	int class_idx;	       /* index into conf.classes, or -1 */
	struct conf_quic quic; /* defaults merged with the tunnel's own keys */
};

/* Server side tunnel: what one client identity may open, and its inner addressing. */
struct conf_srv_tunnel {
	char name[CONF_NAME_MAX + 1]; /* unique across the whole server */
	size_t client;		      /* index into conf.clients */
	struct mpq_prefix *address;   /* owned; assigned with ADDRESS_ASSIGN (host bits kept) */
	size_t n_address;
	struct mpq_prefix *routes; /* owned; prefixes behind the client (allowed sources) */
	size_t n_routes;
	uint32_t delay_target_us; /* delay_target_ms (downstream); default: defaults' */
	int group;		  /* index into conf.srv_groups, or -1 */
};

/*
 * Server side group: tunnels of one client that share inner addresses (copied into each
 * member's address and routes), so that a class keeps its addresses when it moves between
 * them. Return traffic goes through the member the client used last.
 */
struct conf_srv_group {
	char name[CONF_NAME_MAX + 1]; /* unique within its client */
	size_t client;		      /* index into conf.clients */
	size_t *tunnels;	      /* owned; indexes into conf.srv_tunnels */
	size_t n_tunnels;
};

struct conf_client {
	char identity[CONF_IDENTITY_MAX + 1];
	size_t first_tunnel; /* this client's tunnels: srv_tunnels[first .. first + n) */
	size_t n_tunnels;
	size_t first_group; /* this client's groups: srv_groups[first .. first + n) */
	size_t n_groups;
};

struct conf_classifier {
	char table[CONF_NAME_MAX + 1]; /* nft table name (family inet), default "mpquic" */
	uint32_t mark_mask;	       /* default 0x00ff0000 */
	uint32_t rule_priority;	       /* ip rule priority, default 1000 */
	uint32_t table_base;	       /* class i uses routing table table_base + i, default 100 */
	bool snat;		       /* default true */
	bool mss_clamp;		       /* default true */
	bool set_sysctls; /* mpquic-nft apply sets net.ipv4.conf.all.src_valid_mark=1; false */
};

struct conf_limits {
	uint32_t max_connections;	     /* default 4096 */
	uint32_t max_connections_per_client; /* default 64 */
	uint32_t max_handshakes;	     /* half-open handshakes before Retry; default 256 */
	uint32_t queue_packets;		     /* per-connection send queue, default 256 */
};

struct conf {
	char *path; /* owned; the file it came from */
	enum conf_role role;
	enum conf_log_level log_level; /* default CONF_LOG_INFO */
	char *control_socket;	       /* owned; default "/run/mpquic/mpquicd.sock" */
	struct conf_tls tls;
	struct conf_quic defaults;

	/* client */
	struct sockaddr_storage server_addr; /* "server.address" (+ "server.port", default 443) */
	socklen_t server_addr_len;
	char *server_name;     /* owned; TLS name checked on the server certificate, :authority */
	struct conf_wan *wans; /* owned */
	size_t n_wans;
	struct conf_class *classes; /* owned */
	size_t n_classes;
	struct conf_tunnel *tunnels; /* owned */
	size_t n_tunnels;
	struct conf_classifier classifier;

	/* server */
	struct sockaddr_storage listen[CONF_MAX_LISTEN]; /* default 0.0.0.0:443 */
	socklen_t listen_len[CONF_MAX_LISTEN];
	size_t n_listen;
	uint8_t server_id; /* QUIC-LB server ID, default 0 */
	enum conf_retry retry;
	char tun_name[IF_NAMESIZE];	/* server TUN, default "mpq0" */
	struct mpq_prefix *tun_address; /* owned; server TUN addresses (host bits kept) */
	size_t n_tun_address;
	uint32_t tun_mtu;	      /* 0 = the default (lib/pktsize.h) */
	struct mpq_prefix *advertise; /* owned; ROUTE_ADVERTISEMENT; default 0.0.0.0/0, ::/0 */
	size_t n_advertise;
	struct conf_client *clients; /* owned */
	size_t n_clients;
	struct conf_srv_tunnel *srv_tunnels; /* owned */
	size_t n_srv_tunnels;
	struct conf_srv_group *srv_groups; /* owned */
	size_t n_srv_groups;
	struct conf_limits limits;
};

/* Every problem found while loading: "file: path: message" or "file:line:col: message". */
struct conf_errors {
	char **msg; /* owned */
	size_t n;
};

/*
 * Load and validate FILE. On success returns 0 and *ret_conf (free with conf_free()).
 * On failure returns -EINVAL (or -ENOMEM) and fills errs with every problem found (the
 * caller frees them with conf_errors_done()); *ret_conf is untouched.
 * Flags: CONF_NO_FILE_CHECKS skips the existence checks of TLS files (unit tests).
 */
#define CONF_NO_FILE_CHECKS 0x1
int conf_load(const char *file, unsigned flags, struct conf **ret_conf, struct conf_errors *errs);

/* NULL-safe. */
void conf_free(struct conf *c);
void conf_errors_done(struct conf_errors *errs);

const char *conf_cc_name(enum conf_cc cc);
const char *conf_policy_name(enum conf_policy p);

/* Lookups: index or -1. */
int conf_find_tunnel(const struct conf *c, const char *name);
int conf_find_srv_tunnel(const struct conf *c, const char *name);
int conf_find_client(const struct conf *c, const char *identity);

#endif
