#!/usr/bin/env python3
"""Summarise meson's test log as one line: "N passed, N failed[, N skipped]".

Usage: scripts/test-summary.py [build/meson-logs/testlog.json]

testlog.json holds one JSON object per line, one per test executable, with
"result" (OK, FAIL, SKIP, EXPECTEDFAIL, UNEXPECTEDPASS, TIMEOUT, ERROR) and
"stdout".  For TAP tests the subtests are counted from the "ok N" / "not ok
N" lines of stdout (a "# SKIP" directive counts as skipped, "# TODO" as an
expected failure or unexpected pass); a test whose result is a failure
(crash, time-out, bad exit code) always adds at least one failure even if all
the subtests it printed passed.  Tests without TAP lines count once by their
result.

Exit status: 0 when nothing failed and at least one test ran, 1 otherwise.
"""
import json
import re
import sys

TAP_LINE = re.compile(r'^(not ok|ok)\b(?:\s+\d+)?([^#]*)(?:#\s*(\w+))?',
                      re.IGNORECASE)
BAD = {'FAIL', 'TIMEOUT', 'ERROR', 'UNEXPECTEDPASS'}


def count_tap(stdout):
    passed = failed = skipped = 0
    for line in stdout.splitlines():
        m = TAP_LINE.match(line)
        if not m:
            continue
        ok = m.group(1).lower() == 'ok'
        directive = (m.group(3) or '').upper()
        if directive == 'SKIP':
            skipped += 1
        elif directive == 'TODO':
            # Expected failure when "not ok", unexpected pass when "ok".
            if ok:
                failed += 1
            else:
                passed += 1
        elif ok:
            passed += 1
        else:
            failed += 1
    return passed, failed, skipped


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else 'build/meson-logs/testlog.json'
    passed = failed = skipped = 0
    try:
        f = open(path, encoding='utf-8', errors='replace')
    except OSError as e:
        print(f'test-summary: cannot read {path}: {e.strerror}',
              file=sys.stderr)
        print('0 passed, 1 failed')
        return 1
    with f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                print(f'test-summary: {path}:{lineno}: not JSON',
                      file=sys.stderr)
                failed += 1
                continue
            result = str(entry.get('result', 'ERROR')).upper()
            name = entry.get('name', '?')
            p, fl, s = count_tap(entry.get('stdout') or '')
            if p + fl + s == 0:
                if result in ('OK', 'EXPECTEDFAIL'):
                    p = 1
                elif result == 'SKIP':
                    s = 1
                else:
                    fl = 1
            elif result in BAD and fl == 0:
                fl = 1
            if result in BAD:
                print(f'test-summary: {name}: {result}', file=sys.stderr)
            passed += p
            failed += fl
            skipped += s
    line = f'{passed} passed, {failed} failed'
    if skipped:
        line += f', {skipped} skipped'
    print(line)
    return 0 if failed == 0 and passed + skipped > 0 else 1


if __name__ == '__main__':
    sys.exit(main())
