#!/bin/sh
# intentctl signs exactly as `openssl dgst -sha256 -hmac` does, reads the key from each of its
# sources, and rejects bad command lines with exit 2 and unreachable servers with exit 3 — all
# offline. Usage: test_intentctl_sign.sh [path/to/intentctl]   (or INTENTCTL=path)
set -u
CTL=${1:-${INTENTCTL:-intentctl}}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { printf 'ok   %s\n' "$1"; }
bad() { printf 'FAIL %s\n' "$1"; fails=$((fails + 1)); }

# expected KEY T FILE: the header value computed by openssl
expected() {
    mac=$( { printf '%s.' "$2"; cat "$3"; } | openssl dgst -sha256 -hmac "$1" | sed 's/^.*= //')
    printf 't=%s,v1=%s' "$2" "$mac"
}

check_sign() { # name key t file
    got=$("$CTL" sign --key "$2" --t "$3" "$4" 2>"$T/err")
    want=$(expected "$2" "$3" "$4")
    if [ "$got" = "$want" ]; then ok "sign: $1"; else bad "sign: $1: got '$got' want '$want'"; fi
}

printf '{"schema":"action_intent.v1","tenant_id":"acme"}' >"$T/plain.json"
printf '{"a":"caf\303\251 \342\202\254"}\n\n' >"$T/utf8.json"
: >"$T/empty.json"
head -c 200000 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/big.json"
printf '{"intents":[{"x":1},{"x":2}]}\r\n' >"$T/batch.json"

check_sign "plain body" secret 1700000000 "$T/plain.json"
check_sign "UTF-8 and trailing newlines kept" ak_k3y-with_chars 1795341600 "$T/utf8.json"
check_sign "empty body" k 0 "$T/empty.json"
check_sign "200 kB body" "key with spaces" 1234567890 "$T/big.json"
check_sign "CRLF body" secret 1700000001 "$T/batch.json"

# The --key warning, and its absence for the other sources.
"$CTL" sign --key secret --t 1 "$T/plain.json" >/dev/null 2>"$T/err"
grep -q 'visible to other users' "$T/err" && ok "--key warns" || bad "--key warns"

want=$(expected secret 1700000000 "$T/plain.json")
printf 'secret\n' >"$T/key"
got=$("$CTL" sign --key-file "$T/key" --t 1700000000 "$T/plain.json" 2>"$T/err")
[ "$got" = "$want" ] && [ ! -s "$T/err" ] && ok "--key-file, newline dropped, no warning" ||
    bad "--key-file: got '$got'"
printf 'secret\r\n' >"$T/key.crlf"
got=$("$CTL" sign --key-file "$T/key.crlf" --t 1700000000 "$T/plain.json" 2>/dev/null)
[ "$got" = "$want" ] && ok "--key-file, CRLF dropped" || bad "--key-file CRLF: got '$got'"
got=$(INTENTCTL_APPROVAL_KEY=secret "$CTL" sign --t 1700000000 "$T/plain.json" 2>"$T/err")
[ "$got" = "$want" ] && [ ! -s "$T/err" ] && ok "INTENTCTL_APPROVAL_KEY" || bad "env key: got '$got'"
got=$("$CTL" sign --key-file "$T/key" --t=1700000000 - <"$T/plain.json" 2>/dev/null)
[ "$got" = "$want" ] && ok "stdin as '-', --opt=value" || bad "stdin: got '$got'"
now=$(date +%s)
got=$("$CTL" sign --key-file "$T/key" "$T/plain.json" 2>/dev/null)
t=${got#t=}
t=${t%%,*}
[ $((t - now)) -ge 0 ] && [ $((t - now)) -le 5 ] && ok "t defaults to now" || bad "t=$t now=$now"

# expect_exit CODE NAME CMD...: the command exits CODE.
expect_exit() {
    code=$1
    name=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err" </dev/null
    rc=$?
    if [ "$rc" -eq "$code" ]; then ok "exit $code: $name"; else
        bad "exit $code: $name (got $rc: $(head -c 300 "$T/err"))"
    fi
}

expect_exit 0 "--help" "$CTL" --help
grep -Eq '^  4 +ledger verify found tampering' "$T/out" && grep -Eq '^  5 +watch ID: the intent FAILED' "$T/out" ||
    bad "--help lists the exit codes"
expect_exit 0 "COMMAND --help" "$CTL" submit --help
grep -q 'INTENTCTL_APPROVAL_KEY' "$T/out" || bad "submit --help names INTENTCTL_APPROVAL_KEY"
expect_exit 0 "help COMMAND" "$CTL" help list
expect_exit 2 "no command" "$CTL"
expect_exit 2 "unknown command" "$CTL" frobnicate
expect_exit 2 "unknown option" "$CTL" status ai_1 --frob
expect_exit 2 "option of another command" "$CTL" status ai_1 --reason x
expect_exit 2 "missing option value" "$CTL" status ai_1 --tenant
expect_exit 2 "status without ID" "$CTL" status
expect_exit 2 "cancel without --reason" "$CTL" cancel ai_1
expect_exit 2 "list with an argument" "$CTL" list ai_1
expect_exit 2 "token create without --role" "$CTL" token create acme
expect_exit 2 "flag with a value" "$CTL" --json=yes health
expect_exit 2 "bad URL scheme" "$CTL" --url ftp://x health
expect_exit 2 "bad --timeout" "$CTL" --timeout 0 health
expect_exit 2 "submit without a key" env -u INTENTCTL_APPROVAL_KEY "$CTL" submit "$T/plain.json"
expect_exit 2 "--key and --key-file" "$CTL" submit "$T/plain.json" --key a --key-file "$T/key"
expect_exit 2 "missing file" "$CTL" submit "$T/nope.json" --key-file "$T/key"
expect_exit 2 "bad --t" "$CTL" sign --key-file "$T/key" --t 12x "$T/plain.json"
expect_exit 2 "token with a newline" "$CTL" --token "$(printf 'a\nb')" health

# Nothing listens on port 1: exit 3, naming the request id; the token never appears.
expect_exit 3 "connection refused" "$CTL" --url http://127.0.0.1:1 --token sEcReTtOkEn status ai_1
grep -q 'request ictl-[0-9a-f]\{24\}' "$T/err" && ok "error names the request id" ||
    bad "request id in: $(cat "$T/err")"
grep -q sEcReTtOkEn "$T/out" "$T/err" && bad "token printed" || ok "token not printed"
expect_exit 3 "INTENTCTL_URL used" env INTENTCTL_URL=http://127.0.0.1:1/ "$CTL" health
grep -q '127.0.0.1:1' "$T/err" || bad "INTENTCTL_URL not used: $(cat "$T/err")"

if [ "$fails" -ne 0 ]; then
    echo "$fails failed"
    exit 1
fi
echo "all passed"
