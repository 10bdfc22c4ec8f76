#!/usr/bin/env bash
# Fit time, accuracy and peak memory: forest-train vs scikit-learn, same CSV,
# same hyper-parameters, 2 threads each. Arguments go to fit_vs_sklearn.py
# (--rows, --trees, --threads, --skip-synthetic); see its --help.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -r forest-train/tests/requirements.txt
cargo build --release -p forest-train
exec python3 benches/fit_vs_sklearn.py "$@"
