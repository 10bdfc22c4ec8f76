#!/usr/bin/env python3
"""ETL throughput and peak memory of `forest-train etl`, and the real week
end to end (etl, fit, eval) against its 2-second budget.

Run through etl_throughput.sh, which builds forest-train in release mode
first. Every command runs in its own child process under GNU time, so wall
time and peak resident memory are its own.

Parts:
  synthetic  `forest-train synth --weeks 52 --baskets-per-week N` (seed 0),
             kept in target/bench-data/ and reused; `etl` on its first 13,
             26 and all 52 weeks (hard links to the same files), each into a
             fresh lake, SYNTHETIC_REPEATS times (3): the table shows the run
             of median wall time and the range over all runs. Throughput is
             raw line rows per second of wall time (process start to exit,
             including landing the raw copies, silver and gold). Peak RSS for
             13/26/52 weeks shows whether memory stays flat as weeks are
             added.
  real week  ../shared/data/dunnhumby/transactions_200607.csv copied into a
             temporary raw directory; `etl`, then `fit` on gold train
             (default parameters), then `eval` on gold test, REPEATS times.
             Fails (exit 1) when any run's total wall time reaches the
             budget (2 s).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.join(ROOT, "target", "release", "forest-train")
DUNNHUMBY = os.path.join(ROOT, "..", "shared", "data", "dunnhumby", "transactions_200607.csv")


def measured(cmd):
    """Runs cmd under GNU time; returns (stdout, wall s, peak RSS MiB, user s, sys s)."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "PEAK_KB=%M USER=%U SYS=%S"] + cmd,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    m = re.search(r"PEAK_KB=(\d+) USER=([0-9.]+) SYS=([0-9.]+)", proc.stderr)
    return proc.stdout, wall, int(m.group(1)) / 1024, float(m.group(2)), float(m.group(3))


def synth_set(work, weeks, baskets, threads):
    """The synthetic raw set, made once: a marker file says it is complete."""
    raw = os.path.join(work, f"synth-{weeks}w-{baskets}b-seed0")
    marker = os.path.join(raw, ".complete.json")
    if os.path.exists(marker):
        with open(marker) as f:
            info = json.load(f)
        print(f"reusing {raw} ({info['summary']})", file=sys.stderr)
        return raw, info
    shutil.rmtree(raw, ignore_errors=True)
    print(f"making {raw} ...", file=sys.stderr)
    out, wall, _, _, _ = measured([BIN, "synth", "--out", raw, "--weeks", str(weeks),
                                   "--baskets-per-week", str(baskets), "--seed", "0",
                                   "--threads", str(threads)])
    info = {"summary": out.strip().splitlines()[0], "synth_seconds": round(wall, 2)}
    with open(marker, "w") as f:
        json.dump(info, f)
    return raw, info


def subset(raw, weeks, work):
    """A raw directory holding the first `weeks` files of `raw` (hard links)."""
    files = sorted(f for f in os.listdir(raw) if f.endswith(".csv"))
    if len(files) < weeks:
        sys.exit(f"{raw} holds {len(files)} weekly files, fewer than {weeks}")
    if len(files) == weeks:
        return raw
    sub = os.path.join(work, f"{os.path.basename(raw)}-first{weeks}")
    shutil.rmtree(sub, ignore_errors=True)
    os.makedirs(sub)
    for f in files[:weeks]:
        try:
            os.link(os.path.join(raw, f), os.path.join(sub, f))
        except OSError:
            shutil.copyfile(os.path.join(raw, f), os.path.join(sub, f))
    return sub


