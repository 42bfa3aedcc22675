#!/usr/bin/env bash
# Deploys kakaobot to a host over ssh: uploads the binary, the systemd units and
# the settings example, installs the binary atomically (keeping the previous
# one), restarts the service behind its socket and waits until it is ready.
# A new version that does not become ready is rolled back. See --help.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: deploy/deploy.sh HOST [options]

Installs kakaobot on HOST (an instance prepared by deploy/cloud-init.yaml, e.g.
the Elastic IP that `provision up` prints) as the systemd units
kakaobot.socket (80, 5000) + kakaobot-https.socket (443) + kakaobot.service,
then waits for GET /ready on the host. HTTPS is on: the service obtains a
certificate for HOST (or --identifier) by itself; register
https://HOST/quiz/skill with Kakao.

Steps: build the release binary (unless --binary), upload binary, units and
kakaobot.env.example; install the binary as /usr/local/bin/kakaobot with an
atomic rename, keeping the previous binary and units under
/usr/local/lib/kakaobot/previous/; install /etc/kakaobot/kakaobot.env from the
example only if it does not exist; turn HTTPS on in it unless the operator
chose otherwise (KAKAOBOT_ACME_IDENTIFIERS is filled in with HOST when it is
empty, and a settings file from before HTTPS gets the HTTPS lines); run the new binary's `kakaobot check` with
those settings as the service's user (if it fails, its output is printed and
nothing installed is touched); `kakaobot migrate` (Redis key layout, idempotent);
daemon-reload, enable, restart; poll /ready; `kakaobot migrate` once more.
If the new version is not ready in time, the previous one is restored and
restarted, the service's journal lines since the restart are printed and the
exit status is 1.
Running it again with the same binary is harmless.

Options:
  --user USER            ssh login (default: ubuntu); it needs passwordless
                         sudo unless it is root
  --key FILE             ssh private key (default: ssh's own choice)
  --port PORT            ssh port (default: 22)
  --binary PATH          deploy this kakaobot binary instead of building
                         `cargo build --release -p kakaobot`
  --ready-timeout SECS   how long to wait for /ready (default: 60)
  --identifier NAME      the name the certificate is for, when HOST is not it
                         (an ssh alias, say): the Elastic IP or your domain
  --ssh-option OPT       extra `ssh -o OPT`, repeatable
                         (e.g. --ssh-option UserKnownHostsFile=/path)
  -h, --help             this help

Exit status: 0 deployed and ready; 1 deploy failed (the check failed, or the
new version was rolled back if there was a previous one); 2 bad usage.
EOF
}

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'deploy.sh: error: %s\n' "$*" >&2
    exit 1
}
usage_error() {
    printf 'deploy.sh: %s (see --help)\n' "$*" >&2
    exit 2
}

# --- arguments -----------------------------------------------------------------
host=""
user=ubuntu
key=""
port=22
binary=""
ready_timeout=60
identifier=""
extra_ssh_options=()
while (($#)); do
    case $1 in
    -h | --help)
        usage
        exit 0
        ;;
    --user | --key | --port | --binary | --ready-timeout | --identifier | --ssh-option)
        (($# >= 2)) || usage_error "$1 needs a value"
        case $1 in
        --user) user=$2 ;;
        --key) key=$2 ;;
        --port) port=$2 ;;
        --binary) binary=$2 ;;
        --ready-timeout) ready_timeout=$2 ;;
        --identifier) identifier=$2 ;;
        --ssh-option) extra_ssh_options+=(-o "$2") ;;
        esac
        shift 2
        ;;
    -*) usage_error "unknown option '$1'" ;;
    *)
        [[ -z $host ]] || usage_error "one HOST only, got '$host' and '$1'"
        host=$1
        shift
        ;;
    esac
done
[[ -n $host ]] || usage_error "missing HOST"
[[ $port =~ ^[0-9]+$ ]] || usage_error "--port must be a number, got '$port'"
[[ $ready_timeout =~ ^[0-9]+$ ]] || usage_error "--ready-timeout must be a number of seconds, got '$ready_timeout'"
identifier=${identifier:-$host}
# A DNS name or an IP address (it is written into the settings file with sed).
[[ $identifier =~ ^[A-Za-z0-9.:-]+$ ]] ||
    usage_error "the certificate's name must be an IP address or a DNS name, got '$identifier' (use --identifier)"
if [[ -n $key && ! -r $key ]]; then
    die "cannot read the ssh key '$key'"
fi

deploy_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$deploy_dir")

# --- the binary ----------------------------------------------------------------
if [[ -z $binary ]]; then
    say "building the release binary: cargo build --release --locked -p kakaobot"
    (cd "$repo" && cargo build --release --locked -p kakaobot)
    binary=${CARGO_TARGET_DIR:-$repo/target}/release/kakaobot
