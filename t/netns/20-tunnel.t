#!/usr/bin/env bash
# One client and one server: the tunnel comes up with its assigned addresses, carries IPv4 and
# IPv6 both ways, carries a checksum-verified 50 MB TCP transfer, passes DF packets of the TUN
# MTU, and answers a too-large packet with ICMP "fragmentation needed" / "packet too big".
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init

plan 20

# t2's TUN gets a larger MTU than the tunnel's (below): the daemon must answer with ICMP.
lab_server_conf "$T/server.json"
lab_client_conf "$T/client.json" '
c["tunnels"].append({"name": "t2", "tun": "mpqc2"})'
spid=$(lab_start srv "$T/server.json" "$T/server.log")
cpid=$(lab_start cli "$T/client.json" "$T/client.log")

lab_wait_up "$T/cli.sock" t1
ok $? "tunnel t1 comes up"
lab_wait_up "$T/cli.sock" t2
ok $? "tunnel t2 comes up"
is "$(lab_q "$T/cli.sock" "','.join(t['t1']['inner_addresses'])")" \
	"10.200.1.1/32,fd00:200::1:1/128,192.168.10.0/24" "t1 got the assigned addresses and routes"
ns_exec cli ip -o addr show dev mpqc1 | grep -q 'inet 10.200.1.1/32'
ok $? "the TUN mpqc1 carries 10.200.1.1/32"
is "$(ns_exec cli cat /sys/class/net/mpqc1/mtu)" 1400 "default TUN MTU is 1400"

lab_routes mpqc1
ns_ping cli 10.200.0.1
ok $? "ping client -> server over IPv4"
ns_ping cli fd00:200::1
ok $? "ping client -> server over IPv6"
ns_ping srv 10.200.1.1
ok $? "ping server -> client over IPv4 (return traffic)"
ns_ping srv fd00:200::1:1
ok $? "ping server -> client over IPv6"

# 50 MB of random data over TCP, checked with SHA-256 on both ends.
head -c 50000000 /dev/urandom >"$T/blob"
want=$(sha256sum "$T/blob" | cut -d' ' -f1)
cat >"$T/sink.py" <<'PY'
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.200.0.1", 5001)); s.listen(1); s.settimeout(60)
c, _ = s.accept(); c.settimeout(60)
h = hashlib.sha256(); n = 0
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    h.update(b); n += len(b)
open(sys.argv[1], "w").write("%s %d\n" % (h.hexdigest(), n))
PY
cat >"$T/source.py" <<'PY'
import socket, sys
s = socket.create_connection(("10.200.0.1", 5001), timeout=60)
with open(sys.argv[1], "rb") as f:
    s.sendfile(f)
s.shutdown(socket.SHUT_WR); s.recv(1); s.close()
PY
sink=$(ns_bg srv "$T/sink.log" python3 "$T/sink.py" "$T/sink.out")
wait_until 5 ns_listening srv tcp 5001
t0=$EPOCHREALTIME
ns_exec cli timeout 120 python3 "$T/source.py" "$T/blob"
ok $? "50 MB sent through the tunnel"
wait_until 30 test -s "$T/sink.out"
t1=$EPOCHREALTIME
is "$(cat "$T/sink.out" 2>/dev/null)" "$want 50000000" "SHA-256 and length match on the server"
diag "50 MB in $(python3 -c "print(round($t1 - $t0, 2))") s"
ns_stop "$sink"

# DF: the largest packet the TUN takes passes; the kernel refuses one byte more itself.
ns_exec cli ping -n -q -c 2 -i 0.2 -W 1 -M 'do' -s 1372 10.200.0.1 >/dev/null
ok $? "1400-byte IPv4 packet with DF passes"
ns_exec cli ping -n -q -c 2 -i 0.2 -W 1 -M 'do' -s 1352 fd00:200::1 >/dev/null
ok $? "1400-byte IPv6 packet passes"

# Through t2 (TUN MTU raised to 1500 outside the daemon): mpquicd drops what exceeds the
# tunnel's MTU and says so in ICMP.
ns_exec cli ip link set mpqc2 mtu 1500
ns_exec cli ip route replace 10.200.0.1/32 dev mpqc2 src 10.200.1.2
ns_exec cli ip -6 route replace fd00:200::1/128 dev mpqc2 src fd00:200::1:2
out=$(ns_exec cli ping -n -c 2 -i 0.2 -W 1 -M 'do' -s 1472 10.200.0.1 2>&1)
like "$out" "mtu = 1400" "IPv4: ICMP fragmentation needed with the tunnel's MTU"
out=$(ns_exec cli ping -6 -n -c 2 -i 0.2 -W 1 -M 'do' -s 1452 fd00:200::1 2>&1)
like "$out" "[Pp]acket too big.*1400|mtu=1400" "IPv6: ICMPv6 packet too big"
drops=$(lab_q "$T/cli.sock" "t['t2']['drops']['too_big']")
ok "$([ "${drops:-0}" -ge 2 ] && echo 0 || echo 1)" "too-big drops counted on t2 ($drops)"
ns_exec cli ping -n -q -c 2 -i 0.2 -W 1 -M 'do' -s 1300 10.200.0.1 >/dev/null
ok $? "a smaller packet still passes through t2"

tx=$(lab_q "$T/cli.sock" "t['t1']['tx_packets']")
rtt=$(lab_q "$T/cli.sock" "t['t1']['rtt_ms']['smoothed']")
ok "$(python3 -c "print(0 if $tx > 30000 and 0 < $rtt < 100 else 1)")" \
	"status counts packets ($tx) and a plausible RTT ($rtt ms)"
ns_alive "$spid" && ns_alive "$cpid"
ok $? "both daemons still running"

lab_finish
done_testing
