# syntax=docker/dockerfile:1
# mfactl as a container image: a static binary, the CA bundle, nothing else.
#
#   docker build -t mfactl .
#   docker run --rm mfactl --version
#
# The runtime stage is `scratch`: no shell, no package manager, no libc. The binary is linked
# statically against glibc (crt-static) in the builder, so it needs nothing from the image but
# the CA bundle (rustls' platform verifier reads /etc/ssl/certs/ca-certificates.crt).
# deploy/image/Containerfile.prebuilt builds the same runtime stage from a binary built on the
# host, for machines that cannot pull the builder's base image.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
# No .git in the build context: `mfactl version` names the commit given here
# (docker build --build-arg MFACTL_GIT_COMMIT="$(git rev-parse --short HEAD)"), else unknown.
ARG MFACTL_GIT_COMMIT=unknown
ENV MFACTL_GIT_COMMIT=${MFACTL_GIT_COMMIT}
WORKDIR /src
# Dependencies first, so that a change to src/ does not rebuild them.
COPY Cargo.toml Cargo.lock build.rs ./
COPY benches benches
RUN mkdir -p src tests/it \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs tests/it/main.rs \
 && RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release --locked --target x86_64-unknown-linux-gnu --bin mfactl \
 && rm -rf src
COPY src src
RUN touch src/main.rs src/lib.rs \
 && RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release --locked --target x86_64-unknown-linux-gnu --bin mfactl \
 && cp target/x86_64-unknown-linux-gnu/release/mfactl /mfactl \
 && /mfactl --version \
 && mkdir -p /rootfs/tmp /rootfs/etc/ssl/certs /state/mfactl \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && printf 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > /rootfs/etc/passwd \
 && printf 'nonroot:x:65532:\n' > /rootfs/etc/group \
 && chmod 1777 /rootfs/tmp

FROM scratch
LABEL org.opencontainers.image.title="mfactl" \
      org.opencontainers.image.description="GitOps controller for Microsoft Entra ID MFA policy" \
      org.opencontainers.image.licenses="MIT"
COPY --from=builder /rootfs/ /
# COPY sets root ownership: the working directory is the one place the user may write.
COPY --from=builder --chown=65532:65532 /state/ /var/lib/
COPY --from=builder /mfactl /usr/local/bin/mfactl
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /var/lib/mfactl
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/mfactl"]
CMD ["--help"]
