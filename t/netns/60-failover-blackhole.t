#!/usr/bin/env bash
# Issue 11, blackhole: the router of the WAN carrying the critical class drops everything it
# forwards (link and addresses stay up) while a bidirectional 100 packet/s UDP probe with DSCP
# EF runs from the LAN host to the Internet host (t/lib/udprobe.py). Each trial: 1.5 s light,
# 3 s dark, 3.5 s light again (the class may move back meanwhile).
#  - with the SHIPPED default settings (nothing about failover in either configuration):
#    the longest gap between echoed probes is <= 1 s in each of 5 trials (p50 and max printed)
#  - with the critical class's policy "duplicate": <= 2 probes lost per trial, and the
#    duplicates never reach either end (the echo host and the LAN host see each probe once)
# On the lab of t/lib/folab.sh: three WANs, a router per WAN, shared group addresses.
set -u
# shellcheck source=t/lib/folab.sh
. "$(dirname "$0")/../lib/folab.sh"

TRIALS=5
LIGHT1=1.5
DARK=3
PROBE_S=8

plan $((3 + TRIALS * 2 + 3 + 1 + TRIALS * 3 + 2 + 1))

folab_init
folab_confs
folab_start
ok 0 "lab up: nine tunnels over three WANs, classifier on both ends (groups: $FOLAB_GROUPS)"
folab_probe_echo >/dev/null
wait_until 5 ns_listening inet udp $FO_PROBE_PORT || bail_out "the probe echo does not listen"

is "$(folab_cls critical active)" cr1 "the critical class rides cr1 (wan1) at start"
folab_probe_bg 2 "$T/warm.json" >/dev/null
wait_until 6 test -s "$T/warm.json"
is "$(jget lost "$T/warm.json")" 0 "a 2 s probe through the healthy lab loses nothing" ||
	diag "$(cat "$T/warm.json")"

# settled: every tunnel up and the class on its first tunnel again (failover policy)
settled()
{
	folab_all_up && [ "$(folab_cls critical active 2>/dev/null)" = "${1:-cr1}" ]
}

# trial TAG: one blackhole trial on the WAN the class rides now; leaves $T/TAG.json
trial()
{
	local tag=$1 act w pid t_dark
	act=$(folab_cls critical active)
	w=$(folab_wan_of "$act")
	pid=$(folab_probe_bg $PROBE_S "$T/$tag.json" --raw "$T/$tag.raw")
	folab_probe_ready "$T/$tag.json" || diag "$tag: no echo within 5 s of the start"
	sleep $LIGHT1
	folab_fault "$w" blackhole
	t_dark=$(now_s)
	sleep $DARK
	folab_fault "$w" clear
	wait_until $((PROBE_S + 5)) eval "! ns_alive $pid"
	diag "$tag: wan$w dark for ${DARK} s from $t_dark (was on $act, now on" \
		"$(folab_cls critical active)): $(cat "$T/$tag.json")"
}

# ---- 1. shipped defaults ----
for i in $(seq $TRIALS); do
	wait_until 20 settled
	ok $? "trial $i: all tunnels up, critical on cr1" ||
		diag "$(folab_states)"
	trial "default-$i"
	gap=$(jget longest_gap_ms "$T/default-$i.json" 2>/dev/null)
	gap=${gap%.*}
	cmp_ok "${gap:-999999}" -le 1000 "trial $i (shipped defaults): longest gap in ms"
done
res=$(python3 "$UDPROBE" agg longest_gap_ms "$T"/default-*.json)
diag "shipped defaults, longest gap per trial (ms): $res"
p50=$(python3 -c 'import json,sys; print(int(json.loads(sys.argv[1])["p50"] or 99999))' "$res")
cmp_ok "$p50" -le 1000 "p50 of the longest gaps (ms) over $TRIALS trials"
moves=$(folab_moves_log critical | wc -l)
cmp_ok "$moves" -ge "$TRIALS" "the client logged a move of the critical class per blackhole"
folab_moves_log critical | tail -n 2 | while IFS= read -r l; do diag "$l"; done
like "$(folab_moves_log critical | tail -n 1)" \
	"class 'critical': moves from .+ to .+: .+" "the move's log line has a reason"

# ---- 2. policy duplicate ----
folab_restart_client "cls(c, 'critical')['policy'] = 'duplicate'"
rc=$?
ok $rc "client restarted with the critical class on policy duplicate" ||
	diag "$(cat "$T/check-client.log")"
for i in $(seq $TRIALS); do
	if [ $rc -ne 0 ]; then
		ok 1 "trial $i (duplicate): not run, the client did not start"
		ok 1 "trial $i (duplicate): not run"
		ok 1 "trial $i (duplicate): not run"
		continue
	fi
	wait_until 20 folab_all_up
	trial "dup-$i"
	lost=$(jget lost "$T/dup-$i.json")
	cmp_ok "${lost:-9999}" -le 2 "trial $i (duplicate): probes lost"
	is "$(jget dup_replies "$T/dup-$i.json")" 0 \
		"trial $i (duplicate): every echo reached the LAN host once"
	is "$(jget echo_dups "$T/dup-$i.json")" 0 \
		"trial $i (duplicate): every probe reached the Internet host once"
done
if [ $rc -eq 0 ]; then
	second=$(folab_cls critical second)
	dd=$(folab_cls critical dup_dropped)
	diag "critical: active $(folab_cls critical active), second $second, dup_dropped $dd"
	like "$second" '^cr[123]$' "the duplicate class names its second tunnel"
	cmp_ok "${dd:-0}" -gt 0 "duplicates were dropped by the receiver (dup_dropped)"
else
	ok 1 "second tunnel: not run"
	ok 1 "dup_dropped: not run"
fi

lab_finish
done_testing
