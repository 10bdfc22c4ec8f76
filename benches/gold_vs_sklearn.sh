#!/usr/bin/env bash
# forest-train vs scikit-learn's RandomForestClassifier on the same gold
# features of the real week (etl --seed 0, default split): same train rows,
# scored on the same val and test rows, seeds 0..4, 2 threads each. Results
# go to target/bench-gold.json. Arguments go to gold_vs_sklearn.py
# (--seeds, --split-seeds, --threads, ...); see its --help. FOREST_TRAIN=path
# runs that binary instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check numpy 'scikit-learn>=1.4' pyarrow
if [ -z "${FOREST_TRAIN:-}" ]; then
    cargo build --release -p forest-train
fi
exec python3 benches/gold_vs_sklearn.py "$@"
