#!/usr/bin/env bash
# tools/mpquic-certs: a lab set verifies with openssl, carries the right EKUs and SANs, keys are
# private, and bad invocations fail with a clear message and the documented status.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=t/lib/tap.sh
. "$here/../lib/tap.sh"
: "${MPQ_TOP:=$(cd "$here/../.." && pwd)}"
certs=$MPQ_TOP/tools/mpquic-certs
command -v openssl >/dev/null || skip_all "openssl is not installed"

T=$(mktemp -d "${TMPDIR:-/tmp}/mpq-certs.XXXXXX") || bail_out "mktemp -d failed"
trap 'rm -rf "$T"' EXIT
D=$T/lab

# ext CERT EXT: the text of one extension, values only, on one line.
ext()
{
	openssl x509 -in "$D/$1.crt" -noout -ext "$2" 2>/dev/null | tail -n +2 |
		sed 's/^ *//' | paste -sd' ' -
}
subject() { openssl x509 -in "$D/$1.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//'; }
verify() { openssl verify -CAfile "$D/$1.crt" "${@:2}" >/dev/null 2>&1; }

# expect STATUS REGEX DESC CMD...: CMD exits with STATUS and its stderr matches REGEX.
expect()
{
	local want=$1 re=$2 desc=$3 err st
	shift 3
	err=$("$@" 2>&1 >/dev/null)
	st=$?
	is "$st" "$want" "$desc: exit status $want"
	like "$err" "$re" "$desc: message"
}

plan 37

run_ok "lab set created" "$certs" "$D" lab

files=0
for n in ca server edge1 edge2 other-ca intruder; do
	[ -s "$D/$n.crt" ] && [ -s "$D/$n.key" ] && files=$((files + 1))
done
is "$files" 6 "six certificate/key pairs"
is "$(stat -c %a "$D"/*.key | sort -u)" 600 "every key has mode 0600"

verify ca -purpose sslserver "$D/server.crt"
ok $? "server verifies against ca as a TLS server"
verify ca -purpose sslclient "$D/edge1.crt" "$D/edge2.crt"
ok $? "edge1 and edge2 verify against ca as TLS clients"
verify other-ca -purpose sslclient "$D/intruder.crt"
ok $? "intruder verifies against other-ca"
! verify ca "$D/intruder.crt"
ok $? "intruder does NOT verify against ca"
! verify other-ca "$D/edge1.crt"
ok $? "edge1 does NOT verify against other-ca"
! verify ca -purpose sslserver "$D/edge1.crt"
ok $? "a client certificate is not accepted as a server"
! verify ca -purpose sslclient "$D/server.crt"
ok $? "the server certificate is not accepted as a client"

is "$(ext ca basicConstraints)" "CA:TRUE, pathlen:0" "ca: CA:TRUE, pathlen 0"
is "$(ext ca keyUsage)" "Certificate Sign, CRL Sign" "ca: keyUsage keyCertSign, cRLSign"
openssl x509 -in "$D/ca.crt" -noout -checkend $((3649 * 86400)) >/dev/null
ok $? "ca: valid for 10 years"
is "$(subject server)" "CN=vps.mpquic.test" "server: CN"
is "$(ext server subjectAltName)" "DNS:vps.mpquic.test" "server: SAN"
is "$(ext server extendedKeyUsage)" "TLS Web Server Authentication" "server: EKU serverAuth"
is "$(ext server basicConstraints)" "CA:FALSE" "server: not a CA"
is "$(subject edge1)" "CN=edge1" "edge1: CN=edge1"
is "$(ext edge1 subjectAltName)" "DNS:edge1" "edge1: SAN DNS:edge1"
is "$(ext edge2 extendedKeyUsage)" "TLS Web Client Authentication" "edge2: EKU clientAuth"
is "$(ext intruder subjectAltName)" "DNS:intruder" "intruder: SAN DNS:intruder"

curve=$(openssl pkey -in "$D/edge1.key" -noout -text 2>/dev/null | sed -n 's/^NIST CURVE: //p')
is "$curve" "P-256" "keys are ECDSA P-256"
is "$(openssl pkey -in "$D/server.key" -pubout)" "$(openssl x509 -in "$D/server.crt" -noout -pubkey)" \
	"server key matches its certificate"

run_ok "server with --dns and two --ip" "$certs" "$D" server vps2 --ca ca \
	--dns vps.example.net --dns alt.example.net --ip 192.0.2.1 --ip 2001:db8::1
is "$(ext vps2 subjectAltName)" \
	"DNS:vps.example.net, DNS:alt.example.net, IP Address:192.0.2.1, IP Address:2001:DB8:0:0:0:0:0:1" \
	"vps2: SAN lists every --dns and --ip"

expect 2 'usage|mpquic-certs DIR' "no arguments" "$certs"
expect 2 "'server' needs --ca" "server without --ca" "$certs" "$D" server s --dns a.test
expect 1 "CA 'nope' not found" "unknown CA" "$certs" "$D" client c --ca nope
before=$(md5sum "$D/edge1.crt")
expect 1 "exists \\(use --force" "no silent overwrite" "$certs" "$D" client edge1 --ca ca
is "$(md5sum "$D/edge1.crt")" "$before" "edge1.crt untouched"
expect 2 "bad name '../x'" "name with a slash" "$certs" "$D" client ../x --ca ca
run_ok "--force replaces a certificate" "$certs" "$D" client edge1 --ca ca --force

done_testing
