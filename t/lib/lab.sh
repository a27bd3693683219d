# shellcheck shell=bash
# t/lib/lab.sh: an mpquicd client/server lab on top of netns.sh.
#
#   lab_init                     namespaces "srv" and "cli" joined by veth (10.99.1.0/24,
#                                fd99:1::/64), certificates in $T/certs, $LAB_PORT
#   lab_server_conf FILE [PY]    write a server config; PY is Python that edits dict c
#   lab_client_conf FILE [PY]    write a client config (tunnel t1 on TUN mpqc1); PY edits c
#   lab_start NS CONF LOG        start mpquicd in namespace NS; prints the PID
#   lab_finish                   stop the daemons cleanly; one test: no sanitizer report in logs
#   lab_status SOCK              mpquicctl status --json
#   lab_q SOCK EXPR              evaluate Python EXPR over the status dict s, print the result
#   lab_tunnel_up SOCK NAME      true when tunnel NAME's state is "up"
#   lab_wait_up SOCK NAME [S]    wait (bounded, default 15 s) for tunnel NAME to be up
#   lab_sanitized                true when mpquicd is built with AddressSanitizer (its RSS then
#                                says nothing about leaks: freed memory sits in quarantine)
#   lab_stop_clean PID LOG       stop a daemon started by lab_start (TERM, bounded) and check
#                                that LOG holds no sanitizer report (leaks show up at exit)
#   lab_need_probe               set $PROBE to mpquic-probe, or skip the whole test without it
#   lab_q_ge SOCK EXPR MIN       true when the status value EXPR has reached MIN
#   rss_kib PID, fd_count PID    a process's resident memory (KiB) and open file descriptors
#
# Inner addressing: server TUN mpqs0 10.200.0.1/16 and fd00:200::1/64; tunnel tN of edge1 gets
# 10.200.1.N/32 and fd00:200::1:N/128; edge2's tunnel uN gets 10.200.2.N/32.

# shellcheck source=t/lib/netns.sh
. "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

LAB_PORT=4433
LAB_SRV=10.99.1.1
LAB_CLI=10.99.1.2

# lab_dump_logs [LINES [FILE...]]: after a failure, the last LINES (25) of FILEs (every
# $T/*.log) as TAP diagnostics. It is the default netns_at_exit; a test may define its own.
lab_dump_logs()
{
	local n=${1:-25} f l
	[ $# -gt 0 ] && shift
	[ "${_tap_failed:-0}" -gt 0 ] || return 0
	[ $# -gt 0 ] || set -- "$T"/*.log
	for f in "$@"; do
		diag "--- $f"
		tail -n "$n" "$f" 2>/dev/null | while IFS= read -r l; do diag "$l"; done
	done
}

netns_at_exit()
{
	lab_dump_logs 30
}

lab_init()
{
	netns_require_root
	netns_require_cmd ping python3 openssl ss
	[ -x "$MPQUICD" ] || skip_all "mpquicd not built ($MPQUICD)"
	[ -x "$MPQUICCTL" ] || skip_all "mpquicctl not built ($MPQUICCTL)"
	"$MPQ_TOP/tools/mpquic-certs" "$T/certs" lab >"$T/certs.log" 2>&1 ||
		bail_out "certificate generation failed: $(cat "$T/certs.log")"
	ns_new srv && ns_new cli || bail_out "cannot create namespaces"
	veth_pair srv veth0 $LAB_SRV/24,fd99:1::1/64 cli veth0 $LAB_CLI/24,fd99:1::2/64 ||
		bail_out "cannot create the veth pair"
}

# _lab_conf FILE BASE_JSON PY: write BASE_JSON edited by PY (a Python snippet over dict c).
_lab_conf()
{
	python3 - "$1" "$2" "${3:-}" <<'PY'
import json, sys
path, base, edit = sys.argv[1], sys.argv[2], sys.argv[3]
c = json.loads(base)
exec(edit)
with open(path, "w") as f:
    json.dump(c, f, indent=1)
PY
}

lab_server_conf()
{
	_lab_conf "$1" "$(
		cat <<EOF
{"role": "server", "log_level": "info",
 "control_socket": "$T/srv.sock",
 "tls": {"cert": "$T/certs/server.crt", "key": "$T/certs/server.key",
         "client_ca": "$T/certs/ca.crt"},
 "listen": ["$LAB_SRV:$LAB_PORT", "[fd99:1::1]:$LAB_PORT"],
 "tun": {"name": "mpqs0", "address": ["10.200.0.1/16", "fd00:200::1/64"]},
 "clients": [
  {"identity": "edge1", "tunnels": [
    {"name": "t1", "address": ["10.200.1.1/32", "fd00:200::1:1/128"],
     "routes": ["192.168.10.0/24"]},
    {"name": "t2", "address": ["10.200.1.2/32", "fd00:200::1:2/128"]},
    {"name": "t3", "address": ["10.200.1.3/32", "fd00:200::1:3/128"]}]},
  {"identity": "edge2", "tunnels": [
    {"name": "u1", "address": ["10.200.2.1/32"]}]}]}
EOF
	)" "${2:-}"
}

lab_client_conf()
{
	_lab_conf "$1" "$(
		cat <<EOF
{"role": "client", "log_level": "info",
 "control_socket": "$T/cli.sock",
 "tls": {"ca": "$T/certs/ca.crt", "cert": "$T/certs/edge1.crt", "key": "$T/certs/edge1.key"},
 "server": {"address": "$LAB_SRV", "port": $LAB_PORT, "name": "vps.mpquic.test"},
 "defaults": {"backoff_min_ms": 100, "backoff_max_ms": 2000},
 "tunnels": [{"name": "t1", "tun": "mpqc1"}]}
EOF
	)" "${2:-}"
}

