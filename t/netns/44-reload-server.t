#!/usr/bin/env bash
# Live reload of the server: a changed tunnel's connection is closed and comes back with its
# new address, a removed tunnel is refused, a new one is accepted, and a change that needs a
# restart is refused, a new delay target applies to the live connection, while a ping through
# an untouched tunnel loses nothing.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init
lab_need_probe

netns_at_exit()
{
	lab_dump_logs 25 "$T"/client.log "$T"/server.log
}

srv_port_of() { lab_q "$T/srv.sock" "t['$1'].get('peer', '-').rsplit(':', 1)[-1]"; }

plan 17

lab_server_conf "$T/server.json"
lab_client_conf "$T/client.json" '
c["tunnels"].append({"name": "t2", "tun": "mpqc2"})'
spid=$(lab_start srv "$T/server.json" "$T/server.log")
lab_start cli "$T/client.json" "$T/client.log" >/dev/null
lab_wait_up "$T/cli.sock" t1 && lab_wait_up "$T/cli.sock" t2
ok $? "t1 and t2 are up"
lab_routes mpqc1
t1_port=$(srv_port_of t1)
ping_pid=$(ns_bg cli "$T/ping.log" ping -n -i 0.02 -c 500 -W 1 10.200.0.1)

# 1. t2 gets another address: its connection closes, the client comes back with the new one.
lab_server_conf "$T/server.json" '
c["clients"][0]["tunnels"][1]["address"] = ["10.200.1.22/32"]'
out=$("$MPQUICCTL" -s "$T/srv.sock" reload 2>&1)
ok $? "server reload with a changed tunnel succeeds ($out)"
wait_until 10 sh -c "\"$MPQUICCTL\" -s '$T/cli.sock' status --json | grep -q '10.200.1.22/32'"
ok $? "t2 reconnected and got its new address 10.200.1.22"
wait_until 10 lab_tunnel_up "$T/cli.sock" t2
ok $? "t2 is up again"
is "$(srv_port_of t1)" "$t1_port" "t1 kept its connection on the server"

# 1b. t1 gets a delay target on the server: applied to its live connection, no reconnect.
lab_server_conf "$T/server.json" '
c["clients"][0]["tunnels"][1]["address"] = ["10.200.1.22/32"]
c["clients"][0]["tunnels"][0]["delay_target_ms"] = 0.5'
out=$("$MPQUICCTL" -s "$T/srv.sock" reload 2>&1)
ok $? "server reload with a delay target for t1 succeeds ($out)"
is "$(lab_q "$T/srv.sock" "t['t1']['delay_target_ms'], 'delay_cap' in t['t1']")" "(0.5, True)" \
	"t1's live connection runs with the 0.5 ms delay target"
is "$(srv_port_of t1)" "$t1_port" "t1 kept its connection through the new delay target"

# 2. remove t2, add t4
lab_server_conf "$T/server.json" '
c["clients"][0]["tunnels"][1] = {"name": "t4", "address": ["10.200.1.44/32"]}'
kill -HUP "$spid"
wait_until 10 grep -q "server refused the tunnel (HTTP status 403)" "$T/client.log"
ok $? "the removed tunnel t2 is refused when it reconnects"
out=$(ns_exec cli "$PROBE" --server "$LAB_SRV:$LAB_PORT" --name vps.mpquic.test \
	--ca "$T/certs/ca.crt" --cert "$T/certs/edge1.crt" --key "$T/certs/edge1.key" \
	--timeout 5 open t4 2>&1)
like "$out" "accepted 1 refused 0 failed 0" "the new tunnel t4 is accepted"
is "$(lab_q "$T/srv.sock" "','.join(sorted(t))")" "t1,t3,t4,u1" "server status lists t1, t3, t4, u1"

# 3. what needs a restart, and an invalid file
cp "$T/server.json" "$T/server.good"
lab_server_conf "$T/server.json" '
c["listen"] = ["'"$LAB_SRV"':4444"]'
out=$("$MPQUICCTL" -s "$T/srv.sock" reload 2>&1)
like "$out" "listen changed: restart mpquicd" "a new listen address is refused: it needs a restart"
echo '{"role": "server",' >"$T/server.json"
out=$("$MPQUICCTL" -s "$T/srv.sock" reload 2>&1)
like "$out" "server.json:[0-9]+:[0-9]+:" "an invalid file is refused with its position"
cp "$T/server.good" "$T/server.json"

wait_until 30 sh -c "! kill -0 $ping_pid 2>/dev/null"
like "$(cat "$T/ping.log")" " 0% packet loss" "the ping through the untouched t1 lost nothing"
is "$(srv_port_of t1)" "$t1_port" "t1 kept one connection through every reload"
ns_alive "$spid"
ok $? "the server is still running"

lab_finish
done_testing
