#!/usr/bin/env bash
# Garbage at the server's UDP port while the tunnel carries a continuous ping: 10 000 datagrams
# (random bytes, truncated long headers, short headers with unknown connection IDs, Initials of
# unknown versions, Initials under 1200 bytes, full-size Initials with random DCIDs and a
# payload that does not decrypt) at 2500/s to both listeners. Then a flood of real handshakes
# that never complete (mpquic-probe from a namespace the server cannot answer), above the
# server's max_handshakes. The daemon must stay alive, the ping must lose (almost) nothing, the
# tunnel must never reconnect, the listener counters must show the abuse, and afterwards the
# half-open connections must time out (handshake timeout 10 s) and the server's fd count and
# RSS must be back near the baseline.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init
lab_need_probe
MAX_HANDSHAKES=64
HALF_OPEN=100

srv_q()
{
	lab_q "$T/srv.sock" "$1"
}

# ping_stats LOG: "transmitted received" from ping's summary line
ping_stats()
{
	sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p' "$1"
}

ping_done()
{
	! ns_alive "$pingp"
}

# handshakes_full: sample the half-open count into $peak; true once it reaches the limit
peak=0
handshakes_full()
{
	local h
	h=$(srv_q "s['listener']['handshaking']")
	[ "${h:-0}" -gt "$peak" ] && peak=$h
	[ "${h:-0}" -ge $MAX_HANDSHAKES ]
}

settled()
{
	[ "$(srv_q "s['listener']['connections']")" = 1 ] &&
		[ "$(srv_q "s['listener']['handshaking']")" = 0 ]
}

plan 28

lab_server_conf "$T/server.json" "
c['limits'] = {'max_handshakes': $MAX_HANDSHAKES}"
lab_client_conf "$T/client.json"
spid=$(lab_start srv "$T/server.json" "$T/server.log")
cpid=$(lab_start cli "$T/client.json" "$T/client.log")
lab_wait_up "$T/cli.sock" t1
ok $? "tunnel t1 comes up"
lab_routes mpqc1
ns_ping cli 10.200.0.1 5
ok $? "ping through the tunnel works"

# A third namespace whose packets reach the server but whose answers do not come back: the
# server's replies to 10.99.3.2 end in a blackhole route, as they would for spoofed sources.
ns_new atk && veth_pair srv veth1 10.99.3.1/24 atk veth0 10.99.3.2/24 &&
	ns_exec atk ip route add default via 10.99.3.1 &&
	ns_exec srv ip route add blackhole 10.99.3.2/32
ok $? "attacker namespace with no way back from the server"

sleep 1
rss0=$(rss_kib "$spid")
fd0=$(fd_count "$spid")
g0=$(srv_q "s['listener']['garbage']")
u0=$(srv_q "s['listener']['unknown_cid']")
v0=$(srv_q "s['listener']['version_negotiations']")
d0=$(srv_q "s['listener']['datagrams']")
diag "server baseline: RSS $rss0 KiB, $fd0 fds"

cat >"$T/garbage.py" <<'PY'
# 10 000 datagrams of six kinds, shuffled, at RATE per second, alternately to each target.
import json, os, random, socket, struct, sys, time

targets = [("10.99.1.1", 4433, socket.AF_INET), ("fd99:1::1", 4433, socket.AF_INET6)]
RATE = 2500
rnd = random.Random(int(sys.argv[1]))
rb = lambda n: bytes(rnd.getrandbits(8) for _ in range(n))
V1 = 1
SUPPORTED = {0, 1, 0x6B3343CF} | set(range(0xFF00001D, 0xFF000021))

def long_hdr(version, dcid, scid, ptype=0):
    return bytes([0xC0 | ptype << 4 | rnd.getrandbits(4)]) + struct.pack("!I", version) + \
        bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid

def initial(size):
    # Initial: token length 0, a 2-byte Length over the rest, then "protected" random bytes.
    h = long_hdr(V1, rb(rnd.randint(8, 20)), rb(rnd.randint(0, 20))) + b"\x00"
    rest = max(size - len(h) - 2, 20)
    return h + struct.pack("!H", 0x4000 | rest) + rb(rest)

