"""The kustomize overlays as deploy.sh renders them: valid against the
Kubernetes schemas of the cluster's version (kubernetes-validate, strict),
and holding what the issue asks for, checked against forest-serve's own
source where the two must agree (port, probe paths, drain timeout)."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import DEPLOY, ROOT, run, tool

SERVE_SRC = ROOT / "forest-serve" / "src"


def docs(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def by_kind(path):
    out = {}
    for d in docs(path):
        out.setdefault(d["kind"], []).append(d)
    return out


def cluster_version() -> str:
    text = (DEPLOY / "eks" / "cluster.yaml").read_text()
    return re.search(r'^  version: "(\d+\.\d+)"', text, re.M).group(1)


def server_default(flag_env: str) -> str:
    """The default of a forest-serve setting, read from config.rs."""
    text = (SERVE_SRC / "config.rs").read_text()
    m = re.search(rf'env = "{flag_env}",\s*default_value(?:_t)? = ([^,)\]]+)', text)
    assert m, f"{flag_env} not found in forest-serve/src/config.rs"
    return m.group(1).strip().strip('"')


@pytest.mark.parametrize("name", ["demo", "prod", "prod-tls"])
def test_schema_valid(rendered, name):
    version = cluster_version() + ".0"
    p = run([tool("kubernetes-validate"), "--strict", "--quiet", "-k", version, str(rendered[name])], check=False)
    assert p.returncode == 0, f"{name} against Kubernetes {version}:\n{p.stdout}\n{p.stderr}"


@pytest.mark.parametrize("name", ["demo", "prod"])
def test_bare_overlays_render(name):
    out = run([tool("kubectl"), "kustomize", str(DEPLOY / "k8s" / "overlays" / name)]).stdout
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(out) if d)
    assert kinds == sorted(["Namespace", "ServiceAccount", "Service", "Deployment", "Ingress",
                            "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "NetworkPolicy"])


@pytest.mark.parametrize("name", ["demo", "prod"])
def test_everything_in_mlops(rendered, name):
    for d in docs(rendered[name]):
        if d["kind"] == "Namespace":
            assert d["metadata"]["name"] == "mlops"
            assert d["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        else:
            assert d["metadata"]["namespace"] == "mlops", d["metadata"]["name"]


@pytest.mark.parametrize("name", ["demo", "prod"])
def test_deployment(rendered, name):
    k = by_kind(rendered[name])
    dep = k["Deployment"][0]
    spec = dep["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["image"] == ("123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/forest-serve:"
                          "0123456789abcdef0123456789abcdef01234567")
    assert "replicas" not in dep["spec"], "the HPA owns the replica count"
    # Restricted security context.
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == "forest-serve"
    # Port and probes: what forest-serve listens on and answers.
    port = int(server_default("FOREST_ADDR").rsplit(":", 1)[1])
    assert c["ports"][0]["containerPort"] == port
    routes = (SERVE_SRC / "route.rs").read_text()
    for probe, path in [("startupProbe", "/ready"), ("readinessProbe", "/ready"), ("livenessProbe", "/health")]:
        assert c[probe]["httpGet"]["path"] == path
        assert c[probe]["httpGet"]["port"] == "http"
        assert f'"{path}" => Route::' in routes
    # Resources.
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind])
    # Termination: preStop sleep, then the server's drain, within the grace.
    env = {e["name"]: e["value"] for e in c["env"]}
    drain = float(env.get("FOREST_DRAIN_TIMEOUT_SECS", server_default("FOREST_DRAIN_TIMEOUT_SECS")))
    pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop >= 5
    assert spec["terminationGracePeriodSeconds"] > pre_stop + drain
    assert env["FOREST_EMF_NAMESPACE"] == server_default("FOREST_EMF_NAMESPACE")
    # prod patches the worker count by list index: the patch must hit it.
    assert env["FOREST_WORKERS"] == {"demo": "1", "prod": "2"}[name]
    assert env["FOREST_LOG_LEVEL"] == "info" and env["FOREST_ADDR"] == "0.0.0.0:8080"
    # Spread over zones and nodes.
    keys = {t["topologyKey"] for t in spec["topologySpreadConstraints"]}
    assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}


def test_drain_default_is_what_the_manifest_assumes():
    assert float(server_default("FOREST_DRAIN_TIMEOUT_SECS")) == 25.0


@pytest.mark.parametrize("name,scheme,minimum,maximum", [("demo", "internet-facing", 1, 3),
                                                         ("prod", "internet-facing", 2, 10)])
def test_ingress_hpa_pdb(rendered, name, scheme, minimum, maximum):
    k = by_kind(rendered[name])
    ing = k["Ingress"][0]
    a = ing["metadata"]["annotations"]
    assert ing["spec"]["ingressClassName"] == "alb"
    assert a["alb.ingress.kubernetes.io/scheme"] == scheme
    assert a["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert a["alb.ingress.kubernetes.io/healthcheck-path"] == "/ready"
    hpa = k["HorizontalPodAutoscaler"][0]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (minimum, maximum)
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert k["PodDisruptionBudget"][0]["spec"]["maxUnavailable"] == 1
    sa = k["ServiceAccount"][0]
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == \
        "arn:aws:iam::123456789012:role/forest-serve-irsa"


def test_base_ingress_is_internal():
    base = (DEPLOY / "k8s" / "base" / "ingress.yaml").read_text()
    assert "alb.ingress.kubernetes.io/scheme: internal" in base


def test_tls_only_when_asked(rendered):
    plain = by_kind(rendered["prod"])["Ingress"][0]["metadata"]["annotations"]
    tls = by_kind(rendered["prod-tls"])["Ingress"][0]["metadata"]["annotations"]
    assert "alb.ingress.kubernetes.io/certificate-arn" not in plain
    assert tls["alb.ingress.kubernetes.io/certificate-arn"].startswith("arn:aws:acm:")
    assert '"HTTPS": 443' in tls["alb.ingress.kubernetes.io/listen-ports"]
    assert tls["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert tls["alb.ingress.kubernetes.io/inbound-cidrs"] == "203.0.113.0/24"


def test_network_policies(rendered):
    pols = {p["metadata"]["name"]: p["spec"] for p in by_kind(rendered["prod"])["NetworkPolicy"]}
    assert pols["default-deny"]["podSelector"] == {}
    assert set(pols["default-deny"]["policyTypes"]) == {"Ingress", "Egress"}
    serve = pols["forest-serve"]
    assert serve["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert any(r.get("ports") == [{"protocol": "TCP", "port": 443}] for r in serve["egress"])


def test_serve_dockerfile_matches_the_server():
    text = (DEPLOY / "docker" / "serve.Dockerfile").read_text()
    port = server_default("FOREST_ADDR").rsplit(":", 1)[1]
    assert f"EXPOSE {port}" in text
    assert "USER 65532:65532" in text
    assert "FROM gcr.io/distroless/cc-debian12:nonroot AS runtime" in text
    assert "-p forest-serve" in text
    ignore = (DEPLOY / "docker" / "serve.Dockerfile.dockerignore").read_text().splitlines()
    assert "**/*.forest" in ignore and "!models/approved.forest" in ignore
    assert ignore.index("!models/approved.forest") > ignore.index("**/*.forest")
