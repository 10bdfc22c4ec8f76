#!/usr/bin/env bash
# Creates (or updates) the AWS side, in dependency order:
#
#   1. stacks network, data, monitoring (deploy/cloudformation/; the
#      monitoring stack makes the EKS log group before EKS would);
#   2. the EKS cluster mlops-retail-cluster (deploy/eks/cluster.yaml, filled
#      in with the network stack's VPC and subnets; eksctl), if absent;
#   3. stack iam, with the cluster's OIDC issuer for the serving pods' IRSA
#      role; stack cost (budget and the nodes' night schedule);
#   4. an EKS access entry for the GitHub deploy role (edit rights in the
#      mlops namespace only);
#   5. the AWS Load Balancer Controller (helm), its image from the regional
#      EKS registry because the nodes have no internet.
#
# Idempotent: a second run updates what changed and skips the rest.
#
# Usage: deploy/scripts/bootstrap.sh --github-repo OWNER/NAME --email ADDRESS
#          [--budget-usd N] [--api-cidrs CIDR[,CIDR]] [--github-oidc-exists]
#          [--stacks-only] [--oidc-host HOST] [--render-cluster]
#          [--region R] [--endpoint-url URL] [--dry-run]
#
# --stacks-only: only the CloudFormation stacks (no cluster, no helm), the
# IRSA role only with --oidc-host; what deploy/tests runs against moto.
# --render-cluster: print the filled-in eksctl config and exit.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

GITHUB_REPO=${GITHUB_REPO:-}
EMAIL=${EMAIL:-}
BUDGET_USD=${BUDGET_USD:-250}
API_CIDRS=${API_CIDRS:-0.0.0.0/0}
GITHUB_OIDC_EXISTS=0
STACKS_ONLY=0
RENDER_CLUSTER=0
OIDC_HOST=
while [ $# -gt 0 ]; do
    if common_flag "$@"; then shift "$SHIFT"; continue; fi
    case "$1" in
        --github-repo) GITHUB_REPO=$2; shift ;;
        --email) EMAIL=$2; shift ;;
        --budget-usd) BUDGET_USD=$2; shift ;;
        --api-cidrs) API_CIDRS=$2; shift ;;
        --github-oidc-exists) GITHUB_OIDC_EXISTS=1 ;;
        --stacks-only) STACKS_ONLY=1 ;;
        --oidc-host) OIDC_HOST=$2; shift ;;
        --render-cluster) RENDER_CLUSTER=1 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (try --help)" ;;
    esac
    shift
done
need aws "pip install awscli"

# The eksctl config with the network stack's values.
render_cluster() {
    local zone_a zone_b cidrs
    zone_a=$(stack_output "$STACK_NETWORK" ZoneA)
    zone_b=$(stack_output "$STACK_NETWORK" ZoneB)
    cidrs=$(printf '%s' "$API_CIDRS" | sed 's/[^,][^,]*/"&"/g; s/,/, /g')
    sed -e "s|\${AWS_REGION}|$AWS_REGION|g" \
        -e "s|\${VPC_ID}|$(stack_output "$STACK_NETWORK" VpcId)|g" \
        -e "s|\${ZONE_A}|$zone_a|g" -e "s|\${ZONE_B}|$zone_b|g" \
        -e "s|\${PRIVATE_SUBNET_A}|$(stack_output "$STACK_NETWORK" PrivateSubnetA)|g" \
        -e "s|\${PRIVATE_SUBNET_B}|$(stack_output "$STACK_NETWORK" PrivateSubnetB)|g" \
        -e "s|\${PUBLIC_SUBNET_A}|$(stack_output "$STACK_NETWORK" PublicSubnetA)|g" \
        -e "s|\${PUBLIC_SUBNET_B}|$(stack_output "$STACK_NETWORK" PublicSubnetB)|g" \
        -e "s|\${API_CIDRS}|$cidrs|g" \
        -e "s|^  name: mlops-retail-cluster$|  name: $CLUSTER|" \
        "$REPO_ROOT/deploy/eks/cluster.yaml"
}

if [ "$RENDER_CLUSTER" = 1 ]; then render_cluster; exit 0; fi
[ -n "$GITHUB_REPO" ] || die "--github-repo OWNER/NAME is needed (the repository whose workflows deploy)"
[ -n "$EMAIL" ] || die "--email ADDRESS is needed (alarms and budget alerts)"

