#!/usr/bin/env python3
"""Where a server's CPU goes per request, from `perf script` output.

Used by benches/serve_vs_hello.sh: each server is loaded by wrk while
`perf record --call-graph dwarf` samples it; this script sorts the samples
into parts (kernel send, kernel receive, HTTP, runtime, body reader, the
model's features and walk, ...) and scales their shares by the CPU time the
server spent per request, measured from /proc over the same wrk run.

Usage: cpu_breakdown.py NAME=PERF_SCRIPT_FILE:CPU_US_PER_REQUEST ...
(the first NAME is the baseline; its column comes first and every other
column shows its difference to it).

A sample's part is the first frame, from the leaf up, that names one of our
parts: so a `memmove` called by the feature encoder counts as the encoder,
a `malloc` called by hyper as HTTP. Kernel samples are sorted by the system
call the server was in (on loopback, `writev` also delivers the answer into
the client's socket, and the kernel handles the client's ACKs in whichever
call is running).
"""

import collections
import sys

# (part, substrings of a frame that mark it), checked frame by frame from
# the leaf up; within one frame, earlier parts win.
USER_PARTS = [
    ("model: tree walk", ("forest::generated::", "forest::predict")),
    (
        "model: features (encoder)",
        ("forest::encode_basket", "forest_core::encode", "forest_core::tags",
         "forest_core::compiled", "forest_core::basket", "forest_core::feature"),
    ),
    ("drift monitor", ("forest_serve::drift", "App::predict_baskets::{{closure")),
    ("shadow", ("forest_serve::shadow",)),
    ("body reader (JSON to baskets)", ("forest_serve::fastjson",)),
    ("answer (JSON out)", ("serde_json", "zmij", "serde_core", "forest_serve::api::")),
    ("metrics", ("forest_serve::metrics",)),
    (
        "handler (routing, body collect, response)",
        ("forest_serve::app::", "forest_serve::route", "http_body_util", "forest_serve::engine"),
    ),
    ("HTTP/1.1 (hyper)", ("hyper::", "httparse", "http::")),
    ("runtime (tokio, mio)", ("tokio::", "mio::", "hyper_util::")),
]
KERNEL_PARTS = [
    ("kernel: send (writev)", ("writev",)),
    ("kernel: receive (recv)", ("recv",)),
    ("kernel: wait for events (epoll)", ("epoll_wait",)),
]
OTHER_USER = "other user space"
OTHER_KERNEL = "kernel: other (interrupts, scheduler)"
ORDER = [p for p, _ in KERNEL_PARTS] + [OTHER_KERNEL] + [p for p, _ in USER_PARTS] + [OTHER_USER]


def samples(path):
    """Each sample's frames, leaf first, as (is_kernel, symbol)."""
    with open(path, errors="replace") as f:
        block = []
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if block:
                    yield block
                block = []
            elif line.startswith((" ", "\t")):
                parts = line.strip().split(" ", 1)
                sym = parts[1] if len(parts) > 1 else "?"
                block.append((parts[0].startswith("ffffffff"), sym))
        if block:
            yield block


def part_of(frames):
    kernel = bool(frames) and frames[0][0]
    user = [s for k, s in frames if not k]
    if kernel:
        for part, marks in KERNEL_PARTS:
            if any(m in s for s in user[:3] for m in marks):
                return part
        return OTHER_KERNEL
    for s in user:
        for part, marks in USER_PARTS:
            if any(m in s for m in marks):
                return part
    return OTHER_USER


def breakdown(path):
    counts = collections.Counter(part_of(f) for f in samples(path))
    total = sum(counts.values())
    return {p: counts[p] / total for p in ORDER} if total else {}, total


def main():
    columns = []
    for arg in sys.argv[1:]:
        name, rest = arg.split("=", 1)
        path, cpu = rest.rsplit(":", 1)
        shares, n = breakdown(path)
        columns.append((name, float(cpu), shares, n))
    if not columns or any(not c[2] for c in columns):
        print("no samples: nothing to break down")
        return
    base = columns[0]
    head = "| part | " + " | ".join(
        f"{name} (us/request)" + ("" if i == 0 else f" | {name} - {base[0]}")
        for i, (name, _, _, _) in enumerate(columns)
    ) + " |"
    print(head)
    print("|---" * (2 * len(columns)) + "|")
    for part in ORDER:
        if all(c[2].get(part, 0) < 0.0005 for c in columns):
            continue
        cells = []
        for i, (_, cpu, shares, _) in enumerate(columns):
            us = shares.get(part, 0) * cpu
            cells.append(f"{us:.2f}")
            if i:
                cells.append(f"{us - base[2].get(part, 0) * base[1]:+.2f}")
        print(f"| {part} | " + " | ".join(cells) + " |")
    cells = []
    for i, (_, cpu, _, _) in enumerate(columns):
        cells.append(f"**{cpu:.2f}**")
        if i:
            cells.append(f"**{cpu - base[1]:+.2f}**")
    print("| all (CPU time / requests served) | " + " | ".join(cells) + " |")
    print("\nsamples: " + ", ".join(f"{name} {n}" for name, _, _, n in columns))


if __name__ == "__main__":
    main()
