#!/usr/bin/env python3
"""An example management client: save a mapmig VM to a mapped-ram file
with multifd and restore it into a new VM, over QMP, the way a management
tool (libvirt) does it.  Plain sockets and json, no extra packages.

    scripts/mapmig-client.py --mapmig build/mapmig --file /var/tmp/vm.mig
    scripts/mapmig-client.py --mapmig build/mapmig --qmp /tmp/vm.sock \\
        --file /var/tmp/vm.mig --channels 4 --poll

Without --qmp it starts the source VM itself (--mem, --workload).  The
steps, each one QMP command:

  source       stop (as virsh save: each page is written once)
               migrate-set-capabilities (events, mapped-ram, multifd)
               migrate-set-parameters (multifd-channels)
               migrate {"uri": "file:FILE"}, then wait for the MIGRATION
               event "completed" (or, with --poll, poll query-migrate)
               x-query-ram-digest: what was saved
  destination  mapmig ... -S -incoming defer (the same options)
               the same capabilities and parameters
               migrate-incoming {"uri": "file:FILE"}, wait as above, then
               query-status until the run state leaves "inmigrate"
               x-query-ram-digest: must equal the source's; then cont
               if the source was running

Exit status: 0 the restored RAM is the saved RAM, 1 otherwise, 2 usage.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

TIMEOUT = 60.0


class QMPError(Exception):
    pass


class QMP:
    """A QMP connection: commands and the events that come between."""

    def __init__(self, path, connect_timeout=TIMEOUT):
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise QMPError(f'cannot connect to {path}')
                time.sleep(0.05)
        self.sock.settimeout(TIMEOUT)
        self.buf = b''
        self.events = []
        greeting = self._read()
        if 'QMP' not in greeting:
            raise QMPError(f'{path}: not a QMP greeting: {greeting}')
        self.cmd('qmp_capabilities')

    def _read(self):
        while b'\n' not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise QMPError('the VM closed the connection')
            self.buf += data
        line, self.buf = self.buf.split(b'\n', 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {'execute': name}
        if args:
            msg['arguments'] = args
        self.sock.sendall(json.dumps(msg).encode() + b'\n')
        while True:
            r = self._read()
            if 'event' in r:
                self.events.append(r)
            elif 'error' in r:
                raise QMPError(f'{name}: {r["error"]["desc"]}')
            elif 'return' in r:
                return r['return']

    def wait_event(self, name, timeout):
        """The next event @name, or None after @timeout seconds."""
        for i, e in enumerate(self.events):
            if e['event'] == name:
                return self.events.pop(i)
        self.sock.settimeout(timeout)
        try:
            while True:
                r = self._read()
                if r.get('event') == name:
                    return r
                if 'event' in r:
                    self.events.append(r)
        except socket.timeout:
            return None
        finally:
            self.sock.settimeout(TIMEOUT)

    def close(self):
        self.sock.close()


def wait_migration(qmp, poll):
    """Wait for a final migration status; raise unless 'completed'."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if poll:
            status = qmp.cmd('query-migrate').get('status')
            time.sleep(0.05)
        else:
            ev = qmp.wait_event('MIGRATION', 1.0)
            status = ev['data']['status'] if ev else None
        if status == 'completed':
            return
        if status in ('failed', 'cancelled'):
            info = qmp.cmd('query-migrate')
            raise QMPError(f'migration {status}: '
                           f'{info.get("error-desc", "no reason given")}')
    raise QMPError(f'migration did not complete in {TIMEOUT:.0f} s')


def wait_loaded(qmp):
    """After "completed" the destination still finishes the load in its
    main loop; "cont" is refused until the run state leaves inmigrate."""
    deadline = time.monotonic() + TIMEOUT
    while qmp.cmd('query-status')['status'] == 'inmigrate':
        if time.monotonic() > deadline:
            raise QMPError('the VM stays in state inmigrate')
        time.sleep(0.02)


def setup_migration(qmp, channels):
    caps = [{'capability': c, 'state': True}
            for c in ('events', 'mapped-ram', 'multifd')]
    qmp.cmd('migrate-set-capabilities', capabilities=caps)
    qmp.cmd('migrate-set-parameters', **{'multifd-channels': channels})


