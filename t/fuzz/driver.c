/* SPDX-License-Identifier: MIT */
/*
 * A libFuzzer-compatible driver for builds without libFuzzer:
 *   fuzz_x PATH...               run each file once (a directory: each file in it), e.g. to
 *                                reproduce a crash
 *   fuzz_x [-n N] [PATH...]      run the target's built-in valid inputs and the files under
 *                                PATH once each, then N inputs (default 20000) from a fixed
 *                                seed: random bytes, and mutations (bit flips, interesting
 *                                bytes, truncation, insertion, duplication, deletion) of them
 *   fuzz_x --write-seeds DIR     write the built-in valid inputs to DIR/seed-NN (the corpus)
 * Every input is copied into a buffer of exactly its size so ASan sees overreads.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define FUZZ_MAX_INPUT 4096

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
			if (len + cnt > FUZZ_MAX_INPUT)
				break;
			memmove(b + pos + cnt, b + pos, len - pos);
			for (size_t i = 0; i < cnt; i++)
				b[pos + i] = (uint8_t)rnd();
			len += cnt;
			break;
		case 5: /* duplicate a chunk at the end */
			cnt = rnd_below(len - pos + 1);
			if (len + cnt > FUZZ_MAX_INPUT)
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

/* Inputs read from files, used as seeds next to the target's built-in ones. */
struct file_seed {
	uint8_t *data; /* owned */
	size_t len;
};

static struct file_seed *file_seeds; /* owned */
static unsigned n_file_seeds;

static int add_file(const char *path)
{
	static uint8_t buf[1 << 20];
	struct file_seed *fs;
	FILE *f = fopen(path, "rb");
	size_t len;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	fs = realloc(file_seeds, (n_file_seeds + 1) * sizeof(*fs));
	if (!fs)
		goto oom;
	file_seeds = fs;
	fs[n_file_seeds].data = malloc(len ? len : 1);
	if (!fs[n_file_seeds].data)
		goto oom;
	memcpy(fs[n_file_seeds].data, buf, len);
	fs[n_file_seeds++].len = len;
	return 0;
oom:
	perror("malloc");
	exit(1);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file, or every regular file of a directory (in name order, for repeatable runs). */
static int add_path(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;
	int status = 0;

	if (!d)
		return errno == ENOTDIR ? add_file(path) : (perror(path), -1);
	while ((e = readdir(d))) {
		char **nn;

		if (e->d_name[0] == '.')
			continue;
		nn = realloc(names, (n + 1) * sizeof(*names));
		if (!nn || asprintf(&nn[n], "%s/%s", path, e->d_name) < 0) {
			perror("malloc");
			exit(1);
		}
		names = nn;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		if (add_file(names[i]) < 0)
			status = -1;
		free(names[i]);
	}
	free(names);
	return status;
}

static int write_seeds(const char *dir)
{
	static uint8_t buf[FUZZ_MAX_INPUT];
	size_t len;

	for (unsigned i = 0; (len = fuzz_seed(i, buf, sizeof(buf))) > 0; i++) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/seed-%02u", dir, i);
		f = fopen(path, "wb");
		if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
			perror(path);
			return 1;
		}
	}
	return 0;
}

/* Seed i: the built-in ones first, then the files; 0 past the last one. */
static size_t get_seed(unsigned i, unsigned nbuiltin, uint8_t *buf, size_t size)
{
	size_t len;

	if (i < nbuiltin)
		return fuzz_seed(i, buf, size);
	i -= nbuiltin;
	if (i >= n_file_seeds)
		return 0;
	len = file_seeds[i].len < size ? file_seeds[i].len : size;
	memcpy(buf, file_seeds[i].data, len);
	return len;
}

int main(int argc, char **argv)
{
	static uint8_t buf[2 * FUZZ_MAX_INPUT];
	unsigned long n = 20000;
	unsigned nbuiltin = 0, nseeds;
	bool generate = argc == 1;
	int status = 0, argi = 1;

	if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0)
		return write_seeds(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "-n") == 0) {
		n = strtoul(argv[2], NULL, 10);
		generate = true;
		argi = 3;
	}
	for (int i = argi; i < argc; i++)
		if (add_path(argv[i]) < 0)
			status = 1;
	if (!generate) {
		/* Reproduce: each file once, nothing else. */
		for (unsigned i = 0; i < n_file_seeds; i++)
			run_one(file_seeds[i].data, file_seeds[i].len);
		printf("%u inputs: OK\n", n_file_seeds);
		return status;
	}
	while (fuzz_seed(nbuiltin, buf, FUZZ_MAX_INPUT) > 0)
		nbuiltin++;
	nseeds = nbuiltin + n_file_seeds;
	/* Every seed as is (files in full), then the random inputs. */
	for (unsigned i = 0; i < nbuiltin; i++)
		run_one(buf, fuzz_seed(i, buf, FUZZ_MAX_INPUT));
	for (unsigned i = 0; i < n_file_seeds; i++)
		run_one(file_seeds[i].data, file_seeds[i].len);
	for (unsigned long i = 0; i < n; i++) {
		size_t len;

		if (nseeds == 0 || rnd_below(4) == 0) {
			len = rnd_below(8) == 0 ? rnd_below(FUZZ_MAX_INPUT) : rnd_below(64);
			for (size_t k = 0; k < len; k++)
				buf[k] = (uint8_t)rnd();
		} else {
			len = get_seed((unsigned)rnd_below(nseeds), nbuiltin, buf, FUZZ_MAX_INPUT);
			len = mutate(buf, len);
		}
		run_one(buf, len);
	}
	for (unsigned i = 0; i < n_file_seeds; i++)
		free(file_seeds[i].data);
	free(file_seeds);
	printf("%lu inputs, %u seeds: OK\n", n + nseeds, nseeds);
	return status;
}
