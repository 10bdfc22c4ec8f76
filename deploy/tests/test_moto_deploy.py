"""Every stack deployed into moto's server on loopback by bootstrap.sh
(--stacks-only), the resources that matter checked through the API, then
teardown.sh against the same endpoint: a dry run changes nothing, the real
run leaves nothing, a second run finds nothing to do.

What moto keeps of these templates (measured): bucket encryption, ECR tag
immutability, the VPC, subnets, endpoints, route tables, security groups,
log groups with retention, the dashboard, IAM roles and their policies,
outputs and exports (with CreateStack/UpdateStack; its change sets drop
outputs). What it accepts but does not keep, or skips, is checked in
test_templates.py. Its DeleteStack refuses the VPC while route tables other
than the main one exist (DependencyViolation), and fails on a subnet that
was deleted before it (InvalidSubnetID.NotFound): teardown.sh removes the
endpoints, route tables, internet gateway and foreign security groups
first and leaves subnets to the stack, which is also the order AWS needs."""

from __future__ import annotations

import json

import boto3
import pytest

from conftest import REGION, SCRIPTS, aws_env, run

PROJECT = "forest"
OIDC_HOST = "oidc.eks.ap-southeast-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
STACKS = [f"{PROJECT}-{s}" for s in ("network", "data", "monitoring", "iam", "cost")]


@pytest.fixture(scope="module")
def clients(moto_endpoint):
    kw = dict(endpoint_url=moto_endpoint, region_name=REGION,
              aws_access_key_id="testing", aws_secret_access_key="testing")
    return {name: boto3.client(name, **kw) for name in
            ["cloudformation", "s3", "ecr", "ec2", "logs", "cloudwatch", "iam", "sts"]}


def script(name, endpoint, *args, timeout=300, check=True):
    return run([str(SCRIPTS / name), "--endpoint-url", endpoint, *args],
               env=aws_env(), timeout=timeout, check=check)


def active_stacks(cf):
    return sorted(s["StackName"] for s in cf.list_stacks()["StackSummaries"]
                  if s["StackStatus"] != "DELETE_COMPLETE" and s["StackName"].startswith(PROJECT))


def project_vpcs(ec2):
    return ec2.describe_vpcs(Filters=[{"Name": "tag:project", "Values": [PROJECT]}])["Vpcs"]


def outputs(cf, stack):
    return {o["OutputKey"]: o["OutputValue"] for o in cf.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}


@pytest.fixture(scope="module")
def deployed(moto_endpoint, clients):
    args = ["--stacks-only", "--github-repo", "acme/forest", "--email", "ops@example.com",
            "--oidc-host", OIDC_HOST]
    script("bootstrap.sh", moto_endpoint, *args)
    # Again: idempotent (every stack updated in place or found up to date).
    script("bootstrap.sh", moto_endpoint, *args)
    return moto_endpoint


def test_stacks(deployed, clients):
    cf = clients["cloudformation"]
    assert active_stacks(cf) == sorted(STACKS)
    for stack in STACKS:
        status = cf.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        assert status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), (stack, status)
    exports = {e["Name"] for e in cf.list_exports()["Exports"]}
    assert {"forest-network-VpcId", "forest-data-LakeBucketArn", "forest-iam-GitHubDeployRoleArn",
            "forest-iam-ServePodRoleArn", "forest-monitoring-AlarmTopicArn"} <= exports


def test_network(deployed, clients):
    ec2 = clients["ec2"]
    (vpc,) = project_vpcs(ec2)
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    f = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
    subnets = {s["CidrBlock"]: s["AvailabilityZone"] for s in ec2.describe_subnets(Filters=f)["Subnets"]}
    assert subnets == {"10.0.0.0/20": "ap-southeast-1a", "10.0.16.0/20": "ap-southeast-1b",
                       "10.0.64.0/18": "ap-southeast-1a", "10.0.128.0/18": "ap-southeast-1b"}
    endpoints = {e["ServiceName"].removeprefix(f"com.amazonaws.{REGION}."): e
                 for e in ec2.describe_vpc_endpoints(Filters=f)["VpcEndpoints"]}
    assert endpoints["s3"]["VpcEndpointType"] == "Gateway"
    assert endpoints["s3"]["RouteTableIds"]
    for service in ["ecr.api", "ecr.dkr", "logs", "sts", "sagemaker.api", "ec2", "elasticloadbalancing", "monitoring"]:
        e = endpoints[service]
        assert e["VpcEndpointType"] == "Interface", service
        assert e["PrivateDnsEnabled"] is True, service
        assert len(e["SubnetIds"]) == 1, service  # EndpointZones=1 (demo)
    assert not ec2.describe_nat_gateways(Filter=f)["NatGateways"]
    private = [s for s in ec2.describe_subnets(Filters=f)["Subnets"]
               if {"Key": "kubernetes.io/role/internal-elb", "Value": "1"} in s.get("Tags", [])]
    assert len(private) == 2 and not any(s["MapPublicIpOnLaunch"] for s in private)


def test_data(deployed, clients):
    bucket = outputs(clients["cloudformation"], "forest-data")["LakeBucketName"]
    assert bucket == f"forest-lake-123456789012-{REGION}"
    rule = clients["s3"].get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    repos = {r["repositoryName"]: r for r in clients["ecr"].describe_repositories()["repositories"]}
    assert set(repos) == {"forest-serve", "forest-train"}
    for r in repos.values():
        assert r["imageTagMutability"] == "IMMUTABLE"


