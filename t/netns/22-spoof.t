#!/usr/bin/env bash
# Anti-spoofing of inner packets, both directions. The server drops (and counts) what an
# authorized client sends from a source outside its tunnel's addresses and routes: unrelated
# addresses, another client's tunnel address, its own other tunnel's address, the server's own
# address. A source inside the tunnel's routes (192.168.10.0/24, a LAN address of the client)
# is accepted. The client drops (and counts) what comes from outside the ranges the
# server advertised (narrowed here to 10.200.0.0/24 and fd00:200::/120).
#
# The packets are written straight into the TUN devices (t/lib/rawpkt.py, AF_PACKET), so the
# kernel's own source checks never see them; the daemons' tx counters prove they were sent into
# the tunnel, and a sniffer on the far TUN proves what came out.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init
RAWPKT=$MPQ_TOP/t/lib/rawpkt.py
N=100

# delta NOW BEFORE: print NOW - BEFORE (empty values count as 0)
delta()
{
	echo $((${1:-0} - ${2:-0}))
}

# ge A B DESC: a test point passing when integer A >= B
ge()
{
	[ "${1:-0}" -ge "$2" ]
	ok $? "$3 ($1 >= $2)"
}

sniffed()
{
	python3 "$RAWPKT" count "$1" "$2"
}

# all_sniffed FILE WANT TAG...: every TAG was seen WANT times
all_sniffed()
{
	local f=$1 want=$2 tag
	shift 2
	for tag in "$@"; do
		[ "$(sniffed "$f" "$tag")" -ge "$want" ] || return 1
	done
}

plan 23

lab_server_conf "$T/server.json" '
c["advertise"] = ["10.200.0.0/24", "fd00:200::/120"]'
lab_client_conf "$T/client.json"
# The kernel sends a Router Solicitation from the client TUN's link-local address (fe80::/64)
# a second or so after it comes up; the server rightly counts it as spoofed, which would make
# the exact count below racy. TUNs made from now on in cli send none.
ns_exec cli sysctl -qw net.ipv6.conf.default.router_solicitations=0
spid=$(lab_start srv "$T/server.json" "$T/server.log")
cpid=$(lab_start cli "$T/client.json" "$T/client.log")
lab_wait_up "$T/cli.sock" t1
ok $? "tunnel t1 comes up"
lab_routes mpqc1
# A LAN address of the client inside t1's routes (on lo: no dummy module needed), and the
# server's way back to it.
ns_exec cli ip addr add 192.168.10.1/32 dev lo &&
	ns_exec srv ip route add 192.168.10.0/24 dev mpqs0
ok $? "LAN address 192.168.10.1 on the client, 192.168.10.0/24 routed by the server to mpqs0"

ns_bg srv "$T/sniff-srv.log" python3 "$RAWPKT" sniff mpqs0 "$T/srv.sniff" 120 >/dev/null
ns_bg cli "$T/sniff-cli.log" python3 "$RAWPKT" sniff mpqc1 "$T/cli.sniff" 120 >/dev/null
wait_until 5 test -s "$T/srv.sniff" && wait_until 5 test -s "$T/cli.sniff"
ok $? "sniffers on mpqs0 and mpqc1 are ready"

# ---- client -> server: the server checks the inner source ----
# Each entry: TAG SOURCE DESTINATION; the tag marks the payload for the sniffer.
spoofed=("S4out 198.51.100.7 10.200.0.1" "S4edge2 10.200.2.1 10.200.0.1"
	"S4t2 10.200.1.2 10.200.0.1" "S4nextlan 192.168.11.1 10.200.0.1"
	"S6out 2001:db8::7 fd00:200::1" "S6t2 fd00:200::1:2 fd00:200::1"
	"S6server fd00:200::1 fd00:200::1")
legit=("L4addr 10.200.1.1 10.200.0.1" "L4lan 192.168.10.55 10.200.0.1"
	"L6addr fd00:200::1:1 fd00:200::1")

# send NS IFACE ENTRY...: N packets for each entry
send()
{
	local ns=$1 ifc=$2 e tag src dst
	shift 2
	for e in "$@"; do
		read -r tag src dst <<<"$e"
		ns_exec "$ns" python3 "$RAWPKT" send "$ifc" "$src" "$dst" $N "$tag"
	done
}

