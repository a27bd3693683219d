#!/usr/bin/env bash
# Both TUNs' MTUs raised from outside the daemons (`ip link set ... mtu 9000`): packets larger
# than the configured tunnel MTU (1300 on both ends, below the 1404 bytes a DATAGRAM frame
# carries) are refused with ICMP "fragmentation needed" / "packet too big" carrying 1300, or
# dropped without ICMP when they lack DF, and counted as drops.too_big in status and metrics;
# both daemons survive and the rest of the traffic passes, up to exactly 1300 bytes.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init

plan 22

lab_server_conf "$T/server.json" 'c["tun"]["mtu"] = 1300'
lab_client_conf "$T/client.json" 'c["tunnels"][0]["mtu"] = 1300'
spid=$(lab_start srv "$T/server.json" "$T/server.log")
cpid=$(lab_start cli "$T/client.json" "$T/client.log")
lab_wait_up "$T/cli.sock" t1
ok $? "tunnel t1 comes up"
lab_routes mpqc1
# A second server address: a fresh destination has no PMTU learned from an earlier ICMP.
ns_exec srv ip addr add 10.200.0.2/32 dev mpqs0
ns_ping cli 10.200.0.1 && ns_ping srv 10.200.1.1
ok $? "ping both ways"

ns_exec cli ip link set mpqc1 mtu 9000 && ns_exec srv ip link set mpqs0 mtu 9000
ok $? "both TUNs' MTUs raised to 9000 behind the daemons' backs"

# Without DF (first: once a PMTU is learned, the kernel would fragment instead): dropped.
! ns_exec cli ping -n -q -c 2 -i 0.2 -W 1 -M dont -s 8000 10.200.0.1 >/dev/null 2>&1
ok $? "client -> server: 8028 bytes without DF get no answer"
! ns_exec srv ping -n -q -c 2 -i 0.2 -W 1 -M dont -s 8000 10.200.1.1 >/dev/null 2>&1
ok $? "server -> client: 8028 bytes without DF get no answer"

# With DF: ICMP with the tunnel's MTU, on both ends (the old code aborted in fqq_commit on the
# 1378-byte ones: they fit a DATAGRAM frame but not a queue slot).
out=$(ns_exec cli ping -n -c 1 -W 2 -M 'do' -s 1350 10.200.0.1 2>&1)
like "$out" "mtu = 1300" "client -> server: 1378 bytes with DF: ICMP fragmentation needed, mtu 1300"
out=$(ns_exec cli ping -n -c 1 -W 2 -M 'do' -s 8000 10.200.0.2 2>&1)
like "$out" "mtu = 1300" "client -> server: 8028 bytes with DF: ICMP fragmentation needed, mtu 1300"
out=$(ns_exec cli ping -6 -n -c 1 -W 2 -s 8000 fd00:200::1 2>&1)
like "$out" "[Pp]acket too big.*1300|mtu=1300" "client -> server: 8048 bytes IPv6: ICMPv6 packet too big"
out=$(ns_exec srv ping -n -c 1 -W 2 -M 'do' -s 1350 10.200.1.1 2>&1)
like "$out" "mtu = 1300" "server -> client: 1378 bytes with DF: ICMP fragmentation needed, mtu 1300"
out=$(ns_exec srv ping -6 -n -c 1 -W 2 -s 8000 fd00:200::1:1 2>&1)
like "$out" "[Pp]acket too big.*1300|mtu=1300" "server -> client: 8048 bytes IPv6: ICMPv6 packet too big"

ns_alive "$cpid"
ok $? "the client is still running"
ns_alive "$spid"
ok $? "the server is still running"

# Counted: 2 without DF, 3 with DF on the client; 2 without DF, 2 with DF on the server.
cdrops=$(lab_q "$T/cli.sock" "t['t1']['drops']['too_big']")
cmp_ok "${cdrops:-0}" -ge 5 "client: drops.too_big counts them ($cdrops)"
sdrops=$(lab_q "$T/srv.sock" "t['t1']['drops']['too_big']")
cmp_ok "${sdrops:-0}" -ge 4 "server: drops.too_big counts them ($sdrops)"
"$MPQUICCTL" -s "$T/cli.sock" metrics >"$T/cli.prom" 2>&1
grep -Eq '^mpquic_tunnel_drops_total\{.*tunnel="t1".*reason="too_big".*\} [1-9]' "$T/cli.prom"
ok $? "client metrics: mpquic_tunnel_drops_total{reason=\"too_big\"}" ||
	diag "$(grep too_big "$T/cli.prom")"
"$MPQUICCTL" -s "$T/srv.sock" metrics >"$T/srv.prom" 2>&1
grep -Eq '^mpquic_tunnel_drops_total\{.*tunnel="t1".*reason="too_big".*\} [1-9]' "$T/srv.prom"
ok $? "server metrics: mpquic_tunnel_drops_total{reason=\"too_big\"}" ||
	diag "$(grep too_big "$T/srv.prom")"

# The rest of the traffic: exactly the tunnel MTU passes both ways, with DF, IPv4 and IPv6.
ns_exec cli ping -n -q -c 3 -i 0.2 -W 1 -M 'do' -s 1272 10.200.0.1 >/dev/null
ok $? "client -> server: 1300 bytes with DF pass"
ns_exec srv ping -n -q -c 3 -i 0.2 -W 1 -M 'do' -s 1272 10.200.1.1 >/dev/null
ok $? "server -> client: 1300 bytes with DF pass"
ns_exec cli ping -6 -n -q -c 3 -i 0.2 -W 1 -M 'do' -s 1252 fd00:200::1 >/dev/null
ok $? "client -> server: 1300 bytes IPv6 pass"

# Big packets and a steady small ping at the same time: the small one loses nothing.
ns_exec cli ping -n -q -c 40 -i 0.05 -W 1 10.200.0.1 >"$T/steady.out" 2>&1 &
steady=$!
for _ in 1 2 3 4 5; do
	ns_exec cli ping -n -q -c 5 -i 0.02 -W 1 -M probe -s 8000 10.200.0.2 >/dev/null 2>&1
	ns_exec srv ping -n -q -c 5 -i 0.02 -W 1 -M probe -s 8000 10.200.1.1 >/dev/null 2>&1
done
wait "$steady"
like "$(cat "$T/steady.out")" " 0% packet loss" "a steady ping meanwhile loses nothing"
reconn=$(lab_q "$T/cli.sock" "t['t1']['reconnects']")
is "$reconn" 0 "no reconnect"

lab_finish
done_testing
