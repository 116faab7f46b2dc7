# Sphinx configuration for mapmig's documentation (make docs).
#
# The performance plot is drawn at build time by scripts/plot-perf.py from
# the CSV in docs/migration/ into docs/_generated/ (not committed); without
# matplotlib the page shows the tables only.
import os
import re
import subprocess
import sys

_here = os.path.dirname(os.path.abspath(__file__))

project = 'mapmig'
author = 'the mapmig developers'
# The version of meson.build's project().
with open(os.path.join(_here, '..', 'meson.build')) as _f:
    _m = re.search(r"version\s*:\s*'([^']+)'", _f.read())
release = version = _m.group(1) if _m else ''
master_doc = 'index'
exclude_patterns = ['_generated/*.csv', 'man']
html_theme = 'alabaster'
highlight_language = 'none'

# The plot: only when it could be drawn (".. only:: plot").
_out = os.path.join(_here, '_generated', 'perf-second-run.png')
os.makedirs(os.path.dirname(_out), exist_ok=True)
_r = subprocess.run([sys.executable,
                     os.path.join(_here, '..', 'scripts', 'plot-perf.py'),
                     os.path.join(_here, 'migration', 'perf-second-run.csv'),
                     '-o', _out, '--title',
                     'mapmig-perf, 4 GiB guest, second run'],
                    capture_output=True, text=True)
if _r.returncode == 0:
    tags.add('plot')  # noqa: F821 (provided by Sphinx)
else:
    print('docs: no performance plot: ' + _r.stderr.strip(), file=sys.stderr)
