# scripts/rig.sh — test rig library; source it from bash (set -euo pipefail):
#   rig_start_ferretdb / rig_stop_ferretdb   FerretDB on 127.0.0.1:<free port>
#       exports RECON_TEST_MONGO_URI RECON_FERRETDB_{PID,PORT,DIR,BIN};
#       does nothing when the caller already set RECON_TEST_MONGO_URI.
#   rig_start_ferretdb_auth / rig_stop_ferretdb_auth
#       a second FerretDB (.build/ferretdb-cli, SQLite, own data/state dirs)
#       that enforces SCRAM authentication (--test-enable-new-auth); user
#       recon_app / good-pass in database admin is created at start-up
#       (--setup-*).  Exports RECON_TEST_MONGO_AUTH_URI, with no credentials:
#       mongodb://127.0.0.1:PORT/?authSource=admin (no authMechanism: libmongoc
#       refuses to parse a URI naming a mechanism but no user name; with the
#       user set later it negotiates SCRAM-SHA-256), RECON_TEST_MONGO_AUTH_USER,
#       RECON_TEST_MONGO_AUTH_PASSWORD and RECON_FERRETDB_AUTH_{PID,PORT,DIR};
#       does nothing when the caller already set RECON_TEST_MONGO_AUTH_URI.
#       A wrong password fails with libmongoc error domain MONGOC_ERROR_CLIENT,
#       code MONGOC_ERROR_CLIENT_AUTHENTICATE, "Authentication failed."; no
#       credentials at all pass `ping` but other commands fail with server
#       code 13 "Command X requires authentication".
#   rig_start_pg / rig_stop_pg               throwaway PostgreSQL 15 cluster
#       exports PGHOST PGPORT PGUSER PGDATABASE=postgres RECON_PGDATA;
#       settings: test/recon.conf + cron.database_name='postgres'; RIG_PRELOAD
#       (if set) overrides its shared_preload_libraries.
#   rig_as_user CMD...      run CMD as the unprivileged user (`recon_rig` when root; not `recon`, which
#                           would put $user tables into the recon schema)
#   rig_free_port           print a free loopback TCP port
#   rig_cleanup             stop everything, remove the temp dir (RIG_KEEP=1
#                           keeps it); installed as the EXIT trap on sourcing.
# PostgreSQL refuses to run as root, so as root the cluster runs as user
# `recon_rig` (created when missing) and the temp dir is owned by it.

RIG_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RIG_PGBIN=/usr/lib/postgresql/15/bin
RIG_USER=$(id -un)
RIG_TMP=
RIG_MONGO_OWNED=
RIG_MONGO_AUTH_OWNED=
RIG_PG_OWNED=
[ "$(id -u)" -ne 0 ] || RIG_USER=recon_rig

rig_log() { echo "rig: $*" >&2; }

rig_as_user() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u "$RIG_USER" -- "$@"; else "$@"; fi
}

# The temp dir (created on first use) and, as root, the `recon_rig` user.
rig_tmp() {
    if [ -z "$RIG_TMP" ]; then
        if [ "$(id -u)" -eq 0 ] && ! id "$RIG_USER" >/dev/null 2>&1; then
            rig_log "creating user $RIG_USER"
            useradd --create-home --shell /bin/bash "$RIG_USER"
        fi
        RIG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/recon-rig.XXXXXX")
        chmod 755 "$RIG_TMP"
        [ "$(id -u)" -ne 0 ] || chown "$RIG_USER": "$RIG_TMP"
    fi
}

rig_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Random port in 20000-44999 (below the ranges pg_regress and the TAP
# cluster module pick from) on which nothing accepts connections.
rig_free_port() {
    local port i
    for i in $(seq 1 100); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 25000))
        rig_port_open "$port" || { echo "$port"; return 0; }
    done
    rig_log "no free port found"; return 1
}

rig_start_ferretdb() {
    if [ -n "${RECON_TEST_MONGO_URI:-}" ]; then
        [ -n "$RIG_MONGO_OWNED" ] || rig_log "using RECON_TEST_MONGO_URI=$RECON_TEST_MONGO_URI"
        return 0
    fi
    local bin=$RIG_ROOT/.build/recon-ferretdb port i
    [ -x "$bin" ] || { rig_log "$bin missing: run scripts/install-deps.sh"; return 1; }
    rig_tmp
    port=$(rig_free_port)
    export RECON_FERRETDB_BIN=$bin RECON_FERRETDB_PORT=$port
    export RECON_FERRETDB_DIR=$RIG_TMP/ferretdb-$port
    mkdir -p "$RECON_FERRETDB_DIR"
    "$bin" -listen "127.0.0.1:$port" -dir "$RECON_FERRETDB_DIR" \
        >"$RECON_FERRETDB_DIR.log" 2>&1 &
    export RECON_FERRETDB_PID=$!
    RIG_MONGO_OWNED=1
    for i in $(seq 1 300); do                       # 30 s
        if rig_port_open "$port"; then
            export RECON_TEST_MONGO_URI=mongodb://127.0.0.1:$port/
            rig_log "FerretDB pid $RECON_FERRETDB_PID at $RECON_TEST_MONGO_URI (log $RECON_FERRETDB_DIR.log)"
            return 0
        fi
        kill -0 "$RECON_FERRETDB_PID" 2>/dev/null || break
        sleep 0.1
    done
    rig_log "FerretDB did not start; log follows"; cat "$RECON_FERRETDB_DIR.log" >&2
    rig_stop_ferretdb; return 1
}

