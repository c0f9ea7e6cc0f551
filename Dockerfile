# syntax=docker/dockerfile:1
# Build a static binary, then copy it alone into a minimal non-root image.
# Base images are pinned by digest; the tag in the comment above each says
# which image the digest is. Update both together.

# golang:1.26-bookworm
FROM golang:1.26-bookworm@sha256:b305420a68d0f229d91eb3b3ed9e519fcf2cf5461da4bef997bf927e8c0bfd2b AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The version stamped into the binary (`simpleapi version`, the start line,
# simpleapi_build_info): docker build --build-arg VERSION="$(git describe --tags --always --dirty)" .
ARG VERSION
# CI runs this same line outside Docker (see .ci/run): keep it one line.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X simpleapi/app.version=${VERSION:-}" -o /out/simpleapi .
RUN mkdir -p /out/data

# gcr.io/distroless/static-debian12:nonroot
FROM gcr.io/distroless/static-debian12:nonroot@sha256:d093aa3e30dbadd3efe1310db061a14da60299baff8450a17fe0ccc514a16639
ARG VERSION
LABEL org.opencontainers.image.title="simpleapi" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/simpleapi /usr/local/bin/simpleapi
# The data directory belongs to the non-root user (uid 65532) so a fresh
# named volume mounted there is writable. A bind-mounted host directory
# must be writable by uid 65532 too; the server refuses to start otherwise
# and says how to fix it.
COPY --from=build --chown=65532:65532 /out/data /data
ENV DATA_DIR=/data \
    API_HOST=0.0.0.0 \
    API_PORT=5000
VOLUME ["/data"]
EXPOSE 5000
USER 65532:65532
# Healthy while the server answers /readyz (its store accepts writes). The
# check finds the server through the address it records in /data, so it
# works whatever port a flag or variable chose.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/simpleapi", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/simpleapi"]
CMD ["serve"]
