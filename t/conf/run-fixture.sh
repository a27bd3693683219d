#!/bin/sh
# run-fixture.sh MPQUICD FIXTURE: check one configuration fixture with `mpquicd --check-config`.
#
#   good/NAME.json  exit status 0 and "configuration OK" on stdout
#   bad/NAME.json   exit status exactly 1 (a crash or a sanitizer abort is not a pass) and every
#                   non-empty line of bad/NAME.expect somewhere in stderr
set -u
if [ $# -ne 2 ]; then
	echo "usage: $0 MPQUICD FIXTURE" >&2
	exit 2
fi
mpquicd=$1
fixture=$2
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

"$mpquicd" --check-config "$fixture" >"$tmp/out" 2>"$tmp/err"
rc=$?

show()
{
	echo "--- stdout:"
	cat "$tmp/out"
	echo "--- stderr:"
	cat "$tmp/err"
}

case $fixture in
*/bad/*.json)
	expect=${fixture%.json}.expect
	if [ ! -f "$expect" ]; then
		echo "FAIL: $expect is missing"
		exit 1
	fi
	if [ $rc -ne 1 ]; then
		echo "FAIL: exit status $rc, expected 1"
		show
		exit 1
	fi
	fail=0
	while IFS= read -r line || [ -n "$line" ]; do
		[ -z "$line" ] && continue
		if ! grep -qF -- "$line" "$tmp/err"; then
			echo "FAIL: stderr lacks: $line"
			fail=1
		fi
	done <"$expect"
	if [ $fail -ne 0 ]; then
		show
		exit 1
	fi
	;;
*/good/*.json)
	if [ $rc -ne 0 ] || ! grep -qx 'configuration OK' "$tmp/out"; then
		echo "FAIL: exit status $rc, expected 0 and \"configuration OK\""
		show
		exit 1
	fi
	;;
*)
	echo "FAIL: $fixture is neither under good/ nor under bad/"
	exit 1
	;;
esac
exit 0
