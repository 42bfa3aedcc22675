#!/usr/bin/env bash
# Static checks of deploy/: the systemd units verify cleanly and are hardened
# to an exposure of 1.2 or lower, every shell script passes shellcheck, and
# cloud-init.yaml is valid cloud-config (cloud-init's own JSON schema) that
# sets up Redis as the units expect. Run from anywhere; exits non-zero and
# names every check that failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
target_dir=${CARGO_TARGET_DIR:-$root/target}
cache="$target_dir/deploy-cache"
max_exposure=1.2

failures=()
pass() { printf 'ok   %s\n' "$*"; }
fail() {
    printf 'FAIL %s\n' "$*"
    failures+=("$1")
}
need() {
    command -v "$1" >/dev/null || {
        echo "static.sh: '$1' is missing: $2" >&2
        exit 1
    }
}

need systemd-analyze "apt-get install systemd"
need shellcheck "apt-get install shellcheck"
need apt-get "run on Debian"
python=${KAKAOBOT_TEST_PYTHON:-python3}
if ! "$python" -c 'import yaml, jsonschema' 2>/dev/null; then
    echo "static.sh: $python lacks PyYAML or jsonschema: run tests/run.sh (it builds the venv), or pip install PyYAML jsonschema and set KAKAOBOT_TEST_PYTHON" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- systemd-analyze verify ------------------------------------------------------
# verify exits 0 on unknown keys and bad values, so its output must be empty.
# It resolves the units' dependencies and ExecStart= inside --root, so the root
# gets the system's unit files, redis-server.service and an executable kakaobot.
vroot="$work/root"
mkdir -p "$vroot/usr/lib/systemd" "$vroot/etc/systemd/system" "$vroot/usr/local/bin"
cp -a /usr/lib/systemd/system "$vroot/usr/lib/systemd/"
if [[ ! -e $vroot/usr/lib/systemd/system/redis-server.service ]]; then
    # Without Debian's redis-server package: a stand-in, only to be found.
    printf '[Unit]\nDescription=Redis stand-in\n[Service]\nExecStart=/bin/true\n' \
        >"$vroot/usr/lib/systemd/system/redis-server.service"
fi
printf '#!/bin/sh\nexit 0\n' >"$vroot/usr/local/bin/kakaobot"
chmod 0755 "$vroot/usr/local/bin/kakaobot"
# ExecReload= runs /bin/kill (procps on Debian and Ubuntu): a stand-in, only to be found.
mkdir -p "$vroot/bin"
cp "$vroot/usr/local/bin/kakaobot" "$vroot/bin/kill"
cp deploy/kakaobot.service deploy/kakaobot.socket deploy/kakaobot-https.socket "$vroot/etc/systemd/system/"
verify_rc=0
verify_out=$(systemd-analyze verify --root="$vroot" kakaobot.socket kakaobot-https.socket kakaobot.service 2>&1) || verify_rc=$?
if [[ $verify_rc -eq 0 && -z $verify_out ]]; then
    pass "systemd-analyze verify kakaobot.socket kakaobot-https.socket kakaobot.service: no output"
else
    fail "systemd-analyze verify" "(exit $verify_rc):"
    printf '     %s\n' "$verify_out"
fi

# --- systemd-analyze security -------------------------------------------------------
security_out=$(systemd-analyze security --offline=yes deploy/kakaobot.service 2>&1) || true
exposure=$(sed -n 's/.*Overall exposure level for kakaobot.service: \([0-9.]*\).*/\1/p' <<<"$security_out")
if [[ -z $exposure ]]; then
    fail "systemd-analyze security" "printed no exposure level:"
    printf '     %s\n' "$security_out"
elif awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }'; then
    pass "systemd-analyze security --offline=yes deploy/kakaobot.service: exposure $exposure (at most $max_exposure)"
else
    fail "systemd-analyze security" "exposure $exposure is above $max_exposure; the settings that cost most:"
    grep '✗' <<<"$security_out" | awk '{ print $NF "\t" $0 }' | sort -rn | head -n 10 | cut -f2- | sed 's/^/     /'
fi

