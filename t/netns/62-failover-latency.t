#!/usr/bin/env bash
# Issue 11, latency: +300 ms round trip on the active WAN (the NFQUEUE delay line of
# tools/bench, tools/bench-delay, 150 ms in each direction at the WAN's router) moves
#  - the critical class with policy "lowest-rtt", and
#  - the bulk class (policy failover) with a latency cut-off (max_rtt_ms 150)
# off that WAN within 2 s each; when the delay goes, the failover class comes back to its first
# tunnel, and the delayed tunnel's health said degraded with a reason meanwhile.
set -u
# shellcheck source=t/lib/folab.sh
. "$(dirname "$0")/../lib/folab.sh"

DELAY_MS=300

plan 13

folab_init
[ -x "$BENCH_DELAY" ] || skip_all "tools/bench-delay not built"
folab_confs "
cls(c, 'critical')['policy'] = 'lowest-rtt'
cls(c, 'bulk')['max_rtt_ms'] = 150"
folab_start
ok 0 "lab up: critical on lowest-rtt, bulk with max_rtt_ms 150 (groups: $FOLAB_GROUPS)"
is "$(folab_cls critical policy) $(folab_cls bulk policy)" "lowest-rtt failover" \
	"status: each class's policy"

# delay_moves CLASS: add the delay on the WAN CLASS rides, check it leaves within 2 s
delay_moves()
{
	local k=$1 act w t_d moved dt health
	# let the RTT estimates settle on the idle lab first
	sleep 2
	act=$(folab_cls "$k" active)
	w=$(folab_wan_of "$act")
	folab_fault "$w" delay $DELAY_MS || diag "the delay line did not start: $(cat "$T"/delay-*.log)"
	t_d=$(now_s)
	MOVED_AT='' MOVED_TO=''
	wait_until 6 folab_moved_off "$k" "$act"
	moved=$?
	health=$(folab_tun "$act" health)
	diag "$k: +$DELAY_MS ms on wan$w from $t_d: left $act for ${MOVED_TO:-nothing} at" \
		"${MOVED_AT:-never}; $act health: $health"
	diag "rtt_ms: $(folab_q "$CLI_SOCK" '[.tunnels[] | "\(.name):\(.health.rtt_ms)"] | join(" ")')"
	ok $moved "$k: the class left $act (wan$w)"
	dt=$(python3 -c "print(int(1000 * (${MOVED_AT:-1e12} - $t_d)))")
	cmp_ok "$dt" -le 2000 "$k: within 2 s of the delay's start (ms)"
	ok "$([ -n "$MOVED_TO" ] && [ "$(folab_wan_of "$MOVED_TO")" != "$w" ] && echo 0 || echo 1)" \
		"$k: to another WAN (${MOVED_TO:-none})"
	DELAYED=$w DELAYED_TUN=$act DELAYED_HEALTH=$health
}

delay_moves critical
folab_fault "$DELAYED" clear
wait_until 20 folab_all_up

is "$(folab_cls bulk active)" bk2 "bulk rides bk2 (wan2) before its test"
delay_moves bulk
like "$DELAYED_HEALTH" '"state":"degraded"' "$DELAYED_TUN's health is degraded"
like "$DELAYED_HEALTH" '"reason":"[^"]+"' "with a reason"
folab_fault "$DELAYED" clear
t_c=$(now_s)
wait_until 15 eval '[ "$(folab_cls bulk active)" = bk2 ]'
ok $? "bulk comes back to bk2 once the delay is gone ($(elapsed "$t_c") s)"

lab_finish
done_testing
