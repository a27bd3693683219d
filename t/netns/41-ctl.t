#!/usr/bin/env bash
# The control socket and mpquicctl on a live client/server lab: status fields and counters
# while iperf3 runs, the mpquicctl table, metrics as valid Prometheus text, the error cases
# (no daemon, no permission, bad usage, invalid reload), and socket abuse (1000 connections,
# 40 at once, garbage, a 10 MB line, a client that never reads) with zero ping loss through
# the tunnel meanwhile and the daemon's file descriptors back to their baseline afterwards.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init
netns_require_cmd iperf3 runuser
export XDG_RUNTIME_DIR=$T # where mpquicctl keeps its counters between two calls

# jcheck DESC EXPR FILE...: EXPR (Python) over the status snapshots a, b, ... is true.
jcheck()
{
	local desc=$1 expr=$2 out
	shift 2
	out=$(python3 - "$expr" "$@" 2>&1 <<'PY'
import json, sys
snaps = [json.load(open(f)) for f in sys.argv[2:]]
env = dict(zip("abcd", snaps))
for k, s in list(env.items()):
    env["t" + k] = {x["name"]: x for x in s.get("tunnels", [])}
sys.exit(0 if eval("(" + sys.argv[1] + ")", env) else 1)
PY
	)
	ok $? "$desc" || diag "$expr" "$out"
}

CTL=$MPQUICCTL
plan 60

lab_server_conf "$T/server.json"
lab_client_conf "$T/client.json"
spid=$(lab_start srv "$T/server.json" "$T/server.log")
cpid=$(lab_start cli "$T/client.json" "$T/client.log")
lab_wait_up "$T/cli.sock" t1 || bail_out "tunnel t1 did not come up"
lab_routes mpqc1
ns_ping cli 10.200.0.1 || bail_out "no ping through the tunnel"

# --- status while iperf3 runs through the tunnel
ns_bg srv "$T/iperf-server.log" iperf3 -s -B 10.200.0.1 -p 5201 >/dev/null
wait_until 5 ns_listening srv tcp 5201
ns_bg cli "$T/iperf-client.log" iperf3 -c 10.200.0.1 -p 5201 -t 4 -b 50M >/dev/null
sleep 1
"$CTL" -s "$T/cli.sock" status --json >"$T/c1.json" && "$CTL" -s "$T/srv.sock" status --json >"$T/s1.json"
ok $? "status --json answers on both daemons"
"$CTL" -s "$T/cli.sock" status >/dev/null # remembers the counters for the rate columns
sleep 1.5
"$CTL" -s "$T/cli.sock" status --json >"$T/c2.json" && "$CTL" -s "$T/srv.sock" status --json >"$T/s2.json"
table=$("$CTL" -s "$T/cli.sock" status)
ok $? "mpquicctl status prints a table"

jcheck "client daemon: version, role, pid, config and its SHA-256" \
	"a['daemon']['role'] == 'client' and a['daemon']['version'] and
	 a['daemon']['pid'] == $cpid and a['daemon']['config'] == '$T/client.json' and
	 a['daemon']['config_sha256'] == '$(sha256sum "$T/client.json" | cut -d' ' -f1)'" "$T/c1.json"
jcheck "uptime grows between two calls" "b['daemon']['uptime_s'] > a['daemon']['uptime_s'] + 1" \
	"$T/c1.json" "$T/c2.json"
jcheck "client tunnel t1: every documented field is there" \
	"set(ta['t1']) >= {'name', 'class', 'wan', 'tun', 'state', 'state_for_s', 'local', 'peer',
	 'inner_addresses', 'rtt_ms', 'cwnd', 'bytes_in_flight', 'congestion', 'mtu', 'queued',
	 'tx_bytes', 'tx_packets', 'rx_bytes', 'rx_packets', 'drops', 'reconnects', 'last_error'}
	 and set(ta['t1']['rtt_ms']) >= {'smoothed', 'min', 'var', 'latest'}
	 and set(ta['t1']['drops']) >= {'queue_full', 'too_big', 'spoofed', 'no_route'}" "$T/c1.json"
jcheck "t1 is up, on mpqc1, with the server as peer" \
	"ta['t1']['state'] == 'up' and ta['t1']['tun'] == 'mpqc1' and
	 ta['t1']['peer'] == '$LAB_SRV:$LAB_PORT' and ta['t1']['state_for_s'] > 0" "$T/c1.json"
jcheck "client counters increase in both directions while iperf3 runs" \
	"all(tb['t1'][k] > ta['t1'][k] for k in ('tx_bytes', 'tx_packets', 'rx_bytes', 'rx_packets'))
	 and tb['t1']['tx_bytes'] - ta['t1']['tx_bytes'] > 1000000" "$T/c1.json" "$T/c2.json"
jcheck "RTT plausible: 0 < min <= smoothed < 500 ms, variance >= 0" \
	"0 < ta['t1']['rtt_ms']['min'] <= ta['t1']['rtt_ms']['smoothed'] < 500 and
	 ta['t1']['rtt_ms']['var'] >= 0" "$T/c1.json"
