# Watchfire in a container (issue 18 point 5). NOT BUILT HERE: the development machines have no
# Docker engine; see README "Containers" for what was and was not tested.
# Build stage: the full install (dev packages to compile TypeScript and better-sqlite3), then the
# build, then drop the dev packages.
FROM node:24-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Runtime: node, the build and production packages only; runs as the image's unprivileged user.
FROM node:24-bookworm-slim
ENV NODE_ENV=production WF_DATA_DIR=/data WF_HTTP_HOST=0.0.0.0 WF_MQTT_HOST=0.0.0.0
WORKDIR /opt/watchfire
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/deploy/healthz.mjs ./deploy/healthz.mjs
COPY --from=build /src/config/*.example.yaml ./config/
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 1883 8883 8080
HEALTHCHECK --interval=30s --timeout=40s --start-period=60s CMD ["node", "deploy/healthz.mjs", "http://127.0.0.1:8080/healthz"]
STOPSIGNAL SIGTERM
CMD ["node", "--max-semi-space-size=64", "--heap-growing-percent=100", "dist/app/main.js", "start"]
