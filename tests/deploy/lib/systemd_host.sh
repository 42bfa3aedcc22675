#!/usr/bin/env bash
# Runs tests/deploy/e2e.sh inside a booted Debian container whose PID 1 is
# systemd and whose cgroup tree is the unified (v2) hierarchy: the layout of an
# Ubuntu 24.04 or Debian 12 workstation. On a host whose own PID 1 is not
# systemd, e2e.sh takes its "manual" way; this script is how such a host checks
# the other way ("systemd": systemd-run --scope) for real. On a systemd host,
# e2e.sh alone already takes that way.
#
# As root: unpacks the cached e2e rootfs (target/deploy-cache, built by e2e.sh)
# onto a tmpfs, adds the test's tools with apt-get in a chroot, boots it with
# systemd-nspawn (host network, all capabilities, the repository bound at the
# same path), runs e2e.sh there as a transient service, and removes everything
# at the end. Environment: KAKAOBOT_TEST_BINARY (default target/debug/kakaobot,
# built with `cargo build -p kakaobot` when missing). Exits with e2e.sh's code.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
# shellcheck source=tests/deploy/lib/rootfs.sh
source "$root/tests/deploy/lib/rootfs.sh"
# shellcheck source=tests/deploy/lib/container.sh
source "$root/tests/deploy/lib/container.sh"

fail() {
    echo "systemd_host.sh: $*" >&2
    exit 1
}
[[ $(id -u) -eq 0 ]] || fail "must run as root (tmpfs, chroot, systemd-nspawn)"
[[ $(container_placement) == manual ]] ||
    fail "this host's PID 1 is systemd: run tests/deploy/e2e.sh directly, it takes the systemd way here"
binary=${KAKAOBOT_TEST_BINARY:-$target_dir/debug/kakaobot}
if [[ ! -x $binary ]]; then
    (cd "$root" && cargo build --locked -p kakaobot)
fi
binary=$(realpath "$binary")
# Only the repository is bound into the container.
[[ $binary == "$root"/* ]] || fail "KAKAOBOT_TEST_BINARY must be inside $root, which is all the container sees"
tarball=$(rootfs_tarball "$target_dir/deploy-cache") || fail "could not build the rootfs (see above)"

tag="kbsysd$$"
work=$(mktemp -d "$target_dir/systemd-host.XXXXXX")
host="$work/root"
nspawn_pid=""
cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [[ -n $nspawn_pid ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
        kill -TERM "$nspawn_pid"
        for _ in $(seq 150); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$nspawn_pid" 2>/dev/null && kill -KILL "$nspawn_pid"
        wait "$nspawn_pid" 2>/dev/null
    fi
    local h d
    while read -r h; do
        d="$h/$tag"
        [[ -d $d ]] || continue
        find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do kill -KILL "$pid" 2>/dev/null; done
        sleep 0.2
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done < <(cgroup_hierarchies)
    if findmnt -rn -o TARGET | grep -q "^$work"; then
        findmnt -rn -o TARGET | grep "^$work" | sort -r | xargs -r umount -l
    fi
    rm -rf --one-file-system "$work"
    echo "systemd_host.sh: exit $rc"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "--- unpacking the rootfs and installing the test's tools in it"
mkdir "$host"
mount -t tmpfs -o size=6g,mode=0755 "kakaobot-systemd-host" "$host"
tar -C "$host" --numeric-owner -xzf "$tarball"
cp /etc/resolv.conf "$host/etc/resolv.conf"
for m in proc sys dev; do mount --rbind "/$m" "$host/$m"; done
chroot "$host" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends systemd-container debootstrap iproute2 openssh-client curl xz-utils \
    python3 python3-yaml >/dev/null'
for m in dev sys proc; do umount -R "$host/$m"; done
# It shares this host's network: its own sshd and Redis must not start.
for unit in ssh.service ssh.socket redis-server.service; do
    ln -sf /dev/null "$host/etc/systemd/system/$unit"
done

echo "--- booting it with systemd as PID 1 on the unified cgroup hierarchy"
# SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1: cgroup v2 inside, whatever this host
# mounts. SYSTEMD_SECCOMP=0 and all capabilities: the test inside mounts a
# tmpfs, makes network namespaces and starts nspawn itself.
(
    while read -r h; do
        mkdir -p "$h/$tag"
        echo "$BASHPID" >"$h/$tag/cgroup.procs"
    done < <(cgroup_hierarchies)
    SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 SYSTEMD_SECCOMP=0 exec systemd-nspawn --quiet --boot \
        --directory="$host" --machine="$tag" --register=no --keep-unit --capability=all \
        --bind="$root" --console=read-only
) >"$work/console.log" 2>&1 &
nspawn_pid=$!
inside() { nsenter --target "$leader" --mount --uts --ipc --pid --cgroup -- "$@"; }
# Until systemd inside answers that the boot is over ("degraded" is fine
# here): e2e.sh is started through its D-Bus, which comes up during the boot.
# The leader is looked up each time: nspawn's first child is an intermediate
# process that exits once the container's init runs.
leader=""
state=""
for _ in $(seq 150); do
    kill -0 "$nspawn_pid" 2>/dev/null || break
    # ps fails while nspawn has no child.
    leader=$(ps --ppid "$nspawn_pid" -o pid= | tr -d ' ') || leader=""
    if [[ -n $leader ]]; then
        state=$(inside systemctl is-system-running --wait 2>/dev/null) || true
        [[ $state == running || $state == degraded ]] && break
    fi
    sleep 0.3
done
[[ $state == running || $state == degraded ]] || {
    tail -n 30 "$work/console.log" >&2
    fail "the container's boot did not finish (state: ${state:-none})"
}
echo "inside: PID 1 is $(inside cat /proc/1/comm), /sys/fs/cgroup is $(inside stat -fc %T /sys/fs/cgroup)"

echo "--- tests/deploy/e2e.sh inside"
# A transient service, so that e2e.sh runs inside the tree that systemd
# manages and its own systemd-run --scope can place nspawn there.
inside systemd-run --wait --pipe --quiet --unit="$tag-e2e" \
    -E KAKAOBOT_TEST_BINARY="$binary" -E KAKAOBOT_TEST_PYTHON=python3 \
    -E PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash "$root/tests/deploy/e2e.sh"
