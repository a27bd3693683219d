#!/usr/bin/env bash
# Interop with a client that is not ours: ngtcp2's GnuTLS example client (gtlsclient, Debian
# package ngtcp2-client from bookworm-backports, installed by tools/lib/deps.sh) does the
# health GET of docs/protocol.md against our server. With the lab's client certificate: 200,
# application/json and the documented body. Without a certificate: the server's mutual-TLS
# policy refuses the handshake (TLS alert 116, certificate_required), no HTTP answer at all.
# A missing gtlsclient is a failure, not a skip: the bootstrap installs it.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init

GTLSCLIENT=${GTLSCLIENT:-gtlsclient}
command -v "$GTLSCLIENT" >/dev/null ||
	bail_out "'$GTLSCLIENT' is missing: tools/lib/deps.sh installs it (package ngtcp2-client)"

HEALTH=/.well-known/mpquic/health

# gtls_get LOG DIR [ARGS...]: the health GET, its trace in LOG, the body saved in DIR.
gtls_get()
{
	local log=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	ns_exec cli timeout 20 "$GTLSCLIENT" --exit-on-all-streams-close --no-quic-dump \
		--timeout=5s --download="$dir" "$@" "$LAB_SRV" "$LAB_PORT" \
		"https://vps.mpquic.test:$LAB_PORT$HEALTH" >"$log" 2>&1
}

plan 11

lab_server_conf "$T/server.json"
lab_start srv "$T/server.json" "$T/server.log" >/dev/null
wait_until 5 ns_listening srv udp "$LAB_PORT"
ok $? "mpquicd server listens"
diag "client: $GTLSCLIENT, ngtcp2-client $(dpkg-query -W -f='${Version}' ngtcp2-client \
	2>/dev/null || echo '(not from a Debian package)')"

# With a client certificate signed by the server's client CA.
gtls_get "$T/gtls-cert.log" "$T/dl-cert" --cert "$T/certs/edge1.crt" --key "$T/certs/edge1.key"
ok $? "gtlsclient with a client certificate exits 0"
grep -q '^http: stream 0x0 \[:status: 200\]' "$T/gtls-cert.log"
ok $? "the health GET is answered 200" || diag "$(grep '^http: stream' "$T/gtls-cert.log")"
grep -q '^http: stream 0x0 \[content-type: application/json\]' "$T/gtls-cert.log"
ok $? "content-type: application/json"
version=$("$MPQUICD" --version | awk '{ print $2 }')
body=$(cat "$T/dl-cert/health" 2>/dev/null)
is "$body" "{\"status\":\"ok\",\"service\":\"mpquicd\",\"version\":\"$version\"}" \
	"the body is the documented health JSON"
grep -q 'SETTINGS_H3_DATAGRAM=1' "$T/gtls-cert.log"
ok $? "our SETTINGS offer HTTP Datagrams to a foreign client"
wait_until 5 grep -q "client 'edge1' (.*): authenticated" "$T/server.log"
ok $? "the server logs the authenticated identity"

# Without a client certificate.
gtls_get "$T/gtls-none.log" "$T/dl-none"
grep -q 'CONNECTION_CLOSE.*CRYPTO_ERROR(0x174)' "$T/gtls-none.log"
ok $? "no client certificate: the server closes with TLS alert 116 (certificate_required)" ||
	diag "$(grep -E 'CONNECTION_CLOSE|ERR_' "$T/gtls-none.log" | tail -n 5)"
! grep -q '^http: stream 0x0 response headers' "$T/gtls-none.log" &&
	[ ! -s "$T/dl-none/health" ]
ok $? "no client certificate: no HTTP answer, no body"
wait_until 5 grep -q "TLS handshake failed (alert 116: certificate required)" "$T/server.log"
ok $? "the server logs why it refused"

lab_finish
done_testing
