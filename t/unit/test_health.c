/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "health.h"

#define MS 1000000ULL
#define S  1000000000ULL

static const struct health_conf critical = {.probe_interval_ms = 100, .loss_pct = 10};

/*
 * Drive one probe interval: something is sent at its start; acknowledged at its end when
 * acked (nothing outstanding then), otherwise it waits since the first unanswered send.
 */
static uint64_t unacked;

static bool step(struct health *h, uint64_t *t, uint32_t acked, uint32_t lost)
{
	if (!unacked)
		unacked = *t;
	*t += 100 * MS;
	health_count(h, acked, lost);
	if (acked) {
		health_acked_at(h, *t);
		unacked = 0;
	}
	health_unacked_since(h, unacked);
	return health_tick(h, *t);
}

static void test_defaults(void **state)
{
	struct health_conf c;

	(void)state;
	health_conf_resolve(&(struct health_conf){0}, &c);
	assert_int_equal(c.probe_interval_ms, 100);
	assert_int_equal(c.silence_ms, 300);
	assert_int_equal(c.recover_ms, 1000);
	health_conf_resolve(&(struct health_conf){.probe_interval_ms = 1000}, &c);
	assert_int_equal(c.silence_ms, 3000);
	assert_int_equal(c.recover_ms, 10000);
	health_conf_resolve(&(struct health_conf){.probe_interval_ms = 50,
						  .silence_ms = 200,
						  .recover_ms = 400},
			    &c);
	assert_int_equal(c.silence_ms, 200);
	assert_int_equal(c.recover_ms, 400);
}

/* Unknown until a session; a first session is up at once; losing it is down. */
static void test_session(void **state)
{
	struct health h;
	uint64_t t = 10 * S;

	(void)state;
	unacked = 0;
	health_init(&h, &critical, t);
	assert_int_equal(h.state, HEALTH_UNKNOWN);
	assert_int_equal(health_rank(&h), 0);
	health_session_up(&h, t);
	assert_int_equal(h.state, HEALTH_UP);
	assert_int_equal(health_rank(&h), 3);
	health_session_down(&h, t + MS);
	assert_int_equal(h.state, HEALTH_DOWN);
	assert_int_equal(h.reason, HEALTH_R_NO_SESSION);
	assert_int_equal(health_rank(&h), 0);
	/* a second session must earn UP through the hold time */
	health_session_up(&h, t + 2 * MS);
	assert_int_equal(h.state, HEALTH_DOWN);
	assert_int_equal(health_rank(&h), 1);
	for (int i = 0; i < 9; i++)
		step(&h, &t, 1, 0);
	assert_int_equal(h.state, HEALTH_DOWN);
	for (int i = 0; i < 3 && h.state != HEALTH_UP; i++)
		step(&h, &t, 1, 0);
	assert_int_equal(h.state, HEALTH_UP);
}

/* A blackhole: down once nothing was acknowledged for the silence threshold, not before. */
static void test_silence(void **state)
{
	struct health h;
	uint64_t t = 10 * S;
	char buf[128];

	(void)state;
	unacked = 0;
	health_init(&h, &critical, t);
	health_session_up(&h, t);
	for (int i = 0; i < 20; i++)
		assert_false(step(&h, &t, 1, 0));
	health_set_rtt(&h, 1000);
	/* silence: 100, 200, 300 ms are within the 300 ms limit; 400 ms is not */
	assert_false(step(&h, &t, 0, 0));
	assert_false(step(&h, &t, 0, 0));
	assert_false(step(&h, &t, 0, 0));
	assert_true(step(&h, &t, 0, 0));
	assert_int_equal(h.state, HEALTH_DOWN);
	assert_int_equal(h.reason, HEALTH_R_SILENCE);
	health_describe(&h, t, buf, sizeof(buf));
	assert_non_null(strstr(buf, "not acknowledged for 400 ms"));
	/* a long RTT stretches the threshold: probe interval + 2 RTT */
	health_set_rtt(&h, 400 * 1000);
	assert_int_equal(health_silence_ms(&h), 900);
}

