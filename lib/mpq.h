/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by every mpquic module.
 */
#ifndef MPQ_H
#define MPQ_H

#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#define MPQ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MPQ_MAX(a, b) ((a) > (b) ? (a) : (b))

#define MPQ_LIKELY(x)	__builtin_expect(!!(x), 1)
#define MPQ_UNLIKELY(x) __builtin_expect(!!(x), 0)

#endif
