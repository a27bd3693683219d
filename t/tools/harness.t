#!/usr/bin/env bash
# The test harness itself, without root: TAP helpers report failures and exit statuses as
# documented, wait_until is bounded, ns_stop never signals a process it did not start.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=t/lib/netns.sh
. "$here/../lib/netns.sh"

# tap SCRIPT: run SCRIPT in a child bash that sourced tap.sh; sets out and st.
tap()
{
	out=$(bash -c ". '$here/../lib/tap.sh'; $1" 2>&1)
	st=$?
}

plan 17

tap 'ok 0 a; is x x b; like foo "^f" c; done_testing'
is "$st" 0 "passing tests: exit 0"
is "$out" $'ok 1 - a\nok 2 - b\nok 3 - c\n1..3' "passing tests: TAP output"

tap 'ok 1 a; is got want b; done_testing'
is "$st" 1 "failing tests: exit 1"
like "$out" $'not ok 1 - a\n.*not ok 2 - b' "failing tests: 'not ok' lines"
like "$out" "#        got: 'got'"$'\n'"#   expected: 'want'" "is: shows got and expected"

tap 'plan 3; ok 0 a; done_testing'
is "$st" 1 "plan not met: exit 1"
tap 'skip_all no frobnicator; ok 0 never'
is "$st/$out" "0/1..0 # SKIP no frobnicator" "skip_all: SKIP plan, exit 0"
tap 'run_ok "r" sh -c "echo boom; exit 3"; done_testing'
like "$out" "# boom" "run_ok: failing command's output shown as diagnostics"

start=$EPOCHREALTIME
wait_until 0.3 false
st=$?
elapsed=$(python3 -c "print(int(($EPOCHREALTIME - $start) * 1000))")
is "$st" 1 "wait_until: 1 on timeout"
((elapsed >= 300 && elapsed < 2000))
ok $? "wait_until 0.3: gave up after ${elapsed} ms"
n=0
# shellcheck disable=SC2317 # called through wait_until
third() { n=$((n + 1)); [ "$n" -ge 3 ]; }
wait_until 5 third
is "$?/$n" 0/3 "wait_until: polls a shell function until it succeeds"
wait_until soon true 2>/dev/null
is "$?" 2 "wait_until: a bad timeout is an error"

is "$(ns_name edge)" "mpq-edge-$$" "ns_name adds the prefix and \$\$"
is "$(ns_name "mpq-edge-$$")" "mpq-edge-$$" "ns_name keeps a full name"

sleep 30 &
foreign=$!
msg=$(ns_stop "$foreign" 2>&1)
kill -0 "$foreign" 2>/dev/null
ok $? "ns_stop leaves a process it did not start alone"
like "$msg" "not started by ns_bg" "ns_stop says so"
kill "$foreign"
wait "$foreign" 2>/dev/null
[ -d "$T" ]
ok $? "\$T exists while the test runs"

done_testing
