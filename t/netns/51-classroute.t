#!/usr/bin/env bash
# Who owns the class tables, and what class traffic does when no tunnel carries it (issue 17,
# defects 1, 2 and 5):
#
#   [lan] 192.168.10.2 -- lan0 [cli] veth0 (wan1) 10.99.1.2 ---- 10.99.1.1 [srv] -- [inet]
#                                    wan2 (wan2)  10.99.2.2 ---- 10.99.2.1       198.51.100.10
#
# Class "voice" (UDP with DSCP EF) rides t1 on wan1, else t2 on wan2; when_down "drop" (the
# default). Class "bulk" (everything else) rides t3 on wan1; when_down "wan". With wan1 down,
# voice fails over to t2; `mpquic-nft apply` then leaves table 100 on t2, and the daemon
# restores the table within a second when another program points it elsewhere or deletes its
# route, and says so when `mpquic-nft delete` removes the rules. With every voice tunnel down
# (the server stopped) and with the daemon stopped, voice traffic never leaves a WAN in clear
# (counted on the WANs by an nft table of the operator's), while bulk (when_down "wan") does.
# The daemon names the sysctls to set when it starts with bad ones.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init
netns_require_cmd nft
[ -x "$MPQUIC_NFT" ] || skip_all "mpquic-nft not built"

netns_at_exit()
{
	lab_dump_logs 30 "$T"/client.log "$T"/server.log "$T"/nft*.log
	[ "${_tap_failed:-0}" -gt 0 ] || return 0
	diag "$(ns_exec cli ip rule 2>&1; for t in 100 101; do
		echo "table $t:"; ns_exec cli ip route show table $t 2>&1
		ns_exec cli ip -6 route show table $t 2>&1; done)"
}

cq() { lab_q "$T/cli.sock" "$1"; }
active() { cq "[k['active'] for k in s['classes'] if k['name'] == '$1'][0]"; }
# table_dev FAMILY TABLE: the device of the table's unicast default route (empty: none)
table_dev()
{
	ns_exec cli ip "$1" route show table "$2" 2>/dev/null |
		awk '$1 == "default" && $2 == "dev" { print $3; exit }'
}
tables_on() { [ "$(table_dev -4 100)" = "$1" ] && [ "$(table_dev -6 100)" = "$1" ]; }
# route_get MARK: where the client forwards a LAN packet to the Internet host with that mark
route_get()
{
	ns_exec cli ip route get 198.51.100.10 from 192.168.10.2 iif lan0 mark "$1" 2>&1 | head -1
}
# leaked KIND: LAN packets of KIND (ef: voice, other: bulk) that left by a WAN interface
leaked()
{
	ns_exec cli nft -j list table inet operator | python3 -c '
import json, sys
for o in json.load(sys.stdin)["nftables"]:
    r = o.get("rule")
    if r and r.get("comment") == sys.argv[1]:
        print(next(e["counter"]["packets"] for e in r["expr"] if "counter" in e))' "$1"
}
bulk_unrouted() { ! ns_exec cli ip route show table 101 2>/dev/null | grep -q '^default dev'; }
none_up() { [ "$(cq "sum(x['state'] == 'up' for x in s['tunnels'])")" = 0 ]; }
send() { ns_exec lan python3 "$T/send.py" "$1" "$2"; }
rx() { lab_q "$T/srv.sock" "t['$1']['rx_packets']"; }

plan 30

# ---- the lab ----
ns_new lan && ns_new inet || bail_out "namespaces"
veth_pair lan eth0 192.168.10.2/24 cli lan0 192.168.10.1/24 || bail_out "LAN link"
veth_pair srv inet0 198.51.100.1/24 inet eth0 198.51.100.10/24 || bail_out "Internet link"
veth_pair cli wan2 10.99.2.2/24 srv wan2 10.99.2.1/24 || bail_out "second WAN link"
ns_exec lan ip route add default via 192.168.10.1
ns_exec inet ip route add default via 198.51.100.1
ns_exec srv sysctl -qw net.ipv4.ip_forward=1
# the box's main default route: where traffic falls when no class table answers
ns_exec cli ip route add default via 10.99.2.1 dev wan2
# what an RHEL/CIS box has: strict reverse-path filtering, no forwarding yet
ns_exec cli sysctl -qw net.ipv4.ip_forward=0
ns_exec cli sysctl -qw net.ipv4.conf.all.rp_filter=1
ns_exec cli sysctl -qw net.ipv4.conf.all.src_valid_mark=0

lab_server_conf "$T/server.json"
lab_client_conf "$T/client.json" '
c["wans"] = [{"name": "wan1", "interface": "veth0", "gateway": "none"},
             {"name": "wan2", "interface": "wan2", "gateway": "10.99.2.1"}]
