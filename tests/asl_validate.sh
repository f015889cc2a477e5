#!/bin/sh
# Validates every statemachines/*.asl.json with the standard ASL validator (npm asl-validator)
# after stripping intentd's one extension, the Task field "Compensate". Prints one line per file
# and exits nonzero if any file fails. The validator is installed on first use under
# tests/.tmp/aslv (override with ASL_VALIDATOR=/path/to/asl-validator).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
dir=${1:-$root/statemachines}
version=4.0.0

validator=${ASL_VALIDATOR:-$here/.tmp/aslv/node_modules/.bin/asl-validator}
if [ ! -x "$validator" ]; then
    command -v npm >/dev/null 2>&1 || { echo "asl_validate: npm is needed" >&2; exit 2; }
    mkdir -p "$here/.tmp/aslv"
    npm install --silent --no-audit --no-fund --prefix "$here/.tmp/aslv" \
        "asl-validator@$version" >&2
fi
command -v jq >/dev/null 2>&1 || { echo "asl_validate: jq is needed" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

status=0
count=0
for f in "$dir"/*.asl.json; do
    [ -e "$f" ] || continue
    count=$((count + 1))
    name=$(basename "$f")
    if ! jq 'walk(if type == "object" and .Type == "Task" then del(.Compensate) else . end)' \
        "$f" >"$work/$name" 2>"$work/jq.err"; then
        echo "FAIL $name: not JSON: $(cat "$work/jq.err")"
        status=1
        continue
    fi
    if out=$("$validator" --json-path "$work/$name" 2>&1); then
        echo "ok   $name"
    else
        echo "FAIL $name"
        printf '%s\n' "$out" | sed 's/^/     /'
        status=1
    fi
done
if [ "$count" -eq 0 ]; then
    echo "asl_validate: no *.asl.json in $dir" >&2
    exit 1
fi
exit $status
