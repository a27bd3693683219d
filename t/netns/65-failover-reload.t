#!/usr/bin/env bash
# Issue 11, reload: a reload that changes class policies and health settings applies them
# without dropping a tunnel (every tunnel keeps its connection: same local port, no
# reconnect), while a 100 packet/s probe on the critical class runs across the reloads and
# loses at most 2 probes. Then a blackhole of the critical class's WAN with the new policy
# (duplicate) behaves like one: at most 2 probes lost.
set -u
# shellcheck source=t/lib/folab.sh
. "$(dirname "$0")/../lib/folab.sh"

plan 13

folab_init
folab_confs
folab_start
ok 0 "lab up (groups: $FOLAB_GROUPS)"
folab_probe_echo >/dev/null
wait_until 5 ns_listening inet udp $FO_PROBE_PORT || bail_out "the probe echo does not listen"

# every tunnel's local port and reconnect count, one line
conns()
{
	folab_q "$CLI_SOCK" '[.tunnels | sort_by(.name)[] |
		"\(.name):\(.local | split(":") | last):\(.reconnects)"] | join(" ")'
}
before=$(conns)
is "$(folab_cls critical policy)" failover "critical starts on policy failover"

pid=$(folab_probe_bg 8 "$T/reload.json")
folab_probe_ready "$T/reload.json" || diag "no echo within 5 s of the probe's start"
sleep 1
folab_client_conf "
cls(c, 'critical')['policy'] = 'duplicate'
cls(c, 'bulk')['probe_interval_ms'] = 1000
cls(c, 'default')['policy'] = 'lowest-rtt'"
out=$("$MPQUICCTL" -s "$CLI_SOCK" reload 2>&1)
ok $? "reload: critical -> duplicate, bulk probes every 1 s, default -> lowest-rtt ($out)"
is "$(folab_cls critical policy) $(folab_cls default policy)" "duplicate lowest-rtt" \
	"status shows the new policies"
like "$(folab_cls critical second)" '^cr[123]$' "the duplicate class has its second tunnel"
bk_pi='[.tunnels[] | select(.name | test("^bk")) | .health.probe_interval_ms] | join(" ")'
is "$(folab_q "$CLI_SOCK" "$bk_pi")" \
	"1000 1000 1000" "the bulk tunnels probe every 1000 ms now"
sleep 2
folab_client_conf "cls(c, 'critical')['policy'] = 'lowest-rtt'"
out=$("$MPQUICCTL" -s "$CLI_SOCK" reload 2>&1)
ok $? "second reload: critical -> lowest-rtt, the rest back to defaults ($out)"
is "$(folab_cls critical policy) $(folab_cls default policy) $(folab_cls critical second)" \
	"lowest-rtt failover " "status follows"
wait_until 12 eval "! ns_alive $pid"
diag "probe across the reloads: $(cat "$T/reload.json")"
cmp_ok "$(jget lost "$T/reload.json" 2>/dev/null || echo 9999)" -le 2 \
	"probes lost across the two reloads"
after=$(conns)
is "$after" "$before" "every tunnel kept its connection (name:local port:reconnects)"
grep -E "reload: 9 tunnels kept, 0 started, 0 stopped" "$T/client.log" >/dev/null
ok $? "the log says every tunnel was kept" || diag "$(grep 'reload' "$T/client.log")"

# the new policy is live, not only displayed: duplicate across a blackhole
folab_client_conf "cls(c, 'critical')['policy'] = 'duplicate'"
"$MPQUICCTL" -s "$CLI_SOCK" reload >/dev/null 2>&1
w=$(folab_wan_of "$(folab_cls critical active)")
pid=$(folab_probe_bg 6 "$T/bh.json")
folab_probe_ready "$T/bh.json" || diag "no echo within 5 s of the probe's start"
sleep 1.5
folab_fault "$w" blackhole
wait_until 12 eval "! ns_alive $pid"
folab_fault "$w" clear
diag "duplicate after reload, wan$w dark: $(cat "$T/bh.json")"
cmp_ok "$(jget lost "$T/bh.json" 2>/dev/null || echo 9999)" -le 2 \
	"reloaded duplicate policy: probes lost across a blackhole"

lab_finish
done_testing
