#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and benchmarks, in a project-local folder.
#
#   scripts/postgres.sh start    install (Debian's postgresql, via apt-get) if missing, initdb,
#                                start on 127.0.0.1 on a free port, create database "deeprecs";
#                                prints the URL and writes it to $DEEPRECS_PG_DIR/url
#   scripts/postgres.sh stop     stop the server (the data folder stays; `clean` removes it)
#   scripts/postgres.sh status   exit 0 and print the URL when running
#   scripts/postgres.sh clean    stop and delete the data folder
#
# Folder: $DEEPRECS_PG_DIR, default /tmp/deeprecs-pg-<uid>-<checksum of this checkout's path>:
# outside the checkout, because as root the server runs as the "postgres" user, who cannot enter a
# checkout inside a private folder (mode 0700, as `mktemp -d` makes); one folder (and server) per
# checkout, so that two checkouts' test runs never stop each other's. Port: $DEEPRECS_PG_PORT or free.
# Use it:  export DEEPRECS_TEST_PG_URL=$(scripts/postgres.sh start)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${DEEPRECS_PG_DIR:-/tmp/deeprecs-pg-$(id -u)-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)}
DATA=$DIR/data
USER_NAME=deeprecs
DB_NAME=deeprecs

log() { echo "postgres.sh: $*" >&2; }

find_bin() {
    local ctl
    ctl=$(command -v pg_ctl 2>/dev/null || true)
    if [[ -z $ctl ]]; then
        ctl=$(ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1 || true)
    fi
    [[ -n $ctl ]] && dirname "$(readlink -f "$ctl")"
}

install() {
    log "PostgreSQL not found; installing Debian's postgresql with apt-get"
    local sudo=""
    [[ $EUID -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
}

# initdb/postgres refuse to run as root: run them as the "postgres" system user then (from /,
# since it may not be able to enter the current folder; every path here is absolute).
as_owner() {
    if [[ $EUID -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

free_port() {
    local py
    py=$(command -v python3 || echo "$ROOT/.venv/bin/python")
    "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

running() { [[ -f $DATA/postmaster.pid ]] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

# The folder, created if missing: a real folder (not a link) of ours (as root: of "postgres", made
# here), which the server's user can enter; a one-line reason and exit 1 otherwise.
prepare_dir() {
    local owner
    owner=$([[ $EUID -eq 0 ]] && echo postgres || id -un)
    if [[ -L $DIR ]] || { [[ -e $DIR ]] && [[ ! -d $DIR ]]; }; then
        log "$DIR is not a folder (a link or a file); remove it or set DEEPRECS_PG_DIR"; exit 1
    fi
    if [[ ! -d $DIR ]]; then
        mkdir -p -m 0700 "$DIR"
        if [[ $EUID -eq 0 ]]; then chown postgres: "$DIR"; fi
    fi
    if [[ $(stat -c %U "$DIR") != "$owner" ]]; then
        log "$DIR belongs to $(stat -c %U "$DIR"), not $owner; remove it or set DEEPRECS_PG_DIR"; exit 1
    fi
    if ! as_owner test -x "$DIR" -a -w "$DIR"; then
        log "the server's user ($owner) cannot enter $DIR (a folder above it is private, mode 0700?); set DEEPRECS_PG_DIR to a folder it can reach"
        exit 1
    fi
}

start() {
    if running && [[ -f $DIR/url ]]; then cat "$DIR/url"; return; fi
    prepare_dir
    if [[ ! -f $DATA/PG_VERSION ]]; then
        log "initialising a cluster in $DATA"
        as_owner "$BIN/initdb" -D "$DATA" -U "$USER_NAME" --auth=trust -E UTF8 --no-sync >/dev/null
    fi
    local port=${DEEPRECS_PG_PORT:-$(free_port)}
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $DIR -c max_wal_size=2GB" >/dev/null
    if ! as_owner "$BIN/psql" -h 127.0.0.1 -p "$port" -U "$USER_NAME" -d postgres -tAc \
            "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
        as_owner "$BIN/createdb" -h 127.0.0.1 -p "$port" -U "$USER_NAME" "$DB_NAME"
    fi
    local url="postgresql://$USER_NAME@127.0.0.1:$port/$DB_NAME"
    echo "$url" > "$DIR/url"
    log "running on 127.0.0.1:$port (log: $DIR/server.log)"
    echo "$url"
}

stop() {
    if running; then as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null; log "stopped"; fi
    rm -f "$DIR/url"
}

BIN=$(find_bin || true)
case ${1:-} in
    start)
        if [[ -z $BIN ]]; then install; BIN=$(find_bin); fi
        start ;;
    stop)   [[ -n $BIN ]] && stop ;;
    status) [[ -n $BIN ]] && running && cat "$DIR/url" ;;
    clean)  [[ -n $BIN ]] && stop; rm -rf "$DIR" ;;
    *) echo "usage: $0 start|stop|status|clean" >&2; exit 2 ;;
esac
