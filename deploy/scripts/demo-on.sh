#!/usr/bin/env bash
# Opens the public demo endpoint: node groups back to their day size, the
# demo overlay applied (an internet-facing ALB: the AWS Load Balancer
# Controller creates it from the Ingress), then waits for the ALB's name and
# for /ready through it, and prints how to call it. demo-off.sh closes it.
#
# Usage: deploy/scripts/demo-on.sh [--tag SHA] [--inbound-cidrs CIDR[,CIDR]]
#          [--region R] [--dry-run]
#
# --tag: the image to run (default: HEAD's sha; it must be in ECR, pushed
# by release.yml or deploy.sh). --inbound-cidrs: who may reach the ALB
# (default everyone; e.g. your address/32).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

args=()
while [ $# -gt 0 ]; do
    if common_flag "$@"; then shift "$SHIFT"; continue; fi
    case "$1" in
        --tag | --inbound-cidrs) args+=("$1" "$2"); shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (try --help)" ;;
    esac
    shift
done
need aws "pip install awscli"
need kubectl
[ "$DRY_RUN" = 1 ] && args+=(--dry-run)

for ng in "${NODEGROUPS[@]}"; do
    log "node group $ng: one node"
    run awsx eks update-nodegroup-config --cluster-name "$CLUSTER" --nodegroup-name "$ng" \
        --scaling-config minSize=0,desiredSize=1 >/dev/null
done
run awsx eks wait nodegroup-active --cluster-name "$CLUSTER" --nodegroup-name "${NODEGROUPS[0]}"

"$(dirname "$0")/deploy.sh" --overlay demo --no-build --no-push --region "$AWS_REGION" "${args[@]}"
[ "$DRY_RUN" = 1 ] && exit 0

log "wait for the ALB (at most 5 minutes)"
host=
for _ in $(seq 60); do
    host=$(kubectl -n "$NAMESPACE" get ingress forest-serve -o jsonpath='{.status.loadBalancer.ingress[0].hostname}' 2>/dev/null || true)
    [ -n "$host" ] && break
    sleep 5
done
[ -n "$host" ] || die "the Ingress has no load balancer yet: kubectl -n $NAMESPACE describe ingress forest-serve"
log "wait for http://$host/ready (DNS and the first health checks: a few minutes)"
for _ in $(seq 60); do
    if curl -fsS --max-time 5 "http://$host/ready" >/dev/null 2>&1; then
        log "the demo is open: http://$host/docs"
        printf 'curl -s http://%s/predict -H "content-type: application/json" -d @basket.json\n' "$host"
        exit 0
    fi
    sleep 5
done
die "http://$host/ready did not answer within 5 minutes (kubectl -n $NAMESPACE get pods,ingress)"
