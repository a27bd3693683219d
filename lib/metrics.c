/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "mpq.h"

struct out {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t ncap = o->cap * 2 + (size_t)n + 1;
		char *nb = realloc(o->buf, ncap);

		if (!nb) {
			o->failed = true;
			return;
		}
		o->buf = nb;
		o->cap = ncap;
	}
}

/* Label values: escape backslash, double quote and newline (exposition format). */
static void put_label(struct out *o, const char *name, const char *value, bool first)
{
	put(o, "%s%s=\"", first ? "" : ",", name);
	for (const char *p = value ? value : ""; *p; p++) {
		if (*p == '\\' || *p == '"')
			put(o, "\\%c", *p);
		else if (*p == '\n')
			put(o, "\\n");
		else
			put(o, "%c", *p);
	}
	put(o, "\"");
}

static const char *str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

static double num(const json_t *obj, const char *key)
{
	return json_number_value(json_object_get(obj, key));
}

struct metric {
	const char *name;
	const char *type; /* counter or gauge */
	const char *help;
	const char *key; /* in the tunnel object */
	const char *sub; /* nested object, or NULL */
};

static const struct metric tunnel_metrics[] = {
	{"mpquic_tunnel_up", "gauge", "1 when the tunnel's CONNECT-IP session is open", NULL, NULL},
	{"mpquic_tunnel_tx_packets_total", "counter", "Inner packets sent into the tunnel",
	 "tx_packets", NULL},
	{"mpquic_tunnel_tx_bytes_total", "counter", "Inner bytes sent into the tunnel", "tx_bytes",
	 NULL},
	{"mpquic_tunnel_rx_packets_total", "counter", "Inner packets received from the tunnel",
	 "rx_packets", NULL},
	{"mpquic_tunnel_rx_bytes_total", "counter", "Inner bytes received from the tunnel",
	 "rx_bytes", NULL},
	{"mpquic_tunnel_reconnects_total", "counter", "Connection attempts after the first",
	 "reconnects", NULL},
	{"mpquic_tunnel_rtt_seconds", "gauge", "Smoothed RTT of the tunnel's QUIC connection",
	 "smoothed", "rtt_ms"},
	{"mpquic_tunnel_min_rtt_seconds", "gauge", "Minimum RTT", "min", "rtt_ms"},
	{"mpquic_tunnel_rtt_variance_seconds", "gauge", "RTT variation", "var", "rtt_ms"},
	{"mpquic_tunnel_cwnd_bytes", "gauge", "Congestion window", "cwnd", NULL},
	{"mpquic_tunnel_bytes_in_flight", "gauge", "Bytes in flight", "bytes_in_flight", NULL},
	{"mpquic_tunnel_probes_total", "counter", "Probe datagrams sent on a quiet path", "probes",
	 NULL},
	{"mpquic_tunnel_probe_bytes_total", "counter",
	 "UDP payload bytes of the packets that carried probes", "probe_bytes", NULL},
	{"mpquic_tunnel_duplicates_dropped_total", "counter",
	 "Duplicates of a duplicate class dropped on receipt", "dup_dropped", NULL},
	{"mpquic_tunnel_path_loss_ratio", "gauge",
	 "Datagram loss over the path-health window (client)", "loss_pct", "health"},
};

static const char *const health_states[] = {"up", "degraded", "down", "unknown"};

static void tunnel_labels(struct out *o, const json_t *t)
{
	put(o, "{");
	put_label(o, "tunnel", str(t, "name"), true);
	put_label(o, "class", str(t, "class"), false);
	put_label(o, "wan", str(t, "wan"), false);
	put_label(o, "client", str(t, "client"), false);
}

/*
 * One counter per element of arr (classes or groups): NAME{LABEL="element's name"[,
 * client="..."]} = element[KEY].
 */
