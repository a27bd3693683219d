#!/usr/bin/env bash
# Issue 11, flapping: the router of wan1 (carrying the critical class) goes dark and light
# every 2 s for 30 s, while a 100 packet/s probe runs on the critical class.
#  - hysteresis: the critical class makes a bounded number of moves (at most 8; a tunnel
#    that came back after every light phase would make 15), and is back on cr1 in the end
#  - no fd growth and < 2 MiB RSS growth in either daemon (RSS not judged under ASan)
#  - the other classes (bulk on wan2, default on wan3) are untouched: same tunnel, no move
set -u
# shellcheck source=t/lib/folab.sh
. "$(dirname "$0")/../lib/folab.sh"

PERIOD=2
TOTAL=30
MAX_MOVES=8

plan 13

folab_init
folab_confs
folab_start
ok 0 "lab up (groups: $FOLAB_GROUPS)"
folab_probe_echo >/dev/null
wait_until 5 ns_listening inet udp $FO_PROBE_PORT || bail_out "the probe echo does not listen"
is "$(folab_cls critical active) $(folab_cls bulk active) $(folab_cls default active)" \
	"cr1 bk2 df3" "critical on cr1, bulk on bk2, default on df3"

# a warm-up probe so that every buffer and table is at its working size before measuring
folab_probe_bg 2 "$T/warm.json" >/dev/null
wait_until 8 test -s "$T/warm.json"
sleep 1
fd_c=$(fd_count "$CPID") fd_s=$(fd_count "$SPID")
rss_c=$(rss_kib "$CPID") rss_s=$(rss_kib "$SPID")
m_cr=$(folab_cls critical moves) m_bk=$(folab_cls bulk moves) m_df=$(folab_cls default moves)
l_cr=$(folab_moves_log critical | wc -l)
l_other=$(grep -cE "class '(bulk|default)': moves from" "$T/client.log")

pid=$(folab_probe_bg $((TOTAL + 2)) "$T/flap.json")
folab_probe_ready "$T/flap.json" || diag "no echo within 5 s of the probe's start"
fpid=$(folab_flap 1 $PERIOD $TOTAL)
wait_until $((TOTAL + 10)) eval "! ns_alive $fpid"
folab_fault 1 clear
wait_until 10 eval "! ns_alive $pid"
diag "probe during the flapping (not judged): $(cat "$T/flap.json")"
cmp_ok "$(grep -c '^dark' "$T/flap-r1.log")" -ge 5 \
	"the flapping ran (dark phases; 7 or 8 unless the machine is slow)"

moves=$(fo_delta "$(folab_cls critical moves)" "$m_cr")
diag "critical: $moves moves (status), $(($(folab_moves_log critical | wc -l) - l_cr)) logged;" \
	"last: $(folab_cls critical last_move)"
folab_moves_log critical | tail -n 4 | while IFS= read -r l; do diag "$l"; done
cmp_ok "$moves" -ge 1 "the critical class left the flapping WAN at least once (moves)"
cmp_ok "$moves" -le $MAX_MOVES "bounded number of moves in $TOTAL s of flapping"
is "$(($(folab_moves_log critical | wc -l) - l_cr))" "$moves" "one log line per move"

t_c=$(now_s)
wait_until 30 eval 'folab_all_up && [ "$(folab_cls critical active)" = cr1 ]'
ok $? "after the flapping the class is back on cr1 ($(elapsed "$t_c") s)"
is "$(folab_cls bulk active) $(folab_cls default active)" "bk2 df3" \
	"bulk and default still ride bk2 and df3"
d_bk=$(fo_delta "$(folab_cls bulk moves)" "$m_bk")
d_df=$(fo_delta "$(folab_cls default moves)" "$m_df")
is "$d_bk $d_df" \
	"0 0" "bulk and default made no move"
is "$(grep -cE "class '(bulk|default)': moves from" "$T/client.log")" "$l_other" \
	"no move of bulk or default in the log"

sleep 1
is "$(fd_count "$CPID") $(fd_count "$SPID")" "$fd_c $fd_s" \
	"fd count of client and server unchanged"
if lab_sanitized; then
	ok 0 "# SKIP RSS says nothing under AddressSanitizer"
else
	g_c=$(($(rss_kib "$CPID") - rss_c)) g_s=$(($(rss_kib "$SPID") - rss_s))
	diag "RSS growth: client $g_c KiB, server $g_s KiB"
	cmp_ok "$((g_c > g_s ? g_c : g_s))" -lt 2048 "RSS growth of the daemons (KiB)"
fi
lab_finish
done_testing
