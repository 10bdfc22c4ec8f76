#!/usr/bin/env bash
# The README's first command on a cold machine: a fresh clone of this
# repository's HEAD, an empty cargo registry and package cache (CARGO_HOME)
# and an empty target directory, then deploy/scripts/quickstart.sh, timed
# from its start to the first 200 from /ready; the server is then stopped.
# The toolchain itself (rustup, cargo) is taken as installed.
#
# Environment: COLD (scratch directory, default a new temporary one; it is
# removed at the end unless KEEP=1), ADDR (default 127.0.0.1:18280).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cold=${COLD:-$(mktemp -d)}
addr=${ADDR:-127.0.0.1:18280}
cleanup() {
    [ -n "${pid:-}" ] && kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ "${KEEP:-0}" = 1 ] || rm -rf "$cold"
}
trap cleanup EXIT

git clone --quiet "$repo" "$cold/repo"
cd "$cold/repo"
export CARGO_HOME=$cold/cargo-home CARGO_TARGET_DIR=$cold/target WORK=$cold/work ADDR=$addr
echo "== cold quickstart in $cold (log: $cold/quickstart.log)"
start=$(date +%s.%N)
deploy/scripts/quickstart.sh >"$cold/quickstart.log" 2>&1 &
pid=$!
until curl -fs -o /dev/null "http://$addr/ready"; do
    if ! kill -0 "$pid" 2>/dev/null; then
        tail -20 "$cold/quickstart.log" >&2
        echo "the quickstart stopped before its server was ready" >&2
        exit 1
    fi
    sleep 1
done
end=$(date +%s.%N)
python3 -c "import sys; s = float(sys.argv[2]) - float(sys.argv[1]); print(f'ready after {s:.0f} s ({int(s // 60)} min {s % 60:.0f} s), $(nproc) cores')" "$start" "$end"
