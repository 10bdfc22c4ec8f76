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
# The same binary runs three ways, so the cost of watching inputs shows
# beside it: `serve` with its defaults (drift monitoring on, what a
# deployment runs), `plain` with drift off (--drift-window 0), and `shadow`
# with drift on and the approved model as a shadow on 10% of requests
# (--shadow, through the interpreter, its thread on the same core). Target
# for drift and shadow: p50 and requests/s within 5% of `plain`.
#
# Last, where the CPU goes per request (64 connections), the floor beside
# `serve`: CPU time per request from /proc over one wrk run, split into
# parts (kernel send and receive, HTTP, runtime, body reader, the model's
# features and walk, drift, answer) by `perf record --call-graph dwarf` over
# a second run and benches/cpu_breakdown.py. Skipped, with a note, where
# perf is missing or not permitted (PROFILE=0 skips it too).
#
# Environment: MODEL (a .forest artifact to serve through the interpreter
# instead of the compiled model), DURATION (per run, default 10s), ROUNDS
# (default 3), CPU_SERVER / CPU_WRK (default 1 / 0), PROFILE (default 1),
# PROFILE_SECS (per profiling run, default 8).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
PROFILE=${PROFILE:-1}
PROFILE_SECS=${PROFILE_SECS:-8}
CPU_SERVER=${CPU_SERVER:-1}
CPU_WRK=${CPU_WRK:-0}
SERVE_ADDR=127.0.0.1:18181
HELLO_ADDR=127.0.0.1:18182
PLAIN_ADDR=127.0.0.1:18183
SHADOW_ADDR=127.0.0.1:18184
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
# The rounds' results and the profiles (perf data and its text) go here,
# and go with the script.
work=$(mktemp -d)
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
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
serve_pid=$!
taskset -c "$CPU_SERVER" "$hello_bin" --addr "$HELLO_ADDR" "${common[@]}" >/dev/null &
pids+=($!)
hello_pid=$!
taskset -c "$CPU_SERVER" "$serve_bin" --addr "$PLAIN_ADDR" "${common[@]}" "${model_args[@]}" --drift-window 0 >/dev/null &
pids+=($!)
taskset -c "$CPU_SERVER" "$serve_bin" --addr "$SHADOW_ADDR" "${common[@]}" "${model_args[@]}" \
    --shadow models/approved.forest --shadow-rate 0.1 >/dev/null &
pids+=($!)
for addr in "$SERVE_ADDR" "$HELLO_ADDR" "$PLAIN_ADDR" "$SHADOW_ADDR"; do
    wait_up "$addr"
done

echo "== one answer of each"
curl -s -H 'Content-Type: application/json' --data @"$BODY_FILE" "http://$SERVE_ADDR/predict"; echo
curl -s -H 'Content-Type: application/json' --data @"$BODY_FILE" "http://$HELLO_ADDR/predict"; echo
curl -s "http://$SERVE_ADDR/metrics" | grep '^forest_model_info'
curl -s "http://$SHADOW_ADDR/metrics" | grep '^forest_model_info'

# run ADDR CONNECTIONS DURATION -> "p50_us p99_us rps errors"
run() {
    local out
    out=$(taskset -c "$CPU_WRK" wrk -t1 -c"$2" -d"$3" -s "$LUA" "http://$1/predict")
    echo "$out" | sed -n 's/^RESULT p50_us=\([0-9]*\) p99_us=\([0-9]*\) rps=\([0-9]*\) requests=[0-9]* errors=\([0-9]*\)$/\1 \2 \3 \4/p'
}

declare -A addr_of=([hello]=$HELLO_ADDR [serve]=$SERVE_ADDR [plain]=$PLAIN_ADDR [shadow]=$SHADOW_ADDR)
echo "== warm-up"
for name in hello serve plain shadow; do
    run "${addr_of[$name]}" 8 2s >/dev/null
done

results=$work/results
for round in $(seq 1 "$ROUNDS"); do
    for name in hello serve plain shadow; do
        addr=${addr_of[$name]}
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

p = {k: med("plain", c) for k, c in (("p50", 2), ("p99", 3), ("rps", 4))}
d = {k: med("shadow", c) for k, c in (("p50", 2), ("p99", 3), ("rps", 4))}
print("\nthe cost of watching inputs, against the same server with drift off (`plain`)\n")
print("| | plain (drift off) | serve (drift on, the default) | ratio | shadow (drift + shadow at 10%) | ratio | target |")
print("|---|---|---|---|---|---|---|")
print(f"| p50, 1 connection | {p['p50']:.0f} us | {s['p50']:.0f} us | {s['p50']/p['p50']:.2f}x | {d['p50']:.0f} us | {d['p50']/p['p50']:.2f}x | <= 1.05x |")
print(f"| requests/s, 64 connections | {p['rps']:,.0f} | {s['rps']:,.0f} | {s['rps']/p['rps']:.2f}x | {d['rps']:,.0f} | {d['rps']/p['rps']:.2f}x | >= 0.95x |")
ok = all(x['p50'] <= 1.05 * p['p50'] and x['rps'] >= 0.95 * p['rps'] for x in (s, d))
print("\ndrift and shadow within 5%" if ok else "\ndrift and shadow NOT within 5%")
PY

# cpu_ticks PID -> user + system CPU time of the process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# profile NAME ADDR PID -> prints "PERF_SCRIPT_FILE:CPU_US_PER_REQUEST"
profile() {
    local name=$1 addr=$2 pid=$3 out before after requests
    local dir=$work/$name
    mkdir -p "$dir"
    before=$(cpu_ticks "$pid")
    out=$(taskset -c "$CPU_WRK" wrk -t1 -c64 -d"${PROFILE_SECS}s" -s "$LUA" "http://$addr/predict")
    after=$(cpu_ticks "$pid")
    requests=$(echo "$out" | sed -n 's/^RESULT .* requests=\([0-9]*\) .*/\1/p')
    taskset -c "$CPU_WRK" wrk -t1 -c64 -d"${PROFILE_SECS}s" -s "$LUA" "http://$addr/predict" >/dev/null &
    local load=$!
    sleep 1
    perf record --call-graph dwarf,16384 -F 999 -p "$pid" -o "$dir/perf.data" \
        -- sleep $((PROFILE_SECS - 2)) >/dev/null 2>&1
    wait "$load"
    perf script -i "$dir/perf.data" -F comm,ip,sym --no-inline > "$dir/$name.txt" 2>/dev/null
    python3 -c "import sys; print(f'{sys.argv[1]}:{(int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4]) * 1e6 / int(sys.argv[5]):.3f}')" \
        "$dir/$name.txt" "$before" "$after" "$(getconf CLK_TCK)" "$requests"
}

if [ "$PROFILE" = 1 ]; then
    echo
    echo "== where the CPU goes, per request at 64 connections (perf, ${PROFILE_SECS}s runs)"
    if ! command -v perf >/dev/null; then
        echo "perf is missing (apt-get install -y linux-perf): no breakdown"
    elif ! perf record -o /dev/null -- true >/dev/null 2>&1; then
        echo "perf may not record here (kernel.perf_event_paranoid, or no permission): no breakdown"
    else
        floor=$(profile hello "$HELLO_ADDR" "$hello_pid")
        ours=$(profile serve "$SERVE_ADDR" "$serve_pid")
        echo
        python3 benches/cpu_breakdown.py "hello-world=$floor" "/predict=$ours"
    fi
fi
