# shellcheck shell=bash
# Builds (once) and caches the Debian rootfs the end-to-end deploy test boots
# under systemd-nspawn. Sourced by tests/deploy/e2e.sh; not a test step itself.
#
# The tarball is keyed by suite, architecture and package list, so changing the
# list builds a new one and a rerun with the same list unpacks in seconds.

# What the container needs: systemd as PID 1, sshd to deploy over, Redis for
# the service's state, curl for deploy.sh's readiness check, sudo because
# deploy.sh logs in as an unprivileged user (as on an Ubuntu cloud image).
rootfs_suite=bookworm
# procps: /bin/kill, which the unit's ExecReload= runs.
rootfs_packages=systemd,systemd-sysv,dbus,openssh-server,curl,redis-server,ca-certificates,sudo,procps

# Prints the Debian mirror to bootstrap from: $KAKAOBOT_TEST_DEBIAN_MIRROR, else
# the first Debian archive this machine's apt is configured with (deb822 or
# one-line format), else deb.debian.org.
rootfs_mirror() {
    if [[ -n ${KAKAOBOT_TEST_DEBIAN_MIRROR:-} ]]; then
        echo "$KAKAOBOT_TEST_DEBIAN_MIRROR"
        return
    fi
    local uri
    uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }')
    if [[ -z $uri ]]; then
        uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:.*\/debian\/?$/) { print $i; exit } }')
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

# rootfs_tarball CACHE_DIR — prints the path of the cached rootfs tarball,
# building it with debootstrap first when it is missing. Progress goes to stderr.
rootfs_tarball() {
    local cache_dir=$1
    local arch key tarball
    arch=$(dpkg --print-architecture)
    key=$(printf '%s %s %s' "$rootfs_suite" "$arch" "$rootfs_packages" | sha256sum | cut -c1-16)
    tarball="$cache_dir/rootfs-$rootfs_suite-$arch-$key.tar.gz"
    if [[ -s $tarball ]]; then
        echo "$tarball"
        return
    fi
    mkdir -p "$cache_dir"
    local mirror build
    mirror=$(rootfs_mirror)
    build=$(mktemp -d "$cache_dir/build.XXXXXX")
    echo "rootfs: debootstrap $rootfs_suite from $mirror (about a minute, once)" >&2
    if ! debootstrap --variant=minbase --include="$rootfs_packages" \
        "$rootfs_suite" "$build/root" "$mirror" >"$build/debootstrap.log" 2>&1; then
        echo "rootfs: debootstrap failed; last lines of its log:" >&2
        tail -n 20 "$build/debootstrap.log" >&2
        # debootstrap may leave /proc or /sys mounted in the target: never descend into them.
        umount -R "$build/root/proc" "$build/root/sys" 2>/dev/null || true
        rm -rf --one-file-system "$build"
        return 1
    fi
    # The package lists and .debs are not needed to boot; the image is half the size without them.
    rm -rf "$build/root/var/cache/apt/archives/"*.deb "$build/root/var/lib/apt/lists/"*
    echo "rootfs: packing $tarball" >&2
    tar -C "$build/root" --one-file-system --numeric-owner --xattrs -cf - . | gzip -1 >"$build/rootfs.tar.gz"
    mv "$build/rootfs.tar.gz" "$tarball"
    rm -rf --one-file-system "$build"
    echo "$tarball"
}
