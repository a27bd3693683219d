#!/usr/bin/env bash
# Three WANs, each through its own router to one server address; 3 classes x 3 WANs = 9 tunnels
# from one client process.
#
#              +-- wan1 10.1.1.2 ---- lan 10.1.1.1 [r1] core 10.9.1.2 --+
#   [cli] -----+-- wan2 10.1.2.2 --[sw2]-- lan 10.1.2.1 [r2]  10.9.2.2 ---+-- [srv] 10.99.0.1 (lo)
#              |                       `-- lan 10.1.2.4 [r2b] 10.9.4.2 --+
#              +-- wan3 10.1.3.2 ---- lan 10.1.3.1 [r3] core 10.9.3.2 --+
#
# WAN1's gateway comes from the main table's default route (metric 100), WAN2's from a second,
# higher-metric default route (200), WAN3's only from the configuration (no route via wan3 in
# the main table). wan3 does not exist when the daemon starts: only its tunnels wait, and they
# come up when it appears. Each tunnel carries ping; the outer packets of each WAN's tunnels
# reach its own router only (RX counters); WAN2's gateway moves to r2b at run time and its
# tunnels' traffic follows without a restart; WAN3's address change moves its tunnels to a new
# socket; the rules and tables are gone after the daemon stops.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"

netns_require_root
netns_require_cmd ping python3 openssl
[ -x "$MPQUICD" ] || skip_all "mpquicd not built ($MPQUICD)"
[ -x "$MPQUICCTL" ] || skip_all "mpquicctl not built ($MPQUICCTL)"
"$MPQ_TOP/tools/mpquic-certs" "$T/certs" lab >"$T/certs.log" 2>&1 ||
	bail_out "certificate generation failed: $(cat "$T/certs.log")"

