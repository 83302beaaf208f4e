# syntax=docker/dockerfile:1
# The operator image that manifests/base and charts/storeop run (storeop:<appVersion>).
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) -t storeop:0.1.0 .
# Not built in CI (the CI machines have no Docker); scripts/kind-e2e builds it on a machine with Docker.

# 1. Compile and bundle: `npm ci` runs `prepare` (tsc to dist/, esbuild bundle to dist/bundle/, scripts/bundle.ts).
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/bundle.ts ./scripts/
RUN npm ci

# 2. Runtime dependencies only (the bundle leaves PGlite, pg-native and supabase-js as imports), no install
#    scripts: the dev-only `node` package and `prepare` are not needed.
FROM node:22-bookworm-slim AS runtime-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

# 3. The runtime: distroless Node.js 22 (no shell, no package manager, no npm), a numeric non-root user.
FROM gcr.io/distroless/nodejs22-debian12 AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="storeop" \
      org.opencontainers.image.description="A Kubernetes operator that gives every store of a multi-tenant e-commerce platform its own database." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
# The operator's V8 heap settings (OPERATOR_NODE_OPTIONS in scripts/bundle.ts, which the tests run with).
ENV NODE_OPTIONS="--max-old-space-size=256 --max-semi-space-size=2"
# package.json: `storeop version` reads it two levels above dist/bundle/.
COPY --from=runtime-deps --chown=0:0 /app/node_modules ./node_modules
COPY --from=build --chown=0:0 /src/package.json ./package.json
COPY --from=build --chown=0:0 /src/dist ./dist
COPY --chown=0:0 crds ./crds
# Files owned by root and read-only to the process; the chart and manifests run it with this uid and
# runAsNonRoot, readOnlyRootFilesystem and no capabilities.
USER 10001:10001
# The minified bundle: about half the idle JS heap of dist/cli/main.js (bench/README.md, "Memory").
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/bundle/storeop.mjs"]
CMD ["run"]
