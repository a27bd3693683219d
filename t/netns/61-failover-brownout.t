#!/usr/bin/env bash
# Issue 11, brownout: the router of the WAN carrying the critical class drops 30 % of what it
# forwards, both directions (`numgen random mod 100 < 30`), for the rest of the probe, while a
# bidirectional 100 packet/s UDP probe with DSCP EF runs from the LAN host to the Internet host.
#  - shipped defaults: the class leaves the WAN within 2 s of the brownout's start, stays off
#    it, and from the move on the probe loses < 1 % of its round trips; the browned-out
#    tunnel's health says degraded (or down), with a reason
#  - policy duplicate: < 1 % of the round trips lost over the whole probe, no duplicate seen
#    by either end
set -u
# shellcheck source=t/lib/folab.sh
. "$(dirname "$0")/../lib/folab.sh"

PROBE_S=12
DUP_PROBE_S=10
LIGHT1=1.5

plan 14

folab_init
folab_confs
folab_start
ok 0 "lab up: nine tunnels over three WANs (groups: $FOLAB_GROUPS)"
folab_probe_echo >/dev/null
wait_until 5 ns_listening inet udp $FO_PROBE_PORT || bail_out "the probe echo does not listen"

# ---- 1. shipped defaults ----
act=$(folab_cls critical active)
w=$(folab_wan_of "$act")
pid=$(folab_probe_bg $PROBE_S "$T/brown.json" --raw "$T/brown.raw")
folab_probe_ready "$T/brown.json" || diag "no echo within 5 s of the probe's start"
sleep $LIGHT1
folab_fault "$w" brownout 30
t_b=$(now_s)
MOVED_AT='' MOVED_TO=''
wait_until 6 folab_moved_off critical "$act"
moved=$?
health=$(folab_tun "$act" health)
wait_until $((PROBE_S + 5)) eval "! ns_alive $pid"
end_on=$(folab_cls critical active)
drops=$(folab_fault_drops "$w")
folab_fault "$w" clear
diag "brownout 30 % on wan$w from $t_b; class left $act for ${MOVED_TO:-nothing} at" \
	"${MOVED_AT:-never}; at the end on $end_on; $act health then: $health"
diag "probe: $(cat "$T/brown.json")"
diag "router r$w dropped $drops packets"
ok $moved "the critical class left $act (wan$w)"
dt=$(python3 -c "print(int(1000 * (${MOVED_AT:-1e12} - $t_b)))")
cmp_ok "$dt" -le 2000 "it left within 2 s of the brownout's start (ms)"
ok "$([ -n "$MOVED_TO" ] && [ "$(folab_wan_of "$MOVED_TO")" != "$w" ] && echo 0 || echo 1)" \
	"it moved to another WAN (${MOVED_TO:-none})"
ok "$([ "$(folab_wan_of "$end_on")" != "$w" ] && echo 0 || echo 1)" \
	"it stayed off wan$w while the brownout lasted (on $end_on at the end)"
after=$(python3 "$UDPROBE" stats "$T/brown.raw" --from "${MOVED_AT:-1e12}")
diag "probes sent after the move: $after"
loss_x1000=$(jq -r 'if .sent > 0 then (.loss_pct * 1000 | floor) else 999999 end' <<<"$after")
cmp_ok "${loss_x1000:-999999}" -lt 1000 "round trips lost after the move (% x 1000)"
sent_after=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["sent"])' "$after")
cmp_ok "$sent_after" -ge 500 "at least 5 s of probing after the move (probes)"
like "$health" '"state":"(degraded|down)"' "the browned-out tunnel's health is degraded or down"
like "$health" '"reason":"[^"]+"' "with a reason"

# ---- 2. policy duplicate ----
wait_until 20 folab_all_up
folab_restart_client "cls(c, 'critical')['policy'] = 'duplicate'"
rc=$?
ok $rc "client restarted with the critical class on policy duplicate" ||
	diag "$(cat "$T/check-client.log")"
if [ $rc -eq 0 ]; then
	act=$(folab_cls critical active)
	w=$(folab_wan_of "$act")
	pid=$(folab_probe_bg $DUP_PROBE_S "$T/dup.json")
	folab_probe_ready "$T/dup.json" || diag "no echo within 5 s of the probe's start"
	sleep $LIGHT1
	folab_fault "$w" brownout 30
	wait_until $((DUP_PROBE_S + 5)) eval "! ns_alive $pid"
	drops=$(folab_fault_drops "$w")
	folab_fault "$w" clear
	diag "duplicate, brownout 30 % on wan$w (active $act, second" \
		"$(folab_cls critical second)): $(cat "$T/dup.json")"
	diag "router r$w dropped $drops packets;" \
		"dup_dropped $(folab_cls critical dup_dropped)"
	loss_x1000=$(jq -r '.loss_pct * 1000 | floor' "$T/dup.json" 2>/dev/null)
	cmp_ok "${loss_x1000:-999999}" -lt 1000 "duplicate: round trips lost overall (% x 1000)"
	is "$(jget dup_replies "$T/dup.json") $(jget echo_dups "$T/dup.json")" "0 0" \
		"duplicate: no probe and no echo arrived twice"
else
	ok 1 "duplicate: not run, the client did not start"
	ok 1 "duplicate: not run"
fi

ok "$(ns_alive "$SPID" && { [ $rc -ne 0 ] || ns_alive "$CPID"; }; echo $?)" \
	"the daemons still run"
lab_finish
done_testing
