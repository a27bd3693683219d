#!/usr/bin/env bash
# Logging: with JOURNAL_STREAM set (started by systemd, stderr read by journald) every stderr
# line starts with a syslog priority "<N>"; otherwise "mpquicd: LEVEL: ". The config's
# log_level is honored: debug lines only at "debug", nothing below the level otherwise.
# Startup errors (a config that does not load) are logged at priority 3 under journald.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init

# run_client NAME LEVEL [ENV...]: start a client at LEVEL, wait for its tunnel, stop it.
run_client()
{
	local name=$1 level=$2 pid
	shift 2
	lab_client_conf "$T/$name.json" "
c['log_level'] = '$level'
c['control_socket'] = '$T/$name.sock'
c['tunnels'][0]['tun'] = 'mpq$name'"
	pid=$(ns_bg cli "$T/$name.log" env "$@" "$MPQUICD" -c "$T/$name.json" --foreground)
	lab_wait_up "$T/$name.sock" t1 || diag "$name: tunnel t1 did not come up"
	ns_stop "$pid"
}

# nonmatching FILE REGEX: lines of FILE that do not match REGEX
nonmatching()
{
	grep -Ev "$2" "$1"
}

plan 14

lab_server_conf "$T/server.json"
lab_start srv "$T/server.json" "$T/server.log" >/dev/null
wait_until 5 ns_listening srv udp "$LAB_PORT" || bail_out "server did not start"

run_client plain info
run_client journal info JOURNAL_STREAM=8:12345
run_client dbg debug
run_client jdbg debug JOURNAL_STREAM=8:12345
run_client quiet error

grep -q '^mpquicd: notice: mpquicd [0-9.]* started as client' "$T/plain.log"
ok $? "plain: 'mpquicd: notice: ...started as client'"
is "$(nonmatching "$T/plain.log" '^mpquicd: (error|warning|notice|info): ')" "" \
	"plain: every line is 'mpquicd: LEVEL: ' at info or above"
grep -q '^<5>mpquicd [0-9.]* started as client' "$T/journal.log"
ok $? "journal: '<5>mpquicd ...started as client'"
is "$(nonmatching "$T/journal.log" '^<[3-6]>[^<]')" "" "journal: every line starts with <3>..<6>"
is "$(grep -c '^<7>' "$T/journal.log")" 0 "journal at info: no <7> line"
grep -q '^mpquicd: debug: ' "$T/dbg.log"
ok $? "debug level: debug lines are printed"
grep -q "^mpquicd: debug: tunnel 't1': connecting" "$T/dbg.log"
ok $? "debug level: a debug line names its tunnel (\"tunnel 't1': connecting\")"
grep -q '^<7>' "$T/jdbg.log"
ok $? "journal at debug: <7> lines"
is "$(nonmatching "$T/jdbg.log" '^<[3-7]>[^<]')" "" "journal at debug: every line starts with <N>"
is "$(grep -c 'debug' "$T/plain.log")" 0 "info level: no debug line"
is "$(nonmatching "$T/quiet.log" '^mpquicd: error: ')" "" "error level: nothing below error"

# A config that does not load: the errors are startup errors, priority 3 under journald.
echo '{"role": "client", "bogus": 1}' >"$T/bad.json"
out=$(ns_exec cli env JOURNAL_STREAM=8:12345 "$MPQUICD" -c "$T/bad.json" 2>&1)
is "$?" 1 "a config that does not load: exit 1"
like "$out" "^<3>$T/bad.json: " "under journald its errors are logged at priority 3"
out=$(ns_exec cli "$MPQUICD" -c "$T/bad.json" 2>&1)
like "$out" "^mpquicd: error: $T/bad.json: " "otherwise as 'mpquicd: error: FILE: ...'"

done_testing
