# shellcheck shell=bash
# t/lib/folab.sh: the failover lab (issue 11) on top of lab.sh: three WANs, each through its
# own router namespace, faults made at a WAN's router with nftables.
#
#   [lan] 192.168.10.2 -- lan0 [cli] wan1 10.1.1.2 -- lan 10.1.1.1 [r1] core 10.9.1.2 --+
#                                    wan2 10.1.2.2 -- lan 10.1.2.1 [r2] core 10.9.2.2 ---+- [srv]
#                                    wan3 10.1.3.2 -- lan 10.1.3.1 [r3] core 10.9.3.2 --+  |
#                                         server 10.99.0.1 (lo), TUN mpqs0 10.200.0.1/16   |
#                                                 inet0 198.51.100.1 -- eth0 198.51.100.10 [inet]
#
# Classes (client `classes[]`, mpquic-nft on both ends): critical = UDP with DSCP EF from
# lan0, tunnels cr1 cr2 cr3; bulk = TCP to port 5201 from lan0, tunnels bk2 bk3 bk1; default =
# the rest, tunnels df3 df1 df2. Tunnel XXn runs over WAN n. So wan1 carries the critical
# class, wan2 the bulk class and wan3 the default class while all is well.
# Server: one group per class (`clients[].groups[]`, shared inner address 10.200.1.10 / .20 /
# .30); when the daemon does not know groups yet (--check-config refuses them) the tunnels get
# their own addresses 10.200.1.(10 * class + wan) instead and FOLAB_GROUPS is 0 (a diag says
# so: flows then cannot survive a move and the tests say that by failing). FOLAB_NO_GROUPS=1
# in the environment forces that, to compare the two set-ups by hand.
# Every setting of the failover machinery is left at its shipped default unless a test's PY
# snippet sets it.
#
#   folab_init                  namespaces, links, routes (bail out on failure)
#   folab_confs [CLI_PY [SRV_PY]]   write $T/client.json and $T/server.json (PY edits dict c;
#                               the helper cls(c, NAME) returns a class's dict); also
#                               folab_client_conf [PY] and folab_server_conf [PY] alone
#   folab_start                 start both daemons, wait for the 9 tunnels, mpquic-nft apply
#                               on both ends; sets CPID, SPID (bail out on failure)
#   folab_restart_client [CLI_PY]   stop the client, write a new config, start it again
#   folab_fault N KIND [ARG]    at router rN: blackhole | brownout [PCT] | delay MS (added
#                               RTT, tools/bench-delay behind an iptables NFQUEUE rule) | clear
#   folab_flap N PERIOD_S TOTAL_S   rN goes dark and light every PERIOD_S for TOTAL_S
#                               (in the background; prints the PID)
#   folab_q SOCK JQ_FILTER      the status of SOCK through jq (strings raw, objects compact)
#   folab_cls NAME KEY          a field of class NAME in the client's status (null if none)
#   folab_tun NAME KEY [SOCK]   a field of tunnel NAME in the client's (SOCK's) status
#   folab_states                name:state/health of every client tunnel, one line
#   folab_moved_off CLASS TUN   CLASS rides something else than TUN; sets MOVED_TO, MOVED_AT
#   folab_wan_of TUNNEL         the WAN number of a tunnel (its last digit)
#   folab_all_up                all nine tunnels up
#   folab_moves_log CLASS       the "class 'CLASS': moves from" lines of the client log
#   folab_probe_echo            start the probe's echo on the Internet host (prints the PID)
#   folab_probe_bg SECS OUT [ARGS]  start udprobe.py send in lan for SECS, JSON into OUT (PID)
#   folab_probe_ready OUT       wait (5 s) for that probe's first echo
#   folab_fault_drops N         packets the fault rule of router N has dropped
#   jget KEY FILE               a field of the JSON object in FILE
#   fo_delta NEW OLD            NEW - OLD, "none" unless both are integers
#   now_s                       wall clock, seconds with fractions
#   elapsed T0                  seconds since T0 (one decimal)

# shellcheck source=t/lib/lab.sh
. "$(dirname "${BASH_SOURCE[0]}")/lab.sh"

FO_SRV=10.99.0.1
FO_INET=198.51.100.10
FO_PROBE_PORT=5004
FO_IPERF_PORT=5201
UDPROBE=$MPQ_TOP/t/lib/udprobe.py
: "${BENCH_DELAY:=$MPQ_BUILD/tools/bench-delay}"
CLI_SOCK=$T/cli.sock
# set here, read by the tests
# shellcheck disable=SC2034
SRV_SOCK=$T/srv.sock

