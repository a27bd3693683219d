#!/usr/bin/env bash
# The generated units under a real systemd, with every hardening directive in force: a private
# systemd instance boots as PID 1 of new PID, mount, cgroup, UTS and IPC namespaces inside the
# client's network namespace, runs mpquic-nft.service and mpquicd.service (client role) against
# a server in the lab, and must report them active: READY=1 after the tunnel's TUN exists,
# the tunnel up and carrying pings, reload, the capabilities limited, and stop removing the
# nftables table. Only ExecStart/ExecStop's paths are changed (a drop-in: copies of the built
# binaries and a config under /run); [Unit] gets DefaultDependencies=no because the private instance has no
# sysinit.target. Skipped when that systemd cannot boot here.
set -u
# shellcheck source=t/lib/lab.sh
. "$(dirname "$0")/../lib/lab.sh"
lab_init
netns_require_cmd unshare nsenter nft
SYSTEMD=/lib/systemd/systemd
[ -x "$SYSTEMD" ] || skip_all "systemd is not installed"
units=(mpquicd.service mpquic-nft.service)
for u in "${units[@]}"; do
	[ -f "$MPQ_BUILD/systemd/$u" ] || bail_out "$MPQ_BUILD/systemd/$u was not generated"
done

SD=$T/sd # what the private instance gets: units, drop-ins, config, certificates
CG=mpq-sd-$NETNS_SUFFIX
sd_pid=

