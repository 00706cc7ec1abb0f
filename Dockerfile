# syntax=docker/dockerfile:1
# Backdrop: `backdrop bot` in a slim image. Build: docker build -t backdrop .
# Run:   docker run --env-file .env -v backdrop-data:/data -p 9464:9464 backdrop

# ---- build ------------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The dependencies first, in a layer of their own: rebuilt only when the manifests or the
# lock file change, not on every change of the code.
COPY Cargo.toml Cargo.lock ./
COPY fakes/Cargo.toml fakes/Cargo.toml
COPY lab/Cargo.toml lab/Cargo.toml
RUN mkdir -p src benches fakes/src lab/src \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && for b in queue local_engine bot cutout_process replicas; do echo 'fn main() {}' > "benches/$b.rs"; done \
 && touch fakes/src/lib.rs lab/src/lib.rs && echo 'fn main() {}' > lab/src/main.rs \
 && cargo build --release --locked -p backdrop --bin backdrop \
 && rm -rf src benches fakes/src lab/src
COPY . .
# Newer than the placeholders, so cargo rebuilds the crate itself.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked -p backdrop --bin backdrop \
 && strip target/release/backdrop

# ---- run --------------------------------------------------------------------------------
FROM debian:bookworm-slim
# CA certificates for Telegram and RunningHub over rustls; curl for the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin backdrop \
 && mkdir -p /data && chown backdrop:backdrop /data
COPY --from=build /src/target/release/backdrop /usr/local/bin/backdrop
USER backdrop
WORKDIR /data
ENV DATA_DIR=/data \
    METRICS_LISTEN=0.0.0.0:9464
VOLUME ["/data"]
# 8080: webhook mode (WEBHOOK_LISTEN); 9464: /healthz, /readyz, /metrics.
EXPOSE 8080 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:9464/healthz || exit 1
# SIGTERM starts the bot's orderly stop (ON_SHUTDOWN, SHUTDOWN_GRACE_S).
STOPSIGNAL SIGTERM
ENTRYPOINT ["backdrop"]
CMD ["bot"]
