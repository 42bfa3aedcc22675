#!/usr/bin/env bash
# End-to-end test of deploy/ under real systemd, as root: boots a Debian rootfs
# (systemd, sshd, redis-server) with systemd-nspawn inside a network namespace
# this test creates, applies cloud-init.yaml's files and setup command, deploys
# the kakaobot binary with deploy/deploy.sh over real ssh from a second network
# namespace, and checks:
#   - socket and service active, /ready 200, a quiz conversation answered
#     correctly, its state in the container's Redis (AOF on, from cloud-init);
#   - HTTPS by itself: Pebble (a real ACME server) runs outside the container;
#     deploy.sh fills in the container's address as the certificate's name,
#     the service gets its certificate over port 80 (http-01), and a skill
#     conversation runs over https://<container address>/quiz/skill, verified
#     against Pebble's root; a redeploy serves the stored certificate (same
#     serial, no new order);
#   - the service runs unprivileged (not root, NoNewPrivs: 1, read-only /usr);
#   - kill -9 of the main process: systemd restarts it and it answers again;
#   - a redeploy while clients send a steady stream of /message requests:
#     zero failed requests (counted);
#   - a deploy of a binary that fails `kakaobot check`: deploy.sh exits
#     non-zero with its output, and the running service is not touched;
#   - a deploy of a binary that passes the check but cannot serve: deploy.sh
#     rolls back, shows the failed start's journal, exits non-zero, and the
#     previous binary answers.
# Everything it creates (network namespaces, veth, cgroups, the rootfs copy,
# processes) is removed at the end, also on failure or Ctrl-C.
#
# Hosts: where PID 1 is systemd (any cgroup layout; the usual workstation or CI
# runner), systemd places the container in a transient scope; where PID 1 is
# something else, the test makes cgroups of its own in the mounted hierarchies
# (hybrid or unified). See tests/deploy/lib/container.sh; that file's selection
# logic is checked against fixture layouts of both kinds at the start.
#
# Environment: CARGO_TARGET_DIR (default target/): the binary is built there and
# the rootfs tarball is cached in its deploy-cache/. KAKAOBOT_TEST_BINARY: test
# this kakaobot binary instead of building one (e.g. a release build). KAKAOBOT_TEST_PYTHON: a
# Python 3.11+ (default python3). KAKAOBOT_TEST_DEBIAN_MIRROR: the mirror for
# debootstrap (default: this machine's apt configuration).
# KAKAOBOT_E2E_EXTRA_RESTARTS=N: N more `systemctl restart`s under the request
# stream after the redeploy (default 0), to hunt rare races in shutdown.
set -euo pipefail

started=$SECONDS
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
target_dir=${CARGO_TARGET_DIR:-$root/target}
python=${KAKAOBOT_TEST_PYTHON:-python3}
extra_restarts=${KAKAOBOT_E2E_EXTRA_RESTARTS:-0}
[[ $extra_restarts =~ ^[0-9]+$ ]] || { echo "e2e.sh: KAKAOBOT_E2E_EXTRA_RESTARTS must be a number" >&2; exit 2; }
# shellcheck source=tests/deploy/lib/rootfs.sh
source "$root/tests/deploy/lib/rootfs.sh"
# shellcheck source=tests/deploy/lib/container.sh
source "$root/tests/deploy/lib/container.sh"

say() { printf '\n--- %s (%ds)\n' "$*" $((SECONDS - started)); }
fail() {
    printf '\ne2e.sh: FAIL: %s\n' "$*" >&2
    exit 1
}

# --- prerequisites ----------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || fail "must run as root (network namespaces, systemd-nspawn)"
missing=()
for tool in systemd-nspawn:systemd-container debootstrap:debootstrap ip:iproute2 ssh:openssh-client \
    ssh-keygen:openssh-client curl:curl xz:xz-utils pebble:pebble openssl:openssl; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
