/* SPDX-License-Identifier: MIT */
/*
 * Daemon logging: stderr, with syslog priority prefixes ("<3>") when journald reads our stderr
 * (JOURNAL_STREAM set) so the journal keeps the levels; plain "mpquicd: level: " otherwise.
 * Only the daemon and commands log; lib/ never does.
 */
#ifndef MPQ_LOG_H
#define MPQ_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARNING = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

extern int log_level;

void log_init(int level);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                       \
	do {                                                 \
		if (log_level >= LOG_LVL_DEBUG)              \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__); \
	} while (0)

/*
 * Rate limit for messages a peer can trigger: at most `burst` messages per `interval_ms`.
 * ratelimit_ok() returns true when the message may be printed; suppressed messages are counted
 * and reported by the next printed one.
 */
struct ratelimit {
	uint64_t window_start_ms;
	uint32_t interval_ms;
	uint32_t burst;
	uint32_t printed;
	uint64_t suppressed;
};

#define RATELIMIT_INIT(interval, n)                     \
	{                                               \
		.interval_ms = (interval), .burst = (n) \
	}

bool ratelimit_ok(struct ratelimit *rl, uint64_t now_ms, uint64_t *ret_suppressed);

#endif
