#!/usr/bin/env bash
# tools/check's command line: --quick, --suite and --test become the meson test arguments
# that docs/testing.md documents (checked with --dry-run, which builds and runs nothing), bad
# arguments are refused, and the documented selection really names a test.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=t/lib/tap.sh
. "$here/../lib/tap.sh"
top=${MPQ_TOP:-$(cd "$here/../.." && pwd)}
check="$top/tools/check"
mt="meson test -C $top/build --no-rebuild --print-errorlogs"

plan 8

out=$("$check" --dry-run --quick --suite netns --test 20-tunnel 2>/dev/null)
is "$out" "$mt --suite netns 20-tunnel" "--quick --suite netns --test 20-tunnel: one run, that test"
out=$("$check" --dry-run --quick 2>/dev/null)
is "$out" "$mt --no-suite slow" "--quick: the normal build only, without suite slow"
out=$("$check" --dry-run --test=lpm --test cid 2>/dev/null)
is "$out" "$mt lpm cid
meson test -C $top/build-asan --no-rebuild --print-errorlogs --no-suite slow lpm cid" \
	"without --quick: both builds, the ASan one without suite slow"
"$check" --suite >/dev/null 2>&1
is $? 2 "--suite without a name is refused"
"$check" --bogus >/dev/null 2>&1
is $? 2 "an unknown argument is refused"
out=$("$check" --help)
like "$out" "--suite S" "--help documents --suite" &&
	like "$out" "--test T" "--help documents --test"
if [ -n "${MPQ_BUILD:-}" ] && [ -f "$MPQ_BUILD/build.ninja" ]; then
	out=$(meson test -C "$MPQ_BUILD" --no-rebuild --list --suite netns 20-tunnel 2>&1)
	is "$(grep -c '20-tunnel' <<<"$out")" 1 "the documented selection names exactly one test" ||
		diag "$out"
else
	ok 0 "# SKIP not run from a meson build"
fi
done_testing
