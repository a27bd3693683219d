#!/usr/bin/env bash
# HTTP/3 and CONNECT-IP conformance (RFC 9297, RFC 9484) against a peer that is not mpquicd:
# t/peer/h3peer, built on our connection code with quirks, acting as a misbehaving client
# against our server, and as a misbehaving server against our client.
#
# Server side: a client without SETTINGS_H3_DATAGRAM is refused (400); "%2A" in the path is
# "*", broken percent-encoding is 400; ADDRESS_REQUEST gets an ADDRESS_ASSIGN with its Request
# IDs (assigned or all-zero); an empty ADDRESS_REQUEST and a malformed ADDRESS_ASSIGN abort the
# stream with H3_DATAGRAM_ERROR; a DATAGRAM capsule carries a packet like a DATAGRAM frame
# (same source check, bounded size); an invalid Quarter Stream ID closes the connection with
# H3_DATAGRAM_ERROR. Client side: a server without HTTP Datagrams, one that never answers the
# CONNECT-IP request and one that never assigns an address are each an error with a reason in
# the status and the log, followed by reconnects; so is a malformed ADDRESS_ASSIGN from the
# server, which aborts the stream.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init
PEER=${MPQUIC_H3PEER:-$MPQ_BUILD/t/peer/h3peer}
[ -x "$PEER" ] || skip_all "h3peer not built"

# peer ARGS...: h3peer as a client of our server (identity edge1, tunnel t1 unless --path)
peer()
{
	ns_exec cli "$PEER" client --server "$LAB_SRV:$LAB_PORT" --name vps.mpquic.test \
		--ca "$T/certs/ca.crt" --cert "$T/certs/edge1.crt" --key "$T/certs/edge1.key" \
		"$@" 2>&1 | tee -a "$T/peer-client.log"
}

unlike()
{
	local got=$1 re=$2
	shift 2
	! [[ $got =~ $re ]]
	ok $? "$*" && return 0
	diag "       got: '$got'"
	diag "  expected not to match: /$re/"
	return 1
}

# srv_t1 EXPR: a value of the server's tunnel t1 (totals over its connections)
srv_t1()
{
	lab_q "$T/srv.sock" "t['t1']$1"
}

plan 40

# debug: the server says when a request waits for the client's SETTINGS
lab_server_conf "$T/server.json" 'c["log_level"] = "debug"'
lab_start srv "$T/server.json" "$T/server.log" >/dev/null
wait_until 5 ns_listening srv udp "$LAB_PORT"
ok $? "server listens"

# --- our server against a foreign client ---

out=$(peer)
like "$out" "response 200" "a conforming request opens the session"
like "$out" "assign 0 10.200.1.1/32" "and gets the unsolicited ADDRESS_ASSIGN"

out=$(peer --no-h3-datagram)
like "$out" "response 400" "a client without SETTINGS_H3_DATAGRAM = 1 is refused with 400"
unlike "$out" "assign " "and gets no session (no capsules)"
grep -q "without SETTINGS_H3_DATAGRAM = 1, refusing (400)" "$T/server.log"
ok $? "the server logs why"

out=$(peer --late-settings)
like "$out" "SETTINGS sent after the request.*response 200" \
	"a request that overtakes the client's SETTINGS is answered once they arrive"
grep -q "CONNECT-IP request before the client's SETTINGS, waiting for them" "$T/server.log"
ok $? "the server did see the request first and waited (not a 400)"

out=$(peer --path '/.well-known/masque/ip/%2A/%2a/?tunnel=t1')
like "$out" "response 200" "percent-encoded '*' (%2A, %2a) is accepted like '*'"
out=$(peer --path '/.well-known/masque/ip/%2G/*/?tunnel=t1')
like "$out" "response 400" "broken percent-encoding is refused with 400"
out=$(peer --path '/.well-known/masque/ip/*/*/?tunnel=t%')
like "$out" "response 400" "a '%' without two hex digits in the tunnel name: 400"

# ADDRESS_REQUEST (type 2, 47 bytes): 7 = any IPv4, 9 = 203.0.113.5/32 (not this tunnel's),
# 10 = any IPv6, 11 = 10.200.1.1/32 (its address), 12 = 192.168.10.5/32 (inside its routes)
req=02
req+=2f
req+=07040000000020
req+=0904cb00710520
req+=0a060000000000000000000000000000000080
req+=0b040ac8010120
req+=0c04c0a80a0520
out=$(peer "capsule:$req")
like "$out" "assign 7 10.200.1.1/32" "ADDRESS_REQUEST for any IPv4 address: the tunnel's, same ID"
like "$out" "assign 9 0.0.0.0/32" "an address the tunnel may not use: the all-zero 'cannot assign'"
like "$out" "assign 10 fd00:200::1:1/128" "any IPv6 address: the tunnel's IPv6 address"
like "$out" "assign 11 10.200.1.1/32" "its own address, asked for by value, is assigned"
like "$out" "assign 12 192.168.10.5/32" "an address inside its routes is assigned"
like "$out" "assign 0 10.200.1.1/32" "the answer still carries the full list (Request ID 0)"
unlike "$out" "session ended" "the session stays open"

out=$(peer capsule:0200)
like "$out" "session ended: stream reset by the peer with error 0x33" \
	"an empty ADDRESS_REQUEST aborts the stream (H3_DATAGRAM_ERROR)"