jcheck "congestion window positive, reconnects 0" \
	"ta['t1']['cwnd'] > 0 and ta['t1']['reconnects'] == 0" "$T/c1.json"
jcheck "server: role, listener counters, client edge1 with one connection" \
	"a['daemon']['role'] == 'server' and a['daemon']['pid'] == $spid and
	 set(a['listener']) >= {'datagrams', 'garbage', 'unknown_cid', 'version_negotiations',
	 'connections', 'handshaking'} and
	 [c['connections'] for c in a['clients'] if c['identity'] == 'edge1'] == [1]" "$T/s1.json"
jcheck "server: t1 up for edge1, counters and datagrams increase" \
	"ta['t1']['state'] == 'up' and ta['t1']['client'] == 'edge1' and
	 tb['t1']['rx_bytes'] > ta['t1']['rx_bytes'] and tb['t1']['tx_bytes'] > ta['t1']['tx_bytes']
	 and b['listener']['datagrams'] > a['listener']['datagrams'] and
	 ta['t2']['state'] == 'down'" "$T/s1.json" "$T/s2.json"
jcheck "server and client agree on t1's addresses" \
	"tb['t1']['peer'].rsplit(':', 1)[1] == a['tunnels'][0]['local'].rsplit(':', 1)[1]" \
	"$T/c2.json" "$T/s2.json"

like "$table" "^mpquicd [0-9.]+ \(client\), up [0-9]+ s, config $T/client.json" "table: daemon line"
like "$table" $'\nTUNNEL +CLASS +WAN +STATE +PEER +RTT ms +TX bit/s +RX bit/s +TX bytes +DROPS +RECON' \
	"table: header"
row=$(grep '^t1 ' <<<"$table")
like "$row" "^t1 +- +- +up +$LAB_SRV:$LAB_PORT +[0-9.]+ +[0-9.]+[kMG]? +[0-9.]+[kMG]? +[0-9]+ +[0-9]+ +0$" \
	"table: t1 row with state, peer, RTT, rates since the previous call, drops, reconnects"
like "$(awk '{ print $7 }' <<<"$row")" '^[0-9.]+M$' "table: TX rate in Mbit/s while iperf3 sends 50 Mbit/s"
stable=$("$CTL" -s "$T/srv.sock" status)
like "$stable" $'\nlistener: [0-9]+ datagrams, [0-9]+ garbage' "server table: listener line"
like "$(grep '^t1 ' <<<"$stable")" "^t1 +edge1 +up +$LAB_CLI:[0-9]+ " "server table: t1 row with its client"
like "$(grep '^u1 ' <<<"$stable")" "^u1 +edge2 +down " "server table: the idle tunnel u1 is down"

