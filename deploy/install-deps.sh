#!/usr/bin/env bash
# Installs what intentd needs to build, run and test, from Debian's packages only.
# Run as root (or through sudo) on Debian 12 or newer.
set -euo pipefail

pkgs=(
  # build
  build-essential meson ninja-build pkg-config clang-format
  libuv1-dev libpq-dev libcurl4-openssl-dev libssl-dev libjansson-dev libhttp-parser-dev
  libjemalloc-dev
  libcmocka-dev
  # the embedded default and the test clusters
  postgresql postgresql-contrib
  # the integration suite through a transaction pooler (tests/run, asan-integration-pgbouncer)
  pgbouncer
  # tests
  python3 python3-pytest python3-psycopg2 python3-yaml python3-jsonschema jq valgrind curl procps
  # the web console's JavaScript tests (node --test; tests/run, suite console)
  nodejs
  # syntax checks of deploy/ (tests/run, suite deploy)
  systemd yamllint
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The ASL validator test uses npm; a machine with Node.js from elsewhere already has it.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run this script as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: installed ${missing[*]}"
