# shellcheck shell=bash
# t/lib/tap.sh: minimal TAP producer for the shell tests (meson runs them with protocol 'tap').
#
#   plan N                 print the plan "1..N" (or call done_testing at the end instead)
#   skip_all REASON        print "1..0 # SKIP REASON" and exit 0
#   bail_out REASON        print "Bail out! REASON" and exit 1 (setup failed, nothing to test)
#   ok STATUS DESC         one test point: passes when STATUS (an exit status) is 0
#   todo_ok STATUS WHY DESC  a criterion known not to hold yet: "ok" when it does, else
#                          "not ok ... # TODO WHY", which does not fail the test (say why in
#                          diagnostics: a TODO must never hide a regression silently)
#   run_ok DESC CMD...     run CMD; pass when it exits 0, else show its output as diagnostics
#   is GOT WANT DESC       passes when the strings are equal, else shows both
#   like GOT REGEX DESC    passes when GOT matches the extended regular expression
#   cmp_ok A OP B DESC     passes when `test A OP B` holds (integers: -lt, -ge, ...; an empty A
#                          counts as 0); the description shows the values
#   diag MSG...            diagnostics, every line prefixed with "# "
#   done_testing           print the plan if none was given, check the count, exit 0 or 1
#
# Test points go to stdout, diagnostics too (meson shows them in the test log). Every helper
# returns the test's own status, so `ok $? "x" || diag "more"` works.

_tap_count=0
_tap_failed=0
_tap_planned=

plan()
{
	_tap_planned=$1
	echo "1..$1"
}

skip_all()
{
	echo "1..0 # SKIP $*"
	exit 0
}

bail_out()
{
	echo "Bail out! $*"
	exit 1
}

diag()
{
	local line
	while IFS= read -r line; do
		echo "# $line"
	done <<<"$*"
}

ok()
{
	local status=$1
	shift
	_tap_count=$((_tap_count + 1))
	if [ "$status" = 0 ]; then
		echo "ok $_tap_count - $*"
		return 0
	fi
	echo "not ok $_tap_count - $*"
	diag "  failed test '$*' (status $status)"
	_tap_failed=$((_tap_failed + 1))
	return 1
}

todo_ok()
{
	local status=$1 why=$2
	shift 2
	_tap_count=$((_tap_count + 1))
	if [ "$status" = 0 ]; then
		echo "ok $_tap_count - $*"
		return 0
	fi
	echo "not ok $_tap_count - $* # TODO $why"
	return 1
}

run_ok()
{
	local desc=$1 out status
	shift
	out=$("$@" 2>&1)
	status=$?
	ok "$status" "$desc" && return 0
	diag "  command: $*"
	[ -n "$out" ] && diag "$out"
	return 1
}

is()
{
	local got=$1 want=$2
	shift 2
	[ "$got" = "$want" ]
	ok $? "$*" && return 0
	diag "       got: '$got'"
	diag "  expected: '$want'"
	return 1
}

cmp_ok()
{
	test "${1:-0}" "$2" "$3"
	ok $? "$4 ($1 $2 $3)"
}

like()
{
	local got=$1 re=$2
	shift 2
	[[ $got =~ $re ]]
	ok $? "$*" && return 0
	diag "       got: '$got'"
	diag "  expected to match: /$re/"
	return 1
}

done_testing()
{
	if [ -z "$_tap_planned" ]; then
		echo "1..$_tap_count"
	elif [ "$_tap_planned" != "$_tap_count" ]; then
		diag "planned $_tap_planned tests but ran $_tap_count"
		exit 1
	fi
	[ "$_tap_failed" -eq 0 ] || diag "failed $_tap_failed of $_tap_count tests"
	[ "$_tap_failed" -eq 0 ] && exit 0
	exit 1
}
