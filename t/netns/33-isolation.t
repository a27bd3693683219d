#!/usr/bin/env bash
# Isolation under real contention: three tunnels (one per class) of one client on one WAN link
# all carry iperf3 load in both directions at once (--bidir, one iperf3 server per tunnel, each
# flow bound to its tunnel's inner address); an nftables rule in the client's namespace (a
# table of our own) then drops 30 % of the outer UDP packets of tunnel t1 only, matched by its
# UDP port, in both directions. The other two tunnels must keep >= 90 % of the throughput they
# had without the drop, measured in the same run (phases alternate; see below for how). Their ping under load is
# compared with the loaded value without the drop and with the unloaded value (the issue's
# "within 2 ms"). The tunnels run with a 0.5 ms delay target, as latency-sensitive classes
# would. Benchmark-sized: suites netns and slow (no ASan rerun).
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init
netns_require_cmd iperf3 nft
: "${ISO_SECONDS:=8}" # length of one load phase
: "${ISO_ROUNDS:=4}"  # phases without and with the drop alternate this many times
: "${ISO_DELAY_MS:=0.5}" # the tunnels' delay_target_ms

plan 11

# Latency-sensitive classes: a delay target on both ends (docs/configuration.md).
lab_server_conf "$T/server.json" "c.setdefault('defaults', {})['delay_target_ms'] = $ISO_DELAY_MS"
lab_client_conf "$T/client.json" '
c["tunnels"] = [{"name": "t%d" % i, "tun": "mpqc%d" % i} for i in (1, 2, 3)]
c.setdefault("defaults", {})["delay_target_ms"] = '"$ISO_DELAY_MS"
spid=$(lab_start srv "$T/server.json" "$T/server.log")
cpid=$(lab_start cli "$T/client.json" "$T/client.log")
lab_wait_up "$T/cli.sock" t1 && lab_wait_up "$T/cli.sock" t2 && lab_wait_up "$T/cli.sock" t3
ok $? "three tunnels up on one WAN link"

# Each tunnel's inner source address routes into its own TUN (policy routing by source).
for i in 1 2 3; do
	ns_exec cli ip rule add from "10.200.1.$i" table "10$i" pref 100 &&
		ns_exec cli ip route add 10.200.0.0/24 dev "mpqc$i" table "10$i" || break
	ns_bg srv "$T/iperf-s$i.log" iperf3 -s -B 10.200.0.1 -p "520$i" >/dev/null
done
wait_until 5 ns_listening srv tcp 5201 && wait_until 5 ns_listening srv tcp 5202 &&
	wait_until 5 ns_listening srv tcp 5203
ok $? "policy routes and three iperf3 servers in place"

port=$(lab_q "$T/cli.sock" "t['t1']['local'].rsplit(':', 1)[1]")
nft_drop()
{
	ns_exec cli nft -f - <<NFT
table inet mpqtest {
	chain out {
		type filter hook output priority 0; policy accept;
		udp sport $port numgen random mod 100 < 30 counter drop
	}
	chain in {
		type filter hook input priority 0; policy accept;
		udp dport $port numgen random mod 100 < 30 counter drop
	}
}
NFT
}

# ping_avg I COUNT: average RTT (ms) of pings through tunnel I.
ping_avg()
{
	ns_exec cli ping -n -q -c "$2" -i 0.2 -W 2 -I "10.200.1.$1" 10.200.0.1 2>/dev/null |
		awk -F/ '/^rtt/ { print $5 }'
}

# phase NAME: all three tunnels loaded for ISO_SECONDS, pings through every tunnel meanwhile
# (after 1.5 s of ramp-up). Writes $T/NAME.iperfI.json and $T/NAME.pingI.
phase()
{
	local i pids=()
	for i in 1 2 3; do
		# Bounded: under loss t1's control connection may take long to finish.
		ns_exec cli timeout $((ISO_SECONDS + 15)) iperf3 -c 10.200.0.1 -p "520$i" \
			-B "10.200.1.$i" --bidir --connect-timeout 3000 -t "$ISO_SECONDS" -J \
			>"$T/$1.iperf$i.json" 2>&1 &
		pids+=($!)
	done
	sleep 1.5
	for i in 1 2 3; do
		ping_avg "$i" $(((ISO_SECONDS - 3) * 5)) >"$T/$1.ping$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
}

for i in 1 2 3; do
	ping_avg "$i" 10 >"$T/idle.ping$i"
done
rc=0
for r in $(seq "$ISO_ROUNDS"); do
	phase "clean$r"
	nft_drop || { rc=1; break; }
	phase "drop$r"
	ns_exec cli nft list table inet mpqtest >"$T/nft$r.out"
	ns_exec cli nft delete table inet mpqtest || { rc=1; break; }
done
ok $rc "load phases without and with the drop ran ($ISO_ROUNDS rounds of $ISO_SECONDS s)"
is "$(lab_q "$T/cli.sock" "t['t1']['reconnects']")" 0 "t1 stayed connected through the loss"

python3 - "$T" "$ISO_ROUNDS" >"$T/verdict" <<'PY'
import json, sys
T, rounds = sys.argv[1], int(sys.argv[2])

