#!/usr/bin/env bash
# The netns.sh trap really cleans up: a child test script creates namespaces, a veth pair and
# background processes, then exits normally, fails, or is killed by TERM or INT; afterwards none
# of its namespaces, processes or temp dir may remain.
set -u
# shellcheck source=t/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
netns_require_root

# The child: a stand-alone bash that sources the library (so its $$, and its namespace suffix,
# are its own), sets things up, writes what it made to $1, then ends as $2 says.
# shellcheck disable=SC2016 # expanded by the child
child_script='
set -u
. "$MPQ_TOP/t/lib/netns.sh"
state=$1 how=$2
ns_new x && ns_new y || exit 3
veth_pair x v0 198.51.100.1/24 y v0 198.51.100.2/24 || exit 3
p1=$(ns_bg x "$T/sleep.log" sleep 1000)
# A process that ignores TERM: the trap must fall back to KILL.
p2=$(ns_bg y "$T/stubborn.log" bash -c "trap \"\" TERM; sleep 1000 & wait")
# A process in the namespace that ns_bg did not start: found with `ip netns pids`.
ip netns exec "$(ns_name x)" sleep 1001 </dev/null >/dev/null 2>&1 &
p3=$!
wait_until 5 ns_alive "$p1" && wait_until 5 ns_alive "$p2" || exit 3
echo "$$ $T $(ns_name x) $(ns_name y) $p1 $p2 $p3" >"$state.tmp"
mv "$state.tmp" "$state"
case $how in
exit) exit 0 ;;
fail) exit 1 ;;
*) wait_until 60 false; exit 4 ;;	# wait to be signalled
esac
'

plan 24

# run_child HOW [SIGNAL]: run the child, optionally signal it once it is ready; sets the
# globals the checks below read. Job control gives the child its own process group, so it
# does not start with SIGINT ignored (as background jobs of a script otherwise do).
run_child()
{
	local how=$1 sig=${2:-} cpid rc
	rm -f "$T/state"
	set -m
	NETNS_KILL_WAIT=1 bash -c "$child_script" child "$T/state" "$how" \
		>"$T/child-$how.log" 2>&1 &
	cpid=$!
	set +m
	if ! wait_until 20 test -f "$T/state"; then
		diag "child ($how) never became ready:"
		diag "$(cat "$T/child-$how.log")"
	fi
	[ -n "$sig" ] && kill "-$sig" "$cpid"
	# Bounded: the child's trap waits at most ~1 s per process group it stops.
	wait_until 20 gone "$cpid" || diag "child ($how) did not exit within 20 s"
	gone "$cpid" && wait "$cpid"
	rc=$?
	read -r c_pid c_tmp c_nsx c_nsy c_p1 c_p2 c_p3 <"$T/state" || true
	c_rc=$rc
}

# gone PID: no such process, or only a zombie.
gone()
{
	[ ! -d "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# check_gone HOW: five checks that nothing of the child remains.
check_gone()
{
	local how=$1 left p
	left=$(ip netns list | grep -E -- "-${c_pid}( |\$)")
	is "$left" "" "$how: no namespace with the child's suffix -$c_pid remains"
	for p in $c_p1 $c_p2 $c_p3; do
		gone "$p"
		ok $? "$how: process $p is gone"
	done
	[ ! -e "$c_tmp" ]
	ok $? "$how: temp dir $c_tmp removed"
	# Safety net: whatever the child left behind is ours to remove.
	for p in $c_nsx $c_nsy; do
		ip netns pids "$p" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns del "$p" 2>/dev/null
	done
}

run_child exit
is "$c_rc" 0 "exit: status 0 preserved"
check_gone exit

run_child fail
is "$c_rc" 1 "fail: status 1 preserved"
check_gone fail

run_child term TERM
is "$c_rc" 143 "TERM: status 143"
check_gone TERM

run_child int INT
is "$c_rc" 130 "INT: status 130"
check_gone INT

done_testing
