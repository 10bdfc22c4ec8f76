"""The README's first command, run for real on a small synthetic set:
synth -> etl -> fit -> eval -> register -> approve -> pull -> build
forest-serve with the pulled model compiled in -> serve. The test answers
the curl line the script prints, checks the prediction, stops the server
with SIGTERM and runs the chain again to check it is idempotent.

The cargo profile is `dev` here so the test reuses what `cargo test` just
compiled; the chain is otherwise the one a user runs (release is the
script's default)."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import ROOT, SCRIPTS, free_port, run

QUICKSTART = SCRIPTS / "quickstart.sh"
# Two weeks of 1,000 baskets pass the quality gates and keep the run short.
SMALL = {"WEEKS": "2", "BASKETS": "1000", "SEED": "0", "PROFILE": "dev", "THREADS": "2"}
# A cold compile of forest-serve in the dev profile fits well inside this.
BUILD_AND_RUN_SECS = 900


def quickstart_env(work: Path, port: int, **extra: str) -> dict:
    env = dict(os.environ, WORK=str(work), ADDR=f"127.0.0.1:{port}", **SMALL, **extra)
    env.pop("FOREST_MODEL", None)
    return env


def read_until_ready(proc: subprocess.Popen, timeout: float) -> list[str]:
    """The script's output lines up to and including the curl line it prints
    once the server is ready; fails with the output if the script exits or
    the time runs out first (a timer kills it, which ends the blocking read)."""
    lines: list[str] = []
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("curl "):
                return lines
    finally:
        watchdog.cancel()
    proc.kill()
    proc.wait()
    pytest.fail("the quickstart did not print a ready server's curl line:\n" + "\n".join(lines[-80:]))


def test_quickstart_serves_the_model_it_approved(tmp_path):
    work = tmp_path / "quickstart"
    port = free_port()
    proc = subprocess.Popen([str(QUICKSTART)], cwd=ROOT, env=quickstart_env(work, port),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = read_until_ready(proc, BUILD_AND_RUN_SECS)
        out = "\n".join(lines)
        for step in ["synthesize 2 week(s)", "ETL: raw -> silver -> gold", "fit on gold",
                     "evaluate on gold", "register in the local registry", "approve version 1",
                     "pull the approved model", "build forest-serve (dev) with the approved model",
                     f"serve on http://127.0.0.1:{port}"]:
            assert step in out, f"step {step!r} missing from the quickstart's output:\n{out}"

        # The printed line, run as printed (plus curl's own status code).
        curl = shlex.split(lines[-1]) + ["-w", "\n%{http_code}"]
        answer = run(curl, timeout=30).stdout
        body, status = answer.rsplit("\n", 1)
        assert status == "200", answer
        prediction = json.loads(body)
        assert prediction["code"] in {"LA", "MM", "UM"}
        assert prediction["price_sensitivity"] == {"LA": "High", "MM": "Medium", "UM": "Low"}[prediction["code"]]
        probabilities = prediction["probabilities"]
        assert set(probabilities) == {"LA", "MM", "UM"}
        assert abs(sum(probabilities.values()) - 1.0) < 0.02  # rounded to two decimals
        assert max(probabilities, key=probabilities.get) == prediction["code"]

        # The server compiled in the model the registry approved: same hash.
        approved = (work / "approved.forest").read_bytes()
        digest = hashlib.sha256(approved).hexdigest()
        assert prediction["model_version"] == digest[:12]
        assert digest[:12] in run(["curl", "-s", f"http://127.0.0.1:{port}/metrics"], timeout=30).stdout
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rest, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
    assert proc.returncode == 0, f"quickstart exited {proc.returncode} after SIGTERM:\n{rest[-3000:]}"
    assert "forest-serve stopped" in rest

    # Idempotent: a second run over the same directory gives the same model
    # bytes and a fresh registry where it is version 1 again.
    second = run([str(QUICKSTART), "--no-serve"], env=quickstart_env(work, port), timeout=BUILD_AND_RUN_SECS)
    assert "approve version 1" in second.stdout, second.stdout
    assert (work / "approved.forest").read_bytes() == approved
    versions = sorted(p.name for p in (work / "registry").rglob("*") if p.is_dir() and p.name.isdigit())
    assert versions == ["1"], versions
