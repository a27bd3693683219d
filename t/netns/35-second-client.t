#!/usr/bin/env bash
# A second client in its own namespace, with its own certificate and tunnels, on the one server
# listener next to the first client (issue 4): it cannot open the first client's tunnel, its
# spoofed inner sources are dropped and counted, and the first client never notices.
#
# Client A: namespace cli (10.99.1.2), certificate edge1, tunnel t1 on mpqc1.
# Client B: namespace cli2 (10.99.2.2, its own veth to srv, routed to the listener 10.99.1.1),
# certificate edge2, its tunnels u1 (mpqb1: 10.200.2.1, fd00:200::2:1) and u2 (mpqb2:
# 10.200.2.2), and t1 (mpqb9), which is A's: the server refuses it with 403 on every attempt.
#
# A runs a ping probe (one ping at a time, each outcome recorded) from before B starts until B
# has finished; A's counters on both ends must then differ from their baseline by exactly the
# probe's packets. Router solicitations are off in cli and cli2 so that the tunnels carry
# nothing but what the test sends (the server would rightly count them as spoofed).
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init
RAWPKT=$MPQ_TOP/t/lib/rawpkt.py
N=100

plan 43

# delta NOW BEFORE: print NOW - BEFORE (empty values count as 0)
delta()
{
	echo $((${1:-0} - ${2:-0}))
}

# count_ge MIN CMD...: CMD prints a number >= MIN
# shellcheck disable=SC2317 # called through wait_until
count_ge()
{
	local min=$1
	shift
	[ "$("$@")" -ge "$min" ]
}

# refusals: the server's log lines refusing t1 to edge2 from B's address
refusals()
{
	grep -c "client 'edge2' (10\.99\.2\.2:[0-9]*): may not open tunnel 't1', refusing (403)" \
		"$T/server.log"
}

# probes, probe_failures: pings A's probe has finished, and how many of them failed
probes()
{
	wc -l <"$T/probe.out"
}

probe_failures()
{
	grep -cv '^0$' "$T/probe.out"
}

# probe_advances: wait (bounded) for A's probe to finish 2 more pings from now
probe_advances()
{
	wait_until 10 count_ge $(($(probes) + 2)) probes
}

sniffed()
{
	python3 "$RAWPKT" count "$T/srv.sniff" "$1"
}

# shellcheck disable=SC2317 # called through wait_until
all_sniffed()
{
	local tag
	for tag in "$@"; do
		[ "$(sniffed "$tag")" -ge "$N" ] || return 1
	done
}

# port SOCK TUNNEL: the UDP port of the client's current connection for TUNNEL
port()
{
	lab_q "$1" "t['$2']['local'].rsplit(':', 1)[1]"
}

# a_counters: A's t1 figures on both ends, one line (compared before and after B's visit)
a_counters()
{
	echo "cli: $(lab_q "$T/cli.sock" "'%d %d %d %d' % (t['t1']['tx_packets'], \
t['t1']['rx_packets'], sum(t['t1']['drops'].values()), t['t1']['reconnects'])")" \
		"srv: $(lab_q "$T/srv.sock" "'%d %d %d %d %s' % (t['t1']['tx_packets'], \
t['t1']['rx_packets'], sum(t['t1']['drops'].values()), t['t1']['sessions'], t['t1']['peer'])")"
}

# links NS: the network interfaces left in namespace NS, one line
links()
{
	ip -n "$(ns_name "$1")" -br link | awk '{ sub(/@.*/, "", $1); print $1 }' | sort | xargs
}

# ---- setup: B's namespace with its own link to srv; configurations ----
if ! { ns_new cli2 && veth_pair srv veth2 10.99.2.1/24 cli2 veth0 10.99.2.2/24 &&
	ns_exec cli2 ip route add 10.99.1.0/24 via 10.99.2.1; }; then
	bail_out "cannot create namespace cli2"
fi
if ! { ns_exec cli sysctl -qw net.ipv6.conf.default.router_solicitations=0 &&
	ns_exec cli2 sysctl -qw net.ipv6.conf.default.router_solicitations=0; }; then
	bail_out "cannot turn off router solicitations"
fi

# edge2 gets an IPv6 address on u1 and a second tunnel u2; t1 stays edge1's.
lab_server_conf "$T/server.json" '
e2 = [x for x in c["clients"] if x["identity"] == "edge2"][0]
e2["tunnels"][0]["address"].append("fd00:200::2:1/128")
e2["tunnels"].append({"name": "u2", "address": ["10.200.2.2/32"]})'
lab_client_conf "$T/client.json"
lab_client_conf "$T/client2.json" '
c["control_socket"] = c["control_socket"].replace("cli.sock", "cli2.sock")
c["tls"]["cert"] = c["tls"]["cert"].replace("edge1", "edge2")
c["tls"]["key"] = c["tls"]["key"].replace("edge1", "edge2")
c["tunnels"] = [{"name": "u1", "tun": "mpqb1"}, {"name": "u2", "tun": "mpqb2"},
                {"name": "t1", "tun": "mpqb9"}]'