# sniffed_sum FILE ENTRY...: packets of all these entries' tags seen in FILE
sniffed_sum()
{
	local f=$1 e tag n=0
	shift
	for e in "$@"; do
		tag=${e%% *}
		n=$((n + $(sniffed "$f" "$tag")))
	done
	echo $n
}

tx0=$(lab_q "$T/cli.sock" "t['t1']['tx_packets']")
sp0=$(lab_q "$T/srv.sock" "t['t1']['drops']['spoofed']")
send cli mpqc1 "${spoofed[@]}" "${legit[@]}"
n_spoofed=$((${#spoofed[@]} * N))
n_all=$(((${#spoofed[@]} + ${#legit[@]}) * N))

wait_until 10 lab_q_ge "$T/cli.sock" "t['t1']['tx_packets']" $((tx0 + n_all))
ge "$(delta "$(lab_q "$T/cli.sock" "t['t1']['tx_packets']")" "$tx0")" $n_all \
	"the client daemon sent every crafted packet into the tunnel"
wait_until 10 all_sniffed "$T/srv.sniff" $N L4addr L4lan L6addr
wait_until 5 lab_q_ge "$T/srv.sock" "t['t1']['drops']['spoofed']" $((sp0 + n_spoofed))
is "$(delta "$(lab_q "$T/srv.sock" "t['t1']['drops']['spoofed']")" "$sp0")" $n_spoofed \
	"the server counted exactly the spoofed packets in t1's drops.spoofed"
for e in "${spoofed[@]}"; do
	read -r tag src _ <<<"$e"
	is "$(sniffed "$T/srv.sniff" "$tag")" 0 "nothing from $src reached mpqs0"
done
for e in "${legit[@]}"; do
	read -r tag src _ <<<"$e"
	is "$(sniffed "$T/srv.sniff" "$tag")" $N "all $N packets from $src reached mpqs0"
done
ns_exec cli ping -n -q -c 3 -i 0.2 -W 1 -I 192.168.10.1 10.200.0.1 >/dev/null
ok $? "ping from the LAN address 192.168.10.1 (t1's routes) to the server works"

# ---- server -> client: the client checks the inner source against the advertised ranges ----
outside=("C4addr 10.200.5.5 10.200.1.1" "C4lan 198.51.100.9 192.168.10.1"
	"C6addr fd00:200::5:5 fd00:200::1:1")
inside=("K4addr 10.200.0.9 10.200.1.1" "K4lan 10.200.0.9 192.168.10.1"
	"K6addr fd00:200::9 fd00:200::1:1")
stx0=$(lab_q "$T/srv.sock" "t['t1']['tx_packets']")
csp0=$(lab_q "$T/cli.sock" "t['t1']['drops']['spoofed']")
send srv mpqs0 "${outside[@]}" "${inside[@]}"
wait_until 10 lab_q_ge "$T/srv.sock" "t['t1']['tx_packets']" $((stx0 + 6 * N))
ge "$(delta "$(lab_q "$T/srv.sock" "t['t1']['tx_packets']")" "$stx0")" $((6 * N)) \
	"the server daemon sent every crafted packet into the tunnel"
wait_until 10 all_sniffed "$T/cli.sniff" $N K4addr K4lan K6addr
wait_until 5 lab_q_ge "$T/cli.sock" "t['t1']['drops']['spoofed']" $((csp0 + 3 * N))
is "$(delta "$(lab_q "$T/cli.sock" "t['t1']['drops']['spoofed']")" "$csp0")" $((3 * N)) \
	"the client counted exactly the packets from outside the advertised ranges"
is "$(sniffed_sum "$T/cli.sniff" "${outside[@]}")" 0 "none of them reached mpqc1"
is "$(sniffed_sum "$T/cli.sniff" "${inside[@]}")" $((3 * N)) \
	"all packets from inside the advertised ranges reached mpqc1"

ns_ping srv 10.200.1.1 && ns_ping srv fd00:200::1:1
ok $? "ping server -> client still works (IPv4 and IPv6)"
ns_alive "$spid" && ns_alive "$cpid"
ok $? "both daemons still running"

lab_stop_clean "$spid" "$T/server.log" && lab_stop_clean "$cpid" "$T/client.log"
ok $? "both daemons stop on SIGTERM with no sanitizer report in their logs"

done_testing
