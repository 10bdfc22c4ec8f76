#!/usr/bin/env python3
"""forest-train against scikit-learn's RandomForestClassifier on the same
gold features of the real week: the same train rows, the same Float32
feature columns (categorical features as the gold table's codes, missing
values as NaN), scored on the same val and test rows.

Run through gold_vs_sklearn.sh, which builds forest-train in release mode
and installs scikit-learn and pyarrow first.

  gold        `forest-train etl --seed P` (default split 0.7/0.15/0.15) on a
              temporary raw directory holding a copy of
              ../shared/data/dunnhumby/transactions_200607.csv, into a
              temporary lake; P runs over 0..SPLIT_SEEDS-1 (default: 0
              only). Each P is another split of the baskets, with its own
              train-only priors.
  forest-train  `fit --data LAKE/gold` with default parameters (100 trees,
              gini, sqrt features, bootstrap) and --seed S, --threads 2,
              --no-oob (scikit-learn's default computes no OOB score either;
              the trees are the same); scored by `eval --split test|val --json`.
  scikit-learn  RandomForestClassifier(n_estimators=100, n_jobs=2,
              random_state=S), other parameters at their defaults, fitted
              on the gold Parquet read with pyarrow (NaN handled natively,
              scikit-learn >= 1.4).

--max-depth and --min-samples-leaf set the same parameter on both sides
(defaults: unlimited and 1, both trainers' defaults).

S runs over 0..SEEDS-1 for every split; the table gives the mean (and
standard deviation) of accuracy and macro-F1 over all runs, and fit times.

With about 570 baskets each, one split's val or test accuracy carries a
standard error near 1.8 points, and splits differ by more than the
trainers do. So with --split-seeds above 1 the script also gives the
paired difference (forest-train minus scikit-learn, each split's mean over
seeds), its mean over splits and a 95% interval (Student's t): a gap is
only a win or a loss when the interval leaves out zero.
"""
import argparse
import glob
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
# The binary under test: $FOREST_TRAIN, else the release build (under
# $CARGO_TARGET_DIR when set). Accuracy does not depend on the build
# profile; fit times only mean something for a release build.
BIN = os.environ.get("FOREST_TRAIN") or os.path.join(
    os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release", "forest-train")
DUNNHUMBY = os.path.join(ROOT, "..", "shared", "data", "dunnhumby", "transactions_200607.csv")
META = ["basket_key", "shop_week", "split", "fold", "label"]


def run(cmd):
    """Runs cmd; returns (stdout, wall seconds)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout, wall


def read_gold(gold):
    """The gold table as numpy arrays per split: {split: (X float32, y str)}."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    with open(os.path.join(gold, "_spec.json")) as f:
        spec = json.load(f)
    names = [feat["name"] for feat in spec["features"]["features"]]
    parts = sorted(glob.glob(os.path.join(gold, "SHOP_WEEK=*", "*.parquet")))
    if not parts:
        sys.exit(f"no gold partitions in {gold}")
    table = pa.concat_tables([pq.read_table(p) for p in parts])
    if table.column_names != META + names:
        sys.exit(f"unexpected gold columns {table.column_names}; spec features {names}")
    split = np.array(table.column("split").to_pylist())
    label = np.array(table.column("label").to_pylist())
    # Nulls (which our writer never makes) read as NaN, as forest-train does.
    X = np.column_stack([table.column(n).to_numpy(zero_copy_only=False).astype(np.float32)
                         for n in names])
    out = {s: (X[split == s], label[split == s]) for s in ("train", "val", "test")}
    return out, names, spec["classes"]


def sklearn_seed(data, classes, seed, threads, max_depth=None, min_samples_leaf=1):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, f1_score
    Xtr, ytr = data["train"]
    model = RandomForestClassifier(n_estimators=100, n_jobs=threads, random_state=seed,
                                   max_depth=max_depth, min_samples_leaf=min_samples_leaf)
    t = time.perf_counter()
    model.fit(Xtr, ytr)
    fit = time.perf_counter() - t
    scores = {}
    for s in ("test", "val"):
        X, y = data[s]
        pred = model.predict(X)
        scores[s] = {"rows": len(y), "accuracy": float(accuracy_score(y, pred)),
                     "macro_f1": float(f1_score(y, pred, labels=classes, average="macro"))}
    return {"seed": seed, "fit_seconds": fit, **scores}


def forest_train_seed(gold, work, seed, threads, max_depth=None, min_samples_leaf=1):
    model = os.path.join(work, f"gold-seed{seed}.forest")
    depth = ["--max-depth", str(max_depth)] if max_depth is not None else []
    out, wall = run([BIN, "fit", "--data", gold, "--out", model, "--seed", str(seed),
                     "--threads", str(threads), "--no-oob", *depth,
                     "--min-samples-leaf", str(min_samples_leaf)])
    fit = float(re.search(r"trained .* in ([0-9.]+) s", out).group(1))
    scores = {}
    for s in ("test", "val"):
        ev, _ = run([BIN, "eval", "--model", model, "--data", gold, "--split", s, "--json",
                     "--threads", str(threads)])
        ev = json.loads(ev)
        scores[s] = {"rows": ev["rows"], "accuracy": ev["accuracy"], "macro_f1": ev["macro_f1"]}
    return {"seed": seed, "fit_seconds": fit, "fit_wall_seconds": wall, **scores}


# Student's t, two-sided 95%, by degrees of freedom.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
       9: 2.262, 10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}