# ---- 1. A alone, then A and B at once ----
spid=$(lab_start srv "$T/server.json" "$T/server.log")
apid=$(lab_start cli "$T/client.json" "$T/client.log")
lab_wait_up "$T/cli.sock" t1
ok $? "client A (cli, edge1): tunnel t1 is up"
lab_routes mpqc1
ns_ping cli 10.200.0.1 && ns_ping cli fd00:200::1
ok $? "client A: ping to the server's inner address (IPv4, IPv6) through t1"
aport=$(port "$T/cli.sock" t1)
is "$(lab_q "$T/srv.sock" "t['t1']['peer']")" "10.99.1.2:$aport" \
	"the server holds t1 on A's connection (10.99.1.2:$aport)"

# A's baseline, then the probe: from here on A's tunnel carries the probe's pings and nothing else.
a0=$(a_counters)
: >"$T/probe.out"
# shellcheck disable=SC2016 # expanded by the probe's shell
probe=$(ns_bg cli "$T/probe.out" bash -c 'while [ ! -e "$1" ]; do
	ping -n -q -c 1 -W 2 10.200.0.1 >/dev/null 2>&1; echo $?; sleep 0.2; done' \
	probe "$T/probe.stop")
wait_until 10 count_ge 2 probes
ok $? "client A's ping probe runs"

bpid=$(lab_start cli2 "$T/client2.json" "$T/client2.log")
lab_wait_up "$T/cli2.sock" u1 && lab_wait_up "$T/cli2.sock" u2
ok $? "client B (cli2, edge2): tunnels u1 and u2 are up"
is "$(lab_q "$T/cli2.sock" "','.join(t['u1']['inner_addresses'])")" \
	"10.200.2.1/32,fd00:200::2:1/128" "u1 got edge2's addresses, none of edge1's"
u1port=$(port "$T/cli2.sock" u1)
u2port=$(port "$T/cli2.sock" u2)
L=$LAB_SRV:$LAB_PORT
is "$(lab_q "$T/srv.sock" "' '.join('%s %s %s %s' % (n, t[n]['client'], t[n]['local'], \
t[n].get('peer')) for n in ('t1', 'u1', 'u2'))")" \
	"t1 edge1 $L 10.99.1.2:$aport u1 edge2 $L 10.99.2.2:$u1port u2 edge2 $L 10.99.2.2:$u2port" \
	"one listener ($L): t1 on A's connection, u1 and u2 on B's (10.99.2.2)"

ns_exec cli2 ip route add 10.200.0.0/24 dev mpqb1 &&
	ns_exec cli2 ip -6 route add fd00:200::/120 dev mpqb1
ok $? "client B routes the server's inner prefixes into u1"
u1rx0=$(lab_q "$T/srv.sock" "t['u1']['rx_packets']")
u2rx0=$(lab_q "$T/srv.sock" "t['u2']['rx_packets']")
ns_exec cli2 ping -n -q -c 3 -i 0.2 -W 1 -I mpqb1 10.200.0.1 >/dev/null &&
	ns_exec cli2 ping -n -q -c 3 -i 0.2 -W 1 -I mpqb1 fd00:200::1 >/dev/null
ok $? "client B: ping to the server's inner address (IPv4, IPv6) through u1"
ns_exec cli2 ping -n -q -c 3 -i 0.2 -W 1 -I mpqb2 10.200.0.1 >/dev/null
ok $? "client B: ping to the server's inner address through u2 (10.200.2.2)"
is "$(delta "$(lab_q "$T/srv.sock" "t['u1']['rx_packets']")" "$u1rx0") $(delta \
	"$(lab_q "$T/srv.sock" "t['u2']['rx_packets']")" "$u2rx0")" "6 3" \
	"the server received exactly B's 6 echo requests on u1 and 3 on u2"
probe_advances
ok $? "client A's probe keeps passing while B's tunnels are up"
is "$(lab_q "$T/srv.sock" "[x['connections'] for x in s['clients'] if x['identity'] == 'edge1']")" \
	"[1]" "the server counts 1 connection for edge1"

# ---- 2. B's daemon asks for t1, again and again ----
wait_until 10 count_ge 3 refusals
ok $? "the server refused t1 to edge2 from 10.99.2.2 at least 3 times ($(refusals) so far)"
grep -q "tunnel 't1': server refused the tunnel (HTTP status 403)" "$T/client2.log"
ok $? "client B logs the 403 for t1"
wait_until 5 lab_q_ge "$T/cli2.sock" "t['t1']['reconnects']" 2
ok $? "client B keeps retrying t1 ($(lab_q "$T/cli2.sock" "t['t1']['reconnects']") reconnects)"
is "$(lab_q "$T/cli2.sock" "t['t1']['state'] != 'up' and t['t1']['last_error']")" \
	"server refused the tunnel (HTTP status 403): the server does not let identity 'edge2' open tunnel 't1' (see the server's clients[].tunnels)" \
	"client B's t1 is not up; its last error is the 403"
is "$(lab_q "$T/srv.sock" \
	"'%s %s %d' % (t['t1']['client'], t['t1']['peer'], t['t1']['sessions'])")" \
	"edge1 10.99.1.2:$aport 1" "t1 still belongs to A's connection, 1 session in all"
probe_advances
ok $? "client A's probe keeps passing after B's refused attempts"

# ---- 3. spoofed inner sources from B, written into u1's TUN ----
sniff=$(ns_bg srv "$T/sniff-srv.log" python3 "$RAWPKT" sniff mpqs0 "$T/srv.sniff" 120)
wait_until 5 test -s "$T/srv.sniff"
ok $? "sniffer on the server's TUN mpqs0 is ready"
# TAG SOURCE DESTINATION; the tag marks the payload for the sniffer.
spoofed=("S4a 10.200.1.1 10.200.0.1" "S4alan 192.168.10.5 10.200.0.1"
	"S4out 198.51.100.7 10.200.0.1" "S4srv 10.200.0.1 10.200.1.1" "S4u2 10.200.2.2 10.200.0.1"
	"S6a fd00:200::1:1 fd00:200::1" "S6out 2001:db8::7 fd00:200::1"
	"S6srv fd00:200::1 fd00:200::1:1")
legit=("L4u1 10.200.2.1 10.200.0.1" "L6u1 fd00:200::2:1 fd00:200::1")
n_spoofed=$((${#spoofed[@]} * N))
n_all=$(((${#spoofed[@]} + ${#legit[@]}) * N))

q_u1="'%d %d' % (t['u1']['drops']['spoofed'], t['u2']['drops']['spoofed'])"
read -r sp0 spu20 <<<"$(lab_q "$T/srv.sock" "$q_u1")"
btx0=$(lab_q "$T/cli2.sock" "t['u1']['tx_packets']")
sent=0
for e in "${spoofed[@]}" "${legit[@]}"; do
	read -r tag src dst <<<"$e"
	ns_exec cli2 python3 "$RAWPKT" send mpqb1 "$src" "$dst" $N "$tag" && sent=$((sent + N))
done
is "$sent" "$n_all" "client B wrote $n_all crafted packets into u1's TUN mpqb1"
wait_until 10 lab_q_ge "$T/cli2.sock" "t['u1']['tx_packets']" $((btx0 + n_all))
ok $? "client B's daemon sent them all into u1 ($(delta \
	"$(lab_q "$T/cli2.sock" "t['u1']['tx_packets']")" "$btx0") >= $n_all)"
wait_until 10 all_sniffed L4u1 L6u1
wait_until 5 lab_q_ge "$T/srv.sock" "t['u1']['drops']['spoofed']" $((sp0 + n_spoofed))
read -r sp1 spu21 <<<"$(lab_q "$T/srv.sock" "$q_u1")"
is "$(delta "$sp1" "$sp0")" $n_spoofed \
	"the server counted exactly the $n_spoofed spoofed packets in u1's drops.spoofed"
is "$(delta "$spu21" "$spu20")" 0 "and none in u2's"
for e in "${spoofed[@]}"; do
	read -r tag src dst <<<"$e"
	is "$(sniffed "$tag")" 0 "nothing from $src (to $dst) reached mpqs0"
done
for e in "${legit[@]}"; do
	read -r tag src _ <<<"$e"
	is "$(sniffed "$tag")" $N "all $N packets from u1's own $src reached mpqs0"
done
probe_advances
ok $? "client A's probe keeps passing after B's spoofed packets"

# ---- A's view of it all: only the probe's pings, on the same connection ----
touch "$T/probe.stop"
# shellcheck disable=SC2016 # expanded by eval
wait_until 5 eval '! ns_alive "$probe"'
k=$(probes)
is "$(probe_failures)" 0 "client A's probe: $k pings from before B started to now, none lost"
is "$(a_counters)" "$(awk -v k="$k" '{ $2 += k; $3 += k; $7 += k; $8 += k; print }' <<<"$a0")" \
	"A's t1 figures moved by exactly the $k probe pings (client: tx, rx, drops," \
	"reconnects; server: tx, rx, drops, sessions, peer)"
ns_alive "$spid" && ns_alive "$apid" && ns_alive "$bpid"
ok $? "server, client A and client B still running"

# ---- 4. clean up: every process gone, nothing left in the namespaces ----
lab_stop_clean "$bpid" "$T/client2.log"
ok $? "client B stops on SIGTERM with no sanitizer report in its log"
is "$(links cli2)" "lo veth0" "client B's TUNs mpqb1, mpqb2, mpqb9 are gone with it"
lab_stop_clean "$apid" "$T/client.log" && lab_stop_clean "$spid" "$T/server.log"
ok $? "client A and the server stop on SIGTERM with no sanitizer report in their logs"
ns_stop "$sniff"
left=
for p in $spid $apid $bpid $probe $sniff; do
	ns_alive "$p" && left="$left $p"
done
is "$left" "" "no process the test started is left"
is "$(for n in srv cli cli2; do ip netns pids "$(ns_name "$n")"; done)" "" \
	"no process is left in srv, cli or cli2"

done_testing