static void put_counter_per(struct out *o, const json_t *arr, const char *name, const char *help,
			    const char *label, bool client, const char *key)
{
	const json_t *e;
	size_t i;

	put(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	json_array_foreach (arr, i, e) {
		put(o, "%s{", name);
		put_label(o, label, str(e, "name"), true);
		if (client)
			put_label(o, "client", str(e, "client"), false);
		put(o, "} %.17g\n", num(e, key));
	}
}

/* Client classes: moves, duplicates dropped, and the active tunnel. */
static void put_classes(struct out *o, const json_t *classes)
{
	const json_t *k;
	size_t i;

	if (!json_array_size(classes))
		return;
	put_counter_per(o, classes, "mpquic_class_moves_total",
			"Times the class moved to another tunnel", "class", false, "moves");
	put_counter_per(o, classes, "mpquic_class_duplicates_dropped_total",
			"Duplicates dropped for the class", "class", false, "dup_dropped");
	put(o, "# HELP mpquic_class_active 1 for the tunnel(s) the class rides\n"
	       "# TYPE mpquic_class_active gauge\n");
	json_array_foreach (classes, i, k) {
		const char *role[] = {"active", "second"};

		for (size_t r = 0; r < 2; r++) {
			if (!str(k, role[r])[0])
				continue;
			put(o, "mpquic_class_active{");
			put_label(o, "class", str(k, "name"), true);
			put_label(o, "tunnel", str(k, role[r]), false);
			put_label(o, "role", role[r], false);
			put(o, "} 1\n");
		}
	}
}

/* Server groups: return-path switches and duplicates dropped. */
static void put_groups(struct out *o, const json_t *groups)
{
	if (!json_array_size(groups))
		return;
	put_counter_per(o, groups, "mpquic_group_switches_total",
			"Return-path moves between a group's tunnels", "group", true, "switches");
	put_counter_per(o, groups, "mpquic_group_duplicates_dropped_total",
			"Duplicates dropped for the group", "group", true, "dup_dropped");
}

char *metrics_from_status(const json_t *status)
{
	const json_t *tunnels = json_object_get(status, "tunnels");
	const json_t *daemon = json_object_get(status, "daemon");
	const json_t *listener = json_object_get(status, "listener");
	struct out o = {0};
	const json_t *t, *drops;
	size_t i;

	o.cap = 4096;
	o.buf = malloc(o.cap);
	if (!o.buf)
		return NULL;
	o.buf[0] = '\0';
	put(&o, "# HELP mpquic_info Daemon version and role\n# TYPE mpquic_info gauge\n");
	put(&o, "mpquic_info{");
	put_label(&o, "version", str(daemon, "version"), true);
	put_label(&o, "role", str(daemon, "role"), false);
	put(&o, "} 1\n");
	put(&o,
	    "# HELP mpquic_uptime_seconds Seconds since the daemon started\n"
	    "# TYPE mpquic_uptime_seconds gauge\nmpquic_uptime_seconds %.3f\n",
	    num(daemon, "uptime_s"));

	for (size_t m = 0; m < ARRAY_SIZE(tunnel_metrics); m++) {
		const struct metric *me = &tunnel_metrics[m];

		put(&o, "# HELP %s %s\n# TYPE %s %s\n", me->name, me->help, me->name, me->type);
		json_array_foreach (tunnels, i, t) {
			double v;

			if (!me->key) {
				v = strcmp(str(t, "state"), "up") == 0;
			} else if (me->sub) {
				const json_t *s = json_object_get(t, me->sub);

				if (!json_is_number(json_object_get(s, me->key)))
					continue;
				/* rtt_ms in ms -> seconds, loss_pct in % -> ratio */
				v = num(s, me->key) /
				    (strcmp(me->sub, "health") == 0 ? 100.0 : 1000.0);
			} else {
				if (!json_is_number(json_object_get(t, me->key)))
					continue;
				v = num(t, me->key);
			}
			put(&o, "%s", me->name);
			tunnel_labels(&o, t);
			put(&o, "} %.17g\n", v);
		}
	}
	put(&o, "# HELP mpquic_tunnel_drops_total Inner packets dropped, by reason\n"
		"# TYPE mpquic_tunnel_drops_total counter\n");
	json_array_foreach (tunnels, i, t) {
		const char *reason;
		const json_t *v;

		drops = json_object_get(t, "drops");
		json_object_foreach ((json_t *)drops, reason, v) {
			put(&o, "mpquic_tunnel_drops_total");
			tunnel_labels(&o, t);
			put_label(&o, "reason", reason, false);
			put(&o, "} %.17g\n", json_number_value(v));
		}
	}
	put(&o, "# HELP mpquic_tunnel_health Path health state of a client tunnel (1 for the "
		"current one)\n# TYPE mpquic_tunnel_health gauge\n");
	json_array_foreach (tunnels, i, t) {
		const json_t *h = json_object_get(t, "health");

		if (!json_is_object(h))
			continue;
		for (size_t k = 0; k < ARRAY_SIZE(health_states); k++) {
			put(&o, "mpquic_tunnel_health");
			tunnel_labels(&o, t);
			put_label(&o, "state", health_states[k], false);
			put(&o, "} %d\n", strcmp(str(h, "state"), health_states[k]) == 0);
		}
	}
	put_classes(&o, json_object_get(status, "classes"));
	put_groups(&o, json_object_get(status, "groups"));
	if (json_is_object(listener)) {
		const char *key;
		const json_t *v;

		json_object_foreach ((json_t *)listener, key, v) {
			if (!json_is_number(v))
				continue;
			bool gauge =
				strcmp(key, "connections") == 0 || strcmp(key, "handshaking") == 0;
			const char *sfx = gauge ? "" : "_total";

			put(&o, "# TYPE mpquic_listener_%s%s %s\nmpquic_listener_%s%s %.17g\n", key,
			    sfx, gauge ? "gauge" : "counter", key, sfx, json_number_value(v));
		}
	}
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	return o.buf;
}
