#!/usr/bin/env python3
"""The man pages and the bash completion agree with the programs' --help.

    check-tools-docs.py SRCDIR PROGRAM=BINARY...

For each program: every option its --help names is in its man page
(docs/man/PROGRAM.rst) and offered by its completion function
(scripts/completion/mapmig.bash); every option the man page names is one
--help knows.  Then a few completions are run in bash.  TAP output.
"""
import os
import re
import subprocess
import sys

OPT = re.compile(r'(?<![\w$/-])(--?[A-Za-z][\w-]*)')
OPT_AFTER_SLASH = re.compile(r'/(--?[A-Za-z][\w-]*)')
# Options a --help mentions in passing (another program's), or a man page
# names as an alias.
MENTIONED = {'mapmig-perf': {'-M'}, 'mapmig': {'-machine'}}
FUNCS = {'mapmig': '_mapmig', 'mapmig-ctl': '_mapmig_ctl',
         'mapmig-img': '_mapmig_img', 'mapmig-perf': '_mapmig_perf'}

results = []


def check(ok, what):
    results.append((ok, what))


def help_options(binary):
    out = subprocess.run([binary, '--help'], capture_output=True, text=True,
                         check=True).stdout
    return set(OPT.findall(out)) | set(OPT_AFTER_SLASH.findall(out))


def man_options(text):
    return set(re.findall(r'``(--?[A-Za-z][\w-]*)', text))


def function_body(text, func):
    m = re.search(r'^' + re.escape(func) + r'\(\)\n\{\n(.*?)^\}$', text,
                  re.M | re.S)
    return m.group(1) if m else ''


def complete(src, words):
    """COMPREPLY for the command line @words (the last one is completed)."""
    prog = words[0]
    script = (f'source {src}; COMP_WORDS=({" ".join(words)}); '
              f'COMP_CWORD={len(words) - 1}; {FUNCS[prog]}; '
              'printf "%s\\n" "${COMPREPLY[@]}"')
    out = subprocess.run(['bash', '-c', script], capture_output=True,
                         text=True).stdout
    return set(out.split())


def main():
    src = sys.argv[1]
    completion = os.path.join(src, 'scripts', 'completion', 'mapmig.bash')
    comp_text = open(completion).read()
    for arg in sys.argv[2:]:
        prog, binary = arg.split('=', 1)
        opts = help_options(binary) - MENTIONED.get(prog, set())
        man = open(os.path.join(src, 'docs', 'man', prog + '.rst')).read()
        documented = man_options(man)
        body = function_body(comp_text, FUNCS[prog])
        offered = set(re.findall(r'(?<![\w-])(--?[A-Za-z][\w-]*)', body))
        for o in sorted(opts):
            check(o in documented, f'{prog}: {o} is in its man page')
            check(o in offered, f'{prog}: {o} is completed')
        for o in sorted(documented - opts - MENTIONED.get(prog, set())):
            check(False, f'{prog}: man page names {o}, --help does not')
    cases = [
        (['mapmig-ctl', 'sa'], {'save'}),
        (['mapmig-ctl', 'save', '--la'], {'--layout'}),
        (['mapmig-ctl', 'restore', '--la'], {'--lazy'}),
        (['mapmig-ctl', 'ch'], {'checkpoint'}),
        (['mapmig-ctl', 'checkpoint', '--in'], {'--interval'}),
        (['mapmig-ctl', 'checkpoint', '--la'], set()),
        (['mapmig-ctl', 'checkpoint', '--auto-converge-i'],
         {'--auto-converge-initial', '--auto-converge-increment'}),
        (['mapmig-ctl', 'restore', '--auto'], set()),
        (['mapmig-ctl', 'save', '--output', ''], {'human', 'json'}),
        (['mapmig-img', 'c'], {'check', 'convert'}),
        (['mapmig-img', 'convert', 'f', '-O', ''], {'stream', 'mapped-ram'}),
        (['mapmig-perf', '--engine', 'io'], {'io-uring'}),
        (['mapmig', '-work'], {'-workload'}),
    ]
    for words, want in cases:
        quoted = [w if w else "''" for w in words]
        got = complete(completion, quoted)
        check(got == want, f'completing {" ".join(words)!r} offers '
                           f'{sorted(want)} (got {sorted(got)})')
    print(f'1..{len(results)}')
    for i, (ok, what) in enumerate(results, 1):
        print(f'{"ok" if ok else "not ok"} {i} {what}')
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == '__main__':
    sys.exit(main())
