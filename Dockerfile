# portcullis on Node 24 LTS (the supported floor is 20.19; 24 is what we ship).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production
# argon2id allocates 19 MiB per hash; with a fixed mmap threshold glibc returns it after each hash.
ENV MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY package.json ./
COPY config/portcullis.yaml /etc/portcullis/portcullis.yaml
# Certificates and the embedded store's data live in volumes owned by the unprivileged user.
RUN mkdir -p /app/certs /app/data && chown -R node:node /app/certs /app/data
USER node
EXPOSE 4063 4064
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "require('http').get('http://127.0.0.1:4063/gateway/healthz',r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"
ENTRYPOINT ["node", "/app/bin/portcullis.js"]
CMD ["serve", "--config", "/etc/portcullis/portcullis.yaml"]
