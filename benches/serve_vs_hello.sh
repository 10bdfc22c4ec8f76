#!/usr/bin/env bash
# POST /predict on forest-serve against the floor of its HTTP stack: a hyper
# hello-world (forest-serve/examples/hello.rs) on the same connection loop,
# HTTP/1.1 settings, runtime and flags, which reads the same body and
# answers a fixed JSON object. Both are built here, in release mode.
#
# wrk (Debian package `wrk`) sends a realistic basket (8 lines, the mean
# real basket has 6.6) as POST /predict; each server gets one core and one
# worker thread (taskset -c 1), wrk the other core (taskset -c 0), so the two
# never compete for a core on a 2-core machine. Per round and server:
#   - 1 connection:   p50 and p99 latency
#   - 64 connections: requests/s
# Rounds alternate the servers; the medians over rounds are reported with
# the ratios to the floor. Targets: p50 <= 1.2x the floor at 1 connection,
# requests/s >= 0.8x the floor at 64 connections.
#
# Environment: MODEL (a .forest artifact to serve through the interpreter
# instead of the compiled model), DURATION (per run, default 10s), ROUNDS
# (default 3), CPU_SERVER / CPU_WRK (default 1 / 0).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
CPU_SERVER=${CPU_SERVER:-1}
CPU_WRK=${CPU_WRK:-0}
SERVE_ADDR=127.0.0.1:18181
HELLO_ADDR=127.0.0.1:18182
LUA=benches/serve_vs_hello.lua
export BODY_FILE=benches/serve_basket.json

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

echo "== build forest-serve and the hello-world (release)"
cargo build --release -p forest-serve --bin forest-serve --example hello
serve_bin=target/release/forest-serve
hello_bin=target/release/examples/hello

# The compiled model by default (the engine a release build serves);
# MODEL=FILE serves that artifact through the interpreter instead.
model_args=()
engine="compiled (models/approved.forest, or \$FOREST_MODEL at build time)"
if [ -n "${MODEL:-}" ]; then
    model_args=(--model "$MODEL")
    engine="interpreted ($MODEL)"
fi
echo "== engine: $engine"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_up() {
    for _ in $(seq 1 100); do
        curl -fs -o /dev/null "http://$1/health" && return 0
        sleep 0.1
    done
    echo "server at $1 did not come up" >&2
    exit 1
}

common=(--workers 1 --emf-interval-secs 0 --log-level warn)
taskset -c "$CPU_SERVER" "$serve_bin" --addr "$SERVE_ADDR" "${common[@]}" "${model_args[@]}" >/dev/null &
pids+=($!)
taskset -c "$CPU_SERVER" "$hello_bin" --addr "$HELLO_ADDR" "${common[@]}" >/dev/null &
pids+=($!)
wait_up "$SERVE_ADDR"
wait_up "$HELLO_ADDR"

echo "== one answer of each"
curl -s -H 'Content-Type: application/json' --data @"$BODY_FILE" "http://$SERVE_ADDR/predict"; echo
curl -s -H 'Content-Type: application/json' --data @"$BODY_FILE" "http://$HELLO_ADDR/predict"; echo
curl -s "http://$SERVE_ADDR/metrics" | grep '^forest_model_info'

# run ADDR CONNECTIONS DURATION -> "p50_us p99_us rps errors"
run() {
    local out
    out=$(taskset -c "$CPU_WRK" wrk -t1 -c"$2" -d"$3" -s "$LUA" "http://$1/predict")
    echo "$out" | sed -n 's/^RESULT p50_us=\([0-9]*\) p99_us=\([0-9]*\) rps=\([0-9]*\) requests=[0-9]* errors=\([0-9]*\)$/\1 \2 \3 \4/p'
}

echo "== warm-up"
run "$SERVE_ADDR" 8 2s >/dev/null
run "$HELLO_ADDR" 8 2s >/dev/null

results=$(mktemp)
for round in $(seq 1 "$ROUNDS"); do
    for name in hello serve; do
        addr=$HELLO_ADDR
        [ "$name" = serve ] && addr=$SERVE_ADDR
        read -r p50 p99 _ e1 < <(run "$addr" 1 "$DURATION")
        read -r _ _ rps e64 < <(run "$addr" 64 "$DURATION")
        printf '%s %s %s %s %s %s %s\n' "$round" "$name" "$p50" "$p99" "$rps" "$e1" "$e64" | tee -a "$results"
    done
done

python3 - "$results" "$DURATION" "$ROUNDS" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def med(name, col):
    return statistics.median(float(r[col]) for r in rows if r[1] == name)
errors = sum(int(r[5]) + int(r[6]) for r in rows)
h = {k: med("hello", c) for k, c in (("p50", 2), ("p99", 3), ("rps", 4))}
s = {k: med("serve", c) for k, c in (("p50", 2), ("p99", 3), ("rps", 4))}
print(f"\nmedians over {sys.argv[3]} rounds of {sys.argv[2]} per run (errors: {errors})\n")
print("| | hello-world (floor) | forest-serve /predict | ratio | target |")
print("|---|---|---|---|---|")
print(f"| p50, 1 connection | {h['p50']:.0f} us | {s['p50']:.0f} us | {s['p50']/h['p50']:.2f}x | <= 1.2x |")
print(f"| p99, 1 connection | {h['p99']:.0f} us | {s['p99']:.0f} us | {s['p99']/h['p99']:.2f}x | |")
print(f"| requests/s, 64 connections | {h['rps']:,.0f} | {s['rps']:,.0f} | {s['rps']/h['rps']:.2f}x | >= 0.8x |")
ok = s['p50'] <= 1.2 * h['p50'] and s['rps'] >= 0.8 * h['rps'] and errors == 0
print("\ntargets met" if ok else "\ntargets NOT met")
PY
