#!/usr/bin/env bash
# Issue 11, sessions survive a move: an iperf3 TCP flow (20 Mbit/s, bulk class, 1 s intervals
# from iperf3 --json) from the LAN host to the Internet host while the router of the bulk
# class's WAN blackholes everything.
#  1. the WAN stays dark: the SAME connection (iperf3 ends without error, one data stream)
#     keeps >= 50 % of its rate before the blackhole in every second from 3 s after it on
#  2. the WAN comes back 5 s later: the class moves back to its first tunnel and there is no
#     second stall: still >= 50 % in every second from 3 s after the blackhole to the end
set -u
# shellcheck source=t/lib/folab.sh
. "$(dirname "$0")/../lib/folab.sh"
netns_require_cmd iperf3

RATE=20M
BH_AT=4 # s into the transfer

plan 13

folab_init
folab_confs
folab_start
ok 0 "lab up (groups: $FOLAB_GROUPS)"
ns_bg inet "$T/iperf3-srv.log" iperf3 -s -B $FO_INET -p $FO_IPERF_PORT >/dev/null
wait_until 5 ns_listening inet tcp $FO_IPERF_PORT || bail_out "iperf3 server does not listen"
is "$(folab_cls bulk active)" bk2 "the bulk class rides bk2 (wan2)"
c0=$(folab_cls critical moves)
l0=$(folab_moves_log bulk | wc -l)

# run TAG SECS RETURN_AFTER: iperf3 for SECS with the bulk WAN dark from BH_AT on (light again
# RETURN_AFTER s later when not 0); the verdict of the per-second check in $T/TAG.verdict
run()
{
	local tag=$1 secs=$2 ret=$3 act w pid t_start t_bh
	act=$(folab_cls bulk active)
	w=$(folab_wan_of "$act")
	t_start=$(now_s)
	pid=$(ns_bg lan "$T/$tag.err" sh -c 'exec iperf3 "$@" >"$0"' "$T/$tag.json" \
		-c $FO_INET -p $FO_IPERF_PORT -t "$secs" -b $RATE -i 1 --json)
	sleep $BH_AT
	folab_fault "$w" blackhole
	t_bh=$(now_s)
	if [ "$ret" != 0 ]; then
		sleep "$ret"
		folab_fault "$w" clear
	fi
	wait_until $((secs + 10)) eval "! ns_alive $pid"
	folab_fault "$w" clear
	diag "$tag: wan$w dark from $(python3 -c "print(round($t_bh - $t_start, 2))") s" \
		"$([ "$ret" != 0 ] && echo "for $ret s" || echo "to the end"); bulk: active" \
		"$(folab_cls bulk active), moves $(folab_cls bulk moves), last_move" \
		"$(folab_cls bulk last_move)"
	python3 - "$T/$tag.json" "$(python3 -c "print($t_bh - $t_start)")" >"$T/$tag.verdict" <<'PY'
import json, sys
path, bh = sys.argv[1], float(sys.argv[2])
try:
    r = json.load(open(path))
except ValueError as e:
    print("FAIL no iperf3 JSON (%s)" % e)
    sys.exit()
iv = [(i["sum"]["start"], i["sum"]["end"], i["sum"]["bits_per_second"] / 1e6)
      for i in r.get("intervals", [])]
print("# Mbit/s per second: " + " ".join("%.0f-%.0f:%.1f" % x for x in iv))
streams = {s["socket"] for i in r.get("intervals", []) for s in i["streams"]}
before = [m for s, e, m in iv if s >= 1 and e <= bh]
base = sum(before) / len(before) if before else 0
after = [(s, e, m) for s, e, m in iv if s >= bh + 3]
bad = [(s, e, m) for s, e, m in after if m < base / 2]
err = r.get("error")
print("# base %.1f Mbit/s (before the blackhole), %d intervals checked from %.1f s, "
      "data sockets %s, error %r" % (base, len(after), bh + 3, sorted(streams), err))
if err:
    print("FAIL iperf3 error: %s" % err)
elif len(streams) != 1:
    print("FAIL %d data connections" % len(streams))
elif base <= 0 or len(after) < 3:
    print("FAIL too little to judge (base %.1f, %d intervals)" % (base, len(after)))
elif bad:
    print("FAIL below half the base rate: " +
          ", ".join("%.0f-%.0f s %.1f Mbit/s" % x for x in bad))
else:
    print("OK min %.1f Mbit/s of base %.1f" % (min(m for _, _, m in after), base))
PY
	grep '^#' "$T/$tag.verdict" | sed 's/^# //' | while IFS= read -r l; do diag "$tag: $l"; done
}

# ---- 1. the WAN stays dark ----
run dark 14 0
v=$(grep -v '^#' "$T/dark.verdict")
like "$v" '^OK' "dark WAN: the same TCP connection keeps >= 50 % of its rate every second" \
	"from 3 s after the blackhole ($v)"
is "$(folab_cls bulk active | cut -c1-2)" bk "the bulk class rides a bk tunnel"
ok "$([ "$(folab_cls bulk active)" != bk2 ] && echo 0 || echo 1)" \
	"it left bk2 while wan2 was dark (now $(folab_cls bulk active))"
cmp_ok "$(($(folab_moves_log bulk | wc -l) - l0))" -ge 1 "the move is logged (lines)"
folab_moves_log bulk | tail -n 1 | while IFS= read -r l; do diag "$l"; done

# ---- 2. the WAN returns ----
t_c=$(now_s)
wait_until 20 eval 'folab_all_up && [ "$(folab_cls bulk active)" = bk2 ]'
ok $? "bulk is back on bk2 after the dark run ($(elapsed "$t_c") s)"
m0=$(folab_cls bulk moves)
run back 18 5
v=$(grep -v '^#' "$T/back.verdict")
like "$v" '^OK' "WAN back after 5 s: no second stall when the class moves back ($v)"
t_c=$(now_s)
wait_until 10 eval '[ "$(folab_cls bulk active)" = bk2 ]'
ok $? "the class is back on bk2"
m1=$(folab_cls bulk moves)
cmp_ok "$(fo_delta "$m1" "$m0")" -ge 2 "it moved away and back (moves)"
cmp_ok "$(fo_delta "$(folab_cls critical moves)" "$c0")" -eq 0 \
	"the critical class never moved (moves)"
ok "$(ns_alive "$CPID" && ns_alive "$SPID"; echo $?)" "both daemons still run"

lab_finish
done_testing
