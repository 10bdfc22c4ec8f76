#!/usr/bin/env python3
"""Soak test of forest-serve: many keep-alive connections sending /predict
for a while, then many slow connections that never finish their request,
against a server this script starts. Standard library only (asyncio), so
the short version runs in the tests and the long one (benches/soak.sh)
anywhere.

Phase 1, load: CONNECTIONS connections each send POST /predict with the
basket of benches/serve_basket.json, keep-alive, one request at a time,
for SECONDS. Every answer must be 200; the script records latencies and
samples the server's resident memory (VmRSS) every second.

Phase 2, slow clients: SLOW connections each send half a request head, one
byte at a time, and never finish; the server must close every one within
its header timeout (plus slack), while /health, asked meanwhile, keeps
answering quickly.

Prints a summary (and JSON with --json) and exits 1 when a check fails:
errors in phase 1, memory growing by more than --max-rss-growth-mb after
the warm-up, a slow connection still open after the timeout, or /health
slower than --max-health-ms while the slow clients hang on.
"""
import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def read_response(reader):
    """One HTTP/1.1 response with a Content-Length: (status, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    body = await reader.readexactly(length)
    return status, body


async def load_worker(host, port, request, deadline, latencies, errors):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            writer.write(request)
            try:
                status, _ = await read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError) as e:
                errors.append(f"connection: {e!r}")
                reader, writer = await asyncio.open_connection(host, port)
                continue
            latencies.append(time.perf_counter() - start)
            if status != 200:
                errors.append(f"status {status}")
    finally:
        writer.close()


async def sample_rss(pid, until, samples):
    while time.monotonic() < until:
        samples.append((time.monotonic(), rss_mb(pid)))
        await asyncio.sleep(1.0)


async def slow_client(host, port, closed_after, hold):
    """Sends half a request head, a byte a second; notes when the server
    closes the connection (None: still open after `hold` seconds)."""
    reader, writer = await asyncio.open_connection(host, port)
    start = time.monotonic()
    head = b"POST /predict HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n"
    try:
        for b in head:
            if time.monotonic() - start > hold:
                break
            writer.write(bytes([b]))
            await writer.drain()
            try:
                data = await asyncio.wait_for(reader.read(1024), timeout=1.0)
                if data == b"" or data:
                    closed_after.append(time.monotonic() - start)
                    return
            except asyncio.TimeoutError:
                pass
        closed_after.append(None)
    except ConnectionError:
        closed_after.append(time.monotonic() - start)
    finally:
        writer.close()


async def health_probe(host, port, until, times):
    while time.monotonic() < until:
        start = time.perf_counter()
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
        status, _ = await read_response(reader)
        times.append((time.perf_counter() - start, status))
        writer.close()
        await asyncio.sleep(0.2)


async def soak(args, pid):
    host, port = args.addr.rsplit(":", 1)
    port = int(port)
    body = open(args.body, "rb").read()
    request = (
        f"POST /predict HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies, errors, rss = [], [], []
    deadline = time.monotonic() + args.seconds
    workers = [
        load_worker(host, port, request, deadline, latencies, errors)
        for _ in range(args.connections)
    ]
    started = time.monotonic()
    await asyncio.gather(sample_rss(pid, deadline, rss), *workers)
    elapsed = time.monotonic() - started

    closed_after, health = [], []
    hold = args.header_timeout + 5
    slow = [slow_client(host, port, closed_after, hold) for _ in range(args.slow)]
    await asyncio.gather(
        health_probe(host, port, time.monotonic() + min(hold, args.header_timeout + 1), health),
        *slow,
    )
    return {
        "connections": args.connections,
        "seconds": args.seconds,
        "requests": len(latencies),
        "requests_per_s": len(latencies) / elapsed,
        "errors": len(errors),
        "first_errors": errors[:5],
        "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "p99_ms": 1000 * sorted(latencies)[int(0.99 * (len(latencies) - 1))] if latencies else None,
        "rss_mb": [round(m, 1) for _, m in rss],
        "slow_connections": args.slow,
        "slow_still_open": sum(1 for c in closed_after if c is None),
        "slow_closed_after_s_max": max((c for c in closed_after if c is not None), default=None),
        "health_ms_max": 1000 * max((t for t, _ in health), default=float("nan")),
        "health_not_ok": sum(1 for _, s in health if s != 200),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True, help="the forest-serve binary")
    ap.add_argument("--model", help="serve this artifact (--model) instead of the compiled one")
    ap.add_argument("--addr", default="127.0.0.1:18191")
    ap.add_argument("--connections", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--slow", type=int, default=1000, help="slow connections in phase 2")
    ap.add_argument("--header-timeout", type=float, default=30, help="the server's header timeout, s")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--body", default=os.path.join(HERE, "serve_basket.json"))
    ap.add_argument("--max-rss-growth-mb", type=float, default=16)
    ap.add_argument("--max-health-ms", type=float, default=250)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    cmd = [args.server, "--addr", args.addr, "--workers", str(args.workers),
           "--header-read-timeout-secs", str(args.header_timeout),
           "--emf-interval-secs", "0", "--log-level", "warn"]
    if args.model:
        cmd += ["--model", args.model]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        host, port = args.addr.rsplit(":", 1)
        for _ in range(200):
            try:
                import socket
                socket.create_connection((host, int(port)), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        result = asyncio.run(soak(args, server.pid))
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    result["exit_status"] = server.returncode

    rss = [m for m in result["rss_mb"] if m == m]
    warm = rss[min(2, len(rss) - 1)] if rss else float("nan")
    growth = (max(rss) - warm) if rss else float("nan")
    failures = []
    if result["errors"]:
        failures.append(f"{result['errors']} errors: {result['first_errors']}")
    if not growth <= args.max_rss_growth_mb:
        failures.append(f"RSS grew {growth:.1f} MB after the warm-up")
    if result["slow_still_open"]:
        failures.append(f"{result['slow_still_open']} slow connections still open after the timeout")
    if result["health_not_ok"] or not result["health_ms_max"] <= args.max_health_ms:
        failures.append(f"/health slow or failing under slow clients: {result['health_ms_max']:.1f} ms")
    if result["exit_status"] != 0:
        failures.append(f"the server exited {result['exit_status']} on SIGTERM")
    result["failures"] = failures
    if args.json:
        print(json.dumps(result))
    else:
        print(f"load: {result['connections']} connections x {result['seconds']:.0f} s: "
              f"{result['requests']:,} requests ({result['requests_per_s']:,.0f}/s), "
              f"{result['errors']} errors, p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms")
        print(f"RSS (MB, once a second): {result['rss_mb']}")
        print(f"slow clients: {result['slow_connections']} connections, {result['slow_still_open']} still "
              f"open, the last closed after {result['slow_closed_after_s_max']} s; /health max "
              f"{result['health_ms_max']:.1f} ms meanwhile")
        print("soak: " + ("OK" if not failures else "FAILED: " + "; ".join(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