# The counters file must not follow a symlink someone else planted (it may live in /tmp).
mkdir -m 1777 "$T/rt"
rf=$(python3 -c '
import os, sys
h = 5381
for ch in sys.argv[1].encode():
    h = (h * 33 + ch) & 0xFFFFFFFFFFFFFFFF
print("%s/mpquicctl-%d-%x.json" % (sys.argv[2], os.getuid(), h))' "$T/cli.sock" "$T/rt")
echo precious >"$T/victim"
ln -s "$T/victim" "$rf"
XDG_RUNTIME_DIR=$T/rt "$CTL" -s "$T/cli.sock" status >/dev/null
is "$(cat "$T/victim")" precious "mpquicctl status does not write through a symlink at its counters file"

for side in cli srv; do
	"$CTL" -s "$T/$side.sock" metrics >"$T/$side.prom"
	ok $? "$side: mpquicctl metrics"
	out=$(python3 "$MPQ_TOP/t/lib/promcheck.py" "$T/$side.prom" 2>&1)
	ok $? "$side: metrics are valid Prometheus text ($out)" || diag "$out"
done
grep -q '^mpquic_tunnel_up{tunnel="t1",.*} 1$' "$T/cli.prom"
ok $? "client metrics: mpquic_tunnel_up for t1 is 1"
v=$(sed -n 's/^mpquic_tunnel_tx_bytes_total{tunnel="t1",[^}]*} //p' "$T/cli.prom")
ok "$([ "${v%.*}" -gt 1000000 ] 2>/dev/null && echo 0 || echo 1)" "client metrics: tx bytes of t1 ($v)"
grep -q '^mpquic_tunnel_rtt_seconds{tunnel="t1",[^}]*} 0\.[0-9]' "$T/cli.prom"
ok $? "client metrics: RTT in seconds"
grep -q '^mpquic_tunnel_up{tunnel="u1",[^}]*client="edge2"[^}]*} 0$' "$T/srv.prom"
ok $? "server metrics: u1 of edge2 is down"
grep -q '^mpquic_listener_datagrams_total [0-9]' "$T/srv.prom"
ok $? "server metrics: listener datagrams"

# --- errors
out=$("$CTL" -s "$T/nosuch.sock" status 2>&1)
is "$?" 1 "no daemon: exit 1"
like "$out" "cannot connect to '$T/nosuch.sock': No such file or directory \(is mpquicd running\?\)" \
	"no daemon: says so"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/stale.sock"
out=$("$CTL" -s "$T/stale.sock" status 2>&1)
is "$?" 1 "stale socket file: exit 1"
like "$out" "Connection refused \(is mpquicd running\?\)" "stale socket file: says so"
chmod 711 "$T" # nobody may traverse $T; the socket itself is 0660 root:root
is "$(stat -c '%a %U' "$T/srv.sock")" "660 root" "the control socket is 0660, owned by root"
out=$(runuser -u nobody -- "$CTL" -s "$T/srv.sock" status 2>&1)
is "$?" 1 "as nobody: exit 1"
like "$out" "Permission denied \(run as root or as a member of the socket's group\)" \
	"as nobody: says why"
chmod 700 "$T"
out=$("$CTL" -s "$T/srv.sock" frobnicate 2>&1)
is "$?" 2 "unknown command: exit 2"
like "$out" "unknown command 'frobnicate'" "unknown command: named"
"$CTL" -s "$T/srv.sock" status --bogus >/dev/null 2>&1
is "$?" 2 "unknown option: exit 2"
"$CTL" >/dev/null 2>&1
is "$?" 2 "no command: exit 2"

cp "$T/server.json" "$T/server.json.good"
sha=$(lab_q "$T/srv.sock" "s['daemon']['config_sha256']")
python3 - "$T/server.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["listen"] = ["10.99.1.1:99999"]
json.dump(c, open(sys.argv[1], "w"))
PY
out=$("$CTL" -s "$T/srv.sock" reload 2>&1)
is "$?" 1 "reload with an invalid config: exit 1"
like "$out" "^mpquicctl: reload: reload failed: .*server.json: listen\[0\]: .*99999" \
	"reload with an invalid config: the error names the file and the bad value"
grep -q "reload: the new configuration is invalid; the running one stays" "$T/server.log"
ok $? "the daemon logs that the running configuration stays"
is "$(lab_q "$T/srv.sock" "s['daemon']['config_sha256']")" "$sha" \
	"status still reports the running configuration's hash"
ns_ping cli 10.200.0.1 && lab_tunnel_up "$T/cli.sock" t1
ok $? "the tunnel still carries traffic after the failed reload"
cp "$T/server.json.good" "$T/server.json"
out=$("$CTL" -s "$T/srv.sock" reload 2>&1)
is "$?:$out" "0:reloaded" "reload with the unchanged config: ok"

# --- socket abuse, with a ping through the tunnel all along
fds0=$(find "/proc/$spid/fd" -mindepth 1 | wc -l)
python3 "$MPQ_TOP/t/lib/ctlabuse.py" "$T/srv.sock" >"$T/abuse.out" 2>"$T/abuse.log" &
apid=$!
sent=0 recvd=0
for _ in $(seq 60); do
	out=$(ns_exec cli ping -n -q -c 20 -i 0.05 -W 1 10.200.0.1 2>&1)
	read -r s r < <(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p' <<<"$out")
	sent=$((sent + ${s:-0})) recvd=$((recvd + ${r:-0}))
	kill -0 "$apid" 2>/dev/null || break
done
wait "$apid"
ok $? "the abuse script ran to its end" || diag "$(cat "$T/abuse.log")"
a()
{
	sed -n "s/^$1 //p" "$T/abuse.out"
}
diag "abuse took $(a seconds) s; $sent pings sent, $recvd answered"
is "$(a sequential_ok)" 500 "1000 connections in a row: all 500 status requests answered"
is "$(a concurrent_busy)/$(a concurrent_held)" 8/32 \
	"40 at once: 32 served, 8 told {\"ok\":false,\"error\":\"too many clients\"}"
is "$(a held_answers)" True "a held connection still answers"
is "$(a garbage_errors)/$(a garbage_then_ok)" 5/True "garbage: 5 JSON errors, then a good answer"
is "$(a garbage_unknown_named)" True "an unknown command is named in the error"
like "$(a noise_answer)" "request longer than 65536 bytes" "binary noise: one error, hung up"
is "$(a huge_answer)/$(a huge_cut_off)" "request longer than 65536 bytes/True" \
	"10 MB request line: one error, hung up before the 10 MB were sent"
is "$(a nonreader_blocked)" True \
	"a client that does not read is not read from either ($(a nonreader_sent_before_reading) of 3000 requests taken)"
is "$(a nonreader_answers)" 3000 "once it reads, all 3000 answers arrive ($(a nonreader_seconds) s)"
is "$(a halfclose_ok)" True "a client that half-closes after its request gets its answer"
ok "$([ "$sent" -gt 0 ] && [ "$sent" = "$recvd" ] && echo 0 || echo 1)" \
	"zero ping loss through the tunnel during the abuse ($recvd/$sent)"
lab_q "$T/srv.sock" "s['daemon']['pid']" >/dev/null && ns_alive "$spid"
ok $? "the daemon is alive and answers status"
wait_until 5 test "$(find "/proc/$spid/fd" -mindepth 1 | wc -l)" -eq "$fds0"
ok $? "the daemon's file descriptors are back to $fds0"

done_testing
