#!/usr/bin/env bash
# Removes everything bootstrap.sh and deploy.sh made, in dependency order,
# so that nothing is left billing:
#
#   1. the Ingress (the AWS Load Balancer Controller deletes its ALB and
#      target groups), then the EKS cluster with its node groups (eksctl);
#      load balancers or target groups the controller left behind;
#   2. the cost, IAM and monitoring stacks;
#   3. the data stack, after emptying the lake bucket (every object version
#      and delete marker) and the ECR repositories (every image);
#   4. the network stack, after what would stop the VPC's deletion or
#      delete in the wrong order: VPC endpoints (then their network
#      interfaces), network interfaces and security groups that are not the
#      stack's (left by EKS or the controller), route tables (after their
#      associations) and the internet gateway; CloudFormation then deletes
#      the subnets, the stack's security group and the VPC;
#   5. the SageMaker model registry group and its versions (--keep-registry
#      keeps them: they cost nothing);
#   6. a sweep for anything of the project that outlived its stack (bucket,
#      repositories, VPC, log groups), and a final check that prints what is
#      left and exits non-zero if anything is.
#
# Idempotent: what is already gone is skipped, so a second run (or a run
# after a half-finished one) completes the job. --dry-run prints every
# change instead of making it. --endpoint-url URL talks to another endpoint
# (moto's server in deploy/tests), where steps 1 and 5 find nothing.
#
# Usage: deploy/scripts/teardown.sh [--yes] [--dry-run] [--keep-registry]
#          [--region R] [--endpoint-url URL]
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

YES=0
KEEP_REGISTRY=0
MODEL_PACKAGE_GROUP=${MODEL_PACKAGE_GROUP:-price-sensitivity}
WAIT_SECS=${WAIT_SECS:-600}
while [ $# -gt 0 ]; do
    if common_flag "$@"; then shift "$SHIFT"; continue; fi
    case "$1" in
        --yes | -y) YES=1 ;;
        --keep-registry) KEEP_REGISTRY=1 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (try --help)" ;;
    esac
    shift
done
need aws "pip install awscli"

if [ "$DRY_RUN" = 0 ] && [ "$YES" = 0 ]; then
    if [ -t 0 ]; then
        printf 'Delete every %s resource in %s%s? Type the project name: ' \
            "$PROJECT" "$AWS_REGION" "${AWS_ENDPOINT_URL:+ at $AWS_ENDPOINT_URL}" >&2
        read -r answer
        [ "$answer" = "$PROJECT" ] || die "not confirmed"
    else
        die "not a terminal: pass --yes (or --dry-run)"
    fi
fi

# Waits until "$@" prints nothing (or None), at most WAIT_SECS.
wait_empty() {
    local what=$1; shift
    [ "$DRY_RUN" = 1 ] && return 0
    local deadline=$((SECONDS + WAIT_SECS)) out
    while :; do
        out=$("$@" 2>/dev/null || true)
        if [ -z "$out" ] || [ "$out" = None ]; then return 0; fi
        [ "$SECONDS" -lt "$deadline" ] || die "timed out after ${WAIT_SECS}s waiting for $what: $out"
        sleep 5
    done
}

delete_stack() {
    local name=$1 status
    status=$(stack_status "$name")
    case "$status" in
        NONE | DELETE_COMPLETE) log "stack $name: already gone"; return 0 ;;
    esac
    log "delete stack $name ($status)"
    run awsx cloudformation delete-stack --stack-name "$name"
    [ "$DRY_RUN" = 1 ] && return 0
    if ! awsx cloudformation wait stack-delete-complete --stack-name "$name"; then
        status=$(stack_status "$name")
        [ "$status" = NONE ] || die "stack $name: $status (see its events: aws cloudformation describe-stack-events --stack-name $name)"
    fi
}

