#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) each, on a copy of its
# committed seeds (so the run does not grow fuzz/corpus/), with the nightly
# toolchain and cargo-fuzz (installed when missing). A crash fails the run;
# libFuzzer leaves the input under fuzz/artifacts/TARGET/: fix the bug, then
# keep the input as fuzz/regressions/TARGET/<name> so the regression test
# replays it.
#
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in "${targets[@]}"; do
    mkdir -p "$work/$target"
    cp -r "fuzz/corpus/$target/." "$work/$target/"
    if [ -d "fuzz/regressions/$target" ]; then
        cp -r "fuzz/regressions/$target/." "$work/$target/"
    fi
    echo "== fuzz $target for ${seconds}s"
    status=0
    (cd fuzz && cargo +nightly fuzz run "$target" "$work/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1) \
        >"$work/$target.log" 2>&1 || status=$?
    grep -E '^(stat::number_of_executed_units|stat::new_units_added|SUMMARY|thread .* panicked|Test unit written)' \
        "$work/$target.log" || true
    if [ "$status" -ne 0 ]; then
        tail -40 "$work/$target.log" >&2
        echo "fuzz target $target failed (status $status); see fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