now_s()
{
	echo "$EPOCHREALTIME"
}

elapsed()
{
	python3 -c "print(round($EPOCHREALTIME - $1, 1))"
}

folab_init()
{
	local n
	netns_require_root
	netns_require_cmd ping python3 openssl ss nft jq
	[ -x "$MPQUICD" ] || skip_all "mpquicd not built ($MPQUICD)"
	[ -x "$MPQUICCTL" ] || skip_all "mpquicctl not built ($MPQUICCTL)"
	[ -x "$MPQUIC_NFT" ] || skip_all "mpquic-nft not built ($MPQUIC_NFT)"
	"$MPQ_TOP/tools/mpquic-certs" "$T/certs" lab >"$T/certs.log" 2>&1 ||
		bail_out "certificate generation failed: $(cat "$T/certs.log")"
	for n in lan cli r1 r2 r3 srv inet; do
		ns_new $n || bail_out "cannot create namespace $n"
	done
	ns_exec srv ip addr add $FO_SRV/32 dev lo || bail_out "server address"
	for n in 1 2 3; do
		veth_pair srv core$n 10.9.$n.1/24 r$n core 10.9.$n.2/24 &&
			veth_pair cli wan$n 10.1.$n.2/24 r$n lan 10.1.$n.1/24 &&
			ns_exec r$n sysctl -qw net.ipv4.ip_forward=1 &&
			ns_exec r$n ip route add $FO_SRV/32 via 10.9.$n.1 &&
			ns_exec srv ip route add 10.1.$n.0/24 via 10.9.$n.2 &&
			ns_exec cli ip route add default via 10.1.$n.1 dev wan$n metric $((n * 100)) ||
			bail_out "cannot build WAN $n"
		# one packet per skb on the WANs, as a real NIC sends them: a drop at the router
		# then takes one datagram, not a whole GSO batch
		ns_exec cli ip link set dev wan$n gso_max_segs 1
		ns_exec srv ip link set dev core$n gso_max_segs 1
		# the router's fault table: an empty forward chain until a fault is made
		ns_exec r$n nft -f - <<'EOF' || bail_out "router $n fault table"
table inet fault {
	chain drops {
		type filter hook forward priority 0; policy accept;
	}
}
EOF
	done
	veth_pair lan eth0 192.168.10.2/24 cli lan0 192.168.10.1/24 &&
		ns_exec lan ip route add default via 192.168.10.1 &&
		veth_pair srv inet0 198.51.100.1/24 inet eth0 $FO_INET/24 ||
		bail_out "cannot build the LAN and Internet links"
	for n in srv cli; do
		ns_exec $n sysctl -qw net.ipv4.ip_forward=1 &&
			ns_exec $n sysctl -qw net.ipv4.conf.all.rp_filter=0 &&
			ns_exec $n sysctl -qw net.ipv4.conf.default.rp_filter=0 ||
			bail_out "sysctls in $n"
	done
}

# The Python prelude shared by both configuration writers.
_FO_PY_PRE='
def cls(c, name):
    return next(k for k in c["classes"] if k["name"] == name)
'

folab_client_conf()
{
	lab_client_conf "$T/client.json" "$_FO_PY_PRE
c.pop('defaults', None)
c['server']['address'] = '$FO_SRV'
c['wans'] = [{'name': 'wan%d' % n, 'interface': 'wan%d' % n} for n in (1, 2, 3)]
c['classes'] = [
    {'name': 'critical', 'match': {'iif': ['lan0'], 'proto': 'udp', 'dscp': ['ef']},
     'tunnels': ['cr1', 'cr2', 'cr3']},
    {'name': 'bulk', 'match': {'iif': ['lan0'], 'proto': 'tcp', 'dport': [$FO_IPERF_PORT]},
     'tunnels': ['bk2', 'bk3', 'bk1']},
    {'name': 'default', 'default': True, 'tunnels': ['df3', 'df1', 'df2']}]
c['tunnels'] = [{'name': '%s%d' % (k, n), 'wan': 'wan%d' % n}
                for k in ('cr', 'bk', 'df') for n in (1, 2, 3)]
${1:-}"
}

