#!/usr/bin/env bash
# The embedded default, end to end on one machine, no cloud account:
# synthetic raw weeks -> ETL (local lake: raw/ silver/ gold/) -> fit on the
# train split -> evaluate on the test split with a report next to the model
# -> register in a local model registry (quality gates) -> approve -> pull
# the approved model, its sha256 checked -> build forest-serve with that
# model compiled in -> serve it, printing a curl line that gets a prediction.
#
# Idempotent: a second run rebuilds everything under $WORK (default
# target/quickstart) from the same seeds, giving the same bytes; the
# registry under $WORK is replaced, so the model is version 1 again.
#
# The approved model is pulled to $WORK/approved.forest. With
# --install-model (or INSTALL_MODEL=1) it also replaces
# models/approved.forest, the model a plain release build compiles in.
# With --no-serve (or SERVE=0) it stops once the server is built.
# The server runs in the foreground; Ctrl-C (or SIGTERM) drains and stops it.
#
# Environment: WORK (output directory), WEEKS (synthetic weeks, default 4),
# BASKETS (baskets per week, default 1000), SEED (default 0), THREADS,
# ADDR (server address, default 127.0.0.1:8080), PROFILE (cargo profile,
# default release), INSTALL_MODEL, SERVE, CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."

INSTALL_MODEL=${INSTALL_MODEL:-0}
SERVE=${SERVE:-1}
for arg in "$@"; do
    case "$arg" in
        --install-model) INSTALL_MODEL=1 ;;
        --no-serve) SERVE=0 ;;
        -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

WORK=${WORK:-target/quickstart}
WEEKS=${WEEKS:-4}
BASKETS=${BASKETS:-1000}
SEED=${SEED:-0}
ADDR=${ADDR:-127.0.0.1:8080}
PROFILE=${PROFILE:-release}
threads=()
if [ -n "${THREADS:-}" ]; then threads=(--threads "$THREADS"); fi
# Where cargo puts the binaries: the profile "dev" builds into debug/.
profile_dir=$PROFILE
if [ "$PROFILE" = dev ]; then profile_dir=debug; fi
bin_dir=${CARGO_TARGET_DIR:-target}/$profile_dir

step() { printf '\n== %s\n' "$*"; }

# The embedded default needs no cloud: forest-train without its `aws`
# feature (S3, SageMaker), whose SDKs are most of a cold build.
step "build forest-train ($PROFILE, local lake and registry only)"
cargo build --profile "$PROFILE" -p forest-train --no-default-features
bin=$bin_dir/forest-train

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
approved=$(cd "$WORK" && pwd)/approved.forest

# The forest crate's default features compile the model and nothing else
# (its if/else baseline and embedded artifact are for tests and benches).
step "build forest-serve ($PROFILE) with the approved model compiled in"
FOREST_MODEL="$approved" cargo build --profile "$PROFILE" -p forest-serve
serve=$bin_dir/forest-serve

printf '\nmodel:    %s\nreport:   %s\nregistry: %s\napproved: %s\nserver:   %s\n' \
    "$WORK/model.forest" "$WORK/model.report/report.md" "$WORK/registry" "$approved" "$serve"
if [ "$INSTALL_MODEL" = 1 ]; then
    printf 'installed: models/approved.forest\n'
fi
if [ "$SERVE" != 1 ]; then
    printf '\nstart it with: %s --addr %s\n' "$serve" "$ADDR"
    exit 0
fi

step "serve on http://$ADDR (Ctrl-C stops it)"
"$serve" --addr "$ADDR" &
server=$!
# Ctrl-C and SIGTERM go to the server, which drains in-flight requests and
# exits 0; the script then exits with the server's status.
trap 'kill -TERM "$server" 2>/dev/null || true' INT TERM
ready=0
for _ in $(seq 1 100); do
    if curl -fsS "http://$ADDR/ready" >/dev/null 2>&1; then
        ready=1
        break
    fi
    if ! kill -0 "$server" 2>/dev/null; then break; fi
    sleep 0.1
done
if [ "$ready" != 1 ]; then
    echo "forest-serve did not become ready on $ADDR" >&2
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" || true
    exit 1
fi
basket='{"store_format":"LS","store_region":"E02","basket_size":"L","basket_type":"Top Up","dominant_mission":"Fresh","items":[{"prod_code":"PRD0900097","prod_code_10":"CL00001","prod_code_20":"DEP00001","prod_code_30":"G00001","prod_code_40":"D00001","quantity":2,"spend":2.06}]}'
printf '\nready; get a prediction with:\n\n'
printf "curl -s http://%s/predict -H 'content-type: application/json' -d '%s'\n\n" "$ADDR" "$basket"
printf 'API docs: http://%s/docs  metrics: http://%s/metrics\n' "$ADDR" "$ADDR"

# `wait` returns as soon as a trapped signal arrives: wait again for the drain.
status=0
wait "$server" || status=$?
if kill -0 "$server" 2>/dev/null; then
    status=0
    wait "$server" || status=$?
fi
exit "$status"
