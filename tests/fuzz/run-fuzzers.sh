#!/usr/bin/env bash
# Run each libFuzzer harness of a -Dfuzzing=true build for a set time.
#
#   tests/fuzz/run-fuzzers.sh BUILD_DIR SECONDS [NAME...]    (make fuzz)
#
# NAME: stream-load mapped-ram-load migfile qmp hmp (default: all built).
# Per harness the fuzzer starts from the seeds saved by gen-seeds
# (BUILD_DIR/tests/fuzz/seeds/NAME) and tests/fuzz/corpus/NAME, and keeps
# what it finds in tests/fuzz/corpus-out/NAME (not in git).  A crash
# leaves its input in tests/fuzz/corpus-out/crashes/; turn it into a
# regression test by fixing the bug and adding the file to
# tests/fuzz/corpus/NAME/ (the smoke pass of `make check` runs it).
# Prints one line per harness (executions, coverage) and writes them to
# tests/fuzz/corpus-out/summary.txt; exits 1 if any harness crashed.
set -uo pipefail

build=${1:?usage: run-fuzzers.sh BUILD_DIR SECONDS [NAME...]}
secs=${2:?usage: run-fuzzers.sh BUILD_DIR SECONDS [NAME...]}
shift 2
src=$(cd "$(dirname "$0")" && pwd)
out=$src/corpus-out
mkdir -p "$out/crashes"

all="stream-load mapped-ram-load migfile qmp hmp save-image checkpoint-manifest"
names=${*:-$all}

# Inputs larger than this are cut: the parsers' interesting part is the
# framing, and small inputs mean many more executions.
max_len_of() {
    case $1 in
    mapped-ram-load) echo 32768 ;;
    qmp|hmp|save-image|checkpoint-manifest) echo 8192 ;;
    *) echo 131072 ;;
    esac
}

summary=$out/summary.txt
: >"$summary"
failed=0
for name in $names; do
    bin=$build/tests/fuzz/fuzz-$name
    if [ ! -x "$bin" ]; then
        [ "$name" = save-image ] || echo "run-fuzzers: $bin not built (skipped)"
        continue
    fi
    corpus=$out/$name
    mkdir -p "$corpus"
    seeds=()
    for d in "$build/tests/fuzz/seeds/$name" "$src/corpus/$name"; do
        [ -d "$d" ] && seeds+=("$d")
    done
    dict=()
    [ -f "$src/$name.dict" ] && dict=(-dict="$src/$name.dict")
    [ -f "$src/files.dict" ] && [ "${#dict[@]}" -eq 0 ] &&
        case $name in *load|migfile) dict=(-dict="$src/files.dict") ;; esac
    log=$out/$name.log
    echo "run-fuzzers: $name for ${secs}s (log $log)"
    # A single allocation above 64 MiB from an input of at most 128 KiB
    # means a length from the input was trusted: report it as a crash.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$bin" "$corpus" "${seeds[@]}" "${dict[@]}" \
        -max_total_time="$secs" -max_len="$(max_len_of "$name")" \
        -malloc_limit_mb=64 -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$out/crashes/$name-" -print_final_stats=1 \
        >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
    corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$done_line")
    status=ok
    if [ $rc -ne 0 ]; then
        status="CRASH (rc $rc, see $log and $out/crashes/)"
        failed=1
    fi
    line="$name: ${secs}s, ${execs:-?} execs, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}: $status"
    echo "$line" | tee -a "$summary"
done
exit $failed