def make(kind):
    if kind == "random":
        return rb(rnd.randint(1, 1500))
    if kind == "truncated":
        p = long_hdr(V1, rb(rnd.randint(1, 20)), rb(rnd.randint(1, 20)))
        return p[:rnd.randint(1, len(p) - 1)]
    if kind == "short_unknown_cid":
        return bytes([0x40 | rnd.getrandbits(6)]) + rb(16) + rb(rnd.randint(1, 1400))
    if kind == "unknown_version":
        v = rnd.getrandbits(32)
        while v in SUPPORTED:
            v = rnd.getrandbits(32)
        p = long_hdr(v, rb(rnd.randint(0, 20)), rb(rnd.randint(0, 20)))
        return p + rb(rnd.randint(1200, 1452) - len(p))
    if kind == "initial_too_short":
        return initial(rnd.randint(60, 1199))[:1199]
    if kind == "initial_bad_payload":
        return initial(rnd.randint(1200, 1452))
    raise ValueError(kind)

mix = {"random": 3000, "truncated": 1000, "short_unknown_cid": 2000, "unknown_version": 1000,
       "initial_too_short": 1000, "initial_bad_payload": 2000}
kinds = [k for k, n in mix.items() for _ in range(n)]
rnd.shuffle(kinds)
socks = {f: [socket.socket(f, socket.SOCK_DGRAM) for _ in range(8)]
         for f in (socket.AF_INET, socket.AF_INET6)}
t0 = time.monotonic()
for i, kind in enumerate(kinds):
    host, port, fam = targets[i % 2]
    socks[fam][i % 8].sendto(make(kind), (host, port))
    if i % 25 == 24:
        delay = t0 + (i + 1) / RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
mix["seconds"] = round(time.monotonic() - t0, 2)
print(json.dumps(mix))
PY

# The ping runs before, during and after the garbage: 400 pings at 20 ms = 8 s.
pingp=$(ns_bg cli "$T/ping.log" ping -n -q -i 0.02 -c 400 -W 1 10.200.0.1)
sleep 1
ns_exec cli python3 "$T/garbage.py" "$$" >"$T/garbage.json" 2>"$T/garbage.log"
ok $? "10 000 garbage datagrams sent: $(cat "$T/garbage.json")"
wait_until 15 ping_done
read -r ptx prx <<<"$(ping_stats "$T/ping.log")"
lost=$((${ptx:-0} - ${prx:-0}))
diag "ping through the tunnel during the garbage: $prx of $ptx answered"
# 2 %: the garbage shares the server's loop and socket with the tunnel. Every datagram costs
# a header parse at most and an Initial one failed AEAD check, far below what saturates the
# loop at 2500/s, so any loss comes from scheduling on a 2-core machine shared by both daemons,
# the ping and the generator; 2 % of 400 is 8 pings, more than that means the garbage hurt.
cmp_ok "$lost" -le $((${ptx:-0} * 2 / 100)) "ping lost at most 2 % during the garbage"
cmp_ok "${ptx:-0}" -eq 400 "all 400 pings were sent"

gj=$T/garbage.json
kind()
{
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$gj" "$1"
}
cmp_ok "$(($(srv_q "s['listener']['datagrams']") - d0))" -ge 10000 \
	"the server received every garbage datagram"
cmp_ok "$(($(srv_q "s['listener']['version_negotiations']") - v0))" -ge "$(kind unknown_version)" \
	"each Initial of an unknown version got a Version Negotiation"
cmp_ok "$(($(srv_q "s['listener']['garbage']") - g0))" -ge \
	$(($(kind truncated) + $(kind initial_too_short))) \
	"truncated headers and short Initials are counted as garbage"
cmp_ok "$(($(srv_q "s['listener']['unknown_cid']") - u0))" -ge "$(kind short_unknown_cid)" \
	"short headers for unknown connection IDs are counted"
is "$(lab_q "$T/cli.sock" "t['t1']['reconnects']")" 0 "the tunnel never reconnected during the garbage"
is "$(srv_q "t['t1']['sessions']")" 1 "the server saw one session for t1"