def run_etl(raw, lake, threads):
    shutil.rmtree(lake, ignore_errors=True)
    out, wall, peak, user, sys_s = measured([BIN, "etl", "--raw", raw, "--lake", lake,
                                             "--seed", "0", "--threads", str(threads)])
    m = re.search(r"etl: (\d+) file\(s\), (\d+) input rows = (\d+) silver \+ (\d+) rejected, "
                  r"in ([0-9.]+) s", out)
    if not m:
        sys.exit(f"cannot read the etl summary:\n{out}")
    files, rows, silver, rejected = (int(m.group(i)) for i in range(1, 5))
    inner = float(m.group(5))
    baskets = sum(int(n) for n in re.findall(r"\d+ lines, (\d+) baskets", out))
    return {
        "raw_files": files, "input_rows": rows, "silver_rows": silver,
        "rejected_rows": rejected, "baskets": baskets,
        "wall_seconds": round(wall, 3), "etl_seconds": inner,
        "cpu_seconds": round(user + sys_s, 2),
        "peak_mib": round(peak, 1),
        "rows_per_second": round(rows / wall),
        "raw_mb": round(sum(os.path.getsize(os.path.join(raw, f)) for f in os.listdir(raw)
                            if f.endswith(".csv")) / 1e6, 1),
    }


