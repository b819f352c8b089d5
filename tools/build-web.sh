#!/usr/bin/env bash
# Builds the web frontend (app/web) on the host and assembles what app/web/Dockerfile copies: app/web/.image/
# (the standalone server with its traced node_modules, .next/static and public/). The npm registry is
# reachable from the host only, so no image build runs npm (ARCHITECTURE.md, "Image contracts").
#
# Incremental, like tools/wheelhouse.sh: `npm ci` only when package-lock.json changed since the last install,
# `next build` only when the sources changed since the last build (a digest stamp), the assembly only when
# the build changed. The build id is derived from that digest (PAP_WEB_BUILD_ID, which next.config.mjs
# returns from generateBuildId), so the same sources give the same build id.
#
# --print-root: print the assembled server's directory (absolute) on stdout when done (tools/run.sh runs
# the server from there); everything else goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/../app/web"
# One build at a time (make test, make e2e and make run may start together): the others wait, then find it
# up to date.
exec 9>.build.lock
flock 9
print_root=false
case "${1:-}" in
  --print-root) print_root=true ;;
  "") ;;
  *) echo "usage: tools/build-web.sh [--print-root]" >&2; exit 2 ;;
esac

log() { echo "build-web: $*" >&2; }
digest_of() { sha256sum | cut -d' ' -f1; }
started=$(date +%s)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "node and npm are needed on the host (tools/ensure-packages.sh --web installs Debian's)"
  exit 1
fi
# Next.js 15.5 needs Node.js >= 18.18 (the image's Debian nodejs is 18.19).
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 18 || (a === 18 && b >= 18) ? 0 : 1)'; then
  log "Node.js $(node --version) is too old: Next.js 15.5 needs >= 18.18"
  exit 1
fi

# 1. Dependencies: exactly the lock file's, installed again only when it changed.
lock_digest=$(digest_of < package-lock.json)
lock_stamp=node_modules/.pap-lock.sha256
if [ "$(cat "$lock_stamp" 2>/dev/null)" != "$lock_digest" ]; then
  log "npm ci (package-lock.json changed, or node_modules was not installed by this script)"
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$lock_digest" > "$lock_stamp"
fi

# 2. The build: everything `next build` reads, by path and content (a rename counts). next-env.d.ts is
# written by the build itself, so it is no input.
sources() {
  find src public -type f 2>/dev/null || true
  ls -1 package.json package-lock.json tsconfig.json next.config.* .env .env.production 2>/dev/null || true
}
source_digest=$(sources | LC_ALL=C sort | tr '\n' '\0' | xargs -0 sha256sum | digest_of)
build_id=${source_digest:0:20}
build_stamp=.next/.pap-source.sha256
if [ "$(cat "$build_stamp" 2>/dev/null)" != "$source_digest" ] || [ ! -f .next/standalone/server.js ]; then
  log "next build (build id $build_id)"
  rm -f "$build_stamp"
  PAP_WEB_BUILD_ID=$build_id NEXT_TELEMETRY_DISABLED=1 npx --no-install next build >&2
  if [ "$(cat .next/BUILD_ID)" != "$build_id" ]; then
    log "the build id is $(cat .next/BUILD_ID), not $build_id: next.config must return" \
      "process.env.PAP_WEB_BUILD_ID from generateBuildId"
    exit 1
  fi
  echo "$source_digest" > "$build_stamp"
else
  log "build up to date (build id $build_id)"
fi

# 3. The image context, assembled beside .image and swapped in whole: an interrupted run never leaves a
# context that looks complete.
assemble() {
  work=$(mktemp -d .image.tmp.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  cp -a .next/standalone/. "$work/"
  # next build copies neither the client assets nor public/ into the standalone output.
  rm -rf "$work/.next/static" "$work/public"
  cp -a .next/static "$work/.next/static"
  if [ -d public ]; then cp -a public "$work/public"; fi
  # sharp (libvips, native code) serves only Next's image optimizer, /_next/image: the app's images are
  # unoptimized and the proxy refuses that path, so the image does not carry it.
  rm -rf "$work/node_modules/sharp" "$work/node_modules/@img"
  echo "$source_digest" > "$work/.stamp"
  rm -rf .image
  mv "$work" .image
  trap - EXIT
  log "image context assembled in app/web/.image ($(du -sh .image | cut -f1), $(( $(date +%s) - started )) s)"
}
if [ "$(cat .image/.stamp 2>/dev/null)" = "$source_digest" ] && [ -f .image/server.js ]; then
  log "image context up to date (app/web/.image)"
else
  assemble
fi
if $print_root; then echo "$PWD/.image"; fi
