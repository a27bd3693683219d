#!/usr/bin/env bash
# docs/deploy.md is executable: every ```sh block whose first line is "# run: HOST" runs in
# namespace HOST (workstation, vps, edge), in order, with /etc/mpquic and /run/mpquic under
# $T/HOST and the built binaries first in PATH. Then both daemons start from the guide's
# configuration files and a LAN host's traffic crosses both classes.
#
#   [lan] 192.168.10.2 -- lan0 [edge] eth1 198.51.100.2 -- 198.51.100.1 [isp] 192.0.2.1
#                                                             |
#                                               eth0 192.0.2.10 [vps]
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"

netns_require_root
netns_require_cmd ping python3 openssl nft
[ -x "$MPQUICD" ] || skip_all "mpquicd not built ($MPQUICD)"
[ -x "$MPQUIC_NFT" ] || skip_all "mpquic-nft not built ($MPQUIC_NFT)"
[ -x "$MPQUICCTL" ] || skip_all "mpquicctl not built ($MPQUICCTL)"

GUIDE=$MPQ_TOP/docs/deploy.md
BIN=$T/bin

plan 9

for n in workstation vps edge isp lan; do
	ns_new $n || bail_out "cannot create namespace $n"
done
{
	veth_pair edge eth1 198.51.100.2/24 isp e0 198.51.100.1/24 &&
		veth_pair vps eth0 192.0.2.10/24 isp v0 192.0.2.1/24 &&
		veth_pair lan eth0 192.168.10.2/24 edge lan0 192.168.10.1/24 &&
		ns_exec isp sysctl -qw net.ipv4.ip_forward=1 &&
		ns_exec edge ip route add default via 198.51.100.1 dev eth1 &&
		ns_exec vps ip route add default via 192.0.2.1 &&
		ns_exec lan ip route add default via 192.168.10.1
} || bail_out "cannot build the lab"

# The built programs under the names the guide uses.
mkdir -p "$BIN" && ln -s "$MPQUICD" "$BIN/mpquicd" && ln -s "$MPQUIC_NFT" "$BIN/mpquic-nft" &&
	ln -s "$MPQUICCTL" "$BIN/mpquicctl" || bail_out "cannot link the binaries"

# blocks: the runnable blocks as HOST<TAB>line, "@@" between blocks
python3 - "$GUIDE" >"$T/blocks" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for m in re.finditer(r"^```sh\n# run: (\w+)\n(.*?)^```$", text, re.S | re.M):
    print("@@ " + m.group(1))
    sys.stdout.write(m.group(2))
PY
nblocks=$(grep -c '^@@ ' "$T/blocks")
cmp_ok "$nblocks" -ge 9 "the guide has its runnable blocks ($nblocks)"

# run_block HOST FILE: one block, with the path convention, in HOST's namespace
run_block()
{
	local host=$1 file=$2 root=$T/$1
	mkdir -p "$root/etc" "$root/run/mpquic" "$T/work"
	sed -e "s#/etc/mpquic#$root/etc/mpquic#g" -e "s#/run/mpquic#$root/run/mpquic#g" \
		-e "s#^tools/mpquic-certs #$MPQ_TOP/tools/mpquic-certs #" "$file" >"$file.sh"
	(cd "$T/work" && ns_exec "$host" env PATH="$BIN:$PATH" bash -e "$file.sh")
}

failed=0 i=0
while IFS= read -r line; do
	if [[ $line == "@@ "* ]]; then
		i=$((i + 1))
		host[i]=${line#@@ }
		: >"$T/block$i"
		continue
	fi
	printf '%s\n' "$line" >>"$T/block$i"
done <"$T/blocks"
for ((b = 1; b <= i; b++)); do
	if ! run_block "${host[b]}" "$T/block$b" >"$T/block$b.log" 2>&1; then
		failed=$((failed + 1))
		diag "block $b (${host[b]}) failed:"
		diag "$(cat "$T/block$b" "$T/block$b.log")"
	fi
done
is "$failed" 0 "every runnable block of the guide succeeds in its namespace"
[ -f "$T/work/pki/mpquic-ca.key" ]
ok $? "the workstation made the CA key"
cakey=0
for f in "$T"/vps/etc/mpquic/* "$T"/edge/etc/mpquic/*; do
	cmp -s "$f" "$T/work/pki/mpquic-ca.key" && cakey=1
done
is "$cakey" 0 "the CA key is on neither box"

# Start both daemons as the units would.
esock=$T/edge/run/mpquic/mpquicd.sock
lab_start vps "$T/vps/etc/mpquic/mpquicd.json" "$T/vps.log" >/dev/null
wait_until 5 ns_listening vps udp 443 || diag "$(cat "$T/vps.log")"
lab_start edge "$T/edge/etc/mpquic/mpquicd.json" "$T/edge.log" >/dev/null
lab_wait_up "$esock" cr1 15 && lab_wait_up "$esock" df1 5
ok $? "both tunnels of the guide's edge come up"

tx()
{
	lab_q "$esock" "t['$1']['tx_packets']"
}
cr0=$(tx cr1) df0=$(tx df1)
ns_exec lan ping -c 5 -i 0.2 -W 2 -Q 0xb8 192.0.2.1 >"$T/ping-ef.log" 2>&1
ok $? "a LAN host's EF ping reaches the Internet (the isp router) and back" ||
	diag "$(cat "$T/ping-ef.log")"
ns_exec lan ping -c 5 -i 0.2 -W 2 192.0.2.1 >"$T/ping-be.log" 2>&1
ok $? "its best-effort ping too" || diag "$(cat "$T/ping-be.log")"
cr1n=$(tx cr1) df1n=$(tx df1)
ok "$([ $((cr1n - cr0)) -ge 5 ] && [ $((df1n - df0)) -ge 5 ] && echo 0 || echo 1)" \
	"EF rode cr1 (+$((cr1n - cr0))), best effort rode df1 (+$((df1n - df0)))"

lab_finish
done_testing
