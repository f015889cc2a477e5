#!/usr/bin/env bash
# Builds intentd and runs it on its embedded PostgreSQL (under ./.intentd), listening on
# 127.0.0.1:8080. Prints an admin token to use with intentctl. Ctrl-C stops it gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
  bash deploy/install-deps.sh
else
  bash deploy/install-deps.sh || sudo bash deploy/install-deps.sh
fi
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null

export INTENTD_HOME="${INTENTD_HOME:-$PWD/.intentd}"
mkdir -p "$INTENTD_HOME"
chmod 700 "$INTENTD_HOME"
if [ -z "${INTENTD_ADMIN_TOKEN:-}" ]; then
  tokfile="$INTENTD_HOME/admin.token"
  if [ ! -s "$tokfile" ]; then
    (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$tokfile")
  fi
  INTENTD_ADMIN_TOKEN="$(cat "$tokfile")"
  export INTENTD_ADMIN_TOKEN
fi
echo "intentd: admin token in $INTENTD_HOME/admin.token"
echo "intentd: try  INTENTCTL_TOKEN=\$(cat $INTENTD_HOME/admin.token) build/tools/intentctl tenant create acme"
exec build/engine/intentd