class VM:
    """A mapmig process we started, with its QMP socket."""

    def __init__(self, binary, args, sock):
        self.sock = sock
        self.proc = subprocess.Popen(
            [binary] + args +
            ['-qmp', f'unix:{sock},server=on,wait=off', '-serial', 'none'],
            stdin=subprocess.DEVNULL)
        try:
            self.qmp = QMP(sock)
        except QMPError:
            self.kill()
            raise

    def quit(self):
        try:
            self.qmp.cmd('quit')
        except (QMPError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self):
        self.proc.kill()
        self.proc.wait()


def log(msg):
    print(f'mapmig-client: {msg}', flush=True)


def run(a, tmp):
    uri = f'file:{a.file}'
    vm_args = ['-m', a.mem, '-workload', a.workload]
    src_vm = None
    dst = None
    try:
        if a.qmp:
            src = QMP(a.qmp, connect_timeout=2.0)
            log(f'connected to {a.qmp}')
        else:
            src_vm = VM(a.mapmig, vm_args, os.path.join(tmp, 'src.sock'))
            src = src_vm.qmp
            log(f'started source VM (pid {src_vm.proc.pid})')
            time.sleep(a.run_ms / 1000)

        was_running = src.cmd('query-status')['running']
        src.cmd('stop')
        setup_migration(src, a.channels)
        t0 = time.monotonic()
        src.cmd('migrate', uri=uri)
        wait_migration(src, a.poll)
        log(f'saved to {a.file} in {time.monotonic() - t0:.2f} s '
            f'(mapped-ram, {a.channels} channel(s))')
        want = src.cmd('x-query-ram-digest')

        dst = VM(a.mapmig, vm_args + ['-S', '-incoming', 'defer'],
                 os.path.join(tmp, 'dst.sock'))
        setup_migration(dst.qmp, a.channels)
        t0 = time.monotonic()
        dst.qmp.cmd('migrate-incoming', uri=uri)
        wait_migration(dst.qmp, a.poll)
        wait_loaded(dst.qmp)
        log(f'restored into a new VM (pid {dst.proc.pid}) in '
            f'{time.monotonic() - t0:.2f} s')
        got = dst.qmp.cmd('x-query-ram-digest')
        if got != want:
            log('RAM digests differ:')
            log(f'  saved:    {json.dumps(want)}')
            log(f'  restored: {json.dumps(got)}')
            return 1
        log(f'RAM digests match ({len(got)} blocks)')
        if was_running:
            dst.qmp.cmd('cont')
        status = dst.qmp.cmd('query-status')['status']
        log(f'the restored VM is {status}')
        return 0
    except (QMPError, OSError) as e:
        log(f'error: {e}')
        return 1
    finally:
        if dst:
            dst.quit()
        if src_vm:
            src_vm.quit()


def main():
    ap = argparse.ArgumentParser(
        description='Save a mapmig VM to a mapped-ram file and restore it.')
    ap.add_argument('--mapmig', default='mapmig', help='the mapmig binary')
    ap.add_argument('--qmp', help="an existing VM's QMP socket (default: "
                    'start one)')
    ap.add_argument('--file', required=True, help='the migration file')
    ap.add_argument('--channels', type=int, default=4,
                    help='multifd channels (default 4)')
    ap.add_argument('--mem', default='64M',
                    help='guest RAM of the VMs (default 64M; as the source)')
    ap.add_argument('--workload', default='stress',
                    help='guest workload of the VMs (default stress)')
    ap.add_argument('--run-ms', type=int, default=200,
                    help='let a started source run this long first')
    ap.add_argument('--poll', action='store_true',
                    help='poll query-migrate instead of waiting for events')
    a = ap.parse_args()
    if shutil.which(a.mapmig) is None:
        ap.error(f'{a.mapmig}: not found')
    if not 1 <= a.channels <= 255:
        ap.error('--channels must be 1..255')
    with tempfile.TemporaryDirectory(prefix='mapmig-client-') as tmp:
        return run(a, tmp)


if __name__ == '__main__':
    sys.exit(main())
