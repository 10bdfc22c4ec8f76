#!/usr/bin/env bash
# Build, push, apply, wait: one release of forest-serve onto the cluster.
#
#   1. docker build deploy/docker/serve.Dockerfile (models/approved.forest
#      compiled in), tagged with the git sha: ECR/forest-serve:<sha>;
#   2. docker push, unless that tag is in ECR already (tags are immutable:
#      the same sha is the same image);
#   3. render the overlay (demo or prod) through a generated kustomization
#      that sets the image (kustomize's images: the same as
#      `kustomize edit set image`, without editing tracked files) and the
#      account of the IRSA role; with --certificate-arn, HTTPS on the ALB;
#   4. kubectl apply, then `kubectl rollout status` within --timeout; if the
#      rollout does not complete, `kubectl rollout undo` and exit 1.
#
# Usage: deploy/scripts/deploy.sh [--overlay demo|prod] [--tag SHA]
#          [--no-build] [--no-push] [--certificate-arn ARN]
#          [--inbound-cidrs CIDR[,CIDR]] [--timeout 300s] [--no-undo]
#          [--render] [--account ID] [--registry HOST] [--region R] [--dry-run]
#
# --render prints the manifests that would be applied and stops (no AWS,
# no cluster: give --account, or it is 123456789012); deploy/tests
# validates exactly this output.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

OVERLAY=demo
TAG=
BUILD=1
PUSH=1
RENDER_ONLY=0
UNDO=1
TIMEOUT=300s
ACCOUNT=${ACCOUNT:-}
REGISTRY=${REGISTRY:-}
CERTIFICATE_ARN=
INBOUND_CIDRS=
while [ $# -gt 0 ]; do
    if common_flag "$@"; then shift "$SHIFT"; continue; fi
    case "$1" in
        --overlay) OVERLAY=$2; shift ;;
        --tag) TAG=$2; shift ;;
        --no-build) BUILD=0 ;;
        --no-push) PUSH=0 ;;
        --render) RENDER_ONLY=1 ;;
        --no-undo) UNDO=0 ;;
        --timeout) TIMEOUT=$2; shift ;;
        --account) ACCOUNT=$2; shift ;;
        --registry) REGISTRY=$2; shift ;;
        --certificate-arn) CERTIFICATE_ARN=$2; shift ;;
        --inbound-cidrs) INBOUND_CIDRS=$2; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (try --help)" ;;
    esac
    shift
done
overlay_dir=$REPO_ROOT/deploy/k8s/overlays/$OVERLAY
[ -f "$overlay_dir/kustomization.yaml" ] || die "no overlay $OVERLAY (deploy/k8s/overlays/)"
[ -n "$TAG" ] || TAG=$(git -C "$REPO_ROOT" rev-parse HEAD)
if [ -z "$ACCOUNT" ]; then
    if [ "$RENDER_ONLY" = 1 ]; then ACCOUNT=123456789012; else ACCOUNT=$(account_id); fi
fi
[ -n "$REGISTRY" ] || REGISTRY=$ACCOUNT.dkr.ecr.$AWS_REGION.amazonaws.com
IMAGE=$REGISTRY/$PROJECT-serve
need kubectl "kubectl >= 1.27 (kustomize 5 built in)"