def test_monitoring(deployed, clients):
    groups = {g["logGroupName"]: g.get("retentionInDays") for g in clients["logs"].describe_log_groups()["logGroups"]}
    cluster = "mlops-retail-cluster"
    assert groups["/forest/serve"] == 14
    assert groups[f"/aws/containerinsights/{cluster}/application"] == 14
    assert groups[f"/aws/containerinsights/{cluster}/performance"] == 7
    assert groups[f"/aws/eks/{cluster}/cluster"] == 7
    assert groups["/aws/sagemaker/TrainingJobs"] == 30
    assert all(days for days in groups.values()), groups
    body = json.loads(clients["cloudwatch"].get_dashboard(DashboardName="forest-serving")["DashboardBody"])
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert any("latency" in t for t in titles) and "Alarms" in titles
    # moto's CloudFormation creates dashboards but not alarms
    # (AWS::CloudWatch::Alarm is not among its resources); the alarms are
    # checked against the server's source in test_templates.py. The deployed
    # dashboard shows the drift metric and the drift alarm.
    drift = next(w for w in body["widgets"] if "drift" in w["properties"]["title"])
    assert drift["properties"]["metrics"] == [["Forest/Serve", "FeaturePsiMax", "Service", "forest-serve"]]
    assert drift["properties"]["annotations"]["horizontal"][0]["value"] == 0.2
    alarm_widget = next(w for w in body["widgets"] if w["properties"]["title"] == "Alarms")
    assert any(a.endswith(":alarm:forest-feature-drift") for a in alarm_widget["properties"]["alarms"])


def test_iam(deployed, clients):
    iam = clients["iam"]
    trust = iam.get_role(RoleName="forest-serve-irsa")["Role"]["AssumeRolePolicyDocument"]
    cond = trust["Statement"][0]["Condition"]["StringEquals"]
    assert cond[f"{OIDC_HOST}:sub"] == "system:serviceaccount:mlops:forest-serve"
    github = iam.get_role(RoleName="forest-github-deploy")["Role"]["AssumeRolePolicyDocument"]
    subs = github["Statement"][0]["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"]
    assert subs == ["repo:acme/forest:ref:refs/heads/main", "repo:acme/forest:environment:*"]
    policy = iam.get_role_policy(RoleName="forest-serve-irsa", PolicyName="serve")["PolicyDocument"]
    # moto returns it as the repr of a dict, AWS as JSON: compare as text.
    text = policy if isinstance(policy, str) else json.dumps(policy)
    assert "arn:aws:s3:::forest-lake-123456789012-ap-southeast-1/artifacts/*" in text  # imported from the data stack
    assert iam.get_role(RoleName="forest-sagemaker")["Role"]["RoleName"] == "forest-sagemaker"


def test_teardown(deployed, clients):
    cf, s3, ecr, ec2, logs, iam = (clients[n] for n in ["cloudformation", "s3", "ecr", "ec2", "logs", "iam"])
    bucket = outputs(cf, "forest-data")["LakeBucketName"]
    # What a used account holds: object versions and a delete marker, an
    # image, a security group the load balancer controller left.
    for body in (b"v1", b"v2"):
        s3.put_object(Bucket=bucket, Key="artifacts/model.forest", Body=body)
    s3.put_object(Bucket=bucket, Key="raw/week.csv", Body=b"a,b\n")
    s3.delete_object(Bucket=bucket, Key="raw/week.csv")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
                           "digest": "sha256:" + "0" * 64}, "layers": []}
    ecr.put_image(repositoryName="forest-serve", imageManifest=json.dumps(manifest), imageTag="0" * 40)
    (vpc,) = project_vpcs(ec2)
    ec2.create_security_group(GroupName="k8s-traffic-leftover", Description="left by the controller",
                              VpcId=vpc["VpcId"])

    dry = script("teardown.sh", deployed, "--dry-run")
    assert "[dry-run] aws --region ap-southeast-1 --endpoint-url" in dry.stderr
    assert active_stacks(cf) == sorted(STACKS), "the dry run changed something"
    assert project_vpcs(ec2)

    script("teardown.sh", deployed, "--yes", timeout=600)
    assert active_stacks(cf) == []
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert ecr.describe_repositories()["repositories"] == []
    assert project_vpcs(ec2) == []
    assert [v["CidrBlock"] for v in ec2.describe_vpcs()["Vpcs"]] == ["172.31.0.0/16"], "only the default VPC"
    left = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["VpcEndpoints"]
    assert all(e["State"] == "deleted" for e in left)
    assert ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"] == []
    assert ec2.describe_internet_gateways(Filters=[{"Name": "tag:project", "Values": [PROJECT]}])["InternetGateways"] == []
    groups = [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]]
    assert "k8s-traffic-leftover" not in groups
    assert logs.describe_log_groups()["logGroups"] == []
    assert [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(PROJECT)] == []
    assert cf.list_exports()["Exports"] == []

    again = script("teardown.sh", deployed, "--yes")
    assert "nothing of forest is left" in again.stderr