folab_server_conf()
{
	_folab_server_conf "${1:-}" 1 || return 1
	echo "FOLAB_NO_GROUPS=1 is set" >"$T/check-groups.log"
	if [ "${FOLAB_NO_GROUPS:-0}" != 1 ] &&
		"$MPQUICD" --check-config "$T/server.json" >"$T/check-groups.log" 2>&1; then
		# shellcheck disable=SC2034 # read by the tests
		FOLAB_GROUPS=1
	else
		# shellcheck disable=SC2034
		FOLAB_GROUPS=0
		diag "the server refuses clients[].groups ($(head -n 1 "$T/check-groups.log")):" \
			"per-tunnel inner addresses instead, flows cannot keep their address across a move"
		_folab_server_conf "${1:-}" 0 || return 1
	fi
}

folab_confs()
{
	folab_client_conf "${1:-}" && folab_server_conf "${2:-}"
}

_folab_server_conf()
{
	lab_server_conf "$T/server.json" "$_FO_PY_PRE
groups = $2
c['listen'] = ['$FO_SRV:$LAB_PORT']
names = {'critical': 'cr', 'bulk': 'bk', 'default': 'df'}
if groups:
    c['clients'][0]['tunnels'] = [{'name': '%s%d' % (p, n)}
                                  for p in names.values() for n in (1, 2, 3)]
    c['clients'][0]['groups'] = [
        {'name': k, 'address': ['10.200.1.%d/32' % (10 * (i + 1))],
         'tunnels': ['%s%d' % (p, n) for n in (1, 2, 3)]}
        for i, (k, p) in enumerate(names.items())]
else:
    c['clients'][0]['tunnels'] = [
        {'name': '%s%d' % (p, n), 'address': ['10.200.1.%d/32' % (10 * (i + 1) + n)]}
        for i, p in enumerate(names.values()) for n in (1, 2, 3)]
$1"
}

folab_all_up()
{
	[ "$(folab_q "$CLI_SOCK" '[.tunnels[].state] | length > 0 and all(. == "up")')" = true ]
}

_folab_start_client()
{
	"$MPQUICD" --check-config "$T/client.json" >"$T/check-client.log" 2>&1 || return 1
	CPID=$(lab_start cli "$T/client.json" "$T/client.log")
	wait_until 20 folab_all_up || return 2
	ns_exec cli "$MPQUIC_NFT" -c "$T/client.json" apply >"$T/nft-cli.log" 2>&1 || return 3
}

folab_start()
{
	"$MPQUICD" --check-config "$T/server.json" >"$T/check-server.log" 2>&1 ||
		bail_out "server configuration refused: $(cat "$T/check-server.log")"
	# shellcheck disable=SC2034 # read by the tests
	SPID=$(lab_start srv "$T/server.json" "$T/server.log")
	wait_until 5 ns_listening srv udp $LAB_PORT || bail_out "the server does not listen"
	ns_exec srv "$MPQUIC_NFT" -c "$T/server.json" apply >"$T/nft-srv.log" 2>&1 ||
		bail_out "mpquic-nft apply on the server: $(cat "$T/nft-srv.log")"
	_folab_start_client
	case $? in
	1) bail_out "client configuration refused: $(cat "$T/check-client.log")" ;;
	2) bail_out "the nine tunnels did not come up: $(folab_states)" ;;
	3) bail_out "mpquic-nft apply on the client: $(cat "$T/nft-cli.log")" ;;
	esac
}

# folab_restart_client [CLI_PY]: 0, or 1 when the new configuration is refused (the log
# $T/check-client.log says why), 2 when the tunnels do not come up, 3 nft failed.
folab_restart_client()
{
	ns_stop "$CPID"
	folab_client_conf "${1:-}" || return 1
	_folab_start_client
}

folab_fault()
{
	local r=r$1 kind=$2 arg=${3:-} rule=
	ns_exec $r nft flush chain inet fault drops || return 1
	if [ -n "${_FO_DELAY_ON[$1]:-}" ]; then
		ns_exec $r iptables -t mangle -F FORWARD || return 1
		_FO_DELAY_ON[$1]=
	fi
	case $kind in
	clear) ;;
	blackhole) rule="counter drop" ;;
	brownout) rule="numgen random mod 100 < ${arg:-30} counter drop" ;;
	delay)
		# the NFQUEUE delay line of tools/bench: half the added RTT in each direction. The
		# queue is iptables' (xt_NFQUEUE): kernels without CONFIG_NFT_QUEUE are common.
		[ -x "$BENCH_DELAY" ] || { echo "folab_fault: $BENCH_DELAY not built" >&2; return 1; }
		if [ -z "${_FO_DELAY_PID[$1]:-}" ] || ! ns_alive "${_FO_DELAY_PID[$1]}"; then
			_FO_DELAY_PID[$1]=$(ns_bg $r "$T/delay-$r.log" "$BENCH_DELAY" 0 $((arg * 500)))
			wait_until 5 grep -q 'bench-delay: queue' "$T/delay-$r.log" || return 1
		fi
		ns_exec $r iptables -t mangle -A FORWARD -j NFQUEUE --queue-num 0 --queue-bypass ||
			return 1
		_FO_DELAY_ON[$1]=1
		;;
	*) echo "folab_fault: unknown fault '$kind'" >&2; return 1 ;;
	esac
	[ -z "$rule" ] || ns_exec $r nft add rule inet fault drops "$rule"
}
declare -a _FO_DELAY_ON=()
declare -a _FO_DELAY_PID=()