# ---------------------------------------------------------------- 1. cluster
cluster_status=$(awsx eks describe-cluster --name "$CLUSTER" --query cluster.status --output text 2>/dev/null || echo NONE)
if [ "$cluster_status" != NONE ]; then
    log "cluster $CLUSTER ($cluster_status): delete the Ingress first, so the controller deletes its ALB"
    need eksctl "https://eksctl.io"
    if command -v kubectl >/dev/null && run awsx eks update-kubeconfig --name "$CLUSTER" >/dev/null; then
        run kubectl -n "$NAMESPACE" delete ingress --all --ignore-not-found --wait=true --timeout=300s \
            || warn "could not delete the Ingress; leftover load balancers are swept below"
    fi
    log "delete cluster $CLUSTER (eksctl: node groups, add-ons, its IAM roles and stacks)"
    run eksctl delete cluster --name "$CLUSTER" --region "$AWS_REGION" --wait --disable-nodegroup-eviction
else
    log "cluster $CLUSTER: already gone"
fi

vpc_id=$(stack_output "$STACK_NETWORK" VpcId)
if [ -z "$vpc_id" ] || [ "$vpc_id" = None ]; then
    vpc_id=$(awsx ec2 describe-vpcs --filters "Name=tag:Name,Values=$PROJECT-vpc" \
        --query 'Vpcs[0].VpcId' --output text 2>/dev/null || true)
fi
[ "$vpc_id" = None ] && vpc_id=

if [ -n "$vpc_id" ]; then
    for lb in $(awsx elbv2 describe-load-balancers \
        --query "LoadBalancers[?VpcId=='$vpc_id'].LoadBalancerArn" --output text 2>/dev/null || true); do
        log "load balancer left in the VPC: $lb"
        run awsx elbv2 delete-load-balancer --load-balancer-arn "$lb"
    done
    wait_empty "load balancers in $vpc_id" awsx elbv2 describe-load-balancers \
        --query "LoadBalancers[?VpcId=='$vpc_id'].LoadBalancerArn" --output text
    for tg in $(awsx elbv2 describe-target-groups \
        --query "TargetGroups[?VpcId=='$vpc_id'].TargetGroupArn" --output text 2>/dev/null || true); do
        log "target group left in the VPC: $tg"
        run awsx elbv2 delete-target-group --target-group-arn "$tg"
    done
fi

# ---------------------------------------------------------------- 2. stacks without dependents
delete_stack "$STACK_COST"
delete_stack "$STACK_IAM"
delete_stack "$STACK_MONITORING"

# ---------------------------------------------------------------- 3. data
empty_bucket() {
    local bucket=$1 page
    log "empty bucket $bucket (every version and delete marker)"
    [ "$DRY_RUN" = 1 ] && return 0
    while :; do
        # At most 1000 keys per DeleteObjects; loop until nothing is listed.
        # shellcheck disable=SC2016 # a JMESPath literal, not a shell expansion
        page=$(awsx s3api list-object-versions --bucket "$bucket" --max-items 1000 --output json \
            --query '{Objects: [Versions[].{Key: Key, VersionId: VersionId}, DeleteMarkers[].{Key: Key, VersionId: VersionId}][] | [?Key != null], Quiet: `true`}')
        if [ -z "$page" ] || printf '%s' "$page" | grep -q '"Objects": \[\]'; then break; fi
        awsx s3api delete-objects --bucket "$bucket" --delete "$page" >/dev/null
    done
    for upload in $(awsx s3api list-multipart-uploads --bucket "$bucket" \
        --query 'Uploads[].[Key, UploadId]' --output text 2>/dev/null | tr '\t' '|' || true); do
        [ "$upload" = None ] && continue
        awsx s3api abort-multipart-upload --bucket "$bucket" --key "${upload%%|*}" --upload-id "${upload#*|}"
    done
}

empty_repository() {
    local repo=$1 ids
    ids=$(awsx ecr list-images --repository-name "$repo" --query 'imageIds[].imageDigest' --output text 2>/dev/null || true)
    [ -z "$ids" ] || [ "$ids" = None ] && return 0
    log "empty repository $repo"
    local args=() d
    for d in $ids; do args+=("imageDigest=$d"); done
    run awsx ecr batch-delete-image --repository-name "$repo" --image-ids "${args[@]}" >/dev/null
}

