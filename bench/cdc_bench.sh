#!/usr/bin/env bash
# bench/cdc_bench.sh — recon's change worker under pgbench-style updates:
# the highest sustained change rate, the worker's capacity when it drains a
# backlog, a bare libmongoc client doing the same batched _id look-ups
# (bench/bare_lookup.c), their ratio, detection-lag percentiles at half the
# sustained rate, and the worker's CPU per checked key.  bench/CDC.md says
# what each figure means and records measured results.
#
#   bench/cdc_bench.sh
#   BENCH_RATES="50 100 200" BENCH_STEP_SECS=20 bench/cdc_bench.sh
#
# Environment (all optional):
#   BENCH_ROWS         rows in bench_cdc / documents in bench.cdc (default 20000)
#   BENCH_MAPPINGS     mappings the one change worker follows (default 1): with
#                      N > 1 the rows are split into N tables bench_cdc_1..N (ids in
#                      contiguous ranges), N collections bench.cdc_1..N, N mappings
#                      bc_1..N; the load spreads over them by id
#   BENCH_SETTLE_MS    the mapping's settle_ms (default 1000)
#   BENCH_RATES        offered update rates (tps) of the ladder, ascending
#                      (default "25 50 100 200 400 600 800 1000"); the ladder stops
#                      at the first rate that is not sustained
#   BENCH_STEP_SECS    seconds per ladder step (default 30)
#   BENCH_DRAIN_TX     transactions queued while the worker is stopped (default 6000)
#   BENCH_DET_SECS     seconds of the detection-lag run (default 40)
#   BENCH_DET_RATE     offered n-updates per second during that run (default 100)
#   BENCH_DIV_RATE     divergent updates per second in that run (default 10)
#   BENCH_DRAIN_ROUNDS capacity rounds (stop, queue, drain, bare run), best counts (default 3)
#   BENCH_BARE_SECS    seconds per bare_lookup run (default 5)
#   BENCH_FIND_BATCH   cursor batchSize for bare_lookup (default: the one
#                      src/recheck.c sends with the re-check $in query, if any)
#   BENCH_PGSS=0       do not load pg_stat_statements (used to count the
#                      worker's $in queries and to time its SQL statements)
#   BENCH_PERF=1       also `perf record` the worker during the first drain and
#                      print its top symbols
#   BENCH_SKIP_BUILD=1 do not run install-deps / make / make install
#   RIG_KEEP=1         keep the rig's temp dir (see scripts/rig.sh)
# Informational only: the targets print MET/MISSED; the exit status does not
# depend on them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

ROWS=${BENCH_ROWS:-20000}
SETTLE_MS=${BENCH_SETTLE_MS:-1000}
RATES=${BENCH_RATES:-25 50 100 200 400 600 800 1000}
STEP_SECS=${BENCH_STEP_SECS:-30}
DRAIN_TX=${BENCH_DRAIN_TX:-6000}
DET_SECS=${BENCH_DET_SECS:-40}
DET_RATE=${BENCH_DET_RATE:-100}
DIV_RATE=${BENCH_DIV_RATE:-10}
BARE_SECS=${BENCH_BARE_SECS:-5}
USE_PGSS=${BENCH_PGSS:-1}
NMAPS=${BENCH_MAPPINGS:-1}
if [ "$NMAPS" = 1 ]; then
    TABLES=(bench_cdc) COLLS=(bench.cdc) MAPS=(bc)
else
    TABLES=() COLLS=() MAPS=()
    for i in $(seq 1 "$NMAPS"); do TABLES+=("bench_cdc_$i") COLLS+=("bench.cdc_$i") MAPS+=("bc_$i"); done
fi
NS=${COLLS[0]}                  # bare_lookup reads the first collection ...
PER_TABLE=$((ROWS / NMAPS))     # ... whose ids are 1..PER_TABLE
DRAIN_ROUNDS=${BENCH_DRAIN_ROUNDS:-3}
DIV_KEYS=$((DIV_RATE * DET_SECS + 100))          # the detection writer's ids: the last DIV_KEYS
UPD_MAX=$((ROWS - DIV_KEYS))                    # pgbench's n-updates use 1..UPD_MAX
SETTLE_S=$(awk -v s="$SETTLE_MS" 'BEGIN {print s / 1000}')
BOUND_S=$(awk -v s="$SETTLE_S" 'BEGIN {print s + 5}')   # "lag stays bounded": under settle + 5 s
T_START=$(date +%s)

log() { echo "cdc_bench: $*" >&2; }
[ "$ROWS" -gt $((DIV_KEYS * 2)) ] || { log "BENCH_ROWS must be > $((DIV_KEYS * 2))"; exit 2; }
[ "$NMAPS" -ge 1 ] && [ $((ROWS % NMAPS)) = 0 ] || { log "BENCH_MAPPINGS must divide BENCH_ROWS"; exit 2; }

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    scripts/install-deps.sh >&2
    SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    make PG_CONFIG=$PG_CONFIG >&2
    $SUDO make install PG_CONFIG=$PG_CONFIG >&2
fi
make test/mongo_tool PG_CONFIG=$PG_CONFIG >&2
MONGO_TOOL=$ROOT/test/mongo_tool

# shellcheck source=../scripts/rig.sh
source scripts/rig.sh
[ "$USE_PGSS" = 0 ] || export RIG_PRELOAD=${RIG_PRELOAD:-recon,pg_cron,pg_stat_statements}
rig_start_ferretdb
rig_start_pg
rig_tmp
WORK=$RIG_TMP/cdcbench
mkdir -p "$WORK"
chmod 755 "$WORK"

# The cursor batchSize recon's re-check $in query sends (src/recheck.c), so
# that bare_lookup asks for the same; empty: none (the server's default).
# (keyed re-reads: the last number of the batchSize expression, e.g.
# "mode == REREAD_SCAN ? recon_batch_size : 100")
FIND_BATCH=${BENCH_FIND_BATCH:-$(sed -n '/one \$in query/,/find_with_opts/ s/.*"batchSize",[^;]*[^0-9]\([0-9][0-9]*\));.*/\1/p' \
                                     "$ROOT/src/recheck.c" 2>/dev/null | head -1 || true)}

# bare_lookup is built into the rig's temp dir (nothing untracked in bench/)
BARE=$WORK/bare_lookup
# shellcheck disable=SC2046
gcc -O2 -Wall -Werror -o "$BARE" "$ROOT/bench/bare_lookup.c" $(pkg-config --cflags --libs libmongoc-1.0)

PSQL=("$RIG_PGBIN/psql" -X -q -v ON_ERROR_STOP=1)
# pg_stat_statements rows that are not the change worker's own statements
NOT_WORKER="query NOT LIKE 'UPDATE bench_cdc%' AND query NOT LIKE 'WITH k AS%' AND query NOT LIKE '%cdc_status%'
    AND query NOT LIKE '%pg_stat%' AND query NOT LIKE '%pg_current_wal_lsn%' AND query NOT LIKE 'ALTER SYSTEM%'
    AND query NOT LIKE '%pg_reload_conf%' AND query NOT LIKE '%bench_div%' AND query NOT LIKE '%bench_seen%' AND query NOT LIKE '%bench_watch%' AND query NOT LIKE '%bench_flag%' AND query NOT LIKE '%bench_s%' AND query NOT LIKE '%pg_terminate_backend%'
    AND query NOT LIKE 'SHOW%' AND query NOT LIKE 'UPDATE recon.cdc_state SET changes = 0%'"
PGBENCH=$RIG_PGBIN/pgbench
sql() { "${PSQL[@]}" -At -F' ' -c "$1"; }
TICK=$(getconf CLK_TCK)

