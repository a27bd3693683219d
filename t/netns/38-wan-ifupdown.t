#!/usr/bin/env bash
# gateway "auto" through an administrative link down/up (issue 17, defect 3), and a WAN with
# no gateway at all.
#
#   [cli] wan1 10.1.1.2 ---- lan 10.1.1.1 [r1] core 10.9.1.2 ---- [srv] 10.99.0.1 (lo)
#         wan2 10.1.2.2 ---- lan 10.1.2.1 [r2]                    (r2 forwards nothing)
#
# `ip link set wan1 down; up` flushes the main table's default route via wan1 and nothing puts
# it back: the WAN must keep its last gateway (still on-link) and its tunnel come back within
# seconds. wan2 starts with no default route at all: its tunnel waits and says "no gateway"
# (status and log); given a gateway that forwards nothing, it tries to connect and shows no RTT
# (never measured) instead of ngtcp2's initial 333 ms. A default route deleted on purpose while
# the link is up is not kept.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"

netns_require_root
netns_require_cmd ping python3 openssl
[ -x "$MPQUICD" ] || skip_all "mpquicd not built ($MPQUICD)"
[ -x "$MPQUICCTL" ] || skip_all "mpquicctl not built ($MPQUICCTL)"
"$MPQ_TOP/tools/mpquic-certs" "$T/certs" lab >"$T/certs.log" 2>&1 ||
	bail_out "certificate generation failed: $(cat "$T/certs.log")"

SRV=10.99.0.1
CLI_SOCK=$T/cli.sock

plan 17

setup()
{
	local n
	for n in cli r1 r2 srv; do
		ns_new $n || return 1
	done
	ns_exec srv ip addr add $SRV/32 dev lo || return 1
	veth_pair srv core1 10.9.1.1/24 r1 core 10.9.1.2/24 || return 1
	ns_exec r1 sysctl -qw net.ipv4.ip_forward=1 && ns_exec r1 ip route add $SRV/32 via 10.9.1.1 ||
		return 1
	ns_exec srv ip route add 10.1.1.0/24 via 10.9.1.2 || return 1
	veth_pair cli wan1 10.1.1.2/24 r1 lan 10.1.1.1/24 || return 1
	veth_pair cli wan2 10.1.2.2/24 r2 lan 10.1.2.1/24 || return 1
	for n in srv cli; do
		ns_exec $n sysctl -qw net.ipv4.conf.all.rp_filter=0 || return 1
		ns_exec $n sysctl -qw net.ipv4.conf.default.rp_filter=0 || return 1
	done
	ns_exec cli ip route add default via 10.1.1.1 dev wan1 metric 100
}
setup || bail_out "cannot build the lab"

lab_server_conf "$T/server.json" "c['listen'] = ['$SRV:$LAB_PORT']"
lab_client_conf "$T/client.json" "
c['server']['address'] = '$SRV'
c['wans'] = [{'name': 'wan1', 'interface': 'wan1', 'gateway': 'auto'},
             {'name': 'wan2', 'interface': 'wan2', 'gateway': 'auto'}]
c['classes'] = [{'name': 'default', 'default': True, 'tunnels': ['t1', 't2']}]
c['tunnels'] = [{'name': 't1', 'tun': 'mpqc1', 'wan': 'wan1'},
                {'name': 't2', 'tun': 'mpqc2', 'wan': 'wan2'}]"

lab_start srv "$T/server.json" "$T/server.log" >/dev/null
wait_until 5 ns_listening srv udp $LAB_PORT || bail_out "the server does not listen"
lab_start cli "$T/client.json" "$T/client.log" >/dev/null

wq()
{
	lab_q "$CLI_SOCK" "{w['name']: w for w in s['wans']}['$1']['$2']"
}
tq()
{
	lab_q "$CLI_SOCK" "t['$1']['$2']"
}
# in_state TUNNEL STATE
in_state()
{
	[ "$(tq "$1" state 2>/dev/null)" = "$2" ]
}

lab_wait_up "$CLI_SOCK" t1 15
ok $? "t1 is up on wan1 (gateway from the main table)"
like "$("$MPQUICCTL" -s "$CLI_SOCK" status)" $'\ndefault +t1 ' \
	"mpquicctl status shows which tunnel each class rides"

# ---- no gateway: a visible reason ----
is "$(tq t2 state)" waiting-wan "t2 waits: wan2 has no default route"
like "$(tq t2 last_error)" "WAN 'wan2': no gateway" "t2's last_error says there is no gateway"
grep -q "tunnel 't2' (wan2): waiting for WAN 'wan2' (wan2): no gateway" "$T/client.log"
ok $? "the wait is logged with its reason"
like "$("$MPQUICCTL" -s "$CLI_SOCK" status)" "last error: WAN 'wan2': no gateway" \
	"mpquicctl status shows the reason"

# ---- a gateway that forwards nothing: connecting, no RTT yet ----
ns_exec cli ip route add default via 10.1.2.1 dev wan2 metric 200
wait_until 5 in_state t2 connecting
ok $? "t2 connects once wan2 has a gateway"
sleep 1
is "$(lab_q "$CLI_SOCK" "t['t2'].get('rtt_ms', 'missing')")" None \
	"status: no RTT before one was measured (not ngtcp2's initial 333 ms)"
line=$("$MPQUICCTL" -s "$CLI_SOCK" status | awk '$1 == "t2"')
like "$line" "^t2 .* connecting +[^ ]+ +- " "mpquicctl shows '-' as t2's RTT" || diag "$line"

# ---- administrative down/up of wan1 ----
ns_exec cli ip link set wan1 down
wait_until 5 in_state t1 waiting-wan
ok $? "t1 waits while wan1 is down"
ns_exec cli ip link set wan1 up
t0=$EPOCHREALTIME
ns_exec cli ip route show default | grep -q "dev wan1"
ok "$([ $? = 1 ] && echo 0 || echo 1)" "the kernel flushed the main table's default route via wan1"
lab_wait_up "$CLI_SOCK" t1 10
ok $? "t1 is up again after wan1's down/up"
diag "t1 up $(python3 -c "print(round($EPOCHREALTIME - $t0, 2))") s after 'ip link set wan1 up'"
is "$(wq wan1 gateway4) $(wq wan1 gateway4_kept)" "10.1.1.1 True" \
	"status: wan1 keeps its last gateway, marked as kept"
ns_exec cli ip route add 10.200.0.0/24 dev mpqc1
ns_ping cli 10.200.0.1
ok $? "t1 carries traffic again"

# ---- a default route deleted on purpose is not kept ----
ns_exec cli ip route del default via 10.1.2.1 dev wan2
ns_exec cli ip link set wan2 down
ns_exec cli ip link set wan2 up
wait_until 5 in_state t2 waiting-wan
ok $? "t2 waits again after its route was deleted while the link was up"
like "$(tq t2 last_error)" "no gateway" "with the reason 'no gateway'"

lab_finish
done_testing
