#!/usr/bin/env python3
"""mapmig-img convert and extract show a progress line on a terminal only
(TAP).  The input is a QEMU 7.2 stream from the fuzz corpus."""

import os
import subprocess
import sys
import tempfile

from ptyrun import run_on_pty


def main():
    src, img = sys.argv[1:3]
    inp = os.path.join(src, 'tests', 'fuzz', 'corpus', 'migfile',
                       'qemu72-none-16M')
    cases = [('convert', ['convert', inp, '-O', 'mapped-ram']),
             ('extract', ['extract', inp, '--block', 'ram', '-o'])]
    print('1..%d' % (2 * len(cases)))
    n = 0
    with tempfile.TemporaryDirectory(prefix='test-img-progress-') as tmp:
        for what, args in cases:
            out_tty = os.path.join(tmp, what + '-tty')
            out_pipe = os.path.join(tmp, what + '-pipe')
            text, rc = run_on_pty([img] + args + [out_tty])
            n += 1
            ok = rc == 0 and ('\r%s: ' % what) in text
            print('%s %d - %s: progress line on a terminal' %
                  ('ok' if ok else 'not ok', n, what))
            if not ok:
                print('# rc %d, output %r' % (rc, text[-300:]))
            r = subprocess.run([img] + args + [out_pipe], capture_output=True,
                               text=True)
            n += 1
            ok = r.returncode == 0 and '\r' not in r.stderr + r.stdout
            print('%s %d - %s: none without one' %
                  ('ok' if ok else 'not ok', n, what))
            with open(out_tty, 'rb') as a, open(out_pipe, 'rb') as b:
                if a.read() != b.read():
                    print('# %s: outputs differ' % what)
                    return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
