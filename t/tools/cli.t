#!/usr/bin/env bash
# Command-line errors of the programs: a usage error exits 2 with a message naming it, a
# missing file exits 1 naming the file, --version and --help succeed. No root, no network.
set -u
# shellcheck source=t/lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"
: "${MPQ_BUILD:=$(cd "$(dirname "$0")/../.." && pwd)/build}"
D=$MPQ_BUILD/src/mpquicd
C=$MPQ_BUILD/tools/mpquicctl
N=$MPQ_BUILD/classifier/mpquic-nft
P=$MPQ_BUILD/tools/mpquic-probe
for b in "$D" "$C" "$N" "$P"; do [ -x "$b" ] || skip_all "$b not built"; done

plan 16

# expect WANT_STATUS REGEX DESC -- CMD...: exit status and a message on stdout or stderr.
expect()
{
	local want=$1 re=$2 desc=$3 out rc
	shift 4
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" = "$want" ] && [[ $out =~ $re ]]; then
		ok 0 "$desc"
	else
		ok 1 "$desc"
		diag "status $rc (want $want), output: $out"
	fi
}

expect 2 "no configuration file" "mpquicd without -c" -- "$D"
expect 2 "unrecognized option|invalid option" "mpquicd with an unknown option" -- "$D" --bogus
expect 2 "unexpected argument 'extra'" "mpquicd with a stray argument" -- "$D" -c x.json extra
expect 1 "/nonexistent/m.json" "mpquicd -c with a missing file names it" -- "$D" -c /nonexistent/m.json
expect 1 "/nonexistent/m.json" "mpquicd --check-config with a missing file names it" \
	-- "$D" --check-config /nonexistent/m.json
expect 0 "^mpquicd [0-9]" "mpquicd --version" -- "$D" --version
expect 0 "Usage: mpquicd" "mpquicd --help" -- "$D" --help
expect 2 "no command given" "mpquicctl without a command" -- "$C"
expect 2 "unknown command 'frobnicate'" "mpquicctl with an unknown command" -- "$C" frobnicate
expect 2 "--json goes with 'status'" "mpquicctl metrics --json" -- "$C" metrics --json
expect 1 "cannot connect to '/nonexistent/s.sock'.*is mpquicd running" \
	"mpquicctl against a missing socket" -- "$C" -s /nonexistent/s.sock status
expect 2 "[Uu]sage" "mpquic-nft without a command" -- "$N" -c /nonexistent/m.json
expect 1 "/nonexistent/m.json" "mpquic-nft with a missing file names it" \
	-- "$N" -c /nonexistent/m.json print
expect 2 "[Uu]sage" "mpquic-probe without arguments" -- "$P"
expect 2 "bad server address 'nohost'" "mpquic-probe with a bad server address" \
	-- "$P" --server nohost --name x --ca x health
expect 2 "--count must be 1..10000" "mpquic-probe with --count 0" \
	-- "$P" --server 192.0.2.1 --name x --ca x --count 0 health
done_testing