bucket=$(stack_output "$STACK_DATA" LakeBucketName)
if [ -z "$bucket" ] || [ "$bucket" = None ]; then bucket=$PROJECT-lake-$(account_id)-$AWS_REGION; fi
if awsx s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then empty_bucket "$bucket"; fi
for repo in "$PROJECT-serve" "$PROJECT-train"; do empty_repository "$repo"; done
delete_stack "$STACK_DATA"

# ---------------------------------------------------------------- 4. network
if [ -n "$vpc_id" ] && awsx ec2 describe-vpcs --vpc-ids "$vpc_id" >/dev/null 2>&1; then
    vpc_filter="Name=vpc-id,Values=$vpc_id"
    endpoints=$(awsx ec2 describe-vpc-endpoints --filters "$vpc_filter" \
        --query "VpcEndpoints[?State!='deleted' && State!='deleting'].VpcEndpointId" --output text)
    if [ -n "$endpoints" ]; then
        log "delete VPC endpoints: $endpoints"
        # shellcheck disable=SC2086 # one word per id
        run awsx ec2 delete-vpc-endpoints --vpc-endpoint-ids $endpoints >/dev/null
    fi
    wait_empty "the VPC endpoints of $vpc_id" awsx ec2 describe-vpc-endpoints --filters "$vpc_filter" \
        --query "VpcEndpoints[?State!='deleted'].VpcEndpointId" --output text
    # Interface endpoints' network interfaces go a little after them; others
    # (the VPC CNI's, the controller's) are left 'available'.
    wait_empty "in-use network interfaces of $vpc_id" awsx ec2 describe-network-interfaces \
        --filters "$vpc_filter" "Name=status,Values=in-use" --query 'NetworkInterfaces[].NetworkInterfaceId' --output text
    for eni in $(awsx ec2 describe-network-interfaces --filters "$vpc_filter" \
        --query 'NetworkInterfaces[].NetworkInterfaceId' --output text); do
        log "delete network interface $eni"
        run awsx ec2 delete-network-interface --network-interface-id "$eni"
    done
    stack_groups=$(awsx cloudformation describe-stack-resources --stack-name "$STACK_NETWORK" \
        --query "StackResources[?ResourceType=='AWS::EC2::SecurityGroup'].PhysicalResourceId" --output text 2>/dev/null || true)
    for sg in $(awsx ec2 describe-security-groups --filters "$vpc_filter" \
        --query "SecurityGroups[?GroupName!='default'].GroupId" --output text); do
        case " $stack_groups " in *" $sg "*) continue ;; esac
        log "delete security group $sg (not the network stack's)"
        run awsx ec2 delete-security-group --group-id "$sg"
    done
    for rt in $(awsx ec2 describe-route-tables --filters "$vpc_filter" \
        --query 'RouteTables[?!(Associations[?Main])].RouteTableId' --output text); do
        for assoc in $(awsx ec2 describe-route-tables --route-table-ids "$rt" \
            --query 'RouteTables[0].Associations[].RouteTableAssociationId' --output text); do
            run awsx ec2 disassociate-route-table --association-id "$assoc"
        done
        log "delete route table $rt"
        run awsx ec2 delete-route-table --route-table-id "$rt"
    done
    for igw in $(awsx ec2 describe-internet-gateways --filters "Name=attachment.vpc-id,Values=$vpc_id" \
        --query 'InternetGateways[].InternetGatewayId' --output text); do
        log "detach and delete internet gateway $igw"
        run awsx ec2 detach-internet-gateway --internet-gateway-id "$igw" --vpc-id "$vpc_id"
        run awsx ec2 delete-internet-gateway --internet-gateway-id "$igw"
    done
fi
delete_stack "$STACK_NETWORK"