proc_ticks() {                  # utime+stime of a process, clock ticks (0 if gone)
    local s
    [ -n "${1:-}" ] && [ "$1" != 0 ] && read -r s 2>/dev/null <"/proc/$1/stat" || { echo 0; return; }
    s=${s##*) }
    set -- $s
    echo $((${12} + ${13}))
}

schedstat() {                   # "cpu_ns runqueue_wait_ns" of a process, all its threads
    local f a b c ta=0 tb=0
    for f in /proc/"$1"/task/*/schedstat; do
        read -r a b c 2>/dev/null <"$f" || continue
        ta=$((ta + a)); tb=$((tb + b))
    done
    echo "$ta $tb"
}

# Where a process spends its time, sampled every 20 ms from /proc/PID/wchan
# and its state: "mongo" = in poll() (libmongoc waiting for the server; the
# worker polls nothing else), "latch" = in epoll_wait (WaitLatch: sleeping
# between cycles), "run" = on a CPU or waiting for one, "io" = blocked in
# the kernel elsewhere (WAL/heap reads, fsync).
# wchan_start PID FILE; wchan_stop FILE; wchan_summary FILE UNTIL_EPOCH
wchan_start() {
    rm -f "$2" "$2.stop" "$2.fifo"
    mkfifo "$2.fifo"
    (
        exec 3<>"$2.fifo"           # nobody writes: read -t is a fork-free sleep
        exec 4>"$2"
        while [ ! -e "$2.stop" ] && [ -e "/proc/$1" ]; do
            w=; st=
            read -r w <"/proc/$1/wchan" 2>/dev/null || true
            read -r st <"/proc/$1/stat" 2>/dev/null || true
            st=${st##*) }; st=${st%% *}
            case "$w" in
                poll_schedule_timeout* | do_sys_poll) k=mongo ;;
                do_epoll_wait | ep_poll*) k=latch ;;
                0 | "") if [ "$st" = R ]; then k=run; else k=io; fi ;;
                *) k="io:$w" ;;
            esac
            echo "$EPOCHREALTIME $k" >&4
            read -r -t 0.02 -u 3 _ || true
        done
    ) </dev/null >/dev/null 2>&1 &
    WCHAN_PID=$!
}
wchan_stop() { touch "$1.stop"; wait "$WCHAN_PID" 2>/dev/null || true; rm -f "$1.fifo"; }
wchan_summary() {
    awk -v until="$2" '$1 <= until {
            n++; k = $2; if (k ~ /^io:/) { o[substr(k, 4)]++; k = "io" } c[k]++ }
        END {
            if (!n) { print "?"; exit }
            printf "mongo %d%% latch %d%% run %d%% io %d%%", 100 * c["mongo"] / n, 100 * c["latch"] / n,
                100 * c["run"] / n, 100 * c["io"] / n
            best = ""; for (w in o) if (best == "" || o[w] > o[best]) best = w
            if (best != "") printf " (mostly %s)", best
            printf "\n" }' "$1" 2>/dev/null || echo "?"
}

# ---------------------------------------------------------------------------
# Server settings, extension, data, mapping
# ---------------------------------------------------------------------------
if [ "$(sql "SELECT count(*) FROM pg_settings WHERE name = 'output_plugin_libraries'")" = 1 ]; then
    sql "ALTER SYSTEM SET output_plugin_libraries = pgoutput, test_decoding, recon" >/dev/null
fi
sql "ALTER SYSTEM SET recon.naptime = 1" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
sleep 0.5

"${PSQL[@]}" -v mongo_uri="$RECON_TEST_MONGO_URI" <<SQL
CREATE EXTENSION recon;
CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri :'mongo_uri');
$(for i in "${!TABLES[@]}"; do
    echo "CREATE TABLE ${TABLES[$i]} (id int PRIMARY KEY, v text, n int);"
    echo "INSERT INTO ${TABLES[$i]} SELECT g, 'v' || g, g FROM generate_series($((i * PER_TABLE + 1)), $(((i + 1) * PER_TABLE))) g;"
done)
-- the table of an id (contiguous ranges of PER_TABLE ids)
CREATE FUNCTION bench_table(id int) RETURNS text LANGUAGE sql IMMUTABLE
  AS \$\$ SELECT CASE WHEN $NMAPS = 1 THEN 'bench_cdc' ELSE 'bench_cdc_' || ((id - 1) / $PER_TABLE + 1) END \$\$;
-- the detection-lag writer: one row per divergent update, stamped in its transaction
CREATE TABLE bench_div (id int PRIMARY KEY, committed timestamptz NOT NULL);
CREATE SEQUENCE bench_div_seq MINVALUE $((UPD_MAX + 1)) MAXVALUE $ROWS;
-- one divergent update (of a fresh key, in whichever table holds it), stamped in its transaction
CREATE FUNCTION bench_diverge() RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE k int := nextval('bench_div_seq');
BEGIN
  EXECUTE format('UPDATE %I SET v = %L WHERE id = \$1', bench_table(k), 'diverged-' || md5(random()::text)) USING k;
  INSERT INTO bench_div VALUES (k, clock_timestamp());
END \$\$;
-- when each divergent key became visible in recon.divergences (polled every 0.1 s,
-- committing each round so that no long transaction holds the slot back)
CREATE TABLE bench_seen (id int PRIMARY KEY, seen timestamptz NOT NULL);
CREATE TABLE bench_flag (done bool);
CREATE TABLE bench_samples (tag text, t timestamptz, lag_bytes bigint, lag_s numeric, depth bigint,
                            changes bigint, checks bigint, divs bigint, pid int, retained bigint);
CREATE TABLE bench_stop (tag text);
CREATE PROCEDURE bench_sample(tag text, secs float8, deadline timestamptz) LANGUAGE plpgsql AS \$\$
BEGIN
  LOOP
    INSERT INTO bench_samples
    SELECT tag, clock_timestamp(), coalesce(max(lag_bytes), 0)::bigint, coalesce(max(lag_seconds), 0),
           coalesce(sum(queue_depth), 0), coalesce(sum(changes), 0), coalesce(sum(checks), 0),
           coalesce(sum(divergences), 0),
           coalesce((SELECT pid FROM pg_stat_activity WHERE backend_type = 'recon change worker' LIMIT 1), 0),
           coalesce(max(retained_wal_bytes), 0)::bigint
      FROM recon.cdc_status;
    COMMIT;
    EXIT WHEN clock_timestamp() > deadline OR EXISTS (SELECT FROM bench_stop s WHERE s.tag = bench_sample.tag);
    PERFORM pg_sleep(secs);
  END LOOP;
END \$\$;
CREATE PROCEDURE bench_watch(deadline timestamptz) LANGUAGE plpgsql AS \$\$
BEGIN
  LOOP
    INSERT INTO bench_seen
    SELECT k, clock_timestamp() FROM (
      SELECT (CASE jsonb_typeof(d.key) WHEN 'object' THEN d.key->>'id' WHEN 'array' THEN d.key->>0
                   ELSE d.key #>> '{}' END)::int AS k
        FROM recon.divergences d) x
     WHERE k IN (SELECT id FROM bench_div) ON CONFLICT DO NOTHING;
    COMMIT;
    EXIT WHEN clock_timestamp() > deadline
           OR (EXISTS (SELECT FROM bench_flag)
               AND (SELECT count(*) FROM bench_seen) >= (SELECT count(*) FROM bench_div));
    PERFORM pg_sleep(0.1);
  END LOOP;
END \$\$;
$(for t in "${TABLES[@]}"; do echo "VACUUM ANALYZE $t;"; done)
SQL
[ "$USE_PGSS" = 0 ] || sql "CREATE EXTENSION pg_stat_statements" >/dev/null

for i in "${!TABLES[@]}"; do
    log "loading $PER_TABLE documents into FerretDB (${COLLS[$i]})"
    "$MONGO_TOOL" drop "${COLLS[$i]}"
    sql "SELECT json_build_object('_id', id, 'v', v, 'n', n) FROM ${TABLES[$i]} ORDER BY id" |
        split -l 5000 --filter="\"$MONGO_TOOL\" insert ${COLLS[$i]}"
    count=$("$MONGO_TOOL" count "${COLLS[$i]}")
    [ "$count" -eq "$PER_TABLE" ] || { log "FerretDB holds $count documents in ${COLLS[$i]}, expected $PER_TABLE"; exit 1; }

    sql "SELECT recon.add_mapping('${MAPS[$i]}', 'public.${TABLES[$i]}', 'm', '${COLLS[$i]}',
           options => '{\"settle_ms\": $SETTLE_MS, \"repair\": \"off\", \"exclude\": [\"n\"]}')" >/dev/null
    run=$(sql "SELECT recon.sweep('${MAPS[$i]}')")
    sweep_div=$(sql "SELECT divergences FROM recon.runs WHERE run_id = $run")
    [ "$sweep_div" = 0 ] || { log "the initial sweep of ${MAPS[$i]} found $sweep_div divergences, expected 0"; exit 1; }
    sql "SELECT recon.enable_cdc('${MAPS[$i]}')" >/dev/null 2>&1
done

worker_pid() {
    sql "SELECT coalesce((SELECT pid FROM pg_stat_activity
                          WHERE backend_type = 'recon change worker' LIMIT 1), 0)"
}
wait_worker() {                 # wait_worker: until a change worker runs; prints its pid
    local i pid
    for i in $(seq 1 200); do
        pid=$(worker_pid)
        [ "$pid" = 0 ] || { echo "$pid"; return 0; }
        sleep 0.1
    done
    log "no change worker started"; exit 1
}
WPID=$(wait_worker)
log "change worker pid $WPID; FerretDB pid $RECON_FERRETDB_PID"

# versions and machine
ncpu=$(nproc)
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
pg_version=$(sql "SHOW server_version")
mongoc_version=$(pkg-config --modversion libmongoc-1.0)
batch_size=$(sql "SHOW recon.batch_size")
poll_ms=$(sql "SHOW recon.poll_interval_ms")
recheck_ms=$(sql "SHOW recon.cdc_recheck_ms")
window_ms=$(sql "SHOW recon.cdc_batch_window_ms")
RECHECK_SUM=$(awk -v l="$recheck_ms" 'BEGIN {n = split(l, a, /[ ,]+/); for (i = 1; i <= n; i++) s += a[i]; print s + 0}')
git_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
git -C "$ROOT" diff --quiet HEAD -- src sql 2>/dev/null || git_rev="$git_rev+uncommitted changes in src/ or sql/"

# Other heavy processes on the machine (another benchmark's FerretDB ...):
# anything but our FerretDB and our PostgreSQL using > 20% of a core over 2 s.
PG_POSTMASTER=$(head -1 "$RECON_PGDATA/postmaster.pid")
proc_snapshot() {               # "pid ppid ticks comm" of every process
    cat /proc/[0-9]*/stat 2>/dev/null | awk '{
        o = index($0, "("); c = index($0, ") ")
        split(substr($0, c + 2), f, " ")
        print $1, f[2], f[12] + f[13], substr($0, o + 1, c - o - 1) }' || true
}
foreign_load() {
    local a b
    a=$(proc_snapshot); sleep 2; b=$(proc_snapshot)
    awk -v me="$RECON_FERRETDB_PID" -v pm="$PG_POSTMASTER" -v tick="$TICK" -v self="$$" '
        NR == FNR { t[$1] = $3; next }
        ($1 in t) && $1 != me && $1 != pm && $2 != pm && $1 != self {
            pct = 100 * ($3 - t[$1]) / tick / 2
            if (pct > 20) { printf "%s%s (pid %s, %.0f%% of a core)", sep, $4, $1, pct; sep = ", " } }' \
        <(echo "$a") <(echo "$b")
}
FOREIGN_AT_START=$(foreign_load)
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
[ -z "$FOREIGN_AT_START" ] || log "other busy processes on this machine: $FOREIGN_AT_START — figures will be noisy"

