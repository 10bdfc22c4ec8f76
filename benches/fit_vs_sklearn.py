#!/usr/bin/env python3
"""Fit time, accuracy and peak memory of forest-train against scikit-learn's
RandomForestClassifier and scikit-learn-intelex's (oneDAL), run side by
side on the same CSV files with the same hyper-parameters, at 1 and at 2
threads.

Run through fit_vs_sklearn.sh, which builds forest-train in release mode
and puts the Python peers in a venv first. Each fit runs in its own child
process under GNU time, so its peak resident memory is its own. Fit time is
what each trainer reports for the fit alone (CSV parsing excluded on every
side); wall time includes it. Ratios are fit times against ours from the
same run (above 1: the peer is slower).

Tables:
  synthetic  make_classification(n_samples=ROWS, n_features=20,
             n_informative=10, n_redundant=4, n_classes=3, random_state=0),
             first 80% train, last 20% test
  dunnhumby  the real week in ../shared/data/dunnhumby, line level: the nine
             "curated" columns of its README, label BASKET_PRICE_SENSITIVITY
             (XX rows dropped), 80/20 split by a hash of the basket key
"""
import argparse
import csv
import hashlib
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DUNNHUMBY = os.path.join(ROOT, "..", "shared", "data", "dunnhumby", "transactions_200607.csv")


def measured(cmd):
    """Runs cmd under GNU time; returns (stdout, wall seconds, peak RSS MiB)."""
    start = time.time()
    proc = subprocess.run(["/usr/bin/time", "-f", "PEAK_KB=%M"] + cmd,
                          capture_output=True, text=True)
    wall = time.time() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    peak_kb = int(re.search(r"PEAK_KB=(\d+)", proc.stderr).group(1))
    return proc.stdout, wall, peak_kb / 1024


def make_synthetic(rows, out):
    import numpy as np
    from sklearn.datasets import make_classification
    train, test = f"{out}/synthetic_{rows}_train.csv", f"{out}/synthetic_{rows}_test.csv"
    if os.path.exists(train) and os.path.exists(test):
        return train, test
    X, y = make_classification(n_samples=rows, n_features=20, n_informative=10,
                               n_redundant=4, n_classes=3, random_state=0)
    X = X.astype(np.float32)  # both trainers work in float32; write it exactly
    cut = int(rows * 0.8)
    header = ",".join([f"x{i}" for i in range(20)] + ["label"])
    for path, sl in ((train, slice(0, cut)), (test, slice(cut, rows))):
        np.savetxt(path + ".tmp", np.column_stack([X[sl], y[sl]]), delimiter=",",
                   header=header, comments="", fmt=["%.9g"] * 20 + ["%d"])
        os.replace(path + ".tmp", path)
    return train, test


CURATED = ["BASKET_SIZE", "BASKET_TYPE", "BASKET_DOMINANT_MISSION", "SPEND", "QUANTITY",
           "STORE_REGION", "STORE_FORMAT", "PROD_CODE_20", "PROD_CODE_30"]


def make_dunnhumby(out):
    train, test = f"{out}/dunnhumby_train.csv", f"{out}/dunnhumby_test.csv"
    with open(DUNNHUMBY, newline="") as f, open(train, "w", newline="") as tr, \
            open(test, "w", newline="") as te:
        reader = csv.DictReader(f)
        writers = [csv.writer(tr), csv.writer(te)]
        for w in writers:
            w.writerow(CURATED + ["label"])
        for row in reader:
            if row["BASKET_PRICE_SENSITIVITY"] == "XX":
                continue
            key = "|".join(row[c] for c in ("CUST_CODE", "STORE_CODE", "SHOP_DATE", "SHOP_HOUR"))
            side = int(hashlib.sha256(key.encode()).hexdigest(), 16) % 5 == 0
            writers[side].writerow([row[c] for c in CURATED] + [row["BASKET_PRICE_SENSITIVITY"]])
    return train, test


PYTHON_CHILD = r"""
import sys, time, json, csv
import numpy as np
from sklearn.preprocessing import OrdinalEncoder
library, train, test, params = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
if library == "scikit-learn-intelex":
    from sklearnex.ensemble import RandomForestClassifier
else:
    from sklearn.ensemble import RandomForestClassifier
import pyarrow.csv
# pyarrow's reader: fast and light, so that peak memory is the trainer's,
# not a loader's (Python lists of 16 million strings took 2.4 GB).
def load(path):
    table = pyarrow.csv.read_csv(path)
    columns = [table.column(i).to_numpy() for i in range(table.num_columns)]
    return columns[:-1], columns[-1]
Xtr_cols, ytr = load(train)
Xte_cols, yte = load(test)
# Numeric columns as float32; text columns ordinal-encoded (unseen -> -1),
# which is what forest-train does with categorical columns too.
Xtr, Xte = [], []
for a, b in zip(Xtr_cols, Xte_cols):
    if a.dtype.kind in "iuf":
        Xtr.append(a.astype(np.float32)); Xte.append(b.astype(np.float32))
    else:
        enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
        Xtr.append(enc.fit_transform(a.astype(str).reshape(-1, 1)).ravel().astype(np.float32))
        Xte.append(enc.transform(b.astype(str).reshape(-1, 1)).ravel().astype(np.float32))
Xtr, Xte = np.column_stack(Xtr), np.column_stack(Xte)
t = time.time()
model = RandomForestClassifier(**params).fit(Xtr, ytr)
fit = time.time() - t
print(json.dumps({"fit_seconds": fit, "accuracy": float((model.predict(Xte) == yte).mean())}))
"""