/* Brownout: degraded when the window's loss reaches loss_pct; back below half of it only. */
static void test_loss(void **state)
{
	struct health h;
	uint64_t t = 10 * S;
	int i, n = 0;

	(void)state;
	unacked = 0;
	health_init(&h, &critical, t);
	health_session_up(&h, t);
	for (i = 0; i < 16; i++)
		step(&h, &t, 10, 0);
	/* 30 % loss: degraded within a few intervals */
	while (h.state == HEALTH_UP && n < 16) {
		step(&h, &t, 7, 3);
		n++;
	}
	assert_int_equal(h.state, HEALTH_DEGRADED);
	assert_int_equal(h.reason, HEALTH_R_LOSS);
	assert_true(n <= 6);
	assert_int_equal(health_rank(&h), 2);
	/* 7 % loss: below the threshold but not below half of it: stays degraded */
	for (i = 0; i < 40; i++)
		step(&h, &t, 93, 7);
	assert_int_equal(h.state, HEALTH_DEGRADED);
	/* clean: up after the window drains and the hold time passes */
	for (i = 0; i < 40 && h.state != HEALTH_UP; i++)
		step(&h, &t, 10, 0);
	assert_int_equal(h.state, HEALTH_UP);
	/* too few samples are not judged */
	unacked = 0;
	health_init(&h, &critical, t);
	health_session_up(&h, t);
	for (i = 0; i < 16; i++)
		step(&h, &t, i < 4 ? 1 : 0, i < 3 ? 1 : 0);
	assert_int_equal(health_loss_permille(&h), -1);
	/* loss_pct 0: never judged */
	unacked = 0;
	health_init(&h, &(struct health_conf){.probe_interval_ms = 100}, t);
	health_session_up(&h, t);
	for (i = 0; i < 20; i++)
		step(&h, &t, 5, 5);
	assert_int_equal(h.state, HEALTH_UP);
}

static void test_rtt(void **state)
{
	struct health h;
	uint64_t t = 10 * S;
	struct health_conf c = {.probe_interval_ms = 100, .max_rtt_ms = 200};

	(void)state;
	unacked = 0;
	health_init(&h, &c, t);
	health_session_up(&h, t);
	health_set_rtt(&h, 150 * 1000);
	step(&h, &t, 1, 0);
	assert_int_equal(h.state, HEALTH_UP);
	health_set_rtt(&h, 250 * 1000);
	assert_true(step(&h, &t, 1, 0));
	assert_int_equal(h.state, HEALTH_DEGRADED);
	assert_int_equal(h.reason, HEALTH_R_RTT);
	health_set_rtt(&h, 100 * 1000);
	for (int i = 0; i < 11 && h.state != HEALTH_UP; i++)
		step(&h, &t, 1, 0);
	assert_int_equal(h.state, HEALTH_UP);
}

/* Flapping: each quick fall doubles the hold, up to the maximum; a long good spell resets it. */
static void test_flap(void **state)
{
	struct health h;
	uint64_t t = 10 * S;
	uint32_t holds[8];

	(void)state;
	unacked = 0;
	health_init(&h, &critical, t);
	health_session_up(&h, t);
	for (int round = 0; round < 8; round++) {
		/* dark 1 s */
		for (int i = 0; i < 10; i++)
			step(&h, &t, 0, 0);
		assert_int_equal(h.state, HEALTH_DOWN);
		holds[round] = h.hold_ms;
		/* light until up again */
		for (int i = 0; i < 1000 && h.state != HEALTH_UP; i++)
			step(&h, &t, 1, 0);
		assert_int_equal(h.state, HEALTH_UP);
	}
	assert_int_equal(holds[0], 1000);
	assert_int_equal(holds[1], 2000);
	assert_int_equal(holds[2], 4000);
	assert_int_equal(holds[7], HEALTH_HOLD_MAX_MS);
	/* stable for HEALTH_STABLE_MS: back to recover_ms */
	for (int i = 0; i < 301; i++)
		step(&h, &t, 1, 0);
	assert_int_equal(h.hold_ms, 1000);
}

/*
 * A relapse right after recovering: the fall comes within the silence threshold of the
 * recovery, so it counts as a flap and the next hold is twice as long.
 */
static void test_relapse(void **state)
{
	struct health h;
	uint64_t t = 10 * S;

	(void)state;
	unacked = 0;
	health_init(&h, &critical, t);
	health_session_up(&h, t);
	for (int i = 0; i < 5; i++)
		step(&h, &t, 0, 0);
	assert_int_equal(h.state, HEALTH_DOWN);
	for (int i = 0; i < 8; i++)
		step(&h, &t, 1, 0);
	for (int i = 0; i < 4; i++)
		step(&h, &t, 0, 0);
	for (int i = 0; i < 9; i++)
		step(&h, &t, 1, 0);
	assert_int_equal(h.state, HEALTH_DOWN);
	assert_int_equal(h.hold_ms, 2000);
	for (int i = 0; i < 12 && h.state != HEALTH_UP; i++)
		step(&h, &t, 1, 0);
	assert_int_equal(h.state, HEALTH_UP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults), cmocka_unit_test(test_session),
		cmocka_unit_test(test_silence),	 cmocka_unit_test(test_loss),
		cmocka_unit_test(test_rtt),	 cmocka_unit_test(test_flap),
		cmocka_unit_test(test_relapse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
