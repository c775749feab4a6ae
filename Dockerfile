# syntax=docker/dockerfile:1.7
# agentgate: one image for every role (webhook, sidecar, broker, gateway), chosen by the first
# argument of the CLI. Node 24 runs the TypeScript sources directly (type stripping), so there
# is no build step and what runs is what was reviewed.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only, and no install scripts: nothing at run time needs one.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY webhook ./webhook
COPY sidecar ./sidecar
# A numeric non-root user, so that `runAsNonRoot` can be verified by the kubelet and the sidecar
# meets the restricted Pod Security Standard; nothing is written to the root filesystem.
USER 65532:65532
ENTRYPOINT ["node", "--disable-warning=ExperimentalWarning", "bin/agentgate.js"]
CMD ["--help"]
