"""The linters, each clean on everything it reads: hadolint on the
Dockerfiles, shellcheck on the scripts, actionlint on the workflows,
cfn-lint on the CloudFormation templates."""

from __future__ import annotations

import pytest

from conftest import DEPLOY, ROOT, SCRIPTS, TEMPLATES, run, tool

DOCKERFILES = sorted((DEPLOY / "docker").glob("*.Dockerfile"))
SCRIPT_FILES = sorted(SCRIPTS.glob("*.sh"))
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
TEMPLATE_FILES = sorted(TEMPLATES.glob("*.yaml"))


def test_there_is_something_to_lint():
    names = {p.name for p in DOCKERFILES}
    assert {"serve.Dockerfile", "train.Dockerfile"} <= names
    assert {"bootstrap.sh", "deploy.sh", "demo-on.sh", "demo-off.sh", "teardown.sh"} <= {p.name for p in SCRIPT_FILES}
    assert {"ci.yml", "release.yml", "retrain.yml"} <= {p.name for p in WORKFLOWS}
    assert {"network.yaml", "data.yaml", "iam.yaml", "monitoring.yaml", "cost.yaml"} <= {p.name for p in TEMPLATE_FILES}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint(dockerfile):
    run([tool("hadolint"), "--failure-threshold", "info", str(dockerfile)])


def test_shellcheck():
    # -x -P SCRIPTDIR: follow `. lib.sh` from each script's own directory.
    run([tool("shellcheck"), "-x", "-P", "SCRIPTDIR", "--severity", "style",
         *map(str, SCRIPT_FILES)])


def test_scripts_are_executable_and_strict():
    for script in SCRIPT_FILES:
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash"), script
        if script.name != "lib.sh":
            assert "set -euo pipefail" in text, script
            assert script.stat().st_mode & 0o111, f"{script} is not executable"


def test_actionlint():
    # actionlint runs shellcheck on every `run:` block too (it is on PATH).
    env = {"PATH": f"{tool('shellcheck').rsplit('/', 1)[0]}:/usr/bin:/bin"}
    run([tool("actionlint"), "-color=false", *map(str, WORKFLOWS)], env=env)


def test_cfn_lint():
    run([tool("cfn-lint"), "--regions", "ap-southeast-1", "us-east-1", "--", *map(str, TEMPLATE_FILES)])
