"""checkov on the rendered manifests and the CloudFormation templates: no
failed check, and every skipped one explained where it is skipped."""

from __future__ import annotations

import json
import os
import re

import yaml

from conftest import TEMPLATES, load_template, run


def checkov_json(exe, *args):
    # No network: skip the guideline download and the platform's mapping.
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false",
               LOG_LEVEL="ERROR")
    p = run([exe, "--output", "json", "--skip-download", "--quiet", "--compact", *args],
            env=env, check=False, timeout=300)
    assert p.returncode in (0, 1), f"checkov failed to run ({p.returncode}):\n{p.stderr[-4000:]}"
    reports = json.loads(p.stdout or "[]")
    if isinstance(reports, dict):
        reports = [reports]
    return reports


def failures(reports):
    out = []
    for r in reports:
        for f in r.get("results", {}).get("failed_checks", []):
            out.append(f"{f['check_id']} {f['check_name']}: {f['resource']} ({f['file_path']})")
    return out


def test_manifests(checkov, rendered, tmp_path):
    for name, path in rendered.items():
        (tmp_path / f"{name}.yaml").write_text(path.read_text())
    reports = checkov_json(checkov, "-d", str(tmp_path), "--framework", "kubernetes")
    assert not failures(reports), "\n".join(failures(reports))
    passed = sum(r.get("summary", {}).get("passed", 0) for r in reports)
    assert passed > 50, f"only {passed} checks ran: {reports}"


def test_templates(checkov):
    reports = checkov_json(checkov, "-d", str(TEMPLATES), "--framework", "cloudformation")
    assert not failures(reports), "\n".join(failures(reports))
    passed = sum(r.get("summary", {}).get("passed", 0) for r in reports)
    assert passed > 40, f"only {passed} checks ran: {reports}"


def test_every_skip_is_explained(rendered):
    for path in TEMPLATES.glob("*.yaml"):
        for name, res in load_template(path.name)["Resources"].items():
            for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
                assert len(skip.get("comment", "")) > 30, f"{path.name} {name}: {skip['id']} unexplained"
    for d in yaml.safe_load_all(rendered["prod"].read_text()):
        for key, value in ((d or {}).get("metadata", {}).get("annotations") or {}).items():
            if key.startswith("checkov.io/skip"):
                assert re.fullmatch(r"CKV2?_K8S_\d+=.{30,}", value), f"{key}: {value}"
