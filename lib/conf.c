/* SPDX-License-Identifier: MIT */
/*
 * Configuration loader: one JSON document (jansson) → validated plain structs (conf.h).
 *
 * One walk over the document collects every problem into conf_errors as
 * "file: json.path: message" ("file:line:col: message" for JSON syntax errors); the load fails
 * if there was any. Parsed lists keep their JSON positions (a bad element stays zeroed), so
 * the cross checks that run afterwards (references, uniqueness, overlaps) still name the right
 * element while other errors are being reported. The json_t tree is dropped before returning.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf.h"
#include "pktsize.h"

#define MAX_ERRORS   1000 /* then one last line says how many more were found */
#define PATH_LEN     256  /* "clients[4095].tunnels[4095].address[255]" and keys */
#define VAL_LEN	     80	  /* a value quoted in a message */
#define KNOWN_LEN    256  /* "(known: a, b, c)" */
#define KNOWN_MAX    10	  /* names listed in "(known: ...)" */
#define NAME_MAX_IF  (IF_NAMESIZE - 1)
#define TABLE_MAX    0xfffffeffu /* the kernel's RT_TABLE_MAX is 0xffffffff; keep headroom */
#define PRIO_MAX     32765	 /* 32766 main, 32767 default */
#define TIMER_MAX_MS 3600000u	 /* one hour */

struct loader {
	const char *file;	  /* borrowed: the path as given */
	char *dir;		  /* owned: the file's directory, NULL for the current one */
	unsigned flags;		  /* CONF_NO_FILE_CHECKS */
	struct conf *c;		  /* owned until handed to the caller */
	struct conf_errors *errs; /* borrowed */
	size_t n_errors;	  /* found, including those past MAX_ERRORS */
	bool oom;
	const char **tunnel_class; /* owned array of borrowed (json) names, per client tunnel */
};

struct name_val {
	const char *name;
	int val;
};

/* ---- messages ---- */

static void add_msg(struct loader *l, char *m)
{
	char **v;

	if (!m) {
		l->oom = true;
		return;
	}
	v = realloc(l->errs->msg, (l->errs->n + 1) * sizeof(*v));
	if (!v) {
		free(m);
		l->oom = true;
		return;
	}
	v[l->errs->n++] = m;
	l->errs->msg = v;
}

__attribute__((format(printf, 3, 4))) static void errf(struct loader *l, const char *path,
						       const char *fmt, ...)
{
	char *msg = NULL, *m = NULL;
	va_list ap;
	int r;

	if (l->n_errors++ >= MAX_ERRORS)
		return;
	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0) {
		l->oom = true;
		return;
	}
	if (asprintf(&m, "%s: %s: %s", l->file, path, msg) < 0)
		m = NULL;
	free(msg);
	add_msg(l, m);
}

/*
 * Render a user string between quote characters q, escaping quotes, backslashes and control
 * characters, cut (at a UTF-8 boundary) with "..." when long. Returns buf.
 */
static char *quote(const char *s, size_t len, char q, char *buf, size_t size)
{
	size_t o = 0, limit = size - 12; /* room for an escape, "...", quote and NUL */

	buf[o++] = q;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (o >= limit && (ch & 0xc0) != 0x80) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == (unsigned char)q || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			o += (size_t)snprintf(buf + o, size - o, "\\u%04x", ch);
		} else {
			buf[o++] = (char)ch;
		}
	}
	buf[o++] = q;
	buf[o] = '\0';
	return buf;
}

/* 'path', never cut: the whole of a file name matters. Returns NULL on ENOMEM (free it). */
static char *sq_alloc(const char *s)
{
	size_t size = strlen(s) * 6 + 16; /* every byte may become "\u00XX" */
	char *buf = malloc(size);

	return buf ? quote(s, strlen(s), '\'', buf, size) : NULL;
}

/* 'name' for messages about names and references. */
static char *sq(const char *s, char *buf, size_t size)
{
	return quote(s, strlen(s), '\'', buf, size);
}

/* A JSON value as a message shows it: "string", 42, true, an object. */
static const char *show(const json_t *v, char *buf, size_t size)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return quote(json_string_value(v), json_string_length(v), '"', buf, size);
	case JSON_INTEGER:
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	case JSON_REAL:
		snprintf(buf, size, "%g", json_real_value(v));
		return buf;
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	case JSON_NULL:
		return "null";
	}
	return "?";
}

/* "parent.key" (control characters of the key shown as '?'). */
static const char *kpath(char *buf, const char *parent, const char *key)
{
	size_t start = 0;

	if (parent[0]) {
		snprintf(buf, PATH_LEN, "%s.", parent);
		start = strlen(buf);
	}
	snprintf(buf + start, PATH_LEN - start, "%s", key);
	for (char *p = buf + start; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return buf;
}

/* "parent[i]" */
static const char *ipath(char *buf, const char *parent, size_t i)
{
	if (snprintf(buf, PATH_LEN, "%s[%zu]", parent, i) >= PATH_LEN)
		strcpy(buf + PATH_LEN - 4, "...");
	return buf;
}

/* ---- typed values ---- */

static bool want_object(struct loader *l, const char *path, const json_t *v)
{
	char vb[VAL_LEN];

	if (json_is_object(v))
		return true;
	errf(l, path, "expected an object, got %s", show(v, vb, sizeof(vb)));
	return false;
}

static bool get_str(struct loader *l, const char *path, const json_t *v, const char **ret)
{
	char vb[VAL_LEN];

	if (!json_is_string(v)) {
		errf(l, path, "expected a string, got %s", show(v, vb, sizeof(vb)));
		return false;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		errf(l, path, "%s contains a NUL character", show(v, vb, sizeof(vb)));
		return false;
	}
	*ret = json_string_value(v);
	return true;
}

static bool get_bool(struct loader *l, const char *path, const json_t *v, bool *ret)
{
	char vb[VAL_LEN];

	if (!json_is_boolean(v)) {
		errf(l, path, "expected true or false, got %s", show(v, vb, sizeof(vb)));
		return false;
	}
	*ret = json_is_true(v);
	return true;
}

/* A duration in milliseconds, integer or fractional, 0..max_ms, kept in microseconds. */
static bool get_ms_us(struct loader *l, const char *path, const json_t *v, uint32_t max_ms,
		      uint32_t *ret_us)
{
	char vb[VAL_LEN];
	double x;

	if (!json_is_number(v)) {
		errf(l, path, "expected a number of milliseconds 0..%" PRIu32 ", got %s", max_ms,
		     show(v, vb, sizeof(vb)));
		return false;
	}
	x = json_number_value(v);
	if (!(x >= 0 && x <= max_ms)) {
		errf(l, path, "%s out of range 0..%" PRIu32, show(v, vb, sizeof(vb)), max_ms);
		return false;
	}
	*ret_us = (uint32_t)(x * 1000 + 0.5);
	return true;
}

static bool get_uint(struct loader *l, const char *path, const json_t *v, uint32_t min,
		     uint32_t max, uint32_t *ret)
{
	char vb[VAL_LEN];
	json_int_t x;

	if (!json_is_integer(v)) {
		errf(l, path, "expected an integer %" PRIu32 "..%" PRIu32 ", got %s", min, max,
		     show(v, vb, sizeof(vb)));
		return false;
	}
	x = json_integer_value(v);
	if (x < (json_int_t)min || x > (json_int_t)max) {
		errf(l, path, "%" JSON_INTEGER_FORMAT " out of range %" PRIu32 "..%" PRIu32, x, min,
		     max);
		return false;
	}
	*ret = (uint32_t)x;
	return true;
}

/* The list of choices as `"a", "b" or "c"` into buf. */
static const char *choices(const struct name_val *nv, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; nv[i].name && o < size; i++) {
		const char *sep = i == 0 ? "" : nv[i + 1].name ? ", " : " or ";

		o += (size_t)snprintf(buf + o, size - o, "%s\"%s\"", sep, nv[i].name);
	}
	return buf;
}

static bool get_enum(struct loader *l, const char *path, const json_t *v, const struct name_val *nv,
		     int *ret)
{
	char vb[VAL_LEN], cb[160];

	if (json_is_string(v)) {
		for (size_t i = 0; nv[i].name; i++) {
			if (strcmp(json_string_value(v), nv[i].name) == 0) {
				*ret = nv[i].val;
				return true;
			}
		}
	}
	errf(l, path, "expected %s, got %s", choices(nv, cb, sizeof(cb)), show(v, vb, sizeof(vb)));
	return false;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONF_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-'))
			return false;
	return true;
}

/* A name of tunnels, classes, WANs: [A-Za-z0-9_.-]{1,32}. */
static bool get_name(struct loader *l, const char *path, const json_t *v, const char **ret)
{
	char vb[VAL_LEN];
	const char *s;

	if (!json_is_string(v)) {
		errf(l, path, "expected a name (string), got %s", show(v, vb, sizeof(vb)));
		return false;
	}
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v) || !valid_name(s)) {
		errf(l, path, "expected a name of 1..%d characters from A-Z a-z 0-9 _ . -, got %s",
		     CONF_NAME_MAX, show(v, vb, sizeof(vb)));
		return false;
	}
	*ret = s;
	return true;
}

static bool valid_ifname(const char *s)
{
	if (!s[0] || strlen(s) > NAME_MAX_IF || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '/' || *s == ':' || *s == 0x7f)
			return false;
	return true;
}

/* A network interface name: 1..15 characters, no '/', ':' or white space. */
static bool get_ifname(struct loader *l, const char *path, const json_t *v, char *out)
{
	char vb[VAL_LEN];
	const char *s;

	if (!get_str(l, path, v, &s))
		return false;
	if (strlen(s) > NAME_MAX_IF) {
		errf(l, path, "interface name %s is longer than %d characters",
		     show(v, vb, sizeof(vb)), NAME_MAX_IF);
		return false;
	}
	if (!valid_ifname(s)) {
		errf(l, path, "expected an interface name (no '/', ':' or spaces), got %s",
		     show(v, vb, sizeof(vb)));
		return false;
	}
	strcpy(out, s);
	return true;
}

/* An IP address without a prefix length, as a host prefix (/32, /128). */
static bool get_ip(struct loader *l, const char *path, const json_t *v, struct mpq_prefix *ret)
{
	char vb[VAL_LEN];
	const char *s;

	if (!get_str(l, path, v, &s))
		return false;
	if (strchr(s, '/') || mpq_prefix_parse(s, 0, ret) < 0) {
		errf(l, path, "expected an IP address, got %s", show(v, vb, sizeof(vb)));
		return false;
	}
	return true;
}

