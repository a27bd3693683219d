#!/usr/bin/env bash
# tools/demo, the README's first command, runs end to end against this build so it cannot rot.
set -u
# shellcheck source=t/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
netns_require_root
netns_require_cmd iperf3 python3 nft
for n in mqd-lan mqd-edge mqd-vps; do
	ip netns list | grep -qw "$n" && skip_all "a demo lab is already running (tools/demo --down removes it)"
done

plan 3
out=$(DEMO_DIR="$T/demo" DEMO_SECONDS=3 MPQ_BUILD="$MPQ_BUILD" timeout 150 \
	"$MPQ_TOP/tools/demo" --no-build 2>&1)
rc=$?
ok $rc "tools/demo --no-build exits 0"
[ $rc -eq 0 ] || printf '%s\n' "$out" | tail -n 60 | while IFS= read -r l; do diag "$l"; done
like "$out" "class web rode tunnel we2" "the demo shows each class on its own tunnel"
leftover=$(ip netns list | grep -c '^mqd-')
is "$leftover" 0 "the demo removed its namespaces"
done_testing
