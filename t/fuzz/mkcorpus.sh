#!/usr/bin/env bash
# t/fuzz/mkcorpus.sh [BUILD]: (re)write the generated part of the seed corpus t/fuzz/corpus/
# from a normal build (default build/): every target's built-in valid inputs (seed-NN, from
# fuzz_seed() in its source) and, for the config loader, the good config fixtures and the
# examples (conf-*.json). Other files in a corpus directory are kept: crash-* are regression
# inputs found by fuzzing, the rest hand-made.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
for bin in "$build"/t/fuzz/fuzz_*; do
	if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then continue; fi
	name=${bin##*/fuzz_}
	dir=$top/t/fuzz/corpus/$name
	mkdir -p "$dir"
	rm -f "$dir"/seed-*
	"$bin" --write-seeds "$dir"
done
rm -f "$top"/t/fuzz/corpus/conf/conf-*
for f in "$top"/t/conf/good/*.json "$top"/conf/*.json; do
	[ -f "$f" ] && cp "$f" "$top/t/fuzz/corpus/conf/conf-${f##*/}"
done
du -sh "$top/t/fuzz/corpus"
