#!/usr/bin/env bash
# Live reload of the client: add a tunnel, change one, remove one, and try an invalid file,
# while a ping runs through a tunnel that does not change: it loses nothing and keeps its
# QUIC connection.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init

netns_at_exit()
{
	lab_dump_logs 25 "$T"/client.log "$T"/server.log "$T"/ping.log
}

port_of() { lab_q "$T/cli.sock" "t['$1']['local'].rsplit(':', 1)[1]"; }

plan 22

lab_server_conf "$T/server.json"
lab_client_conf "$T/client.json" '
c["tunnels"].append({"name": "t2", "tun": "mpqc2"})'
lab_start srv "$T/server.json" "$T/server.log" >/dev/null
cpid=$(lab_start cli "$T/client.json" "$T/client.log")
lab_wait_up "$T/cli.sock" t1 && lab_wait_up "$T/cli.sock" t2
ok $? "t1 and t2 are up"
lab_routes mpqc1
t1_port=$(port_of t1)
t2_port=$(port_of t2)

# 15 s of pings every 20 ms through t1 while the configuration changes around it.
ping_pid=$(ns_bg cli "$T/ping.log" ping -n -i 0.02 -c 750 -W 1 10.200.0.1)

# 1. add t3
lab_client_conf "$T/client.json" '
c["tunnels"].append({"name": "t2", "tun": "mpqc2"})
c["tunnels"].append({"name": "t3", "tun": "mpqc3"})'
out=$("$MPQUICCTL" -s "$T/cli.sock" reload 2>&1)
ok $? "mpquicctl reload with a new tunnel succeeds ($out)"
lab_wait_up "$T/cli.sock" t3
ok $? "the new tunnel t3 comes up"
is "$(port_of t1)" "$t1_port" "t1 kept its connection"
is "$(port_of t2)" "$t2_port" "t2 kept its connection"
grep -q "reload: 2 tunnels kept, 1 started, 0 stopped" "$T/client.log"
ok $? "the log says what the reload did"

# 2. change t2 (its MTU), by SIGHUP this time
lab_client_conf "$T/client.json" '
c["tunnels"].append({"name": "t2", "tun": "mpqc2", "mtu": 1300})
c["tunnels"].append({"name": "t3", "tun": "mpqc3"})'
kill -HUP "$cpid"
wait_until 10 sh -c "[ \"\$(cat /sys/class/net/mpqc2/mtu 2>/dev/null)\" != 1400 ]" 2>/dev/null
wait_until 10 lab_tunnel_up "$T/cli.sock" t2
ok $? "t2 is up again after SIGHUP changed it"
is "$(ns_exec cli cat /sys/class/net/mpqc2/mtu)" 1300 "t2's TUN has the new MTU"
isnt_port=$(port_of t2)
ok "$([ "$isnt_port" != "$t2_port" ] && echo 0 || echo 1)" "t2 reconnected (new port $isnt_port)"
is "$(port_of t1)" "$t1_port" "t1 still on its connection"

# 3. remove t2
lab_client_conf "$T/client.json" '
c["tunnels"].append({"name": "t3", "tun": "mpqc3"})'
"$MPQUICCTL" -s "$T/cli.sock" reload >/dev/null 2>&1
ok $? "reload without t2 succeeds"
is "$(lab_q "$T/cli.sock" "','.join(sorted(t))")" "t1,t3" "status lists t1 and t3 only"
! ns_exec cli ip link show mpqc2 >/dev/null 2>&1
ok $? "t2's TUN is gone"
wait_until 5 sh -c "grep -q \"tunnel 't2'.*ended\" '$T/server.log'"
ok $? "the server saw t2's connection close"

# 4. an invalid file changes nothing
cp "$T/client.json" "$T/client.good"
echo '{"role": "client", "tunnels": [' >"$T/client.json"
out=$("$MPQUICCTL" -s "$T/cli.sock" reload 2>&1)
rc=$?
is "$rc" 1 "reload of an invalid file fails"
like "$out" "client.json:[0-9]+:[0-9]+:" "and says where the file is wrong"
is "$(lab_q "$T/cli.sock" "','.join(sorted(t))")" "t1,t3" "the running tunnels stay"
cp "$T/client.good" "$T/client.json"
lab_client_conf "$T/client.json" '
c["control_socket"] = "/tmp/elsewhere.sock"'
out=$("$MPQUICCTL" -s "$T/cli.sock" reload 2>&1)
like "$out" "control_socket changed: restart mpquicd" "a change that needs a restart is refused"

wait_until 30 sh -c "! kill -0 $ping_pid 2>/dev/null"
like "$(cat "$T/ping.log")" " 0% packet loss" "the ping through the untouched t1 lost nothing"
is "$(port_of t1)" "$t1_port" "t1 kept one connection through every reload"
ns_alive "$cpid"
ok $? "the client daemon is still running"

lab_finish
done_testing
