#!/usr/bin/env bash
# Two clients with the same identity and tunnel name (an HA standby, a cloned SD card; issue 17,
# defect 4): without a bound they take the tunnel from each other about ten times a second,
# forever. The server refuses takeovers (409) for a while after 10 in 5 s and says why; the
# refused client backs off and says why; the tunnel stays with one of them.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init

plan 8

if ! { ns_new cli2 && veth_pair srv veth2 10.99.2.1/24 cli2 veth0 10.99.2.2/24 &&
	ns_exec cli2 ip route add 10.99.1.0/24 via 10.99.2.1; }; then
	bail_out "cannot create the second client's namespace"
fi

takeovers()
{
	grep -c "tunnel 't1'.*replaces the previous connection" "$T/server.log"
}

lab_server_conf "$T/server.json"
lab_client_conf "$T/client.json"
lab_client_conf "$T/client2.json" "c['control_socket'] = '$T/cli2.sock'"
lab_start srv "$T/server.json" "$T/server.log" >/dev/null
wait_until 5 ns_listening srv udp $LAB_PORT || bail_out "the server does not listen"
lab_start cli "$T/client.json" "$T/client.log" >/dev/null
lab_wait_up "$T/cli.sock" t1
ok $? "the first client's t1 is up"
lab_start cli2 "$T/client2.json" "$T/client2.log" >/dev/null

wait_until 10 grep -q "tunnel 't1'.*taken over [0-9]* times in .* two clients share identity 'edge1'?" \
	"$T/server.log"
ok $? "the server diagnoses the storm: two clients share identity edge1" ||
	diag "$(takeovers) takeovers so far"
wait_until 10 grep -q "HTTP status 409.*identity 'edge1'.*two clients share this identity" \
	"$T/client.log" "$T/client2.log"
ok $? "the refused client says why"
grep -q "took tunnel 't1' over; two clients share this identity" "$T/client.log" "$T/client2.log"
ok $? "a replaced client says another client with its identity took the tunnel"

n0=$(takeovers)
sleep 5
n1=$(takeovers)
is "$((n1 - n0))" 0 "no takeover for 5 s once the server refuses them (total $n1)"
cmp_ok "$n1" -le 15 "at most a dozen takeovers in all"
up=0
lab_tunnel_up "$T/cli.sock" t1 && up=$((up + 1))
lab_tunnel_up "$T/cli2.sock" t1 && up=$((up + 1))
is "$up" 1 "exactly one of the two clients holds t1"

lab_finish
done_testing
