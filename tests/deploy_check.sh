#!/usr/bin/env bash
# Syntax checks of deploy/ with Debian's tools (what cannot run here, containers and
# Kubernetes, is at least parsed): `systemd-analyze verify` on the unit, yamllint on the compose
# file and the manifests. Prints "ok NAME" or "FAIL NAME" per check; exits non-zero on a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # name command...
  local name=$1
  shift
  if "$@" >"$tmp/out" 2>&1; then
    echo "ok $name"
  else
    echo "FAIL $name"
    sed 's/^/    /' "$tmp/out"
    fails=$((fails + 1))
  fi
}

# The unit names the installed paths, which need not exist on a CI machine: verify a copy
# whose ExecStart is an executable that does exist and whose EnvironmentFile may be absent.
# Everything else (sandboxing directives, sections, typos) is checked as written.
unit=deploy/systemd/intentd.service
exe=$PWD/build-tests/engine/intentd
[ -x "$exe" ] || exe=/bin/true
sed -e "s#^ExecStart=[^ ]*#ExecStart=$exe#" -e 's#^EnvironmentFile=\([^-]\)#EnvironmentFile=-\1#' \
  "$unit" >"$tmp/intentd.service"
check "systemd-analyze verify $unit" env SYSTEMD_LOG_LEVEL=notice \
  sh -c 'out=$(systemd-analyze verify "$1" 2>&1); rc=$?; [ -z "$out" ] || printf "%s\n" "$out";
         [ "$rc" -eq 0 ] && ! printf "%s" "$out" | grep -q .' sh "$tmp/intentd.service"
check "unit has the hardening directives" sh -c 'for d in DynamicUser=yes ProtectSystem=strict \
  ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes StateDirectory=intentd \
  EnvironmentFile=/etc/intentd/intentd.env Restart=on-failure KillSignal=SIGTERM; do
  grep -qx "$d" "$1" || { echo "missing $d"; exit 1; }; done' sh "$unit"

for f in deploy/compose.yaml deploy/k8s/*.yaml deploy/yamllint.yaml; do
  check "yamllint $f" yamllint -s -c deploy/yamllint.yaml "$f"
done

[ "$fails" -eq 0 ]