PEERS = ["scikit-learn-intelex", "scikit-learn"]


def run_python(library, train, test, trees, threads, extra):
    params = {"n_estimators": trees, "n_jobs": threads, "random_state": 0, **extra}
    out, wall, peak = measured([sys.executable, "-c", PYTHON_CHILD, library, train, test,
                                json.dumps(params)])
    r = json.loads(out.strip().splitlines()[-1])
    return {"fit_seconds": round(r["fit_seconds"], 2), "wall_seconds": round(wall, 2),
            "peak_mib": round(peak), "accuracy": round(r["accuracy"], 4)}


def run_ours(name, train, test, trees, threads, extra):
    model = f"{os.path.dirname(train)}/{name}.{threads}.forest"
    cmd = [os.path.join(ROOT, "target", "release", "forest-train"), "fit", "--data", train,
           "--label", "label", "--out", model, "--trees", str(trees), "--threads", str(threads),
           "--no-oob"]
    if "max_depth" in extra:
        cmd += ["--max-depth", str(extra["max_depth"])]
    if "min_samples_leaf" in extra:
        cmd += ["--min-samples-leaf", str(extra["min_samples_leaf"])]
    out, wall, peak = measured(cmd)
    fit = float(re.search(r"in ([0-9.]+) s", out).group(1))
    ev, _, _ = measured([cmd[0], "eval", "--model", model, "--data", test, "--json"])
    return {"fit_seconds": round(fit, 2), "wall_seconds": round(wall, 2),
            "peak_mib": round(peak), "accuracy": round(json.loads(ev)["accuracy"], 4)}


def run_table(name, train, test, trees, threads_list, extra):
    """Every trainer at every thread count on one table."""
    rows = []
    for threads in threads_list:
        print(f"  {name}, {threads} thread(s): forest-train ...", file=sys.stderr, flush=True)
        ours = run_ours(name, train, test, trees, threads, extra)
        rows.append({"table": name, "trainer": "forest-train", "threads": threads, **ours,
                     "vs_ours": 1.0})
        for library in PEERS:
            print(f"  {name}, {threads} thread(s): {library} ...", file=sys.stderr, flush=True)
            r = run_python(library, train, test, trees, threads, extra)
            rows.append({"table": name, "trainer": library, "threads": threads, **r,
                         "vs_ours": round(r["fit_seconds"] / ours["fit_seconds"], 2)})
        for r in rows[-1 - len(PEERS):]:
            print(json.dumps(r), file=sys.stderr)
    return rows


def versions():
    from importlib.metadata import version
    return {name: version(name) for name in
            ("numpy", "scikit-learn", "scikit-learn-intelex", "pyarrow")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--threads", default="1,2",
                    help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "bench-data"))
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "bench-fit.json"))
    ap.add_argument("--skip-synthetic", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    threads_list = [int(t) for t in args.threads.split(",")]
    results = []
    if not args.skip_synthetic:
        print(f"making the {args.rows}-row synthetic table ...", file=sys.stderr)
        tr, te = make_synthetic(args.rows, args.work)
        results += run_table("synthetic", tr, te, args.trees, threads_list, {})
    if os.path.exists(DUNNHUMBY):
        tr, te = make_dunnhumby(args.work)
        results += run_table("dunnhumby", tr, te, args.trees, threads_list, {})
    with open(args.out, "w") as f:
        json.dump({"versions": versions(), "rows": args.rows, "trees": args.trees,
                   "results": results}, f, indent=1)
    print(f"peers: {versions()}; {args.trees} trees; vs ours: the peer's fit time / ours")
    print(f"{'table':<10} {'trainer':<21} {'threads':>7} {'fit s':>8} {'vs ours':>8} "
          f"{'accuracy':>9} {'peak MiB':>9}")
    for r in results:
        print(f"{r['table']:<10} {r['trainer']:<21} {r['threads']:>7} {r['fit_seconds']:>8} "
              f"{r['vs_ours']:>7}x {r['accuracy']:>9} {r['peak_mib']:>9}")

if __name__ == "__main__":
    main()