def real_week(threads, repeats, budget):
    runs = []
    for _ in range(repeats):
        tmp = tempfile.mkdtemp(prefix="bench-etl-real-")
        try:
            raw, lake = os.path.join(tmp, "raw"), os.path.join(tmp, "lake")
            os.makedirs(raw)
            shutil.copyfile(DUNNHUMBY, os.path.join(raw, os.path.basename(DUNNHUMBY)))
            model = os.path.join(tmp, "model.forest")
            etl_out, etl_wall, etl_peak, _, _ = measured(
                [BIN, "etl", "--raw", raw, "--lake", lake, "--seed", "0",
                 "--threads", str(threads)])
            _, fit_wall, fit_peak, _, _ = measured(
                [BIN, "fit", "--data", os.path.join(lake, "gold"), "--out", model,
                 "--seed", "0", "--threads", str(threads)])
            ev_out, ev_wall, ev_peak, _, _ = measured(
                [BIN, "eval", "--model", model, "--data", os.path.join(lake, "gold"),
                 "--split", "test", "--json", "--threads", str(threads)])
            ev = json.loads(ev_out)
            rows = int(re.search(r"(\d+) input rows", etl_out).group(1))
            runs.append({
                "input_rows": rows,
                "etl_seconds": round(etl_wall, 3), "fit_seconds": round(fit_wall, 3),
                "eval_seconds": round(ev_wall, 3),
                "total_seconds": round(etl_wall + fit_wall + ev_wall, 3),
                "peak_mib": round(max(etl_peak, fit_peak, ev_peak), 1),
                "test_rows": ev["rows"], "accuracy": round(ev["accuracy"], 4),
                "macro_f1": round(ev["macro_f1"], 4),
            })
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    worst = max(r["total_seconds"] for r in runs)
    return {
        "budget_seconds": budget, "repeats": repeats, "runs": runs,
        "median_total_seconds": round(statistics.median(r["total_seconds"] for r in runs), 3),
        "max_total_seconds": worst,
        "within_budget": worst < budget,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--weeks", default="13,26,52",
                    help="synthetic week counts to run etl on; the largest is generated")
    ap.add_argument("--baskets-per-week", type=int, default=2000,
                    help="synthetic baskets per week; 2000 gives ~24.8k lines a week, "
                         "the real week has 25,240")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="real-week end-to-end runs")
    ap.add_argument("--synthetic-repeats", type=int, default=3,
                    help="etl runs per synthetic week count; the table shows the run of "
                         "median wall time and the range of rows/s over all of them (this "
                         "machine is shared: one run alone can be 20%% off)")
    ap.add_argument("--budget", type=float, default=2.0, help="real week end to end, seconds")
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "bench-data"))
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "bench-etl.json"))
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--skip-real", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    weeks = sorted({int(w) for w in args.weeks.split(",")})
    result = {"threads": args.threads, "nproc": os.cpu_count()}

    if not args.skip_synthetic:
        raw, info = synth_set(args.work, weeks[-1], args.baskets_per_week, args.threads)
        result["synthetic"] = {"baskets_per_week": args.baskets_per_week, "set": info, "runs": []}
        for w in weeks:
            repeats = []
            for i in range(max(1, args.synthetic_repeats)):
                print(f"etl on {w} synthetic weeks, run {i + 1} ...", file=sys.stderr)
                lake = os.path.join(args.work, f"etl-lake-{w}w")
                r = run_etl(subset(raw, w, args.work), lake, args.threads)
                print(json.dumps(r), file=sys.stderr)
                shutil.rmtree(lake, ignore_errors=True)
                repeats.append(r)
            r = dict(sorted(repeats, key=lambda r: r["wall_seconds"])[len(repeats) // 2])
            r["weeks"] = w
            r["repeats"] = len(repeats)
            r["rows_per_second_range"] = [min(x["rows_per_second"] for x in repeats),
                                          max(x["rows_per_second"] for x in repeats)]
            r["peak_mib_range"] = [min(x["peak_mib"] for x in repeats),
                                   max(x["peak_mib"] for x in repeats)]
            result["synthetic"]["runs"].append(r)
        runs = result["synthetic"]["runs"]
        if len(runs) > 1:
            first, last = runs[0], runs[-1]
            result["synthetic"]["peak_growth"] = {
                "from_weeks": first["weeks"], "to_weeks": last["weeks"],
                "ratio": round(last["peak_mib"] / first["peak_mib"], 2),
                "mib_per_added_week": round((last["peak_mib"] - first["peak_mib"])
                                            / (last["weeks"] - first["weeks"]), 2),
            }

    if not args.skip_real:
        if os.path.exists(DUNNHUMBY):
            print("real week end to end ...", file=sys.stderr)
            result["real_week"] = real_week(args.threads, args.repeats, args.budget)
        else:
            print(f"{DUNNHUMBY} not found; skipping the real week", file=sys.stderr)

    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)

    if "synthetic" in result:
        s = result["synthetic"]
        print(f"synthetic ETL, {s['baskets_per_week']} baskets/week, {args.threads} threads; "
              f"the median of {s['runs'][0]['repeats']} runs by wall time, rows/s over all")
        print(f"{'weeks':>5} {'raw MB':>7} {'line rows':>10} {'baskets':>8} {'wall s':>7} "
              f"{'cpu s':>6} {'rows/s':>9} {'rows/s range':>17} {'peak MiB':>9}")
        for r in s["runs"]:
            lo, hi = r["rows_per_second_range"]
            print(f"{r['weeks']:>5} {r['raw_mb']:>7} {r['input_rows']:>10} {r['baskets']:>8} "
                  f"{r['wall_seconds']:>7.2f} {r['cpu_seconds']:>6.2f} {r['rows_per_second']:>9} "
                  f"{f'{lo}-{hi}':>17} {r['peak_mib']:>9}")
        if "peak_growth" in s:
            g = s["peak_growth"]
            print(f"peak RSS {g['to_weeks']} vs {g['from_weeks']} weeks: x{g['ratio']} "
                  f"({g['mib_per_added_week']} MiB per added week)")
    if "real_week" in result:
        rw = result["real_week"]
        print(f"\nreal week end to end ({args.threads} threads, budget {rw['budget_seconds']} s)")
        print(f"{'run':>3} {'etl s':>6} {'fit s':>6} {'eval s':>6} {'total s':>7} "
              f"{'peak MiB':>9} {'test acc':>8} {'macro-F1':>8}")
        for i, r in enumerate(rw["runs"]):
            print(f"{i:>3} {r['etl_seconds']:>6.3f} {r['fit_seconds']:>6.3f} "
                  f"{r['eval_seconds']:>6.3f} {r['total_seconds']:>7.3f} {r['peak_mib']:>9} "
                  f"{r['accuracy']:>8} {r['macro_f1']:>8}")
        verdict = "PASS" if rw["within_budget"] else "FAIL"
        print(f"{verdict}: worst {rw['max_total_seconds']} s, median "
              f"{rw['median_total_seconds']} s, budget {rw['budget_seconds']} s")
        if not rw["within_budget"]:
            sys.exit(1)


if __name__ == "__main__":
    main()