((${#missing[@]} == 0)) || fail "missing tools; install them with: apt-get install ${missing[*]}"
"$python" -c 'import tomllib, yaml' 2>/dev/null ||
    fail "$python needs Python 3.11+ with PyYAML (tests/run.sh builds such a venv; or set KAKAOBOT_TEST_PYTHON)"
container_selftest || fail "the container placement logic chose wrong on a fixture host (above)"
placement=$(container_placement) ||
    fail "cannot place the container: systemd-nspawn needs systemd as PID 1 or a mounted cgroup hierarchy (reason above)"
if [[ $placement == systemd ]]; then
    command -v systemd-run >/dev/null || fail "PID 1 is systemd but systemd-run is missing; install it with: apt-get install systemd"
fi

# --- names of everything this run creates -------------------------------------------
tag="kbe2e$$"                           # unique per run
ns_box="$tag-box"                       # the container's network namespace
ns_client="$tag-cli"                    # deploy.sh and the Kakao client run here
veth_box="${tag}b"                      # veth ends (names are at most 15 bytes)
veth_client="${tag}c"
# 198.18.0.0/15 is reserved for network benchmark tests (RFC 2544); this /30
# lives only on a veth pair between two namespaces of this test.
ip_client=198.18.0.1
ip_box=198.18.0.2
cgroup="kakaobot-e2e-$$"                 # the manual cgroup, or the transient scope's name
app_url="http://$ip_box:5000"
mkdir -p "$target_dir"
work=$(mktemp -d "$target_dir/deploy-e2e.XXXXXX")
rootfs="$work/rootfs"
nspawn_pid=""
stream_pid=""
pebble_pid=""

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    say "cleaning up"
    [[ -n $stream_pid ]] && kill "$stream_pid" 2>/dev/null && wait "$stream_pid" 2>/dev/null
    [[ -n $pebble_pid ]] && kill "$pebble_pid" 2>/dev/null && wait "$pebble_pid" 2>/dev/null
    if [[ -n $nspawn_pid ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
        # SIGTERM makes nspawn shut the container down cleanly.
        kill -TERM "$nspawn_pid"
        for _ in $(seq 150); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$nspawn_pid" 2>/dev/null && kill -KILL "$nspawn_pid"
        wait "$nspawn_pid" 2>/dev/null
        echo "container stopped ($((SECONDS - started))s)"
    fi
    # Whatever is left in the container's cgroups is killed, then the cgroups go:
    # systemd does both when its scope is stopped; the manual cgroups are ours.
    if [[ $placement == systemd ]]; then
        systemctl stop "$cgroup.scope" 2>/dev/null
        systemctl reset-failed "$cgroup.scope" 2>/dev/null
        systemctl is-active --quiet "$cgroup.scope" && echo "e2e.sh: could not stop the scope $cgroup.scope" >&2
    else
        local h d
        while read -r h; do
            d="$h/$cgroup"
            [[ -d $d ]] || continue
            find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do kill -KILL "$pid" 2>/dev/null; done
            sleep 0.2
            find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
            [[ -d $d ]] && echo "e2e.sh: could not remove the cgroup $d" >&2
        done < <(cgroup_hierarchies)
    fi
    ip netns del "$ns_box" 2>/dev/null
    ip netns del "$ns_client" 2>/dev/null
    # The rootfs tmpfs, and anything else still mounted under $work; never
    # descend into a mount point.
    if findmnt -rn -o TARGET | grep -q "^$work"; then
        findmnt -rn -o TARGET | grep "^$work" | sort -r | xargs -r umount -l
    fi
    rm -rf --one-file-system "$work"
    if ((rc == 0)); then
        echo "e2e.sh: all checks passed in $((SECONDS - started)) s"
    else
        echo "e2e.sh: FAILED (exit $rc) after $((SECONDS - started)) s" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the binary and the rootfs ---------------------------------------------------
if [[ -n ${KAKAOBOT_TEST_BINARY:-} ]]; then
    binary=$KAKAOBOT_TEST_BINARY
    say "testing the given binary $binary"
else
    say "building kakaobot (cargo build -p kakaobot)"
    cargo build --locked -p kakaobot
    binary="$target_dir/debug/kakaobot"
fi
[[ -x $binary ]] || fail "no executable kakaobot at $binary"

say "preparing the Debian rootfs"
tarball=$(rootfs_tarball "$target_dir/deploy-cache") || fail "could not build the rootfs (see above)"
# On a tmpfs of its own: unpacking is faster and removing it is one umount.
mkdir "$rootfs"
mount -t tmpfs -o size=2g,mode=0755 "kakaobot-e2e-rootfs" "$rootfs"
tar -C "$rootfs" --numeric-owner -xzf "$tarball"

# The login deploy.sh uses by default, as on an Ubuntu cloud image: "ubuntu"
# with passwordless sudo and our test key.
ssh-keygen -q -t ed25519 -N "" -C "kakaobot-e2e" -f "$work/id_ed25519"
chroot "$rootfs" useradd --create-home --shell /bin/bash ubuntu
install -d -m 0700 -o "$(chroot "$rootfs" id -u ubuntu)" -g "$(chroot "$rootfs" id -g ubuntu)" "$rootfs/home/ubuntu/.ssh"
install -m 0600 -o "$(chroot "$rootfs" id -u ubuntu)" -g "$(chroot "$rootfs" id -g ubuntu)" \
    "$work/id_ed25519.pub" "$rootfs/home/ubuntu/.ssh/authorized_keys"
echo "ubuntu ALL=(ALL) NOPASSWD:ALL" >"$rootfs/etc/sudoers.d/90-ubuntu"
chmod 0440 "$rootfs/etc/sudoers.d/90-ubuntu"
echo "$tag" >"$rootfs/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 %s\n::1 localhost\n' "$tag" >"$rootfs/etc/hosts"

# cloud-init.yaml's write_files, as cloud-init would write them before the
# packages are installed; its runcmd runs over ssh once the container is up.
"$python" - "$root/deploy/cloud-init.yaml" "$rootfs" <<'EOF'
import os, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for f in doc.get("write_files", []):
    path = sys.argv[2] + f["path"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as out:
        out.write(f["content"])
    os.chmod(path, int(str(f.get("permissions", "0644")), 8))
    print(f"cloud-init write_files: {f['path']}")
with open(sys.argv[2] + "/cloud-init-runcmd.sh", "w") as out:
    for cmd in doc.get("runcmd", []):
        out.write((" ".join(cmd) if isinstance(cmd, list) else cmd) + "\n")
EOF

# --- network: two namespaces joined by a veth pair ---------------------------------------
say "creating network namespaces $ns_box and $ns_client ($ip_client <-> $ip_box)"
ip netns add "$ns_box"
ip netns add "$ns_client"
ip -n "$ns_client" link add "$veth_client" type veth peer name "$veth_box" netns "$ns_box"
ip -n "$ns_client" addr add "$ip_client/30" dev "$veth_client"
ip -n "$ns_box" addr add "$ip_box/30" dev "$veth_box"
for ns in "$ns_client" "$ns_box"; do
    ip -n "$ns" link set lo up
done
ip -n "$ns_client" link set "$veth_client" up
ip -n "$ns_box" link set "$veth_box" up
in_client() { ip netns exec "$ns_client" "$@"; }

# --- the ACME server, outside the container -----------------------------------------
# Pebble listens on the client side of the veth; it validates http-01 on port 80
# of the address it is asked about (the container's). Its own HTTPS certificate
# is signed by a CA of this run, which the service is told to trust.
acme_dir="https://$ip_client:14000/dir"
say "starting Pebble (ACME) at $acme_dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=kakaobot e2e ACME CA" -keyout "$work/acme-ca.key" -out "$work/acme-ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$ip_client" \
    -keyout "$work/pebble.key" -out "$work/pebble.csr" 2>/dev/null
printf 'subjectAltName=IP:%s\n' "$ip_client" >"$work/pebble.ext"
openssl x509 -req -in "$work/pebble.csr" -CA "$work/acme-ca.pem" -CAkey "$work/acme-ca.key" \
    -CAcreateserial -days 2 -extfile "$work/pebble.ext" -out "$work/pebble.pem" 2>/dev/null
printf '{"pebble": {"listenAddress": "%s:14000", "managementListenAddress": "%s:15000",
  "certificate": "%s", "privateKey": "%s", "httpPort": 80, "tlsPort": 5001,
  "ocspResponderURL": "", "externalAccountBindingRequired": false}}\n' \
    "$ip_client" "$ip_client" "$work/pebble.pem" "$work/pebble.key" >"$work/pebble.json"
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 ip netns exec "$ns_client" pebble -config "$work/pebble.json" \
    >"$work/pebble.log" 2>&1 &
pebble_pid=$!
for _ in $(seq 100); do
    in_client curl -fsS --cacert "$work/acme-ca.pem" -o /dev/null "$acme_dir" 2>/dev/null && break
    sleep 0.1
done
in_client curl -fsS --cacert "$work/acme-ca.pem" -o /dev/null "$acme_dir" ||
    fail "Pebble does not answer at $acme_dir; its log: $(cat "$work/pebble.log")"
# The operator's settings before the first deploy: the example, pointed at
# Pebble. KAKAOBOT_ACME_IDENTIFIERS stays empty for deploy.sh to fill in.
install -d -m 0755 "$rootfs/etc/kakaobot"
install -m 0644 "$work/acme-ca.pem" "$rootfs/etc/kakaobot/acme-ca.pem"
{
    cat "$root/deploy/kakaobot.env.example"
    echo "KAKAOBOT_ACME_DIRECTORY=$acme_dir"
    echo "KAKAOBOT_ACME_DIRECTORY_CA=/etc/kakaobot/acme-ca.pem"
} >"$rootfs/etc/kakaobot/kakaobot.env"
chmod 0600 "$rootfs/etc/kakaobot/kakaobot.env"

# --- boot ------------------------------------------------------------------------
say "booting the container with systemd-nspawn (placement: $placement)"
# --keep-unit --register=no: nspawn runs the container in the cgroup it is
# started in and does not ask systemd-machined for one, so the same command
# works with and without machined; where it is started from differs.
nspawn=(systemd-nspawn --quiet --boot --directory="$rootfs" --machine="$tag"
    --register=no --keep-unit --network-namespace-path="/run/netns/$ns_box"
    --console=read-only)
if [[ $placement == systemd ]]; then
    # systemd owns the cgroup tree: it makes a transient scope and delegates
    # it to nspawn (payload/ and supervisor/ below it). systemd-run --scope
    # execs nspawn, so $! is nspawn itself.
    systemd-run --scope --quiet --collect --unit="$cgroup" -p Delegate=yes -- \
        "${nspawn[@]}" >"$work/console.log" 2>&1 &
else
    # No systemd to ask: a subshell moves itself into cgroups of its own in
    # each mounted hierarchy, then execs nspawn, so the container's cgroups
    # are ours to remove.
    (
        while read -r h; do
            mkdir -p "$h/$cgroup"
            echo "$BASHPID" >"$h/$cgroup/cgroup.procs"
        done < <(cgroup_hierarchies)
        exec "${nspawn[@]}"
    ) >"$work/console.log" 2>&1 &
fi
nspawn_pid=$!

ssh_opts=(-i "$work/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=5
    -o StrictHostKeyChecking=accept-new -o "UserKnownHostsFile=$work/known_hosts" -o LogLevel=ERROR)
box() { in_client ssh "${ssh_opts[@]}" "ubuntu@$ip_box" "$@"; }
deploy() {
    in_client bash "$root/deploy/deploy.sh" "$ip_box" --user ubuntu --key "$work/id_ed25519" \
        --ssh-option "UserKnownHostsFile=$work/known_hosts" --ready-timeout 30 "$@"
}
show_console() {
    echo "last console lines:" >&2
    tail -n 30 "$work/console.log" >&2
}

for _ in $(seq 120); do
    kill -0 "$nspawn_pid" 2>/dev/null || { show_console; fail "systemd-nspawn exited"; }
    box true 2>/dev/null && break
    sleep 0.5
done
box true || { show_console; fail "no ssh into the container within 60 s"; }
echo "ssh ubuntu@$ip_box works"
box 'timeout 60 systemctl is-system-running --wait' || true

say "running cloud-init's runcmd in the container"
box 'sudo sh -ex /cloud-init-runcmd.sh'
[[ $(box 'redis-cli CONFIG GET appendonly' | tail -n 1) == yes ]] || fail "Redis does not have appendonly yes after cloud-init's setup"
[[ $(box 'redis-cli CONFIG GET appendfsync' | tail -n 1) == everysec ]] || fail "Redis does not have appendfsync everysec"
[[ $(box 'redis-cli CONFIG GET maxmemory' | tail -n 1) == 268435456 ]] || fail "Redis does not have maxmemory 256mb"
[[ $(box 'redis-cli CONFIG GET maxmemory-policy' | tail -n 1) == volatile-lru ]] || fail "Redis does not have maxmemory-policy volatile-lru"
echo "redis-server: appendonly yes, appendfsync everysec, maxmemory 256mb, maxmemory-policy volatile-lru"

# --- deploy ----------------------------------------------------------------------
say "deploying with deploy/deploy.sh over ssh"
deploy --binary "$binary" || fail "deploy.sh failed"
[[ $(box 'systemctl is-active kakaobot.socket kakaobot-https.socket kakaobot.service' | tr '\n' ' ') == "active active active " ]] ||
    fail "the sockets and kakaobot.service are not all active: $(box 'systemctl status --no-pager kakaobot.socket kakaobot-https.socket kakaobot.service' 2>&1)"
echo "kakaobot.socket, kakaobot-https.socket and kakaobot.service are active"
box "sudo grep -qx KAKAOBOT_ACME_IDENTIFIERS=$ip_box /etc/kakaobot/kakaobot.env" ||
    fail "deploy.sh did not fill in KAKAOBOT_ACME_IDENTIFIERS=$ip_box"
echo "deploy.sh filled in KAKAOBOT_ACME_IDENTIFIERS=$ip_box"

say "HTTPS: the certificate from Pebble over port 80, a skill conversation over https://$ip_box"
in_client curl -fsS --cacert "$work/acme-ca.pem" "https://$ip_client:15000/roots/0" >"$work/acme-root.pem" ||
    fail "cannot read Pebble's issuing root"
https_status() { in_client curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$work/acme-root.pem" "https://$ip_box/health" || true; }
# Pebble validates at once; the bound only keeps a broken run from hanging.
for _ in $(seq 120); do [[ $(https_status) == 200 ]] && break; sleep 0.5; done
[[ $(https_status) == 200 ]] ||
    fail "no 200 from https://$ip_box/health within 60 s; journal: $(box 'sudo journalctl -u kakaobot.service --no-pager -o cat | tail -n 20')"
served_serial() {
    in_client openssl s_client -connect "$ip_box:443" -CAfile "$work/acme-root.pem" -verify_return_error </dev/null 2>/dev/null |
        openssl x509 -noout -serial
}
serial=$(served_serial)
[[ $serial == serial=* ]] || fail "no verified certificate on $ip_box:443"
echo "GET https://$ip_box/health -> 200, certificate $serial, verified against Pebble's root"
in_client env SSL_CERT_FILE="$work/acme-root.pem" "$python" "$root/tests/deploy/lib/kakao_client.py" conversation \
    "https://$ip_box" "$root/service/questions/quiz.toml" "e2eHttpsUser_01" || fail "the conversation over https failed"

ready_status() { in_client curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$app_url/ready" || true; }
[[ $(ready_status) == 200 ]] || fail "GET $app_url/ready is not 200"
health=$(in_client curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$app_url/health" || true)
[[ $health == 200 ]] || fail "GET $app_url/health is $health, not 200"
echo "GET $app_url/ready -> 200, GET $app_url/health -> 200"

say "a quiz conversation through the deployed service"
in_client "$python" "$root/tests/deploy/lib/kakao_client.py" conversation "$app_url" \
    "$root/service/questions/quiz.toml" "e2eQuizUser_01" || fail "the quiz conversation failed"
# Every key sits in a user's or a group's hash tag: {kakaobot:u:<user>}:…
keys=$(box "redis-cli --scan --pattern '{kakaobot:u:*'")
[[ -n $keys ]] || fail "no {kakaobot:u:…} keys in the container's Redis"
echo "Redis keys: $(tr '\n' ' ' <<<"$keys")"
# Every key has a lifetime (volatile-lru evicts only those), the lasting ones the
# key lifetime (90 days by default) from this conversation on.
while read -r key; do
    ttl=$(box "redis-cli TTL '$key'")
    [[ $ttl -gt 0 ]] || fail "Redis key $key has no lifetime (TTL $ttl)"
    [[ $key != *:session ]] || continue
    ((ttl > 89 * 86400)) || fail "Redis key $key lives $ttl s, not the 90-day key lifetime"
done <<<"$keys"
echo "every key has a lifetime; the lasting ones 90 days"

say "systemctl reload re-reads the question bank without a restart"
main_pid=$(box 'systemctl show -p MainPID --value kakaobot.service')
box 'sudo systemctl reload kakaobot.service' || fail "systemctl reload kakaobot failed"
reloaded=""
for _ in $(seq 50); do
    reloaded=$(box 'sudo journalctl -u kakaobot.service --no-pager -o cat | grep -c "question bank reloaded"' || true)
    [[ ${reloaded:-0} -ge 1 ]] && break
    sleep 0.1
done
[[ ${reloaded:-0} -ge 1 ]] || fail "no 'question bank reloaded' in the journal after systemctl reload"
[[ $(box 'systemctl show -p MainPID --value kakaobot.service') == "$main_pid" ]] ||
    fail "systemctl reload restarted the service instead of reloading it"
[[ $(ready_status) == 200 ]] || fail "GET /ready is not 200 after the reload"
echo "reloaded in place (main PID $main_pid kept)"

# --- unprivileged ------------------------------------------------------------------
say "checking that the service runs unprivileged"
main_pid() { box 'systemctl show -p MainPID --value kakaobot.service'; }
pid=$(main_pid)
[[ $pid =~ ^[1-9][0-9]*$ ]] || fail "kakaobot.service has no main process"
status=$(box "sudo cat /proc/$pid/status")
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' <<<"$status")
caps=$(awk '/^CapEff:/ { print $2 }' <<<"$status")
nnp=$(awk '/^NoNewPrivs:/ { print $2 }' <<<"$status")
echo "main process $pid: Uid $uids, CapEff $caps, NoNewPrivs $nnp"
for u in $uids; do ((u != 0)) || fail "the service runs with uid 0 (Uid: $uids)"; done
[[ $nnp == 1 ]] || fail "NoNewPrivs is $nnp, not 1"
[[ $caps == 0000000000000000 ]] || fail "the service has effective capabilities $caps"
# The mount that holds /usr in the service's mount namespace must be read-only.
usr_mount=$(box "sudo cat /proc/$pid/mountinfo" | awk '
    $5 == "/usr" || $5 == "/" { opts[$5] = $6 }
    END { print ("/usr" in opts) ? "/usr " opts["/usr"] : "/ " opts["/"] }')
[[ $usr_mount =~ ^[^\ ]+\ ro(,|$) ]] || fail "/usr is not read-only for the service (mount: $usr_mount)"
echo "/usr for the service: mount $usr_mount"
write_test=$(box "sudo nsenter --target $pid --mount --setuid $(awk '{print $1}' <<<"$uids") sh -c 'touch /usr/kakaobot-e2e 2>&1 || true'")
[[ $write_test == *"Read-only file system"* ]] || fail "writing to /usr in the service's namespace did not fail read-only: $write_test"
echo "touch /usr/... as the service: $write_test"

# --- kill -9 ----------------------------------------------------------------------
say "kill -9 of the main process"
box "sudo kill -9 $pid"
new_pid=""
for _ in $(seq 100); do
    new_pid=$(main_pid)
    if [[ $new_pid =~ ^[1-9][0-9]*$ && $new_pid != "$pid" && $(ready_status) == 200 ]]; then break; fi
    new_pid=""
    sleep 0.2
done
[[ -n $new_pid ]] || fail "no new main process answering /ready within 20 s after kill -9 of $pid"
echo "systemd restarted it: main process $pid -> $new_pid, NRestarts $(box 'systemctl show -p NRestarts --value kakaobot.service'), /ready 200"

# --- redeploy under load -----------------------------------------------------------------
say "redeploying while clients send a steady stream of /message requests"
# Not through in_client: $! must be the client itself (ip netns exec execs it),
# so that the cleanup can stop it.
ip netns exec "$ns_client" "$python" "$root/tests/deploy/lib/kakao_client.py" stream "$app_url" "$work/stream.stop" "$work/stream.json" 4 &
stream_pid=$!
progress() { "$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$work/stream.json.progress" 2>/dev/null || echo 0; }
for _ in $(seq 100); do (($(progress) >= 50)) && break; sleep 0.1; done
(($(progress) >= 50)) || fail "the request stream did not get going"
# The operator's settings survive a redeploy.
box "echo '# e2e: operator edit' | sudo tee -a /etc/kakaobot/kakaobot.env >/dev/null"
before_pid=$(main_pid)
deploy --binary "$binary" || fail "the redeploy under load failed"
after_pid=$(main_pid)
box 'sudo grep -qx "# e2e: operator edit" /etc/kakaobot/kakaobot.env' || fail "the redeploy overwrote /etc/kakaobot/kakaobot.env"
for _ in $(seq 60); do [[ $(https_status) == 200 ]] && break; sleep 0.5; done
[[ $(served_serial) == "$serial" ]] || fail "after the redeploy the certificate is $(served_serial), not the stored $serial"
issued=$(box 'sudo journalctl -u kakaobot.service --no-pager -o cat | grep -c "certificate issued"' || true)
[[ $issued == 1 ]] || fail "the redeploy ordered a new certificate ($issued issued in all)"
echo "after the redeploy: the stored certificate $serial is served, $issued certificate issued in all"
# Optional extra restarts under the same stream, to hunt rare shutdown races.
for ((i = 1; i <= extra_restarts; i++)); do
    # reset-failed: manual starts count against StartLimitBurst too.
    box 'sudo systemctl reset-failed kakaobot.service; sudo systemctl restart kakaobot.service'
    sleep 0.3
done
sleep 1
touch "$work/stream.stop"
wait "$stream_pid" || fail "the request stream client failed"
stream_pid=""
read -r requests failures max_latency < <("$python" -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["requests"], r["failures"], round(r["max_latency_s"], 3))
for e in r["errors"]:
    print("  error:", e, file=sys.stderr)' "$work/stream.json")
echo "redeploy (+ $extra_restarts extra restarts) under load: $requests requests, $failures failed, slowest $max_latency s; main process $before_pid -> $after_pid"
[[ $before_pid != "$after_pid" ]] || fail "the redeploy did not restart the service"
((failures == 0)) || fail "$failures of $requests requests failed during the redeploy (+ $extra_restarts extra restarts)"

# --- a binary that fails its check ----------------------------------------------------
say "deploying a binary that fails \`kakaobot check\`: expect a refusal that changes nothing"
printf '#!/bin/sh\necho "kakaobot (e2e broken build): cannot run here" >&2\nexit 3\n' >"$work/broken-kakaobot"
chmod 0755 "$work/broken-kakaobot"
expected_sha=$(sha256sum "$binary" | cut -d' ' -f1)
installed_sha() { box 'sha256sum /usr/local/bin/kakaobot' | cut -d' ' -f1; }
before_pid=$(main_pid)
rc=0
deploy --binary "$work/broken-kakaobot" >"$work/refused.log" 2>&1 || rc=$?
cat "$work/refused.log"
((rc != 0)) || fail "deploy.sh exited 0 with a binary that fails its check"
grep -q "failed \`kakaobot check\` on this host (exit 3)" "$work/refused.log" ||
    fail "deploy.sh did not report the failed check"
grep -q "cannot run here" "$work/refused.log" || fail "deploy.sh did not show the check's output"
! grep -q "restarting kakaobot.service" "$work/refused.log" || fail "deploy.sh restarted the service after a failed check"
[[ $(main_pid) == "$before_pid" ]] || fail "the running service was restarted after a failed check"
[[ $(installed_sha) == "$expected_sha" ]] || fail "after a failed check /usr/local/bin/kakaobot changed"
box 'test ! -e /usr/local/lib/kakaobot/kakaobot.candidate' || fail "the failed check left its candidate binary behind"
[[ $(ready_status) == 200 ]] || fail "after a failed check GET /ready is not 200"
echo "deploy.sh exited $rc; main process $before_pid still serving, binary unchanged"

# --- rollback ---------------------------------------------------------------------------
say "deploying a binary that passes its check but cannot serve: expect a rollback"
cat >"$work/unservable-kakaobot" <<'EOF'
#!/bin/sh
if [ "$1" = check ]; then echo "settings and question bank are valid"; exit 0; fi
echo "kakaobot (e2e broken build): refusing to serve" >&2
exit 3
EOF
chmod 0755 "$work/unservable-kakaobot"
rc=0
deploy --binary "$work/unservable-kakaobot" >"$work/rollback.log" 2>&1 || rc=$?
cat "$work/rollback.log"
((rc != 0)) || fail "deploy.sh exited 0 with a binary that cannot serve"
grep -q "rolled back: the previous version is running and ready" "$work/rollback.log" ||
    fail "deploy.sh did not report a successful rollback"
grep -q "refusing to serve" "$work/rollback.log" || fail "deploy.sh did not show the journal of the failed start"
grep -q "status=3" "$work/rollback.log" || fail "deploy.sh did not show systemd's messages about the failed start"
[[ $(ready_status) == 200 ]] || fail "after the rollback GET /ready is not 200"
[[ $(installed_sha) == "$expected_sha" ]] || fail "after the rollback /usr/local/bin/kakaobot is not the previous binary"
in_client "$python" "$root/tests/deploy/lib/kakao_client.py" conversation "$app_url" \
    "$root/service/questions/quiz.toml" "e2eQuizUser_02" || fail "the quiz conversation after the rollback failed"
echo "deploy.sh exited $rc, rolled back, and the previous binary answers"

say "summary"
echo "redeploy (+ $extra_restarts extra restarts) under load: $requests requests, $failures failed"
