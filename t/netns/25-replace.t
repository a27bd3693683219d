#!/usr/bin/env bash
# The same tunnel connects again from a new address and port while its old connection is still
# alive (a client restarted elsewhere, a new uplink, a NAT that forgot the mapping): the server
# moves t1 to the newest authenticated connection and closes the old one, so no stale
# connection receives return traffic (the reconnect-leak lesson of CONTEXT.md).
#
# Client 1 runs in namespace cli (10.99.1.2) and is frozen with SIGSTOP, so its connection stays
# alive on the server but can answer nothing. Client 2, same identity and tunnel, runs in cli2
# (10.99.2.2, routed through srv) with its own TUN and control socket. Return traffic must go
# to client 2 only. When client 1 thaws it learns that it was replaced; once it is killed,
# client 2 holds the tunnel.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init

netns_at_exit()
{
	[ "${_tap_failed:-0}" -gt 0 ] || return 0
	[ -n "${c1:-}" ] && kill -CONT "$c1" 2>/dev/null
	for f in "$T"/*.log; do
		diag "--- $f"
		tail -n 20 "$f" | while IFS= read -r l; do diag "$l"; done
	done
}

srv_peer()
{
	lab_q "$T/srv.sock" "t['t1'].get('peer', '')"
}

# on_client2: the server routes t1 to client 2's UDP address and port, over 1 connection
on_client2()
{
	[ "$(srv_peer)" = "10.99.2.2:$(lab_q "$T/cli2.sock" "t['t1']['local'].rsplit(':', 1)[1]")" ] &&
		[ "$(lab_q "$T/srv.sock" "s['listener']['connections']")" = 1 ]
}

plan 14

ns_new cli2 && veth_pair srv veth2 10.99.2.1/24 cli2 veth0 10.99.2.2/24 &&
	ns_exec cli2 ip route add 10.99.1.0/24 via 10.99.2.1 ||
	bail_out "cannot create namespace cli2"
lab_server_conf "$T/server.json"
lab_client_conf "$T/client.json"
lab_client_conf "$T/client2.json" '
c["control_socket"] = c["control_socket"].replace("cli.sock", "cli2.sock")
c["tunnels"][0]["tun"] = "mpqc9"'
spid=$(lab_start srv "$T/server.json" "$T/server.log")
c1=$(lab_start cli "$T/client.json" "$T/client1.log")
lab_wait_up "$T/cli.sock" t1
ok $? "client 1: tunnel t1 is up"
lab_routes mpqc1
ns_ping srv 10.200.1.1
ok $? "the server's ping reaches client 1"
c1port=$(lab_q "$T/cli.sock" "t['t1']['local'].rsplit(':', 1)[1]")

kill -STOP "$c1"
ok $? "client 1 frozen (SIGSTOP): its connection is still alive for the server"

c2=$(lab_start cli2 "$T/client2.json" "$T/client2.log")
lab_wait_up "$T/cli2.sock" t1
ok $? "client 2 (same identity, other address and port): tunnel t1 is up"
ns_exec cli2 ip route replace 10.200.0.0/24 dev mpqc9 &&
	ns_exec cli2 ip -6 route replace fd00:200::/120 dev mpqc9
wait_until 3 grep -q "tunnel 't1': replaces the previous connection from 10.99.1.2:$c1port" \
	"$T/server.log"
ok $? "the server logs that t1 replaces the previous connection (10.99.1.2:$c1port)"
wait_until 3 on_client2
ok $? "the server routes t1 to client 2 ($(srv_peer)) and holds 1 connection"

rx0=$(lab_q "$T/cli2.sock" "t['t1']['rx_packets']")
ns_ping srv 10.200.1.1 && ns_ping srv fd00:200::1:1
ok $? "the server's pings (IPv4, IPv6) are answered while client 1 is frozen"
cmp_ok $(($(lab_q "$T/cli2.sock" "t['t1']['rx_packets']") - rx0)) -ge 6 \
	"client 2 received them"

kill -CONT "$c1"
wait_until 5 grep -q "connection lost: server closed the connection: .*replaced by a new connection" \
	"$T/client1.log"
ok $? "client 1, thawed, learns that the server closed its connection as replaced"
kill -KILL "$c1"
ok $? "client 1 killed"

# Client 1 may have reconnected (and replaced client 2) before it died; client 2 then comes back
# within its backoff (at most 2 s + jitter).
wait_until 6 on_client2
ok $? "client 2 holds t1: the server routes it to $(srv_peer), 1 connection"
wait_until 3 ns_ping srv 10.200.1.1 1 2>/dev/null
ok $? "the server's ping reaches client 2"
ns_alive "$spid" && ns_alive "$c2"
ok $? "server and client 2 still running"

lab_stop_clean "$spid" "$T/server.log" && lab_stop_clean "$c2" "$T/client2.log"
ok $? "server and client 2 stop on SIGTERM with no sanitizer report in their logs"

done_testing
