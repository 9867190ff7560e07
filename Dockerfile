# syntax=docker/dockerfile:1
# The three programs' images from one build stage. Each image is a target:
#
#   docker buildx build --platform linux/amd64,linux/arm64 --target edge-exporter \
#     -t ghcr.io/edge-metrics/edge-exporter:0.1.0 --push .
#   (the same with --target edge-sidecar and --target edge-master)
#
# buildx runs the build stage once per platform (arm64 under QEMU on an amd64
# host: slow, but no cross toolchain to get wrong; rusqlite's bundled SQLite is C).

# The toolchain Cargo.lock is tested with.
ARG RUST_IMAGE=rust:1.95-bookworm

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p edge-exporter -p edge-sidecar -p edge-master \
    && install -D -m 0755 -t /out/bin \
       target/release/edge-exporter target/release/edge-sidecar target/release/edge-master \
    && install -d -m 0755 /out/state

# Reads /proc, /sys and the host's root (mounted read-only): no shell, no root.
FROM gcr.io/distroless/cc-debian12:nonroot AS edge-exporter
COPY --from=build /out/bin/edge-exporter /usr/local/bin/edge-exporter
USER 65534:65534
EXPOSE 9100
ENTRYPOINT ["/usr/local/bin/edge-exporter"]

# The SQLite file (--db, default edge-master.db in the working directory) lives on a
# volume at /var/lib/edge-master, owned by the image's user.
FROM gcr.io/distroless/cc-debian12:nonroot AS edge-master
COPY --from=build /out/bin/edge-master /usr/local/bin/edge-master
COPY --from=build --chown=65532:65532 /out/state /var/lib/edge-master
USER 65532:65532
WORKDIR /var/lib/edge-master
EXPOSE 8080
VOLUME ["/var/lib/edge-master"]
ENTRYPOINT ["/usr/local/bin/edge-master"]

# Runs the users' bash scripts, so it carries bash and what the example scripts call:
# coreutils (cat, tr) from the base image, mawk (awk) and i2c-tools (i2cget).
FROM debian:bookworm-slim AS edge-sidecar
RUN apt-get update \
    && apt-get install -y --no-install-recommends bash mawk i2c-tools \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/bin/edge-sidecar /usr/local/bin/edge-sidecar
# Non-root by default; reading /dev/i2c-* needs the device's group (supplementalGroups)
# or a privileged container: manifests/README.md has both.
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/edge-sidecar"]
