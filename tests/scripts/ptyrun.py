"""Run a program on a pseudo-terminal (for the progress-line tests)."""

import os
import pty


def run_on_pty(argv):
    """Run @argv with stdout and stderr on a pseudo-terminal; its output
    and exit status."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    out = b''
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return out.decode(errors='replace'), os.waitstatus_to_exitcode(status)