/* A prefix: flags MPQ_PREFIX_KEEP_HOST (interface address) or MPQ_PREFIX_STRICT (route). */
static bool get_prefix(struct loader *l, const char *path, const json_t *v, unsigned flags,
		       struct mpq_prefix *ret)
{
	char vb[VAL_LEN], pb[MPQ_PREFIX_STRLEN];
	struct mpq_prefix p;
	const char *s;

	if (!get_str(l, path, v, &s))
		return false;
	if (mpq_prefix_parse(s, flags, ret) == 0)
		return true;
	if ((flags & MPQ_PREFIX_STRICT) && mpq_prefix_parse(s, 0, &p) == 0)
		errf(l, path, "%s has host bits set (did you mean %s?)", show(v, vb, sizeof(vb)),
		     mpq_prefix_format(&p, pb, sizeof(pb)));
	else
		errf(l, path,
		     "expected an IP prefix such as \"192.0.2.0/24\" or \"2001:db8::/32\", "
		     "got %s",
		     show(v, vb, sizeof(vb)));
	return false;
}

/*
 * An array of at most max elements: returns how many to walk (0 on a type error). A longer
 * array is reported and cut.
 */
static size_t get_array(struct loader *l, const char *path, const json_t *v, size_t max,
			bool nonempty)
{
	char vb[VAL_LEN];
	size_t n;

	if (!json_is_array(v)) {
		errf(l, path, "expected an array, got %s", show(v, vb, sizeof(vb)));
		return 0;
	}
	n = json_array_size(v);
	if (nonempty && n == 0)
		errf(l, path, "must not be empty");
	if (n > max) {
		errf(l, path, "%zu entries, at most %zu", n, max);
		n = max;
	}
	return n;
}

static void *alloc_array(struct loader *l, size_t n, size_t size)
{
	void *p;

	if (n == 0)
		return NULL;
	p = calloc(n, size);
	if (!p)
		l->oom = true;
	return p;
}

/* A list of prefixes, keeping JSON positions (a bad entry stays zeroed: family 0). */
static void get_prefix_list(struct loader *l, const char *path, const json_t *v, unsigned flags,
			    bool nonempty, struct mpq_prefix **ret, size_t *ret_n)
{
	char p[PATH_LEN];
	size_t n = get_array(l, path, v, CONF_MAX_PREFIXES, nonempty);

	*ret = alloc_array(l, n, sizeof(**ret));
	if (!*ret)
		return;
	*ret_n = n;
	for (size_t i = 0; i < n; i++)
		get_prefix(l, ipath(p, path, i), json_array_get(v, i), flags, &(*ret)[i]);
}

/*
 * Reject keys not in allowed[] (NULL-terminated); keys of the other role's list say so.
 */
static void check_keys(struct loader *l, const char *path, json_t *obj, const char *const *allowed,
		       const char *const *other, const char *role)
{
	const char *key;
	char p[PATH_LEN];
	json_t *v;

	json_object_foreach (obj, key, v) {
		bool ok = false, elsewhere = false;

		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = strcmp(key, allowed[i]) == 0;
		for (size_t i = 0; other && other[i] && !ok && !elsewhere; i++)
			elsewhere = strcmp(key, other[i]) == 0;
		if (elsewhere)
			errf(l, kpath(p, path, key), "not allowed for role %s", role);
		else if (!ok)
			errf(l, kpath(p, path, key), "unknown key");
	}
}

static json_t *required(struct loader *l, const char *path, json_t *obj, const char *key)
{
	char p[PATH_LEN];
	json_t *v = json_object_get(obj, key);

	if (!v)
		errf(l, kpath(p, path, key), "required");
	return v;
}

/* "a, b, c" from the name member of n structs (empty names skipped). */
static const char *names_list(char *buf, size_t size, const void *base, size_t stride, size_t off,
			      size_t n)
{
	size_t o = 0, shown = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o < size; i++) {
		const char *name = (const char *)base + i * stride + off;

		if (!name[0])
			continue;
		if (shown == KNOWN_MAX) {
			snprintf(buf + o, size - o, ", ...");
			break;
		}
		o += (size_t)snprintf(buf + o, size - o, "%s%s", shown ? ", " : "", name);
		shown++;
	}
	if (!shown)
		snprintf(buf, size, "none");
	return buf;
}

#define NAMES(buf, arr, n) \
	names_list(buf, sizeof(buf), arr, sizeof(*(arr)), offsetof(typeof(*(arr)), name), n)

/* Index of the entry named name, or -1 (empty names never match). */
static int find_name(const void *base, size_t stride, size_t off, size_t n, const char *name)
{
	if (!name || !name[0])
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strcmp((const char *)base + i * stride + off, name) == 0)
			return (int)i;
	return -1;
}

#define FIND(arr, n, key) find_name(arr, sizeof(*(arr)), offsetof(typeof(*(arr)), name), n, key)

/* Report names used twice in a list: "list[j].what: 'x' is already used by list[i]". */
static void check_unique(struct loader *l, const char *list, const char *what, const void *base,
			 size_t stride, size_t off, size_t n)
{
	char p[PATH_LEN], nb[VAL_LEN];

	for (size_t j = 1; j < n; j++) {
		const char *b = (const char *)base + j * stride + off;

		if (!b[0])
			continue;
		for (size_t i = 0; i < j; i++) {
			if (strcmp((const char *)base + i * stride + off, b) == 0) {
				snprintf(p, sizeof(p), "%s[%zu].%s", list, j, what);
				errf(l, p, "%s is already used by %s[%zu]", sq(b, nb, sizeof(nb)),
				     list, i);
				break;
			}
		}
	}
}

/* ---- common keys ---- */

static const struct name_val log_levels[] = {
	{"debug", CONF_LOG_DEBUG},     {"info", CONF_LOG_INFO}, {"notice", CONF_LOG_NOTICE},
	{"warning", CONF_LOG_WARNING}, {"error", CONF_LOG_ERR}, {NULL, 0},
};

static const struct name_val ccs[] = {
	{"cubic", CONF_CC_CUBIC},
	{"bbr", CONF_CC_BBR},
	{"reno", CONF_CC_RENO},
	{NULL, 0},
};

#define DELAY_TARGET_MAX_MS 1000

#define Q_KEEPALIVE 0x1
#define Q_IDLE	    0x2
#define Q_BMIN	    0x4
#define Q_BMAX	    0x8

static const char *const quic_keys[] = {
	"keepalive_ms", "idle_timeout_ms", "backoff_min_ms",  "backoff_max_ms",
	"mtu",		"congestion",	   "delay_target_ms", NULL,
};

/* The limits are lib/pktsize.h's: an mtu the data path cannot carry is refused here. */
static bool get_mtu(struct loader *l, const char *path, const json_t *v, uint32_t *ret)
{
	struct pktsize ps;
	uint32_t m;

	if (!get_uint(l, path, v, 0, UINT32_MAX, &m))
		return false;
	if (pktsize_init(&ps, m) < 0) {
		errf(l, path,
		     "%" PRIu32 " out of range: 0 (%d) or %d..%d (the largest inner packet one "
		     "QUIC DATAGRAM frame carries)",
		     m, PKTSIZE_MTU_DEFAULT, PKTSIZE_MTU_MIN, PKTSIZE_MAX_INNER);
		return false;
	}
	*ret = m;
	return true;
}

/* The QUIC keys present in obj override *q (the defaults, or a copy of them). */
static void parse_quic(struct loader *l, const char *path, json_t *obj, struct conf_quic *q)
{
	unsigned set = 0;
	char p[PATH_LEN];
	json_t *v;
	int cc;

	if ((v = json_object_get(obj, "keepalive_ms")) &&
	    get_uint(l, kpath(p, path, "keepalive_ms"), v, 0, TIMER_MAX_MS, &q->keepalive_ms))
		set |= Q_KEEPALIVE;
	if ((v = json_object_get(obj, "idle_timeout_ms")) &&
	    get_uint(l, kpath(p, path, "idle_timeout_ms"), v, 0, TIMER_MAX_MS, &q->idle_timeout_ms))
		set |= Q_IDLE;
	if ((v = json_object_get(obj, "backoff_min_ms")) &&
	    get_uint(l, kpath(p, path, "backoff_min_ms"), v, 1, TIMER_MAX_MS, &q->backoff_min_ms))
		set |= Q_BMIN;
	if ((v = json_object_get(obj, "backoff_max_ms")) &&
	    get_uint(l, kpath(p, path, "backoff_max_ms"), v, 1, TIMER_MAX_MS, &q->backoff_max_ms))
		set |= Q_BMAX;
	if ((v = json_object_get(obj, "mtu")))
		get_mtu(l, kpath(p, path, "mtu"), v, &q->mtu);
	if ((v = json_object_get(obj, "congestion")) &&
	    get_enum(l, kpath(p, path, "congestion"), v, ccs, &cc))
		q->cc = (enum conf_cc)cc;
	if ((v = json_object_get(obj, "delay_target_ms")))
		get_ms_us(l, kpath(p, path, "delay_target_ms"), v, DELAY_TARGET_MAX_MS,
			  &q->delay_target_us);

	/* Report a bad pair where it was written: inherited pairs were reported at "defaults". */
	if ((set & (Q_KEEPALIVE | Q_IDLE)) && q->keepalive_ms && q->idle_timeout_ms &&
	    q->idle_timeout_ms <= q->keepalive_ms) {
		if (set & Q_IDLE)
			errf(l, kpath(p, path, "idle_timeout_ms"),
			     "%" PRIu32 " must exceed keepalive_ms %" PRIu32 " (or be 0)",
			     q->idle_timeout_ms, q->keepalive_ms);
		else
			errf(l, kpath(p, path, "keepalive_ms"),
			     "%" PRIu32 " must be below idle_timeout_ms %" PRIu32 " (or be 0)",
			     q->keepalive_ms, q->idle_timeout_ms);
	}
	if ((set & (Q_BMIN | Q_BMAX)) && q->backoff_max_ms < q->backoff_min_ms) {
		if (set & Q_BMAX)
			errf(l, kpath(p, path, "backoff_max_ms"),
			     "%" PRIu32 " is below backoff_min_ms %" PRIu32, q->backoff_max_ms,
			     q->backoff_min_ms);
		else
			errf(l, kpath(p, path, "backoff_min_ms"),
			     "%" PRIu32 " is above backoff_max_ms %" PRIu32, q->backoff_min_ms,
			     q->backoff_max_ms);
	}
}