netns_at_exit()
{
	[ "${_tap_failed:-0}" -gt 0 ] || return 0
	for f in "$T"/*.log; do
		diag "--- $f"
		tail -n 40 "$f" | while IFS= read -r l; do diag "$l"; done
	done
	diag "--- client rules and tables"
	diag "$(ns_exec cli ip rule 2>&1; for t in 200 201 202; do
		echo "table $t:"; ns_exec cli ip route show table $t 2>&1; done)"
}

SRV=10.99.0.1
CLI_SOCK=$T/cli.sock
PRIO=990 # classifier.rule_priority (1000) - 10; the suppress rules at PRIO - 1

plan 43

# ---- the lab ----
setup()
{
	local n
	for n in cli r1 r2 r2b r3 sw2 srv; do
		ns_new $n || return 1
	done
	ns_exec srv ip addr add $SRV/32 dev lo || return 1
	for n in 1 2 3 4; do
		local r=r$n
		[ $n = 4 ] && r=r2b
		veth_pair srv core$n 10.9.$n.1/24 $r core 10.9.$n.2/24 || return 1
		ns_exec $r sysctl -qw net.ipv4.ip_forward=1 || return 1
		ns_exec $r ip route add $SRV/32 via 10.9.$n.1 || return 1
	done
	# the server answers each WAN subnet through that WAN's first router
	ns_exec srv ip route add 10.1.1.0/24 via 10.9.1.2 &&
		ns_exec srv ip route add 10.1.2.0/24 via 10.9.2.2 &&
		ns_exec srv ip route add 10.1.3.0/24 via 10.9.3.2 || return 1
	for n in srv cli; do
		ns_exec $n sysctl -qw net.ipv4.conf.all.rp_filter=0 || return 1
		ns_exec $n sysctl -qw net.ipv4.conf.default.rp_filter=0 || return 1
	done
	# removing a primary IPv4 address must leave its secondaries (the address change below)
	ns_exec cli sysctl -qw net.ipv4.conf.default.promote_secondaries=1 || return 1
	veth_pair cli wan1 10.1.1.2/24,fd01:1::2/64 r1 lan 10.1.1.1/24,fd01:1::1/64 &&
		ns_addr r1 lan fe80::1/64 || return 1
	# WAN2 is a shared segment: two routers behind one switch
	ns_exec sw2 ip link add br0 type bridge && ns_exec sw2 ip link set br0 up || return 1
	veth_pair cli wan2 10.1.2.2/24 sw2 p0 - &&
		veth_pair r2 lan 10.1.2.1/24 sw2 p1 - &&
		veth_pair r2b lan 10.1.2.4/24 sw2 p2 - || return 1
	for n in p0 p1 p2; do
		ns_exec sw2 ip link set $n master br0 || return 1
	done
	# IPv6 on wan1 only, with a link-local gateway as router advertisements install it
	ns_exec cli ip -6 route add default via fe80::1 dev wan1 metric 100 &&
		# a LAN on the client (both ends of a veth), for the suppress rules
	ns_exec cli ip link add lan0 type veth peer name lan0p &&
		ns_exec cli ip link set lan0 up && ns_exec cli ip link set lan0p up &&
		ns_exec cli ip addr add 192.168.50.1/24 dev lan0 || return 1
	ns_exec cli ip route add default via 10.1.1.1 dev wan1 metric 100 &&
		ns_exec cli ip route add default via 10.1.2.1 dev wan2 metric 200
}
setup || bail_out "cannot build the lab"

lab_server_conf "$T/server.json" "
c['listen'] = ['$SRV:$LAB_PORT']
c['clients'][0]['tunnels'] = [
    {'name': '%s%d' % (k, w), 'address': ['10.200.1.%d/32' % (10 * w + i)]}
    for i, k in enumerate(['cr', 'df', 'bk']) for w in (1, 2, 3)]"
lab_client_conf "$T/client.json" "
c['server']['address'] = '$SRV'
c['wans'] = [{'name': 'wan1', 'interface': 'wan1'},
             {'name': 'wan2', 'interface': 'wan2', 'gateway': 'auto'},
             {'name': 'wan3', 'interface': 'wan3', 'gateway': '10.1.3.1'}]
c['classes'] = [
    {'name': 'critical', 'match': {'dscp': ['ef']}, 'tunnels': ['cr1', 'cr2', 'cr3']},
    {'name': 'bulk', 'match': {'proto': 'tcp', 'dport': [873]},
     'tunnels': ['bk1', 'bk2', 'bk3']},
    {'name': 'default', 'default': True, 'tunnels': ['df1', 'df2', 'df3']}]
# This test counts packets per router: path-health probes (100 ms by default) on the idle
# tunnels would be counted too, so they are slowed to once a minute here.
for k in c['classes']:
    k['probe_interval_ms'] = 60000
c['tunnels'] = [{'name': '%s%d' % (k, w), 'wan': 'wan%d' % w}
                for k in ('cr', 'df', 'bk') for w in (1, 2, 3)]"

run_ok "server configuration OK" "$MPQUICD" --check-config "$T/server.json"
run_ok "client configuration OK" "$MPQUICD" --check-config "$T/client.json"

spid=$(lab_start srv "$T/server.json" "$T/server.log")
wait_until 5 ns_listening srv udp $LAB_PORT || bail_out "the server does not listen"
cpid=$(lab_start cli "$T/client.json" "$T/client.log")

# wq WAN KEY: a field of WAN's status object
wq()
{
	lab_q "$CLI_SOCK" "{w['name']: w for w in s['wans']}['$1']['$2']"
}

all_up()
{
	local n
	for n in "$@"; do
		lab_tunnel_up "$CLI_SOCK" "$n" || return 1
	done
}

all_state()
{
	local want=$1 n
	shift
	for n in "$@"; do
		[ "$(lab_q "$CLI_SOCK" "t['$n']['state']" 2>/dev/null)" = "$want" ] || return 1
	done
}

# ---- WAN3 missing at start: only its tunnels wait ----
wait_until 20 all_up cr1 df1 bk1 cr2 df2 bk2
ok $? "the six tunnels of wan1 and wan2 come up while wan3 does not exist"
all_state waiting-wan cr3 df3 bk3
ok $? "wan3's tunnels are in state waiting-wan" ||
	diag "$(lab_q "$CLI_SOCK" "[(x['name'], x['state'], x['last_error']) for x in s['tunnels']]")"
is "$(wq wan3 state)" missing "status: wan3 is missing"
is "$(grep -c "waiting for WAN 'wan3'" "$T/client.log")" 3 "the wait is logged once per tunnel"
is "$(wq wan1 gateway4) $(wq wan2 gateway4)" "10.1.1.1 10.1.2.1" \
	"gateways of wan1 and wan2 from the main table's default routes (metrics 100 and 200)"

veth_pair cli wan3 10.1.3.2/24 r3 lan 10.1.3.1/24 || bail_out "cannot create wan3"
t0=$EPOCHREALTIME
wait_until 10 all_up cr3 df3 bk3
ok $? "wan3's tunnels come up when its interface appears (event, not the 30 s safety retry)"
diag "wan3's tunnels up $(python3 -c "print(round($EPOCHREALTIME - $t0, 2))") s after the link"
is "$(wq wan3 state) $(wq wan3 gateway4)" "up 10.1.3.1" "status: wan3 up, static gateway"

# ---- routing tables and rules ----
# default_route TABLE: the table's default route as ip prints it, without trailing blanks
default_route()
{
	ns_exec cli ip route show table "$1" default | sed 's/ *$//'
}
is "$(default_route 200)" "default via 10.1.1.1 dev wan1 proto static" \
	"table 200: default via wan1's gateway"
is "$(default_route 201)" "default via 10.1.2.1 dev wan2 proto static" \
	"table 201: default via wan2's gateway"
is "$(default_route 202)" "default via 10.1.3.1 dev wan3 proto static" \
	"table 202: default via the configured gateway of wan3"
ns_exec cli ip route show table 202 | grep -q '^10.1.3.0/24 dev wan3 .*src 10.1.3.2'
ok $? "table 202 holds wan3's connected prefix"
rules=$(ns_exec cli ip rule show priority $PRIO)
want="$PRIO:	from 10.1.1.2 lookup 200
$PRIO:	from 10.1.2.2 lookup 201
$PRIO:	from 10.1.3.2 lookup 202
$PRIO:	from all oif wan1 lookup 200
$PRIO:	from all oif wan2 lookup 201
$PRIO:	from all oif wan3 lookup 202"
is "$(sort <<<"$rules" | sed 's/ proto static//')" "$want" \
	"rules at priority $PRIO: from each WAN address and oif each WAN"
rules=$(ns_exec cli ip rule show priority $((PRIO - 1)) | sort)
want="$((PRIO - 1)):	from 10.1.1.2 lookup main suppress_prefixlength 0
$((PRIO - 1)):	from 10.1.2.2 lookup main suppress_prefixlength 0
$((PRIO - 1)):	from 10.1.3.2 lookup main suppress_prefixlength 0"
is "$rules" "$want" "rules at priority $((PRIO - 1)): each WAN address sees main's specific routes first"
like "$(ns_exec cli ip route get 192.168.50.7 from 10.1.2.2)" "dev lan0" \
	"from wan2's address to the LAN: the LAN route of the main table"
like "$(ns_exec cli ip route get $SRV from 10.1.2.2)" "via 10.1.2.1 dev wan2 table 201" \
	"from wan2's address to the server: wan2's table, not main's default via wan1"
is "$(ns_exec cli ip -6 route show table 200 default | sed 's/ *$//')" \
	"default via fe80::1 dev wan1 proto static metric 1024 pref medium" \
	"IPv6: table 200's default via wan1's link-local gateway"
is "$(wq wan1 gateway6)" fe80::1 "status: wan1's IPv6 gateway"
rules=$(ns_exec cli ip -6 rule show priority $PRIO)
ok "$([ "$(wc -l <<<"$rules")" = 4 ] && grep -q "from fd01:1::2 lookup 200" <<<"$rules" &&
	ns_exec cli ip -6 rule show priority $((PRIO - 1)) |
	grep -q "from fd01:1::2 lookup main suppress_prefixlength 0"; echo $?)" \
	"IPv6 rules: the three oif rules, wan1's address and its suppress rule" || diag "$rules"

# ---- every tunnel carries ping ----
ping_tun()
{
	ns_exec cli ping -n -q -I "mpq-$1" -c "${2:-3}" -i "${3:-0.2}" -W 1 10.200.0.1 >/dev/null
}
for n in cr1 df1 bk1 cr2 df2 bk2 cr3 df3 bk3; do
	ping_tun $n
	ok $? "ping through tunnel $n"
done

# ---- outer packets leave by their own WAN ----
rx()
{
	ns_exec "$1" cat /sys/class/net/lan/statistics/rx_packets
}

# through WAN $1's tunnels only: router $2 must see >= 60 packets, the others < 15
through_wan()
{
	local w=$1 want=$2 r n
	local -A before after
	for r in r1 r2 r2b r3; do before[$r]=$(rx $r); done
	for n in cr df bk; do
		ping_tun "$n$w" 20 0.05 || diag "ping through $n$w failed"
	done
	for r in r1 r2 r2b r3; do after[$r]=$(rx $r); done
	local msg="" bad=0
	for r in r1 r2 r2b r3; do
		local d=$((after[$r] - before[$r]))
		msg+="$r +$d "
		if [ $r = "$want" ]; then
			[ $d -ge 60 ] || bad=1
		else
			[ $d -lt 15 ] || bad=1
		fi
	done
	ok $bad "outer packets of wan$w's tunnels reach $want only ($msg)"
}
through_wan 1 r1
through_wan 2 r2
through_wan 3 r3

# ---- WAN2's gateway changes at run time ----
reconnects=$(lab_q "$CLI_SOCK" "sum(t[n]['reconnects'] for n in ('cr2', 'df2', 'bk2'))")
ns_exec cli ip route replace default via 10.1.2.4 dev wan2 metric 200
wan2_moved()
{
	[ "$(wq wan2 gateway4)" = 10.1.2.4 ]
}
wait_until 5 wan2_moved
ok $? "status: wan2's gateway follows the main table to 10.1.2.4"
wait_until 2 eval '[ "$(default_route 201)" = "default via 10.1.2.4 dev wan2 proto static" ]'
ok $? "table 201 now routes via 10.1.2.4"
through_wan 2 r2b
"$MPQUICCTL" -s "$CLI_SOCK" status | grep -Eq '^wan2 +wan2 +up +10\.1\.2\.4 +- +201 +10\.1\.2\.2/24$'
ok $? "mpquicctl status shows wan2 with its new gateway" ||
	diag "$("$MPQUICCTL" -s "$CLI_SOCK" status 2>&1)"
is "$(lab_q "$CLI_SOCK" "sum(t[n]['reconnects'] for n in ('cr2', 'df2', 'bk2'))")" \
	"$reconnects" "wan2's tunnels kept their connections"

# ---- WAN3's address changes: its tunnels move to a new socket ----
ns_exec cli ip addr add 10.1.3.5/24 dev wan3 && ns_exec cli ip addr del 10.1.3.2/24 dev wan3
wait_until 10 eval 'all_up cr3 df3 bk3 && [ "$(wq wan3 addresses)" = "['"'"'10.1.3.5/24'"'"']" ]'
ok $? "wan3's tunnels are up again after its address changed"
grep -q "tunnel 'cr3' (wan3): WAN 'wan3' source address is now 10.1.3.5, reconnecting" \
	"$T/client.log"
ok $? "the move is logged"
ping_tun cr3 && ns_exec cli ip rule show priority $PRIO | grep -q "from 10.1.3.5 lookup 202"
ok $? "ping through cr3 from the new address; its rule follows"

ns_alive "$spid" && ns_alive "$cpid"
ok $? "both daemons still running"

# ---- shutdown removes what the daemon installed ----
ns_stop "$cpid"
is "$(ns_exec cli ip rule show priority $PRIO; ns_exec cli ip -6 rule show priority $PRIO;
	ns_exec cli ip rule show priority $((PRIO - 1));
	ns_exec cli ip -6 rule show priority $((PRIO - 1));
	for t in 200 201 202; do ns_exec cli ip route show table $t; done)" "" \
	"no WAN rules or routes left after the client stopped"
! grep -E "Sanitizer|runtime error" "$T/client.log"
ok $? "no sanitizer report in the client's log"

done_testing
