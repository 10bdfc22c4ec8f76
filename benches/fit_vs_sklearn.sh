#!/usr/bin/env bash
# Fit time, accuracy and peak memory: forest-train vs scikit-learn-intelex
# (oneDAL) and scikit-learn, same CSV, same hyper-parameters, at 1 and 2
# threads. Arguments go to fit_vs_sklearn.py (--rows, --trees, --threads,
# --skip-synthetic); see its --help. The Python peers go into a venv of
# their own, target/peers-venv (PEERS_VENV), shared with benches/peers.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h | --help) sed -n '2,6p' "$0"; exit 0 ;; esac
venv=${PEERS_VENV:-target/peers-venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check numpy pyarrow scikit-learn scikit-learn-intelex
cargo build --release --quiet -p forest-train
exec "$venv/bin/python" benches/fit_vs_sklearn.py "$@"
