#!/usr/bin/env bash
# Soak test of the release server (benches/soak.py does the work):
# CONNECTIONS keep-alive connections sending /predict for SECONDS (errors,
# p50/p99, RSS once a second), then SLOW connections that never finish
# their request head, which the server must close at its header timeout
# while /health keeps answering. Exits 1 when a check fails.
#
# Environment: CONNECTIONS (default 256), SOAK_SECONDS (60), SLOW (1000),
# HEADER_TIMEOUT (the server's default, 30), MODEL (serve this artifact
# through the interpreter instead of the compiled model).
# A short version (16 connections, 3 s, 50 slow clients, 1 s timeout) runs
# in forest-serve's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== build forest-serve (release)"
cargo build --release -p forest-serve --bin forest-serve
target=${CARGO_TARGET_DIR:-target}
# Many connections at once: raise the open-file limit as far as allowed.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec python3 benches/soak.py --server "$target/release/forest-serve" \
    --connections "${CONNECTIONS:-256}" --seconds "${SOAK_SECONDS:-60}" \
    --slow "${SLOW:-1000}" --header-timeout "${HEADER_TIMEOUT:-30}" \
    ${MODEL:+--model "$MODEL"}
