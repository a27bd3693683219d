#!/usr/bin/env bash
# t/lib/promcheck.py, the Prometheus text-format validator used by the netns tests: it accepts
# valid exposition text and rejects each kind of mistake it is meant to catch.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=t/lib/tap.sh
. "$here/../lib/tap.sh"
command -v python3 >/dev/null || skip_all "python3 is not installed"
check="$here/../lib/promcheck.py"

good()
{
	local out
	out=$(printf '%b' "$2" | python3 "$check" 2>&1)
	ok $? "accepts: $1" || diag "$out"
}

bad()
{
	local out
	out=$(printf '%b' "$2" | python3 "$check" 2>&1)
	[ $? -eq 1 ] && [[ $out == *"$3"* ]]
	ok $? "rejects: $1" || diag "$out"
}

good "counter with HELP, TYPE and labels" \
	'# HELP a_total Things.\n# TYPE a_total counter\na_total{x="1",y="a\\\\b\\"c\\nd"} 3\na_total{x="2"} 4.5e3\n'
good "gauge without labels, NaN, Inf, timestamp" \
	'# TYPE g gauge\ng NaN\n# TYPE h gauge\nh{} +Inf 1700000000000\n'
good "histogram suffixes belong to their family" \
	'# TYPE d histogram\nd_bucket{le="1"} 1\nd_bucket{le="+Inf"} 2\nd_sum 3\nd_count 2\n'
good "other comments are ignored" '# just a comment\n# TYPE g gauge\ng 1\n'
bad "a sample without TYPE" '# TYPE g gauge\ng 1\nh 2\n' "sample 'h' has no TYPE"
bad "a bad metric name" '# TYPE g gauge\n1g 1\n' "not a sample"
bad "a bad label name" '# TYPE g gauge\ng{1x="a"} 1\n' "bad label name"
bad "an unquoted label value" '# TYPE g gauge\ng{x=a} 1\n' "expected '=\"'"
bad "a bad escape" '# TYPE g gauge\ng{x="\\t"} 1\n' "bad escape"
bad "an unterminated label value" '# TYPE g gauge\ng{x="a} 1\n' "unterminated"
bad "a value that is not a float" '# TYPE g gauge\ng 1,5\n' "bad value"
bad "an unknown type" '# TYPE g meter\ng 1\n' "bad type"
bad "TYPE after the first sample" '# TYPE g gauge\ng 1\nh 1\n# TYPE h gauge\n' "after its first sample"
bad "a second TYPE" '# TYPE g gauge\n# TYPE g counter\ng 1\n' "second TYPE"
bad "a family split in two" '# TYPE g gauge\n# TYPE h gauge\ng 1\nh 1\ng{a="b"} 2\n' "not contiguous"
bad "a duplicate series" '# TYPE g gauge\ng{a="1"} 1\ng{a="1"} 2\n' "given twice"
bad "no final newline" '# TYPE g gauge\ng 1' "newline"
done_testing