# --- the units say what the issue asks ------------------------------------------------
unit_has() {
    local file=$1 line=$2
    if grep -qxF "$line" "$file"; then
        pass "$file has $line"
    else
        fail "$file lacks $line"
    fi
}
unit_has deploy/kakaobot.service "EnvironmentFile=/etc/kakaobot/kakaobot.env"
unit_has deploy/kakaobot.service "Restart=on-failure"
unit_has deploy/kakaobot.service "DynamicUser=yes"
unit_has deploy/kakaobot.service "StateDirectory=kakaobot"
unit_has deploy/kakaobot.service "ExecStart=/usr/local/bin/kakaobot serve"
unit_has deploy/kakaobot.socket "ListenStream=80"
unit_has deploy/kakaobot.socket "ListenStream=5000"
unit_has deploy/kakaobot.socket "FileDescriptorName=http"
unit_has deploy/kakaobot-https.socket "ListenStream=443"
unit_has deploy/kakaobot-https.socket "FileDescriptorName=https"
unit_has deploy/kakaobot.service "Sockets=kakaobot.socket kakaobot-https.socket"
for key in Wants After; do
    if grep -Eq "^$key=.*redis-server\.service" deploy/kakaobot.service; then
        pass "kakaobot.service has redis-server.service in $key="
    else
        fail "kakaobot.service lacks redis-server.service in $key="
    fi
done

# --- shellcheck ---------------------------------------------------------------------
scripts=(deploy/*.sh tests/deploy/*.sh tests/deploy/lib/*.sh)
if shellcheck_out=$(shellcheck -x "${scripts[@]}" 2>&1); then
    pass "shellcheck ${scripts[*]}"
else
    fail "shellcheck" "found problems:"
    printf '%s\n' "$shellcheck_out" | sed 's/^/     /'
fi

# --- deploy.sh's command line ------------------------------------------------------------
if help=$(bash deploy/deploy.sh --help) && grep -q '^Usage: deploy/deploy.sh HOST' <<<"$help"; then
    pass "deploy.sh --help prints the usage"
else
    fail "deploy.sh --help"
fi
usage_rc=0
bash deploy/deploy.sh >/dev/null 2>&1 || usage_rc=$?
if [[ $usage_rc -eq 2 ]]; then
    pass "deploy.sh without HOST exits 2"
else
    fail "deploy.sh without HOST exits $usage_rc, not 2"
fi

# --- cloud-init.yaml ---------------------------------------------------------------------
# The schema is cloud-init's own, taken from Debian's cloud-init package
# (downloaded once, not installed).
schema="$cache/cloud-init-schema-v1.json"
if [[ ! -s $schema ]]; then
    mkdir -p "$cache"
    echo "fetching cloud-init's schema: apt-get download cloud-init"
    if ! (cd "$work" && apt-get download cloud-init >"$work/download.log" 2>&1); then
        # A machine whose package lists were never fetched knows no cloud-init yet.
        echo "apt-get download failed; running apt-get update once and retrying"
        if [[ $(id -u) -eq 0 ]]; then apt-get update -qq >>"$work/download.log" 2>&1 || true; fi
        if ! (cd "$work" && apt-get download cloud-init >>"$work/download.log" 2>&1); then
            cat "$work/download.log" >&2
            echo "static.sh: apt-get download cloud-init failed (as root: apt-get update, then rerun)" >&2
            exit 1
        fi
    fi
    dpkg-deb -x "$work"/cloud-init_*.deb "$work/cloud-init"
    cp "$work/cloud-init/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json" "$schema"
fi
if cloud_out=$("$python" tests/deploy/lib/check_cloud_init.py deploy/cloud-init.yaml "$schema" "$work/host-setup.sh" 2>&1); then
    pass "deploy/cloud-init.yaml: $cloud_out"
else
    fail "deploy/cloud-init.yaml" "is not what it should be:"
    printf '%s\n' "$cloud_out" | sed 's/^/     /'
fi
if [[ -s $work/host-setup.sh ]] && shellcheck -s sh "$work/host-setup.sh" >"$work/sc.log" 2>&1; then
    pass "shellcheck of cloud-init's kakaobot-host-setup script"
else
    fail "shellcheck of cloud-init's kakaobot-host-setup script"
    sed 's/^/     /' "$work/sc.log" 2>/dev/null || true
fi

echo
if ((${#failures[@]})); then
    printf 'static.sh: %d check(s) failed:\n' "${#failures[@]}"
    printf '  - %s\n' "${failures[@]}"
    exit 1
fi
echo "static.sh: all checks passed"
