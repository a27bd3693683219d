#!/usr/bin/env bash
# Every shell script of the project passes shellcheck at severity warning: errors and
# warnings fail, info and style findings are advice and do not. Skipped when the tool is
# missing. For the full advice run `shellcheck -x FILE` from the top of the tree.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=t/lib/tap.sh
. "$here/../lib/tap.sh"
: "${MPQ_TOP:=$(cd "$here/../.." && pwd)}"
command -v shellcheck >/dev/null || skip_all "shellcheck is not installed"
cd "$MPQ_TOP" || bail_out "cannot cd to $MPQ_TOP"

scripts=()
for f in tools/* tools/lib/*.sh t/lib/*.sh t/fuzz/*.sh t/*/*.t; do
	[ -f "$f" ] || continue
	case $f in
	*.sh | *.t) scripts+=("$f") ;;
	*) head -n 1 "$f" | grep -q 'bash' && scripts+=("$f") ;;
	esac
done
[ ${#scripts[@]} -gt 0 ] || bail_out "no scripts found under $MPQ_TOP"

for f in "${scripts[@]}"; do
	run_ok "shellcheck $f" shellcheck -x -S warning "$f"
done
done_testing
