#!/usr/bin/env bash
# The classifier end to end: a LAN host behind the client sends UDP with DSCP EF, TCP to port
# 443 and other traffic to a host behind the server; mpquic-nft's marks steer each into its
# class's tunnel (counted by the server per tunnel); a flow that changes its DSCP mid-way stays
# on its tunnel; an operator's own nftables table sees the packets too and survives.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init
netns_require_cmd nft
[ -x "$MPQUIC_NFT" ] || skip_all "mpquic-nft not built"

netns_at_exit()
{
	lab_dump_logs 20 "$T"/client.log "$T"/server.log "$T"/nft*.log
}

rx() { lab_q "$T/srv.sock" "t['$1']['rx_packets']"; }
# rx_ge TUNNEL N: the server has received at least N packets through TUNNEL
rx_ge() { lab_q_ge "$T/srv.sock" "t['$1']['rx_packets']" "$2"; }

plan 15

# LAN host behind the client, Internet host behind the server.
ns_new lan && ns_new inet || bail_out "namespaces"
veth_pair lan eth0 192.168.10.2/24 cli lan0 192.168.10.1/24 || bail_out "LAN link"
veth_pair srv inet0 198.51.100.1/24 inet eth0 198.51.100.10/24 || bail_out "Internet link"
ns_exec lan ip route add default via 192.168.10.1
ns_exec cli sysctl -qw net.ipv4.ip_forward=1
ns_exec srv sysctl -qw net.ipv4.ip_forward=1

lab_server_conf "$T/server.json"
lab_client_conf "$T/client.json" '
c["tunnels"] = [{"name": "t1", "tun": "mpqc1", "class": "critical"},
                {"name": "t2", "tun": "mpqc2", "class": "web"},
                {"name": "t3", "tun": "mpqc3", "class": "bulk"}]
c["classes"] = [
  {"name": "critical", "match": {"iif": ["lan0"], "proto": "udp", "dscp": ["ef"]}},
  {"name": "web", "match": {"iif": ["lan0"], "proto": "tcp", "dport": [443]}},
  {"name": "bulk", "default": True}]'
lab_start srv "$T/server.json" "$T/server.log" >/dev/null
lab_start cli "$T/client.json" "$T/client.log" >/dev/null
lab_wait_up "$T/cli.sock" t1 && lab_wait_up "$T/cli.sock" t2 && lab_wait_up "$T/cli.sock" t3
ok $? "the three class tunnels are up"

# An operator's own table, hooked before ours: it must keep seeing (and counting) everything.
ns_exec cli nft -f - <<'EOF'
table inet foreign {
	chain pre {
		type filter hook prerouting priority -300; policy accept;
		iifname "lan0" counter
	}
}
EOF
ns_exec srv "$MPQUIC_NFT" -c "$T/server.json" apply >"$T/nft-srv.log" 2>&1
ok $? "mpquic-nft --role server apply on the server"
ns_exec cli "$MPQUIC_NFT" -c "$T/client.json" apply >"$T/nft-cli.log" 2>&1
ok $? "mpquic-nft apply on the client"

cat >"$T/send.py" <<'PY'
import socket, sys, time
kind, n = sys.argv[1], int(sys.argv[2])
dst = "198.51.100.10"
if kind == "tcp443":
    s = socket.create_connection((dst, 443), timeout=5)
    s.sendall(b"w" * 200000); s.close()
    sys.exit(0)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if kind in ("ef", "ef-then-be"):
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0xb8)
for i in range(n):
    if kind == "ef-then-be" and i == n // 2:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x00)  # same flow, DSCP changes
    s.sendto(b"x" * 100, (dst, 5004 if kind != "other" else 9999))
    time.sleep(0.002)
PY
ns_bg inet "$T/sink.log" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.10", 443)); s.listen(4)
while True:
    c, _ = s.accept()
    while c.recv(65536): pass
    c.close()' >/dev/null
wait_until 5 ns_listening inet tcp 443

b1=$(rx t1) b2=$(rx t2) b3=$(rx t3)
ns_exec lan python3 "$T/send.py" ef 100
wait_until 5 rx_ge t1 $((b1 + 100))
ok $? "100 UDP datagrams with DSCP EF arrived through t1 (critical)"
is "$(($(rx t3) - b3 < 10))" 1 "and not through t3 (bulk)"

b2=$(rx t2) b3=$(rx t3)
ns_exec lan python3 "$T/send.py" tcp443 0
ok $? "a TCP transfer to port 443 completed"
wait_until 5 rx_ge t2 $((b2 + 100))
ok "$([ $(($(rx t2) - b2)) -ge 100 ] && echo 0 || echo 1)" \
	"it went through t2 (web): $(($(rx t2) - b2)) packets"
is "$(($(rx t3) - b3 < 10))" 1 "and not through t3 (bulk)"

b1=$(rx t1) b3=$(rx t3)
ns_exec lan python3 "$T/send.py" other 100
wait_until 5 rx_ge t3 $((b3 + 100))
ok "$([ $(($(rx t3) - b3)) -ge 100 ] && echo 0 || echo 1)" \
	"other UDP went through t3 (bulk): $(($(rx t3) - b3)) packets"
is "$(($(rx t1) - b1 < 10))" 1 "and not through t1"

b1=$(rx t1) b3=$(rx t3)
ns_exec lan python3 "$T/send.py" ef-then-be 100
wait_until 5 rx_ge t1 $((b1 + 100))
ok "$([ $(($(rx t1) - b1)) -ge 100 ] && echo 0 || echo 1)" \
	"a flow whose DSCP changes mid-way stays on t1: $(($(rx t1) - b1)) packets"
is "$(($(rx t3) - b3 < 10))" 1 "none of it moved to t3"

pk=$(ns_exec cli nft -j list table inet foreign | python3 -c '
import json, sys
for o in json.load(sys.stdin)["nftables"]:
    r = o.get("rule")
    if r:
        for e in r["expr"]:
            if "counter" in e:
                print(e["counter"]["packets"])')
# At least the 300 UDP datagrams (TCP segments may reach it coalesced by the veth's GRO).
ok "$([ "${pk:-0}" -ge 300 ] && echo 0 || echo 1)" "the foreign table counted the LAN packets too ($pk)"
ns_exec cli "$MPQUIC_NFT" -c "$T/client.json" delete >"$T/nft-del.log" 2>&1 &&
	ns_exec cli nft list table inet foreign >/dev/null 2>&1
ok $? "mpquic-nft delete leaves the foreign table in place"

lab_finish
done_testing
