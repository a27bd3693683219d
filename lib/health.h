/* SPDX-License-Identifier: MIT */
/*
 * Path health of one tunnel: is the path its QUIC connection runs over usable right now?
 *
 * Uplinks fail silently far more often than loudly: a Starlink obstruction or an LTE stall
 * keeps the link and its address up while packets vanish (blackhole), or a share of them does
 * and latency climbs (brownout). Only the traffic tells. The owner feeds this module what QUIC
 * itself observes — datagrams acknowledged and declared lost, the time of the last
 * acknowledgement, the smoothed RTT — and calls health_tick() once per probe interval (the
 * owner also sends a probe in every interval that carried nothing else, so that a quiet tunnel
 * is still measured). The state machine:
 *
 *   UNKNOWN   no session yet.
 *   UP        acknowledgements arrive, loss and RTT within their limits.
 *   DEGRADED  loss over the recent window at or above loss_pct, or smoothed RTT above
 *             max_rtt_ms: usable, but a healthy tunnel is preferred.
 *   DOWN      no session, or something sent and not acknowledged for the silence threshold.
 *
 * Getting worse is immediate. Getting better needs the better condition to hold for a hold
 * time (recover_ms), which doubles each time a tunnel falls again soon after it recovered
 * (flapping), up to HEALTH_HOLD_MAX_MS, and returns to recover_ms after a long good spell.
 * Leaving DEGRADED for loss needs the loss to fall below half of loss_pct (hysteresis).
 *
 * Pure code: no I/O, no clock (every call takes "now" in CLOCK_MONOTONIC nanoseconds).
 */
#ifndef MPQ_HEALTH_H
#define MPQ_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HEALTH_WINDOW	      16    /* probe intervals in the loss window */
#define HEALTH_MIN_SAMPLES    8	    /* datagrams in the window before loss is judged */
#define HEALTH_HOLD_MAX_MS    60000 /* longest recovery hold (flap damping) */
#define HEALTH_STABLE_MS      30000 /* UP this long: the hold returns to recover_ms */
#define HEALTH_SILENCE_MIN_MS 300   /* default silence threshold floor */

enum health_state {
	HEALTH_UNKNOWN = 0,
	HEALTH_UP,
	HEALTH_DEGRADED,
	HEALTH_DOWN,
};

enum health_reason {
	HEALTH_R_NONE = 0,   /* not evaluated yet */
	HEALTH_R_OK,	     /* acknowledgements arrive, within limits */
	HEALTH_R_NO_SESSION, /* no CONNECT-IP session */
	HEALTH_R_SILENCE,    /* nothing acknowledged for silence_ms */
	HEALTH_R_LOSS,	     /* loss at or above loss_pct */
	HEALTH_R_RTT,	     /* smoothed RTT above max_rtt_ms */
	HEALTH_R_RECOVERING, /* better again, waiting for the hold time */
};

struct health_conf {
	uint32_t probe_interval_ms; /* tick period; > 0 */
	uint32_t silence_ms;	    /* 0 = max(HEALTH_SILENCE_MIN_MS, 3 * probe_interval_ms) */
	uint32_t loss_pct;	    /* 0 = loss is not judged */
	uint32_t max_rtt_ms;	    /* 0 = RTT is not judged */
	uint32_t recover_ms;	    /* 0 = max(1000, 10 * probe_interval_ms) */
};

struct health {
	struct health_conf conf; /* resolved: no zero "auto" values left */
	enum health_state state;
	enum health_reason reason;
	uint64_t since_ns; /* when state was entered */
	bool session;
	bool ever_up;
	uint64_t last_ack_ns;	   /* last acknowledgement (or session start) */
	uint64_t unacked_since_ns; /* oldest send not answered by an acknowledgement, 0: none */
	uint32_t srtt_us;	   /* smoothed RTT; valid when have_rtt */
	bool have_rtt;
	/* loss window: per interval, datagrams acknowledged and declared lost */
	uint32_t win_acked[HEALTH_WINDOW], win_lost[HEALTH_WINDOW];
	uint32_t cur_acked, cur_lost;
	unsigned pos;
	uint32_t loss_permille; /* over the window, when samples >= HEALTH_MIN_SAMPLES */
	uint32_t samples;
	/* recovery */
	uint64_t better_since_ns; /* the better condition holds since (0: it does not) */
	enum health_state better; /* ...and leads to this state */
	uint32_t hold_ms;	  /* current hold */
	uint64_t up_since_ns;	  /* last entry into UP */
	uint64_t falls;		  /* UP -> DEGRADED/DOWN transitions */
};

/* Resolve conf's automatic values into ret (what health_init() keeps). */
void health_conf_resolve(const struct health_conf *conf, struct health_conf *ret);

/* Start in UNKNOWN with conf (resolved by this call). */
void health_init(struct health *h, const struct health_conf *conf, uint64_t now_ns);

/*
 * A new configuration, keeping the measurements; the state is re-judged at the next tick.
 */
void health_set_conf(struct health *h, const struct health_conf *conf);

/*
 * The session opened: the silence clock starts now. A tunnel that was never up is UP at once
 * (nothing is known against it); one that was up before must pass the hold time again.
 */
void health_session_up(struct health *h, uint64_t now_ns);

/* The session ended: DOWN (no_session). */
void health_session_down(struct health *h, uint64_t now_ns);

/* Counters since the last call: datagrams acknowledged and declared lost. */
void health_count(struct health *h, uint32_t acked, uint32_t lost);

/* The time of the latest acknowledgement (ignored if older than the one known). */
void health_acked_at(struct health *h, uint64_t ack_ns);

/*
 * Since when something sent is waiting for an acknowledgement: the first datagram sent after
 * the latest acknowledgement, 0 when nothing is outstanding. Silence is measured from there, so
 * that a tunnel with nothing to send is never "silent", and a daemon that was starved of CPU
 * (its acknowledgements waiting unread) judges only after reading them.
 */
void health_unacked_since(struct health *h, uint64_t since_ns);

/* The smoothed RTT in microseconds (only after a first RTT sample). */
void health_set_rtt(struct health *h, uint32_t srtt_us);

/* The silence threshold in ms now: silence_ms, at least probe interval + 2 smoothed RTTs. */
uint32_t health_silence_ms(const struct health *h);

/*
 * Close the current interval and judge. Returns true when the state changed (the caller
 * re-chooses the tunnels of the classes it carries).
 */
bool health_tick(struct health *h, uint64_t now_ns);

/* Loss over the window in per mille, or -1 when there are too few samples. */
int health_loss_permille(const struct health *h);

/*
 * Rank for choosing among tunnels: UP 3, DEGRADED 2, DOWN with a session (recovering) 1,
 * no session 0.
 */
int health_rank(const struct health *h);

const char *health_state_name(enum health_state s);
const char *health_reason_name(enum health_reason r);

/*
 * One line for logs and status, e.g. "no acknowledgement for 412 ms", "loss 31 % over 1.6 s",
 * "smoothed RTT 312.4 ms above 200 ms". Returns buf.
 */
const char *health_describe(const struct health *h, uint64_t now_ns, char *buf, size_t size);

#endif
