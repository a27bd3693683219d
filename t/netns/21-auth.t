#!/usr/bin/env bash
# Authentication and authorization: certificates from another CA, no certificate, a wrong
# server name, and a valid client asking for a tunnel that is not its own all get no tunnel,
# with clear log lines on both sides, while the legitimate client's tunnel keeps working.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init
lab_need_probe

probe()
{
	local cert=$1
	shift
	local tls=(--ca "$T/certs/ca.crt")
	[ "$cert" != none ] && tls+=(--cert "$T/certs/$cert.crt" --key "$T/certs/$cert.key")
	ns_exec cli "$PROBE" --server "$LAB_SRV:$LAB_PORT" --timeout 5 "${tls[@]}" "$@" 2>&1
}

plan 23

lab_server_conf "$T/server.json"
lab_client_conf "$T/client.json"
lab_start srv "$T/server.json" "$T/server.log" >/dev/null
cpid=$(lab_start cli "$T/client.json" "$T/client.log")
lab_wait_up "$T/cli.sock" t1
ok $? "legitimate tunnel t1 is up"
lab_routes mpqc1

out=$(probe edge2 --name vps.mpquic.test health)
like "$out" '"status":"ok"' "HTTP/3 GET health answered with JSON for a valid certificate"

out=$(probe intruder --name vps.mpquic.test open t1)
like "$out" "accepted 0 refused 0 failed 1" "certificate from another CA: no session"
wait_until 3 grep -q "TLS handshake failed" "$T/server.log"
ok $? "server logs the failed handshake"

out=$(probe none --name vps.mpquic.test open t1)
like "$out" "accepted 0 refused 0 failed 1" "no client certificate: no session"

out=$(probe edge1 --name wrong.mpquic.test open t1)
like "$out" "accepted 0 refused 0 failed 1.*" "wrong server name: the client refuses the server"
like "$out" "TLS handshake failed" "the probe says why"

out=$(probe edge2 --name vps.mpquic.test open t1)
like "$out" "refused with status 403" "edge2 may not open edge1's tunnel t1 (403)"
wait_until 3 grep -q "client 'edge2'.*may not open tunnel 't1'" "$T/server.log"
ok $? "server logs the refused tunnel with the identity"
out=$(probe edge2 --name vps.mpquic.test open nosuch)
like "$out" "refused with status 403" "unknown tunnel names get the same 403"
out=$(probe edge2 --name vps.mpquic.test open u1)
like "$out" "accepted 1 refused 0 failed 0" "edge2 may open its own tunnel u1"

# The daemon as a client, with the wrong identity and with another CA's certificate.
lab_client_conf "$T/edge2.json" '
c["control_socket"] = c["control_socket"] + "2"
c["tls"]["cert"] = c["tls"]["cert"].replace("edge1", "edge2")
c["tls"]["key"] = c["tls"]["key"].replace("edge1", "edge2")
c["tunnels"] = [{"name": "t1", "tun": "mpqx1"}]'
lab_start cli "$T/edge2.json" "$T/edge2.log" >/dev/null
wait_until 5 grep -q "server refused the tunnel (HTTP status 403)" "$T/edge2.log"
ok $? "mpquicd client logs the 403 for a tunnel it may not open"
grep -q "the server does not let identity 'edge2' open tunnel 't1' (see the server's clients\[\].tunnels)" \
	"$T/edge2.log"
ok $? "the 403 names the identity, the tunnel and where to look" ||
	diag "$(grep 403 "$T/edge2.log" | head -2)"
lab_client_conf "$T/intruder.json" '
c["control_socket"] = c["control_socket"] + "3"
c["tls"]["cert"] = c["tls"]["cert"].replace("edge1", "intruder")
c["tls"]["key"] = c["tls"]["key"].replace("edge1", "intruder")
c["tunnels"] = [{"name": "t1", "tun": "mpqx2"}]'
lab_start cli "$T/intruder.json" "$T/intruder.log" >/dev/null
wait_until 5 grep -q "connection failed: server closed the connection: TLS alert 48 (unknown CA)" "$T/intruder.log"
ok $? "mpquicd client with another CA's certificate logs the failure"
lab_client_conf "$T/badname.json" '
c["control_socket"] = c["control_socket"] + "4"
c["server"]["name"] = "wrong.mpquic.test"
c["tunnels"] = [{"name": "t1", "tun": "mpqx3"}]'
lab_start cli "$T/badname.json" "$T/badname.log" >/dev/null
wait_until 5 grep -q "TLS handshake failed" "$T/badname.log"
ok $? "mpquicd client with a wrong server name logs the TLS failure"
grep -q "the server's certificate is for 'vps.mpquic.test'.*not for server.name 'wrong.mpquic.test'" \
	"$T/badname.log"
ok $? "it names the certificate's names and the expected one" ||
	diag "$(grep "TLS handshake" "$T/badname.log" | head -2)"
wait_until 5 grep -q "the client refused our certificate during the handshake (TLS alert 42.*server.name" \
	"$T/server.log"
ok $? "the server says the client refused its certificate and what to check" ||
	diag "$(grep -i "closed by peer\|refused our" "$T/server.log" | head -3)"

sleep 1
ns_ping cli 10.200.0.1
ok $? "legitimate tunnel still carries traffic"
ns_ping srv 10.200.1.1
ok $? "return traffic still reaches the legitimate client"
is "$(lab_q "$T/cli.sock" "t['t1']['reconnects']")" 0 "the legitimate tunnel never reconnected"
is "$(lab_q "$T/srv.sock" "t['t1']['peer'].rsplit(':', 1)[1]")" \
	"$(lab_q "$T/cli.sock" "t['t1']['local'].rsplit(':', 1)[1]")" \
	"the server still routes t1 to the legitimate connection (same UDP port)"
ns_alive "$cpid"
ok $? "legitimate client daemon still running"

lab_finish
done_testing
