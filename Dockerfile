# Huizhen server image. The mediasoup worker is built from the npm
# tarball's own source with the project's patch, exactly as on a developer
# machine (scripts/mediasoup/build-worker.sh): no GitHub, no PyPI.
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates nodejs npm \
      g++ python3 meson ninja-build pkg-config patch flatbuffers-compiler \
      libflatbuffers-dev libssl-dev libuv1-dev libsrtp2-dev libabsl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV HUIZHEN_CACHE_DIR=/cache
COPY package.json package-lock.json ./
COPY scripts ./scripts
RUN MEDIASOUP_WORKER_BIN="$(bash scripts/mediasoup/build-worker.sh --print-path)" npm ci --no-audit --no-fund
RUN bash scripts/mediasoup/build-worker.sh \
 && cp "$(bash scripts/mediasoup/build-worker.sh --print-path)" node_modules/mediasoup/worker/out/Release/mediasoup-worker
COPY . .
RUN npm run build:client && npm prune --omit=dev

FROM debian:bookworm-slim
# Run-time libraries of the worker (dynamically linked against Debian's),
# ffmpeg for recording, tini to forward signals for the ordered shutdown.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates ffmpeg tini \
      libuv1 libssl3 libsrtp2-1 libabsl20220623 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/huizhen --create-home huizhen
WORKDIR /app
COPY --from=build --chown=root:root /app /app
USER huizhen
ENV HUIZHEN_ENV=production \
    HUIZHEN_DATA_DIR=/var/lib/huizhen \
    HUIZHEN_HOST=0.0.0.0
EXPOSE 8443
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["/app/node_modules/.bin/node", "server/main.ts"]