c["tunnels"] = [{"name": "t1", "tun": "mpqc1", "wan": "wan1"},
                {"name": "t2", "tun": "mpqc2", "wan": "wan2"},
                {"name": "t3", "tun": "mpqc3", "wan": "wan1"}]
c["classes"] = [
  {"name": "voice", "match": {"proto": "udp", "dscp": ["ef"]}, "tunnels": ["t1", "t2"]},
  {"name": "bulk", "default": True, "tunnels": ["t3"], "when_down": "wan"}]'

# An operator's table counting LAN packets that leave by a WAN (i.e. in clear).
ns_exec cli nft -f - <<'EOF'
table inet operator {
	chain post {
		type filter hook postrouting priority 300; policy accept;
		oifname { "veth0", "wan2" } ip saddr 192.168.10.2 ip dscp ef counter comment "ef"
		oifname { "veth0", "wan2" } ip saddr 192.168.10.2 udp dport 9999 counter comment "other"
		oifname { "veth0", "wan2" } ip daddr 198.51.100.10 udp dport 5005 counter comment "local"
	}
}
EOF
cat >"$T/send.py" <<'PY'
import socket, sys, time
kind, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if kind in ("ef", "local"):
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0xb8)
port = {"ef": 5004, "other": 9999, "local": 5005}[kind]
for i in range(n):
    s.sendto(b"x" * 100, ("198.51.100.10", port))
    time.sleep(0.005)
PY

# 1-4: the classifier first (as at boot), then the daemons; mpquic-nft and the daemon both name
# the sysctls to set
ns_exec srv "$MPQUIC_NFT" -c "$T/server.json" apply >"$T/nft-srv.log" 2>&1 &&
	ns_exec cli "$MPQUIC_NFT" -c "$T/client.json" apply >"$T/nft-cli.log" 2>&1
ok $? "mpquic-nft apply on both ends"
lab_start srv "$T/server.json" "$T/server.log" >/dev/null
cpid=$(lab_start cli "$T/client.json" "$T/client.log")
wait_until 5 grep -qF "src_valid_mark" "$T/client.log"
grep -qF "net.ipv4.ip_forward is 0: LAN traffic is not forwarded into the tunnels; set net.ipv4.ip_forward=1" "$T/client.log" &&
	grep -qF "net.ipv4.conf.all.rp_filter=1 (strict reverse-path filter) with net.ipv4.conf.all.src_valid_mark=0: replies arriving through the tunnels are dropped as spoofed; set net.ipv4.conf.all.src_valid_mark=1" "$T/client.log"
ok $? "the daemon logs which sysctls to set (ip_forward, src_valid_mark)"
grep -qF "mpquic-nft: warning: net.ipv4.ip_forward is 0" "$T/nft-cli.log"
ok $? "so does mpquic-nft apply"
ns_exec cli sysctl -qw net.ipv4.ip_forward=1
ns_exec cli sysctl -qw net.ipv4.conf.all.src_valid_mark=1
# (and loose: in this lab the server's address is on wan1's subnet, which strict rp_filter
# would hold against t2's replies arriving on wan2)
ns_exec cli sysctl -qw net.ipv4.conf.all.rp_filter=0
lab_wait_up "$T/cli.sock" t1 && lab_wait_up "$T/cli.sock" t2 && lab_wait_up "$T/cli.sock" t3
ok $? "the three tunnels are up"

# 5-7: everything up: voice on t1, traffic through it, the kill switch behind the route
wait_until 3 tables_on mpqc1
ok $? "table 100 points at mpqc1 (IPv4 and IPv6): $(table_dev -4 100)/$(table_dev -6 100)"
is "$(active voice)" t1 "status: voice rides t1"
[ "$(ns_exec cli ip route show table 100 | grep -c '^unreachable default')" -eq 1 ] &&
	! ns_exec cli ip route show table 101 2>/dev/null | grep -q unreachable
ok $? "kill switch in table 100 (voice, drop), none in table 101 (bulk, wan)"

# 8-9: defect 6, documented behaviour: the box's own traffic is not classified; an EF datagram
# the box sends itself leaves by its WAN, not through the voice tunnel
b=$(rx t1) l0=$(leaked local)
ns_exec cli python3 "$T/send.py" local 20
sleep 0.3
ok "$([ $(($(leaked local) - l0)) -ge 20 ] && echo 0 || echo 1)" \
	"the box's own EF datagrams left by a WAN ($(($(leaked local) - l0)) of 20)"
ok "$([ $(($(rx t1) - b)) -lt 5 ] && echo 0 || echo 1)" \
	"and not through t1 ($(($(rx t1) - b)) packets arrived there)"