out=$(peer capsule:010701070a00000120)
like "$out" "session ended: stream reset by the peer with error 0x33" \
	"an ADDRESS_ASSIGN with IP version 7 aborts the stream (H3_DATAGRAM_ERROR)"
grep -q "malformed capsule from the peer" "$T/server.log"
ok $? "the server logs the malformed capsule"

out=$(peer ping-capsule:10.200.1.1,10.200.0.1,64)
like "$out" "received 1 packets" \
	"an ICMP echo in a DATAGRAM capsule reaches the server's TUN (its reply came back)"
sp0=$(srv_t1 "['drops']['spoofed']")
tb0=$(srv_t1 "['drops']['too_big']")
out=$(peer ping-capsule:10.9.9.9,10.200.0.1,64 ping-capsule:10.200.1.1,10.200.0.1,3000)
like "$out" "received 0 packets" "a spoofed and an oversized packet in DATAGRAM capsules go nowhere"
wait_until 3 lab_q_ge "$T/srv.sock" "t['t1']['drops']['spoofed']" $((sp0 + 1))
ok $? "the spoofed source is dropped and counted like a DATAGRAM frame's (spoofed)"
wait_until 3 lab_q_ge "$T/srv.sock" "t['t1']['drops']['too_big']" $((tb0 + 1))
ok $? "the packet larger than the TUN MTU is dropped and counted (too_big)"

out=$(peer datagram:d00000000000000000aa)
like "$out" "closed: closed by peer \(application error 0x33" \
	"a Quarter Stream ID of 2^60 closes the connection with H3_DATAGRAM_ERROR"
out=$(peer datagram:40)
like "$out" "closed: closed by peer \(application error 0x33" \
	"a Quarter Stream ID too short to parse closes the connection with H3_DATAGRAM_ERROR"

# --- our client against foreign servers ---

n=0
peers=()
for mode in no-h3-datagram no-answer no-assign bad-assign request-address; do
	n=$((n + 1))
	peers+=("$(ns_bg srv "$T/peer-$mode.log" "$PEER" server --listen "$LAB_SRV:$((4500 + n))" \
		--ca "$T/certs/ca.crt" --cert "$T/certs/server.crt" --key "$T/certs/server.key" \
		--mode "$mode" --wait 120)")
	lab_client_conf "$T/client-$mode.json" "
c['control_socket'] = '$T/cli-$mode.sock'
c['server']['port'] = $((4500 + n))
c['tunnels'] = [{'name': 't1', 'tun': 'mpqa$n'}]"
done
wait_until 5 ns_listening srv udp 4505
for mode in no-h3-datagram no-answer no-assign bad-assign request-address; do
	lab_start cli "$T/client-$mode.json" "$T/client-$mode.log" >/dev/null
done

err()
{
	lab_q "$T/cli-$1.sock" "t['t1']['last_error']"
}
err_like()
{
	err "$1" | grep -q "$2"
}

wait_until 5 err_like no-h3-datagram "does not offer HTTP Datagrams"
ok $? "a server without SETTINGS_H3_DATAGRAM: last_error says so" ||
	diag "last_error: $(err no-h3-datagram)"
wait_until 5 lab_q_ge "$T/cli-no-h3-datagram.sock" "t['t1']['reconnects']" 2
ok $? "and the client backs off and reconnects"
grep -q "connection failed: the server does not offer HTTP Datagrams" "$T/client-no-h3-datagram.log"
ok $? "the client logs the reason"
wait_until 25 err_like no-answer "timed out after 10 s waiting for the answer to the CONNECT-IP"
ok $? "a server that never answers the CONNECT-IP request: a setup timeout with the stage" ||
	diag "last_error: $(err no-answer)"
wait_until 25 err_like no-assign "timed out after 10 s waiting for ADDRESS_ASSIGN"
ok $? "a server that never sends ADDRESS_ASSIGN: a setup timeout with the stage" ||
	diag "last_error: $(err no-assign)"
wait_until 5 lab_q_ge "$T/cli-no-assign.sock" "t['t1']['reconnects']" 1
ok $? "after the timeout the client reconnects"
grep -q "tunnel setup timed out after 10 s waiting for the answer" "$T/client-no-answer.log"
ok $? "the client logs the timeout with its stage"
wait_until 5 err_like bad-assign "session ended: malformed capsule"
ok $? "a malformed ADDRESS_ASSIGN from the server ends the session with a reason" ||
	diag "last_error: $(err bad-assign)"
wait_until 5 lab_q_ge "$T/cli-bad-assign.sock" "t['t1']['reconnects']" 2
ok $? "and the client reconnects instead of running a tunnel without addresses"
is "$(lab_q "$T/cli-bad-assign.sock" "t['t1']['inner_addresses']")" "[]" \
	"nothing of the malformed capsule was applied"
lab_wait_up "$T/cli-request-address.sock" t1 10
ok $? "a server that also sends an ADDRESS_REQUEST: the tunnel comes up"
wait_until 5 grep -q "assign 5 0.0.0.0/32" "$T/peer-request-address.log"
ok $? "and the client answers it with the same Request ID, 'cannot assign'"

# The peers' own sanitizer reports count too: lab_finish looks at the logs listed here.
NETNS_KILL_WAIT=5 ns_stop "${peers[@]}"
ls "$T"/peer-*.log >>"$T/.lab-logs"
lab_finish
done_testing
