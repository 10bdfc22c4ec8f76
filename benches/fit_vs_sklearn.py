#!/usr/bin/env python3
"""Fit time, accuracy and peak memory of forest-train against scikit-learn's
RandomForestClassifier, run side by side on the same CSV files with the same
hyper-parameters and the same number of threads.

Run through fit_vs_sklearn.sh, which builds forest-train in release mode
first. Each fit runs in its own child process under GNU time, so its peak
resident memory is its own. Fit time is what each trainer reports for the
fit alone (CSV parsing excluded on both sides); wall time includes it.

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


SKLEARN_CHILD = r"""
import sys, time, json, csv
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.preprocessing import OrdinalEncoder
train, test, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
def load(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    cols = list(zip(*body))
    return header, [list(c) for c in cols[:-1]], np.array(cols[-1])
_, Xtr_cols, ytr = load(train)
_, Xte_cols, yte = load(test)
# Numeric columns as float32; text columns ordinal-encoded (unseen -> -1),
# which is what forest-train does with categorical columns too.
def is_num(col):
    try:
        [float(v) for v in col[:1000]]
        return True
    except ValueError:
        return False
Xtr, Xte = [], []
for a, b in zip(Xtr_cols, Xte_cols):
    if is_num(a):
        Xtr.append(np.array(a, dtype=np.float32)); Xte.append(np.array(b, dtype=np.float32))
    else:
        enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
        Xtr.append(enc.fit_transform(np.array(a).reshape(-1, 1)).ravel().astype(np.float32))
        Xte.append(enc.transform(np.array(b).reshape(-1, 1)).ravel().astype(np.float32))
Xtr, Xte = np.column_stack(Xtr), np.column_stack(Xte)
t = time.time()
model = RandomForestClassifier(**params).fit(Xtr, ytr)
fit = time.time() - t
print(json.dumps({"fit_seconds": fit, "accuracy": float((model.predict(Xte) == yte).mean())}))
"""


def run_pair(name, train, test, trees, threads, extra):
    sk_params = {"n_estimators": trees, "n_jobs": threads, "random_state": 0, **extra}
    out, sk_wall, sk_peak = measured([sys.executable, "-c", SKLEARN_CHILD, train, test,
                                      json.dumps(sk_params)])
    sk = json.loads(out.strip().splitlines()[-1])

    model = f"{os.path.dirname(train)}/{name}.forest"
    cmd = [os.path.join(ROOT, "target", "release", "forest-train"), "fit", "--data", train,
           "--label", "label", "--out", model, "--trees", str(trees), "--threads", str(threads),
           "--no-oob"]
    if "max_depth" in extra:
        cmd += ["--max-depth", str(extra["max_depth"])]
    if "min_samples_leaf" in extra:
        cmd += ["--min-samples-leaf", str(extra["min_samples_leaf"])]
    out, ours_wall, ours_peak = measured(cmd)
    ours_fit = float(re.search(r"in ([0-9.]+) s", out).group(1))
    ev, _, _ = measured([cmd[0], "eval", "--model", model, "--data", test, "--json"])
    ours_acc = json.loads(ev)["accuracy"]
    return {
        "table": name, "trees": trees, "threads": threads, "params": extra,
        "sklearn": {"fit_seconds": round(sk["fit_seconds"], 2), "wall_seconds": round(sk_wall, 2),
                    "peak_mib": round(sk_peak), "accuracy": round(sk["accuracy"], 4)},
        "forest_train": {"fit_seconds": round(ours_fit, 2), "wall_seconds": round(ours_wall, 2),
                         "peak_mib": round(ours_peak), "accuracy": round(ours_acc, 4)},
        "speedup_fit": round(sk["fit_seconds"] / ours_fit, 2),
        "accuracy_delta_points": round(100 * (ours_acc - sk["accuracy"]), 2),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "bench-data"))
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "bench-fit.json"))
    ap.add_argument("--skip-synthetic", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    results = []
    if not args.skip_synthetic:
        print(f"making the {args.rows}-row synthetic table ...", file=sys.stderr)
        tr, te = make_synthetic(args.rows, args.work)
        print("fitting both on it ...", file=sys.stderr)
        results.append(run_pair("synthetic", tr, te, args.trees, args.threads, {}))
        print(json.dumps(results[-1]), file=sys.stderr)
    if os.path.exists(DUNNHUMBY):
        tr, te = make_dunnhumby(args.work)
        results.append(run_pair("dunnhumby", tr, te, args.trees, args.threads, {}))
        print(json.dumps(results[-1]), file=sys.stderr)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(f"{'table':<10} {'ours fit s':>10} {'sk fit s':>9} {'speedup':>8} "
          f"{'ours acc':>9} {'sk acc':>7} {'ours MiB':>9} {'sk MiB':>7}")
    for r in results:
        o, s = r["forest_train"], r["sklearn"]
        print(f"{r['table']:<10} {o['fit_seconds']:>10} {s['fit_seconds']:>9} {r['speedup_fit']:>7}x "
              f"{o['accuracy']:>9} {s['accuracy']:>7} {o['peak_mib']:>9} {s['peak_mib']:>7}")


if __name__ == "__main__":
    main()
