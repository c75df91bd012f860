#!/usr/bin/env bash
# npm start / npm test / npm run bench:* land here. Makes a fresh Debian 12 machine ready
# (Debian packages, npm dependencies, the TypeScript build), then runs what was asked.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v ffmpeg >/dev/null 2>&1 || need_pkgs+=(ffmpeg)
command -v nginx >/dev/null 2>&1 || need_pkgs+=(nginx)
command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_pkgs+=(postgresql)
command -v setpriv >/dev/null 2>&1 || need_pkgs+=(util-linux)
# the browser tests (a real player, hls.js in Chromium) need Debian's chromium; playwright-core
# drives it (its own browser download does not work without internet)
if { [ "${1:-}" = test ] || { [ "${1:-}" = bench ] && [ "${2:-}" = glass ]; }; } && ! command -v chromium >/dev/null 2>&1; then need_pkgs+=(chromium); fi
# nginx-rtmp: the peer in bench:latency, the destinations of bench:relay, and the relay tests'
# destinations (recording what they get)
if { [ "${1:-}" = test ] || { [ "${1:-}" = bench ] && { [ "${2:-}" = latency ] || [ "${2:-}" = glass ] || [ "${2:-}" = relay ]; }; }; } && [ ! -e /usr/lib/nginx/modules/ngx_rtmp_module.so ]; then
  need_pkgs+=(libnginx-mod-rtmp)
fi
# the relay tests' RTMPS destination: stunnel4 terminates TLS with a test CA that openssl makes
if [ "${1:-}" = test ] && [ ! -x /usr/bin/stunnel4 ]; then need_pkgs+=(stunnel4); fi
if [ "${1:-}" = test ] && ! command -v openssl >/dev/null 2>&1; then need_pkgs+=(openssl); fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "onair: missing Debian packages: ${need_pkgs[*]}. Install them with: sudo apt-get install -y ${need_pkgs[*]}" >&2
    exit 1
  fi
  echo "onair: installing Debian packages: ${need_pkgs[*]} …"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps the packages from starting a system nginx/redis/postgres of their own
  # (only when the machine has no policy of its own, which is then left as it was)
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
  fi
  status=0
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null || status=$?
  [ "$own_policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$status" -eq 0 ] || exit "$status"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "onair: installing npm dependencies …"
  # npm 11 may call its own lock file out of sync over other platforms' optional packages
  # (msgpackr-extract): then install from package.json, which still honours the lock's versions
  npm ci --no-audit --no-fund --loglevel=error 2>/dev/null || npm install --no-audit --no-fund --loglevel=error
fi

if [ ! -f dist/.built ] || [ -n "$(find src web migrations ffmpeg-profiles nginx tsconfig.json package-lock.json -newer dist/.built -print -quit 2>/dev/null)" ]; then
  echo "onair: building …"
  rm -rf dist
  npx --no-install tsc -p tsconfig.json
  # the web face: type-checked, then bundled by Vite into dist/site (nginx serves it)
  npx --no-install tsc -p web/tsconfig.json
  npx --no-install vite build --config web/vite.config.ts --logLevel warn
  touch dist/.built
fi

case "${1:-}" in
  start) exec node dist/bin/all.js ;;
  test) shift; exec node dist/testing/run-tests.js "$@" ;;
  bench) exec node "dist/bench/${2:?which benchmark}.js" ;;
  *) echo "usage: scripts/onair.sh start|test|bench <name>" >&2; exit 2 ;;
esac
