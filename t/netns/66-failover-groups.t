#!/usr/bin/env bash
# Issue 11, server groups: the tunnels of a group share its inner address, and anti-spoofing
# stays as strict as before (packets written straight into the client's TUNs with
# t/lib/rawpkt.py, so nothing on the client filters them):
#  - the critical group's address is accepted on every critical tunnel (cr1, cr2, cr3) and
#    refused (counted as drops.spoofed of that tunnel, never forwarded) on a bulk tunnel; the
#    bulk group's own address on a bulk tunnel passes
#  - return traffic follows the client within one packet: after ONE packet from the group
#    address through cr3 (then cr2), every packet the server sends to that address goes
#    through cr3 (then cr2), none through the others
set -u
# shellcheck source=t/lib/folab.sh
. "$(dirname "$0")/../lib/folab.sh"

RAWPKT=$MPQ_TOP/t/lib/rawpkt.py
N=20

plan 12

folab_init
folab_confs
# The kernel's Router Solicitation from a new TUN's link-local address would count as spoofed.
ns_exec cli sysctl -qw net.ipv6.conf.default.router_solicitations=0
folab_start
is "$FOLAB_GROUPS" 1 "the server takes clients[].groups"

ns_bg srv "$T/sniff-srv.log" python3 "$RAWPKT" sniff mpqs0 "$T/srv.sniff" 120 >/dev/null
wait_until 5 test -s "$T/srv.sniff"
ok $? "sniffer on the server's TUN ready"
sniffed() { python3 "$RAWPKT" count "$T/srv.sniff" "$1"; }
cliq() { folab_tun "$1" "$2"; }
spoofed() { folab_tun "$1" drops.spoofed "$SRV_SOCK"; }
spoofed_cr()
{
	folab_q "$SRV_SOCK" '[.tunnels[] | select(.name | test("^cr")) | .drops.spoofed] | add'
}

# send TUNNEL TAG SRC COUNT: COUNT packets from SRC to the server into the client's TUN
send() { ns_exec cli python3 "$RAWPKT" send "mpq-$1" "$3" 10.200.0.1 "$4" "$2"; }

sp_bk=$(spoofed bk2)
sp_cr=$(spoofed_cr)
send bk2 Xcrit 10.200.1.10 $N
send bk2 Xdef 10.200.1.30 $N
send bk2 Lbulk 10.200.1.20 $N
for n in 1 2 3; do
	send cr$n Lcr$n 10.200.1.10 $N
done
wait_until 10 eval '[ "$(sniffed Lcr3)" -ge $N ] && [ "$(sniffed Lbulk)" -ge $N ]'
wait_until 5 eval '[ "$(fo_delta "$(spoofed bk2)" "$sp_bk")" = $((2 * N)) ]'
is "$(fo_delta "$(spoofed bk2)" "$sp_bk")" $((2 * N)) \
	"bk2: the server counted exactly the other groups' addresses as spoofed"
is "$(sniffed Xcrit) $(sniffed Xdef)" "0 0" "none of them reached the server's TUN"
is "$(sniffed Lbulk)" $N "the bulk group's address on bk2 passes"
is "$(sniffed Lcr1) $(sniffed Lcr2) $(sniffed Lcr3)" "$N $N $N" \
	"the critical group's address passes on each of cr1, cr2, cr3"
is "$(fo_delta "$(spoofed_cr)" "$sp_cr")" \
	0 "no spoofed drop on the critical tunnels"

# return_via TUNNEL: one packet from the group address through TUNNEL, then N packets from
# the server to that address: all must arrive through TUNNEL
return_via()
{
	local want=$1 n rx0 rx1 d got=""
	local -A before
	for n in cr1 cr2 cr3; do before[$n]=$(cliq $n rx_packets); done
	send "$want" "One$want" 10.200.1.10 1
	wait_until 5 eval '[ "$(sniffed One'"$want"')" -ge 1 ]'
	ns_exec srv python3 "$RAWPKT" send mpqs0 10.200.0.9 10.200.1.10 $N "Back$want"
	wait_until 5 eval '[ $(fo_delta "$(cliq '"$want"' rx_packets)" "${before['"$want"']}") -ge $N ]'
	for n in cr1 cr2 cr3; do
		got+="$n:$(fo_delta "$(cliq $n rx_packets)" "${before[$n]}") "
	done
	rx0=$(fo_delta "$(cliq "$want" rx_packets)" "${before[$want]}")
	rx1=0
	for n in cr1 cr2 cr3; do
		[ $n = "$want" ] && continue
		d=$(fo_delta "$(cliq $n rx_packets)" "${before[$n]}")
		[[ $d =~ ^-?[0-9]+$ ]] || d=99999
		rx1=$((rx1 + d))
	done
	diag "after one packet through $want, downstream packets per tunnel: $got"
	cmp_ok "$rx0" -ge $N "all $N downstream packets came through $want"
	is "$rx1" 0 "none through the other critical tunnels"
}
return_via cr3
return_via cr2

lab_finish
done_testing
