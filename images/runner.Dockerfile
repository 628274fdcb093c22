# The runner image: `tuxboot runner` with QEMU for every architecture
# TuxBoot boots, as a non-root user. Build from the repository root:
#   docker build -f images/runner.Dockerfile -t tuxboot-runner .
# The Kubernetes executor runs it with a read-only root filesystem and an
# emptyDir at /scratch for the work and artefact cache directories.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags=-s -o /out/tuxboot ./cmd/tuxboot

FROM debian:bookworm-slim
# The same packages as hack/deps.sh, less the test tools.
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        qemu-system-x86 qemu-system-arm qemu-system-mips qemu-system-ppc \
        qemu-system-s390x qemu-system-misc qemu-system-sparc qemu-utils \
        opensbi ipxe-qemu seabios ca-certificates cpio gzip xz-utils zstd \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/tuxboot /usr/local/bin/tuxboot
# 65532 is the UID the pod's security context runs as; kvm group access
# comes from the device plugin.
RUN groupadd -g 65532 tuxboot && useradd -u 65532 -g 65532 -d /scratch -M -s /usr/sbin/nologin tuxboot
USER 65532:65532
ENV HOME=/scratch TMPDIR=/scratch
ENTRYPOINT ["tuxboot"]
CMD ["runner", "--help"]
