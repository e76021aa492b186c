#!/usr/bin/env bash
# JS<->JS self-test of interop/js/node.js (no Rust involved). Needs `npm ci` first.
# Exits non-zero on the first failed check; cleans up its servers on exit.
set -euo pipefail
cd "$(dirname "$0")"
CLI=js/node.js
T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- server logs:" >&2; tail -n 20 "$T"/*.out "$T"/*.err >&2 || true; exit 1; }

jfirst() { # jfirst FILE EVENT EXPR -> prints EXPR of the first line with that event
  node -e '
    const [f, ev, expr] = process.argv.slice(1)
    const lines = require("fs").readFileSync(f, "utf8").split("\n").filter(Boolean).map(JSON.parse)
    const j = lines.find((l) => l.event === ev)
    if (!j) process.exit(1)
    console.log(new Function("j", "return " + expr)(j))' "$1" "$2" "$3"
}

# start NAME ARGS...: start a server, wait (max 10 s) for its "listening" line.
start() {
  local name=$1; shift
  node "$CLI" serve --ignore-stdin "$@" >"$T/$name.out" 2>"$T/$name.err" &
  PIDS+=($!)
  for _ in $(seq 100); do
    grep -q '"listening"' "$T/$name.out" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "server $name did not start"
}
addr() { jfirst "$T/$1.out" listening "j.addresses['$2']"; }
# client ARGS...: run a client (20 s limit), output in $T/client.out, returns its exit code.
client() { timeout 20 node "$CLI" connect "$@" >"$T/client.out" 2>"$T/client.err"; }
result() { jfirst "$T/client.out" result "$1"; }

SEED_S=$(printf '11%.0s' $(seq 32))
SEED_C=$(printf '22%.0s' $(seq 32))
MB16=16777216
SHA16=74a1ac253157236b5c71afe3cf66ad89a82aece33040d0217ae988bf62ba8443 # xorshift32 seed 1, 16 MiB

start echo --echo --seed "$SEED_S" --stack net~shs@127.0.0.1:0 --stack net~noauth --stack ws~shs --stack unix~noauth
for st in net~shs net~noauth unix~noauth ws~shs; do
  a=$(addr echo "$st")
  # JS to JS over ws~shs, the reference itself sometimes ends the client's box-stream with
  # "unexpected hangup" after every byte came back (its close race, seen under load; never
  # with a Rust peer, whose tests stay strict): tolerated here, where the harness is tested.
  lenient=()
  [ "$st" = ws~shs ] && lenient=(--lenient-close)
  client "$a" --seed "$SEED_C" --bytes $MB16 "${lenient[@]}" || fail "$st: client exit $? $(cat "$T/client.out" "$T/client.err")"
  [ "$(result j.sha256)" = $SHA16 ] || fail "$st: wrong sha256"
  [ "$(result j.received)" = $MB16 ] || fail "$st: not every byte came back"
  note=$(result 'j.closeError ? " (reference close race: " + j.closeError + ")" : ""')
  echo "ok  $st echo 16 MiB ($a)$note"
done
# one-way (client sends, expects nothing back), with several chunk sizes
a=$(addr echo net~shs)
client "$a" --bytes 100000 --chunk 4097 --data-seed 12345 || fail "chunk 4097: $(cat "$T/client.out")"
echo "ok  net~shs chunk 4097, data seed 12345"

start deny --deny-all --echo --seed "$SEED_S" --stack net~shs
a=$(addr deny net~shs)
if client "$a" --bytes 10; then fail "denied client succeeded"; fi
result 'j.ok === false && /phase 3/.test(j.error)' | grep -q true || fail "deny: unexpected client result $(cat "$T/client.out")"
sleep 0.3
jfirst "$T/deny.out" error 'j.message' | grep -q 'did not authorize' || fail "deny: no server error event"
echo "ok  --deny-all rejected (client: phase 3 hang-up; server: not authorized)"

if client "$a" --bytes 10 --app-key "$(printf '%032d' 7 | base64)"; then fail "wrong app key succeeded"; fi
result 'j.ok === false && /phase 1/.test(j.error)' | grep -q true || fail "app key: unexpected client result $(cat "$T/client.out")"
sleep 0.3
grep -q 'invalid challenge' "$T/deny.out" || fail "app key: no server error event"
echo "ok  wrong app key rejected (client: phase 1; server: invalid challenge)"

PK_C=$(node -e "console.log(require('secret-handshake').toKeys(Buffer.from('$SEED_C','hex')).publicKey.toString('base64'))")
start allow --allow "$PK_C" --seed "$SEED_S" --stack net~shs
a=$(addr allow net~shs)
client "$a" --seed "$SEED_C" --bytes 5000 --no-echo || fail "allowed client rejected: $(cat "$T/client.out")"
if client "$a" --bytes 10; then fail "client not in --allow accepted"; fi
sleep 0.3
jfirst "$T/allow.out" closed '[j.bytes, j.error].join()' | grep -qx '5000,' || fail "allow: server closed event wrong"
echo "ok  --allow accepts listed key, rejects others; sink mode counted 5000 bytes"
# shs1-test (language-independent secret-handshake suite) against the JS adapters.
timeout 60 node_modules/.bin/shs1testserver js/shs1/server.js 42 >"$T/shs1.out" 2>/dev/null || fail "shs1testserver: $(tail -5 "$T/shs1.out")"
timeout 60 node_modules/.bin/shs1testclient js/shs1/client.js 42 >"$T/shs1.out" 2>/dev/null || fail "shs1testclient: $(tail -5 "$T/shs1.out")"
echo "ok  shs1-test server and client suites (JS adapters)"

# Browser bridge: JS ws client + shs in headless Chromium against the JS ws server.
# The browser: $CHROMIUM, else $CHROME_BIN (as the Rust tests; .ci/run exports it), else Debian's.
CHROMIUM=${CHROMIUM:-${CHROME_BIN:-/usr/bin/chromium}}
if [ -x "$CHROMIUM" ]; then
  a=$(addr echo ws~shs)
  timeout 60 node browser/run.js "$a" --bytes 1048576 --chromium "$CHROMIUM" >"$T/client.out" 2>"$T/client.err" \
    || fail "browser: $(cat "$T/client.out" "$T/client.err")"
  [ "$(result j.sha256)" = "$(node -e "console.log(require('crypto').createHash('sha256').update(require('./js/data').generate(1048576, 1)).digest('hex'))")" ] || fail "browser: wrong sha256"
  echo "ok  browser (headless Chromium) ws~shs echo 1 MiB"
else
  echo "skip browser test: no chromium at $CHROMIUM"
fi
echo "selftest: all passed"
