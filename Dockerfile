# Onair: one image for every role. The command picks the role:
#   node dist/bin/migrate.js | ingest.js | worker.js | api.js | nginx.js
# (docker-compose.yml runs one service per role.)

# ---- build: compile TypeScript, then keep only the production dependencies --------------------
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error
COPY tsconfig.json ./
COPY src ./src
COPY web ./web
RUN npx --no-install tsc -p tsconfig.json \
 && npx --no-install tsc -p web/tsconfig.json \
 && npx --no-install vite build --config web/vite.config.ts --logLevel warn \
 && npm prune --omit=dev --no-audit --no-fund --loglevel=error

# ---- runtime ---------------------------------------------------------------------------------
FROM node:22-bookworm-slim AS runtime

# ffmpeg: the worker's transcoder. nginx: the nginx role (HLS files, /api and /ws proxy).
# util-linux: setpriv (ffmpeg/nginx children die with their parent). Debian's packages, as bare metal.
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg nginx util-linux ca-certificates \
 && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production \
    DATA_DIR=/var/lib/onair \
    MEDIA_DIR=/var/lib/onair/media

WORKDIR /app
# application files stay root-owned: the runtime user can read but not change them
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
COPY ffmpeg-profiles ./ffmpeg-profiles
COPY nginx ./nginx

# DATA_DIR holds the rendered nginx config, its pid file and temp dirs ($DATA_DIR/nginx) and the
# logs ($DATA_DIR/logs); MEDIA_DIR the HLS output; $DATA_DIR/uploads (UPLOADS_DIR) the uploaded
# branding images, written by the api and served by nginx. Owned by the image's `node` user (uid 1000):
# a fresh named volume mounted on /var/lib/onair/media copies this ownership, so the worker can
# write into it. nginx runs unprivileged too: the renderer adds no `user` directive when not
# root, listens on 8080, overrides every *_temp_path and the access log, and `-e` moves the
# error log, so /var/lib/nginx and /var/log/nginx are never touched.
RUN mkdir -p /var/lib/onair/media/hls /var/lib/onair/recordings /var/lib/onair/uploads /var/lib/onair/nginx /var/lib/onair/logs \
 && chown -R node:node /var/lib/onair \
 && chmod 755 /var/lib/onair /var/lib/onair/media /var/lib/onair/media/hls /var/lib/onair/recordings /var/lib/onair/uploads

# the image's `node` user, numerically (lets Kubernetes' runAsNonRoot verify it)
USER 1000:1000

# 8080 nginx (HLS, /api, /ws), 1935 RTMP ingest, 3000 API (behind nginx)
EXPOSE 8080 1935 3000

# No image-wide HEALTHCHECK: the roles differ (migrate exits, worker has no port);
# docker-compose.yml defines one per service.
CMD ["node", "dist/bin/api.js"]
