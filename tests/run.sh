#!/usr/bin/env bash
# Runs every check and test of kakaobot on a fresh machine: installs what is
# missing (Debian packages, a Python venv), then formatting, lints, the Rust
# test suites (real redis-server, real moto EC2 emulator), the OpenAPI spec
# validation and the deploy tests under real systemd. Each step's outcome is
# counted; the last line is "run.sh: N passed, N failed".
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
target_dir=${CARGO_TARGET_DIR:-$root/target}
venv="$target_dir/test-venv"

say() { printf '\n==> %s\n' "$*"; }

# --- prerequisites ---------------------------------------------------------
# Debian packages the tests use: the real Redis server and redis-cli (which forms
# the test Redis Cluster), openssl (the TLS test's certificates), shellcheck for
# the deploy scripts, debootstrap + systemd-nspawn for the systemd end-to-end test,
# pebble (Let's Encrypt's ACME test server) for the HTTPS tests, prometheus (and
# its promtool) for the alert rules' unit tests and the monitoring integration
# test, which runs a real Prometheus server.
apt_packages=(redis-server redis-tools openssl shellcheck debootstrap systemd-container iproute2 openssh-client curl xz-utils pebble prometheus)
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    if [[ $(id -u) -ne 0 ]]; then
        echo "run.sh: need root to apt-get install ${missing[*]} (or install them yourself)" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian packages start a system-wide redis on 6379 and prometheus on 9090;
# the tests start their own servers on free ports and never use them.

# Python tools: an independent OpenAPI validator, the schemathesis API fuzzer,
# the moto EC2 emulator and a YAML parser for the cloud-init file. Pinned, in a
# venv under target/.
py_requirements=(
    "openapi-spec-validator==0.9.0"
    "schemathesis==4.32.5"
    "moto[ec2,server]==5.2.5"
    "flask"
    "flask-cors"
    "PyYAML"
)
stamp="$venv/.requirements"
if [[ ! -x "$venv/bin/python" ]] || [[ "$(cat "$stamp" 2>/dev/null)" != "${py_requirements[*]}" ]]; then
    say "creating the Python venv for test tools in $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${py_requirements[@]}"
    echo "${py_requirements[*]}" >"$stamp"
fi
export KAKAOBOT_TEST_REDIS_SERVER=${KAKAOBOT_TEST_REDIS_SERVER:-$(command -v redis-server)}
export KAKAOBOT_TEST_MOTO_SERVER=${KAKAOBOT_TEST_MOTO_SERVER:-$venv/bin/moto_server}
export KAKAOBOT_TEST_PYTHON=$venv/bin/python
export KAKAOBOT_TEST_PROMETHEUS=${KAKAOBOT_TEST_PROMETHEUS:-$(command -v prometheus)}

# --- steps -----------------------------------------------------------------
passed=0
failed=0
failed_steps=()
step() {
    local name=$1
    shift
    say "$name"
    local start=$SECONDS
    if "$@"; then
        passed=$((passed + 1))
        echo "--- $name: ok ($((SECONDS - start)) s)"
    else
        failed=$((failed + 1))
        failed_steps+=("$name")
        echo "--- $name: FAILED ($((SECONDS - start)) s)"
    fi
}

step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
# Doc comments that link to nothing (or to what the reader of the public docs cannot see).
step "cargo doc" env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
step "cargo test" cargo test --workspace --locked
step "Prometheus config and rules check (promtool)" promtool check config deploy/prometheus/prometheus.yml
step "Prometheus alert rules unit tests (promtool)" promtool test rules deploy/prometheus/kakaobot.rules.test.yml
step "OpenAPI spec validates" "$venv/bin/openapi-spec-validator" openapi/kakaobot.json
step "API fuzzing (schemathesis)" bash tests/api/fuzz.sh
for script in tests/deploy/*.sh; do
    [[ -e $script ]] || continue
    step "deploy: $(basename "$script" .sh)" bash "$script"
done

echo
if ((failed)); then
    printf 'failed steps:\n'
    printf '  - %s\n' "${failed_steps[@]}"
fi
echo "run.sh: $passed passed, $failed failed"
((failed == 0))
