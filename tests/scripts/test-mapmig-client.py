#!/usr/bin/env python3
"""scripts/mapmig-client.py against the built mapmig (TAP).

    test-mapmig-client.py SRCDIR MAPMIG

1. It starts the source itself and waits for MIGRATION events.
2. It connects to a running VM's QMP socket and polls query-migrate; the
   VM stays saved (paused, postmigrate) and keeps its socket.
3. A socket nobody serves: exit 1 with one clear line.
Each run must leave no process and no file but the migration file.
"""
import os
import subprocess
import sys
import tempfile
import time

results = []


def check(ok, what, detail=''):
    results.append((ok, what))
    if not ok and detail:
        for line in detail.splitlines():
            print(f'# {line}')


def client(src, mapmig, *args):
    return subprocess.run(
        [sys.executable, os.path.join(src, 'scripts', 'mapmig-client.py'),
         '--mapmig', mapmig, *args],
        capture_output=True, text=True, timeout=120)


def main():
    src, mapmig = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory(prefix='test-mapmig-client-') as tmp:
        mig = os.path.join(tmp, 'vm.mig')

        r = client(src, mapmig, '--file', mig, '--workload', 'ab',
                   '--channels', '4')
        check(r.returncode == 0 and 'RAM digests match' in r.stdout,
              'started source, events: restored RAM equals saved RAM',
              r.stdout + r.stderr)
        check('the restored VM is running' in r.stdout,
              'the restored VM runs, as the source did', r.stdout)
        check(sorted(os.listdir(tmp)) == ['vm.mig'],
              'nothing left but the migration file', str(os.listdir(tmp)))

        sock = os.path.join(tmp, 'vm.sock')
        vm = subprocess.Popen([mapmig, '-m', '32M', '-workload', 'stress',
                               '-serial', 'none', '-qmp',
                               f'unix:{sock},server=on,wait=off'],
                              stdin=subprocess.DEVNULL)
        try:
            for _ in range(200):
                if os.path.exists(sock):
                    break
                time.sleep(0.05)
            r = client(src, mapmig, '--qmp', sock, '--file', mig, '--mem',
                       '32M', '--workload', 'stress', '--channels', '2',
                       '--poll')
            check(r.returncode == 0 and 'RAM digests match' in r.stdout,
                  '--qmp, polling: restored RAM equals saved RAM',
                  r.stdout + r.stderr)
            check(vm.poll() is None, 'the source VM is left to its owner')
        finally:
            vm.kill()
            vm.wait()

        r = client(src, mapmig, '--qmp', os.path.join(tmp, 'nobody.sock'),
                   '--file', mig)
        check(r.returncode == 1 and 'error: cannot connect' in r.stdout,
              'a socket nobody serves: exit 1, one error line',
              r.stdout + r.stderr)
    print(f'1..{len(results)}')
    for i, (ok, what) in enumerate(results, 1):
        print(f'{"ok" if ok else "not ok"} {i} {what}')
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == '__main__':
    sys.exit(main())
