#!/usr/bin/env bash
# The largest sets the configuration allows reach the client whole: ROUTE_ADVERTISEMENT with
# 256 advertised prefixes, then (after a reload) ADDRESS_ASSIGN with a tunnel's 2 addresses and
# 255 routes. The old 4 KiB capsule buffer could hold neither; the failure was ignored and the
# tunnel showed "up" while the client dropped every packet from the server.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init

plan 11

# 254 IPv6 /64s that never merge (every other one) besides the server's inner prefixes.
many()
{
	python3 -c "print(','.join('\"fd00:%x:0:%x::/64\"' % ($1, 2 * i) for i in range($2)))"
}
lab_server_conf "$T/server.json" "c['advertise'] = ['10.200.0.0/16', 'fd00:200::/64', $(many 400 254)]"
lab_server_conf "$T/server2.json" "c['advertise'] = ['10.200.0.0/16', 'fd00:200::/64', $(many 400 254)]
c['clients'][0]['tunnels'][0]['routes'] += [$(many 300 254)]"
cp "$T/server.json" "$T/server.run.json"
lab_client_conf "$T/client.json"
spid=$(lab_start srv "$T/server.run.json" "$T/server.log")
cpid=$(lab_start cli "$T/client.json" "$T/client.log")

lab_wait_up "$T/cli.sock" t1
ok $? "tunnel t1 comes up with 256 advertised prefixes"
lab_routes mpqc1
ns_ping cli 10.200.0.1
ok $? "ping client -> server (the replies come from an advertised prefix)"
ns_ping cli fd00:200::1
ok $? "ping client -> server over IPv6"
ns_ping srv 10.200.1.1
ok $? "ping server -> client"
! grep -q "cannot send" "$T/server.log"
ok $? "the server sent every capsule"

# ADDRESS_ASSIGN with 257 entries (t1's two addresses, 192.168.10.0/24 and 254 more routes).
cp "$T/server2.json" "$T/server.run.json"
out=$("$MPQUICCTL" -s "$T/srv.sock" reload 2>&1)
ok $? "server reload with 255 routes for t1 ($out)"
wait_until 15 lab_q_ge "$T/cli.sock" "len(t['t1']['inner_addresses'])" 257
ok $? "the client holds all 257 assigned addresses and routes" ||
	diag "$(lab_q "$T/cli.sock" "len(t['t1']['inner_addresses'])")"
lab_wait_up "$T/cli.sock" t1
ns_ping cli 10.200.0.1 && ns_ping srv 10.200.1.1
ok $? "ping both ways after the reload"
! grep -q "cannot send" "$T/server.log"
ok $? "still no capsule the server could not send"
ns_alive "$spid" && ns_alive "$cpid"
ok $? "both daemons still running"

lab_finish
done_testing
