"""What the emulator does not keep, checked in the templates themselves:
moto's CloudFormation accepts these properties but drops them (ECR scan on
push, encryption type and lifecycle policy; the bucket's lifecycle rules,
versioning and public access block) or skips the resource type entirely
(CloudWatch alarms, S3 bucket policy, IAM OIDC provider, Budgets,
Scheduler). The alarms are also checked against forest-serve's source, so a
renamed metric breaks this test rather than a silent alarm."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import DEPLOY, ROOT, load_template

SERVE_SRC = ROOT / "forest-serve" / "src"


def resources(template, kind):
    return {k: v for k, v in load_template(template)["Resources"].items() if v["Type"] == kind}


def test_ecr_repositories():
    repos = resources("data.yaml", "AWS::ECR::Repository")
    assert set(repos) == {"ServeRepository", "TrainRepository"}
    for name, repo in repos.items():
        p = repo["Properties"]
        assert p["ImageScanningConfiguration"] == {"ScanOnPush": True}, name
        assert p["ImageTagMutability"] == "IMMUTABLE", name
        assert p["EncryptionConfiguration"]["EncryptionType"] == "KMS", name
        text = p["LifecyclePolicy"]["LifecyclePolicyText"]["Fn::Sub"].replace("${KeepImages}", "30")
        rules = json.loads(text)["rules"]
        assert [r["rulePriority"] for r in rules] == [1, 2]
        assert rules[0]["selection"]["tagStatus"] == "untagged"
        # ECR wants the rule on any tag status last.
        assert rules[-1]["selection"]["tagStatus"] == "any"
        assert all(r["action"]["type"] == "expire" for r in rules)


def test_lake_bucket():
    bucket = resources("data.yaml", "AWS::S3::Bucket")["LakeBucket"]["Properties"]
    enc = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert enc["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    rules = {r.get("Prefix", ""): r for r in bucket["LifecycleConfiguration"]["Rules"]}
    lake_prefixes = re.search(r"PREFIXES: \[&str; 6\] = \[([^\]]+)\]",
                              (ROOT / "forest-train" / "src" / "lake" / "mod.rs").read_text()).group(1)
    for prefix in re.findall(r'"([a-z]+/)"', lake_prefixes):
        assert prefix in rules, f"no lifecycle rule for the lake's {prefix}"
    assert rules["tmp/"]["ExpirationInDays"] == 1
    assert rules["tmp/"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    assert rules["logs/"]["Transitions"][0]["StorageClass"] == "STANDARD_IA"
    assert rules["logs/"]["ExpirationInDays"] == {"Ref": "LogsExpireDays"}
    assert rules["artifacts/"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 90
    assert "ExpirationInDays" not in rules["artifacts/"], "artifacts are kept"
    assert rules[""]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    policy = resources("data.yaml", "AWS::S3::BucketPolicy")["LakeBucketPolicy"]["Properties"]["PolicyDocument"]
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_network_has_endpoints_and_no_nat():
    t = load_template("network.yaml")
    kinds = [r["Type"] for r in t["Resources"].values()]
    assert "AWS::EC2::NatGateway" not in kinds
    assert t["Parameters"]["VpcCidr"]["Default"] == "10.0.0.0/16"
    endpoints = {r["Properties"]["ServiceName"]["Fn::Sub"].rsplit("}.", 1)[1]: r["Properties"]["VpcEndpointType"]
                 for r in resources("network.yaml", "AWS::EC2::VPCEndpoint").values()}
    assert endpoints["s3"] == "Gateway"
    for service in ["ecr.api", "ecr.dkr", "logs", "sts", "sagemaker.api"]:
        assert endpoints[service] == "Interface", service


def test_alarms_match_the_server():
    metrics_rs = (SERVE_SRC / "metrics.rs").read_text()
    config_rs = (SERVE_SRC / "config.rs").read_text()
    route_rs = (SERVE_SRC / "route.rs").read_text()
    t = load_template("monitoring.yaml")
    namespace = t["Parameters"]["EmfNamespace"]["Default"]
    assert f'env = "FOREST_EMF_NAMESPACE", default_value = "{namespace}"' in config_rs
    alarms = resources("monitoring.yaml", "AWS::CloudWatch::Alarm")
    assert set(alarms) >= {"PredictLatencyP99Alarm", "PredictServerErrorsAlarm",
                           "AlbElb5xxAlarm", "AlbUnhealthyTargetsAlarm"}
    for name in ["PredictLatencyP99Alarm", "PredictServerErrorsAlarm"]:
        p = alarms[name]["Properties"]
        assert p["Namespace"] == {"Ref": "EmfNamespace"}
        assert f'{{"Name": "{p["MetricName"]}", "Unit"' in metrics_rs, p["MetricName"]
        dims = {d["Name"]: d["Value"] for d in p["Dimensions"]}
        assert dims == {"Service": "forest-serve", "Route": "/predict"}
        assert '"Dimensions": [["Service", "Route"]]' in metrics_rs
        assert '"forest-serve")' in (SERVE_SRC / "lib.rs").read_text()
        assert 'Route::Predict => "/predict"' in route_rs
        assert p["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert alarms["PredictLatencyP99Alarm"]["Properties"]["Unit"] == "Microseconds"
    assert '{"Name": "LatencyP99", "Unit": "Microseconds"}' in metrics_rs
    drift = alarms["FeatureDriftAlarm"]["Properties"]
    drift_rs = (SERVE_SRC / "drift.rs").read_text()
    assert drift["Namespace"] == {"Ref": "EmfNamespace"}
    assert drift["MetricName"] == "FeaturePsiMax"
    assert f'json!({{"Name": "{drift["MetricName"]}", "Unit": "None"}})' in drift_rs
    assert '"Dimensions": [["Service"]]' in drift_rs
    assert {d["Name"]: d["Value"] for d in drift["Dimensions"]} == {"Service": "forest-serve"}
    assert t["Parameters"]["FeaturePsiThreshold"]["Default"] == 0.2
    assert "pub const PSI_ALERT: f64 = 0.2;" in drift_rs
    assert drift["ComparisonOperator"] == "GreaterThanThreshold"
    assert drift["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert "HTTPCode_ELB_5XX_Count" in alarms["AlbElb5xxAlarm"]["Properties"]["Metrics"][0]["Expression"]
    assert "UnHealthyHostCount" in alarms["AlbUnhealthyTargetsAlarm"]["Properties"]["Metrics"][0]["Expression"]


def test_log_groups_have_retention():
    for name, g in resources("monitoring.yaml", "AWS::Logs::LogGroup").items():
        assert "RetentionInDays" in g["Properties"], name


def test_budget_and_schedule():
    budget = resources("cost.yaml", "AWS::Budgets::Budget")["MonthlyBudget"]["Properties"]
    assert budget["Budget"]["TimeUnit"] == "MONTHLY"
    assert len(budget["NotificationsWithSubscribers"]) >= 2
    schedules = resources("cost.yaml", "AWS::Scheduler::Schedule")
    assert len(schedules) == 4
    for s in schedules.values():
        target = s["Properties"]["Target"]
        assert target["Arn"] == "arn:aws:scheduler:::aws-sdk:eks:updateNodegroupConfig"
        body = target["Input"]["Fn::Sub"]
        assert '"ScalingConfig"' in body


def test_iam_least_privilege_and_pinning():
    roles = resources("iam.yaml", "AWS::IAM::Role")
    github = roles["GitHubDeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    subs = github["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"]
    assert all(s["Fn::Sub"].startswith("repo:${GitHubRepository}:") for s in subs)
    assert github["Condition"]["StringEquals"] == {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
    trust = roles["ServePodRole"]["Properties"]["AssumeRolePolicyDocument"]["Fn::Sub"]
    assert '"${OidcProviderHost}:sub": "system:serviceaccount:${ServiceAccountNamespace}:${ServiceAccountName}"' in trust
    serve = roles["ServePodRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    actions = sorted(a for s in serve for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
    assert actions == sorted(["s3:ListBucket", "s3:GetObject", "s3:PutObject", "cloudwatch:PutMetricData",
                              "logs:CreateLogStream", "logs:PutLogEvents"])
    for s in serve:
        assert "*" not in json.dumps(s["Action"])


def test_eksctl_cluster():
    text = (DEPLOY / "eks" / "cluster.yaml").read_text()
    # A template: fill the placeholders the way bootstrap.sh does, then read it.
    filled = re.sub(r"\$\{([A-Z_]+)\}", lambda m: {"API_CIDRS": '"0.0.0.0/0"', "ZONE_A": "ap-southeast-1a",
                                                      "ZONE_B": "ap-southeast-1b"}.get(m.group(1), "x-" + m.group(1).lower()), text)
    c = yaml.safe_load(filled)
    assert c["metadata"]["name"] == "mlops-retail-cluster"
    assert c["iam"]["withOIDC"] is True
    addons = {a["name"] for a in c["addons"]}
    assert {"vpc-cni", "coredns", "kube-proxy", "amazon-cloudwatch-observability"} <= addons
    groups = {g["name"]: g for g in c["managedNodeGroups"]}
    assert groups["spot"]["spot"] is True and len(groups["spot"]["instanceTypes"]) >= 3
    assert not groups["on-demand"].get("spot") and groups["on-demand"]["maxSize"] <= 2
    assert all(g["privateNetworking"] is True for g in groups.values())
    # The names the cost schedule and the scripts use.
    cost = load_template("cost.yaml")["Parameters"]
    assert {cost["SpotNodegroup"]["Default"], cost["OnDemandNodegroup"]["Default"]} == set(groups)
    assert "NODEGROUPS=(spot on-demand)" in (DEPLOY / "scripts" / "lib.sh").read_text()


@pytest.mark.parametrize("template", sorted(p.name for p in (DEPLOY / "cloudformation").glob("*.yaml")))
def test_exports_are_stack_scoped(template):
    for name, out in load_template(template).get("Outputs", {}).items():
        if "Export" in out:
            assert out["Export"]["Name"]["Fn::Sub"].startswith("${AWS::StackName}-"), name
