#!/usr/bin/env bash
# Every shell script of the project passes shellcheck (skipped when shellcheck is missing).
# SC1091 is off: a `. "$(dirname "$0")/..."` without a source= annotation cannot be followed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=t/lib/tap.sh
. "$here/../lib/tap.sh"
: "${MPQ_TOP:=$(cd "$here/../.." && pwd)}"
command -v shellcheck >/dev/null || skip_all "shellcheck is not installed"
cd "$MPQ_TOP" || bail_out "cannot cd to $MPQ_TOP"

scripts=()
for f in tools/* tools/lib/*.sh t/lib/*.sh t/*/*.t; do
	[ -f "$f" ] || continue
	case $f in
	*.sh | *.t) scripts+=("$f") ;;
	*) head -n 1 "$f" | grep -q 'bash' && scripts+=("$f") ;;
	esac
done
[ ${#scripts[@]} -gt 0 ] || bail_out "no scripts found under $MPQ_TOP"

for f in "${scripts[@]}"; do
	run_ok "shellcheck $f" shellcheck -x -e SC1091 "$f"
done
done_testing
