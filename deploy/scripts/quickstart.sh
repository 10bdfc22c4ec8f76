#!/usr/bin/env bash
# The embedded default, end to end on one machine, no cloud account:
# synthetic raw weeks -> ETL (local lake: raw/ silver/ gold/) -> fit on the
# train split -> evaluate on the test split with a report next to the model
# -> register in a local model registry (quality gates) -> approve -> pull
# the approved model, its sha256 checked.
#
# Idempotent: a second run rebuilds everything under $WORK (default
# target/quickstart) from the same seeds, giving the same bytes; the
# registry under $WORK is replaced, so the model is version 1 again.
#
# The approved model is pulled to $WORK/approved.forest. With
# --install-model (or INSTALL_MODEL=1) it also replaces
# models/approved.forest, the model the release build compiles in.
#
# Environment: WORK (output directory), WEEKS (synthetic weeks, default 4),
# BASKETS (baskets per week, default 1000), SEED (default 0), THREADS,
# INSTALL_MODEL.
set -euo pipefail
cd "$(dirname "$0")/../.."

INSTALL_MODEL=${INSTALL_MODEL:-0}
for arg in "$@"; do
    case "$arg" in
        --install-model) INSTALL_MODEL=1 ;;
        -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

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

step "register in the local registry $WORK/registry (gates: accuracy >= 0.80, macro-F1 >= 0.70)"
rm -rf "$WORK/registry"
registered=$("$bin" register --model "$WORK/model.forest" --registry "$WORK/registry" --lake "$WORK/lake")
printf '%s\n' "$registered"
version=$(printf '%s\n' "$registered" | sed -n 's/^registered .* version \([0-9][0-9]*\): .*/\1/p')
if [ -z "$version" ]; then
    echo "could not read the registered version" >&2
    exit 1
fi
if printf '%s\n' "$registered" | grep -q "version $version: Rejected"; then
    echo "the model missed the quality gates (see $WORK/model.report/report.md); nothing to approve" >&2
    exit 1
fi

step "approve version $version (in real use: after a person has read the report)"
"$bin" approve "$version" --registry "$WORK/registry" --reason "quickstart: reviewed $WORK/model.report/report.md" --by "${USER:-quickstart}"

step "pull the approved model, sha256 verified"
"$bin" pull --approved --registry "$WORK/registry" --out "$WORK/approved.forest"
if [ "$INSTALL_MODEL" = 1 ]; then
    "$bin" pull --approved --registry "$WORK/registry" --out models/approved.forest
fi

printf '\nmodel:    %s\nreport:   %s\nregistry: %s\napproved: %s\n' \
    "$WORK/model.forest" "$WORK/model.report/report.md" "$WORK/registry" "$WORK/approved.forest"
if [ "$INSTALL_MODEL" = 1 ]; then
    printf 'installed: models/approved.forest\n'
fi
