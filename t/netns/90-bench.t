#!/usr/bin/env bash
# Smoke test of tools/bench (suite 'slow'): a short run through the mpquicd tunnel only must
# print exactly one JSON object with every documented key and positive tunnel figures.
# Performance is measured by tools/bench, never asserted here: no thresholds, no timing.
set -u
# shellcheck source=t/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
netns_require_root
netns_require_cmd iperf3 ping python3 ss timeout openssl
[ -x "$MPQUICD" ] || skip_all "mpquicd not built ($MPQUICD)"
[ -x "$MPQUICCTL" ] || skip_all "mpquicctl not built ($MPQUICCTL)"

plan 9

bench=$MPQ_TOP/tools/bench
out=$("$bench" --cc vegas 2>&1)
st=$?
ok "$([ $st = 2 ] && echo 0 || echo 1)" "an unknown --cc is refused with exit 2 ($st)"
like "$out" "unknown congestion controller 'vegas'" "and the message names it"
out=$("$bench" --delay-target fast 2>&1)
st=$?
ok "$([ $st = 2 ] && echo 0 || echo 1)" "a bad --delay-target is refused with exit 2 ($st)"
like "$out" "bad --delay-target 'fast'" "and the message names it"

# In the background for its PID, which names its namespaces; meson's timeout bounds the run.
BENCH_SECONDS=2 "$bench" --no-build --json --targets tunnel --streams 1 --delay-target 0.5 \
	--logs "$T/logs" \
	>"$T/bench.json" 2>"$T/bench.err" &
bpid=$!
wait $bpid
st=$?
ok $st "tools/bench --json --targets tunnel exits 0" ||
	while IFS= read -r l; do diag "$l"; done <"$T/bench.err"

check=$(python3 - "$T/bench.json" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
try:
    d = json.loads(text)
except ValueError as e:
    print(f"not one JSON object: {e}: {text[:200]!r}")
    sys.exit()
want = ["veth_tcp1_gbps", "openvpn_tcp1_gbps", "tunnel_tcp1_gbps", "tunnel_tcp4_gbps",
        "ratio_vs_veth", "ratio_vs_openvpn", "cpu_s_per_gb", "openvpn_cpu_s_per_gb",
        "rtt_idle_ms_tunnel", "rtt_loaded_ms_tunnel", "rtt_loaded_ms_tunnel_up",
        "rtt_loaded_ms_tunnel_down", "tunnel_tcp1_up_gbps", "tunnel_tcp1_down_gbps",
        "tunnel_cpu_s_per_gb_up", "tunnel_cpu_s_per_gb_down", "tunnel_cc"]
missing = [k for k in want if k not in d]
if missing:
    print("missing keys: " + ", ".join(missing))
    sys.exit()
pos = ["tunnel_tcp1_gbps", "tunnel_tcp1_up_gbps", "tunnel_tcp1_down_gbps", "cpu_s_per_gb",
       "rtt_idle_ms_tunnel", "rtt_loaded_ms_tunnel"]
bad = [f"{k}={d[k]!r}" for k in pos if not isinstance(d[k], (int, float)) or d[k] <= 0]
print("not positive: " + ", ".join(bad) if bad else "ok")
PY
)
is "$check" ok "one JSON object with every key and positive tunnel figures"
like "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["tunnel_cc"])' \
	"$T/bench.json" 2>/dev/null)" "^(cubic|bbr|reno)$" "the congestion controller in use is reported"
is "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["tunnel_delay_target_ms"])' \
	"$T/bench.json" 2>/dev/null)" 0.5 "the delay target the tunnel ran with is reported"
ip netns list | grep -qE "^mpq-(edge|vps)-$bpid( |\$)"
ok "$([ $? = 1 ] && echo 0 || echo 1)" "tools/bench removed its namespaces"
