# shellcheck shell=bash
# t/lib/netns.sh: private network namespaces for the netns tests and tools/bench.
#
# Source it near the top of a test; it sources tap.sh, creates the per-test temp dir $T and
# installs a trap on EXIT/INT/TERM/HUP/PIPE that
#   1. calls netns_at_exit if the test defines it (e.g. to dump daemon logs on failure),
#   2. sends TERM to every process started with ns_bg and to whatever else runs inside each
#      namespace made with ns_new (`ip netns pids`),
#   3. deletes those namespaces (their veths go when their last process has exited),
#   4. waits for the processes, KILLs any left after NETNS_KILL_WAIT s, and removes $T.
# Nothing else is ever signalled: recorded PIDs are checked against their start time, so a
# reused PID is left alone. The exit status of the test is preserved.
#
# Namespaces are called "mpq-NAME-$$"; every helper takes the short NAME (or the full name).
#
#   netns_require_root           skip_all unless root and `ip netns add` works
#   netns_require_cmd CMD...     skip_all unless every CMD is installed
#   ns_name NAME                 print the full namespace name
#   ns_new NAME                  create it, bring lo up, record it for cleanup
#   ns_exec NAME CMD...          run CMD inside (an executable, not a shell function)
#   ns_addr NAME IF ADDR/PLEN    add an IPv4 or IPv6 address (IPv6 with nodad)
#   veth_pair NS1 IF1 ADDRS1 NS2 IF2 ADDRS2
#                                a veth pair between two namespaces, both ends up; ADDRS is a
#                                comma-separated list of ADDR/PLEN (v4 and/or v6), or "-";
#                                VETH_MTU=N sets the MTU of both ends
#   ns_bg NAME LOGFILE CMD...    start CMD in the background inside NAME, stdout+stderr
#                                appended to LOGFILE; records and prints its PID (call it
#                                as pid=$(ns_bg ...): a bare number on stdout is not TAP)
#   ns_stop PID...               stop processes started by ns_bg now (TERM, bounded, KILL)
#   ns_alive PID                 true while a process started by ns_bg runs
#   wait_until TIMEOUT_S CMD...  run CMD every 0.1 s until it succeeds; 1 after TIMEOUT_S
#                                (fractions allowed); CMD may be a shell function
#   ns_ping NAME ADDR [COUNT]    ping (v4 or v6) from NAME; quiet, output on stderr on failure
#   ns_listening NAME tcp|udp PORT   true when something listens on PORT inside NAME
#
# Binaries under test (set by meson, defaults for manual runs from the source tree):
#   MPQUICD, MPQUIC_NFT, MPQUICCTL, MPQ_TOP (source root), MPQ_BUILD (build root).

_netns_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=t/lib/tap.sh
. "$_netns_lib/tap.sh"

: "${MPQ_TOP:=$(cd "$_netns_lib/../.." && pwd)}"
: "${MPQ_BUILD:=$MPQ_TOP/build}"
: "${MPQUICD:=$MPQ_BUILD/src/mpquicd}"
: "${MPQUIC_NFT:=$MPQ_BUILD/classifier/mpquic-nft}"
: "${MPQUICCTL:=$MPQ_BUILD/tools/mpquicctl}"
export MPQ_TOP MPQ_BUILD MPQUICD MPQUIC_NFT MPQUICCTL

NETNS_SUFFIX=$$
: "${NETNS_KILL_WAIT:=2}"
_netns_owner=$BASHPID

T=$(mktemp -d "${TMPDIR:-/tmp}/mpq-t.$$.XXXXXX") || bail_out "mktemp -d failed"
# The records live in files, not variables, so helpers called in $(...) subshells count too.
_netns_ns_file=$T/.netns-names
_netns_pid_file=$T/.netns-pids
: >"$_netns_ns_file"
: >"$_netns_pid_file"

