/* SPDX-License-Identifier: MIT */
/*
 * A libFuzzer-compatible driver for builds without libFuzzer:
 *   fuzz_x FILE...      run each file once (reproduce a crash)
 *   fuzz_x [-n N]       run N inputs (default 20000) from a fixed seed: random bytes, and
 *                       mutations (bit flips, interesting bytes, truncation, insertion,
 *                       duplication, deletion) of the target's valid inputs
 * Every input is copied into a buffer of exactly its size so ASan sees overreads.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define MAX_INPUT 4096

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic across platforms. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

static size_t rnd_below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

static void run_one(const uint8_t *data, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy) {
		perror("malloc");
		exit(1);
	}
	memcpy(copy, data, len);
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);
}

static size_t mutate(uint8_t *b, size_t len)
{
	static const uint8_t interesting[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x06, 0x07,
					      0x0f, 0x20, 0x3f, 0x40, 0x45, 0x60, 0x7f,
					      0x80, 0xbf, 0xc0, 0xfe, 0xff};
	unsigned n = 1 + (unsigned)rnd_below(6);

	for (unsigned k = 0; k < n; k++) {
		size_t pos = rnd_below(len), cnt;

		switch (rnd_below(7)) {
		case 0:
			if (len)
				b[pos] ^= (uint8_t)(1u << rnd_below(8));
			break;
		case 1:
			if (len)
				b[pos] = interesting[rnd_below(sizeof(interesting))];
			break;
		case 2:
			if (len)
				b[pos] = (uint8_t)rnd();
			break;
		case 3: /* truncate */
			len = rnd_below(len + 1);
			break;
		case 4: /* insert random bytes */
			cnt = 1 + rnd_below(16);
			if (len + cnt > MAX_INPUT)
				break;
			memmove(b + pos + cnt, b + pos, len - pos);
			for (size_t i = 0; i < cnt; i++)
				b[pos + i] = (uint8_t)rnd();
			len += cnt;
			break;
		case 5: /* duplicate a chunk at the end */
			cnt = rnd_below(len - pos + 1);
			if (len + cnt > MAX_INPUT)
				break;
			memcpy(b + len, b + pos, cnt);
			len += cnt;
			break;
		default: /* delete a chunk */
			cnt = rnd_below(len - pos + 1);
			memmove(b + pos, b + pos + cnt, len - pos - cnt);
			len -= cnt;
			break;
		}
	}
	return len;
}

static int run_file(const char *path)
{
	static uint8_t buf[1 << 20];
	FILE *f = fopen(path, "rb");
	size_t len;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	run_one(buf, len);
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t buf[2 * MAX_INPUT];
	unsigned long n = 20000;
	unsigned nseeds = 0;
	int status = 0;

	if (argc == 3 && strcmp(argv[1], "-n") == 0) {
		n = strtoul(argv[2], NULL, 10);
	} else if (argc > 1) {
		for (int i = 1; i < argc; i++)
			status |= run_file(argv[i]);
		return status;
	}
	while (fuzz_seed(nseeds, buf, MAX_INPUT) > 0)
		nseeds++;
	/* Every seed as is, then the random inputs. */
	for (unsigned i = 0; i < nseeds; i++)
		run_one(buf, fuzz_seed(i, buf, MAX_INPUT));
	for (unsigned long i = 0; i < n; i++) {
		size_t len;

		if (nseeds == 0 || rnd_below(4) == 0) {
			len = rnd_below(8) == 0 ? rnd_below(MAX_INPUT) : rnd_below(64);
			for (size_t k = 0; k < len; k++)
				buf[k] = (uint8_t)rnd();
		} else {
			len = fuzz_seed((unsigned)rnd_below(nseeds), buf, MAX_INPUT);
			len = mutate(buf, len);
		}
		run_one(buf, len);
	}
	printf("%lu inputs, %u seeds: OK\n", n + nseeds, nseeds);
	return 0;
}
