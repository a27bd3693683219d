#!/usr/bin/env bash
# run-libfuzzer.sh BINARY CORPUS: run one libFuzzer target (a -Dfuzzing=true build) for
# $MPQ_FUZZ_SECONDS seconds (default 30) from a copy of CORPUS (the committed corpus is never
# written). Fails on a crash, a sanitizer report, a leak, a slow input (> 10 s) or an input
# needing > 2 GiB; the input that did it is kept in $MPQ_FUZZ_ARTIFACTS (default: a
# directory next to BINARY) and named in the output. Prints the coverage reached (cov, ft),
# the corpus size and the speed (exec/s). A dictionary t/fuzz/<target>.dict is used if present.
set -u
bin=$1
corpus=$2
secs=${MPQ_FUZZ_SECONDS:-30}
name=$(basename "$bin")
artifacts=${MPQ_FUZZ_ARTIFACTS:-$(dirname "$bin")/artifacts-$name}

[ -x "$bin" ] || { echo "$bin: not built" >&2; exit 1; }
[ -d "$corpus" ] || { echo "$corpus: no corpus" >&2; exit 1; }
case $secs in '' | *[!0-9]*) echo "MPQ_FUZZ_SECONDS='$secs': expected seconds" >&2; exit 1 ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/mpq-fuzz-$name.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$artifacts" || exit 1
cp -- "$corpus"/* "$work/corpus/" 2>/dev/null
seeds=$(find "$work/corpus" -type f | wc -l)

# A dictionary t/fuzz/<name>.dict beside the corpus directory, if there is one.
dict=()
[ -f "$corpus/../../${name#fuzz_}.dict" ] && dict=(-dict="$corpus/../../${name#fuzz_}.dict")

# libFuzzer stops itself after max_total_time; timeout(1) is the guard if it does not.
timeout --kill-after=10 $((secs + 120)) "$bin" -max_total_time="$secs" -timeout=10 \
	-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" \
	"$work/corpus" >"$work/log" 2>&1
status=$?

last=$(grep -E '^#[0-9]+' "$work/log" | tail -n 1)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
echo "$name: ${secs}s, $seeds seeds, ${execs:-?} runs, ${rate:-?} exec/s"
[ -n "$last" ] && echo "$name: $last"
if [ $status -ne 0 ] || grep -qE '^(==[0-9]+==ERROR|SUMMARY: )|runtime error:' "$work/log"; then
	echo "$name: FAILED (exit status $status); libFuzzer's output:"
	tail -n 80 "$work/log"
	grep -o "Test unit written to .*" "$work/log" | sed "s/^/$name: /"
	echo "$name: reproduce with: $bin FILE; add FILE to $corpus as a regression input"
	exit 1
fi
exit 0
