#!/usr/bin/env bash
# Shared by bootstrap.sh, deploy.sh, demo-on.sh, demo-off.sh and
# teardown.sh: names, the AWS CLI call with the region and an optional
# endpoint (moto on loopback in the tests), dry runs, stack deployment.
# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this file

PROJECT=${PROJECT:-forest}
AWS_REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-ap-southeast-1}}
CLUSTER=${CLUSTER:-mlops-retail-cluster}
NAMESPACE=${NAMESPACE:-mlops}
STACK_NETWORK=${STACK_NETWORK:-$PROJECT-network}
STACK_DATA=${STACK_DATA:-$PROJECT-data}
STACK_IAM=${STACK_IAM:-$PROJECT-iam}
STACK_MONITORING=${STACK_MONITORING:-$PROJECT-monitoring}
STACK_COST=${STACK_COST:-$PROJECT-cost}
NODEGROUPS=(spot on-demand)
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TEMPLATES=$REPO_ROOT/deploy/cloudformation

DRY_RUN=${DRY_RUN:-0}
ENDPOINT_ARGS=()
if [ -n "${AWS_ENDPOINT_URL:-}" ]; then ENDPOINT_ARGS=(--endpoint-url "$AWS_ENDPOINT_URL"); fi

log() { printf '== %s\n' "$*" >&2; }
# The script's header comment, as its --help.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The AWS CLI, in the region, at the endpoint, never paged.
awsx() { AWS_PAGER="" aws --region "$AWS_REGION" "${ENDPOINT_ARGS[@]}" "$@"; }

# A command that changes something: printed under --dry-run, run otherwise.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        printf '[dry-run]' >&2
        if [ "$1" = awsx ]; then shift; set -- aws --region "$AWS_REGION" "${ENDPOINT_ARGS[@]}" "$@"; fi
        printf ' %q' "$@" >&2; printf '\n' >&2
    else
        "$@"
    fi
}

# Common flags; sets DRY_RUN and the endpoint. Returns 0 when it took the
# flag ($1), with SHIFT set to how many words it took.
common_flag() {
    SHIFT=1
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --region) AWS_REGION=$2; SHIFT=2 ;;
        --endpoint-url) AWS_ENDPOINT_URL=$2; ENDPOINT_ARGS=(--endpoint-url "$2"); SHIFT=2 ;;
        *) return 1 ;;
    esac
}

need() { command -v "$1" >/dev/null 2>&1 || die "$1 is needed (${2:-see Deploy to AWS in the README})"; }

stack_status() {
    awsx cloudformation describe-stacks --stack-name "$1" \
        --query 'Stacks[0].StackStatus' --output text 2>/dev/null || echo NONE
}

stack_output() {
    awsx cloudformation describe-stacks --stack-name "$1" \
        --query "Stacks[0].Outputs[?OutputKey=='$2'].OutputValue | [0]" --output text 2>/dev/null || true
}

# deploy_stack NAME TEMPLATE [Key=Value ...]: CreateStack or UpdateStack,
# then wait. (Not `cloudformation deploy`: its change sets give the same
# result on AWS, but moto's change sets drop the stack's outputs.)
deploy_stack() {
    local name=$1 template=$2; shift 2
    local params=() kv status out
    for kv in "$@"; do params+=("ParameterKey=${kv%%=*},ParameterValue=${kv#*=}"); done
    status=$(stack_status "$name")
    case "$status" in
        NONE)
            log "create stack $name ($(basename "$template"))"
            run awsx cloudformation create-stack --stack-name "$name" \
                --template-body "file://$template" --capabilities CAPABILITY_NAMED_IAM \
                --tags "Key=project,Value=$PROJECT" ${params[@]+--parameters "${params[@]}"} >/dev/null
            run awsx cloudformation wait stack-create-complete --stack-name "$name"
            ;;
        ROLLBACK_COMPLETE)
            die "stack $name is ROLLBACK_COMPLETE (a failed create): delete it (teardown.sh) and run again"
            ;;
        *_IN_PROGRESS)
            die "stack $name is $status: wait for it, then run again"
            ;;
        *)
            log "update stack $name ($(basename "$template"))"
            if [ "$DRY_RUN" = 1 ]; then
                run awsx cloudformation update-stack --stack-name "$name" --template-body "file://$template" \
                    --capabilities CAPABILITY_NAMED_IAM ${params[@]+--parameters "${params[@]}"}
                return 0
            fi
            if ! out=$(awsx cloudformation update-stack --stack-name "$name" \
                --template-body "file://$template" --capabilities CAPABILITY_NAMED_IAM \
                --tags "Key=project,Value=$PROJECT" ${params[@]+--parameters "${params[@]}"} 2>&1); then
                case "$out" in
                    *"No updates are to be performed"*) log "stack $name is up to date"; return 0 ;;
                    *) printf '%s\n' "$out" >&2; die "update of stack $name failed" ;;
                esac
            fi
            awsx cloudformation wait stack-update-complete --stack-name "$name"
            ;;
    esac
}

account_id() {
    awsx sts get-caller-identity --query Account --output text
}
