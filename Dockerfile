# syntax=docker/dockerfile:1
# Build a static binary, then copy it alone into a minimal non-root image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CI runs this same command (see .ci/run).
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/simpleapi .
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/simpleapi /usr/local/bin/simpleapi
# The data directory belongs to the non-root user (uid 65532) so a fresh
# named volume mounted there is writable.
COPY --from=build --chown=65532:65532 /out/data /data
ENV DATA_DIR=/data \
    API_HOST=0.0.0.0 \
    API_PORT=5000
VOLUME ["/data"]
EXPOSE 5000
USER 65532:65532
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/simpleapi", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/simpleapi"]
CMD ["serve"]