rig_stop_ferretdb() {
    local pid=${RECON_FERRETDB_PID:-} i
    [ -n "$RIG_MONGO_OWNED" ] && [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rig_log "FerretDB pid $pid stopped"
    unset RECON_TEST_MONGO_URI RECON_FERRETDB_PID RECON_FERRETDB_PORT
    RIG_MONGO_OWNED=
}

rig_start_ferretdb_auth() {
    if [ -n "${RECON_TEST_MONGO_AUTH_URI:-}" ]; then
        [ -n "$RIG_MONGO_AUTH_OWNED" ] ||
            rig_log "using RECON_TEST_MONGO_AUTH_URI=$RECON_TEST_MONGO_AUTH_URI"
        return 0
    fi
    local bin=$RIG_ROOT/.build/ferretdb-cli port dir i
    local user=recon_app password=good-pass
    [ -x "$bin" ] || { rig_log "$bin missing: run scripts/install-deps.sh"; return 1; }
    rig_tmp
    port=$(rig_free_port)
    dir=$RIG_TMP/ferretdb-auth-$port
    mkdir -p "$dir/data" "$dir/state"
    export RECON_FERRETDB_AUTH_PORT=$port RECON_FERRETDB_AUTH_DIR=$dir
    # --setup-* creates database admin and the user in it before the listener
    # starts (SCRAM-SHA-1 and SCRAM-SHA-256 credentials); the password goes
    # through the environment, not the command line.
    FERRETDB_SETUP_PASSWORD=$password "$bin" \
        --handler=sqlite --sqlite-url="file:$dir/data/" \
        --listen-addr="127.0.0.1:$port" --state-dir="$dir/state" \
        --telemetry=disable --debug-addr=- --test-enable-new-auth \
        --setup-database=admin --setup-username="$user" --setup-timeout=30s \
        </dev/null >"$dir.log" 2>&1 &
    export RECON_FERRETDB_AUTH_PID=$!
    RIG_MONGO_AUTH_OWNED=1
    for i in $(seq 1 300); do                       # 30 s
        if grep -q 'Listening on TCP' "$dir.log" && rig_port_open "$port"; then
            export RECON_TEST_MONGO_AUTH_URI="mongodb://127.0.0.1:$port/?authSource=admin"
            export RECON_TEST_MONGO_AUTH_USER=$user RECON_TEST_MONGO_AUTH_PASSWORD=$password
            rig_log "FerretDB (auth, user $user) pid $RECON_FERRETDB_AUTH_PID at $RECON_TEST_MONGO_AUTH_URI (log $dir.log)"
            return 0
        fi
        kill -0 "$RECON_FERRETDB_AUTH_PID" 2>/dev/null || break
        sleep 0.1
    done
    rig_log "FerretDB (auth) did not start; log follows"; cat "$dir.log" >&2
    rig_stop_ferretdb_auth; return 1
}

rig_stop_ferretdb_auth() {
    local pid=${RECON_FERRETDB_AUTH_PID:-} i
    [ -n "$RIG_MONGO_AUTH_OWNED" ] && [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rig_log "FerretDB (auth) pid $pid stopped"
    unset RECON_TEST_MONGO_AUTH_URI RECON_TEST_MONGO_AUTH_USER RECON_TEST_MONGO_AUTH_PASSWORD
    unset RECON_FERRETDB_AUTH_PID RECON_FERRETDB_AUTH_PORT
    RIG_MONGO_AUTH_OWNED=
}

rig_start_pg() {
    rig_tmp
    local port sock=$RIG_TMP/pgsock
    port=$(rig_free_port)
    export RECON_PGDATA=$RIG_TMP/pgdata
    RIG_PG_OWNED=1
    rig_as_user mkdir -p "$sock"
    rig_as_user "$RIG_PGBIN/initdb" -D "$RECON_PGDATA" --auth=trust --no-sync \
        -E UTF8 --no-locale >"$RIG_TMP/initdb.log"
    {
        cat "$RIG_ROOT/test/recon.conf"
        [ -z "${RIG_PRELOAD:-}" ] || echo "shared_preload_libraries = '$RIG_PRELOAD'"
        echo "cron.database_name = 'postgres'"
        echo "port = $port"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$sock'"
    } >>"$RECON_PGDATA/postgresql.conf"
    rig_as_user "$RIG_PGBIN/pg_ctl" -D "$RECON_PGDATA" -l "$RIG_TMP/postgresql.log" \
        -w -t 60 start >/dev/null ||
        { rig_log "PostgreSQL did not start; log follows"; cat "$RIG_TMP/postgresql.log" >&2; return 1; }
    export PGHOST=$sock PGPORT=$port PGUSER=$RIG_USER PGDATABASE=postgres
    rig_log "PostgreSQL at $PGHOST port $PGPORT as $PGUSER (log $RIG_TMP/postgresql.log)"
}

rig_stop_pg() {
    [ -n "$RIG_PG_OWNED" ] || return 0
    RIG_PG_OWNED=
    [ -f "$RECON_PGDATA/postmaster.pid" ] || return 0
    rig_as_user "$RIG_PGBIN/pg_ctl" -D "$RECON_PGDATA" -m fast -w stop >/dev/null || true
    rig_log "PostgreSQL stopped"
}

rig_cleanup() {
    rig_stop_pg
    rig_stop_ferretdb
    rig_stop_ferretdb_auth
    if [ -n "$RIG_TMP" ]; then
        if [ "${RIG_KEEP:-}" = 1 ]; then rig_log "kept $RIG_TMP"; else rm -rf "$RIG_TMP"; fi
        RIG_TMP=
    fi
}

trap 'rig_cleanup' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
