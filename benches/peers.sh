#!/usr/bin/env bash
# forest beside its peers in one run, with machine facts: fit time, memory
# and accuracy (ours, scikit-learn, scikit-learn-intelex, YDF, LightGBM in
# random-forest mode) at 1 and 2 threads; single-row and batch prediction
# on the same forests (ours compiled and interpreted, scikit-learn,
# oneDAL, ONNX Runtime, tl2cgen and lleaves called from C, LightGBM, YDF's
# engine); compile time and peak memory (ours, tl2cgen, lleaves). Writes
# docs/benchmarks.md's "Beside the peers" section and target/peers/results.json.
#
# Usage: benches/peers.sh [--rows N] [--trees N] [--skip-fit]  (run.py --help)
# The peers go into a venv of their own, target/peers-venv (PEERS_VENV).
# Takes about 20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h | --help) sed -n '2,13p' "$0"; exit 0 ;; esac
venv=${PEERS_VENV:-target/peers-venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r benches/peers/requirements.txt
cargo build --release --quiet -p forest-train --no-default-features
exec "$venv/bin/python" benches/peers/run.py "$@"
