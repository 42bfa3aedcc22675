# shellcheck shell=bash
# How tests/deploy/e2e.sh places the systemd-nspawn container in the cgroup
# tree, on the two kinds of host it runs on. Sourced by e2e.sh; not a test
# step itself.
#
# - "systemd": PID 1 is systemd (Ubuntu 24.04, Debian 12 and most CI runners,
#   usually with the unified cgroup v2 hierarchy). systemd owns the cgroup tree
#   and must not find foreign cgroups in it, so the container runs in a
#   transient scope that systemd creates and delegates to nspawn
#   (systemd-run --scope -p Delegate=yes), and stopping that scope removes
#   whatever is left.
# - "manual": PID 1 is something else (a container or sandbox whose init is not
#   systemd) and the cgroup file systems are mounted, in the hybrid layout
#   (/sys/fs/cgroup/systemd and /sys/fs/cgroup/unified) or the unified one
#   (cgroup2 at /sys/fs/cgroup). Nobody else manages the tree, so the test makes
#   a cgroup of its own in each hierarchy, moves the nspawn process into it, and
#   removes it at the end.

# container_placement [PROC] [SYS_CGROUP] [RUN_SYSTEMD] — prints "systemd" or
# "manual" for this host, or prints nothing and returns 1 when neither way
# works (with the reason on stderr). The arguments default to /proc,
# /sys/fs/cgroup and /run/systemd/system; tests pass fixture directories.
container_placement() {
    local proc=${1:-/proc} cgroup_fs=${2:-/sys/fs/cgroup} run_systemd=${3:-/run/systemd/system}
    local init=""
    [[ -r $proc/1/comm ]] && init=$(<"$proc/1/comm")
    # sd_booted(3): /run/systemd/system exists only when systemd is PID 1;
    # the command name rules out a host directory seen from inside a container.
    if [[ $init == systemd && -d $run_systemd ]]; then
        echo systemd
        return 0
    fi
    if [[ -n $(cgroup_hierarchies "$cgroup_fs") ]]; then
        echo manual
        return 0
    fi
    echo "PID 1 is ${init:-unknown}, not systemd, and no cgroup hierarchy is mounted at $cgroup_fs" \
        "(want $cgroup_fs/systemd and $cgroup_fs/unified, or cgroup2 at $cgroup_fs)" >&2
    return 1
}

# cgroup_hierarchies [SYS_CGROUP] — prints, one a line, the directories under
# which the "manual" way makes the container's cgroup: both named hierarchies
# of the hybrid layout, or the unified root itself.
cgroup_hierarchies() {
    local cgroup_fs=${1:-/sys/fs/cgroup}
    if [[ -d $cgroup_fs/systemd && -d $cgroup_fs/unified ]]; then
        printf '%s\n' "$cgroup_fs/systemd" "$cgroup_fs/unified"
    elif [[ -e $cgroup_fs/cgroup.controllers ]]; then
        # Only cgroup2 has cgroup.controllers at its root.
        printf '%s\n' "$cgroup_fs"
    fi
}

# container_selftest — checks container_placement and cgroup_hierarchies
# against fixture layouts of each kind of host. Prints one line per case and
# returns 1 if any case is wrong. Runs on any host, as an unprivileged user.
container_selftest() {
    local fx rc=0
    fx=$(mktemp -d)
    # fixture NAME INIT LAYOUT SYSTEMD_RUN_DIR: a fake /proc/1/comm, a fake
    # cgroup mount (hybrid, unified or none) and /run/systemd/system or not.
    fixture() {
        mkdir -p "$fx/$1/proc/1" "$fx/$1/cgroup"
        echo "$2" >"$fx/$1/proc/1/comm"
        case $3 in
        hybrid) mkdir -p "$fx/$1/cgroup/systemd" "$fx/$1/cgroup/unified" "$fx/$1/cgroup/memory" ;;
        unified) touch "$fx/$1/cgroup/cgroup.controllers" ;;
        none) ;;
        esac
        [[ $4 == yes ]] && mkdir -p "$fx/$1/run-systemd"
        return 0
    }
    expect() {
        local name=$1 want=$2 got
        got=$(container_placement "$fx/$name/proc" "$fx/$name/cgroup" "$fx/$name/run-systemd" 2>/dev/null) || got=none
        if [[ $got == "$want" ]]; then
            echo "ok   placement on a $name host: $got"
        else
            echo "FAIL placement on a $name host: $got, want $want"
            rc=1
        fi
    }
    fixture systemd-unified systemd unified yes
    fixture systemd-hybrid systemd hybrid yes
    fixture sandbox-hybrid process_api hybrid no
    fixture sandbox-unified tini unified no
    fixture sandbox-bare sh none no
    # A container that sees the host's /run/systemd/system but whose PID 1 is
    # not systemd must not hand its cgroups to a systemd that is not there.
    fixture container-with-host-run bash hybrid yes
    expect systemd-unified systemd
    expect systemd-hybrid systemd
    expect sandbox-hybrid manual
    expect sandbox-unified manual
    expect sandbox-bare none
    expect container-with-host-run manual
    local dirs
    dirs=$(cgroup_hierarchies "$fx/sandbox-hybrid/cgroup" | sed "s|$fx/sandbox-hybrid/cgroup|C|" | tr '\n' ' ')
    if [[ $dirs == "C/systemd C/unified " ]]; then
        echo "ok   hybrid hierarchies: $dirs"
    else
        echo "FAIL hybrid hierarchies: '$dirs', want 'C/systemd C/unified '"
        rc=1
    fi
    dirs=$(cgroup_hierarchies "$fx/sandbox-unified/cgroup" | sed "s|$fx/sandbox-unified/cgroup|C|" | tr '\n' ' ')
    if [[ $dirs == "C " ]]; then
        echo "ok   unified hierarchy: $dirs"
    else
        echo "FAIL unified hierarchy: '$dirs', want 'C '"
        rc=1
    fi
    rm -rf "$fx"
    unset -f fixture expect
    return "$rc"
}
