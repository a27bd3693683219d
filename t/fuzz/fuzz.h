/* SPDX-License-Identifier: MIT */
/*
 * Fuzz targets: each t/fuzz/fuzz_<name>.c defines the libFuzzer entry point and a list of valid
 * inputs for t/fuzz/driver.c to mutate. Built with gcc they run under driver.c as a meson test;
 * with clang -fsanitize=fuzzer the same file works as a libFuzzer target (driver.c left out).
 */
#ifndef MPQ_FUZZ_H
#define MPQ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Write valid input number i into buf (size bytes); returns its length, 0 past the last one. */
size_t fuzz_seed(unsigned i, uint8_t *buf, size_t size);

/* An invariant that must hold whatever the input: abort (the fuzzer's crash) if not. */
#define FUZZ_CHECK(cond)                                                                         \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                 \
		}                                                                                \
	} while (0)

#endif
