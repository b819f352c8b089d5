#!/usr/bin/env bash
# Installs the Debian packages the tests and tools need, only those missing (idempotent, quiet when all present).
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v nginx >/dev/null || need+=(nginx-light)
[ -x /usr/lib/postgresql/15/bin/pg_ctl ] || need+=(postgresql-15)
command -v setpriv >/dev/null || need+=(util-linux)
# The browser tests (tests/web) drive Debian's Chromium: no test tool may download a browser of its own here.
command -v chromium >/dev/null || need+=(chromium)
[ -d /usr/share/fonts/truetype/dejavu ] || need+=(fonts-dejavu-core)  # installed without recommends: no font
if [ "${1:-}" = "--docker" ]; then
  command -v dockerd >/dev/null || need+=(docker.io)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v ip >/dev/null || need+=(iproute2)
fi
if [ "${1:-}" = "--web" ]; then
  # The frontend builds on the host (tools/build-web.sh); Debian's Node.js 18.19 is new enough for Next.js 15.5.
  command -v node >/dev/null || need+=(nodejs)
  command -v npm >/dev/null || need+=(npm)
fi
if [ "${1:-}" = "--bench" ]; then
  command -v wrk >/dev/null || need+=(wrk)
  command -v pgbackrest >/dev/null || need+=(pgbackrest)  # tests/bench/backup.py
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${need[*]} (run: sudo apt-get install -y ${need[*]})" >&2
    exit 1
  fi
  echo "installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
