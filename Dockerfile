# The vMCP data plane image:  docker build -t vmcp .
#
# Build stage: the project's own setup (scripts/setup.sh, the Debian toolchain and libraries), then the
# one binary with Bazel, optimized. Runtime stage: bookworm-slim with only the shared libraries the
# binary links and the system roots (docker/runtime-packages.txt), a non-root user, the binary.
# scripts/rootfs-check.sh proves the runtime stage without Docker (same packages, user and command).
#
# What the ToolHive operator mounts into the container:
#   /etc/vmcp-config/config.yaml                  the vMCP ConfigMap (the config, unchanged)
#   /etc/toolhive/ca-bundles/<backend>/ca.crt     the CA bundle of each direct backend (caBundlePath)
# plus the environment it sets (secrets referenced by the config: headerValueEnv, clientSecretEnv, ...).

FROM debian:bookworm AS build
WORKDIR /src
# Setup first, on its own layer: it only changes when scripts/setup.sh does.
COPY scripts/setup.sh scripts/setup.sh
RUN bash scripts/setup.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# Bazel's Linux sandbox needs mount namespaces that a docker build does not give; the build container
# is the isolation here, so actions run locally.
RUN bash scripts/bazel.sh build --compilation_mode=opt --spawn_strategy=local //:vmcp \
 && install -D -m 0755 bazel-bin/vmcp /out/vmcp

FROM debian:bookworm-slim
COPY docker/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
 && sed -e 's/#.*//' /tmp/runtime-packages.txt \
    | DEBIAN_FRONTEND=noninteractive xargs apt-get install -y -q --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && groupadd --system --gid 65532 vmcp \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin vmcp
COPY --from=build /out/vmcp /usr/local/bin/vmcp
USER 65532:65532
EXPOSE 4483
STOPSIGNAL SIGTERM
ENTRYPOINT ["vmcp"]
CMD ["serve","--config=/etc/vmcp-config/config.yaml","--host=0.0.0.0","--port=4483"]
