/* SPDX-License-Identifier: MIT */
/* Path health state machine: see health.h. */
#include <stdio.h>
#include <string.h>

#include "health.h"

#define MS 1000000ULL

static uint32_t max_u32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

void health_conf_resolve(const struct health_conf *conf, struct health_conf *ret)
{
	struct health_conf c = *conf;

	if (!c.probe_interval_ms)
		c.probe_interval_ms = 100;
	if (!c.silence_ms)
		c.silence_ms = max_u32(HEALTH_SILENCE_MIN_MS, 3 * c.probe_interval_ms);
	if (!c.recover_ms)
		c.recover_ms = max_u32(1000, 10 * c.probe_interval_ms);
	*ret = c;
}

void health_init(struct health *h, const struct health_conf *conf, uint64_t now_ns)
{
	memset(h, 0, sizeof(*h));
	health_conf_resolve(conf, &h->conf);
	h->state = HEALTH_UNKNOWN;
	h->reason = HEALTH_R_NONE;
	h->since_ns = now_ns;
	h->hold_ms = h->conf.recover_ms;
}

void health_set_conf(struct health *h, const struct health_conf *conf)
{
	uint32_t old = h->conf.recover_ms;

	health_conf_resolve(conf, &h->conf);
	if (h->hold_ms == old || h->hold_ms < h->conf.recover_ms)
		h->hold_ms = h->conf.recover_ms;
}

static void enter(struct health *h, enum health_state s, enum health_reason r, uint64_t now)
{
	if (h->state == HEALTH_UP && s != HEALTH_UP) {
		h->falls++;
		/* Fell soon after it recovered: it is flapping, wait longer next time. */
		if (now - h->up_since_ns < HEALTH_STABLE_MS * MS && h->falls > 1)
			h->hold_ms = h->hold_ms * 2 > HEALTH_HOLD_MAX_MS ? HEALTH_HOLD_MAX_MS
									 : h->hold_ms * 2;
	}
	if (s == HEALTH_UP) {
		h->up_since_ns = now;
		h->ever_up = true;
	}
	h->state = s;
	h->reason = r;
	h->since_ns = now;
	h->better_since_ns = 0;
}

void health_session_up(struct health *h, uint64_t now_ns)
{
	h->session = true;
	h->last_ack_ns = now_ns;
	h->unacked_since_ns = 0;
	h->better_since_ns = 0;
	if (!h->ever_up)
		enter(h, HEALTH_UP, HEALTH_R_OK, now_ns);
	else
		h->reason = HEALTH_R_RECOVERING;
}

void health_session_down(struct health *h, uint64_t now_ns)
{
	h->session = false;
	if (h->state != HEALTH_DOWN || h->reason != HEALTH_R_NO_SESSION)
		enter(h, HEALTH_DOWN, HEALTH_R_NO_SESSION, now_ns);
}

void health_count(struct health *h, uint32_t acked, uint32_t lost)
{
	h->cur_acked += acked;
	h->cur_lost += lost;
}

void health_acked_at(struct health *h, uint64_t ack_ns)
{
	if (ack_ns > h->last_ack_ns)
		h->last_ack_ns = ack_ns;
}

void health_unacked_since(struct health *h, uint64_t since_ns)
{
	h->unacked_since_ns = since_ns;
}

void health_set_rtt(struct health *h, uint32_t srtt_us)
{
	h->srtt_us = srtt_us;
	h->have_rtt = true;
}

uint32_t health_silence_ms(const struct health *h)
{
	uint32_t rtt_ms = h->have_rtt ? (h->srtt_us + 999) / 1000 : 0;

	return max_u32(h->conf.silence_ms, h->conf.probe_interval_ms + 2 * rtt_ms);
}

int health_loss_permille(const struct health *h)
{
	return h->samples >= HEALTH_MIN_SAMPLES ? (int)h->loss_permille : -1;
}

static void close_interval(struct health *h)
{
	uint64_t acked = 0, lost = 0;

	h->win_acked[h->pos] = h->cur_acked;
	h->win_lost[h->pos] = h->cur_lost;
	h->pos = (h->pos + 1) % HEALTH_WINDOW;
	h->cur_acked = h->cur_lost = 0;
	for (unsigned i = 0; i < HEALTH_WINDOW; i++) {
		acked += h->win_acked[i];
		lost += h->win_lost[i];
	}
	h->samples = acked + lost > UINT32_MAX ? UINT32_MAX : (uint32_t)(acked + lost);
	h->loss_permille = acked + lost ? (uint32_t)(lost * 1000 / (acked + lost)) : 0;
}

/* What the measurements say now, ignoring hysteresis of time. */
static enum health_state judge(const struct health *h, uint64_t now, enum health_reason *why)
{
	int loss = health_loss_permille(h);

