#!/usr/bin/env bash
# sd_notify(3) without systemd: a fake $NOTIFY_SOCKET (a Python AF_UNIX datagram listener)
# records what mpquicd (server role) sends. READY=1 only once the UDP listener, the TUN device
# and the control socket exist; WATCHDOG=1 repeatedly at WATCHDOG_USEC/2; RELOADING=1 then
# READY=1 on SIGHUP; STOPPING=1 on SIGTERM; no WATCHDOG=1 when WATCHDOG_PID names another
# process; an abstract socket name ("@...") works too.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init

# The listener runs inside the server's namespace so that, the moment a READY=1 arrives, it can
# look at that namespace's TUN devices and UDP sockets. One line per datagram:
#   <monotonic time> <tun 0|1> <udp 0|1> <ctl socket 0|1> <message with newlines as '|'>
cat >"$T/notify.py" <<'PY'
import os, socket, sys, time
path, out, tun, port, ctl = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + path[1:] if path.startswith("@") else path)
def udp_listening():
    for f in ("/proc/self/net/udp", "/proc/self/net/udp6"):
        with open(f) as fh:
            next(fh)
            for line in fh:
                if int(line.split()[1].rsplit(":", 1)[1], 16) == port:
                    return 1
    return 0
with open(out, "a", buffering=1) as log:
    log.write("listening\n")
    while True:
        msg = s.recv(4096).decode(errors="replace")
        t = int(os.path.exists("/sys/class/net/" + tun))
        log.write("%.3f %d %d %d %s\n" % (time.monotonic(), t, udp_listening(),
                  int(os.path.exists(ctl)), msg.replace("\n", "|")))
PY

# notify_start NAME SOCKET: start a listener writing $T/NAME.notify; waits until it listens.
notify_start()
{
	ns_bg srv "$T/$1.listener.log" python3 "$T/notify.py" "$2" "$T/$1.notify" mpqs0 \
		"$LAB_PORT" "$T/srv.sock"
	wait_until 5 grep -q listening "$T/$1.notify"
}

# count NAME MESSAGE: how many datagrams of NAME were exactly MESSAGE
count()
{
	awk -v m="$2" '$5 == m' "$T/$1.notify" | wc -l
}

plan 17

lab_server_conf "$T/server.json"

# 1. The lifecycle, with the watchdog at 1 s (a ping every 0.5 s). A shorter period would
# prove no more and measure the CI machine's scheduler: a 2-core machine shared by several
# jobs can hold a process off the CPU for a few hundred milliseconds.
notify_start a "$T/notify-a.sock" >/dev/null || bail_out "notify listener did not start"
spid=$(ns_bg srv "$T/server-a.log" env NOTIFY_SOCKET="$T/notify-a.sock" \
	WATCHDOG_USEC=1000000 "$MPQUICD" -c "$T/server.json" --foreground)
wait_until 10 grep -q 'READY=1' "$T/a.notify"
ok $? "READY=1 arrives"
ready=$(awk '$5 == "READY=1" { print $2, $3, $4; exit }' "$T/a.notify")
is "$ready" "1 1 1" "at READY=1 the TUN, the UDP listener and the control socket exist"
is "$(awk '$5 != "READY=1" && $5 != "WATCHDOG=1" && $1 != "listening"' "$T/a.notify")" "" \
	"nothing but READY=1 and WATCHDOG=1 so far"
