"""Shared fixtures of the deploy tests: paths, tools, checkov's virtual
environment and moto's server on a free loopback port."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCRIPTS = DEPLOY / "scripts"
TEMPLATES = DEPLOY / "cloudformation"
OVERLAYS = ["demo", "prod"]
REGION = "ap-southeast-1"


def tool(name: str) -> str:
    """The path of a command-line tool, next to this Python first (where
    pip puts the wheels' binaries), else on PATH; a clear failure if absent."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: python3 -m pip install -r deploy/requirements.txt"
                    + (" (kubectl: from your distribution, >= 1.27)" if name == "kubectl" else ""))
    return found


def run(cmd: list[str], *, env: dict | None = None, timeout: float = 300, check: bool = True,
        cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Runs a command with a bounded time; on failure the message carries
    its output."""
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(cmd)} did not finish within {timeout} s:\n{e.stdout}\n{e.stderr}")
    if check and p.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout[-6000:]}\n{p.stderr[-6000:]}")
    return p


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, ...) as the long
    forms ({"Ref": ...}, {"Fn::Sub": ...})."""


def _cfn_tag(loader: CfnLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(name: str) -> dict:
    return yaml.load((TEMPLATES / name).read_text(), Loader=CfnLoader)


def render(overlay: str, *extra: str) -> str:
    """The manifests deploy.sh would apply (its --render mode)."""
    env = dict(os.environ, PATH=f"{Path(tool('kubectl')).parent}:{os.environ['PATH']}")
    return run([str(SCRIPTS / "deploy.sh"), "--render", "--overlay", overlay,
                "--tag", "0123456789abcdef0123456789abcdef01234567", "--account", "123456789012",
                *extra], env=env, timeout=120).stdout


@pytest.fixture(scope="session")
def rendered(tmp_path_factory) -> dict[str, Path]:
    """Each overlay rendered by deploy.sh, plus prod with HTTPS."""
    out = tmp_path_factory.mktemp("rendered")
    files = {}
    for name, args in [("demo", ["demo"]), ("prod", ["prod"]),
                       ("prod-tls", ["prod", "--certificate-arn",
                                     "arn:aws:acm:ap-southeast-1:123456789012:certificate/0000",
                                     "--inbound-cidrs", "203.0.113.0/24"])]:
        path = out / f"{name}.yaml"
        path.write_text(render(*args))
        files[name] = path
    return files


@pytest.fixture(scope="session")
def checkov() -> str:
    """checkov in its own virtual environment under ~/.cache (or
    $FOREST_TOOLS_DIR), made once per requirements-checkov.txt content."""
    req = DEPLOY / "requirements-checkov.txt"
    digest = hashlib.sha256(req.read_bytes()).hexdigest()[:12]
    base = Path(os.environ.get("FOREST_TOOLS_DIR", Path.home() / ".cache" / "forest-ci"))
    venv = base / f"checkov-{digest}"
    exe = venv / "bin" / "checkov"
    if not exe.exists():
        shutil.rmtree(venv, ignore_errors=True)
        run([sys.executable, "-m", "venv", str(venv)], timeout=120)
        run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", "-r", str(req)], timeout=600)
    return str(exe)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory):
    """moto's server on a free loopback port, up within 30 s, stopped after."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"moto's server did not start on port {port}:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def aws_env() -> dict:
    """An environment for the scripts and the AWS CLI: fake credentials, the
    region, no profile or config of the user's, the wheels' binaries first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION=REGION,
               AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}")
    return env