# _netns_stat PID: sets _st_state and _st_start from /proc/PID/stat; 1 if there is no such PID.
_netns_stat()
{
	local stat rest
	local -a f
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	rest=${stat##*) }	# the command name may contain spaces and parentheses
	read -r -a f <<<"$rest"
	_st_state=${f[0]}
	_st_start=${f[19]}
}

# _netns_is_ours PID START: the very process we recorded is still running (not a zombie).
_netns_is_ours()
{
	_netns_stat "$1" || return 1
	[ "$_st_start" = "$2" ] && [ "$_st_state" != Z ] && [ "$_st_state" != X ]
}

_netns_now_us()
{
	local t=$EPOCHREALTIME
	_now_us=${t//[.,]/}
}

# _netns_secs_us "1.5" -> _secs_us=1500000
_netns_secs_us()
{
	local s=$1 int frac
	[[ $s =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "netns.sh: bad timeout '$s'" >&2; return 1; }
	int=${s%%.*}
	frac=
	[[ $s == *.* ]] && frac=${s#*.}
	frac=${frac:0:6}
	while [ ${#frac} -lt 6 ]; do frac=${frac}0; done
	_secs_us=$((10#$int * 1000000 + 10#$frac))
}

wait_until()
{
	local deadline
	_netns_secs_us "$1" || return 2
	shift
	_netns_now_us
	deadline=$((_now_us + _secs_us))
	while :; do
		"$@" && return 0
		_netns_now_us
		[ "$_now_us" -ge "$deadline" ] && return 1
		sleep 0.1
	done
}

# _netns_term_wait PID START...: TERM every live pair, wait up to NETNS_KILL_WAIT s, KILL the
# survivors. The arguments come in (pid, start time) pairs.
_netns_live=()

_netns_all_gone()
{
	local k
	for ((k = 0; k < ${#_netns_live[@]}; k += 2)); do
		_netns_is_ours "${_netns_live[k]}" "${_netns_live[k + 1]}" && return 1
	done
	return 0
}

# _netns_term PID START...: TERM the pairs that still run, remember them in _netns_live.
_netns_term()
{
	while [ $# -ge 2 ]; do
		if _netns_is_ours "$1" "$2"; then
			kill -TERM "$1" 2>/dev/null
			_netns_live+=("$1" "$2")
		fi
		shift 2
	done
}

# _netns_reap: wait for _netns_live to exit, KILL what is left after NETNS_KILL_WAIT s.
_netns_reap()
{
	local i
	[ ${#_netns_live[@]} -eq 0 ] && return 0
	wait_until "$NETNS_KILL_WAIT" _netns_all_gone && return 0
	for ((i = 0; i < ${#_netns_live[@]}; i += 2)); do
		if _netns_is_ours "${_netns_live[i]}" "${_netns_live[i + 1]}"; then
			echo "netns.sh: pid ${_netns_live[i]} ignored TERM for ${NETNS_KILL_WAIT}s, killing" >&2
			kill -KILL "${_netns_live[i]}" 2>/dev/null
		fi
	done
	wait_until 1 _netns_all_gone
}

_netns_term_wait()
{
	_netns_live=()
	_netns_term "$@"
	_netns_reap
}

# _netns_pairs PID...: print "pid start" pairs for the PIDs that exist.
_netns_pairs()
{
	local pid
	for pid in "$@"; do
		_netns_stat "$pid" && printf '%s %s ' "$pid" "$_st_start"
	done
}

netns_cleanup()
{
	local rc=$? ns pid start
	local -a pairs=() names=() inside=()

	# Only the shell that sourced us cleans up (never a subshell that inherited the trap).
	[ "$BASHPID" = "$_netns_owner" ] || return "$rc"
	trap '' INT TERM HUP PIPE
	trap - EXIT
	if declare -F netns_at_exit >/dev/null; then
		netns_at_exit "$rc" || true
	fi

	# TERM everything first and delete the namespace names right away: when meson times a
	# test out it sends SIGKILL to the process group 0.5 s after SIGTERM, and by then the
	# names must be gone. A namespace itself is freed when its last process exits.
	_netns_live=()
	if [ -f "$_netns_pid_file" ]; then
		while read -r pid start; do
			[ -n "$pid" ] && pairs+=("$pid" "$start")
		done <"$_netns_pid_file"
		_netns_term "${pairs[@]}"
	fi
	if [ -f "$_netns_ns_file" ]; then
		mapfile -t names <"$_netns_ns_file"
	fi
	for ns in "${names[@]}"; do
		# Only names we made (and recorded) are touched.
		[[ $ns == mpq-*-"$NETNS_SUFFIX" ]] || continue
		mapfile -t inside < <(ip netns pids "$ns" 2>/dev/null)
		if [ ${#inside[@]} -gt 0 ]; then
			read -r -a pairs <<<"$(_netns_pairs "${inside[@]}")"
			_netns_term "${pairs[@]}"
		fi
		ip netns del "$ns" 2>/dev/null || echo "netns.sh: could not delete namespace '$ns'" >&2
	done
	_netns_reap
	rm -rf "$T"
	exit "$rc"
}

trap netns_cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 141' PIPE	# e.g. a manual run piped into head

netns_check_root()
{
	local err probe=mpq-probe-$NETNS_SUFFIX
	NETNS_SKIP_REASON=
	if [ "$(id -u)" != 0 ]; then
		NETNS_SKIP_REASON="needs root (network namespaces)"
		return 1
	fi
	if ! command -v ip >/dev/null; then
		NETNS_SKIP_REASON="ip (iproute2) is not installed"
		return 1
	fi
	if ! err=$(ip netns add "$probe" 2>&1); then
		NETNS_SKIP_REASON="cannot create network namespaces: $err"
		return 1
	fi
	ip netns del "$probe"
}

netns_require_root()
{
	netns_check_root || skip_all "$NETNS_SKIP_REASON"
}

netns_require_cmd()
{
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || skip_all "'$c' is not installed"
	done
}

ns_name()
{
	if [[ $1 == mpq-*-"$NETNS_SUFFIX" ]]; then
		echo "$1"
	else
		echo "mpq-$1-$NETNS_SUFFIX"
	fi
}

ns_new()
{
	local ns
	ns=$(ns_name "$1")
	ip netns add "$ns" || return 1
	echo "$ns" >>"$_netns_ns_file"
	ip -n "$ns" link set lo up
}

ns_exec()
{
	local ns
	ns=$(ns_name "$1")
	shift
	ip netns exec "$ns" "$@"
}

ns_addr()
{
	local ns
	ns=$(ns_name "$1")
	case $3 in
	*:*) ip -6 -n "$ns" addr add "$3" dev "$2" nodad ;;
	*) ip -4 -n "$ns" addr add "$3" dev "$2" ;;
	esac
}

veth_pair()
{
	local ns1 ns2 if1=$2 if2=$5 a
	local -a a1 a2
	ns1=$(ns_name "$1")
	ns2=$(ns_name "$4")
	IFS=, read -r -a a1 <<<"$3"
	IFS=, read -r -a a2 <<<"$6"
	ip -n "$ns1" link add "$if1" type veth peer name "$if2" netns "$ns2" || return 1
	if [ -n "${VETH_MTU:-}" ]; then
		ip -n "$ns1" link set "$if1" mtu "$VETH_MTU" || return 1
		ip -n "$ns2" link set "$if2" mtu "$VETH_MTU" || return 1
	fi
	for a in "${a1[@]}"; do
		[ "$a" = - ] || ns_addr "$ns1" "$if1" "$a" || return 1
	done
	for a in "${a2[@]}"; do
		[ "$a" = - ] || ns_addr "$ns2" "$if2" "$a" || return 1
	done
	ip -n "$ns1" link set "$if1" up && ip -n "$ns2" link set "$if2" up
}

ns_bg()
{
	local ns log=$2 pid
	ns=$(ns_name "$1")
	shift 2
	ip netns exec "$ns" "$@" </dev/null >>"$log" 2>&1 &
	pid=$!
	# The start time is fixed at fork, so it is right even before the exec.
	if _netns_stat "$pid"; then
		echo "$pid $_st_start" >>"$_netns_pid_file"
	fi
	echo "$pid"
}

# _netns_recorded_start PID: print the start time recorded for PID (nothing if not ours).
_netns_recorded_start()
{
	local p s
	while read -r p s; do
		[ "$p" = "$1" ] && { echo "$s"; return 0; }
	done <"$_netns_pid_file"
	return 1
}

ns_alive()
{
	local start
	start=$(_netns_recorded_start "$1") || return 1
	_netns_is_ours "$1" "$start"
}

ns_stop()
{
	local pid start i
	local -a pairs=()
	for pid in "$@"; do
		if start=$(_netns_recorded_start "$pid"); then
			pairs+=("$pid" "$start")
		else
			echo "netns.sh: ns_stop: pid $pid was not started by ns_bg, not touching it" >&2
		fi
	done
	[ ${#pairs[@]} -eq 0 ] && return 0
	_netns_term_wait "${pairs[@]}"
	# Reap the ones that are our own children (ns_bg called without $(...)); they are gone now.
	for ((i = 0; i < ${#pairs[@]}; i += 2)); do
		_netns_is_ours "${pairs[i]}" "${pairs[i + 1]}" || wait "${pairs[i]}" 2>/dev/null
	done
	return 0
}

ns_ping()
{
	local out
	out=$(ns_exec "$1" ping -n -q -c "${3:-3}" -i 0.2 -W 1 "$2" 2>&1) && return 0
	printf 'ns_ping %s %s failed:\n%s\n' "$1" "$2" "$out" >&2
	return 1
}

ns_listening()
{
	local flag=-t
	[ "$2" = udp ] && flag=-u
	[ -n "$(ns_exec "$1" ss -Hln "$flag" "sport = :$3" 2>/dev/null)" ]
}
