# The controller image: the static tuxboot binary alone, non-root.
# Build from the repository root:
#   docker build -f images/controller.Dockerfile -t tuxboot-controller .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags=-s -o /out/tuxboot ./cmd/tuxboot

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tuxboot /tuxboot
USER 65532:65532
ENTRYPOINT ["/tuxboot"]
CMD ["controller", "--help"]
