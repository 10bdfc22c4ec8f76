#!/usr/bin/env python3
"""Models trained by the real libraries, for the `forest-train import` tests.

    python3 import_models.py OUT_DIR

For every model NAME it writes the model file (NAME.txt for LightGBM,
NAME.json for XGBoost, NAME.onnx for ONNX) and NAME.proba: the source
library's own probabilities on the test rows, little-endian f64, row-major
[rows, classes]. The test rows of each data set are X_<set>.f32
(little-endian f32, row-major), and manifest.json lists everything:

    {"models": {NAME: {"file", "source", "x", "rows", "features", "classes"}},
     "refuse": {NAME: {"file", "source", "expect"}},
     "versions": {library: version}}

`refuse` files hold constructs the importer must refuse; `expect` is a
fragment of the error. Rows are float32 so that every library and ours
read the same numbers; every fit is single-threaded and seeded.
"""
import json
import sys
from pathlib import Path

import numpy as np

TEST_ROWS, FEATURES = 10_000, 6


def rows(seed, n, missing=0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    # Exact zeros and repeated values, where thresholds sit on data points.
    x[rng.random(n) < 0.2, 3] = 0.0
    x[:, 5] = np.round(x[:, 5] * 4) / 4
    if missing:
        x[rng.random(x.shape) < missing] = np.nan
    return x


def labels(x, seed):
    rng = np.random.default_rng(seed)
    a = np.nan_to_num(x)
    binary = (a[:, 0] + 0.5 * a[:, 1] - 0.4 * a[:, 5] + rng.normal(scale=0.5, size=len(a)) > 0)
    three = np.digitize(a[:, 0] + 0.3 * a[:, 2] + 0.3 * a[:, 3]
                        + rng.normal(scale=0.3, size=len(a)), [-0.5, 0.5])
    return binary.astype(int), three


def main(out):
    import lightgbm as lgb
    import onnx
    import onnxruntime as ort
    import sklearn
    import skl2onnx
    import xgboost as xgb
    from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier,
                                  RandomForestClassifier)
    from skl2onnx import to_onnx

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    models, refuse = {}, {}
    sets = {
        # 10% missing values: routing NaN is part of what must match.
        "missing": (rows(1, 4000, 0.1), rows(2, TEST_ROWS, 0.1)),
        # scikit-learn's ONNX export has no missing-value direction.
        "dense": (rows(3, 4000), rows(4, TEST_ROWS)),
    }
    for key, (_, test) in sets.items():
        test.astype("<f4").tofile(out / f"X_{key}.f32")

    def record(name, file, source, key, proba):
        proba = np.asarray(proba, dtype=np.float64)
        if proba.ndim == 1:  # a binary booster answers P(class 1)
            proba = np.column_stack([1.0 - proba, proba])
        proba.astype("<f8").tofile(out / f"{name}.proba")
        models[name] = dict(file=file, source=source, x=f"X_{key}.f32",
                            rows=int(proba.shape[0]), features=FEATURES,
                            classes=int(proba.shape[1]))

    # LightGBM: gradient boosting, random-forest mode, a sigmoid scale, and
    # missing values turned off (NaN then goes where zero goes).
    x, test = sets["missing"]
    binary, three = labels(x, 10)
    common = dict(num_leaves=15, min_child_samples=10, n_jobs=1, verbose=-1, random_state=0)
    rf = dict(boosting_type="rf", subsample=0.632, subsample_freq=1, colsample_bytree=0.8)
    lightgbm = {
        "lightgbm_binary": (dict(n_estimators=30, learning_rate=0.1), binary),
        "lightgbm_3class": (dict(n_estimators=20, learning_rate=0.1), three),
        "lightgbm_rf_binary": (dict(n_estimators=10, **rf), binary),
        "lightgbm_rf_3class": (dict(n_estimators=8, **rf), three),
        "lightgbm_sigmoid_no_missing": (dict(n_estimators=10, sigmoid=0.7, use_missing=False), binary),
    }
    for name, (params, y) in lightgbm.items():
        model = lgb.LGBMClassifier(**params, **common).fit(x, y)
        path = out / f"{name}.txt"
        model.booster_.save_model(str(path))
        # Predict from the file, as the importer sees the model.
        record(name, path.name, "lightgbm", "missing",
               lgb.Booster(model_file=str(path)).predict(test))
    categorical = x.copy()
    categorical[:, 4] = np.random.default_rng(11).integers(0, 10, size=len(x))
    y = (np.isin(categorical[:, 4], [1, 4, 7]) ^ (np.nan_to_num(x[:, 0]) > 1)).astype(int)
    lgb.LGBMClassifier(n_estimators=3, num_leaves=4, n_jobs=1, verbose=-1).fit(
        categorical, y, categorical_feature=[4]).booster_.save_model(
        str(out / "lightgbm_categorical.txt"))
    refuse["lightgbm_categorical"] = dict(file="lightgbm_categorical.txt", source="lightgbm",
                                          expect="categorical split")
    lgb.LGBMClassifier(n_estimators=3, linear_tree=True, **common).fit(
        np.nan_to_num(x), binary).booster_.save_model(str(out / "lightgbm_linear.txt"))
    refuse["lightgbm_linear"] = dict(file="lightgbm_linear.txt", source="lightgbm",
                                     expect="linear tree")
    lgb.LGBMRegressor(n_estimators=3, objective="poisson", **common).fit(
        x, np.abs(np.nan_to_num(x[:, 0]))).booster_.save_model(str(out / "lightgbm_poisson.txt"))
    refuse["lightgbm_poisson"] = dict(file="lightgbm_poisson.txt", source="lightgbm",
                                      expect="poisson")

    # XGBoost: boosting, its random forest, boosted forests, a base score.
    binary, three = labels(x, 20)
    common = dict(n_jobs=1, random_state=0)
    xgboost = {
        "xgboost_binary": (xgb.XGBClassifier, dict(n_estimators=20, max_depth=4), binary),
        "xgboost_3class": (xgb.XGBClassifier, dict(n_estimators=10, max_depth=3), three),
        "xgboost_rf_binary": (xgb.XGBRFClassifier, dict(n_estimators=8, max_depth=4), binary),
        "xgboost_boosted_rf_3class": (xgb.XGBClassifier, dict(
            n_estimators=3, num_parallel_tree=4, subsample=0.8, colsample_bynode=0.8,
            max_depth=3), three),
        "xgboost_base_score": (xgb.XGBClassifier, dict(n_estimators=5, max_depth=3,
                                                       base_score=0.3), binary),
    }
    for name, (kind, params, y) in xgboost.items():
        kind(**params, **common).fit(x, y).save_model(str(out / f"{name}.json"))
        loaded = xgb.XGBClassifier()
        loaded.load_model(str(out / f"{name}.json"))
        record(name, f"{name}.json", "xgboost", "missing", loaded.predict_proba(test))
    xgb.XGBClassifier(booster="dart", n_estimators=4, max_depth=3, rate_drop=0.3,
                      **common).fit(x, binary).save_model(str(out / "xgboost_dart.json"))
    refuse["xgboost_dart"] = dict(file="xgboost_dart.json", source="xgboost", expect="dart")
    categorical[:, 4] = np.random.default_rng(21).integers(0, 5, size=len(x))
    y = np.isin(categorical[:, 4], [1, 3]).astype(int)
    matrix = xgb.DMatrix(categorical, label=y, feature_types=["q"] * 4 + ["c", "q"],
                         enable_categorical=True)
    xgb.train({"objective": "binary:logistic", "max_depth": 3, "tree_method": "hist",
               "nthread": 1, "max_cat_to_onehot": 1}, matrix, num_boost_round=3).save_model(
        str(out / "xgboost_categorical.json"))
    refuse["xgboost_categorical"] = dict(file="xgboost_categorical.json", source="xgboost",
                                         expect="categorical split")

    # scikit-learn through ONNX; onnxruntime, single-threaded, answers for
    # the file (scikit-learn itself is checked beside it in the test).
    x, test = sets["dense"]
    binary, three = labels(x, 30)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    sklearn_models = {
        "onnx_random_forest_binary": (RandomForestClassifier(
            n_estimators=20, max_depth=8, random_state=0, n_jobs=1), binary),
        "onnx_random_forest_3class": (RandomForestClassifier(
            n_estimators=20, max_depth=8, random_state=0, n_jobs=1), three),
        "onnx_extra_trees_3class": (ExtraTreesClassifier(
            n_estimators=10, max_depth=6, random_state=0, n_jobs=1), three),
        "onnx_gradient_boosting_binary": (GradientBoostingClassifier(
            n_estimators=10, max_depth=3, random_state=0), binary),
        "onnx_gradient_boosting_3class": (GradientBoostingClassifier(
            n_estimators=10, max_depth=3, random_state=0), three),
    }
    sklearn_proba = {}
    for name, (model, y) in sklearn_models.items():
        model.fit(x, y)
        # The default export (a ZipMap of dictionaries after the trees) for
        # one model, plain probabilities for the others.
        zipmap = name == "onnx_random_forest_3class"
        exported = to_onnx(model, x[:1], options={id(model): {"zipmap": zipmap}})
        path = out / f"{name}.onnx"
        path.write_bytes(exported.SerializeToString())
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        output = [o.name for o in session.get_outputs()][1]
        proba = session.run([output], {session.get_inputs()[0].name: test})[0]
        if zipmap:
            proba = np.array([[d[k] for k in sorted(d)] for d in proba], dtype=np.float32)
        record(name, path.name, "onnx", "dense", proba)
        sklearn_proba[name] = model.predict_proba(test)
    for name, proba in sklearn_proba.items():
        proba.astype("<f8").tofile(out / f"{name}.sklearn.proba")

    versions = dict(numpy=np.__version__, lightgbm=lgb.__version__, xgboost=xgb.__version__,
                    sklearn=sklearn.__version__, skl2onnx=skl2onnx.__version__,
                    onnx=onnx.__version__, onnxruntime=ort.__version__)
    manifest = dict(models=models, refuse=refuse, versions=versions)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1])