# ---------------------------------------------------------------------------
# Sampling recon.cdc_status
# ---------------------------------------------------------------------------
STATUS_SQL="SELECT round(extract(epoch FROM clock_timestamp())::numeric, 3),
       coalesce(max(lag_bytes), 0)::bigint, coalesce(max(lag_seconds), 0), coalesce(sum(queue_depth), 0),
       coalesce(sum(changes), 0), coalesce(sum(checks), 0), coalesce(sum(divergences), 0),
       coalesce((SELECT pid FROM pg_stat_activity WHERE backend_type = 'recon change worker' LIMIT 1), 0)
  FROM recon.cdc_status"

# The sampler runs inside the server (procedure bench_sample, one backend,
# committing each sample) rather than as a psql per sample: on a small
# machine, starting a process and a backend every second takes CPU that
# FerretDB and the worker would otherwise have.
# sampler_start FILE INTERVAL ... sampler_stop FILE: FILE gets lines
# "epoch lag_bytes lag_s queue changes checks divs worker_pid".
sampler_start() {
    local tag
    tag=$(basename "$1")
    rm -f "$1"
    "${PSQL[@]}" -c "CALL bench_sample('$tag', $2, clock_timestamp() + interval '20 minutes')" \
        </dev/null >"$1.log" 2>&1 &
    SAMPLER_PID=$!
}
sampler_stop() {
    local tag
    tag=$(basename "$1")
    sql "INSERT INTO bench_stop VALUES ('$tag')" >/dev/null
    wait "$SAMPLER_PID" 2>/dev/null || { log "sampler $tag failed:"; cat "$1.log" >&2; }
    sql "SELECT round(extract(epoch FROM t)::numeric, 3), lag_bytes, lag_s, depth, changes, checks, divs, pid, retained
           FROM bench_samples WHERE tag = '$tag' ORDER BY t" >"$1"
}

status() { sql "$STATUS_SQL"; }         # one sample, same columns (no ticks)