	if (!h->session) {
		*why = HEALTH_R_NO_SESSION;
		return HEALTH_DOWN;
	}
	if (h->unacked_since_ns && now > h->unacked_since_ns &&
	    now - h->unacked_since_ns > (uint64_t)health_silence_ms(h) * MS) {
		*why = HEALTH_R_SILENCE;
		return HEALTH_DOWN;
	}
	if (h->conf.loss_pct && loss >= 0 && (uint32_t)loss >= h->conf.loss_pct * 10) {
		*why = HEALTH_R_LOSS;
		return HEALTH_DEGRADED;
	}
	if (h->conf.max_rtt_ms && h->have_rtt && h->srtt_us > h->conf.max_rtt_ms * 1000) {
		*why = HEALTH_R_RTT;
		return HEALTH_DEGRADED;
	}
	/* Out of a loss episode only below half the threshold. */
	if (h->state == HEALTH_DEGRADED && h->reason == HEALTH_R_LOSS && h->conf.loss_pct &&
	    loss >= 0 && (uint32_t)loss * 2 >= h->conf.loss_pct * 10) {
		*why = HEALTH_R_LOSS;
		return HEALTH_DEGRADED;
	}
	*why = HEALTH_R_OK;
	return HEALTH_UP;
}

/* UP < DEGRADED < DOWN; UNKNOWN counts as DOWN. */
static int badness(enum health_state s)
{
	switch (s) {
	case HEALTH_UP:
		return 0;
	case HEALTH_DEGRADED:
		return 1;
	default:
		return 2;
	}
}

bool health_tick(struct health *h, uint64_t now_ns)
{
	enum health_reason why;
	enum health_state target, old = h->state;

	close_interval(h);
	if (h->state == HEALTH_UP && now_ns - h->up_since_ns >= HEALTH_STABLE_MS * MS)
		h->hold_ms = h->conf.recover_ms;
	target = judge(h, now_ns, &why);
	if (badness(target) > badness(h->state) ||
	    (h->state == HEALTH_UNKNOWN && target == HEALTH_DOWN)) {
		enter(h, target, why, now_ns);
	} else if (target == h->state) {
		h->reason = why;
		h->better_since_ns = 0;
	} else {
		/* Better: only after it held for the hold time. */
		if (!h->better_since_ns || h->better != target) {
			h->better_since_ns = now_ns;
			h->better = target;
		}
		if (now_ns - h->better_since_ns >= (uint64_t)h->hold_ms * MS)
			enter(h, target, why, now_ns);
	}
	return h->state != old;
}

int health_rank(const struct health *h)
{
	switch (h->state) {
	case HEALTH_UP:
		return 3;
	case HEALTH_DEGRADED:
		return 2;
	default:
		return h->session ? 1 : 0;
	}
}

const char *health_state_name(enum health_state s)
{
	switch (s) {
	case HEALTH_UP:
		return "up";
	case HEALTH_DEGRADED:
		return "degraded";
	case HEALTH_DOWN:
		return "down";
	default:
		return "unknown";
	}
}

const char *health_reason_name(enum health_reason r)
{
	switch (r) {
	case HEALTH_R_OK:
		return "ok";
	case HEALTH_R_NO_SESSION:
		return "no_session";
	case HEALTH_R_SILENCE:
		return "silence";
	case HEALTH_R_LOSS:
		return "loss";
	case HEALTH_R_RTT:
		return "rtt";
	case HEALTH_R_RECOVERING:
		return "recovering";
	default:
		return "none";
	}
}

const char *health_describe(const struct health *h, uint64_t now_ns, char *buf, size_t size)
{
	int loss = health_loss_permille(h);
	uint64_t quiet = h->unacked_since_ns && now_ns > h->unacked_since_ns
				 ? (now_ns - h->unacked_since_ns) / MS
				 : 0;
	char extra[64] = "";

	if (h->better_since_ns && h->better != h->state)
		snprintf(extra, sizeof(extra), "; %s for %llu of %u ms",
			 h->better == HEALTH_UP ? "good" : "better",
			 (unsigned long long)((now_ns - h->better_since_ns) / MS), h->hold_ms);
	switch (h->state == HEALTH_UP ? HEALTH_R_OK : h->reason) {
	case HEALTH_R_NO_SESSION:
		snprintf(buf, size, "no session%s", extra);
		break;
	case HEALTH_R_SILENCE:
		snprintf(buf, size, "sent, not acknowledged for %llu ms (limit %u ms)%s",
			 (unsigned long long)quiet, health_silence_ms(h), extra);
		break;
	case HEALTH_R_LOSS:
		snprintf(buf, size,
			 "loss %d.%d %% over the last %u probe intervals (limit %u %%)%s",
			 loss < 0 ? 0 : loss / 10, loss < 0 ? 0 : loss % 10, HEALTH_WINDOW,
			 h->conf.loss_pct, extra);
		break;
	case HEALTH_R_RTT:
		snprintf(buf, size, "smoothed RTT %u.%u ms above max_rtt_ms %u%s",
			 h->srtt_us / 1000, h->srtt_us % 1000 / 100, h->conf.max_rtt_ms, extra);
		break;
	case HEALTH_R_RECOVERING:
		snprintf(buf, size, "session back, recovering%s", extra);
		break;
	case HEALTH_R_OK:
		snprintf(buf, size, "ok");
		break;
	default:
		snprintf(buf, size, "not measured yet");
		break;
	}
	return buf;
}
