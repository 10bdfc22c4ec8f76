#!/usr/bin/env bash
# The embedded default, end to end on one machine, no cloud account:
# synthetic raw weeks -> ETL (local lake: raw/ silver/ gold/) -> fit on the
# train split -> evaluate on the test split with a report next to the model.
#
# Idempotent: a second run rebuilds everything under $WORK (default
# target/quickstart) from the same seeds, giving the same bytes.
#
# Environment: WORK (output directory), WEEKS (synthetic weeks, default 4),
# BASKETS (baskets per week, default 1000), SEED (default 0), THREADS.
set -euo pipefail
cd "$(dirname "$0")/../.."

WORK=${WORK:-target/quickstart}
WEEKS=${WEEKS:-4}
BASKETS=${BASKETS:-1000}
SEED=${SEED:-0}
threads=()
if [ -n "${THREADS:-}" ]; then threads=(--threads "$THREADS"); fi

step() { printf '\n== %s\n' "$*"; }

step "build forest-train (release)"
cargo build --release -p forest-train
bin=target/release/forest-train

step "synthesize $WEEKS week(s) of raw transactions"
rm -rf "$WORK/raw"
"$bin" synth --out "$WORK/raw" --weeks "$WEEKS" --baskets-per-week "$BASKETS" --seed "$SEED" "${threads[@]}"

step "ETL: raw -> silver -> gold in the local lake $WORK/lake"
"$bin" etl --raw "$WORK/raw" --lake "$WORK/lake" --seed "$SEED" "${threads[@]}"

step "fit on gold (train split)"
"$bin" fit --data "$WORK/lake/gold" --split train --out "$WORK/model.forest" --seed "$SEED" "${threads[@]}"

step "evaluate on gold (test split), report next to the model"
"$bin" eval --model "$WORK/model.forest" --data "$WORK/lake/gold" --split test --report "$WORK/model.report" "${threads[@]}"

printf '\nmodel:  %s\nreport: %s\n' "$WORK/model.forest" "$WORK/model.report/report.md"
