# The operator image that manifests/base and charts/storeop run (`storeop:latest` there).
# Build: docker build -t storeop:latest .   (not built in CI: the CI machines have no Docker)
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/bundle.ts ./scripts/
# `npm ci` runs `prepare`, which compiles src/ to dist/ and bundles the CLI into dist/bundle/ (scripts/bundle.ts).
RUN npm ci

FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# The operator's V8 heap settings (OPERATOR_NODE_OPTIONS in scripts/bundle.ts, which the tests run with).
ENV NODE_OPTIONS="--max-old-space-size=256 --max-semi-space-size=2"
COPY package.json package-lock.json ./
# Runtime dependencies only; no install scripts (the dev-only `node` package and `prepare` are not needed).
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY crds ./crds
# The `node` user of the base image (uid 1000): the Deployments set runAsNonRoot.
USER 1000
# The minified bundle: about half the idle JS heap of dist/cli/main.js (bench/README.md, "Memory").
ENTRYPOINT ["node", "/app/dist/bundle/storeop.mjs"]
CMD ["run"]