def paired(ours, theirs, split_seeds, metric):
    """Per split, forest-train's mean minus scikit-learn's over the seeds,
    on val+test together (weighted by rows); then their mean over splits
    and a 95% interval."""
    def held_out(runs, p):
        rs = [r for r in runs if r["split_seed"] == p]
        rows = sum(r[s]["rows"] for r in rs for s in ("test", "val"))
        return sum(r[s][metric] * r[s]["rows"] for r in rs for s in ("test", "val")) / rows
    diffs = [held_out(ours, p) - held_out(theirs, p) for p in range(split_seeds)]
    mean = statistics.mean(diffs)
    if len(diffs) < 2:
        return {"per_split": diffs, "mean": mean}
    df = len(diffs) - 1
    t = T95[max(d for d in T95 if d <= df)]
    half = t * statistics.stdev(diffs) / len(diffs) ** 0.5
    return {"per_split": diffs, "mean": mean, "ci95": [mean - half, mean + half]}


def summary(runs):
    def stat(values):
        values = list(values)
        return {"mean": round(statistics.mean(values), 4),
                "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0}
    out = {"fit_seconds": stat(r["fit_seconds"] for r in runs)}
    for s in ("test", "val"):
        for m in ("accuracy", "macro_f1"):
            out[f"{s}_{m}"] = stat(r[s][m] for r in runs)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5, help="model seeds per split (default 5)")
    ap.add_argument("--split-seeds", type=int, default=1,
                    help="splits of the baskets, etl --seed 0..N-1 (default 1: seed 0)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--split", default=None,
                    help="train,val,test fractions for etl (default: etl's, 0.7,0.15,0.15); "
                         "a larger train share shows how accuracy grows with product coverage")
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "bench-gold.json"))
    ap.add_argument("--max-depth", type=int, default=None,
                    help="both sides' max_depth (default: unlimited, both defaults)")
    ap.add_argument("--min-samples-leaf", type=int, default=1,
                    help="both sides' min_samples_leaf (default 1, both defaults)")
    args = ap.parse_args()
    import numpy as np
    import pyarrow
    import sklearn
    if tuple(int(p) for p in sklearn.__version__.split(".")[:2]) < (1, 4):
        sys.exit(f"scikit-learn {sklearn.__version__}: RandomForest handles NaN from 1.4 on")
    if not os.path.exists(DUNNHUMBY):
        sys.exit(f"{DUNNHUMBY} not found")

    tmp = tempfile.mkdtemp(prefix="bench-gold-")
    try:
        raw = os.path.join(tmp, "raw")
        os.makedirs(raw)
        shutil.copyfile(DUNNHUMBY, os.path.join(raw, os.path.basename(DUNNHUMBY)))
        ours, theirs = [], []
        for split_seed in range(args.split_seeds):
            lake = os.path.join(tmp, f"lake-{split_seed}")
            fractions = ["--split", args.split] if args.split else []
            etl_out, _ = run([BIN, "etl", "--raw", raw, "--lake", lake, *fractions,
                              "--seed", str(split_seed), "--threads", str(args.threads)])
            print(etl_out.strip(), file=sys.stderr)
            gold = os.path.join(lake, "gold")
            data, names, classes = read_gold(gold)
            Xtr = data["train"][0]
            shape = {s: len(data[s][1]) for s in data}
            print(f"gold (split seed {split_seed}): {shape} rows, {len(names)} features, "
                  f"{int(np.isnan(Xtr).sum())} NaN cells in train", file=sys.stderr)
            train_rows = int(re.search(r"train (\d+)", etl_out).group(1))
            if train_rows != shape["train"]:
                sys.exit(f"etl reports {train_rows} train baskets, pyarrow read {shape['train']}")
            for seed in range(args.seeds):
                ours.append({"split_seed": split_seed,
                             **forest_train_seed(gold, tmp, seed, args.threads,
                                                 args.max_depth, args.min_samples_leaf)})
                theirs.append({"split_seed": split_seed,
                               **sklearn_seed(data, classes, seed, args.threads,
                                              args.max_depth, args.min_samples_leaf)})
                print(json.dumps({"forest_train": ours[-1], "sklearn": theirs[-1]}),
                      file=sys.stderr)
                # The same rows on both sides.
                for s in ("test", "val"):
                    if ours[-1][s]["rows"] != theirs[-1][s]["rows"]:
                        sys.exit(f"{s}: forest-train scored {ours[-1][s]['rows']} rows, "
                                 f"scikit-learn {theirs[-1][s]['rows']}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    result = {
        "data": f"real week 200607, gold (etl --seed 0..{args.split_seeds - 1}, "
                "split 0.7,0.15,0.15)",
        "rows": shape, "features": names, "threads": args.threads, "seeds": args.seeds,
        "split_seeds": args.split_seeds,
        "paired_held_out": {m: paired(ours, theirs, args.split_seeds, m)
                            for m in ("accuracy", "macro_f1")},
        "split": args.split or "0.7,0.15,0.15",
        "params": {"max_depth": args.max_depth, "min_samples_leaf": args.min_samples_leaf},
        "versions": {"sklearn": sklearn.__version__, "pyarrow": pyarrow.__version__,
                     "numpy": np.__version__},
        "forest_train": {"summary": summary(ours), "runs": ours},
        "sklearn": {"summary": summary(theirs), "runs": theirs},
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)

    print(f"real week gold: train {shape['train']}, val {shape['val']}, test {shape['test']} "
          f"baskets (last split), {len(names)} features; 100 trees, {args.threads} threads, "
          f"mean ± std over split seeds 0..{args.split_seeds - 1} x seeds 0..{args.seeds - 1}")
    print(f"{'trainer':<13} {'test acc':>15} {'test macro-F1':>15} {'val acc':>15} "
          f"{'val macro-F1':>15} {'fit s':>13}")
    for name, key in (("forest-train", "forest_train"), ("scikit-learn", "sklearn")):
        s = result[key]["summary"]
        cell = lambda k, d=4: f"{s[k]['mean']:.{d}f} ± {s[k]['std']:.{d}f}"
        print(f"{name:<13} {cell('test_accuracy'):>15} {cell('test_macro_f1'):>15} "
              f"{cell('val_accuracy'):>15} {cell('val_macro_f1'):>15} {cell('fit_seconds', 3):>13}")
    o, k = result["forest_train"]["summary"], result["sklearn"]["summary"]
    print(f"forest-train minus scikit-learn, test: accuracy "
          f"{100 * (o['test_accuracy']['mean'] - k['test_accuracy']['mean']):+.2f} points, "
          f"macro-F1 {100 * (o['test_macro_f1']['mean'] - k['test_macro_f1']['mean']):+.2f} points")
    for m, p in result["paired_held_out"].items():
        line = (f"paired by split, val+test {m}: forest-train minus scikit-learn "
                f"{100 * p['mean']:+.2f} points")
        if "ci95" in p:
            lo, hi = p["ci95"]
            verdict = "no significant difference" if lo <= 0 <= hi else (
                "forest-train ahead" if lo > 0 else "scikit-learn ahead")
            line += f", 95% interval [{100 * lo:+.2f}, {100 * hi:+.2f}]: {verdict}"
        print(line)


if __name__ == "__main__":
    main()