# The instance's cgroups live under a child of ours, made in every hierarchy it moves itself
# in (listed in $SD/cgroups) and removed at exit; its processes die with it (SIGKILL to a PID
# namespace's init kills them all).
sd_cleanup()
{
	local d
	if [ -n "$sd_pid" ]; then
		kill -KILL "$sd_pid" 2>/dev/null
		wait_until 5 sh -c "! kill -0 $sd_pid 2>/dev/null"
	fi
	[ -f "$SD/cgroups" ] || return 0
	while read -r d; do
		[[ $d == /sys/fs/cgroup/*/"$CG" ]] || [[ $d == /sys/fs/cgroup/"$CG" ]] || continue
		wait_until 3 sh -c "! find '$d' -name cgroup.procs -exec cat {} + | grep -q ."
		find "$d" -depth -type d -exec rmdir {} + 2>/dev/null ||
			diag "could not remove cgroup $d"
	done <"$SD/cgroups"
}

netns_at_exit()
{
	if [ "${_tap_failed:-0}" -gt 0 ] && [ -n "$sd_pid" ]; then
		diag "$(sd systemctl status --no-pager mpquicd.service mpquic-nft.service 2>&1 | tail -n 40)"
		diag "$(sd journalctl --no-pager -n 40 2>&1)"
	fi
	sd_cleanup
	if [ "${_tap_failed:-0}" -gt 0 ]; then
		for f in "$T"/*.log; do
			diag "--- $f"
			tail -n 20 "$f" | while IFS= read -r l; do diag "$l"; done
		done
	fi
}

# sd CMD...: run CMD in the private instance's mount and PID namespaces (systemctl etc.)
sd()
{
	nsenter -t "$sd_pid" -m -p -n "$@"
}

mkdir -p "$SD/units" "$SD/etc"
cp "$T/certs/ca.crt" "$T/certs/edge1.crt" "$T/certs/edge1.key" "$SD/etc/"
# The binaries go to /run too: the build tree may be under /tmp or a home directory, which the
# unit's PrivateTmp= and ProtectHome= hide (CI clones the repository wherever it likes).
cp "$MPQUICD" "$SD/etc/mpquicd"
cp "$MPQUIC_NFT" "$SD/etc/mpquic-nft"
lab_server_conf "$T/server.json"
lab_client_conf "$SD/etc/mpquicd.json" "
c['control_socket'] = '/run/mpquic/mpquicd.sock'
c['tls'] = {'ca': '/run/mpq-sd/ca.crt', 'cert': '/run/mpq-sd/edge1.crt',
            'key': '/run/mpq-sd/edge1.key'}
c['tunnels'][0]['class'] = 'default'
c['classes'] = [{'name': 'default', 'default': True, 'tunnels': ['t1']}]
c['classifier'] = {'table': 'mpqsd', 'set_sysctls': True}"
# strict reverse-path filtering without src_valid_mark: set_sysctls must fix it from the unit
ns_exec cli sysctl -qw net.ipv4.conf.all.rp_filter=1
ns_exec cli sysctl -qw net.ipv4.conf.all.src_valid_mark=0
cp "$MPQ_BUILD/systemd/mpquicd.service" "$MPQ_BUILD/systemd/mpquic-nft.service" "$SD/units/"
printf '[Unit]\nDescription=mpquic test target\n' >"$SD/units/mpq-test.target"
conf=/run/mpq-sd/mpquicd.json
mkdir -p "$SD/units/mpquicd.service.d" "$SD/units/mpquic-nft.service.d"
cat >"$SD/units/mpquicd.service.d/test.conf" <<EOF
[Unit]
DefaultDependencies=no
[Service]
ExecStart=
ExecStart=/run/mpq-sd/mpquicd -c $conf --foreground
EOF
# A sanitizer build (tools/check's second pass) keeps its options; LeakSanitizer needs
# ptrace, which the unit's system call filter rightly refuses, so leaks are checked elsewhere.
if [ -n "${ASAN_OPTIONS:-}" ] || lab_sanitized; then
	for u in "${units[@]}"; do
		printf '[Service]\nEnvironment="ASAN_OPTIONS=%s:detect_leaks=0"\n' \
			"${ASAN_OPTIONS:-abort_on_error=1}" >"$SD/units/$u.d/asan.conf"
	done
fi
cat >"$SD/units/mpquic-nft.service.d/test.conf" <<EOF
[Unit]
DefaultDependencies=no
[Service]
ExecStart=
ExecStart=/run/mpq-sd/mpquic-nft -c $conf apply
ExecStop=
ExecStop=/run/mpq-sd/mpquic-nft -c $conf delete
EOF

# Runs as PID 1 of the new namespaces: private /run, cgroup file systems rooted at our
# cgroup namespace, only our units, then systemd.
cat >"$SD/init.sh" <<'EOF'
#!/bin/bash
set -e
sd=$1
mount --make-rprivate /
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/mpq-sd && cp "$sd"/etc/* /run/mpq-sd/
mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
if grep -q ':name=systemd:' /proc/self/cgroup; then # hybrid hierarchy, as on the host
	mkdir /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup/devices
	mount -t cgroup2 none /sys/fs/cgroup/unified
	mount -t cgroup -o none,name=systemd none /sys/fs/cgroup/systemd
	mount -t cgroup -o devices none /sys/fs/cgroup/devices
else
	mount -t cgroup2 none /sys/fs/cgroup
fi
for d in /etc/systemd/system /lib/systemd/system /run/systemd/system; do
	mkdir -p "$d" && mount -t tmpfs tmpfs "$d"
done
cp -r "$sd"/units/* /etc/systemd/system/
exec env container=mpq-test "$2" --system --unit=mpq-test.target --log-target=console
EOF
chmod +x "$SD/init.sh"

# Enter a fresh child cgroup in each hierarchy systemd uses (seen from the host: inside
# `ip netns exec` /sys is remounted and hides them), then the client's network namespace and
# new namespaces with the cgroup namespace rooted at those children.
launch()
{
	local ctrl path dir cgroups
	cgroups=$(cat /proc/self/cgroup) # a snapshot: moving changes what the file says
	while IFS=: read -r _ ctrl path; do
		case $ctrl in
		"") dir=/sys/fs/cgroup/unified; [ -d $dir ] || dir=/sys/fs/cgroup ;;
		name=systemd) dir=/sys/fs/cgroup/systemd ;;
		pids | memory | devices) dir=/sys/fs/cgroup/$ctrl ;;
		*) continue ;;
		esac
		dir=$dir${path%/}
		[ -f "$dir/cgroup.procs" ] || continue
		mkdir "$dir/$CG" && echo "$dir/$CG" >>"$SD/cgroups" &&
			echo "$BASHPID" >"$dir/$CG/cgroup.procs" || return 1
	done <<<"$cgroups"
	exec nsenter --net="/run/netns/$(ns_name cli)" unshare --pid --fork --mount --uts --ipc \
		--cgroup --mount-proc "$SD/init.sh" "$SD" "$SYSTEMD"
}

lab_start srv "$T/server.json" "$T/server.log" >/dev/null
wait_until 5 ns_listening srv udp "$LAB_PORT" || bail_out "server did not start"

launch >"$T/systemd.log" 2>&1 &
upid=$!
# systemd is the child of unshare (upid): its PID in our namespace
sd_ready()
{
	sd_pid=$(pgrep -P "$upid" -x systemd) && [ -n "$sd_pid" ] &&
		sd systemctl is-active mpq-test.target >/dev/null 2>&1
}
wait_until 15 sd_ready || skip_all "a private systemd does not boot here: $(tail -n 3 "$T/systemd.log" | tr '\n' ' ')"
plan 17

sd systemctl start mpquic-nft.service >"$T/nft-start.log" 2>&1
ok $? "mpquic-nft.service starts"
ns_exec cli nft list table inet mpqsd >/dev/null 2>&1
ok $? "its nftables table exists"
is "$(ns_exec cli sysctl -n net.ipv4.conf.all.src_valid_mark)" 1 \
	"set_sysctls: the hardened unit may set src_valid_mark (ReadWritePaths)"
ns_exec cli sysctl -qw net.ipv4.conf.all.rp_filter=0
sd systemctl start mpquicd.service >"$T/start.log" 2>&1
ok $? "mpquicd.service starts (Type=notify: READY=1 received)"
is "$(sd systemctl is-active mpquicd.service)" active "mpquicd.service is active"
sd_tunnel_up()
{
	sd "$MPQUICCTL" -s /run/mpquic/mpquicd.sock status --json 2>/dev/null |
		grep -q '"state": "up"'
}
wait_until 15 sd_tunnel_up
ok $? "tunnel t1 comes up under the hardened unit (control socket in /run/mpquic)"
lab_routes mpqc1
ns_ping cli 10.200.0.1
ok $? "ping through the tunnel"
mainpid=$(sd systemctl show -P MainPID mpquicd.service)
caps=$(sd cat "/proc/$mainpid/status" | sed -n 's/^CapEff:\t//p')
is "$caps" 0000000000003400 "effective capabilities: CAP_NET_ADMIN, CAP_NET_BIND_SERVICE, CAP_NET_RAW only"
is "$(sd stat -c '%a' /run/mpquic)" 750 "RuntimeDirectory /run/mpquic is 0750"
is "$(sd sed -n 's/^\(NoNewPrivs\|Seccomp\):\t//p' "/proc/$mainpid/status" | tr '\n' ' ')" "1 2 " \
	"no_new_privs set and a seccomp filter in force"
sd awk '$5 == "/" { print $6 }' "/proc/$mainpid/mountinfo" | grep -q '^ro'
ok $? "the root file system is read-only for the daemon (ProtectSystem=strict)"
devs=$(sd cat /sys/fs/cgroup/devices/system.slice/mpquicd.service/devices.list 2>/dev/null ||
	echo "c 10:200 rw")  # cgroup v2: a BPF filter, not listed
# DevicePolicy=closed: the pseudo devices (null, zero, full, random, urandom, tty, ptmx, pts;
# 0:0 is a placeholder systemd writes on cgroup v1)
# and DeviceAllow's /dev/net/tun, nothing else.
is "$(grep -Ev '^[bc] (0:0|1:[35789]|5:[02]|136:\*) rwm?$' <<<"$devs")" "c 10:200 rw" \
	"the device cgroup allows /dev/net/tun (10:200) and the pseudo devices only"
sd systemctl reload mpquicd.service >"$T/reload.log" 2>&1
ok $? "systemctl reload (SIGHUP, RELOADING=1 ... READY=1) succeeds"
is "$(sd systemctl is-active mpquicd.service)" active "still active after the reload"
ns_ping cli 10.200.0.1
ok $? "ping through the tunnel after the reload"
sd systemctl stop mpquicd.service mpquic-nft.service
ok $? "both units stop"
ns_exec cli nft list table inet mpqsd >/dev/null 2>&1
ok "$([ $? -ne 0 ] && echo 0 || echo 1)" "mpquic-nft.service's stop removed the table"

done_testing
