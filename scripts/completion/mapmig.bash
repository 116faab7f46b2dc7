# bash completion for mapmig, mapmig-ctl, mapmig-img and mapmig-perf.
# Installed as .../bash-completion/completions/mapmig (the other names are
# links to it).  The option lists follow each program's --help; the
# 'scripts' test suite checks that they still do.

_mapmig()
{
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    local opts="-m -M -object -smp -accel -S -name -qmp -monitor -serial
        -chardev -mon -qtest -incoming -workload -display -nographic
        -nodefaults -no-user-config -daemonize -D -pidfile --version --help"

    case "$prev" in
    -M) COMPREPLY=($(compgen -W "mini none help" -- "$cur")); return ;;
    -accel) COMPREPLY=($(compgen -W "kvm soft kvm:soft help" -- "$cur")); return ;;
    -workload) COMPREPLY=($(compgen -W "idle stress ab" -- "$cur")); return ;;
    -display) COMPREPLY=($(compgen -W "none" -- "$cur")); return ;;
    -incoming) COMPREPLY=($(compgen -W "defer file: unix: tcp: fd:" -- "$cur")); return ;;
    -D|-pidfile) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    -m|-smp|-name|-qmp|-monitor|-serial|-chardev|-mon|-qtest|-object)
        return ;;
    esac
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}

_mapmig_ctl()
{
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    local common="--parallel-channels --bypass-cache --running --paused
        --output -q --quiet -h --help --version"
    local converge="--auto-converge --auto-converge-initial
        --auto-converge-increment"
    local save="--qmp --layout --compress --compress-level --live --keep-vm
        --max-bandwidth $converge $common"
    local restore="--qmp --lazy --mapmig --generation $common"
    local checkpoint="--qmp --interval --count --parallel-channels
        --bypass-cache --max-bandwidth $converge --output -q --quiet -h
        --help --version"

    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "save restore checkpoint --help --version" \
            -- "$cur"))
        return
    fi
    case "$prev" in
    --layout) COMPREPLY=($(compgen -W "mapped stream" -- "$cur")); return ;;
    --compress) COMPREPLY=($(compgen -W "none zstd" -- "$cur")); return ;;
    --output) COMPREPLY=($(compgen -W "human json" -- "$cur")); return ;;
    --qmp|--mapmig) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --parallel-channels|--compress-level|--max-bandwidth) return ;;
    --interval|--count|--generation) return ;;
    --auto-converge-initial|--auto-converge-increment) return ;;
    esac
    if [[ "$cur" == -* ]]; then
        case "${COMP_WORDS[1]}" in
        save) COMPREPLY=($(compgen -W "$save" -- "$cur")) ;;
        restore) COMPREPLY=($(compgen -W "$restore" -- "$cur")) ;;
        checkpoint) COMPREPLY=($(compgen -W "$checkpoint" -- "$cur")) ;;
        esac
        return
    fi
    COMPREPLY=($(compgen -f -- "$cur"))
}

_mapmig_img()
{
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"

    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "info check extract convert -h --help
            --version" -- "$cur"))
        return
    fi
    case "$prev" in
    --output) COMPREPLY=($(compgen -W "human json" -- "$cur")); return ;;
    -O) COMPREPLY=($(compgen -W "stream mapped-ram" -- "$cur")); return ;;
    -o) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --offset|--block) return ;;
    esac
    if [[ "$cur" == -* ]]; then
        local opts="--offset"
        case "${COMP_WORDS[1]}" in
        info) opts="$opts --output" ;;
        extract) opts="$opts --block -o" ;;
        convert) opts="$opts -O" ;;
        esac
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    COMPREPLY=($(compgen -f -- "$cur"))
}

_mapmig_perf()
{
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    local opts="--mem --dirty --dir --channels --direct-io --engine --repeat
        --layout --live --rate --smp --accel --mapmig --no-fio --no-verify
        --quick --lazy --qemu --qemu-binary --populate --no-floor
        --no-drop-caches --checkpoints --interval --csv -h --help --version"

    case "$prev" in
    --engine) COMPREPLY=($(compgen -W "psync io-uring libaio all" -- "$cur")); return ;;
    --layout) COMPREPLY=($(compgen -W "stream mapped all" -- "$cur")); return ;;
    --accel) COMPREPLY=($(compgen -W "soft kvm" -- "$cur")); return ;;
    --dir) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --mapmig|--qemu-binary|--csv) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --mem|--dirty|--channels|--repeat|--rate|--smp|--checkpoints|--interval) return ;;
    esac
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}

complete -F _mapmig mapmig
complete -F _mapmig_ctl mapmig-ctl
complete -F _mapmig_img mapmig-img
complete -F _mapmig_perf mapmig-perf