# Real handshakes that never complete, more than max_handshakes of them, twice. The probe is
# killed with SIGKILL once the slots are full, so nobody ever closes them: the server's
# handshake timeout (10 s) must.
half_open_round()
{
	local r=$1 probe h t0 filled
	peak=0
	probe=$(ns_bg atk "$T/probe.log" "$PROBE" --server "$LAB_SRV:$LAB_PORT" \
		--name vps.mpquic.test --ca "$T/certs/ca.crt" --cert "$T/certs/edge2.crt" \
		--key "$T/certs/edge2.key" --count $HALF_OPEN --timeout 30 open u1)
	# Wait (bounded: well inside the 10 s handshake timeout) for the slots to fill, then
	# keep sampling for a second: one sample taken too early on a busy machine must not fail
	# the test, but every sample counts for "no more".
	wait_until 6 handshakes_full
	filled=$?
	for _ in $(seq 10); do
		handshakes_full
		sleep 0.1
	done
	kill -KILL "$probe"
	t0=$EPOCHREALTIME
	ok $filled "round $r: half-open handshakes fill max_handshakes ($MAX_HANDSHAKES; peak $peak)"
	cmp_ok "$peak" -le $MAX_HANDSHAKES "round $r: and never more"
	ns_ping cli 10.200.0.1 5 && ns_ping srv 10.200.1.1 5
	ok $? "round $r: the tunnel carries traffic both ways while the handshake slots are full"
	wait_until 15 settled
	ok $? "round $r: half-open connections time out: back to 1 connection, 0 handshaking"
	diag "round $r: settled $(python3 -c "print(round($EPOCHREALTIME - $t0, 1))") s after" \
		"the probe was killed"
	sleep 0.5
}

half_open_round 1
# Beyond the limit the server answers with a Retry (retry "auto", the default) or drops the
# Initial (retry "never"); either way it holds nothing for a source that never comes back.
cmp_ok "$(srv_q "s['listener'].get('retries', 0) + s['listener']['refused_limit']")" -gt 0 \
	"Initials beyond the limit get a Retry or are refused"
rss1=$(rss_kib "$spid")
half_open_round 2
rss2=$(rss_kib "$spid")
# The fd count settles as the last control connection closes: wait for it (bounded), a leak
# still fails.
wait_until 3 sh -c "[ \"\$(find /proc/$spid/fd -mindepth 1 -maxdepth 1 | wc -l)\" -le $fd0 ]"
fd2=$(fd_count "$spid")

ns_ping cli 10.200.0.1 3
ok $? "ping through the tunnel still works"
ns_alive "$spid" && ns_alive "$cpid"
ok $? "both daemons still running"
is "$(lab_q "$T/cli.sock" "t['t1']['reconnects']")" 0 "the tunnel never reconnected"

diag "server RSS: $rss0 KiB before, $rss1 KiB after the garbage and one handshake flood," \
	"$rss2 KiB after the second; $fd2 fds (baseline $fd0)"
is "$fd2" "$fd0" "the server's fd count is back to the baseline"
# 64 half-open connections take about 75 KiB each (QUIC, TLS, capsule buffer; the datagram
# queue comes only with a session), freed when they time out; glibc keeps the pages, so the
# first flood may leave up to 8 MiB behind. A second identical flood reuses them: more than
# 1 MiB of further growth would mean something is kept per connection.
if lab_sanitized; then
	ok 0 "RSS after the first flood # SKIP ASan build: freed memory stays in its quarantine"
	ok 0 "RSS after the second flood # SKIP ASan build"
else
	cmp_ok $((rss1 - rss0)) -lt 8192 "the first flood left less than 8 MiB of RSS behind"
	cmp_ok $((rss2 - rss1)) -lt 1024 "the second flood added less than 1 MiB of RSS"
fi
lab_stop_clean "$spid" "$T/server.log" && lab_stop_clean "$cpid" "$T/client.log"
ok $? "both daemons stop on SIGTERM with no sanitizer report in their logs"

done_testing