def mbit(name, i):
    """(up, down) Mbit/s of tunnel i in phase name, as the receivers counted them; 0 when
    iperf3 gave up (t1 under 30 % loss may not even finish its control exchange)."""
    try:
        j = json.load(open("%s/%s.iperf%d.json" % (T, name, i)))
    except ValueError:
        j = {"error": "no JSON output"}
    if "error" in j:
        print("# %s t%d: iperf3: %s" % (name, i, j["error"]))
    e = j.get("end", {})
    return tuple(e.get(k, {}).get("bits_per_second", 0) / 1e6
                 for k in ("sum_received", "sum_received_bidir_reverse"))

def ping(name, i):
    try:
        return float(open("%s/%s.ping%d" % (T, name, i)).read())
    except ValueError:
        return float("nan")

def avg(xs):
    return sum(xs) / len(xs)

R = range(1, rounds + 1)
rows = {}
for i in (1, 2, 3):
    c = [mbit("clean%d" % r, i) for r in R]
    d = [mbit("drop%d" % r, i) for r in R]
    x = dict(up_c=avg([v[0] for v in c]), dn_c=avg([v[1] for v in c]),
             up_d=avg([v[0] for v in d]), dn_d=avg([v[1] for v in d]), idle=ping("idle", i),
             ping_c=avg([ping("clean%d" % r, i) for r in R]),
             ping_d=avg([ping("drop%d" % r, i) for r in R]))
    x["kept"] = (x["up_d"] + x["dn_d"]) / max(x["up_c"] + x["dn_c"], 1e-9)
    rows[i] = x
print("# tunnel           up Mbit/s         down Mbit/s        kept   ping ms")
print("#                  no drop -> drop   no drop -> drop           idle / loaded / +drop")
for i, x in rows.items():
    print("# t%d%s %7.1f -> %6.1f  %7.1f -> %6.1f  %5.1f%%  %5.2f / %6.2f / %6.2f" % (
        i, " (30% drop)" if i == 1 else "           ", x["up_c"], x["up_d"], x["dn_c"],
        x["dn_d"], 100 * x["kept"], x["idle"], x["ping_c"], x["ping_d"]))
print("V kept %.3f" % min(rows[2]["kept"], rows[3]["kept"]))
tot = lambda k: sum(rows[i]["up_" + k] + rows[i]["dn_" + k] for i in (2, 3))
print("V kept_sum %.3f" % (tot("d") / max(tot("c"), 1e-9)))
print("V idle %.2f" % max(rows[i]["ping_d"] - rows[i]["idle"] for i in (2, 3)))
print("V loaded %.2f" % max(rows[i]["ping_d"] - rows[i]["ping_c"] for i in (2, 3)))
print("V t1 %.3f" % rows[1]["kept"])
PY
ok $? "results parsed"
grep '^#' "$T/verdict" | while IFS= read -r l; do diag "${l#\# }"; done
diag "nft on t1 (port $port), round 1: $(grep -o 'packets [0-9]*' "$T/nft1.out" 2>/dev/null |
	awk '{ printf "%s%s", s, $2; s = " + " }') packets dropped"
diag "send-queue drops (queue_full) server: $(lab_q "$T/srv.sock" \
	"' '.join('%s=%d' % (n, t[n]['drops']['queue_full']) for n in ('t1', 't2', 't3'))"),\
 client: $(lab_q "$T/cli.sock" \
	"' '.join('%s=%d' % (n, t[n]['drops']['queue_full']) for n in ('t1', 't2', 't3'))");\
 server listener socket full: $(lab_q "$T/srv.sock" "s['listener']['tx_eagain']")"
v()
{
	awk -v k="$1" '$1 == "V" && $2 == k { print $3 }' "$T/verdict"
}
cmp()
{
	python3 -c "import sys; sys.exit(0 if $1 else 1)"
}

cmp "$(v t1) < 0.9"
ok $? "the drop does hurt t1 itself (it kept $(v t1))"
# Six bidirectional iperf3 flows through two daemons saturate this 2-core machine, so t1's
# collapse under the drop leaves more CPU to t2 and t3 (they usually gain); each is averaged
# over ISO_ROUNDS phases of each kind to smooth how the CPU splits between them.
cmp "$(v kept_sum) >= 0.9"
ok $? "t2 and t3 together keep >= 90 % of their throughput ($(v kept_sum))"
cmp "$(v kept) >= 0.9"
ok $? "each of t2 and t3 keeps >= 90 % (worst: $(v kept))"
cmp "$(v loaded) <= 2"
ok $? "t2/t3 ping under load grows by <= 2 ms when t1 loses packets (+$(v loaded) ms)"
# A tunnel saturated by its own TCP flows would delay its own pings (10-15 ms here with a FIFO
# send queue): flow queuing puts them ahead of the bulk flows in the tunnel's queue, and the
# 0.5 ms delay target keeps the tunnel's own queue on the path (the peer's socket buffer) short.
# docs/benchmarks.md has the steps and what the target costs in throughput on this machine.
cmp "$(v idle) <= 2"
ok $? "t2/t3 ping under load within 2 ms of the unloaded value (+$(v idle) ms)"

ns_alive "$spid" && ns_alive "$cpid"
ok $? "both daemons still running"

done_testing
