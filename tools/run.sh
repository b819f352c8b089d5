#!/usr/bin/env bash
# `make run`: the API and the web frontend together on loopback, with the embedded SQLite database in var/.
# One origin for the browser: the frontend on WEB_PORT proxies /api/* to the API on API_PORT (PAP_API_ORIGIN).
# The first run makes the development admin with a random password in var/admin-password. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
WEB_PORT=${WEB_PORT:-3000}
API_PORT=${API_PORT:-8000}
ADMIN_EMAIL=${ADMIN_EMAIL:-admin@example.com}

web_root=$(tools/build-web.sh --print-root)   # builds only when app/web changed; prints the server's folder
mkdir -p var
if [ ! -s var/admin-password ]; then
  (umask 077 && .venv/bin/python -c 'import secrets; print("Pap-" + secrets.token_urlsafe(18))' > var/admin-password)
fi

trap 'trap - EXIT INT TERM; kill 0 2>/dev/null; wait' EXIT INT TERM
PAP_ENVIRONMENT=development \
PAP_BOOTSTRAP_ADMIN_EMAIL="$ADMIN_EMAIL" \
PAP_BOOTSTRAP_ADMIN_PASSWORD_FILE=var/admin-password \
  .venv/bin/python -m app.cli serve --host 127.0.0.1 --port "$API_PORT" &
PORT=$WEB_PORT HOSTNAME=127.0.0.1 NODE_ENV=production NEXT_TELEMETRY_DISABLED=1 \
PAP_API_ORIGIN="http://127.0.0.1:$API_PORT" \
  node "$web_root/server.js" &
echo "make run: open http://127.0.0.1:$WEB_PORT and sign in as $ADMIN_EMAIL with the password in var/admin-password"
echo "make run: the API alone is on http://127.0.0.1:$API_PORT (docs at /docs)"
wait -n
