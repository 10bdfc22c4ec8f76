#!/usr/bin/env bash
# Closes the public demo endpoint and stops paying for it: deletes the
# Ingress (the controller then deletes the ALB and its target group: no
# more load balancer hours) and scales the node groups to zero (no more
# instance hours). The EKS control plane, the VPC endpoints and the stacks
# stay, so demo-on.sh brings it all back in a few minutes; teardown.sh
# removes those too.
#
# Usage: deploy/scripts/demo-off.sh [--keep-nodes] [--region R] [--dry-run]
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

KEEP_NODES=0
while [ $# -gt 0 ]; do
    if common_flag "$@"; then shift "$SHIFT"; continue; fi
    case "$1" in
        --keep-nodes) KEEP_NODES=1 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (try --help)" ;;
    esac
    shift
done
need aws "pip install awscli"
need kubectl

run awsx eks update-kubeconfig --name "$CLUSTER" >/dev/null
log "delete the Ingress; the controller deletes the ALB (the finalizer waits for it)"
run kubectl -n "$NAMESPACE" delete ingress forest-serve --ignore-not-found --wait=true --timeout=300s
if [ "$KEEP_NODES" = 0 ]; then
    for ng in "${NODEGROUPS[@]}"; do
        log "node group $ng: zero nodes"
        run awsx eks update-nodegroup-config --cluster-name "$CLUSTER" --nodegroup-name "$ng" \
            --scaling-config minSize=0,desiredSize=0 >/dev/null
    done
fi
log "demo closed (demo-on.sh reopens it)"
