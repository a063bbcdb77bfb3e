# syntax=docker/dockerfile:1

# ---- build: compile TypeScript (and the bundled IDE) with dev dependencies ----
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# ---- production dependencies only ----
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime ----
FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    PORT=4000 \
    HOST=0.0.0.0 \
    DATA_DIR=/var/lib/qckeys
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY schema ./schema
RUN groupadd --system qckeys && useradd --system --gid qckeys --home /app qckeys \
    && mkdir -p /var/lib/qckeys && chown qckeys:qckeys /var/lib/qckeys
USER qckeys
VOLUME ["/var/lib/qckeys"]
EXPOSE 4000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# a larger young generation: a request's garbage dies there instead of being promoted (see docs/performance.md)
CMD ["node", "--max-semi-space-size=16", "dist/src/server.js"]
