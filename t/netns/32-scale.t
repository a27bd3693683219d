#!/usr/bin/env bash
# Scale: one load-generating client process (mpquic-probe) opens 200 CONNECT-IP tunnels of one
# identity to one server process at the same moment. All are accepted and the server shows 200
# connections; the time to establish them and the server's resident memory per tunnel are
# printed. Benchmark-sized: suites netns and slow (not repeated under ASan).
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init
lab_need_probe
N=200

tunnels_up()
{
	[ "$(lab_q "$T/srv.sock" "sum(1 for x in s['tunnels'] if x['state'] == 'up')")" = "$1" ]
}

plan 6

# edge2 owns p0..p199 with 10.201.X.Y/32 each.
lab_server_conf "$T/server.json" "
c['clients'][1]['tunnels'] = [
    {'name': 'p%d' % i, 'address': ['10.201.%d.%d/32' % (i // 250, i % 250 + 1)]}
    for i in range($N)]
c['limits'] = {'max_connections_per_client': 256}
c['log_level'] = 'notice'"
# meson sets MALLOC_PERTURB_, which makes glibc write every allocation and so makes untouched
# queue slots resident: RSS would read ~440 KiB per tunnel instead of ~90.
spid=$(ns_bg srv "$T/server.log" env -u MALLOC_PERTURB_ "$MPQUICD" -c "$T/server.json" --foreground)
wait_until 5 test -S "$T/srv.sock"
ok $? "server with $N configured tunnels is running"
sleep 0.5
rss0=$(rss_kib "$spid")

t0=$EPOCHREALTIME
ns_bg cli "$T/probe.log" "$PROBE" --server "$LAB_SRV:$LAB_PORT" --name vps.mpquic.test \
	--ca "$T/certs/ca.crt" --cert "$T/certs/edge2.crt" --key "$T/certs/edge2.key" \
	--count $N --timeout 60 --hold 5 open 'p%d' >"$T/probe.pid"
wait_until 60 tunnels_up $N
ok $? "all $N tunnels are up on the server"
t1=$EPOCHREALTIME
is "$(lab_q "$T/srv.sock" "s['listener']['connections']")" $N "the server has $N connections"
rss1=$(rss_kib "$spid")
is "$(lab_q "$T/srv.sock" "s['clients'][1]['connections']")" $N "all counted for edge2"
wait_until 30 sh -c "! kill -0 $(cat "$T/probe.pid") 2>/dev/null"
out=$(cat "$T/probe.log")
like "$out" "accepted $N refused 0 failed 0" "the probe got $N accepted sessions"
ns_alive "$spid"
ok $? "server still running"

diag "$(sed -n 's/^accepted.* in \(.*\) s$/probe: all '$N' answered in \1 s/p' "$T/probe.log")"
diag "$(python3 -c "print('server sees all $N tunnels up after %.2f s' % ($t1 - $t0))")"
diag "$(python3 -c "print('server RSS: %d KiB idle, %d KiB with $N tunnels: %.1f KiB per tunnel'
	% ($rss0, $rss1, ($rss1 - $rss0) / $N))")"

done_testing