static void parse_defaults(struct loader *l, json_t *v)
{
	if (!want_object(l, "defaults", v))
		return;
	check_keys(l, "defaults", v, quic_keys, NULL, NULL);
	parse_quic(l, "defaults", v, &l->c->defaults);
}

/* A TLS file: relative to the configuration's directory; must be readable unless told not. */
static void get_tls_file(struct loader *l, const char *path, const json_t *v, char **ret)
{
	struct stat st;
	const char *s;
	char *q;
	int fd, err = 0;

	if (!get_str(l, path, v, &s))
		return;
	if (!s[0]) {
		errf(l, path, "expected a file name, got \"\"");
		return;
	}
	if (s[0] == '/' || !l->dir)
		*ret = strdup(s);
	else if (asprintf(ret, "%s/%s", strcmp(l->dir, "/") == 0 ? "" : l->dir, s) < 0)
		*ret = NULL;
	if (!*ret) {
		l->oom = true;
		return;
	}
	if (l->flags & CONF_NO_FILE_CHECKS)
		return;
	/* O_NONBLOCK: a FIFO must not hang the check. */
	fd = open(*ret, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		err = errno;
	else if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode))
		err = -1;
	if (fd >= 0)
		close(fd);
	if (!err)
		return;
	q = sq_alloc(*ret);
	if (!q) {
		l->oom = true;
		return;
	}
	if (err > 0)
		errf(l, path, "cannot read %s: %s", q, strerror(err));
	else
		errf(l, path, "%s is not a regular file", q);
	free(q);
}

static void parse_tls(struct loader *l, json_t *v)
{
	static const char *const client_keys[] = {"ca", "cert", "key", NULL};
	static const char *const server_keys[] = {"cert", "key", "client_ca", NULL};
	static const char *const client_only[] = {"ca", NULL};
	static const char *const server_only[] = {"client_ca", NULL};
	bool client = l->c->role == CONF_ROLE_CLIENT;
	const char *const *keys = client ? client_keys : server_keys;
	struct conf_tls *t = &l->c->tls;
	json_t *f;

	if (!v) {
		errf(l, "tls", "required (%s)",
		     client ? "\"ca\", \"cert\" and \"key\""
			    : "\"cert\", \"key\" and \"client_ca\"");
		return;
	}
	if (!want_object(l, "tls", v))
		return;
	check_keys(l, "tls", v, keys, client ? server_only : client_only,
		   client ? "client" : "server");
	if (client && (f = required(l, "tls", v, "ca")))
		get_tls_file(l, "tls.ca", f, &t->ca);
	if ((f = required(l, "tls", v, "cert")))
		get_tls_file(l, "tls.cert", f, &t->cert);
	if ((f = required(l, "tls", v, "key")))
		get_tls_file(l, "tls.key", f, &t->key);
	if (!client && (f = required(l, "tls", v, "client_ca")))
		get_tls_file(l, "tls.client_ca", f, &t->client_ca);
}

static void parse_control_socket(struct loader *l, const json_t *v)
{
	struct sockaddr_un sun;
	char vb[VAL_LEN];
	const char *s;

	if (!get_str(l, "control_socket", v, &s))
		return;
	if (s[0] != '/') {
		errf(l, "control_socket", "expected an absolute path, got %s",
		     show(v, vb, sizeof(vb)));
		return;
	}
	if (strlen(s) >= sizeof(sun.sun_path)) {
		errf(l, "control_socket", "%s is longer than %zu characters",
		     show(v, vb, sizeof(vb)), sizeof(sun.sun_path) - 1);
		return;
	}
	free(l->c->control_socket);
	l->c->control_socket = strdup(s);
	if (!l->c->control_socket)
		l->oom = true;
}

/* ---- client ---- */

