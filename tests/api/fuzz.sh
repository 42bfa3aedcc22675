#!/usr/bin/env bash
# Schema fuzzing of the running service: schemathesis (pinned in tests/run.sh's
# venv) generates requests from the service's own /openapi.json, valid and
# invalid, for every operation, and runs all its checks on the answers: no 5xx,
# documented status codes and content types, bodies that match the response
# schemas, schema-invalid requests refused, 405 with Allow, and more. Seeded and
# bounded (examples per operation and total time), so a run is repeatable; any
# failure fails the script, and the report says how to replay it.
#
# The service runs as it does in production: the real binary on a real
# redis-server, both on free loopback ports, both stopped on exit.
#
# Environment: CARGO_TARGET_DIR (default target/), KAKAOBOT_TEST_PYTHON (the
# venv's python with schemathesis), KAKAOBOT_FUZZ_SEED (default 20261122),
# KAKAOBOT_FUZZ_EXAMPLES (per operation, default 50), KAKAOBOT_FUZZ_MAX_TIME
# (seconds, default 180).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
target_dir=${CARGO_TARGET_DIR:-$root/target}
python=${KAKAOBOT_TEST_PYTHON:-python3}
seed=${KAKAOBOT_FUZZ_SEED:-20261122}
examples=${KAKAOBOT_FUZZ_EXAMPLES:-50}
max_time=${KAKAOBOT_FUZZ_MAX_TIME:-180}

fail() {
    printf 'fuzz.sh: FAIL: %s\n' "$*" >&2
    exit 1
}

schemathesis=$(dirname "$python")/schemathesis
[[ -x $schemathesis ]] ||
    fail "no schemathesis next to $python; tests/run.sh installs it in its venv (or: pip install schemathesis==4.32.5 and set KAKAOBOT_TEST_PYTHON)"
redis_server=${KAKAOBOT_TEST_REDIS_SERVER:-$(command -v redis-server || true)}
[[ -x $redis_server ]] || fail "redis-server not found; install it with: apt-get install redis-server"

echo "building the kakaobot binary"
cargo build --quiet -p kakaobot --locked
binary=$target_dir/debug/kakaobot

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() {
    "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

redis_port=$(free_port)
"$redis_server" --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$work" --logfile "$work/redis.log" &
pids+=($!)

app_port=$(free_port)
KAKAOBOT_LISTEN=127.0.0.1:$app_port \
    KAKAOBOT_REDIS_URL=redis://127.0.0.1:$redis_port/0 \
    KAKAOBOT_KEY_PREFIX=fuzz \
    RUST_LOG=warn \
    "$binary" serve >"$work/kakaobot.log" 2>&1 &
pids+=($!)

base=http://127.0.0.1:$app_port
for _ in $(seq 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$base/ready" || true) == 200 ]] && break
    sleep 0.1
done
[[ $(curl -s -o /dev/null -w '%{http_code}' "$base/ready" || true) == 200 ]] ||
    fail "the service did not get ready; its log:\n$(cat "$work/kakaobot.log")"

echo "fuzzing $base/openapi.json: seed $seed, $examples examples per operation, at most $max_time s"
# All checks, none turned off: every one applies to Kakao's routes as documented.
# Run from the scratch directory: schemathesis keeps a cache where it runs.
if ! (cd "$work" && "$schemathesis" run "$base/openapi.json" \
    --checks all \
    --seed "$seed" \
    --max-examples "$examples" \
    --max-time "$max_time" \
    --request-timeout 10 \
    --workers 2 \
    --no-color); then
    echo "--- the service's log (last 40 lines):" >&2
    tail -n 40 "$work/kakaobot.log" >&2
    fail "schemathesis found failures (replay one with: schemathesis run ... --seed $seed)"
fi
# schemathesis checks every answer for a 5xx; the log shows causes it cannot see.
if grep -q 'internal error' "$work/kakaobot.log"; then
    fail "the service logged an internal error during fuzzing:\n$(grep 'internal error' "$work/kakaobot.log" | head -5)"
fi
echo "fuzz.sh: no failures"
