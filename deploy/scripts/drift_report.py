"""Prints what a forest-serve instance says about its inputs and its shadow:
the drift window (GET /drift: rows, drifted features, the largest PSIs) and
the shadow's agreement since the previous call (kept in STATE) and since
the start (/metrics). Used by drift-demo.sh.

Usage: drift_report.py ADDR STATE
"""

import json
import re
import sys
import urllib.request


def get(addr, path):
    with urllib.request.urlopen(f"http://{addr}{path}") as r:
        return r.read().decode()


def main(addr, state):
    d = json.loads(get(addr, "/drift"))
    drifted = ", ".join(d["drifted"]) or "none"
    print(f"  rows in window {d['rows_in_window']} of {d['window_rows']}, seen {d['rows_seen']}; "
          f"drifted (PSI > {d['psi_alert']}): {drifted}")
    top = sorted(d["features"], key=lambda f: -(f["psi"] or 0))[:8]
    print("  largest PSI: " + ", ".join(f"{f['name']} {f['psi']:.3f}" for f in top))
    rest = [f["psi"] for f in d["features"] if f["name"] not in d["drifted"]]
    print(f"  the other {len(rest)} features: PSI at most {max(rest):.3f}")

    text = get(addr, "/metrics")

    def value(series):
        m = re.search("^" + re.escape(series) + r" (\S+)$", text, re.M)
        return float(m.group(1))

    agree = value('forest_shadow_predictions_total{agree="true"}')
    differ = value('forest_shadow_predictions_total{agree="false"}')
    try:
        before = [float(x) for x in open(state).read().split()]
    except FileNotFoundError:
        before = [0.0, 0.0]
    with open(state, "w") as f:
        f.write(f"{agree} {differ}")
    a, b = agree - before[0], differ - before[1]
    print(f"  shadow: {a:.0f} of {a + b:.0f} baskets agree ({a / max(a + b, 1):.3f}); "
          f"since the start {value('forest_shadow_agreement_ratio'):.3f}")
    print("  " + next(line for line in text.splitlines() if line.startswith("forest_model_info")))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