fi
[[ -f $binary ]] || die "no binary at '$binary'"
[[ -x $binary ]] || die "'$binary' is not executable"

# --- staging and ssh -------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/kakaobot-deploy.XXXXXX")
ssh_base=(ssh -p "$port" -o BatchMode=yes -o ConnectTimeout=15
    -o ServerAliveInterval=10 -o ServerAliveCountMax=3
    # A new instance's host key is learned on first contact; a changed one is refused.
    -o StrictHostKeyChecking=accept-new
    # One connection for every step.
    -o ControlMaster=auto -o "ControlPath=$work/ssh-control" -o ControlPersist=300)
if [[ -n $key ]]; then
    ssh_base+=(-i "$key" -o IdentitiesOnly=yes)
fi
ssh_base+=("${extra_ssh_options[@]}" "$user@$host")
remote() { "${ssh_base[@]}" "$@"; }

cleanup() {
    "${ssh_base[@]}" -O exit >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir "$work/payload"
cp "$binary" "$work/payload/kakaobot"
chmod 0755 "$work/payload/kakaobot"
unit_files=(kakaobot.service kakaobot.socket kakaobot-https.socket)
for unit in "${unit_files[@]}" kakaobot.env.example; do
    cp "$deploy_dir/$unit" "$work/payload/"
done
sha=$(sha256sum "$work/payload/kakaobot" | cut -c1-12)
size=$(du -h "$work/payload/kakaobot" | cut -f1)

say "connecting to $user@$host:$port"
remote true || die "cannot ssh to $user@$host:$port (check the address, --key, --user and the security group)"

say "uploading kakaobot ($size, sha256 $sha...), ${unit_files[*]}, kakaobot.env.example"
remote_dir=$(remote 'mktemp -d /tmp/kakaobot-deploy.XXXXXX')
tar -C "$work/payload" -cf - . | remote "tar -xf - -C '$remote_dir'"

# --- on the host, as root -----------------------------------------------------------
# This function is sent to the host (declare -f) and run there by `sudo bash`.
# Arguments: the upload directory, the readiness timeout in seconds, the name the
# certificate is for.
remote_install() {
    set -euo pipefail
    local src=$1 ready_timeout=$2 identifier=$3
    local bin=/usr/local/bin/kakaobot
    local units=/etc/systemd/system
    local conf=/etc/kakaobot
    local lib=/usr/local/lib/kakaobot
    local prev=$lib/previous
    local host_name journal_cursor=""
    local all_units=(kakaobot.service kakaobot.socket kakaobot-https.socket)
    local sockets=(kakaobot.socket kakaobot-https.socket)
    host_name=$(hostname)
    say() { printf '    [%s] %s\n' "$host_name" "$*"; }
    # Remembers where the journal ends, so that journal_since_restart shows only
    # what was logged after the restart.
    mark_journal() {
        journal_cursor=$(journalctl -n 1 -q --show-cursor -o cat --no-pager 2>/dev/null |
            sed -n 's/^-- cursor: //p') || journal_cursor=""
    }
    # The unit's newest journal lines since mark_journal: its own output and
    # systemd's messages about it (a missing settings file is reported only there).
    # Newest, not first: the old process may still log while it stops.
    journal_since_restart() {
        local from=()
        if [[ -n $journal_cursor ]]; then from=(--after-cursor="$journal_cursor"); fi
        journalctl --sync 2>/dev/null || true
        journalctl "${from[@]}" -u kakaobot.service --no-pager -q -o short-iso 2>/dev/null |
            tail -n 40 || true
    }
    # Installs file $1 as $2 by a rename in $2's directory: readers see the old or
    # the new file, never a half-written one.
    atomic_install() {
        install -m "$3" -o root -g root "$1" "$2.new"
        mv -f "$2.new" "$2"
    }
    # Prints the address to probe for readiness, from the socket's first listener
    # ("[::]:5000 (Stream)" -> 127.0.0.1:5000).
    probe_address() {
        local listen addr port
        listen=$(systemctl show -p Listen --value kakaobot.socket | head -n 1)
        addr=${listen%% *}
        port=${addr##*:}
        addr=${addr%:*}
        case $addr in "" | "[::]" | "0.0.0.0") addr=127.0.0.1 ;; esac
        echo "$addr:$port"
    }
    # Waits until GET /ready answers 200; fails early once systemd has given up
    # on the service or had to restart it twice (a binary that cannot start).
    wait_ready() {
        local address deadline state restarts
        address=$(probe_address)
        deadline=$((SECONDS + ready_timeout))
        while ((SECONDS < deadline)); do
            if curl -fsS -g -o /dev/null --max-time 2 "http://$address/ready" 2>/dev/null; then
                say "ready: GET http://$address/ready answered 200"
                return 0
            fi
            state=$(systemctl show -p ActiveState --value kakaobot.service)
            restarts=$(systemctl show -p NRestarts --value kakaobot.service)
            if [[ $state == failed ]] || ((restarts >= 2)); then
                say "kakaobot.service is not starting (state $state, $restarts automatic restarts)"
                return 1
            fi
            sleep 0.5
        done
        say "no 200 from GET http://$address/ready within ${ready_timeout}s"
        return 1
    }
    # Runs the new binary's `check` as systemd will run the service (a dynamic
    # user, the operator's settings file) before anything installed is touched: a
    # binary that cannot run on this host, or settings or a question bank it
    # refuses, stop the deploy while the running version keeps serving.
    preflight() {
        # A copy, because the dynamic user cannot read the login user's upload directory.
        local candidate=$lib/kakaobot.candidate out rc=0
        install -m 0755 -o root -g root "$src/kakaobot" "$candidate"
        out=$(systemd-run --quiet --wait --pipe --collect -p DynamicUser=yes \
            -p EnvironmentFile="$conf/kakaobot.env" "$candidate" check </dev/null 2>&1) || rc=$?
        rm -f "$candidate"
        if ((rc == 0)); then
            say "checked the new binary with $conf/kakaobot.env: ${out##*$'\n'}"
            return 0
        fi
        say "the new binary failed \`kakaobot check\` on this host (exit $rc); the installed version was left as it was:"
        printf '%s\n' "$out" | sed 's/^/        /'
        return 1
    }
    # Moves Redis data to the key layout the new binary reads (`kakaobot migrate`,
    # idempotent), run as the service runs. Run right before the restart, and once
    # more when the new version is ready, to pick up what the old version wrote in
    # between (the rerun never overwrites what the new version wrote since). A
    # failure before the restart is reported and the deploy goes on: a binary that
    # cannot migrate will not become ready either and is rolled back; one that is
    # ready must then migrate, or the deploy fails.
    migrate_keys() {
        local out rc=0
        out=$(systemd-run --quiet --wait --pipe --collect -p DynamicUser=yes \
            -p EnvironmentFile="$conf/kakaobot.env" "$bin" migrate </dev/null 2>&1) || rc=$?
        if ((rc == 0)); then
            say "${out##*$'\n'}"
            return 0
        fi
        say "\`kakaobot migrate\` failed (exit $rc):"
        printf '%s\n' "$out" | sed 's/^/        /'
        return 1
    }
    # Restarts the service behind its socket. The socket is restarted only when
    # it is not listening or its unit changed, so an ordinary deploy never
    # closes the port: connections queue while the service restarts.
    restart_units() {
        local socket_changed=$1
        mark_journal
        systemctl daemon-reload
        local present=() s
        for s in "${all_units[@]}"; do
            if [[ -e $units/$s ]]; then present+=("$s"); fi
        done
        systemctl reset-failed "${present[@]}" 2>/dev/null || true
        systemctl enable --quiet "${present[@]}"
        for s in "${sockets[@]}"; do
            [[ -e $units/$s ]] || continue
            if [[ $socket_changed == yes ]] || ! systemctl is-active --quiet "$s"; then
                say "restarting $s"
                systemctl restart "$s"
            fi
        done
        say "restarting kakaobot.service"
        systemctl restart kakaobot.service
    }

    command -v curl >/dev/null || {
        say "curl is missing on the host (cloud-init.yaml installs it)"
        return 1
    }
    install -d -m 0755 "$conf" "$lib"

    say "installing the settings example as $conf/kakaobot.env.example"
    atomic_install "$src/kakaobot.env.example" "$conf/kakaobot.env.example" 0644
    if [[ -e $conf/kakaobot.env ]]; then
        say "keeping the existing settings $conf/kakaobot.env"
    else
        say "no $conf/kakaobot.env yet: installing it from the example"
        install -m 0600 -o root -g root "$src/kakaobot.env.example" "$conf/kakaobot.env"
    fi

    # HTTPS: the host deployed to is the certificate's name, unless the operator
    # named one, brought a certificate, or turned HTTPS off (an empty
    # KAKAOBOT_TLS_LISTEN=). A settings file from before HTTPS gets its lines.
    fill_in_https() {
        local env=$conf/kakaobot.env
        if grep -q '^KAKAOBOT_TLS_LISTEN=$' "$env"; then
            say "HTTPS is off in $env (KAKAOBOT_TLS_LISTEN is empty); leaving it so"
        elif ! grep -q '^KAKAOBOT_TLS_LISTEN=' "$env"; then
            say "turning HTTPS on in $env: a certificate for $identifier"
            printf '\n# Added by deploy.sh: HTTPS, with a certificate for the host deployed to.\nKAKAOBOT_TLS_LISTEN=0.0.0.0:443\nKAKAOBOT_ACME_IDENTIFIERS=%s\n' \
                "$identifier" >>"$env"
        elif grep -Eq '^KAKAOBOT_(ACME_IDENTIFIERS|TLS_CERT)=.+' "$env"; then
            say "keeping the certificate settings in $env"
        elif grep -q '^KAKAOBOT_ACME_IDENTIFIERS=$' "$env"; then
            sed -i "s/^KAKAOBOT_ACME_IDENTIFIERS=\$/KAKAOBOT_ACME_IDENTIFIERS=$identifier/" "$env"
            say "the certificate is for $identifier (KAKAOBOT_ACME_IDENTIFIERS in $env)"
        else
            printf 'KAKAOBOT_ACME_IDENTIFIERS=%s\n' "$identifier" >>"$env"
            say "the certificate is for $identifier (KAKAOBOT_ACME_IDENTIFIERS in $env)"
        fi
    }
    fill_in_https

    preflight || return 1

    local same=yes socket_changed=no f
    cmp -s "$src/kakaobot" "$bin" 2>/dev/null || same=no
    for f in "${all_units[@]}"; do
        cmp -s "$src/$f" "$units/$f" 2>/dev/null || same=no
    done
    for f in "${sockets[@]}"; do
        cmp -s "$src/$f" "$units/$f" 2>/dev/null || socket_changed=yes
    done

    if [[ $same == yes ]]; then
        # Keeping "previous" as it is: rotating would make it equal the current one.
        say "binary and units are already installed; keeping $prev as the rollback target"
    else
        if [[ -e $bin ]]; then
            say "keeping the installed version in $prev"
            rm -rf "$prev.new"
            mkdir "$prev.new"
            ln "$bin" "$prev.new/kakaobot"
            for f in "${all_units[@]}"; do
                if [[ -e $units/$f ]]; then cp -p "$units/$f" "$prev.new/$f"; fi
            done
            rm -rf "$prev"
            mv "$prev.new" "$prev"
        fi
        say "installing $bin and the units in $units"
        atomic_install "$src/kakaobot" "$bin" 0755
        for f in "${all_units[@]}"; do
            atomic_install "$src/$f" "$units/$f" 0644
        done
    fi

    migrate_keys || say "going on: the new version migrates again once it is ready"
    restart_units "$socket_changed"
    if wait_ready; then
        migrate_keys || {
            say "the new version serves, but data of the old key layout stays hidden until \`kakaobot migrate\` succeeds"
            return 1
        }
        return 0
    fi

    say "the new version did not become ready; its journal lines:"
    journal_since_restart
    if [[ ! -e $prev/kakaobot ]]; then
        say "no previous version to roll back to"
        return 1
    fi
    say "rolling back to the previous version from $prev"
    socket_changed=no
    for f in "${sockets[@]}"; do
        cmp -s "$prev/$f" "$units/$f" 2>/dev/null || socket_changed=yes
    done
    atomic_install "$prev/kakaobot" "$bin" 0755
    for f in "${all_units[@]}"; do
        if [[ -e $prev/$f ]]; then
            atomic_install "$prev/$f" "$units/$f" 0644
        elif [[ -e $units/$f ]]; then
            # A version from before this unit existed: it must not keep a port.
            systemctl disable --now --quiet "$f" 2>/dev/null || true
            rm -f "$units/$f"
        fi
    done
    restart_units "$socket_changed"
    if wait_ready; then
        say "rolled back: the previous version is running and ready"
    else
        say "the previous version is not ready either; its journal lines:"
        journal_since_restart
    fi
    return 1
}

say "installing on $host as root (sudo)"
status=0
# Single quotes on purpose: the id test runs on the host, as the login user.
# shellcheck disable=SC2016
{
    declare -f remote_install
    printf 'remote_install %q %q %q\n' "$remote_dir" "$ready_timeout" "$identifier"
} | remote 'if [ "$(id -u)" -eq 0 ]; then bash -s; else sudo -n bash -s; fi' || status=$?
remote "rm -rf '$remote_dir'" || true

if ((status != 0)); then
    die "deploy to $host failed (exit $status); see the lines above. Logs: ssh $user@$host journalctl -u kakaobot"
fi
say "deployed kakaobot $sha... to $host"
say "register with Kakao: https://$identifier/quiz/skill and https://$identifier/lunch/skill"
say "the certificate: ssh $user@$host journalctl -u kakaobot -g certificate (the first one takes a few seconds; port 80 must be open)"
