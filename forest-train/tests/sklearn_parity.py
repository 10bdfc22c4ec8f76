"""Writes scikit-learn's bundled data sets as CSV train/test splits and the
accuracy of scikit-learn's RandomForestClassifier on them, for the Rust
parity test (tests/integration/parity.rs) to compare against.

Usage: python3 sklearn_parity.py OUT_DIR [SEEDS]
Writes OUT_DIR/<name>_train.csv, <name>_test.csv and OUT_DIR/baseline.json:
{"<name>": {"accuracies": [...], "mean": ...}, ...}
"""
import json
import sys

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

out, seeds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5
baseline = {}
for name, loader in [("iris", load_iris), ("wine", load_wine),
                     ("breast_cancer", load_breast_cancer), ("digits", load_digits)]:
    data = loader()
    # A fixed, stratified 25% held-out split: the same rows for both libraries.
    X_tr, X_te, y_tr, y_te = train_test_split(
        data.data, data.target, test_size=0.25, random_state=0, stratify=data.target)
    header = ",".join([f"f{i}" for i in range(data.data.shape[1])] + ["target"])
    for part, X, y in (("train", X_tr, y_tr), ("test", X_te, y_te)):
        # %.17g keeps every float64 exactly; both sides then round to the same
        # float32 (scikit-learn's trees work in float32 too).
        np.savetxt(f"{out}/{name}_{part}.csv", np.column_stack([X, y]), delimiter=",",
                   header=header, comments="", fmt=["%.17g"] * X.shape[1] + ["%d"])
    accuracies = []
    for seed in range(seeds):
        model = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=2)
        model.fit(X_tr, y_tr)
        accuracies.append(float((model.predict(X_te) == y_te).mean()))
    baseline[name] = {"accuracies": accuracies, "mean": float(np.mean(accuracies))}
with open(f"{out}/baseline.json", "w") as f:
    json.dump(baseline, f, indent=1)