# wait_caught_up LSN TIMEOUT_S [POLL_S]: until the slot is confirmed past LSN
# and the queue is empty; prints the seconds it took (or "timeout").
wait_caught_up() {
    local lsn=$1 limit=$2 poll=${3:-0.2} t0 ok
    t0=$EPOCHREALTIME
    while :; do
        ok=$(sql "SELECT bool_and(confirmed_flush_lsn >= '$lsn'::pg_lsn) AND sum(queue_depth) = 0
                    FROM recon.cdc_status")
        [ "$ok" = t ] && { awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}'; return; }
        if awk -v a="$t0" -v b="$EPOCHREALTIME" -v l="$limit" 'BEGIN {exit !(b - a > l)}'; then
            echo timeout; return
        fi
        sleep "$poll"
    done
}

# $in queries the worker has sent: one "UPDATE recon.runs SET candidates ..."
# per checked batch (pg_stat_statements); -1 without pg_stat_statements.
batches() {
    [ "$USE_PGSS" != 0 ] || { echo -1; return; }
    sql "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
          WHERE query LIKE 'UPDATE recon.runs SET candidates%'"
}

if [ "$NMAPS" = 1 ]; then
    cat >"$WORK/upd.sql" <<'EOF'
\set id random(1, :upd_max)
UPDATE bench_cdc SET n = n + 1 WHERE id = :id;
EOF
else
    # the table of the id (pgbench substitutes :t into the statement's text)
    cat >"$WORK/upd.sql" <<EOF
\\set id random(1, :upd_max)
\\set t (:id - 1) / $PER_TABLE + 1
UPDATE bench_cdc_:t SET n = n + 1 WHERE id = :id;
EOF
fi
cat >"$WORK/div.sql" <<'EOF'
SELECT bench_diverge();
EOF
chmod 644 "$WORK"/*.sql

# pgbench_run OUT ARGS...: runs pgbench, leaves its output in OUT
pgbench_run() {
    local out=$1
    shift
    "$PGBENCH" -n -D upd_max="$UPD_MAX" "$@" >"$out" 2>&1 || { log "pgbench failed:"; cat "$out" >&2; exit 1; }
}
pgbench_tx() { sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$1"; }
pgbench_tps() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$1" | head -1; }
pgbench_sched_lag() { sed -n 's/^rate limit schedule lag: avg \([0-9.]*\) (max \([0-9.]*\)) ms/\1 \2/p' "$1"; }

# ---------------------------------------------------------------------------
# 0. Idle cost: the worker with nothing to do
# ---------------------------------------------------------------------------
sleep 2
i0=$(proc_ticks "$WPID"); t0=$EPOCHREALTIME
sleep 10
i1=$(proc_ticks "$WPID"); t1=$EPOCHREALTIME
IDLE_CPU_PCT=$(awk -v a="$i0" -v b="$i1" -v t="$TICK" -v s="$t0" -v e="$t1" 'BEGIN {printf "%.2f", 100 * (b - a) / t / (e - s)}')
log "idle worker: ${IDLE_CPU_PCT}% of a core"

# ---------------------------------------------------------------------------
# 1. Sustained change rate: a ladder of offered rates
# ---------------------------------------------------------------------------
[ "$USE_PGSS" = 0 ] || sql "SELECT pg_stat_statements_reset()" >/dev/null
LADDER=()                       # result lines for the table
MAX_OK_RATE=0 MAX_OK_CHECKS=0 MAX_OK_BATCH=0 MAX_OK_CPU=0 MAX_OK_TPS=0
FIRST_FAIL= PGBENCH_LIMITED=
for rate in $RATES; do
    samples=$WORK/step-$rate.samples
    read -r _ _ _ _ c0 k0 _ _ <<<"$(status)"
    b0=$(batches); w0=$(proc_ticks "$WPID"); f0=$(proc_ticks "$RECON_FERRETDB_PID")
    sampler_start "$samples" 1
    ts0=$EPOCHREALTIME
    pgbench_run "$WORK/step-$rate.out" -f "$WORK/upd.sql" -R "$rate" -T "$STEP_SECS" -c 2 -j 1
    ts1=$EPOCHREALTIME
    lsn_end=$(sql "SELECT pg_current_wal_lsn()")
    read -r _ _ _ _ c1 k1 _ _ <<<"$(status)"
    catch_up=$(wait_caught_up "$lsn_end" 120 0.5)
    sampler_stop "$samples"
    read -r _ _ _ _ c2 k2 _ _ <<<"$(status)"
    b2=$(batches); w2=$(proc_ticks "$WPID"); f2=$(proc_ticks "$RECON_FERRETDB_PID")
    tx=$(pgbench_tx "$WORK/step-$rate.out"); tps=$(pgbench_tps "$WORK/step-$rate.out")
    read -r slag_avg slag_max <<<"$(pgbench_sched_lag "$WORK/step-$rate.out")"
    # the second half of the step: worst oldest-key age, queue depth at its
    # end and its growth (least-squares slope, keys/s), worst WAL lag
    # and how much the oldest key's age grew from the first third of the
    # step (after 3 s of warm-up) to the last third
    read -r max_lag q_end q_slope max_lb lag_growth <<<"$(awk -v s="$ts0" -v e="$ts1" '
        $1 >= s + (e - s) / 2 && $1 <= e {
            if ($3 > ml) ml = $3; if ($2 > mb) mb = $2
            n++; x = $1 - s; sx += x; sy += $4; sxx += x * x; sxy += x * $4; qe = $4 }
        { w = (e - s - 3) / 3
          if ($1 >= s + 3 && $1 < s + 3 + w) { f += $3; nf++ }
          if ($1 > e - w && $1 <= e) { l += $3; nl++ } }
        END { d = n * sxx - sx * sx; slope = (n > 2 && d > 0) ? (n * sxy - sx * sy) / d : 0
              g = (nf && nl) ? l / nl - f / nf : 0
              printf "%s %s %.1f %s %.2f\n", ml + 0, qe + 0, slope, mb + 0, g }' "$samples")"
    secs=$(awk -v a="$ts0" -v b="$ts1" 'BEGIN {printf "%.1f", b - a}')
    checks_step=$((k1 - k0)); checks_all=$((k2 - k0))
    checks_ps=$(awk -v k="$checks_step" -v s="$secs" 'BEGIN {printf "%.0f", k / s}')
    if [ "$b0" -ge 0 ] && [ $((b2 - b0)) -gt 0 ]; then
        avg_batch=$(awk -v k="$checks_all" -v b="$((b2 - b0))" 'BEGIN {printf "%.1f", k / b}')
    else
        avg_batch=?
    fi
    cpu_us=$(awk -v a="$w0" -v b="$w2" -v t="$TICK" -v k="$checks_all" 'BEGIN {printf "%.0f", k ? (b - a) / t * 1e6 / k : 0}')
    cycle_ms=$(awk -v s="$ts0" -v e="$EPOCHREALTIME" -v b="$((b2 - b0))" 'BEGIN {if (b > 0) printf "%.0f", (e - s) * 1000 / b; else print "?"}')
    wcpu_pct=$(awk -v a="$w0" -v b="$w2" -v t="$TICK" -v s="$ts0" -v e="$EPOCHREALTIME" 'BEGIN {printf "%.0f", 100 * (b - a) / t / (e - s)}')
    fcpu_pct=$(awk -v a="$f0" -v b="$f2" -v t="$TICK" -v s="$ts0" -v e="$EPOCHREALTIME" 'BEGIN {printf "%.0f", 100 * (b - a) / t / (e - s)}')
    # sustained: over the second half of the step the oldest queued key
    # stayed younger than settle + 5 s (this covers decoding too: a key is
    # queued with its commit time), its age grew by less than 1 s from the
    # first third of the step to the last, and the queue grew by less than
    # 25% of the rate (keys/s; the queue saw-tooths with the worker's
    # cycles, so the sampled slope is rough); catch-up is reported, not judged
    verdict=$(awk -v tps="$tps" -v r="$rate" -v ml="$max_lag" -v qs="$q_slope" -v lg="$lag_growth" \
                  -v cu="$catch_up" -v b="$BOUND_S" 'BEGIN {
        if (cu == "timeout" || ml >= b || qs > 0.25 * r) { print "NOT-sustained"; exit }
        if (lg > 1.0) { print "NOT-sustained(lag-growing)"; exit }
        if (tps < 0.9 * r) { print "sustained(pgbench-limited)"; exit }
        print "sustained" }')
    line=$(printf "%6s %8.1f %8s %7s %7s %7s %8s %6s %7s %7s %9s %9s %8s %6s %6s  %s" \
        "$rate" "$tps" "$((c1 - c0))" "$checks_ps" "$avg_batch" "$cycle_ms" "$max_lag" "$lag_growth" "$q_end" "$q_slope" \
        "$((max_lb / 1024))" "$catch_up" "$cpu_us" "$wcpu_pct" "$fcpu_pct" "$verdict")
    LADDER+=("$line")
    log "step $rate tps: pgbench $tps tps ($tx tx, schedule lag avg ${slag_avg:-?} max ${slag_max:-?} ms);" \
        "decoded $((c1 - c0)) changes, $checks_step checks ($checks_ps/s) during the step, $checks_all incl. catch-up;" \
        "avg batch $avg_batch; worst lag_seconds $max_lag (grew ${lag_growth}s over the step), queue at end $q_end growing $q_slope keys/s, worst lag_bytes $max_lb;" \
        "caught up ${catch_up}s after the writer stopped; worker ${cpu_us} µs CPU per check (${wcpu_pct}% of a core)," \
        "FerretDB ${fcpu_pct}% => $verdict"
    if [ "$verdict" = sustained ]; then
        LADDER_RETAINED=$(awk -v m="${LADDER_RETAINED:-0}" '$9 > m {m = $9} END {print m + 0}' "$samples")
    MAX_OK_RATE=$rate MAX_OK_CHECKS=$checks_ps MAX_OK_BATCH=$avg_batch MAX_OK_CPU=$cpu_us MAX_OK_TPS=$tps
    elif [ "$verdict" = "sustained(pgbench-limited)" ]; then
        # pgbench could not offer more on this machine: what it delivered was sustained
        MAX_OK_RATE=$(awk -v t="$tps" 'BEGIN {printf "%d", t}') MAX_OK_CHECKS=$checks_ps MAX_OK_BATCH=$avg_batch
        MAX_OK_CPU=$cpu_us MAX_OK_TPS=$tps PGBENCH_LIMITED=1
        break
    else
        FIRST_FAIL=$rate
        break
    fi
done
PGSS_LADDER=
if [ "$USE_PGSS" != 0 ]; then
    PGSS_LADDER=$(sql "SELECT lpad(calls::text, 8) || lpad(round(total_exec_time)::text, 9) || ' ms'
                              || lpad(round(mean_exec_time::numeric, 2)::text, 9) || ' ms  '
                              || left(regexp_replace(query, '\s+', ' ', 'g'), 90)
                         FROM pg_stat_statements
                        WHERE $NOT_WORKER
                        ORDER BY total_exec_time DESC LIMIT 10")
fi

# ---------------------------------------------------------------------------
# 2. Detection lag at a fixed offered load (BENCH_DET_RATE n-updates/s)
# ---------------------------------------------------------------------------
HALF=$DET_RATE
DIV_SECS=$((DET_SECS - 10)); [ "$DIV_SECS" -ge 5 ] || DIV_SECS=5
log "detection lag: n-updates at $HALF tps for ${DET_SECS}s, divergent v-updates at $DIV_RATE tps for ${DIV_SECS}s"
sampler_start "$WORK/detect.samples" 1
det_b0=$(batches); det_t0=$EPOCHREALTIME
"${PSQL[@]}" -c "CALL bench_watch(clock_timestamp() + interval '$((DET_SECS + 60)) seconds')" \
    >"$WORK/detect-watch.out" 2>&1 &
WATCH_PID=$!
"$PGBENCH" -n -D upd_max="$UPD_MAX" -f "$WORK/upd.sql" -R "$HALF" -T "$DET_SECS" -c 2 -j 1 \
    >"$WORK/detect-upd.out" 2>&1 &
UPD_PID=$!
sleep 5
pgbench_run "$WORK/detect-div.out" -f "$WORK/div.sql" -R "$DIV_RATE" -T "$DIV_SECS" -c 1 -j 1
wait "$UPD_PID" || { log "pgbench (n-updates) failed:"; cat "$WORK/detect-upd.out" >&2; exit 1; }
sql "INSERT INTO bench_flag VALUES (true)" >/dev/null
wait "$WATCH_PID" || { log "the divergence watcher failed:"; cat "$WORK/detect-watch.out" >&2; exit 1; }
NDIV=$(sql "SELECT count(*) FROM bench_div")
KEYSQL="CASE jsonb_typeof(d.key) WHEN 'object' THEN d.key->>'id' WHEN 'array' THEN d.key->>0 ELSE d.key #>> '{}' END"
sampler_stop "$WORK/detect.samples"
det_b1=$(batches); det_t1=$EPOCHREALTIME
DET_CYCLE=$(awk -v s="$det_t0" -v e="$det_t1" -v b="$((det_b1 - det_b0))" 'BEGIN {if (b > 0) printf "%.0f", (e - s) * 1000 / b; else print "?"}')
DET=$(sql "WITH l AS (SELECT extract(epoch FROM min(d.first_seen) - b.committed) * 1000 AS ms
                       FROM bench_div b JOIN recon.divergences d ON ($KEYSQL)::int = b.id GROUP BY b.id, b.committed)
           SELECT count(*), round(min(ms)), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric),
                  round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)::numeric),
                  round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric), round(max(ms))
             FROM l")
read -r DET_N DET_MIN DET_P50 DET_P90 DET_P99 DET_MAX <<<"$DET"
# visible: when a reader could first see the divergence (the recording
# transaction commits after the final MongoDB read; first_seen is its start)
VIS=$(sql "WITH l AS (SELECT extract(epoch FROM s.seen - b.committed) * 1000 AS ms
                       FROM bench_div b JOIN bench_seen s USING (id))
           SELECT count(*), round(min(ms)), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric),
                  round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)::numeric),
                  round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric), round(max(ms))
             FROM l")
read -r VIS_N VIS_MIN VIS_P50 VIS_P90 VIS_P99 VIS_MAX <<<"$VIS"
DET_UPD_TPS=$(pgbench_tps "$WORK/detect-upd.out")
DET_DIV_TPS=$(pgbench_tps "$WORK/detect-div.out")
DET_WORST_LAG=$(awk '$3 > m {m = $3} END {print m + 0}' "$WORK/detect.samples")
DET_RETAINED=$(awk '$9 > m {m = $9} END {print m + 0}' "$WORK/detect.samples")
# the detection run's own batch shape: checks during it / $in queries during it
DET_CHECKS=$(awk 'NR == 1 {a = $6} {b = $6} END {print b - a}' "$WORK/detect.samples")
K_DET=$(awk -v k="$DET_CHECKS" -v b="$((det_b1 - det_b0))" 'BEGIN {if (b > 0 && k > 0) printf "%d", k / b + 0.5; else print 1}')
FLOOR_MS=$((SETTLE_MS + RECHECK_SUM))
log "detection: $DET_N of $NDIV divergent keys recorded; lag ms min $DET_MIN p50 $DET_P50 p90 $DET_P90 p99 $DET_P99 max $DET_MAX;" \
    "visible to readers: min $VIS_MIN p50 $VIS_P50 p90 $VIS_P90 p99 $VIS_P99 max $VIS_MAX"

# ---------------------------------------------------------------------------
# 3. Worker capacity: stop it, queue a backlog in the slot, time the drain;
#    then the bare client at the batch size the worker used.  DRAIN_ROUNDS
#    rounds, the best of each side counts (the machine may be shared).
# ---------------------------------------------------------------------------
# (first: do the worker's table statistics reach pg_stat while it lives?)
STAT_ALIVE=$(sql "SELECT coalesce(n_tup_ins, 0) || ' ' || coalesce(n_tup_del, 0) || ' ' || coalesce(n_dead_tup, 0)
                    FROM pg_stat_user_tables WHERE relid = 'recon.cdc_queue'::regclass")
CHANGES_ALIVE=$(sql "SELECT sum(changes) FROM recon.cdc_status")
STAT_EXITED=

bare() {                        # bare K [-c] -> "keys_per_s ms_per_query cpu_us_per_key ferret_us_per_key"
    local k=$1 out fa fb kps mpq cpk keys
    shift
    fa=$(proc_ticks "$RECON_FERRETDB_PID")
    out=$("$BARE" -k "$k" ${FIND_BATCH:+-b "$FIND_BATCH"} -m 1 -n "$((UPD_MAX < PER_TABLE ? UPD_MAX : PER_TABLE))" -s "$BARE_SECS" -r "$RANDOM" "$@" "$NS")
    fb=$(proc_ticks "$RECON_FERRETDB_PID")
    log "bare_lookup K=$k: $out"
    kps=$(sed -n 's/.*keys_per_s=\([0-9]*\).*/\1/p' <<<"$out")
    mpq=$(sed -n 's/.*ms_per_query=\([0-9.]*\).*/\1/p' <<<"$out")
    cpk=$(sed -n 's/.*cpu_us_per_key=\([0-9.]*\).*/\1/p' <<<"$out")
    keys=$(sed -n 's/.* keys=\([0-9]*\).*/\1/p' <<<"$out")
    echo "$kps $mpq $cpk $(awk -v a="$fa" -v b="$fb" -v t="$TICK" -v k="$keys" 'BEGIN {printf "%.0f", (b - a) / t * 1e6 / k}')"
}

