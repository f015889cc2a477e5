#!/usr/bin/env bash
# Throwaway PostgreSQL clusters for tests: creates, starts and stops a cluster that lives entirely
# in one directory, listening on a random free port on 127.0.0.1 and on a unix socket in that
# directory. Works as an ordinary user and as root (the cluster then runs as an unprivileged user).
#
#   pg_harness.sh init  DIR   create the cluster (if absent), print its URL; do not start it
#   pg_harness.sh start DIR   create the cluster if absent, start it, print its URL
#   pg_harness.sh stop  DIR   stop the cluster (fast shutdown); no error if it is not running
#   pg_harness.sh url   DIR   print the URL of an existing cluster
#   pg_harness.sh destroy DIR stop the cluster and remove DIR
#
# The URL (stdout, one line) is postgresql://USER@127.0.0.1:PORT/postgres; authentication is
# trust, so use it only for tests. Diagnostics go to stderr; the server log is DIR/postgres.log.
# Environment:
#   PG_DURABLE=1         keep fsync/synchronous_commit/full_page_writes on (benchmarks)
#   INTENTD_PG_BINDIR    PostgreSQL server binaries (else pg_config --bindir, else the newest
#                        /usr/lib/postgresql/*/bin)
#   PG_HARNESS_USER      user the cluster runs as when invoked as root (default postgres)
# Exit status: 0 ok, 1 failure, 2 usage, 77 PostgreSQL server binaries not found (the automake
# and meson "skip" code, so callers can skip cleanly).
set -euo pipefail

die() {
    echo "pg_harness: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 {init|start|stop|url|destroy} DIR" >&2
    exit 2
}

find_bindir() {
    local d
    if [[ -n "${INTENTD_PG_BINDIR:-}" ]]; then
        [[ -x "$INTENTD_PG_BINDIR/initdb" ]] || die "INTENTD_PG_BINDIR=$INTENTD_PG_BINDIR has no initdb"
        echo "$INTENTD_PG_BINDIR"
        return 0
    fi
    if command -v pg_config >/dev/null 2>&1; then
        d=$(pg_config --bindir 2>/dev/null || true)
        if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
            echo "$d"
            return 0
        fi
    fi
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4n | tail -n 1 || true)
    if [[ -n "$d" && -x "$d/initdb" ]]; then
        echo "$d"
        return 0
    fi
    return 1
}

# Runs a command as the cluster owner: ourselves, or PG_HARNESS_USER when we are root.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        setpriv --reuid="$OWNER" --regid="$(id -g "$OWNER")" --init-groups -- "$@"
    else
        "$@"
    fi
}

port_in_use() {
    # bash's /dev/tcp connect succeeds only when something listens there.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Picks from below the kernel's ephemeral port range (or above it when there is no room
# below): a port inside it may be held by any outgoing connection on the machine at the moment
# the server binds, though nothing listens there when it is picked. Under the parallel unit
# tests that happened often enough to move a cluster to another port between init and start,
# away from the URL a test had already been given.
pick_port() {
    local p _ lo=32768 hi=60999 base=20000 span=40000
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    if ((lo - 20000 >= 1000)); then
        span=$((lo - 20000))
    elif ((65535 - hi >= 1000)); then
        base=$((hi + 1))
        span=$((65535 - hi))
    fi
    for _ in $(seq 1 50); do
        p=$((base + (RANDOM * 32768 + RANDOM) % span))
        if ! port_in_use "$p"; then
            echo "$p"
            return 0
        fi
    done
    die "no free TCP port found"
}

print_url() {
    [[ -f "$DIR/port" ]] || die "$DIR is not a pg_harness cluster (run init or start first)"
    echo "postgresql://$OWNER@127.0.0.1:$(cat "$DIR/port")/postgres"
}

do_init() {
    local port sockdir
    if [[ -f "$DIR/data/PG_VERSION" ]]; then
        return 0
    fi
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd -P)
    sockdir="$DIR"
    # A unix socket path is limited to 107 bytes: DIR/.s.PGSQL.NNNNN must fit.
    if ((${#sockdir} > 90)); then
        die "DIR path too long for a unix socket (${#sockdir} > 90 bytes): $DIR"
    fi
    if [[ $(id -u) -eq 0 ]]; then
        chown "$OWNER:" "$DIR"
        chmod 0700 "$DIR"
        as_owner test -w "$DIR" ||
            die "user $OWNER cannot reach $DIR (a parent directory is not searchable by it); use a directory under /tmp"
    fi
    port=$(pick_port)
    as_owner "$BINDIR/initdb" -D "$DIR/data" -A trust -U "$OWNER" -E UTF8 --locale=C.UTF-8 \
        --no-instructions >"$DIR/initdb.log" 2>&1 ||
        { cat "$DIR/initdb.log" >&2; die "initdb failed (log above)"; }
    {
        echo "# pg_harness settings"
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$sockdir'"
        echo "max_connections = 200"
        if [[ "${PG_DURABLE:-0}" != 1 ]]; then
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        fi
    } | as_owner tee -a "$DIR/data/postgresql.conf" >/dev/null
    echo "$port" | as_owner tee "$DIR/port" >/dev/null
}

do_start() {
    do_init
    DIR=$(cd "$DIR" && pwd -P)
    if as_owner "$BINDIR/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
        print_url
        return 0
    fi
    local try port
    for try in 1 2 3 4 5; do
        if as_owner "$BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w -t 60 start \
            >/dev/null; then
            print_url
            return 0
        fi
        # The port was free when picked but something took it since: pick another and retry
        # (the last "port =" line of postgresql.conf wins).
        grep -q 'could not bind\|Address already in use' "$DIR/postgres.log" 2>/dev/null || break
        port=$(pick_port)
        echo "port = $port" | as_owner tee -a "$DIR/data/postgresql.conf" >/dev/null
        echo "$port" | as_owner tee "$DIR/port" >/dev/null
        echo "pg_harness: port taken, retrying on $port (attempt $((try + 1)))" >&2
    done
    tail -n 20 "$DIR/postgres.log" >&2 || true
    die "pg_ctl start failed (log: $DIR/postgres.log)"
}

do_stop() {
    [[ -d "$DIR/data" ]] || return 0
    if as_owner "$BINDIR/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
        as_owner "$BINDIR/pg_ctl" -D "$DIR/data" -m fast -w -t 60 stop >/dev/null ||
            die "pg_ctl stop failed (log: $DIR/postgres.log)"
    fi
}

[[ $# -eq 2 ]] || usage
CMD=$1
DIR=$2
if ! BINDIR=$(find_bindir); then
    echo "pg_harness: PostgreSQL server binaries not found (install postgresql or set INTENTD_PG_BINDIR)" >&2
    exit 77
fi
if [[ $(id -u) -eq 0 ]]; then
    OWNER=${PG_HARNESS_USER:-postgres}
    id "$OWNER" >/dev/null 2>&1 || die "running as root needs an unprivileged user '$OWNER' (set PG_HARNESS_USER)"
else
    OWNER=$(id -un)
fi

case "$CMD" in
init)
    do_init
    DIR=$(cd "$DIR" && pwd -P)
    print_url
    ;;
start) do_start ;;
stop) do_stop ;;
url) print_url ;;
destroy)
    do_stop
    rm -rf -- "$DIR"
    ;;
*) usage ;;
esac
