#!/usr/bin/env python3
"""Plot mapmig-perf's CSV (mapmig-perf --csv FILE) as a bar chart.

    scripts/plot-perf.py RESULTS.csv -o PLOT.png [--title TEXT]

One pair of bars per configuration: save and restore MB/s, the median of
its repetitions (rows that failed are left out).  fio's rows, the
baseline of the same directory, are drawn hatched; QEMU's and the
first-touch floor rows as they come.  Needs matplotlib
(Debian: python3-matplotlib); exits 1 with a clear message without it.
"""
import argparse
import csv
import statistics
import sys


def read_rows(path):
    """(kind, configuration) -> {'save': [MB/s...], 'restore': [...]},
    in the order the configurations first appear."""
    rows = {}
    with open(path, newline='') as f:
        lines = [line for line in f if not line.startswith('#')]
    for rec in csv.DictReader(lines):
        if rec.get('error'):
            continue
        key = (rec['kind'], rec['configuration'])
        r = rows.setdefault(key, {'save': [], 'restore': []})
        for col, name in (('save_MBps', 'save'), ('restore_MBps', 'restore')):
            if rec.get(col):
                r[name].append(float(rec[col]))
    return rows


def median(values):
    return statistics.median(values) if values else 0.0


def plot(rows, out, title):
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit('plot-perf: matplotlib is not installed '
                 '(Debian: apt-get install python3-matplotlib)')
    labels = [conf for _, conf in rows]
    save = [median(r['save']) for r in rows.values()]
    restore = [median(r['restore']) for r in rows.values()]
    fio = [kind == 'fio' for kind, _ in rows]
    n = len(labels)
    fig, ax = plt.subplots(figsize=(9, 0.32 * n + 1.2))
    ys = range(n)
    h = 0.4
    for i in ys:
        hatch = '//' if fio[i] else None
        ax.barh(i - h / 2, save[i], h, color='tab:blue', hatch=hatch,
                label='save' if i == 0 else None)
        ax.barh(i + h / 2, restore[i], h, color='tab:orange', hatch=hatch,
                label='restore' if i == 0 else None)
    ax.set_yticks(list(ys))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel('MB/s (median of the repetitions; fio hatched)')
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(axis='x', alpha=0.3)
    ax.legend(loc='lower right', fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('csv', help="mapmig-perf's --csv FILE")
    ap.add_argument('-o', '--output', required=True, help='the PNG to write')
    ap.add_argument('--title', default='', help='a title for the plot')
    args = ap.parse_args()
    try:
        rows = read_rows(args.csv)
    except (OSError, KeyError, ValueError) as e:
        sys.exit(f'plot-perf: {args.csv}: {e}')
    if not rows:
        sys.exit(f'plot-perf: {args.csv}: no successful rows')
    plot(rows, args.output, args.title)
    return 0


if __name__ == '__main__':
    sys.exit(main())