/* A DNS name: dot-separated labels of letters, digits and '-', 1..63 each, 253 in all. */
static bool valid_dns_name(const char *s)
{
	size_t label = 0, n = strlen(s);

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char ch = s[i];

		if (ch == '.' || ch == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			   (ch >= '0' && ch <= '9') || (ch == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

static void parse_server_peer(struct loader *l, json_t *v)
{
	static const char *const keys[] = {"address", "port", "name", NULL};
	struct conf *c = l->c;
	bool addr_has_port = false, have_port = false;
	uint32_t port = 443;
	const char *s;
	char vb[VAL_LEN];
	json_t *a, *n, *pt;

	if (!v) {
		errf(l, "server", "required (\"address\" and \"name\")");
		return;
	}
	if (!want_object(l, "server", v))
		return;
	check_keys(l, "server", v, keys, NULL, NULL);
	if ((pt = json_object_get(v, "port")))
		have_port = get_uint(l, "server.port", pt, 1, 65535, &port);
	if ((a = required(l, "server", v, "address")) && get_str(l, "server.address", a, &s)) {
		struct sockaddr_storage ss;
		socklen_t len;

		if (mpq_sockaddr_parse(s, 0, &ss, &len) == 0) {
			addr_has_port = true;
		} else if (mpq_sockaddr_parse(s, (int)port, &ss, &len) < 0) {
			errf(l, "server.address",
			     "expected an IP address with an optional port (\"192.0.2.1\", "
			     "\"192.0.2.1:443\", \"[2001:db8::1]:443\"), got %s",
			     show(a, vb, sizeof(vb)));
			len = 0;
		}
		if (len) {
			uint16_t ap = ss.ss_family == AF_INET
					      ? ((struct sockaddr_in *)&ss)->sin_port
					      : ((struct sockaddr_in6 *)&ss)->sin6_port;

			if (addr_has_port && have_port && ntohs(ap) != port)
				errf(l, "server.port",
				     "%" PRIu32 " differs from the port in server.address %s", port,
				     show(a, vb, sizeof(vb)));
			c->server_addr = ss;
			c->server_addr_len = len;
		}
	}
	if ((n = required(l, "server", v, "name")) && get_str(l, "server.name", n, &s)) {
		if (!valid_dns_name(s)) {
			errf(l, "server.name", "expected a DNS name, got %s",
			     show(n, vb, sizeof(vb)));
		} else {
			c->server_name = strdup(s);
			if (!c->server_name)
				l->oom = true;
		}
	}
}

static bool get_table(struct loader *l, const char *path, const json_t *v, uint32_t *ret)
{
	uint32_t t;

	if (!get_uint(l, path, v, 1, TABLE_MAX, &t))
		return false;
	if (t >= 253 && t <= 255) {
		errf(l, path,
		     "%" PRIu32 " is a reserved routing table (253 default, 254 main, "
		     "255 local)",
		     t);
		return false;
	}
	*ret = t;
	return true;
}

static void parse_wans(struct loader *l, json_t *v)
{
	static const char *const keys[] = {"name",  "interface",    "source", "gateway",
					   "table", "keepalive_ms", NULL};
	struct conf *c = l->c;
	size_t n = get_array(l, "wans", v, CONF_MAX_WANS, false);
	char p[PATH_LEN], q[PATH_LEN], vb[VAL_LEN];

	c->wans = alloc_array(l, n, sizeof(*c->wans));
	if (!c->wans)
		return;
	c->n_wans = n;
	for (size_t i = 0; i < n; i++) {
		struct conf_wan *w = &c->wans[i];
		json_t *o = json_array_get(v, i), *x;
		const char *s;

		ipath(p, "wans", i);
		w->table = 200 + (uint32_t)i;
		if (!want_object(l, p, o))
			continue;
		check_keys(l, p, o, keys, NULL, NULL);
		if ((x = required(l, p, o, "name")) && get_name(l, kpath(q, p, "name"), x, &s))
			strcpy(w->name, s);
		if ((x = required(l, p, o, "interface")))
			get_ifname(l, kpath(q, p, "interface"), x, w->interface);
		if ((x = json_object_get(o, "source")) &&
		    get_ip(l, kpath(q, p, "source"), x, &w->source))
			w->has_source = true;
		if ((x = json_object_get(o, "gateway"))) {
			kpath(q, p, "gateway");
			if (json_is_string(x) && strcmp(json_string_value(x), "auto") == 0)
				w->gw_mode = CONF_GW_AUTO;
			else if (json_is_string(x) && strcmp(json_string_value(x), "none") == 0)
				w->gw_mode = CONF_GW_NONE;
			else if (json_is_string(x) && !strchr(json_string_value(x), '/') &&
				 mpq_prefix_parse(json_string_value(x), 0, &w->gateway) == 0)
				w->gw_mode = CONF_GW_STATIC;
			else
				errf(l, q, "expected \"auto\", \"none\" or an IP address, got %s",
				     show(x, vb, sizeof(vb)));
		}
		if ((x = json_object_get(o, "table")))
			get_table(l, kpath(q, p, "table"), x, &w->table);
		if ((x = json_object_get(o, "keepalive_ms")))
			get_uint(l, kpath(q, p, "keepalive_ms"), x, 0, TIMER_MAX_MS,
				 &w->keepalive_ms);
	}
	check_unique(l, "wans", "name", c->wans, sizeof(*c->wans), offsetof(struct conf_wan, name),
		     n);
	for (size_t j = 1; j < n; j++) {
		for (size_t i = 0; i < j; i++) {
			if (c->wans[i].table == c->wans[j].table) {
				snprintf(p, sizeof(p), "wans[%zu].table", j);
				errf(l, p, "routing table %" PRIu32 " is already used by wans[%zu]",
				     c->wans[j].table, i);
				break;
			}
		}
	}
}

static void parse_tunnels(struct loader *l, json_t *v)
{
	static const char *const keys[] = {"name",
					   "class",
					   "wan",
					   "tun",
					   "keepalive_ms",
					   "idle_timeout_ms",
					   "backoff_min_ms",
					   "backoff_max_ms",
					   "mtu",
					   "congestion",
					   "delay_target_ms",
					   NULL};
	struct conf *c = l->c;
	char p[PATH_LEN], q[PATH_LEN], nb[VAL_LEN], kb[KNOWN_LEN];
	size_t n;

	if (!v) {
		errf(l, "tunnels", "required (at least one tunnel)");
		return;
	}
	n = get_array(l, "tunnels", v, CONF_MAX_TUNNELS, true);
	c->tunnels = alloc_array(l, n, sizeof(*c->tunnels));
	l->tunnel_class = alloc_array(l, n, sizeof(*l->tunnel_class));
	if (!c->tunnels || !l->tunnel_class)
		return;
	c->n_tunnels = n;
	for (size_t i = 0; i < n; i++) {
		struct conf_tunnel *t = &c->tunnels[i];
		json_t *o = json_array_get(v, i), *x;
		bool named = false;
		const char *s;

		ipath(p, "tunnels", i);
		t->wan = -1;
		t->class_idx = -1;
		t->quic = c->defaults;
		if (!want_object(l, p, o))
			continue;
		check_keys(l, p, o, keys, NULL, NULL);
		if ((x = required(l, p, o, "name")) && get_name(l, kpath(q, p, "name"), x, &s)) {
			strcpy(t->name, s);
			named = true;
		}
		if ((x = json_object_get(o, "wan")) && get_name(l, kpath(q, p, "wan"), x, &s)) {
			t->wan = FIND(c->wans, c->n_wans, s);
			if (t->wan < 0)
				errf(l, q, "unknown WAN %s (known: %s)", sq(s, nb, sizeof(nb)),
				     NAMES(kb, c->wans, c->n_wans));
		}
		/* Resolved once the classes are parsed (resolve_classes()). */
		if ((x = json_object_get(o, "class")) && get_name(l, kpath(q, p, "class"), x, &s))
			l->tunnel_class[i] = s;
		if ((x = json_object_get(o, "tun"))) {
			get_ifname(l, kpath(q, p, "tun"), x, t->tun);
		} else if (named) {
			if (snprintf(t->tun, sizeof(t->tun), "mpq-%s", t->name) >=
			    (int)sizeof(t->tun)) {
				t->tun[0] = '\0';
				errf(l, kpath(q, p, "tun"),
				     "the default 'mpq-%s' is longer than %d characters; set "
				     "\"tun\"",
				     t->name, NAME_MAX_IF);
			}
		}
		parse_quic(l, p, o, &t->quic);
	}
	check_unique(l, "tunnels", "name", c->tunnels, sizeof(*c->tunnels),
		     offsetof(struct conf_tunnel, name), n);
	check_unique(l, "tunnels", "tun", c->tunnels, sizeof(*c->tunnels),
		     offsetof(struct conf_tunnel, tun), n);
	for (size_t i = 0; i < n; i++) {
		for (size_t w = 0; w < c->n_wans; w++) {
			if (c->tunnels[i].tun[0] &&
			    strcmp(c->tunnels[i].tun, c->wans[w].interface) == 0) {
				snprintf(p, sizeof(p), "tunnels[%zu].tun", i);
				errf(l, p, "%s is the interface of wans[%zu]",
				     sq(c->tunnels[i].tun, nb, sizeof(nb)), w);
			}
		}
	}
}

static const struct name_val dscps[] = {
	{"cs0", 0},   {"cs1", 8},   {"cs2", 16},  {"cs3", 24},	{"cs4", 32},  {"cs5", 40},
	{"cs6", 48},  {"cs7", 56},  {"af11", 10}, {"af12", 12}, {"af13", 14}, {"af21", 18},
	{"af22", 20}, {"af23", 22}, {"af31", 26}, {"af32", 28}, {"af33", 30}, {"af41", 34},
	{"af42", 36}, {"af43", 38}, {"ef", 46},	  {"va", 44},	{"le", 1},    {NULL, 0},
};

static const struct name_val protos[] = {
	{"tcp", IPPROTO_TCP},	    {"udp", IPPROTO_UDP},   {"icmp", IPPROTO_ICMP},
	{"icmpv6", IPPROTO_ICMPV6}, {"sctp", IPPROTO_SCTP}, {NULL, 0},
};

/* "80", "1024-65535": strict decimal, no signs or spaces. */
static bool parse_port_num(const char *s, size_t len, uint16_t *ret)
{
	unsigned v = 0;

	if (len == 0 || len > 5)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*ret = (uint16_t)v;
	return true;
}

static void get_ports(struct loader *l, const char *path, const json_t *v,
		      struct conf_port_range **ret, size_t *ret_n)
{
	size_t n = get_array(l, path, v, CONF_MAX_PREFIXES, false);
	char p[PATH_LEN], vb[VAL_LEN];

	*ret = alloc_array(l, n, sizeof(**ret));
	if (!*ret)
		return;
	*ret_n = n;
	for (size_t i = 0; i < n; i++) {
		json_t *x = json_array_get(v, i);
		struct conf_port_range *r = &(*ret)[i];
		const char *s, *dash;
		bool ok = false;

		ipath(p, path, i);
		if (json_is_integer(x) && json_integer_value(x) >= 0 &&
		    json_integer_value(x) <= 65535) {
			r->lo = r->hi = (uint16_t)json_integer_value(x);
			ok = true;
		} else if (json_is_string(x)) {
			s = json_string_value(x);
			dash = strchr(s, '-');
			if (dash && parse_port_num(s, (size_t)(dash - s), &r->lo) &&
			    parse_port_num(dash + 1, strlen(dash + 1), &r->hi)) {
				if (r->lo > r->hi) {
					errf(l, p, "range %s is reversed", show(x, vb, sizeof(vb)));
					continue;
				}
				ok = true;
			}
		}
		if (!ok)
			errf(l, p, "expected a port 0..65535 or a \"lo-hi\" range, got %s",
			     show(x, vb, sizeof(vb)));
	}
}

static void get_dscps(struct loader *l, const char *path, const json_t *v, struct conf_match *m)
{
	size_t n = get_array(l, path, v, CONF_MAX_PREFIXES, false);
	char p[PATH_LEN], vb[VAL_LEN];

	m->dscp = alloc_array(l, n, sizeof(*m->dscp));
	if (!m->dscp)
		return;
	m->n_dscp = n;
	for (size_t i = 0; i < n; i++) {
		json_t *x = json_array_get(v, i);
		bool ok = false;

		if (json_is_integer(x) && json_integer_value(x) >= 0 &&
		    json_integer_value(x) <= 63) {
			m->dscp[i] = (uint8_t)json_integer_value(x);
			ok = true;
		} else if (json_is_string(x)) {
			for (size_t k = 0; dscps[k].name && !ok; k++) {
				if (strcasecmp(json_string_value(x), dscps[k].name) == 0) {
					m->dscp[i] = (uint8_t)dscps[k].val;
					ok = true;
				}
			}
		}
		if (!ok)
			errf(l, ipath(p, path, i), "expected a DSCP name or 0..63, got %s",
			     show(x, vb, sizeof(vb)));
	}
}

/* Returns whether the match names anything at all. */
static bool parse_match(struct loader *l, const char *path, json_t *o, struct conf_match *m)
{
	static const char *const keys[] = {"iif", "sport", "dport", "src",
					   "dst", "proto", "dscp",  NULL};
	char p[PATH_LEN], vb[VAL_LEN];
	bool any = false;
	json_t *x;

	m->proto = -1;
	if (!want_object(l, path, o))
		return true; /* reported */
	check_keys(l, path, o, keys, NULL, NULL);
	if ((x = json_object_get(o, "iif"))) {
		size_t n = get_array(l, kpath(p, path, "iif"), x, CONF_MAX_PREFIXES, false);

		m->iif = alloc_array(l, n, sizeof(*m->iif));
		if (m->iif) {
			char q[PATH_LEN];

			m->n_iif = n;
			for (size_t i = 0; i < n; i++)
				get_ifname(l, ipath(q, p, i), json_array_get(x, i), m->iif[i]);
		}
	}
	if ((x = json_object_get(o, "src")))
		get_prefix_list(l, kpath(p, path, "src"), x, MPQ_PREFIX_STRICT, false, &m->src,
				&m->n_src);
	if ((x = json_object_get(o, "dst")))
		get_prefix_list(l, kpath(p, path, "dst"), x, MPQ_PREFIX_STRICT, false, &m->dst,
				&m->n_dst);
	if ((x = json_object_get(o, "proto"))) {
		any = true;
		kpath(p, path, "proto");
		if (json_is_integer(x) && json_integer_value(x) >= 0 &&
		    json_integer_value(x) <= 255) {
			m->proto = (int)json_integer_value(x);
		} else {
			char cb[160];

			for (size_t i = 0; json_is_string(x) && protos[i].name; i++)
				if (strcmp(json_string_value(x), protos[i].name) == 0)
					m->proto = protos[i].val;
			if (m->proto < 0)
				errf(l, p, "expected a protocol name (%s) or 0..255, got %s",
				     choices(protos, cb, sizeof(cb)), show(x, vb, sizeof(vb)));
		}
	}
	if ((x = json_object_get(o, "sport")))
		get_ports(l, kpath(p, path, "sport"), x, &m->sport, &m->n_sport);
	if ((x = json_object_get(o, "dport")))
		get_ports(l, kpath(p, path, "dport"), x, &m->dport, &m->n_dport);
	if ((x = json_object_get(o, "dscp")))
		get_dscps(l, kpath(p, path, "dscp"), x, m);

	for (int k = 0; k < 2; k++) {
		const char *key = k ? "dport" : "sport";

		if (json_object_get(o, key) && m->proto != IPPROTO_TCP && m->proto != IPPROTO_UDP &&
		    m->proto != IPPROTO_SCTP &&
		    !(json_object_get(o, "proto") && m->proto < 0)) /* bad proto: reported */
			errf(l, kpath(p, path, key), "ports need \"proto\" tcp, udp or sctp");
	}
	return any || m->n_iif || m->n_src || m->n_dst || m->n_sport || m->n_dport || m->n_dscp;
}

static void parse_classifier(struct loader *l, json_t *v)
{
	static const char *const keys[] = {"table", "mark_mask", "rule_priority", "table_base",
					   "snat",  "mss_clamp", "set_sysctls",	  NULL};
	struct conf_classifier *k = &l->c->classifier;
	char vb[VAL_LEN];
	const char *s;
	json_t *x;

	if (!want_object(l, "classifier", v))
		return;
	check_keys(l, "classifier", v, keys, NULL, NULL);
	if ((x = json_object_get(v, "table")) && get_name(l, "classifier.table", x, &s))
		strcpy(k->table, s);
	if ((x = json_object_get(v, "mark_mask"))) {
		uint64_t m = 0;
		bool ok = false;

		if (json_is_integer(x)) {
			ok = json_integer_value(x) >= 0 && json_integer_value(x) <= 0xffffffff;
			m = (uint64_t)json_integer_value(x);
		} else if (json_is_string(x)) {
			const char *h = json_string_value(x);
			char *end;

			if ((h[0] == '0' && (h[1] == 'x' || h[1] == 'X')) && h[2] &&
			    strlen(h) <= 10) {
				errno = 0;
				m = strtoull(h + 2, &end, 16);
				ok = !errno && !*end && h[2] != '-' && h[2] != '+' && h[2] != ' ';
			}
		}
		if (!ok) {
			errf(l, "classifier.mark_mask",
			     "expected a 32-bit mask (a number or a \"0x...\" string), got %s",
			     show(x, vb, sizeof(vb)));
		} else {
			uint64_t low = m >> (m ? __builtin_ctzll(m) : 0);

			if (m == 0)
				errf(l, "classifier.mark_mask", "must not be 0");
			else if (low & (low + 1))
				errf(l, "classifier.mark_mask",
				     "0x%08" PRIx64 " is not a contiguous run of bits", m);
			else
				k->mark_mask = (uint32_t)m;
		}
	}
	if ((x = json_object_get(v, "rule_priority")))
		/* The WAN rules use P-11 and P-10, the class rules P and P+1: all between the
		 * local (0) and main (32766) rules. */
		get_uint(l, "classifier.rule_priority", x, 12, PRIO_MAX - 1, &k->rule_priority);
	if ((x = json_object_get(v, "table_base")))
		get_table(l, "classifier.table_base", x, &k->table_base);
	if ((x = json_object_get(v, "snat")))
		get_bool(l, "classifier.snat", x, &k->snat);
	if ((x = json_object_get(v, "mss_clamp")))
		get_bool(l, "classifier.mss_clamp", x, &k->mss_clamp);
	if ((x = json_object_get(v, "set_sysctls")))
		get_bool(l, "classifier.set_sysctls", x, &k->set_sysctls);
}

/* Append tunnel index t to class k's list (room for every tunnel was made). */
static const struct name_val policies[] = {
	{"failover", CONF_POLICY_FAILOVER},
	{"lowest-rtt", CONF_POLICY_LOWEST_RTT},
	{"duplicate", CONF_POLICY_DUPLICATE},
	{NULL, 0},
};

/* A value that is 0 ("automatic") or within lo..hi. */
static void get_auto_uint(struct loader *l, const char *path, const json_t *v, uint32_t lo,
			  uint32_t hi, uint32_t *ret)
{
	uint32_t x;

	if (!get_uint(l, path, v, 0, hi, &x))
		return;
	if (x && x < lo)
		errf(l, path, "%" PRIu32 " out of range: 0 (automatic) or %" PRIu32 "..%" PRIu32, x,
		     lo, hi);
	else
		*ret = x;
}

/* policy and the path-health keys of one class (lib/health.h). */
static void parse_class_health(struct loader *l, const char *p, json_t *o, struct conf_class *k)
{
	struct conf_health *h = &k->health;
	char q[PATH_LEN];
	json_t *x;
	int r;

	if ((x = json_object_get(o, "policy")) &&
	    get_enum(l, kpath(q, p, "policy"), x, policies, &r))
		k->policy = (enum conf_policy)r;
	if ((x = json_object_get(o, "probe_interval_ms")))
		get_uint(l, kpath(q, p, "probe_interval_ms"), x, 10, 60000, &h->probe_interval_ms);
	if ((x = json_object_get(o, "silence_ms")))
		get_auto_uint(l, kpath(q, p, "silence_ms"), x, 50, 600000, &h->silence_ms);
	if ((x = json_object_get(o, "loss_pct")))
		get_uint(l, kpath(q, p, "loss_pct"), x, 0, 100, &h->loss_pct);
	if ((x = json_object_get(o, "max_rtt_ms")))
		get_uint(l, kpath(q, p, "max_rtt_ms"), x, 0, 60000, &h->max_rtt_ms);
	if ((x = json_object_get(o, "recover_ms")))
		get_auto_uint(l, kpath(q, p, "recover_ms"), x, 100, 3600000, &h->recover_ms);
	if (h->silence_ms && h->silence_ms < h->probe_interval_ms)
		errf(l, kpath(q, p, "silence_ms"),
		     "%" PRIu32 " is shorter than probe_interval_ms %" PRIu32
		     ": every quiet interval would look like an outage",
		     h->silence_ms, h->probe_interval_ms);
}

static void class_add_tunnel(struct conf_class *k, size_t t)
{
	k->tunnels[k->n_tunnels++] = t;
}

static void parse_classes(struct loader *l, json_t *v)
{
	static const char *const keys[] = {"name",	 "default",   "match",
					   "tunnels",	 "policy",    "probe_interval_ms",
					   "silence_ms", "loss_pct",  "max_rtt_ms",
					   "recover_ms", "when_down", NULL};
	static const struct name_val when_downs[] = {
		{"drop", CONF_WHEN_DOWN_DROP},
		{"wan", CONF_WHEN_DOWN_WAN},
		{NULL, 0},
	};
	struct conf *c = l->c;
	size_t n = get_array(l, "classes", v, CONF_MAX_CLASSES, false);
	char p[PATH_LEN], q[PATH_LEN], r[PATH_LEN], nb[VAL_LEN], kb[KNOWN_LEN];
	int dflt = -1;

	c->classes = alloc_array(l, n, sizeof(*c->classes));
	if (!c->classes)
		return;
	c->n_classes = n;
	for (size_t i = 0; i < n; i++) {
		struct conf_class *k = &c->classes[i];
		json_t *o = json_array_get(v, i), *x, *m;
		const char *s;

		ipath(p, "classes", i);
		k->match.proto = -1;
		k->health = (struct conf_health){.probe_interval_ms = 100, .loss_pct = 10};
		if (!want_object(l, p, o))
			continue;
		check_keys(l, p, o, keys, NULL, NULL);
		parse_class_health(l, p, o, k);
		if ((x = required(l, p, o, "name")) && get_name(l, kpath(q, p, "name"), x, &s))
			strcpy(k->name, s);
		if ((x = json_object_get(o, "default")))
			get_bool(l, kpath(q, p, "default"), x, &k->is_default);
		if ((x = json_object_get(o, "when_down"))) {
			int wd;

			if (get_enum(l, kpath(q, p, "when_down"), x, when_downs, &wd))
				k->when_down = (enum conf_when_down)wd;
		}
		if (k->is_default) {
			if (dflt >= 0)
				errf(l, kpath(q, p, "default"),
				     "classes[%d] is already the default class", dflt);
			else
				dflt = (int)i;
		}
		m = json_object_get(o, "match");
		if (k->is_default && m)
			errf(l, kpath(q, p, "match"), "not allowed for the default class");
		else if (!k->is_default && !m)
			errf(l, kpath(q, p, "match"),
			     "required for a class that is not the default one");
		else if (m && !parse_match(l, kpath(q, p, "match"), m, &k->match))
			errf(l, q,
			     "empty: give at least one of iif, src, dst, proto, sport, dport, "
			     "dscp");

		/* Room for every tunnel: listed ones first, then those naming this class. */
		k->tunnels = alloc_array(l, c->n_tunnels ? c->n_tunnels : 1, sizeof(*k->tunnels));
		if (!k->tunnels)
			continue;
		if ((x = json_object_get(o, "tunnels"))) {
			size_t nt =
				get_array(l, kpath(q, p, "tunnels"), x, CONF_MAX_TUNNELS, false);

			for (size_t j = 0; j < nt; j++) {
				json_t *e = json_array_get(x, j);
				int t;

				ipath(r, q, j);
				if (!get_name(l, r, e, &s))
					continue;
				t = FIND(c->tunnels, c->n_tunnels, s);
				if (t < 0) {
					errf(l, r, "unknown tunnel %s (known: %s)",
					     sq(s, nb, sizeof(nb)),
					     NAMES(kb, c->tunnels, c->n_tunnels));
				} else if (c->tunnels[t].class_idx == (int)i) {
					errf(l, r, "tunnel %s is listed twice",
					     sq(s, nb, sizeof(nb)));
				} else if (c->tunnels[t].class_idx >= 0) {
					errf(l, r, "tunnel %s already belongs to classes[%d]",
					     sq(s, nb, sizeof(nb)), c->tunnels[t].class_idx);
				} else {
					c->tunnels[t].class_idx = (int)i;
					class_add_tunnel(k, (size_t)t);
				}
			}
		}
	}
	check_unique(l, "classes", "name", c->classes, sizeof(*c->classes),
		     offsetof(struct conf_class, name), n);
}

/* Tunnels' "class" against the classes (and their lists); then marks and tables. */
static void resolve_classes(struct loader *l)
{
	struct conf *c = l->c;
	struct conf_classifier *k = &c->classifier;
	char p[PATH_LEN], p2[PATH_LEN], nb[VAL_LEN], nb2[VAL_LEN], kb[KNOWN_LEN];

	for (size_t i = 0; i < c->n_tunnels && l->tunnel_class; i++) {
		struct conf_tunnel *t = &c->tunnels[i];
		const char *name = l->tunnel_class[i];
		int ci;

		if (!name)
			continue;
		snprintf(p, sizeof(p), "tunnels[%zu].class", i);
		ci = FIND(c->classes, c->n_classes, name);
		if (ci < 0) {
			errf(l, p, "unknown class %s (known: %s)", sq(name, nb, sizeof(nb)),
			     NAMES(kb, c->classes, c->n_classes));
		} else if (t->class_idx >= 0 && t->class_idx != ci) {
			errf(l, p, "%s, but class %s lists this tunnel", sq(name, nb, sizeof(nb)),
			     sq(c->classes[t->class_idx].name, nb2, sizeof(nb2)));
		} else if (t->class_idx < 0 && c->classes[ci].tunnels) {
			t->class_idx = ci;
			class_add_tunnel(&c->classes[ci], i);
		}
	}
	for (size_t i = 0; i < c->n_classes; i++) {
		if (c->classes[i].name[0] && c->classes[i].n_tunnels == 0)
			errf(l, ipath(p, "classes", i),
			     "no tunnel carries class %s (list them in \"tunnels\" or set "
			     "\"class\" on a tunnel)",
			     sq(c->classes[i].name, nb, sizeof(nb)));
	}
	for (size_t i = 0; i < c->n_classes; i++) {
		const struct conf_class *k2 = &c->classes[i];
		bool two = false;

		if (k2->policy != CONF_POLICY_DUPLICATE || !k2->n_tunnels)
			continue;
		for (size_t a = 1; a < k2->n_tunnels && !two; a++)
			two = c->tunnels[k2->tunnels[a]].wan != c->tunnels[k2->tunnels[0]].wan;
		if (!two)
			errf(l, kpath(p, ipath(p2, "classes", i), "policy"),
			     "\"duplicate\" needs tunnels on at least two different WANs in "
			     "class %s",
			     sq(k2->name, nb, sizeof(nb)));
	}

	if (c->n_classes && k->mark_mask) {
		unsigned shift = (unsigned)__builtin_ctz(k->mark_mask);
		uint64_t room = k->mark_mask >> shift;

		if (c->n_classes > room)
			errf(l, "classifier.mark_mask",
			     "0x%08" PRIx32 " has room for %" PRIu64
			     " class marks, but there are %zu "
			     "classes",
			     k->mark_mask, room, c->n_classes);
		else
			for (size_t i = 0; i < c->n_classes; i++)
				c->classes[i].mark = (uint32_t)(i + 1) << shift;
	}
	for (size_t i = 0; i < c->n_classes; i++) {
		uint64_t t = (uint64_t)k->table_base + i;

		if (t > TABLE_MAX || (t >= 253 && t <= 255)) {
			errf(l, "classifier.table_base",
			     "class %s would use routing table %" PRIu64 " (reserved or out of "
			     "range)",
			     sq(c->classes[i].name, nb, sizeof(nb)), t);
			break;
		}
		c->classes[i].table = (uint32_t)t;
		for (size_t w = 0; w < c->n_wans; w++)
			if (c->wans[w].table == t)
				errf(l, ipath(p, "wans", w),
				     "routing table %" PRIu64 " is also the table of class %s "
				     "(classifier.table_base + %zu)",
				     t, sq(c->classes[i].name, nb, sizeof(nb)), i);
	}
}

/* ---- server ---- */

static void parse_listen(struct loader *l, json_t *v)
{
	struct conf *c = l->c;
	size_t n = get_array(l, "listen", v, CONF_MAX_LISTEN, true);
	char p[PATH_LEN], vb[VAL_LEN];
	size_t pos[CONF_MAX_LISTEN]; /* JSON index of each parsed address */

	c->n_listen = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *x = json_array_get(v, i);
		struct sockaddr_storage ss;
		socklen_t len;
		const char *s;
		bool dup = false;

		ipath(p, "listen", i);
		if (!get_str(l, p, x, &s))
			continue;
		if (mpq_sockaddr_parse(s, 443, &ss, &len) < 0) {
			errf(l, p,
			     "expected an IP address with an optional port (\"0.0.0.0:443\", "
			     "\"[::]:443\"), got %s",
			     show(x, vb, sizeof(vb)));
			continue;
		}
		for (size_t j = 0; j < c->n_listen && !dup; j++) {
			if (c->listen_len[j] == len && memcmp(&c->listen[j], &ss, len) == 0) {
				errf(l, p, "%s is the same address as listen[%zu]",
				     show(x, vb, sizeof(vb)), pos[j]);
				dup = true;
			}
		}
		if (dup)
			continue;
		pos[c->n_listen] = i;
		c->listen[c->n_listen] = ss;
		c->listen_len[c->n_listen++] = len;
	}
}

static void parse_server_tun(struct loader *l, json_t *v)
{
	static const char *const keys[] = {"name", "address", "mtu", NULL};
	struct conf *c = l->c;
	json_t *x;

	if (!want_object(l, "tun", v))
		return;
	check_keys(l, "tun", v, keys, NULL, NULL);
	if ((x = json_object_get(v, "name")))
		get_ifname(l, "tun.name", x, c->tun_name);
	if ((x = json_object_get(v, "address")))
		get_prefix_list(l, "tun.address", x, MPQ_PREFIX_KEEP_HOST, false, &c->tun_address,
				&c->n_tun_address);
	if ((x = json_object_get(v, "mtu")))
		get_mtu(l, "tun.mtu", x, &c->tun_mtu);
}

static void parse_limits(struct loader *l, json_t *v)
{
	static const char *const keys[] = {"max_connections", "max_connections_per_client",
					   "max_handshakes", "queue_packets", NULL};
	struct conf_limits *m = &l->c->limits;
	json_t *x;

	if (!want_object(l, "limits", v))
		return;
	check_keys(l, "limits", v, keys, NULL, NULL);
	if ((x = json_object_get(v, "max_connections")))
		get_uint(l, "limits.max_connections", x, 1, 1000000, &m->max_connections);
	if ((x = json_object_get(v, "max_connections_per_client")))
		get_uint(l, "limits.max_connections_per_client", x, 1, 65536,
			 &m->max_connections_per_client);
	if ((x = json_object_get(v, "max_handshakes")))
		get_uint(l, "limits.max_handshakes", x, 1, 1000000, &m->max_handshakes);
	if ((x = json_object_get(v, "queue_packets")))
		get_uint(l, "limits.queue_packets", x, 1, 65536, &m->queue_packets);
	if (m->max_connections_per_client > m->max_connections)
		errf(l, "limits.max_connections_per_client",
		     "%" PRIu32 " is above limits.max_connections %" PRIu32,
		     m->max_connections_per_client, m->max_connections);
}

static bool valid_identity(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONF_IDENTITY_MAX)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static void parse_srv_tunnel(struct loader *l, const char *p, json_t *o, struct conf_srv_tunnel *t)
{
	static const char *const keys[] = {"name", "address", "routes", "delay_target_ms", NULL};
	char q[PATH_LEN];
	const char *s;
	json_t *x;

	t->delay_target_us = l->c->defaults.delay_target_us;
	if (!want_object(l, p, o))
		return;
	check_keys(l, p, o, keys, NULL, NULL);
	if ((x = required(l, p, o, "name")) && get_name(l, kpath(q, p, "name"), x, &s))
		strcpy(t->name, s);
	t->group = -1;
	/* required unless the tunnel is in a group: checked in parse_groups() */
	if ((x = json_object_get(o, "address")))
		get_prefix_list(l, kpath(q, p, "address"), x, MPQ_PREFIX_KEEP_HOST, true,
				&t->address, &t->n_address);
	if ((x = json_object_get(o, "routes")))
		get_prefix_list(l, kpath(q, p, "routes"), x, MPQ_PREFIX_STRICT, false, &t->routes,
				&t->n_routes);
	if ((x = json_object_get(o, "delay_target_ms")))
		get_ms_us(l, kpath(q, p, "delay_target_ms"), x, DELAY_TARGET_MAX_MS,
			  &t->delay_target_us);
}

static struct mpq_prefix *copy_prefixes(struct loader *l, const struct mpq_prefix *a, size_t n)
{
	struct mpq_prefix *r;

	if (!n)
		return NULL;
	r = alloc_array(l, n, sizeof(*r));
	if (r)
		memcpy(r, a, n * sizeof(*r));
	return r;
}

/*
 * clients[i].groups: tunnels of client i sharing inner addresses. The group's addresses and
 * routes are copied into each member; a member has none of its own.
 */
static void parse_groups(struct loader *l, const char *cp, size_t ci, json_t *v, size_t cap)
{
	static const char *const keys[] = {"name", "address", "routes", "tunnels", NULL};
	struct conf *c = l->c;
	struct conf_client *cl = &c->clients[ci];
	char p[PATH_LEN], q[PATH_LEN], r[PATH_LEN], nb[VAL_LEN], kb[KNOWN_LEN];
	size_t n = v ? get_array(l, kpath(p, cp, "groups"), v, CONF_MAX_TUNNELS, false) : 0;
	char gp[PATH_LEN];

	snprintf(gp, sizeof(gp), "%s", p);
	cl->first_group = c->n_srv_groups;
	for (size_t i = 0; i < n && c->n_srv_groups < cap; i++) {
		struct conf_srv_group *g = &c->srv_groups[c->n_srv_groups];
		json_t *o = json_array_get(v, i), *x;
		struct mpq_prefix *addr = NULL, *routes = NULL;
		size_t n_addr = 0, n_routes = 0;
		const char *s;

		ipath(p, gp, i);
		g->client = ci;
		cl->n_groups++;
		c->n_srv_groups++;
		if (!want_object(l, p, o))
			continue;
		check_keys(l, p, o, keys, NULL, NULL);
		if ((x = required(l, p, o, "name")) && get_name(l, kpath(q, p, "name"), x, &s)) {
			for (size_t j = cl->first_group; j + 1 < c->n_srv_groups; j++)
				if (strcmp(c->srv_groups[j].name, s) == 0)
					errf(l, q, "%s is already used by %s[%zu]",
					     sq(s, nb, sizeof(nb)), gp, j - cl->first_group);
			strcpy(g->name, s);
		}
		if ((x = required(l, p, o, "address")))
			get_prefix_list(l, kpath(q, p, "address"), x, MPQ_PREFIX_KEEP_HOST, true,
					&addr, &n_addr);
		if ((x = json_object_get(o, "routes")))
			get_prefix_list(l, kpath(q, p, "routes"), x, MPQ_PREFIX_STRICT, false,
					&routes, &n_routes);
		if ((x = required(l, p, o, "tunnels"))) {
			size_t nt = get_array(l, kpath(q, p, "tunnels"), x, CONF_MAX_TUNNELS, true);

			g->tunnels = alloc_array(l, nt ? nt : 1, sizeof(*g->tunnels));
			for (size_t j = 0; j < nt && g->tunnels; j++) {
				struct conf_srv_tunnel *t = NULL;

				ipath(r, q, j);
				if (!get_name(l, r, json_array_get(x, j), &s))
					continue;
				for (size_t k = 0; k < cl->n_tunnels; k++)
					if (strcmp(c->srv_tunnels[cl->first_tunnel + k].name, s) ==
					    0)
						t = &c->srv_tunnels[cl->first_tunnel + k];
				if (!t) {
					errf(l, r, "unknown tunnel %s (known: %s)",
					     sq(s, nb, sizeof(nb)),
					     NAMES(kb, c->srv_tunnels + cl->first_tunnel,
						   cl->n_tunnels));
					continue;
				}
				if (t->group >= 0) {
					errf(l, r, "tunnel %s already belongs to %s[%zu]",
					     sq(s, nb, sizeof(nb)), gp,
					     (size_t)t->group - cl->first_group);
					continue;
				}
				if (t->n_address || t->n_routes) {
					errf(l, r,
					     "tunnel %s has addresses or routes of its own; a "
					     "tunnel in a group takes the group's",
					     sq(s, nb, sizeof(nb)));
					continue;
				}
				t->group = (int)(g - c->srv_groups);
				g->tunnels[g->n_tunnels++] = (size_t)(t - c->srv_tunnels);
				t->address = copy_prefixes(l, addr, n_addr);
				t->n_address = t->address ? n_addr : 0;
				t->routes = copy_prefixes(l, routes, n_routes);
				t->n_routes = t->routes ? n_routes : 0;
			}
		}
		free(addr);
		free(routes);
	}
	for (size_t k = 0; k < cl->n_tunnels; k++) {
		const struct conf_srv_tunnel *t = &c->srv_tunnels[cl->first_tunnel + k];

		if (t->group < 0 && !t->n_address) {
			char tp[PATH_LEN];

			errf(l, kpath(p, ipath(tp, kpath(q, cp, "tunnels"), k), "address"),
			     "required (or list the tunnel in one of %s.groups)", cp);
		}
	}
}

static void parse_clients(struct loader *l, json_t *v)
{
	static const char *const keys[] = {"identity", "tunnels", "groups", NULL};
	struct conf *c = l->c;
	char p[PATH_LEN], q[PATH_LEN], r[PATH_LEN], vb[VAL_LEN];
	size_t n, total = 0, groups = 0;

	if (!v) {
		errf(l, "clients", "required (at least one client)");
		return;
	}
	n = get_array(l, "clients", v, CONF_MAX_CLIENTS, true);
	for (size_t i = 0; i < n; i++) {
		json_t *ts = json_object_get(json_array_get(v, i), "tunnels");
		json_t *gs = json_object_get(json_array_get(v, i), "groups");

		if (json_is_array(ts))
			total += json_array_size(ts) < CONF_MAX_TUNNELS ? json_array_size(ts)
									: CONF_MAX_TUNNELS;
		if (json_is_array(gs))
			groups += json_array_size(gs) < CONF_MAX_TUNNELS ? json_array_size(gs)
									 : CONF_MAX_TUNNELS;
	}
	if (groups > CONF_MAX_TUNNELS)
		groups = CONF_MAX_TUNNELS; /* more than tunnels: reported per client */
	if (total > CONF_MAX_TUNNELS) {
		errf(l, "clients", "%zu tunnels in all, at most %d", total, CONF_MAX_TUNNELS);
		total = CONF_MAX_TUNNELS;
	}
	c->clients = alloc_array(l, n, sizeof(*c->clients));
	c->srv_tunnels = alloc_array(l, total, sizeof(*c->srv_tunnels));
	c->srv_groups = groups ? alloc_array(l, groups, sizeof(*c->srv_groups)) : NULL;
	if (!c->clients || (total && !c->srv_tunnels) || (groups && !c->srv_groups))
		return;
	c->n_clients = n;
	for (size_t i = 0; i < n; i++) {
		struct conf_client *cl = &c->clients[i];
		json_t *o = json_array_get(v, i), *x;

		ipath(p, "clients", i);
		cl->first_tunnel = c->n_srv_tunnels;
		if (!want_object(l, p, o))
			continue;
		check_keys(l, p, o, keys, NULL, NULL);
		if ((x = required(l, p, o, "identity"))) {
			const char *s;

			if (!get_str(l, kpath(q, p, "identity"), x, &s))
				;
			else if (!valid_identity(s))
				errf(l, q,
				     "expected 1..%d printable characters without spaces, got %s",
				     CONF_IDENTITY_MAX, show(x, vb, sizeof(vb)));
			else
				strcpy(cl->identity, s);
		}
		if ((x = required(l, p, o, "tunnels"))) {
			size_t nt = get_array(l, kpath(q, p, "tunnels"), x, CONF_MAX_TUNNELS, true);

			for (size_t j = 0; j < nt && c->n_srv_tunnels < total; j++) {
				struct conf_srv_tunnel *t = &c->srv_tunnels[c->n_srv_tunnels++];

				t->client = i;
				cl->n_tunnels++;
				parse_srv_tunnel(l, ipath(r, q, j), json_array_get(x, j), t);
			}
		}
		parse_groups(l, p, i, json_object_get(o, "groups"), groups);
	}
	for (size_t j = 1; j < c->n_clients; j++) {
		for (size_t i = 0; i < j && c->clients[j].identity[0]; i++) {
			if (strcmp(c->clients[i].identity, c->clients[j].identity) == 0) {
				snprintf(p, sizeof(p), "clients[%zu].identity", j);
				errf(l, p, "%s is already used by clients[%zu]",
				     sq(c->clients[j].identity, vb, sizeof(vb)), i);
				break;
			}
		}
	}
	for (size_t j = 1; j < c->n_srv_tunnels; j++) {
		struct conf_srv_tunnel *b = &c->srv_tunnels[j];

		for (size_t i = 0; i < j && b->name[0]; i++) {
			struct conf_srv_tunnel *a = &c->srv_tunnels[i];

			if (strcmp(a->name, b->name) == 0) {
				snprintf(p, sizeof(p), "clients[%zu].tunnels[%zu].name", b->client,
					 j - c->clients[b->client].first_tunnel);
				errf(l, p, "%s is already used by clients[%zu].tunnels[%zu]",
				     sq(b->name, vb, sizeof(vb)), a->client,
				     i - c->clients[a->client].first_tunnel);
				break;
			}
		}
	}
}

/* One address or route of a server tunnel, for the overlap check. */
struct ov_entry {
	struct mpq_prefix net; /* host bits cleared */
	const struct mpq_prefix *orig;
	size_t tunnel; /* index into srv_tunnels */
	size_t k;      /* index in its list */
	bool route;
	size_t seq; /* file order */
};

static int ov_cmp(const void *pa, const void *pb)
{
	const struct ov_entry *a = pa, *b = pb;
	int d;

	if (a->net.family != b->net.family)
		return a->net.family < b->net.family ? -1 : 1;
	d = memcmp(a->net.addr, b->net.addr, sizeof(a->net.addr));
	if (d)
		return d;
	if (a->net.len != b->net.len)
		return a->net.len < b->net.len ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static const char *ov_path(const struct conf *c, const struct ov_entry *e, char *buf)
{
	const struct conf_srv_tunnel *t = &c->srv_tunnels[e->tunnel];

	if (t->group >= 0) {
		snprintf(buf, PATH_LEN, "clients[%zu].groups[%zu].%s[%zu]", t->client,
			 (size_t)t->group - c->clients[t->client].first_group,
			 e->route ? "routes" : "address", e->k);
		return buf;
	}

	snprintf(buf, PATH_LEN, "clients[%zu].tunnels[%zu].%s[%zu]", t->client,
		 e->tunnel - c->clients[t->client].first_tunnel, e->route ? "routes" : "address",
		 e->k);
	return buf;
}

/*
 * No address or route of one tunnel may overlap one of another tunnel: inner addresses decide
 * which tunnel a packet belongs to. Prefixes overlap only by containment, so after sorting by
 * network address (shorter first) the prefixes still "open" form a stack of nested ones, and
 * each prefix needs comparing with that stack only: O(n log n) for thousands of tunnels.
 */
static void check_overlaps(struct loader *l)
{
	struct conf *c = l->c;
	struct ov_entry *e, **stack;
	size_t n = 0, depth = 0;
	char pa[PATH_LEN], pb[PATH_LEN], fa[MPQ_PREFIX_STRLEN], fb[MPQ_PREFIX_STRLEN];

	for (size_t t = 0; t < c->n_srv_tunnels; t++)
		n += c->srv_tunnels[t].n_address + c->srv_tunnels[t].n_routes;
	if (n < 2)
		return;
	e = alloc_array(l, n, sizeof(*e));
	stack = alloc_array(l, n, sizeof(*stack));
	if (!e || !stack)
		goto out;
	n = 0;
	for (size_t t = 0; t < c->n_srv_tunnels; t++) {
		const struct conf_srv_tunnel *st = &c->srv_tunnels[t];

		/* a group's prefixes once, with its first member */
		if (st->group >= 0 && c->srv_groups[st->group].tunnels[0] != t)
			continue;
		for (int r = 0; r < 2; r++) {
			const struct mpq_prefix *list = r ? st->routes : st->address;
			size_t cnt = r ? st->n_routes : st->n_address;

			for (size_t k = 0; k < cnt; k++) {
				if (!list[k].family) /* reported as invalid */
					continue;
				e[n] = (struct ov_entry){.net = list[k],
							 .orig = &list[k],
							 .tunnel = t,
							 .k = k,
							 .route = r,
							 .seq = n};
				mpq_prefix_mask(&e[n].net);
				n++;
			}
		}
	}
	qsort(e, n, sizeof(*e), ov_cmp);
	for (size_t i = 0; i < n; i++) {
		struct ov_entry *cur = &e[i];

		while (depth &&
		       !mpq_prefix_contains(&stack[depth - 1]->net, cur->net.family, cur->net.addr))
			depth--;
		for (size_t s = depth; s-- > 0;) {
			struct ov_entry *a = stack[s], *b = cur;

			if (a->tunnel == b->tunnel)
				continue;
			if (a->seq > b->seq) { /* report at the later one in the file */
				a = cur;
				b = stack[s];
			}
			errf(l, ov_path(c, b, pb), "%s overlaps %s %s",
			     mpq_prefix_format(b->orig, fb, sizeof(fb)), ov_path(c, a, pa),
			     mpq_prefix_format(a->orig, fa, sizeof(fa)));
			break;
		}
		stack[depth++] = cur;
	}
out:
	free(stack);
	free(e);
}

/* ---- the document ---- */

static const char *const common_keys[] = {"role", "log_level", "control_socket",
					  "tls",  "defaults",  NULL};
static const char *const client_keys[] = {"server",  "wans",	   "classes",
					  "tunnels", "classifier", NULL};
static const char *const server_keys[] = {"listen",    "server_id", "retry",   "tun",
					  "advertise", "limits",    "clients", NULL};

static void parse_top_keys(struct loader *l, json_t *root)
{
	static const struct name_val roles[] = {
		{"client", CONF_ROLE_CLIENT},
		{"server", CONF_ROLE_SERVER},
		{NULL, 0},
	};
	const char *role, *key;
	json_t *v;
	int r;

	v = json_object_get(root, "role");
	if (!v)
		errf(l, "role", "required (\"client\" or \"server\")");
	else if (get_enum(l, "role", v, roles, &r))
		l->c->role = (enum conf_role)r;
	role = l->c->role == CONF_ROLE_CLIENT ? "client" : "server";
	json_object_foreach (root, key, v) {
		bool common = false, cl = false, sv = false;
		char p[PATH_LEN];

		for (size_t i = 0; common_keys[i]; i++)
			common |= strcmp(key, common_keys[i]) == 0;
		for (size_t i = 0; client_keys[i]; i++)
			cl |= strcmp(key, client_keys[i]) == 0;
		for (size_t i = 0; server_keys[i]; i++)
			sv |= strcmp(key, server_keys[i]) == 0;
		if (!common && !cl && !sv)
			errf(l, kpath(p, "", key), "unknown key");
		else if ((cl && l->c->role == CONF_ROLE_SERVER) ||
			 (sv && l->c->role == CONF_ROLE_CLIENT))
			errf(l, kpath(p, "", key), "not allowed for role %s", role);
	}
}

static void parse_client(struct loader *l, json_t *root)
{
	json_t *v;

	parse_server_peer(l, json_object_get(root, "server"));
	if ((v = json_object_get(root, "wans")))
		parse_wans(l, v);
	if ((v = json_object_get(root, "classifier")))
		parse_classifier(l, v);
	parse_tunnels(l, json_object_get(root, "tunnels"));
	if ((v = json_object_get(root, "classes")))
		parse_classes(l, v);
	resolve_classes(l);
}

static void parse_server(struct loader *l, json_t *root)
{
	struct conf *c = l->c;
	json_t *v;
	int r;

	if ((v = json_object_get(root, "listen")))
		parse_listen(l, v);
	if ((v = json_object_get(root, "server_id"))) {
		uint32_t id;

		if (get_uint(l, "server_id", v, 0, 255, &id))
			c->server_id = (uint8_t)id;
	}
	if ((v = json_object_get(root, "retry"))) {
		static const struct name_val retries[] = {
			{"auto", CONF_RETRY_AUTO},
			{"always", CONF_RETRY_ALWAYS},
			{"never", CONF_RETRY_NEVER},
			{NULL, 0},
		};

		if (get_enum(l, "retry", v, retries, &r))
			c->retry = (enum conf_retry)r;
	}
	if ((v = json_object_get(root, "tun")))
		parse_server_tun(l, v);
	if ((v = json_object_get(root, "advertise"))) {
		free(c->advertise);
		c->advertise = NULL;
		c->n_advertise = 0;
		get_prefix_list(l, "advertise", v, MPQ_PREFIX_STRICT, false, &c->advertise,
				&c->n_advertise);
	}
	if ((v = json_object_get(root, "limits")))
		parse_limits(l, v);
	parse_clients(l, json_object_get(root, "clients"));
	check_overlaps(l);
}

/* Built-in defaults (docs/configuration.md). */
static int conf_init_defaults(struct conf *c)
{
	struct sockaddr_storage ss;
	socklen_t len;

	c->log_level = CONF_LOG_INFO;
	c->control_socket = strdup("/run/mpquic/mpquicd.sock");
	c->defaults = (struct conf_quic){
		.keepalive_ms = 15000,
		.idle_timeout_ms = 30000,
		.backoff_min_ms = 100,
		.backoff_max_ms = 10000,
		.mtu = 0,
		/* BBR: measured in docs/benchmarks.md, Cubic and Reno collapse under random loss. */
		.cc = CONF_CC_BBR,
	};
	c->classifier = (struct conf_classifier){
		.table = "mpquic",
		.mark_mask = 0x00ff0000,
		.rule_priority = 1000,
		.table_base = 100,
		.snat = true,
		.mss_clamp = true,
	};
	if (mpq_sockaddr_parse("0.0.0.0:443", 0, &ss, &len) == 0) {
		c->listen[0] = ss;
		c->listen_len[0] = len;
		c->n_listen = 1;
	}
	c->retry = CONF_RETRY_AUTO;
	strcpy(c->tun_name, "mpq0");
	c->advertise = calloc(2, sizeof(*c->advertise));
	if (!c->control_socket || !c->advertise)
		return -ENOMEM;
	c->n_advertise = 2;
	mpq_prefix_parse("0.0.0.0/0", MPQ_PREFIX_STRICT, &c->advertise[0]);
	mpq_prefix_parse("::/0", MPQ_PREFIX_STRICT, &c->advertise[1]);
	c->limits = (struct conf_limits){
		.max_connections = 4096,
		.max_connections_per_client = 64,
		.max_handshakes = 256,
		.queue_packets = 256,
	};
	return 0;
}

/* JSON syntax errors: "file:line:col: text", as editors and compilers print them. */
static void json_error(struct loader *l, const json_error_t *je)
{
	char *m = NULL;

	l->n_errors++;
	if (json_error_code(je) == json_error_cannot_open_file) {
		const char *colon = strrchr(je->text, ':');

		/* jansson says "unable to open FILE: reason"; name the file once */
		if (asprintf(&m, "%s: cannot open: %s", l->file, colon ? colon + 2 : je->text) < 0)
			m = NULL;
	} else if (je->line > 0) {
		if (asprintf(&m, "%s:%d:%d: %s", l->file, je->line, je->column, je->text) < 0)
			m = NULL;
	} else if (asprintf(&m, "%s: %s", l->file, je->text) < 0) {
		m = NULL;
	}
	add_msg(l, m);
}

int conf_load(const char *file, unsigned flags, struct conf **ret_conf, struct conf_errors *errs)
{
	struct loader l = {.file = file, .flags = flags, .errs = errs};
	const char *slash = strrchr(file, '/');
	json_error_t je;
	json_t *root, *v;
	int r;

	l.c = calloc(1, sizeof(*l.c));
	if (!l.c)
		return -ENOMEM;
	l.c->path = strdup(file);
	if (!l.c->path || conf_init_defaults(l.c) < 0) {
		r = -ENOMEM;
		goto err_free_conf;
	}
	if (slash) {
		l.dir = slash == file ? strdup("/") : strndup(file, (size_t)(slash - file));
		if (!l.dir) {
			r = -ENOMEM;
			goto err_free_conf;
		}
	}

	root = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		json_error(&l, &je);
		r = l.oom ? -ENOMEM : -EINVAL;
		goto err_free_dir;
	}
	if (!json_is_object(root)) {
		errf(&l, "(top level)", "expected an object, got an array");
		goto done;
	}

	parse_top_keys(&l, root);
	if ((v = json_object_get(root, "log_level"))) {
		int lv;

		if (get_enum(&l, "log_level", v, log_levels, &lv))
			l.c->log_level = (enum conf_log_level)lv;
	}
	if ((v = json_object_get(root, "control_socket")))
		parse_control_socket(&l, v);
	if ((v = json_object_get(root, "defaults")))
		parse_defaults(&l, v);
	if (l.c->role == CONF_ROLE_CLIENT || l.c->role == CONF_ROLE_SERVER)
		parse_tls(&l, json_object_get(root, "tls"));
	if (l.c->role == CONF_ROLE_CLIENT)
		parse_client(&l, root);
	else if (l.c->role == CONF_ROLE_SERVER)
		parse_server(&l, root);

done:
	json_decref(root);
	if (l.n_errors > MAX_ERRORS) {
		char *m = NULL;

		if (asprintf(&m, "%s: %zu more errors not shown", file, l.n_errors - MAX_ERRORS) <
		    0)
			m = NULL;
		add_msg(&l, m);
	}
	if (l.oom) {
		r = -ENOMEM;
		goto err_free_dir;
	}
	if (l.n_errors) {
		r = -EINVAL;
		goto err_free_dir;
	}
	free(l.tunnel_class);
	free(l.dir);
	*ret_conf = l.c;
	return 0;

err_free_dir:
	free(l.tunnel_class);
	free(l.dir);
err_free_conf:
	conf_free(l.c);
	return r;
}

static void match_done(struct conf_match *m)
{
	free(m->iif);
	free(m->src);
	free(m->dst);
	free(m->sport);
	free(m->dport);
	free(m->dscp);
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->control_socket);
	free(c->tls.ca);
	free(c->tls.cert);
	free(c->tls.key);
	free(c->tls.client_ca);
	free(c->server_name);
	free(c->wans);
	for (size_t i = 0; i < c->n_classes; i++) {
		match_done(&c->classes[i].match);
		free(c->classes[i].tunnels);
	}
	free(c->classes);
	free(c->tunnels);
	free(c->tun_address);
	free(c->advertise);
	free(c->clients);
	for (size_t i = 0; i < c->n_srv_tunnels; i++) {
		free(c->srv_tunnels[i].address);
		free(c->srv_tunnels[i].routes);
	}
	free(c->srv_tunnels);
	for (size_t i = 0; i < c->n_srv_groups; i++)
		free(c->srv_groups[i].tunnels);
	free(c->srv_groups);
	free(c);
}

void conf_errors_done(struct conf_errors *errs)
{
	if (!errs)
		return;
	for (size_t i = 0; i < errs->n; i++)
		free(errs->msg[i]);
	free(errs->msg);
	errs->msg = NULL;
	errs->n = 0;
}

const char *conf_cc_name(enum conf_cc cc)
{
	switch (cc) {
	case CONF_CC_CUBIC:
		return "cubic";
	case CONF_CC_BBR:
		return "bbr";
	case CONF_CC_RENO:
		return "reno";
	}
	return "unknown";
}

const char *conf_policy_name(enum conf_policy p)
{
	for (const struct name_val *nv = policies; nv->name; nv++)
		if (nv->val == (int)p)
			return nv->name;
	return "?";
}

int conf_find_tunnel(const struct conf *c, const char *name)
{
	return c ? FIND(c->tunnels, c->n_tunnels, name) : -1;
}

int conf_find_srv_tunnel(const struct conf *c, const char *name)
{
	return c ? FIND(c->srv_tunnels, c->n_srv_tunnels, name) : -1;
}

int conf_find_client(const struct conf *c, const char *identity)
{
	if (!c || !identity || !identity[0])
		return -1;
	for (size_t i = 0; i < c->n_clients; i++)
		if (strcmp(c->clients[i].identity, identity) == 0)
			return (int)i;
	return -1;
}
