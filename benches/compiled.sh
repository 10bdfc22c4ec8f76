#!/usr/bin/env bash
# The compiled model against the if/else baseline and the interpreter, with
# criterion (benches/predict.rs), on two models:
#
#   approved  models/approved.forest, 100 trees (the build's default model)
#   large     500 trees, depth up to 20, fitted here on synthetic baskets
#             (cached under target/bench-large; the if/else baseline is left
#             out unless LARGE_BASELINE=1: its build is what does not scale)
#
# For each model it first measures the release build of the `forest` crate
# (wall time and peak memory of the largest process) as a server builds it
# (default features: no baseline, no embedded artifact) and with the
# bench's features (`baseline` and `interpreter`), then runs the bench
# and prints single-row latency, batch rows/s on one core and the ratios,
# all from the same run. Criterion's own output goes to criterion/ in the
# cargo target directory.
#
# Usage: benches/compiled.sh [approved|large|all]   (default: all)
# Environment: MEASURE (criterion seconds per bench, default 5),
# LARGE_BASELINE, CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

which=${1:-all}
case "$which" in
    approved | large | all) ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown model set: $which (approved, large or all)" >&2; exit 2 ;;
esac
MEASURE=${MEASURE:-5}
target=${CARGO_TARGET_DIR:-target}

# Cargo features of the forest crate for a run with the if/else baseline
# on or off (the interpreter is always embedded: it is the reference).
features() {
    if [ "$1" = on ]; then echo baseline,interpreter; else echo interpreter; fi
}

# Wall time and peak memory of rebuilding the forest crate for one model:
# as a server builds it (default features: the walk only), then with the
# bench's features.
build_cost() {
    local model=$1 baseline=$2
    for set in "" "$(features "$baseline")"; do
        touch "$model"
        FOREST_MODEL="$model" /usr/bin/time -f '%e %M' -o "$target/build-cost" \
            cargo build --release -p forest --quiet ${set:+--features "$set"}
        read -r secs kib < "$target/build-cost"
        printf 'build of the forest crate (release, features [%s]): %s s, peak %s MiB\n' \
            "${set:-default}" "$secs" "$((kib / 1024))"
    done
}

bench() {
    local model=$1 baseline=$2
    printf '\n== %s\n' "$model"
    build_cost "$model" "$baseline"
    FOREST_MODEL="$model" cargo bench --bench predict --quiet --features "$(features "$baseline")" -- \
        --warm-up-time 2 --measurement-time "$MEASURE" > "$target/bench-predict.log"
    python3 - "$target/criterion" "$target/bench-predict.log" <<'EOF'
import json, pathlib, re, sys
root = pathlib.Path(sys.argv[1])
log = pathlib.Path(sys.argv[2]).read_text()
groups = sorted(set(re.findall(r"^(single_row|batch|basket_\w+)/(\S+?)/", log, re.M)))
model = groups[0][1] if groups else "?"

def median_ns(group, engine):
    hits = list((root / f"{group}_{model}").glob(f"{engine}/**/new/estimates.json"))
    if not hits:
        return None
    return json.loads(hits[0].read_text())["median"]["point_estimate"]

print(f"model {model}")
single = {e: median_ns("single_row", e) for e in ("compiled", "if_else", "interpreter")}
batch = {e: median_ns("batch", e) for e in ("compiled", "if_else", "interpreter")}
print(f"{'engine':<12} {'single row':>12} {'vs compiled':>12} {'batch rows/s/core':>18}")
for e in ("compiled", "if_else", "interpreter"):
    if single[e] is None:
        print(f"{e:<12} {'not built':>12}")
        continue
    rows_s = 1024 / (batch[e] * 1e-9) if batch[e] else float("nan")
    print(f"{e:<12} {single[e]:>9.0f} ns {single[e] / single['compiled']:>11.2f}x {rows_s:>18,.0f}")
for case, what in (("catalogue", "baskets of the model's catalogue, 8 lines, varying"),
                   ("fixed", "benches/serve_basket.json (real-week codes)")):
    basket = {e: median_ns(f"basket_{case}", e)
              for e in ("compiled", "compiled_features_only", "interpreter")}
    if basket["compiled"]:
        print(f"one basket, features included, {what}: compiled {basket['compiled']:.0f} ns "
              f"(features alone {basket['compiled_features_only']:.0f} ns), "
              f"interpreter {basket['interpreter']:.0f} ns ({basket['interpreter'] / basket['compiled']:.2f}x)")
EOF
}

if [ "$which" != large ]; then
    bench "$PWD/models/approved.forest" on
fi

if [ "$which" != approved ]; then
    large=$target/bench-large
    if [ ! -f "$large/large.forest" ]; then
        printf '\n== fitting the large forest (500 trees, depth <= 20) into %s\n' "$large"
        cargo build --release -p forest-train --quiet
        rm -rf "$large" && mkdir -p "$large"
        "$target/release/forest-train" synth --out "$large/raw" --weeks 13 --baskets-per-week 4000 --seed 1
        "$target/release/forest-train" etl --raw "$large/raw" --lake "$large/lake" --seed 1
        "$target/release/forest-train" fit --data "$large/lake/gold" --split train --trees 500 \
            --max-depth 20 --seed 1 --out "$large/large.forest"
    fi
    if [ "${LARGE_BASELINE:-0}" = 1 ]; then baseline=on; else baseline=off; fi
    bench "$(cd "$large" && pwd)/large.forest" "$baseline"
fi
