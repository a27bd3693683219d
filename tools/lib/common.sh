# shellcheck shell=bash
# Shared by tools/check, tools/demo and tools/bench: bootstrap and build.
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/lib/deps.sh
. "$TOP/tools/lib/deps.sh"

say() { printf '==> %s\n' "$*" >&2; }

# build_tree DIR [meson setup options...]: configure (once) and compile with -Werror.
build_tree()
{
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$TOP" --werror -Dtests=enabled "$@" >"$dir.setup.log" 2>&1 ||
			{ cat "$dir.setup.log" >&2; return 1; }
		rm -f "$dir.setup.log"
	fi
	meson compile -C "$dir" >"$dir.compile.log" 2>&1 ||
		{ grep -E 'error|warning|FAILED' "$dir.compile.log" | head -n 60 >&2; return 1; }
	rm -f "$dir.compile.log"
}

bootstrap_and_build()
{
	deps_bootstrap "$TOP"
	say "building (build/)"
	build_tree "$TOP/build"
}
