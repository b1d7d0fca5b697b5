# syntax=docker/dockerfile:1.7
# One image with both Tollgate binaries: tollgate-controller and tollgate-proxy.
# Build from the repository root:
#   docker build -f Dockerfile -t tollgate:0.1.0 .
# (the chart's default image is tollgate:<appVersion>; load it into kind with
# `kind load docker-image tollgate:0.1.0`, or push it to your registry and set image.repository)
# The Helm chart sets the command of each container (tollgate-controller run / tollgate-proxy).

# The toolchain the project is developed and tested with (the workspace's rust-version, 1.89, is the
# minimum it supports).
ARG RUST_VERSION=1.95

# --- build: release binaries --------------------------------------------------------------------
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# Manifests first, so the dependency layer is reused while only sources change.
COPY Cargo.toml Cargo.lock ./
COPY core ./core
COPY controller ./controller
COPY proxy ./proxy
COPY e2e ./e2e
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked \
        -p tollgate-controller -p tollgate-proxy \
        --bin tollgate-controller --bin tollgate-proxy \
    && install -D -m 0755 target/release/tollgate-controller /out/tollgate-controller \
    && install -D -m 0755 target/release/tollgate-proxy /out/tollgate-proxy

# --- run: glibc + CA certificates, no shell, no package manager, non-root -------------------------
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="tollgate" \
      org.opencontainers.image.description="Tollgate API gateway: controller and proxy" \
      org.opencontainers.image.source="https://github.com/tollgate-dev/tollgate" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/tollgate-controller /out/tollgate-proxy /usr/local/bin/
# 65532 is distroless' "nonroot"; the chart runs the pods as this uid with runAsNonRoot.
USER 65532:65532
# 8000 HTTP, 8443 HTTPS, 8100 admin (config channel, health, metrics)
EXPOSE 8000 8443 8100
ENTRYPOINT ["/usr/local/bin/tollgate-proxy"]
