#!/usr/bin/env bash
# Drift and a shadow model, end to end on one machine: serve the approved
# model (compiled in) with a candidate as its shadow, replay a new week of
# the same synthetic world, then a week whose basket sizes have shifted,
# and print the PSI per feature (GET /drift) and the shadow's agreement
# (/metrics) after each.
#
# The candidate is fitted here on the approved model's own training data
# (models/README.md's recipe) with another seed and 50 trees: a model that
# mostly agrees. The week "like training" is shop week 200611 of seed 0
# (the approved model trained on 200607..200610); the shifted week is
# 200612 with `synth --size-mix 5,15,80` (mostly large baskets, against the
# world's 35,40,25).
#
# Environment: WORK (default target/drift-demo), ADDR (default
# 127.0.0.1:8090), PROFILE (cargo profile, default release), BATCH
# (baskets per request, default 20), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."

case "${1:-}" in
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    "") ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac

WORK=${WORK:-target/drift-demo}
ADDR=${ADDR:-127.0.0.1:8090}
PROFILE=${PROFILE:-release}
BATCH=${BATCH:-20}
profile_dir=$PROFILE
if [ "$PROFILE" = dev ]; then profile_dir=debug; fi
bin_dir=${CARGO_TARGET_DIR:-target}/$profile_dir

step() { printf '\n== %s\n' "$*"; }

step "build forest-train and forest-serve ($PROFILE)"
cargo build --profile "$PROFILE" -p forest-train --no-default-features
cargo build --profile "$PROFILE" -p forest-serve --bin forest-serve
train=$PWD/$bin_dir/forest-train
serve=$PWD/$bin_dir/forest-serve

step "the approved model's training data, and a candidate fitted on it (seed 1, 50 trees)"
rm -rf "$WORK" && mkdir -p "$WORK"
(
    cd "$WORK"
    "$train" synth --out raw --weeks 4 --baskets-per-week 1000 --seed 0 2>/dev/null
    "$train" etl --raw raw --lake lake --seed 0 >/dev/null 2>&1
    "$train" fit --data lake/gold --split train --out candidate.forest --seed 1 --trees 50 --max-depth 12 2>&1 | tail -1
    "$train" synth --out like --weeks 1 --first-week 200611 --baskets-per-week 2000 --seed 0 2>/dev/null
    "$train" synth --out shifted --weeks 1 --first-week 200612 --baskets-per-week 2000 --seed 0 \
        --size-mix 5,15,80 2>/dev/null
    "$train" requests --raw like/transactions_200611.csv --out like.jsonl --batch "$BATCH"
    "$train" requests --raw shifted/transactions_200612.csv --out shifted.jsonl --batch "$BATCH"
)

step "serve the approved model with the candidate as a shadow on every request"
"$serve" --addr "$ADDR" --emf-interval-secs 0 --log-level warn \
    --drift-window 2000 --shadow "$WORK/candidate.forest" --shadow-rate 1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fs -o /dev/null "http://$ADDR/health" && break
    sleep 0.1
done

send() {
    while read -r body; do
        curl -fs -o /dev/null -H 'Content-Type: application/json' --data-binary "$body" \
            "http://$ADDR/predict"
    done <"$1"
}

report() {
    # The shadow works off the response path: let it finish its queue.
    sleep 1
    python3 deploy/scripts/drift_report.py "$ADDR" "$WORK/shadow.counts"
}

step "a new week like the training data"
send "$WORK/like.jsonl"
report

step "a week with mostly large baskets (synth --size-mix 5,15,80)"
send "$WORK/shifted.jsonl"
report
