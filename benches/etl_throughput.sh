#!/usr/bin/env bash
# ETL throughput (line rows per second) and peak memory of `forest-train etl`
# on a synthetic 13/26/52-week raw set, and the real week end to end (etl,
# fit, eval) against its 2-second budget; 2 threads. Results go to
# target/bench-etl.json. Arguments go to etl_throughput.py (--weeks,
# --baskets-per-week, --threads, --repeats, --skip-synthetic, --skip-real);
# see its --help.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p forest-train
exec python3 benches/etl_throughput.py "$@"
