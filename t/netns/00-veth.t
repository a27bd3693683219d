#!/usr/bin/env bash
# Two namespaces joined by a veth pair with IPv4 and IPv6 addresses: the harness itself works.
set -u
# shellcheck source=t/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
netns_require_root
netns_require_cmd ping ss

plan 9

ns_new a
ok $? "namespace $(ns_name a) created"
ns_new b
ok $? "namespace $(ns_name b) created"
veth_pair a veth0 192.0.2.1/24,2001:db8::1/64 b veth0 192.0.2.2/24,2001:db8::2/64
ok $? "veth pair with IPv4 and IPv6 addresses"

ns_ping a 192.0.2.2
ok $? "ping a -> b over IPv4"
ns_ping b 192.0.2.1
ok $? "ping b -> a over IPv4"
ns_ping a 2001:db8::2
ok $? "ping a -> b over IPv6"
ns_ping b 2001:db8::1
ok $? "ping b -> a over IPv6"

# A background process inside b, visible from its namespace and stoppable.
pid=$(ns_bg b "$T/sleep.log" sleep 1000)
wait_until 2 ns_alive "$pid"
ok $? "ns_bg started a process inside b"
ns_stop "$pid"
! ns_alive "$pid"
ok $? "ns_stop stopped it"

done_testing
