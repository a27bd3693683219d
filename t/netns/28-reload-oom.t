#!/usr/bin/env bash
# A server reload that runs out of memory halfway (lpm_insert fails once, in a test-only build
# of the daemon: t/netns/fault-lpm.c) is refused and leaves every running tunnel as it was: the
# live connection of a tunnel the new configuration keeps still carries return traffic. The
# old code had already moved that connection to the new (then freed) tunnel array, leaving the
# running tunnel without a connection and the connection pointing at freed memory.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init
[ -x "${MPQUICD_FAULT_LPM:-}" ] || skip_all "mpquicd-fault-lpm not built"

srv_port_of() { lab_q "$T/srv.sock" "t['$1'].get('peer', '-').rsplit(':', 1)[-1]"; }

plan 11

# Startup inserts 8 prefixes (t1: 3, t2: 2, t3: 2, u1: 1); the reload's 4th insert (t2's
# first, after t1's three) fails.
lab_server_conf "$T/server.json"
lab_client_conf "$T/client.json"
spid=$(MPQ_FAULT_LPM_INSERT=12 MPQUICD=$MPQUICD_FAULT_LPM \
	lab_start srv "$T/server.json" "$T/server.log")
cpid=$(lab_start cli "$T/client.json" "$T/client.log")
lab_wait_up "$T/cli.sock" t1
ok $? "tunnel t1 comes up"
lab_routes mpqc1
ns_ping srv 10.200.1.1
ok $? "ping server -> client"
port=$(srv_port_of t1)

# A change that keeps t1's connection (a delay target): the reload fails halfway.
lab_server_conf "$T/server.json" 'c["clients"][0]["tunnels"][0]["delay_target_ms"] = 5'
out=$("$MPQUICCTL" -s "$T/srv.sock" reload 2>&1)
rc=$?
cmp_ok "$rc" -ne 0 "the reload is refused ($out)"
like "$out" "route table.*(memory|Cannot allocate)" "and says why"
ns_ping srv 10.200.1.1 && ns_ping cli 10.200.0.1
ok $? "t1 still carries traffic both ways"
is "$(lab_q "$T/srv.sock" "t['t1']['state']")" up "the server still shows t1 up"

# The fault was one-shot: the same reload now succeeds and keeps the connection.
out=$("$MPQUICCTL" -s "$T/srv.sock" reload 2>&1)
ok $? "the reload succeeds the second time ($out)"
ns_ping srv 10.200.1.1
ok $? "ping server -> client after it"
is "$(srv_port_of t1)" "$port" "t1 kept its connection through both reloads"
ns_alive "$spid" && ns_alive "$cpid"
ok $? "both daemons still running"

lab_finish
done_testing
