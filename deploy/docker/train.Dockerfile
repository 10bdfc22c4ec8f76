# syntax=docker/dockerfile:1.7
#
# The SageMaker training image: forest-train as the entrypoint, so that
# SageMaker's `docker run IMAGE train` runs `forest-train train`, the
# training-container contract (forest-train/src/sagemaker/entrypoint.rs):
# hyper-parameters and resource config from /opt/ml/input/config/, gold
# channels under /opt/ml/input/data/, the model and its report to
# /opt/ml/model/, /opt/ml/output/failure on error.
#
# Build from the repository root (the context is the whole workspace,
# filtered by train.Dockerfile.dockerignore beside this file):
#
#   docker build -f deploy/docker/train.Dockerfile -t forest-train:$(git rev-parse --short HEAD) .
#
# Try the contract locally on a gold table (no AWS needed):
#
#   mkdir -p ml/input/data ml/input/config && cp -r LAKE/gold ml/input/data/train \
#     && cp -r LAKE/gold ml/input/data/validation && echo '{"trees": "100"}' > ml/input/config/hyperparameters.json
#   docker run --rm -v "$PWD/ml:/opt/ml" forest-train:TAG train
#
# The same image runs every forest-train command (etl, fit, eval, merge,
# register, ...), e.g. as SageMaker Processing for the ETL.

ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm

# ---------------------------------------------------------------- build
FROM rust:${RUST_VERSION}-slim-${DEBIAN} AS build
WORKDIR /src
# The whole workspace: cargo needs every member's manifest, and the lock
# file pins every dependency (--locked fails rather than resolving anew).
COPY . .
# Cache the registry and the target directory between builds (BuildKit);
# the binary is copied out because cache mounts do not reach later stages.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p forest-train \
    && install -D -m 0755 target/release/forest-train /out/forest-train \
    && /out/forest-train --version

# Directories of the SageMaker layout, owned by the runtime user, for
# runs where they are not mounted in (docker run without -v, local tests).
RUN mkdir -p /out/ml/input/config /out/ml/input/data /out/ml/model /out/ml/output /out/ml/checkpoints

# ---------------------------------------------------------------- runtime
# distroless/cc: glibc, libgcc and CA certificates (for S3 over HTTPS),
# no shell, no package manager; the nonroot variant runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
LABEL org.opencontainers.image.title="forest-train" \
      org.opencontainers.image.description="Random-forest trainer for basket price sensitivity; SageMaker training image (entrypoint: forest-train, argument: train)" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/forest-train /usr/local/bin/forest-train
COPY --from=build --chown=65532:65532 /out/ml /opt/ml
USER 65532:65532
WORKDIR /opt/ml
# The SageMaker root (the default, spelled out) and quiet, JSON-free logs:
# SageMaker ships stdout/stderr to CloudWatch, where the metric lines
# (train:accuracy=...;) are read by the job's MetricDefinitions.
ENV SM_ROOT=/opt/ml \
    RUST_BACKTRACE=0
ENTRYPOINT ["/usr/local/bin/forest-train"]
CMD ["train"]