# WATCHDOG=1 never comes before READY=1.
first=$(awk '$5 == "READY=1" || $5 == "WATCHDOG=1" { print $5; exit }' "$T/a.notify")
is "$first" "READY=1" "READY=1 is the first message"
sleep 3
n=$(count a WATCHDOG=1)
# The median gap tells half of WATCHDOG_USEC (0.5 s) from all of it (1 s) even if one ping
# came late; the largest gap must stay under WATCHDOG_USEC, which is what systemd enforces.
read -r median gaps <<<"$(python3 -c '
import sys
t = [float(l.split()[0]) for l in open(sys.argv[1]) if l.split()[4:5] == ["WATCHDOG=1"]]
g = sorted(b - a for a, b in zip(t, t[1:])) or [9]
print("%.3f %.3f" % (g[(len(g) - 1) // 2], g[-1]))' "$T/a.notify")"
ok "$([ "$n" -ge 4 ] && echo 0 || echo 1)" "WATCHDOG=1 repeats ($n in ~3 s)"
ok "$(python3 -c "print(0 if 0.35 <= $median <= 0.75 else 1)")" \
	"at WATCHDOG_USEC/2: median gap $median s"
ok "$(python3 -c "print(0 if $gaps < 1.0 else 1)")" \
	"no gap between pings reaches WATCHDOG_USEC (max $gaps s)"

kill -HUP "$spid"
wait_until 5 sh -c "awk '\$5 == \"RELOADING=1\" { r = 1 } r && \$5 == \"READY=1\" { f = 1 }
	END { exit !f }' '$T/a.notify'"
ok $? "SIGHUP: RELOADING=1, then READY=1"
is "$(count a RELOADING=1) $(count a READY=1)" "1 2" "exactly one RELOADING=1 and one more READY=1"
wait_until 3 grep -q "configuration unchanged" "$T/server-a.log"
ok $? "the daemon logs the unchanged configuration"

before=$(count a WATCHDOG=1)
# shellcheck disable=SC2016 # expanded by the inner shell
wait_until 3 sh -c '[ "$(awk "\$5 == \"WATCHDOG=1\"" "$1" | wc -l)" -gt "$2" ]' sh "$T/a.notify" \
	"$before"
ok $? "WATCHDOG=1 continues after the reload"

kill -TERM "$spid"
wait_until 5 grep -q 'STOPPING=1' "$T/a.notify"
ok $? "SIGTERM: STOPPING=1"
wait_until 5 sh -c "! kill -0 $spid 2>/dev/null"
ok $? "the daemon exits after STOPPING=1"

# 2. WATCHDOG_PID names another process (PID 1): the pings are not ours to send.
notify_start b "$T/notify-b.sock" >/dev/null || bail_out "notify listener did not start"
spid=$(ns_bg srv "$T/server-b.log" env NOTIFY_SOCKET="$T/notify-b.sock" \
	WATCHDOG_USEC=200000 WATCHDOG_PID=1 "$MPQUICD" -c "$T/server.json" --foreground)
wait_until 10 grep -q 'READY=1' "$T/b.notify"
ok $? "READY=1 with WATCHDOG_PID of another process"
sleep 1
is "$(count b WATCHDOG=1)" 0 "no WATCHDOG=1 when WATCHDOG_PID is not the daemon's PID"
ns_stop "$spid"

# 3. WATCHDOG_PID is the daemon's own PID (sh execs it), over an abstract socket name.
notify_start c "@mpq-notify-$$" >/dev/null || bail_out "notify listener did not start"
# shellcheck disable=SC2016 # $$ is the inner shell's PID, which exec hands to mpquicd
spid=$(ns_bg srv "$T/server-c.log" sh -c 'WATCHDOG_PID=$$ exec "$@"' sh \
	env NOTIFY_SOCKET="@mpq-notify-$$" WATCHDOG_USEC=200000 \
	"$MPQUICD" -c "$T/server.json" --foreground)
wait_until 10 grep -q 'READY=1' "$T/c.notify"
ok $? "READY=1 over an abstract NOTIFY_SOCKET"
# shellcheck disable=SC2016 # expanded by the inner shell
wait_until 5 sh -c '[ "$(awk "\$5 == \"WATCHDOG=1\"" "$1" | wc -l)" -ge 3 ]' sh "$T/c.notify"
ok $? "WATCHDOG=1 when WATCHDOG_PID is the daemon's own PID ($(count c WATCHDOG=1))"
ns_stop "$spid"

done_testing