# ---------------------------------------------------------------- 1. stacks
deploy_stack "$STACK_NETWORK" "$TEMPLATES/network.yaml" "Project=$PROJECT"
deploy_stack "$STACK_DATA" "$TEMPLATES/data.yaml" "Project=$PROJECT"
deploy_stack "$STACK_MONITORING" "$TEMPLATES/monitoring.yaml" "Project=$PROJECT" \
    "ClusterName=$CLUSTER" "AlarmEmail=$EMAIL"

# ---------------------------------------------------------------- 2. cluster
if [ "$STACKS_ONLY" = 0 ]; then
    need eksctl "https://eksctl.io"
    need kubectl
    need helm
    if awsx eks describe-cluster --name "$CLUSTER" >/dev/null 2>&1; then
        log "cluster $CLUSTER exists"
    else
        rendered=$(mktemp)
        trap 'rm -f "$rendered"' EXIT
        render_cluster >"$rendered"
        log "create cluster $CLUSTER (eksctl; 15 to 20 minutes)"
        run eksctl create cluster -f "$rendered"
    fi
    OIDC_HOST=$(awsx eks describe-cluster --name "$CLUSTER" \
        --query cluster.identity.oidc.issuer --output text | sed 's|^https://||')
fi

# ---------------------------------------------------------------- 3. iam, cost
create_oidc=true
[ "$GITHUB_OIDC_EXISTS" = 1 ] && create_oidc=false
deploy_stack "$STACK_IAM" "$TEMPLATES/iam.yaml" "Project=$PROJECT" "DataStackName=$STACK_DATA" \
    "ClusterName=$CLUSTER" "GitHubRepository=$GITHUB_REPO" "CreateGitHubOidcProvider=$create_oidc" \
    "OidcProviderHost=$OIDC_HOST" "ServiceAccountNamespace=$NAMESPACE"
deploy_stack "$STACK_COST" "$TEMPLATES/cost.yaml" "Project=$PROJECT" "ClusterName=$CLUSTER" \
    "BudgetEmail=$EMAIL" "MonthlyBudgetUsd=$BUDGET_USD"

if [ "$STACKS_ONLY" = 1 ]; then
    log "stacks ready (--stacks-only: no cluster, no controller)"
    exit 0
fi

# ---------------------------------------------------------------- 4. access for GitHub
deploy_role=$(stack_output "$STACK_IAM" GitHubDeployRoleArn)
if ! awsx eks describe-access-entry --cluster-name "$CLUSTER" --principal-arn "$deploy_role" >/dev/null 2>&1; then
    log "access entry for $deploy_role (edit in namespace $NAMESPACE)"
    run awsx eks create-access-entry --cluster-name "$CLUSTER" --principal-arn "$deploy_role" >/dev/null
    run awsx eks associate-access-policy --cluster-name "$CLUSTER" --principal-arn "$deploy_role" \
        --policy-arn arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy \
        --access-scope "type=namespace,namespaces=$NAMESPACE" >/dev/null
fi

# ---------------------------------------------------------------- 5. controller
run awsx eks update-kubeconfig --name "$CLUSTER" >/dev/null
# The namespace (restricted Pod Security): the GitHub role may edit what is
# in it, not create it.
run kubectl apply -f "$REPO_ROOT/deploy/k8s/base/namespace.yaml"
run helm repo add eks https://aws.github.io/eks-charts --force-update >/dev/null
log "AWS Load Balancer Controller (helm)"
# The nodes have no internet: the image comes from the regional EKS
# registry (account 602401143452 serves most regions, ap-southeast-1
# included) through the ECR endpoints; WAF and Shield are off because
# there is no endpoint for them.
run helm upgrade --install aws-load-balancer-controller eks/aws-load-balancer-controller \
    --namespace kube-system ${LBC_CHART_VERSION:+--version "$LBC_CHART_VERSION"} \
    --set clusterName="$CLUSTER" --set region="$AWS_REGION" \
    --set vpcId="$(stack_output "$STACK_NETWORK" VpcId)" \
    --set serviceAccount.create=false --set serviceAccount.name=aws-load-balancer-controller \
    --set image.repository="602401143452.dkr.ecr.$AWS_REGION.amazonaws.com/amazon/aws-load-balancer-controller" \
    --set enableShield=false --set enableWaf=false --set enableWafv2=false \
    --set nodeSelector.forest/pool=on-demand \
    --wait --timeout 10m

log "ready. Next: deploy/scripts/deploy.sh --overlay demo (build, push, apply), or push to main (release.yml)"
log "GitHub: set the repository variable AWS_DEPLOY_ROLE_ARN=$deploy_role and AWS_REGION=$AWS_REGION"