D_RATE=0 BD_KPS=0 DRAIN_LINES=() WHERE_LINES=() ROUND_RATIOS=() MONGO_SHARES=() PGSS_DRAIN= PERF_TOP= PERF_DSO=
for round in $(seq 1 "$DRAIN_ROUNDS"); do
    log "capacity round $round: stopping the worker"
    sql "ALTER SYSTEM SET recon.databases = 'none_such'" >/dev/null
    sql "SELECT pg_reload_conf()" >/dev/null
    sleep 0.5
    sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'recon change worker'" >/dev/null
    for _ in $(seq 1 100); do [ "$(worker_pid)" = 0 ] && break; sleep 0.1; done
    [ "$(worker_pid)" = 0 ] || { log "the change worker did not stop"; exit 1; }
    sleep 1
    [ -n "$STAT_EXITED" ] ||
        STAT_EXITED=$(sql "SELECT coalesce(n_tup_ins, 0) || ' ' || coalesce(n_tup_del, 0) || ' ' || coalesce(n_dead_tup, 0)
                             FROM pg_stat_user_tables WHERE relid = 'recon.cdc_queue'::regclass")
    log "capacity round $round: queueing $DRAIN_TX transactions in the slot"
    pgbench_run "$WORK/drain-fill-$round.out" -f "$WORK/upd.sql" -t $((DRAIN_TX / 2)) -c 2 -j 1
    lsn_fill=$(sql "SELECT pg_current_wal_lsn()")
    backlog_bytes=$(sql "SELECT pg_wal_lsn_diff('$lsn_fill', confirmed_flush_lsn)::bigint FROM recon.cdc_status")
    [ "$USE_PGSS" = 0 ] || sql "SELECT pg_stat_statements_reset()" >/dev/null
    # counters from zero, so that the samples show only the drain (a new
    # worker process resets them itself when it starts a new CDC run)
    sql "UPDATE recon.cdc_state SET changes = 0, checks = 0" >/dev/null
    f0=$(proc_ticks "$RECON_FERRETDB_PID")
    sampler_start "$WORK/drain-$round.samples" 1
    sql "ALTER SYSTEM RESET recon.databases" >/dev/null
    sql "SELECT pg_reload_conf()" >/dev/null
    DPID=$(wait_worker)
    d_w0=$(proc_ticks "$DPID")
    read -r ws0_cpu ws0_wait <<<"$(schedstat "$DPID")"
    read -r fs0_cpu fs0_wait <<<"$(schedstat "$RECON_FERRETDB_PID")"
    wchan_start "$DPID" "$WORK/drain-$round.wchan"
    PERF_PID=
    if [ "${BENCH_PERF:-}" = 1 ] && [ "$round" = 1 ]; then
        perf record -F 999 -g -o "$WORK/drain.perf" -p "$DPID" </dev/null >"$WORK/perf.log" 2>&1 &
        PERF_PID=$!
    fi
    # (slow polling: the drain is timed by the server, and every psql started
    # here costs CPU that FerretDB would otherwise have)
    drain_secs=$(wait_caught_up "$lsn_fill" 300 1)
    d_w1=$(proc_ticks "$DPID"); f1=$(proc_ticks "$RECON_FERRETDB_PID")
    read -r ws1_cpu ws1_wait <<<"$(schedstat "$DPID")"
    read -r fs1_cpu fs1_wait <<<"$(schedstat "$RECON_FERRETDB_PID")"
    wchan_stop "$WORK/drain-$round.wchan"
    if [ -n "$PERF_PID" ]; then
        kill -INT "$PERF_PID" 2>/dev/null || true
        wait "$PERF_PID" 2>/dev/null || true
        PERF_TOP=$(perf report -i "$WORK/drain.perf" --no-children --sort dso,symbol --percent-limit 1 \
                       --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -30 || true)
        PERF_DSO=$(perf report -i "$WORK/drain.perf" --no-children --sort dso --stdio 2>/dev/null |
                       grep -E '^ +[0-9.]+%' | head -12 || true)
    fi
    lsn_done=$(sql "SELECT pg_current_wal_lsn()")
    sampler_stop "$WORK/drain-$round.samples"
    [ "$drain_secs" != timeout ] || log "capacity round $round: the drain did not finish in 300 s"
    read -r _ _ _ _ r_changes r_checks _ _ <<<"$(status)"
    r_batches=$(batches)
    # the drain, timed by the server: from the worker's start (backend_start)
    # to the end of its last check (cdc_state.last_check_at)
    r_secs=$(sql "SELECT round(extract(epoch FROM max(s.last_check_at) - min(a.backend_start))::numeric, 2)
                    FROM recon.cdc_state s, pg_stat_activity a WHERE a.pid = $DPID")
    r_rate=$(awk -v k="$r_checks" -v s="$r_secs" 'BEGIN {printf "%.0f", k / s}')
    r_where=$(wchan_summary "$WORK/drain-$round.wchan" \
                  "$(sql "SELECT extract(epoch FROM max(last_check_at)) FROM recon.cdc_state")")
    r_cpu_us=$(awk -v a="$d_w0" -v b="$d_w1" -v t="$TICK" -v k="$r_checks" 'BEGIN {printf "%.0f", (b - a) / t * 1e6 / k}')
    r_wcpu=$(awk -v a="$d_w0" -v b="$d_w1" -v t="$TICK" -v s="$r_secs" 'BEGIN {printf "%.0f", 100 * (b - a) / t / s}')
    r_fcpu_us=$(awk -v a="$f0" -v b="$f1" -v t="$TICK" -v k="$r_checks" 'BEGIN {printf "%.0f", (b - a) / t * 1e6 / k}')
    r_wal=$(sql "SELECT round(pg_wal_lsn_diff('$lsn_done', '$lsn_fill') / $r_checks)")
    r_batch=$batch_size
    [ "$r_batches" -le 0 ] || r_batch=$(awk -v k="$r_checks" -v b="$r_batches" 'BEGIN {printf "%.0f", k / b}')
    r_cycle=$(awk -v s="$r_secs" -v b="$r_batches" 'BEGIN {if (b > 0) printf "%.0f", s * 1000 / b; else print "?"}')
    r_sql_ms=?
    if [ "$USE_PGSS" != 0 ]; then
        r_sql_ms=$(sql "SELECT round(sum(total_exec_time)) FROM pg_stat_statements WHERE $NOT_WORKER")
        PGSS_DRAIN=$(sql "SELECT lpad(calls::text, 8) || lpad(round(total_exec_time)::text, 9) || ' ms'
                                 || lpad(round(mean_exec_time::numeric, 2)::text, 9) || ' ms  '
                                 || left(regexp_replace(query, '\s+', ' ', 'g'), 90)
                            FROM pg_stat_statements WHERE $NOT_WORKER
                           ORDER BY total_exec_time DESC LIMIT 10")
    fi
    # CPU contention: time the worker and FerretDB's threads spent runnable
    # but waiting for a CPU (schedstat), per second of drain
    r_wq=$(awk -v a="$ws0_wait" -v b="$ws1_wait" -v s="$r_secs" 'BEGIN {printf "%.0f", (b - a) / 1e7 / s}')
    r_fq=$(awk -v a="$fs0_wait" -v b="$fs1_wait" -v s="$r_secs" 'BEGIN {printf "%.0f", (b - a) / 1e7 / s}')
    r_sql_batch=$(awk -v m="$r_sql_ms" -v b="$r_batches" 'BEGIN {if (b > 0 && m != "?") printf "%.0f", m / b; else print "?"}')
    log "capacity round $round: $r_checks checks of $r_changes queued changes (backlog $backlog_bytes WAL bytes)" \
        "in ${r_secs}s = $r_rate checks/s; $r_batches batches, avg $r_batch keys, ${r_cycle} ms per batch" \
        "(SQL $r_sql_batch ms of it); worker ${r_cpu_us} µs CPU per check (${r_wcpu}% of a core)," \
        "FerretDB ${r_fcpu_us} µs per check; worker wrote $r_wal WAL bytes per check;" \
        "worker time (% of samples): $r_where; run-queue wait: worker ${r_wq}%, FerretDB threads ${r_fq}% (of the drain)"
    fq0=$(schedstat "$RECON_FERRETDB_PID"); bt0=$EPOCHREALTIME
    read -r b_kps b_mpq b_cpk b_fpk <<<"$(bare "$r_batch")"
    fq1=$(schedstat "$RECON_FERRETDB_PID"); bt1=$EPOCHREALTIME
    b_fq=$(awk -v a="${fq0#* }" -v b="${fq1#* }" -v s0="$bt0" -v s1="$bt1" 'BEGIN {printf "%.0f", (b - a) / 1e7 / (s1 - s0)}')
    WHERE_LINES+=("$(printf "  round %s: worker %s; run-queue wait (%% of wall): worker %s%%, FerretDB threads %s%% during the drain, %s%% during bare_lookup" \
        "$round" "$r_where" "$r_wq" "$r_fq" "$b_fq")")
    r_ratio=$(awk -v a="$r_rate" -v b="$b_kps" 'BEGIN {printf "%.2f", a / b}')
    r_over=$(awk -v a="$r_cycle" -v b="$b_mpq" 'BEGIN {printf "%.0f", a - b}')
    ROUND_RATIOS+=("$r_ratio")
    DRAIN_LINES+=("$(printf "%5s %7s %7s %7s %5s %7s %7s %7s %7s  %7s %6s %7s %7s %6s  %6s" "$round" "$r_checks" "$r_secs" \
        "$r_rate" "$r_batch" "$r_cycle" "$r_sql_batch" "$b_mpq" "$r_over" "$r_cpu_us" "$r_wcpu" "$r_fcpu_us" "$b_fpk" \
        "$r_wal" "$r_ratio")")
    r_mongo=$(sed -n 's/^mongo \([0-9]*\)%.*/\1/p' <<<"$r_where")
    MONGO_SHARES+=("${r_mongo:-0}")
    if [ "$r_rate" -gt "$D_RATE" ]; then
        D_RATE=$r_rate D_BATCH=$r_batch D_CPU_US=$r_cpu_us D_FCPU_US=$r_fcpu_us D_CYCLE=$r_cycle
    fi
    if [ "$b_kps" -gt "$BD_KPS" ]; then
        BD_KPS=$b_kps BD_MPQ=$b_mpq BD_CPK=$b_cpk BD_FPK=$b_fpk BD_K=$r_batch
    fi
done
# the same look-ups with a new client per query (what the worker does, see CDC.md)
read -r BC_KPS BC_MPQ _ _ <<<"$(bare "$BD_K" -c)"

# ---------------------------------------------------------------------------
# 4. Bare look-ups at the steady-state batch size and a few others
# ---------------------------------------------------------------------------
K_STEADY=$(awk -v b="$MAX_OK_BATCH" 'BEGIN {k = int(b + 0.5); if (k < 1) k = 1; print k}')
read -r _ DET_BARE_MPQ _ _ <<<"$(bare "$K_DET")"
read -r BS_KPS BS_MPQ BS_CPK BS_FPK <<<"$(bare "$K_STEADY")"
BARE_EXTRA=()
for k in 1 100; do
    [ "$k" != "$K_STEADY" ] || continue
    read -r kps mpq cpk fpk <<<"$(bare "$k")"
    BARE_EXTRA+=("$(printf "  K=%-5s %8s keys/s  %8s ms/query  client %6s µs/key  FerretDB %8s µs/key" "$k" "$kps" "$mpq" "$cpk" "$fpk")")
done

RATIO_CAP=$(awk -v a="$D_RATE" -v b="$BD_KPS" 'BEGIN {printf "%.2f", a / b}')
RATIO_MEDIAN=$(printf '%s\n' "${ROUND_RATIOS[@]}" | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
MONGO_MEDIAN=$(printf '%s\n' "${MONGO_SHARES[@]}" | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
RATIO_FCPU=$(awk -v a="$D_FCPU_US" -v b="$BD_FPK" 'BEGIN {if (a > 0) printf "%.2f", b / a; else print "?"}')
RATIO_STEADY=$(awk -v a="$MAX_OK_CHECKS" -v b="$BS_KPS" 'BEGIN {printf "%.2f", a / b}')
FOREIGN_AT_END=$(foreign_load)
LOAD_AT_END=$(cut -d' ' -f1-3 /proc/loadavg)
T_TOTAL=$(( $(date +%s) - T_START ))

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
verdict() { awk -v ok="$1" 'BEGIN {print (ok ? "MET" : "MISSED")}'; }
{
echo
echo "recon change-worker benchmark ($(date -u +%Y-%m-%dT%H:%MZ), ${T_TOTAL}s)"
echo "  machine: $ncpu × $cpu_model; loadavg at start $LOAD_AT_START, at end $LOAD_AT_END"
echo "  other busy processes: start: ${FOREIGN_AT_START:-none}; end: ${FOREIGN_AT_END:-none}"
[ -z "$FOREIGN_AT_START$FOREIGN_AT_END" ] || echo "  => another workload shared this machine: the figures are noisy"
echo "  PostgreSQL $pg_version, libmongoc $mongoc_version, FerretDB (SQLite) on loopback, recon $git_rev"
if [ "$NMAPS" = 1 ]; then
    echo "  table bench_cdc: $ROWS rows; mapping settle_ms $SETTLE_MS, exclude [n], repair off;"
else
    echo "  $NMAPS mappings followed by one worker: tables ${TABLES[*]}, $PER_TABLE rows each (ids in contiguous ranges),"
    echo "  collections ${COLLS[*]}; each mapping settle_ms $SETTLE_MS, exclude [n], repair off; bare_lookup reads ${COLLS[0]};"
fi
echo "  recon.batch_size $batch_size, recon.poll_interval_ms $poll_ms; pgbench -c 2 -j 1, ${STEP_SECS}s steps"
echo
echo "1. Sustained change rate (pgbench: UPDATE bench_cdc SET n = n + 1 WHERE id = random(1, $UPD_MAX);"
echo "   every change decoded, queued and checked once, and found equal)"
echo "  offered  pgbench  decoded  checks     avg  ms per    worst    lag   queue   queue worst lag  catch-up   worker worker ferret"
echo "      tps      tps  changes      /s   batch   batch    lag_s  grew   (end)  keys/s    kBytes         s µs/check  %core  %core  verdict"
for l in "${LADDER[@]}"; do echo "  $l"; done
if [ "$MAX_OK_RATE" -gt 0 ]; then
    echo "  => highest sustained: $MAX_OK_RATE tps offered ($MAX_OK_TPS delivered), $MAX_OK_CHECKS checks/s, avg batch $MAX_OK_BATCH keys"
else
    echo "  => no step was sustained"
fi
if [ -n "$PGBENCH_LIMITED" ]; then
    echo "     (pgbench could not offer the next rate on this machine: the ceiling is at least this; see the capacity below)"
elif [ -z "$FIRST_FAIL" ]; then
    echo "     (every offered rate was sustained: the ceiling is above the ladder; see the capacity figure below)"
fi
echo
# the issue's bound: settle + the re-check schedule + two bare look-up rounds on this
# server, at the batch size the worker used during the detection run (a round
# is one $in query per mapping)
TARGET_MS=$(awk -v f="$FLOOR_MS" -v q="$DET_BARE_MPQ" -v n="$NMAPS" 'BEGIN {printf "%.0f", f + 2 * n * q}')
echo "2. Detection lag at a fixed offered load ($DET_UPD_TPS tps of n-updates + $DET_DIV_TPS tps of divergent v-updates,"
echo "   $DET_N of $NDIV divergent keys recorded; lag = divergences.first_seen - commit)"
printf "  first_seen - commit:  min %6s ms  p50 %6s ms  p90 %6s ms  p99 %6s ms  max %6s ms\n" \
    "$DET_MIN" "$DET_P50" "$DET_P90" "$DET_P99" "$DET_MAX"
printf "  visible - commit:     min %6s ms  p50 %6s ms  p90 %6s ms  p99 %6s ms  max %6s ms  (polled every 0.1 s)\n" \
    "$VIS_MIN" "$VIS_P50" "$VIS_P90" "$VIS_P99" "$VIS_MAX"
echo "  worst lag_seconds during the run $DET_WORST_LAG; $DET_CYCLE ms per worker batch (\$in query) on average"
echo "  retained WAL (pg_current_wal_lsn - the slot's restart_lsn): at most $((DET_RETAINED / 1024)) kB during this run," \
    "$((${LADDER_RETAINED:-0} / 1024)) kB during the sustained ladder steps"
echo "  floor by design: settle $SETTLE_MS + re-checks $recheck_ms (recon.cdc_recheck_ms) = $FLOOR_MS ms; checks run up to"
echo "  recon.cdc_batch_window_ms = $window_ms early, and wait for the next poll ($poll_ms) and a cycle"
echo "  target p99 <= settle + re-checks + two bare look-up rounds ($NMAPS query each) at the run's batch size K=$K_DET ($DET_BARE_MPQ ms per query) = $TARGET_MS ms:" \
    "$(verdict "$([ -n "$DET_P99" ] && [ "$DET_P99" -le "$TARGET_MS" ] && echo 1 || echo 0)")"
echo
echo "3. Capacity: $DRAIN_TX transactions queued in the slot while the worker was stopped, then drained"
echo "   (timed by the server: worker start to its last check); right after each drain, bare_lookup ran"
echo "   ${BARE_SECS}s at the worker's average batch size"
echo "  round  checks   drain  checks   avg  ms per   SQL ms  bare ms overhead   worker worker ferretdb µs/key   WAL   round"
echo "                      s      /s batch   batch per batch  /query ms/batch   µs/key  %core  worker    bare  B/key  ratio"
for l in "${DRAIN_LINES[@]}"; do echo "  $l"; done
echo "  => worker capacity (best round): $D_RATE checks/s, batches of $D_BATCH keys, $D_CYCLE ms per batch"
echo "  where the worker's time went (sampled every 20 ms: mongo = waiting for FerretDB, latch = sleeping"
echo "  between cycles, run = on or waiting for a CPU, io = other kernel waits), in % of the drain:"
for l in "${WHERE_LINES[@]}"; do echo "$l"; done
echo
echo "4. Bare libmongoc client (bench/bare_lookup.c): find({_id: {\$in: [K random ids]}}, {batchSize: ${FIND_BATCH:-default}}),"
echo "   same server and collection"
printf "  K=%-5s %8s keys/s  %8s ms/query  client %6s µs/key  FerretDB %8s µs/key   (capacity batch, best round)\n" "$BD_K" "$BD_KPS" "$BD_MPQ" "$BD_CPK" "$BD_FPK"
printf "  K=%-5s %8s keys/s  %8s ms/query   (the same with a new client, connect + handshake + ping, per query)\n" "$BD_K" "$BC_KPS" "$BC_MPQ"
printf "  K=%-5s %8s keys/s  %8s ms/query  client %6s µs/key  FerretDB %8s µs/key   (steady-state batch at $MAX_OK_RATE tps)\n" "$K_STEADY" "$BS_KPS" "$BS_MPQ" "$BS_CPK" "$BS_FPK"
for l in "${BARE_EXTRA[@]}"; do echo "$l"; done
echo
echo "5. Ratios (target >= 0.9) and CPU per key"
echo "  capacity: worker $D_RATE checks/s / bare $BD_KPS keys/s at K=$BD_K = $RATIO_CAP" \
    "($(verdict "$(awk -v r="$RATIO_CAP" 'BEGIN {print (r >= 0.9)}')"));"
echo "            median of the per-round ratios $RATIO_MEDIAN;" \
    "FerretDB CPU per key, bare / worker: $RATIO_FCPU"
echo "  load-independent estimate: the worker waited for MongoDB in $MONGO_MEDIAN% of its drain time (median);" \
    "recon's own work is the rest, so with the server equally fast for both the ratio is ~$(awk -v m="$MONGO_MEDIAN" 'BEGIN {printf "%.2f", m / 100}')"
echo "  steady:   worker $MAX_OK_CHECKS checks/s at $MAX_OK_RATE tps / bare $BS_KPS keys/s at K=$K_STEADY = $RATIO_STEADY" \
    "(the offered load, not the worker, sets the numerator)"
echo "  worker CPU per checked key: ${D_CPU_US} µs at capacity, ${MAX_OK_CPU} µs at $MAX_OK_RATE tps; idle worker ${IDLE_CPU_PCT}% of a core"
echo
echo "6. Diagnostics"
echo "  recon.cdc_queue in pg_stat_user_tables (n_tup_ins n_tup_del n_dead_tup): while the worker ran: $STAT_ALIVE" \
    "(it had queued $CHANGES_ALIVE changes); after it exited: $STAT_EXITED"
if [ -n "$PGSS_LADDER" ]; then
    echo "  top SQL statements of the worker during the ladder (calls, total, mean, query):"
    sed 's/^/    /' <<<"$PGSS_LADDER"
fi
if [ -n "$PGSS_DRAIN" ]; then
    echo "  top SQL statements of the worker during the drain:"
    sed 's/^/    /' <<<"$PGSS_DRAIN"
fi
if [ -n "$PERF_DSO" ]; then
    echo "  perf: the worker's CPU during the first drain, by object:"
    sed 's/^/    /' <<<"$PERF_DSO"
    echo "  perf: top symbols (self):"
    sed 's/^/    /' <<<"$PERF_TOP"
fi
} | tee "$WORK/report.txt"
[ "${RIG_KEEP:-}" != 1 ] || log "samples and pgbench output kept in $WORK"
