#!/usr/bin/env bash
# tools/include-graph: the real tree has no include cycle, no link cycle and no layering
# violation; and the script does catch each of those in small trees made to have one.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=t/lib/tap.sh
. "$here/../lib/tap.sh"
command -v python3 >/dev/null || skip_all "python3 is not installed"
top=${MPQ_TOP:-$(cd "$here/../.." && pwd)}
build=${MPQ_BUILD:-$top/build}
graph="$top/tools/include-graph"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# tree NAME FILE=CONTENT...: a source tree under $T/NAME
tree()
{
	local dir="$T/$1" f
	shift
	for f in "$@"; do
		mkdir -p "$dir/$(dirname "${f%%=*}")"
		printf '%b\n' "${f#*=}" >"$dir/${f%%=*}"
	done
}

# fails NAME WHAT ARGS...: include-graph exits 1 and names WHAT
fails()
{
	local name=$1 what=$2 out rc
	shift 2
	out=$(python3 "$graph" --quiet "$@" 2>&1)
	rc=$?
	[ $rc -eq 1 ] && [[ $out == *"$what"* ]]
	ok $? "$name (exit $rc)" || diag "$out"
}

plan 9

out=$(python3 "$graph" --quiet --root "$top" 2>&1)
ok $? "the source tree has no include cycle and no layering violation" || diag "$out"
out=$(python3 "$graph" --quiet --root "$top" --build "$build" 2>&1)
ok $? "the build's objects have no link cycle ($build)" || diag "$out"
ctl=$(python3 "$graph" --modules --root "$top" | grep '^src/ctl ->')
[[ $ctl != *src/daemon* && $ctl != *src/client* && $ctl != *src/server* ]]
ok $? "the control socket depends on neither the daemon nor the roles: $ctl"

tree clean 'lib/a.h=#include "b.h"' 'lib/b.h=' 'lib/a.c=#include "a.h"' 'src/m.c=#include "a.h"'
out=$(python3 "$graph" --root "$T/clean" 2>&1)
ok $? "a tree without cycles passes" || diag "$out"
like "$out" "src/m.c -> lib/a.h" "the graph names each edge"

tree hcycle 'src/a.h=#include "b.h"' 'src/b.h=#include "a.h"'
fails "two headers that include each other fail" "include cycle (files): src/a.h -> src/b.h" \
	--root "$T/hcycle"
tree mcycle 'src/a.h=' 'src/b.h=' 'src/a.c=#include "a.h"\n#include "b.h"' \
	'src/b.c=#include "b.h"\n#include "a.h"'
fails "two modules that include each other's header fail" "include cycle (modules)" \
	--root "$T/mcycle"
tree layer 'src/d.h=' 'lib/x.c=#include "d.h"'
fails "lib/ including a header of src/ fails" "layering: lib/x.c includes src/d.h" \
	--root "$T/layer"

# The original shape of the control/daemon cycle: ctl.o calls reload() of main.o, main.o
# calls ctl_new() of ctl.o; no header includes the other.
if command -v cc >/dev/null; then
	tree link 'src/ctl.c=int reload(void);\nint ctl_new(void) { return reload(); }' \
		'src/main.c=int ctl_new(void);\nint reload(void) { return 0; }\n'\
'int main(void) { return ctl_new(); }'
	mkdir -p "$T/link/build/src/mpquicd.p"
	cc -c -o "$T/link/build/src/mpquicd.p/ctl.c.o" "$T/link/src/ctl.c" &&
		cc -c -o "$T/link/build/src/mpquicd.p/main.c.o" "$T/link/src/main.c"
	fails "two objects that call each other fail" "link cycle (modules call each other)" \
		--root "$T/link" --build "$T/link/build"
else
	ok 0 "# SKIP no C compiler"
fi

done_testing