lab_start()
{
	local pid
	pid=$(ns_bg "$1" "$3" "$MPQUICD" -c "$2" --foreground)
	echo "$pid" >>"$T/.lab-pids"
	echo "$3" >>"$T/.lab-logs"
	echo "$pid"
}

# lab_finish: stop every daemon started by lab_start (TERM: a clean shutdown, so the sanitizer
# build reports leaks), then one TAP test that no daemon log has a sanitizer report.
# What a sanitizer prints when it finds something (ASan, LSan, UBSan).
LAB_SAN_RE='(Address|Leak|UndefinedBehavior)Sanitizer|runtime error:'

lab_finish()
{
	local pids logs bad
	pids=$(cat "$T/.lab-pids" 2>/dev/null)
	# shellcheck disable=SC2086
	[ -n "$pids" ] && NETNS_KILL_WAIT=10 ns_stop $pids
	logs=$(sort -u "$T/.lab-logs" 2>/dev/null)
	# shellcheck disable=SC2086
	bad=$(grep -l -E "$LAB_SAN_RE" $logs 2>/dev/null)
	ok "$([ -z "$bad" ] && echo 0 || echo 1)" "no sanitizer report in the daemon logs"
	for f in $bad; do
		grep -m 5 -A 12 -E "$LAB_SAN_RE" "$f" | while IFS= read -r l; do diag "$l"; done
	done
}

lab_status()
{
	"$MPQUICCTL" -s "$1" status --json 2>/dev/null
}

lab_q()
{
	lab_status "$1" | python3 -c '
import json, sys
try:
    s = json.load(sys.stdin)
except ValueError:
    sys.exit(1)
t = {x["name"]: x for x in s.get("tunnels", [])}
print(eval(sys.argv[1]))' "$2"
}

lab_tunnel_up()
{
	[ "$(lab_q "$1" "t['$2']['state']" 2>/dev/null)" = up ]
}

lab_wait_up()
{
	wait_until "${3:-15}" lab_tunnel_up "$1" "$2"
}

lab_sanitized()
{
	grep -q __asan_init "$MPQUICD"
}

lab_stop_clean()
{
	NETNS_KILL_WAIT=10 ns_stop "$1"
	! grep -Eq "$LAB_SAN_RE" "$2"
}

# lab_routes: send the server's inner prefixes from the client namespace into TUN $1.
lab_routes()
{
	ns_exec cli ip route replace 10.200.0.0/24 dev "$1" &&
		ns_exec cli ip -6 route replace fd00:200::/120 dev "$1"
}

lab_need_probe()
{
	PROBE=${MPQUIC_PROBE:-$MPQ_BUILD/tools/mpquic-probe}
	[ -x "$PROBE" ] || skip_all "mpquic-probe not built"
}

lab_q_ge()
{
	[ "$(lab_q "$1" "$2" 2>/dev/null || echo 0)" -ge "$3" ]
}

rss_kib()
{
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

fd_count()
{
	find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l
}
