#!/usr/bin/env python3
"""mapmig-perf's progress line and scripts/plot-perf.py (TAP).

    test-perf-plot.py SRCDIR MAPMIG-PERF MAPMIG

A tiny mapmig-perf run (64 MiB, the stream and one mapped-ram row, one
repetition) on a pseudo-terminal draws its progress line on stderr; the
same run into a pipe draws none.  Its --csv file is then plotted by
scripts/plot-perf.py into a PNG (skipped without matplotlib).
"""
import os
import shutil
import subprocess
import sys
import tempfile

from ptyrun import run_on_pty

results = []


def check(ok, what, detail=''):
    results.append((ok, what, None))
    if not ok and detail:
        for line in detail.splitlines()[-20:]:
            print(f'# {line}')


def skip(what, why):
    results.append((True, what, why))


def perf_args(perf, mapmig, tmp, csv):
    return [perf, '--mem', '64M', '--layout', 'all', '--channels', '2',
            '--repeat', '1', '--no-fio', '--no-floor', '--no-drop-caches',
            '--dir', tmp, '--mapmig', mapmig, '--csv', csv]


def python_with_matplotlib():
    for py in (sys.executable, shutil.which('python3'), '/usr/bin/python3'):
        if py and subprocess.run([py, '-c', 'import matplotlib'],
                                 capture_output=True).returncode == 0:
            return py
    return None


def main():
    src, perf, mapmig = sys.argv[1:4]
    with tempfile.TemporaryDirectory(prefix='test-perf-plot-') as tmp:
        csv = os.path.join(tmp, 'tty.csv')
        out, rc = run_on_pty(perf_args(perf, mapmig, tmp, csv))
        check(rc == 0, 'mapmig-perf on a terminal exits 0', out)
        check('\r\033[K  [mapped-ram' in out,
              'it draws a progress line for the row it runs', out)

        csv2 = os.path.join(tmp, 'pipe.csv')
        r = subprocess.run(perf_args(perf, mapmig, tmp, csv2),
                           capture_output=True, text=True, timeout=300)
        check(r.returncode == 0, 'mapmig-perf into a pipe exits 0', r.stderr)
        check('\033[K' not in r.stderr, 'and draws no progress line',
              r.stderr)

        png = os.path.join(tmp, 'plot.png')
        py = python_with_matplotlib()
        if not py:
            skip('plot-perf.py draws the CSV', 'no matplotlib')
        else:
            r = subprocess.run([py, os.path.join(src, 'scripts',
                                                 'plot-perf.py'),
                                csv, '-o', png, '--title', 'test'],
                               capture_output=True, text=True)
            ok = r.returncode == 0 and os.path.exists(png)
            if ok:
                with open(png, 'rb') as f:
                    ok = f.read(8) == b'\x89PNG\r\n\x1a\n'
            check(ok, 'plot-perf.py draws the CSV into a PNG', r.stderr)
        bad = os.path.join(tmp, 'bad.csv')
        with open(bad, 'w') as f:
            f.write('repetition,kind,configuration,error\n')
        r = subprocess.run([py or sys.executable,
                            os.path.join(src, 'scripts', 'plot-perf.py'),
                            bad, '-o', png], capture_output=True, text=True)
        check(r.returncode == 1 and 'no successful rows' in r.stderr,
              'a CSV without results: exit 1, one clear line', r.stderr)
    print(f'1..{len(results)}')
    for i, (ok, what, why) in enumerate(results, 1):
        print(f'{"ok" if ok else "not ok"} {i} {what}'
              + (f' # SKIP {why}' if why else ''))
    return 0 if all(ok for ok, _, _ in results) else 1


if __name__ == '__main__':
    sys.exit(main())
