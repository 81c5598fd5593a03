# syntax=docker/dockerfile:1
# The netpol-nft agent image: Node 20 + the nft binary. Built from the repository root:
#   docker build -t netpol-nft:0.1.0 .
# Three stages so that neither the TypeScript compiler nor any dev dependency ships.

# 1. Compile TypeScript (tsconfig.build.json: compiler/ and controller/ into dist/).
FROM node:20-bookworm-slim AS build
WORKDIR /app
# Manifests first: the dependency layer is reused until package-lock.json changes.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY compiler ./compiler
COPY controller ./controller
RUN npm run build

# 2. Production dependencies only.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# 3. Runtime.
FROM node:20-bookworm-slim
# nft is the agent's way to the kernel (nft -j -f); conntrack clears the verdict cache's
# stamps at start and before its counter wraps (controller/generation.ts).
RUN apt-get update \
 && apt-get install -y --no-install-recommends nftables conntrack \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
# package.json: the "type": "module" that dist/ needs, and the version in netpol_nft_build_info.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The CLI and the kubectl plugin on PATH too (`kubectl-netpol matrix ...`, as npm's bin would).
RUN chmod +x dist/controller/cli.js dist/controller/kubectl-netpol.js \
 && ln -s /app/dist/controller/cli.js /usr/local/bin/netpol-nft \
 && ln -s /app/dist/controller/kubectl-netpol.js /usr/local/bin/kubectl-netpol
# Root on purpose: nft needs CAP_NET_ADMIN, which runtimes grant only to root; the Helm
# chart drops every other capability, forbids privilege escalation and mounts / read-only.
USER root
ENTRYPOINT ["node", "/app/dist/controller/cli.js"]
CMD ["--help"]
