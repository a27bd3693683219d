#!/usr/bin/env bash
# Issue 11, latency: +300 ms round trip on the active WAN (the NFQUEUE delay line of
# tools/bench, tools/bench-delay, 150 ms in each direction at the WAN's router) moves
#  - the critical class with policy "lowest-rtt", and
#  - the bulk class (policy failover) with a latency cut-off (max_rtt_ms 150)
# off that WAN within 2 s each: 2 s after the delay starts the class rides a tunnel on another
# WAN, and still does 4 s after (the delayed tunnel's RTT is checked to have risen, so the
# move is the delay's doing). Hysteresis: on the idle lab, whose three paths are equal, the
# lowest-rtt class keeps its tunnel for 5 s, and over the whole run it never moves for a
# gain under 5 ms. The delay's start reads as a silence, which moves any class; once that
# has passed, the tunnel with max_rtt_ms must be degraded for its RTT and the class stay
# away (the cut-off's own doing); when the delay goes, the class comes back.
set -u
# shellcheck source=t/lib/folab.sh
. "$(dirname "$0")/../lib/folab.sh"

DELAY_MS=300

plan 16

folab_init
netns_require_cmd iptables
[ -x "$BENCH_DELAY" ] || skip_all "tools/bench-delay not built"
folab_confs "
cls(c, 'critical')['policy'] = 'lowest-rtt'
cls(c, 'bulk')['max_rtt_ms'] = 150"
folab_start
ok 0 "lab up: critical on lowest-rtt, bulk with max_rtt_ms 150 (groups: $FOLAB_GROUPS)"
is "$(folab_cls critical policy) $(folab_cls bulk policy)" "lowest-rtt failover" \
	"status: each class's policy"

rtts() { folab_q "$CLI_SOCK" '[.tunnels[] | "\(.name):\(.health.rtt_ms)"] | join(" ")'; }

sleep 2
m0=$(folab_cls critical moves)
sleep 5
m1=$(folab_cls critical moves)
is "$(fo_delta "$m1" "$m0")" 0 "lowest-rtt keeps its tunnel for 5 s on three equal idle paths" ||
	{ diag "RTTs now: $(rtts)"; grep "class 'critical': moves" "$T/client.log" | tail -n 3 |
		while IFS= read -r l; do diag "$l"; done; }

# sleep_until T0 S: sleep until S seconds after T0 (wall clock)
sleep_until()
{
	sleep "$(awk -v t="$1" -v s="$2" -v n="$EPOCHREALTIME" \
		'BEGIN { d = t + s - n; print (d > 0 ? d : 0) }')"
}

# rtt_above TUNNEL MS: the tunnel's RTT estimate is above MS
rtt_above()
{
	local r
	r=$(folab_tun "$1" health.rtt_ms)
	[[ $r =~ ^[0-9.]+$ ]] && awk -v r="$r" -v m="$2" 'BEGIN { exit !(r > m) }'
}

# delay_moves CLASS: add the delay on the WAN CLASS rides; 2 s and 4 s later CLASS must ride
# a tunnel on another WAN
delay_moves()
{
	local k=$1 act w t_d on2 on4 health health4
	act=$(folab_cls "$k" active)
	w=$(folab_wan_of "$act")
	folab_fault "$w" delay $DELAY_MS ||
		diag "the delay line did not start: $(cat "$T"/delay-*.log)"
	t_d=$EPOCHREALTIME
	wait_until 3 rtt_above "$act" 200
	ok $? "$k: the RTT of $act rises above 200 ms ($(folab_tun "$act" health.rtt_ms) ms)"
	sleep_until "$t_d" 2
	on2=$(folab_cls "$k" active)
	health=$(folab_tun "$act" health)
	sleep_until "$t_d" 4
	on4=$(folab_cls "$k" active)
	health4=$(folab_tun "$act" health)
	diag "$k: +$DELAY_MS ms on wan$w: on $act before, $on2 after 2 s, $on4 after 4 s;" \
		"last_move $(folab_cls "$k" last_move)"
	diag "$act health at 2 s: $health"
	diag "$act health at 4 s: $health4"
	diag "RTTs: $(rtts)"
	ok "$([ -n "$on2" ] && [ "$(folab_wan_of "$on2")" != "$w" ] && echo 0 || echo 1)" \
		"$k: 2 s after the delay it rides another WAN ($on2)"
	ok "$([ -n "$on4" ] && [ "$(folab_wan_of "$on4")" != "$w" ] && echo 0 || echo 1)" \
		"$k: and still 4 s after ($on4)"
	DELAYED=$w DELAYED_TUN=$act
}

delay_moves critical
folab_fault "$DELAYED" clear
wait_until 20 folab_all_up

wait_until 10 eval '[ "$(folab_cls bulk active)" = bk2 ]'
ok $? "bulk rides bk2 (wan2) before its test"
delay_moves bulk
# The delay's start reads as a silence (acknowledgements 300 ms late), which moves any class
# and holds the tunnel down for a while; once that has passed the tunnel must be degraded for
# its RTT, and only the cut-off keeps the class away.
degraded_rtt()
{
	[ "$(folab_tun "$DELAYED_TUN" health.state) $(folab_tun "$DELAYED_TUN" health.reason)" = \
		"degraded rtt" ]
}
wait_until 8 degraded_rtt
ok $? "within 12 s of the delay $DELAYED_TUN is degraded for its RTT" ||
	diag "$(folab_tun "$DELAYED_TUN" health)"
on=$(folab_cls bulk active)
ok "$([ -n "$on" ] && [ "$(folab_wan_of "$on")" != "$DELAYED" ] && echo 0 || echo 1)" \
	"and the class stays away from it: on $on (cut-off max_rtt_ms 150)"
grep -q "tunnel '$DELAYED_TUN' (wan$DELAYED): path degraded: .*RTT" "$T/client.log"
ok $? "the RTT degradation is logged"
folab_fault "$DELAYED" clear
t_c=$(now_s)
wait_until 15 eval '[ "$(folab_cls bulk active)" = bk2 ]'
ok $? "bulk comes back to bk2 once the delay is gone ($(elapsed "$t_c") s)"

# Hysteresis over the whole run: a lowest-rtt move must gain at least 5 ms (RTT noise on
# the loaded lab's equal paths is a few ms; a voice flow gains nothing from chasing it).
re="s/.*class 'critical': moves from .*: lower RTT: \([0-9.]*\) ms against \([0-9.]*\) ms.*/\1 \2/p"
# (a move away from a tunnel without an RTT sample yet, "against 0.0 ms", does not count)
small=$(sed -n "$re" "$T/client.log" | awk '$2 > 0 && $2 - $1 < 5 { n++ } END { print n + 0 }')
is "$small" 0 "no lowest-rtt move for a gain under 5 ms" ||
	grep "lower RTT" "$T/client.log" | while IFS= read -r l; do diag "$l"; done

lab_finish
done_testing
