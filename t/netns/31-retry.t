#!/usr/bin/env bash
# The server's stateless answers: Retry address validation ("always", and "auto" past
# limits.max_handshakes), forged and misaddressed Retry tokens (CONNECTION_CLOSE with
# INVALID_TOKEN), stateless resets for unknown connection IDs (size, 41-byte floor, token
# bucket) and Version Negotiation for an unknown version.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init
lab_need_probe
CRAFT=$MPQ_TOP/t/lib/quic-craft.py

probe()
{
	ns_exec cli "$PROBE" --server "$LAB_SRV:$LAB_PORT" --name vps.mpquic.test \
		--ca "$T/certs/ca.crt" --cert "$T/certs/edge2.crt" --key "$T/certs/edge2.key" "$@" 2>&1
}

craft()
{
	ns_exec cli python3 "$CRAFT" "$LAB_SRV" "$LAB_PORT" "$@" 2>&1
}

# listener COUNTER: a counter of the server's listener object.
listener()
{
	lab_q "$T/srv.sock" "s['listener']['$1']"
}

# edge2 gets 30 more tunnels p0..p29 for the probes; PY edits the config further.
server_conf()
{
	lab_server_conf "$T/server.json" "
c['clients'][1]['tunnels'] += [{'name': 'p%d' % i, 'address': ['10.202.0.%d/32' % (i + 1)]}
                               for i in range(30)]
$1"
}

plan 22

server_conf "c['retry'] = 'always'"
lab_client_conf "$T/client.json"
spid=$(lab_start srv "$T/server.json" "$T/server.log")
lab_start cli "$T/client.json" "$T/client.log" >/dev/null
lab_wait_up "$T/cli.sock" t1
ok $? "retry always: the daemon client's tunnel comes up through a Retry"
lab_routes mpqc1
ns_ping cli 10.200.0.1
ok $? "and carries traffic"
n=$(listener retries)
ok "$([ "${n:-0}" -ge 1 ] && echo 0 || echo 1)" "the listener counts the Retry ($n)"

out=$(probe --count 10 --timeout 10 open 'p%d')
like "$out" "accepted 10 refused 0 failed 0" "retry always: 10 concurrent probes are accepted"
n=$(listener retries)
ok "$([ "${n:-0}" -ge 11 ] && echo 0 || echo 1)" "each of them went through a Retry ($n in all)"

out=$(craft retry)
like "$out" "retry ok" "a crafted Initial without token gets a Retry with a valid integrity tag"
if ns_exec cli python3 -c 'import cryptography' 2>/dev/null; then
	like "$out" "other port: close 0xb" \
		"its token sent from another UDP port: CONNECTION_CLOSE with INVALID_TOKEN (0xb)"
else
	like "$out" "other port: close" "its token from another UDP port: CONNECTION_CLOSE"
fi
bad0=$(listener retry_token_invalid)
out=$(craft forged)
if ns_exec cli python3 -c 'import cryptography' 2>/dev/null; then
	like "$out" "close 0xb" "a forged Retry token: CONNECTION_CLOSE with INVALID_TOKEN (0xb)"
else
	like "$out" "close" "a forged Retry token: CONNECTION_CLOSE"
fi
is "$(listener retry_token_invalid)" "$((bad0 + 1))" "retry_token_invalid counts it"
is "$(listener handshaking)" 0 "no connection state for any of them"

# Stateless reset: a short header with a connection ID the server never issued.
r0=$(listener stateless_resets)
out=$(craft reset 60)
like "$out" "^reply (2[1-9]|3[0-9]|4[0-2]) 0x[4-7][0-9a-f]$" \
	"a 60-byte short header with an unknown DCID gets a short-header-shaped reset ($out)"
is "$(listener stateless_resets)" "$((r0 + 1))" "stateless_resets counts it"
out=$(craft reset 42)
like "$out" "^reply 41 " "a 42-byte trigger gets a 41-byte reset (always smaller than the trigger)"
u0=$(listener unknown_cid)
out=$(craft reset 41)
is "$out" none "a 41-byte trigger gets no reset (no reset loops)"
is "$(listener unknown_cid)" "$((u0 + 1))" "but it is counted as an unknown CID"
r0=$(listener stateless_resets)
out=$(craft burst 300)
n=${out#replies }
ok "$([ "$n" -ge 40 ] && [ "$n" -le 60 ] && echo 0 || echo 1)" \
	"300 unknown-CID packets at once: the token bucket lets about 50 resets out ($n)"
l=$(listener stateless_resets_limited)
ok "$([ "${l:-0}" -ge 200 ] && echo 0 || echo 1)" "and counts the ones it held back ($l)"

# Version Negotiation.
v0=$(listener version_negotiations)
out=$(craft vn)
like "$out" "^vn (.*,)?1(,.*)?$" \
	"an Initial of version 0x1a2a3a4a gets Version Negotiation listing version 1 ($out)"
is "$(listener version_negotiations)" "$((v0 + 1))" "version_negotiations counts it"

# auto: Retry only once limits.max_handshakes handshakes are half-open.
ns_stop "$spid"
server_conf "c['retry'] = 'auto'; c['limits'] = {'max_handshakes': 2}"
spid=$(lab_start srv "$T/server.json" "$T/server.log")
wait_until 5 test -S "$T/srv.sock"
out=$(probe --count 30 --timeout 20 open 'p%d')
like "$out" "accepted 30 refused 0 failed 0" \
	"retry auto with max_handshakes 2: 30 concurrent probes are all accepted"
n=$(listener retries)
ok "$([ "${n:-0}" -ge 1 ] && echo 0 || echo 1)" "past the limit they went through a Retry ($n)"
is "$(listener refused_limit)" 0 "none was dropped at the limit"

done_testing
