#!/usr/bin/env python3
"""Validate Prometheus text exposition format (version 0.0.4) read from a file or stdin.

    promcheck.py [FILE]

Checks: every line is a sample, a `# HELP`, a `# TYPE` or another comment; metric and label
names match the format's regexes; label values are quoted with only \\\\, \\" and \\n escapes;
values are floats (NaN, +Inf, -Inf allowed) with an optional integer timestamp; every sample's
family has exactly one TYPE (and at most one HELP), given before its first sample; a family's
lines are contiguous; no series appears twice; the text ends with a newline.

Exit 0 and "N samples in M families" on stdout when valid, else exit 1 with one error per
line on stderr ("line N: ..."). Only the Python standard library is used.
"""
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|Inf|NaN)")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


def parse_labels(s, pos, err):
    """Parse '{a="x",b="y"}' starting at s[pos] == '{'; return (labels, end) or None."""
    labels = {}
    pos += 1
    while True:
        if pos < len(s) and s[pos] == "}":
            return labels, pos + 1
        m = LABEL.match(s, pos)
        if not m:
            err("bad label name at column %d" % (pos + 1))
            return None
        name = m.group(0)
        if name.startswith("__"):
            err("label name '%s' is reserved" % name)
            return None
        pos = m.end()
        if s[pos:pos + 2] != '="':
            err("expected '=\"' after label '%s'" % name)
            return None
        pos += 2
        value = []
        while True:
            if pos >= len(s):
                err("unterminated value of label '%s'" % name)
                return None
            c = s[pos]
            if c == "\\":
                nxt = s[pos + 1:pos + 2]
                if nxt not in ("\\", '"', "n"):
                    err("bad escape '\\%s' in label '%s'" % (nxt, name))
                    return None
                value.append({"n": "\n"}.get(nxt, nxt))
                pos += 2
            elif c == '"':
                pos += 1
                break
            else:
                value.append(c)
                pos += 1
        if name in labels:
            err("label '%s' given twice" % name)
            return None
        labels[name] = "".join(value)
        if pos < len(s) and s[pos] == ",":
            pos += 1
        elif pos < len(s) and s[pos] == "}":
            continue
        else:
            err("expected ',' or '}' after label '%s'" % name)
            return None


def family_of(name, types):
    """The family a sample name belongs to (histogram/summary samples carry suffixes)."""
    if name in types:
        return name
    for fam, typ in types.items():
        for sfx in SUFFIXES.get(typ, ()):
            if name == fam + sfx:
                return fam
    return name


def check(text):
    errors = []
    types, helps, seen_series, done_families = {}, {}, set(), set()
    current = None
    samples = 0
    if text and not text.endswith("\n"):
        errors.append("the text does not end with a newline")
    for n, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else
                             text.split("\n"), 1):
        def err(msg, n=n):
            errors.append("line %d: %s" % (n, msg))

        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 3 or not NAME.fullmatch(parts[2]):
                    err("%s without a valid metric name" % parts[1])
                    continue
                fam = parts[2]
                if fam in done_families:
                    err("%s for '%s' after its samples ended" % (parts[1], fam))
                if parts[1] == "TYPE":
                    if len(parts) < 4 or parts[3] not in TYPES:
                        err("bad type for '%s'" % fam)
                    elif fam in types:
                        err("second TYPE for '%s'" % fam)
                    elif any(family_of(s[0], {fam: parts[3]}) == fam for s in seen_series):
                        err("TYPE for '%s' after its first sample" % fam)
                    else:
                        types[fam] = parts[3]
                else:
                    if fam in helps:
                        err("second HELP for '%s'" % fam)
                    helps[fam] = parts[3] if len(parts) > 3 else ""
                if current is not None and current != fam:
                    done_families.add(current)
                current = fam
            continue
        m = NAME.match(line)
        if not m:
            err("not a sample, HELP, TYPE or comment: %r" % line[:80])
            continue
        name = m.group(0)
        pos = m.end()
        labels = {}
        if pos < len(line) and line[pos] == "{":
            r = parse_labels(line, pos, err)
            if r is None:
                continue
            labels, pos = r
        rest = line[pos:]
        if not rest.startswith(" "):
            err("expected a space before the value of '%s'" % name)
            continue
        fields = rest.split()
        if not 1 <= len(fields) <= 2 or not FLOAT.fullmatch(fields[0]) or (
                len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1])):
            err("bad value or timestamp for '%s': %r" % (name, rest.strip()))
            continue
        fam = family_of(name, types)
        if fam not in types:
            err("sample '%s' has no TYPE" % name)
        if fam in done_families:
            err("samples of '%s' are not contiguous" % fam)
        if current is not None and current != fam:
            done_families.add(current)
        current = fam
        key = (name, tuple(sorted(labels.items())))
        if key in seen_series:
            err("series %s%s given twice" % (name, labels or ""))
        seen_series.add(key)
        samples += 1
    return errors, samples, len(types)


def main():
    text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
    errors, samples, families = check(text)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 1
    print("%d samples in %d families" % (samples, families))
    return 0


if __name__ == "__main__":
    sys.exit(main())