# ---------------------------------------------------------------- 5. registry
if [ "$KEEP_REGISTRY" = 0 ] && awsx sagemaker describe-model-package-group \
    --model-package-group-name "$MODEL_PACKAGE_GROUP" >/dev/null 2>&1; then
    for pkg in $(awsx sagemaker list-model-packages --model-package-group-name "$MODEL_PACKAGE_GROUP" \
        --query 'ModelPackageSummaryList[].ModelPackageArn' --output text); do
        run awsx sagemaker delete-model-package --model-package-name "$pkg"
    done
    log "delete model package group $MODEL_PACKAGE_GROUP"
    run awsx sagemaker delete-model-package-group --model-package-group-name "$MODEL_PACKAGE_GROUP"
fi

# ---------------------------------------------------------------- 6. sweep and check
# (Not in a dry run: nothing was deleted, so everything would look left over.)
[ "$DRY_RUN" = 1 ] && { log "dry run: nothing was changed"; exit 0; }
leftovers=()
if awsx s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
    empty_bucket "$bucket"
    run awsx s3api delete-bucket --bucket "$bucket"
fi
for repo in "$PROJECT-serve" "$PROJECT-train"; do
    if awsx ecr describe-repositories --repository-names "$repo" >/dev/null 2>&1; then
        log "repository $repo outlived its stack"
        run awsx ecr delete-repository --repository-name "$repo" --force >/dev/null
    fi
done
for vpc in $(awsx ec2 describe-vpcs --filters "Name=tag:project,Values=$PROJECT" --query 'Vpcs[].VpcId' --output text); do
    log "VPC $vpc outlived its stack"
    for subnet in $(awsx ec2 describe-subnets --filters "Name=vpc-id,Values=$vpc" --query 'Subnets[].SubnetId' --output text); do
        run awsx ec2 delete-subnet --subnet-id "$subnet"
    done
    for sg in $(awsx ec2 describe-security-groups --filters "Name=vpc-id,Values=$vpc" \
        --query "SecurityGroups[?GroupName!='default'].GroupId" --output text); do
        run awsx ec2 delete-security-group --group-id "$sg"
    done
    run awsx ec2 delete-vpc --vpc-id "$vpc"
done
for group in $(awsx logs describe-log-groups --query 'logGroups[].logGroupName' --output text); do
    case "$group" in
        "/$PROJECT/"* | "/aws/containerinsights/$CLUSTER/"* | "/aws/eks/$CLUSTER/"*)
            log "log group $group outlived its stack"
            run awsx logs delete-log-group --log-group-name "$group" ;;
    esac
done

for name in "$STACK_COST" "$STACK_IAM" "$STACK_MONITORING" "$STACK_DATA" "$STACK_NETWORK"; do
    status=$(stack_status "$name")
    case "$status" in NONE | DELETE_COMPLETE) ;; *) leftovers+=("stack $name ($status)") ;; esac
done
awsx s3api head-bucket --bucket "$bucket" >/dev/null 2>&1 && leftovers+=("bucket $bucket")
for repo in "$PROJECT-serve" "$PROJECT-train"; do
    awsx ecr describe-repositories --repository-names "$repo" >/dev/null 2>&1 && leftovers+=("repository $repo")
done
vpcs=$(awsx ec2 describe-vpcs --filters "Name=tag:project,Values=$PROJECT" --query 'Vpcs[].VpcId' --output text)
[ -n "$vpcs" ] && leftovers+=("VPC $vpcs")
[ "$(awsx eks describe-cluster --name "$CLUSTER" --query cluster.status --output text 2>/dev/null || echo NONE)" = NONE ] \
    || leftovers+=("cluster $CLUSTER")
if [ ${#leftovers[@]} -gt 0 ]; then
    printf 'left over: %s\n' "${leftovers[@]}" >&2
    die "teardown incomplete; run it again (it resumes where it stopped)"
fi
log "nothing of $PROJECT is left in $AWS_REGION"