# 10-13: wan1 down: voice fails over to t2, bulk falls to the main table (when_down wan)
ns_exec cli ip link set veth0 down
wait_until 5 tables_on mpqc2
ok $? "wan1 down: table 100 moves to mpqc2"
is "$(active voice)" t2 "status: voice rides t2"
wait_until 5 bulk_unrouted
ok $? "bulk (when_down wan): its route is gone with t3"
like "$(route_get 0x20000)" "via 10.99.2.1 dev wan2" "bulk traffic now leaves by the main table"

# 14-16: defect 1: mpquic-nft apply during the failover leaves the class on t2, and EF traffic
# still goes through t2
ns_exec cli "$MPQUIC_NFT" -c "$T/client.json" apply >"$T/nft-apply2.log" 2>&1
ok $? "mpquic-nft apply during the failover"
sleep 1
tables_on mpqc2
ok $? "table 100 still points at mpqc2 one second later ($(table_dev -4 100)/$(table_dev -6 100))"
b=$(rx t2)
send ef 50
wait_until 3 lab_q_ge "$T/srv.sock" "t['t2']['rx_packets']" $((b + 50))
ok $? "50 EF datagrams from the LAN arrived through t2 ($(($(rx t2) - b)))"

# 17-20: another program points the table elsewhere or deletes the daemon's route: restored
# within a second
ns_exec cli ip route replace default dev mpqc1 table 100
t0=$(date +%s%N)
wait_until 1 tables_on mpqc2
ok $? "ip route replace ... dev mpqc1: restored to mpqc2 in $((($(date +%s%N) - t0) / 1000000)) ms"
ns_exec cli ip route del default dev mpqc2 table 100
ns_exec cli ip -6 route del default dev mpqc2 table 100
wait_until 1 tables_on mpqc2
ok $? "both default routes deleted: restored within a second"
grep -qF "class 'voice' (table 100): IPv4 default route replaced with dev mpqc1 by another program, restoring it" "$T/client.log" &&
	grep -qF "class 'voice' (table 100): IPv6 default route dev mpqc2 removed by another program, restoring it" "$T/client.log"
ok $? "the daemon says what it repaired"
cmp_ok "$(cq "[k['route_repairs'] for k in s['classes'] if k['name'] == 'voice'][0]")" -ge 2 \
	"status: voice route_repairs counts them"

# 21-22: mpquic-nft delete while the daemon runs is no longer silent; apply restores
ns_exec cli "$MPQUIC_NFT" -c "$T/client.json" delete >"$T/nft-del.log" 2>&1
wait_until 2 grep -qF "class 'voice': its IPv4 policy rule (priority 1001 fwmark 0x10000/0xff0000 lookup 100) was removed: its traffic is no longer steered into its tunnels (run mpquic-nft apply)" "$T/client.log"
ok $? "mpquic-nft delete: the daemon warns that the class is no longer steered"
ns_exec cli "$MPQUIC_NFT" -c "$T/client.json" apply >"$T/nft-apply3.log" 2>&1 && tables_on mpqc2
ok $? "apply again: rules back, table 100 still on mpqc2"

# 23-25: defect 2, every voice tunnel down (the server stopped, WANs up): nothing leaks
ns_exec cli ip link set veth0 up
wait_until 10 tables_on mpqc1
ok $? "wan1 back: voice returns to t1"
sleep 1 # let the t3 route settle
ns_stop "$(head -1 "$T/.lab-pids")"
wait_until 5 none_up
ok $? "server stopped: no tunnel is up"
e0=$(leaked ef)
send ef 20
send other 20
sleep 0.3
ok "$([ "$(leaked ef)" = "$e0" ] && echo 0 || echo 1)" \
	"voice (drop) with all its tunnels down: no EF packet left a WAN ($(($(leaked ef) - e0)) did)"

# 26-29: the daemon stopped: the kill switch holds voice, bulk goes out by the main table
lab_stop_clean "$cpid" "$T/client.log"
ok $? "client daemon stopped cleanly"
like "$(route_get 0x10000)" "unreachable|No route to host" "voice after the daemon stopped: unreachable (the kill switch)"
e0=$(leaked ef) o0=$(leaked other)
send ef 20
send other 20
sleep 0.3
ok "$([ "$(leaked ef)" = "$e0" ] && echo 0 || echo 1)" \
	"daemon stopped: no EF packet left a WAN in clear ($(($(leaked ef) - e0)) did)"
ok "$([ "$(($(leaked other) - o0))" -ge 20 ] && echo 0 || echo 1)" \
	"bulk (when_down wan) left by a WAN as configured ($(($(leaked other) - o0)) packets)"

lab_finish
done_testing
