#!/bin/bash
# What compression and the layouts cost mapmig-ctl: save one stopped
# source VM in each configuration and restore it, with the page cache
# dropped before each step (needs root for that; skipped otherwise).
#
#   scripts/mapmig-ctl-cost.sh [MEM] [WORKLOAD] [SECONDS] [DIR]
#
# The source runs WORKLOAD for SECONDS, is stopped, then every row saves
# the same RAM (mapmig-ctl save --keep-vm).  Prints a table; the numbers
# in docs/tools/mapmig-ctl.rst come from it.
set -e
MEM=${1:-1G}
WL=${2:-stress,share=50}
SECS=${3:-6}
DIR=${4:-/var/tmp}
B=$(cd "$(dirname "$0")/.." && pwd)/build
D=$(mktemp -d "$DIR/mapmig-ctl-cost.XXXXXX")
VM=
trap '[ -n "$VM" ] && kill "$VM" 2>/dev/null; rm -rf "$D"' EXIT

qmp() {
    python3 - "$1" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for c in ["qmp_capabilities", sys.argv[2]]:
    f.write(json.dumps({"execute": c}) + "\n")
    f.flush()
    while "event" in json.loads(f.readline()):
        pass
PY
}
drop_caches() {
    sync
    echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# "U+S" of bash's time: CPU seconds of mapmig-ctl (compression is there).
cpu() { awk -v e="$1" 'BEGIN { split(e, p, "+"); printf "%.2f", p[1] + p[2] }'; }

"$B/mapmig" -m "$MEM" -workload "$WL" -serial none \
    -qmp "unix:$D/src.sock,server=on,wait=off" &
VM=$!
sleep "$SECS"
qmp "$D/src.sock" stop
printf "%-44s | %6s | %8s | %7s | %9s | %7s | %7s\n" configuration \
    "save s" "of which" "ctl CPU" "restore s" "ctl CPU" "on disk"
printf "%-44s | %6s | %8s | %7s | %9s | %7s | %7s\n" "" "" "compress" "s" "" \
    "s" ""
for opts in "--layout stream" \
            "--layout stream --compress zstd" \
            "--layout stream --compress zstd --compress-level 3" \
            "--layout stream --bypass-cache" \
            "--layout mapped" \
            "--layout mapped --parallel-channels 4" \
            "--layout mapped --parallel-channels 4 --bypass-cache" \
            "--layout mapped --compress zstd" \
            "--layout mapped --compress zstd --compress-level 3"; do
    rm -f "$D/img"
    drop_caches
    t0=$(now)
    cpu_save=$( { TIMEFORMAT=%U+%S; time "$B/tools/mapmig-ctl" save \
        --qmp "$D/src.sock" "$D/img" --keep-vm $opts > "$D/out"; } 2>&1 )
    t1=$(now)
    out=$(cat "$D/out")
    comp=$(echo "$out" | sed -n 's/.*compression \([0-9.]*\) s.*/\1/p')
    ropts=""
    case "$opts" in *bypass*) ropts="--bypass-cache" ;; esac
    drop_caches
    t2=$(now)
    cpu_restore=$( { TIMEFORMAT=%U+%S; time "$B/tools/mapmig-ctl" restore \
        "$D/img" --qmp "$D/dst.sock" --paused -q $ropts > "$D/out"; } 2>&1 )
    t3=$(now)
    sock=$(cat "$D/out")
    qmp "$sock" quit
    printf "%-44s | %6s | %8s | %7s | %9s | %7s | %7s\n" "${opts#--layout }" \
        "$(secs "$t0" "$t1")" "${comp:--}" "$(cpu "$cpu_save")" \
        "$(secs "$t2" "$t3")" "$(cpu "$cpu_restore")" \
        "$(du -h "$D/img" | cut -f1)"
done
qmp "$D/src.sock" quit
wait "$VM"
VM=
