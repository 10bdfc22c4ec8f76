# syntax=docker/dockerfile:1.7
#
# The serving image: forest-serve with the approved model compiled in.
# The root package `forest` has a build.rs that reads models/approved.forest
# (or $FOREST_MODEL) and emits the model as branch-free Rust, so the binary
# carries its model: no model file, no volume, nothing to download at start.
#
# Build from the repository root (the context is the whole workspace,
# filtered by serve.Dockerfile.dockerignore beside this file, which keeps
# models/approved.forest and drops every other .forest file):
#
#   forest-train pull --approved --registry REG --out models/approved.forest
#   docker build -f deploy/docker/serve.Dockerfile -t forest-serve:$(git rev-parse HEAD) .
#   docker run --rm -p 8080:8080 --read-only forest-serve:$(git rev-parse HEAD)
#
# Runtime: distroless/cc (glibc, libgcc, CA certificates; no shell, no
# package manager), uid 65532, nothing written to the root file system (logs
# and EMF records go to stdout), so it runs with readOnlyRootFilesystem and
# every capability dropped. There is no HEALTHCHECK: it would need a shell
# or a client binary in the image; Kubernetes probes GET /health (liveness)
# and /ready (startup, readiness) instead, see deploy/k8s/base/deployment.yaml.
#
# Settings are flags or environment variables (forest-serve --help):
# FOREST_ADDR (0.0.0.0:8080), FOREST_DRAIN_TIMEOUT_SECS (25),
# FOREST_EMF_INTERVAL_SECS (60), FOREST_EMF_NAMESPACE (Forest/Serve),
# FOREST_LOG_LEVEL (info), FOREST_WORKERS (0: one per core),
# FOREST_MAX_BODY_BYTES, FOREST_MAX_BATCH.

ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm

# ---------------------------------------------------------------- build
FROM rust:${RUST_VERSION}-slim-${DEBIAN} AS build
WORKDIR /src
# The whole workspace: cargo needs every member's manifest and the root
# package's build.rs; the lock file pins every dependency (--locked).
COPY . .
# The model the build compiles in; fail early and say how to get one.
ENV FOREST_MODEL=/src/models/approved.forest
RUN test -s "$FOREST_MODEL" \
    || { echo "no $FOREST_MODEL: run 'forest-train pull --approved --registry REG --out models/approved.forest' first" >&2; exit 1; }
# Cache the registry and the target directory between builds (BuildKit);
# the binary is copied out because cache mounts do not reach later stages.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p forest-serve \
    && install -D -m 0755 target/release/forest-serve /out/forest-serve \
    && /out/forest-serve --version

# ---------------------------------------------------------------- runtime
# The nonroot variant runs as uid 65532 (the Deployment says so again).
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
LABEL org.opencontainers.image.title="forest-serve" \
      org.opencontainers.image.description="Basket price-sensitivity model over HTTP (/predict, /health, /ready, /metrics, /docs); the approved model compiled in" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/forest-serve /usr/local/bin/forest-serve
USER 65532:65532
ENV FOREST_ADDR=0.0.0.0:8080 \
    RUST_BACKTRACE=0
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/forest-serve"]