# ---------------------------------------------------------------- render
render() {
    local dir rel
    dir=$(mktemp -d)
    rel=$(python3 -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$overlay_dir" "$dir")
    {
        printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n'
        printf 'resources:\n  - %s\n' "$rel"
        printf 'images:\n  - name: forest-serve\n    newName: %s\n    newTag: "%s"\n' "$IMAGE" "$TAG"
        printf 'patches:\n'
        printf '  - target: {kind: ServiceAccount, name: forest-serve}\n'
        printf '    patch: |-\n'
        printf '      - op: replace\n'
        printf '        path: /metadata/annotations/eks.amazonaws.com~1role-arn\n'
        printf '        value: arn:aws:iam::%s:role/%s-serve-irsa\n' "$ACCOUNT" "$PROJECT"
        if [ -n "$CERTIFICATE_ARN" ]; then
            printf '  - target: {kind: Ingress, name: forest-serve}\n'
            printf '    patch: |-\n'
            printf '      - {op: add, path: /metadata/annotations/alb.ingress.kubernetes.io~1certificate-arn, value: "%s"}\n' "$CERTIFICATE_ARN"
            printf '      - {op: replace, path: /metadata/annotations/alb.ingress.kubernetes.io~1listen-ports, value: %s}\n' "'[{\"HTTP\": 80}, {\"HTTPS\": 443}]'"
            printf '      - {op: add, path: /metadata/annotations/alb.ingress.kubernetes.io~1ssl-redirect, value: "443"}\n'
            printf '      - {op: add, path: /metadata/annotations/alb.ingress.kubernetes.io~1ssl-policy, value: ELBSecurityPolicy-TLS13-1-2-2021-06}\n'
        fi
        if [ -n "$INBOUND_CIDRS" ]; then
            printf '  - target: {kind: Ingress, name: forest-serve}\n'
            printf '    patch: |-\n'
            printf '      - {op: add, path: /metadata/annotations/alb.ingress.kubernetes.io~1inbound-cidrs, value: "%s"}\n' "$INBOUND_CIDRS"
        fi
    } >"$dir/kustomization.yaml"
    kubectl kustomize "$dir"
    rm -rf "$dir"
}

if [ "$RENDER_ONLY" = 1 ]; then render; exit 0; fi

# ---------------------------------------------------------------- build, push
if [ "$BUILD" = 1 ]; then
    need docker
    [ -s "$REPO_ROOT/models/approved.forest" ] \
        || die "no models/approved.forest: forest-train pull --approved --registry REG --out models/approved.forest"
    log "build $IMAGE:$TAG"
    run docker build -f "$REPO_ROOT/deploy/docker/serve.Dockerfile" -t "$IMAGE:$TAG" "$REPO_ROOT"
fi
if [ "$PUSH" = 1 ]; then
    if awsx ecr describe-images --repository-name "$PROJECT-serve" --image-ids "imageTag=$TAG" >/dev/null 2>&1; then
        log "$IMAGE:$TAG is in ECR already (immutable tags): not pushed again"
    else
        need docker
        log "push $IMAGE:$TAG"
        if [ "$DRY_RUN" = 0 ]; then
            awsx ecr get-login-password | docker login --username AWS --password-stdin "$REGISTRY" >/dev/null
        fi
        run docker push "$IMAGE:$TAG"
    fi
fi

# ---------------------------------------------------------------- apply, wait
run awsx eks update-kubeconfig --name "$CLUSTER" >/dev/null
manifests=$(mktemp)
trap 'rm -f "$manifests"' EXIT
render >"$manifests"
log "apply overlay $OVERLAY with $IMAGE:$TAG"
run kubectl apply -f "$manifests"
[ "$DRY_RUN" = 1 ] && exit 0
log "wait for the rollout (at most $TIMEOUT)"
if ! kubectl -n "$NAMESPACE" rollout status deployment/forest-serve --timeout "$TIMEOUT"; then
    kubectl -n "$NAMESPACE" get pods -l app.kubernetes.io/name=forest-serve -o wide >&2 || true
    if [ "$UNDO" = 1 ]; then
        warn "rollout of $TAG did not complete: rolling back"
        kubectl -n "$NAMESPACE" rollout undo deployment/forest-serve
        kubectl -n "$NAMESPACE" rollout status deployment/forest-serve --timeout "$TIMEOUT" \
            || warn "the rollback did not complete either"
    fi
    die "rollout of $IMAGE:$TAG failed"
fi
log "forest-serve $TAG is live ($OVERLAY)"