# folab_fault_drops N: packets the fault rule of router N dropped so far
folab_fault_drops()
{
	ns_exec "r$1" nft -j list chain inet fault drops | python3 -c '
import json, sys
n = 0
for o in json.load(sys.stdin)["nftables"]:
    for e in o.get("rule", {}).get("expr", []):
        if "counter" in e:
            n += e["counter"]["packets"]
print(n)'
}

folab_flap()
{
	ns_bg "r$1" "$T/flap-r$1.log" bash -c '
end=$((SECONDS + $2))
while [ $SECONDS -lt $end ]; do
	nft add rule inet fault drops counter drop; echo "dark $(date +%s.%N)"; sleep $1
	nft flush chain inet fault drops; echo "light $(date +%s.%N)"; sleep $1
done' flap "$2" "$3"
}

# The status queries use jq: under load a python3 start costs seconds, jq's a few ms, and
# the tests poll the status to time class moves.
folab_q()
{
	"$MPQUICCTL" -s "$1" status --json 2>/dev/null | jq -r -c "$2" 2>/dev/null
}

folab_cls()
{
	folab_q "$CLI_SOCK" ".classes[] | select(.name == \"$1\") | .$2"
}

folab_tun()
{
	folab_q "${3:-$CLI_SOCK}" ".tunnels[] | select(.name == \"$1\") | .$2"
}

folab_states()
{
	folab_q "$CLI_SOCK" '[.tunnels[] | "\(.name):\(.state)/\(.health.state // "-")"] | join(" ")'
}

# folab_moved_off CLASS TUNNEL: CLASS rides something else than TUNNEL; sets MOVED_TO and
# MOVED_AT, the wall clock of the move: now minus the status's last_move.ago_s
# shellcheck disable=SC2034 # MOVED_TO, MOVED_AT are read by the tests
folab_moved_off()
{
	local out
	out=$(folab_q "$CLI_SOCK" ".classes[] | select(.name == \"$1\") |
		\"\(.active) \(.last_move.ago_s // 0)\"") || return 1
	[ -n "$out" ] && [ "${out% *}" != "$2" ] || return 1
	MOVED_TO=${out% *}
	MOVED_AT=$(awk -v now="$EPOCHREALTIME" -v ago="${out#* }" 'BEGIN { printf "%.3f", now - ago }')
}

folab_wan_of()
{
	echo "${1: -1}"
}

folab_moves_log()
{
	grep "class '$1': moves from" "$T/client.log"
}

folab_probe_echo()
{
	ns_bg inet "$T/echo.log" python3 "$UDPROBE" echo $FO_INET $FO_PROBE_PORT --max-s 900
}

folab_probe_bg()
{
	local secs=$1 out=$2
	shift 2
	rm -f "$out.ready"
	ns_bg lan "$out.err" sh -c 'out=$1; shift; exec python3 "$@" >"$out"' sh "$out" \
		"$UDPROBE" send $FO_INET $FO_PROBE_PORT --secs "$secs" --ready "$out.ready" "$@"
}

# folab_probe_ready OUT: wait (bounded) until the probe writing OUT has its first echo
folab_probe_ready()
{
	wait_until 5 test -e "$1.ready"
}

# fo_delta NEW OLD: NEW - OLD, or "none" when either is not an integer (a status field that
# is missing), which then fails any cmp_ok
fo_delta()
{
	if [[ ${1:-} =~ ^-?[0-9]+$ && ${2:-} =~ ^-?[0-9]+$ ]]; then
		echo $(($1 - $2))
	else
		echo none
	fi
}

# jget KEY FILE: a field of the JSON object in FILE
jget()
{
	python3 -c 'import json,sys; print(json.load(open(sys.argv[2])).get(sys.argv[1]))' "$1" "$2"
}
