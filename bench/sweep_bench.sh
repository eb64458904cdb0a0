#!/usr/bin/env bash
# bench/sweep_bench.sh — recon.sweep() throughput, CPU and memory, measured
# against a bare libmongoc read (bench/bare_read.c) of the same collection on
# the same server.  See bench/README.md for what each figure means.
#
#   bench/sweep_bench.sh                       N = 100000 and 1000000
#   BENCH_SIZES="10000 100000" bench/sweep_bench.sh
#
# Environment (all optional):
#   BENCH_SIZES          row counts, default "100000 1000000"
#   BENCH_BARE_RUNS      bare reads per size, best counts (default 3)
#   BENCH_SWEEP_RUNS     sweeps per size, each in a fresh backend, fastest counts (default 2)
#   BENCH_BATCH_SIZE     recon.batch_size for the sweep and keys per query of the bare re-read
#                        (default 1000)
#   BENCH_PASS_BATCH_SIZE  recon.pass_batch_size for the sweep and -b for bare_read (default 8000):
#                        the bare read asks for the same replies as the sweep's pass
#   BENCH_DIVERGE_EVERY  one divergent key per this many rows (default 1000 = 0.1%; 0 = none):
#                        a third mismatches, a third missing documents, a third extra documents
#   BENCH_FAIR_MAX_KEYS  skip the fair baseline's bare re-read above this many candidates
#                        (default 10000: on FerretDB it scans the collection once per
#                        recon.batch_size keys, hours at 1M rows and 5 %); its ratio prints n/a
#   BENCH_SWEEP_SET      extra SQL run in the sweep's session first, e.g.
#                        "SET recon.partition_rows = 10000000;"
#   BENCH_MONGO_URI      measure this MongoDB instead of starting a FerretDB (its
#                        bench.items collection is dropped and reloaded)
#   BENCH_SKIP_BUILD=1   do not run install-deps / make / make install
#   BENCH_SHAPE          flat (default) | array: two array columns more (text[] of 3
#                        tags compared as a multiset, int4[] of 4 scores) | embed: 5
#                        children per row in bench_children, embedded in the documents
#                        as "children" (option "embed", ordered by n)
#   BENCH_RANGE_WORKERS  e.g. "1 2": after the single-pass sweeps of the first size, a
#                        background range sweep (recon.start_sweep(workers => W), option
#                        sweep_ranges = BENCH_RANGE_COUNT, default 4) per W: its wall time
#                        against the single pass, and whether it records the same
#                        divergences.  On FerretDB each range scans the whole collection.
#   BENCH_PERF=1         also record `perf record` of the sweep backend (last
#                        sweep of each size) and print the top symbols
#   RIG_KEEP=1           keep the rig's temp dir (see scripts/rig.sh)
# Informational only: the targets print PASS/MISS, the exit status does not
# depend on them (tests never assert wall-clock times).
set -euo pipefail

# ---------------------------------------------------------------------------
# Helpers run by psql's \! inside the sweep session (no rig, no traps here).
# ---------------------------------------------------------------------------
# These read /proc with builtins only (no fork), so that the 0.1 s sampler
# below costs next to nothing on a 2-core machine.
proc_ticks_v() {               # TICKS = utime+stime of a process (all threads), clock ticks
    local s
    if [ -z "$1" ]; then TICKS=0; return; fi   # no FerretDB of ours (RECON_TEST_MONGO_URI set)
    read -r s <"/proc/$1/stat"
    s=${s##*) }                # drop "pid (comm) ": field 3 is now $1
    set -- $s
    TICKS=$((${12} + ${13}))
}

proc_status_v() {              # VM_HWM VM_RSS RSS_ANON RSS_FILE RSS_SHMEM (kB) of a process
    local k v
    VM_HWM=0 VM_RSS=0 RSS_ANON=0 RSS_FILE=0 RSS_SHMEM=0
    while read -r k v _; do
        case $k in
            VmHWM:) VM_HWM=$v ;; VmRSS:) VM_RSS=$v ;; RssAnon:) RSS_ANON=$v ;;
            RssFile:) RSS_FILE=$v ;; RssShmem:) RSS_SHMEM=$v ;;
        esac
    done <"/proc/$1/status"
}

proc_ticks() { proc_ticks_v "$1"; echo "$TICKS"; }

case "${1:-}" in
    __snap)                    # __snap LABEL: one line into $BENCH_STATE:
        # LABEL epoch backend_ticks VmHWM VmRSS RssAnon ferretdb_ticks RssFile RssShmem
        proc_ticks_v "$BENCH_PID"; bt=$TICKS
        proc_ticks_v "${RECON_FERRETDB_PID:-}"
        proc_status_v "$BENCH_PID"
        echo "$2 $EPOCHREALTIME $bt $VM_HWM $VM_RSS $RSS_ANON $TICKS $RSS_FILE $RSS_SHMEM" >>"$BENCH_STATE"
        exit 0 ;;
    __sampler)                 # __sampler start|stop: every 0.1 s, one timeline line
        stopf=$BENCH_STATE.stop    # "epoch backend_ticks RssAnon_kB VmRSS_kB ferretdb_ticks"
        if [ "$2" = start ]; then
            rm -f "$stopf" "$BENCH_STATE.timeline" "$BENCH_STATE.done" "$BENCH_STATE.fifo"
            mkfifo "$BENCH_STATE.fifo"
            (
                exec 3<>"$BENCH_STATE.fifo"     # nobody writes: `read -t` is a fork-free sleep
                while [ ! -e "$stopf" ] && [ -e "/proc/$BENCH_PID" ]; do
                    proc_ticks_v "$BENCH_PID"; bt=$TICKS
                    proc_ticks_v "${RECON_FERRETDB_PID:-}"
                    proc_status_v "$BENCH_PID"
                    echo "$EPOCHREALTIME $bt $RSS_ANON $VM_RSS $TICKS" >>"$BENCH_STATE.timeline"
                    read -r -t 0.1 -u 3 _ || true
                done
                touch "$BENCH_STATE.done"
            ) </dev/null >/dev/null 2>&1 &
        else
            touch "$stopf"
            for _ in $(seq 1 100); do [ -e "$BENCH_STATE.done" ] && break; sleep 0.05; done
        fi
        exit 0 ;;
    __perf)                    # __perf start|stop: perf record of the backend
        if [ "$2" = start ]; then
            perf record -F 999 -o "$BENCH_STATE.perf" -p "$BENCH_PID" </dev/null \
                >"$BENCH_STATE.perf.log" 2>&1 &
            echo $! >"$BENCH_STATE.perfpid"
            sleep 0.5
        else
            kill -INT "$(cat "$BENCH_STATE.perfpid")" 2>/dev/null || true
            for _ in $(seq 1 200); do
                kill -0 "$(cat "$BENCH_STATE.perfpid")" 2>/dev/null || break; sleep 0.1
            done
        fi
        exit 0 ;;
esac

# ---------------------------------------------------------------------------
# Set-up
# ---------------------------------------------------------------------------
SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

SIZES=${BENCH_SIZES:-100000 1000000}
BARE_RUNS=${BENCH_BARE_RUNS:-3}
SWEEP_RUNS=${BENCH_SWEEP_RUNS:-2}
BATCH=${BENCH_BATCH_SIZE:-1000}
PASS_BATCH=${BENCH_PASS_BATCH_SIZE:-8000}
DIVERGE_EVERY=${BENCH_DIVERGE_EVERY:-1000}
SWEEP_SET=${BENCH_SWEEP_SET:-}
FAIR_MAX_KEYS=${BENCH_FAIR_MAX_KEYS:-10000}
SHAPE=${BENCH_SHAPE:-flat}
FIELDS=name,amount,ts,flag,payload          # recon's projection: the mapped columns
case $SHAPE in
    flat) ;;
    array) FIELDS=$FIELDS,tags,scores ;;
    embed) FIELDS=$FIELDS,children ;;
    *) echo "bench: BENCH_SHAPE must be flat, array or embed" >&2; exit 2 ;;
esac
NS=bench.items

log() { echo "bench: $*" >&2; }

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    scripts/install-deps.sh >&2
    SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    make PG_CONFIG=$PG_CONFIG >&2
    $SUDO make install PG_CONFIG=$PG_CONFIG >&2
fi
make test/mongo_tool PG_CONFIG=$PG_CONFIG >&2
MONGO_TOOL=$ROOT/test/mongo_tool
BARE=$ROOT/bench/bare_read
BARE_LOOKUP=$ROOT/bench/bare_lookup
for prog in bare_read bare_lookup; do
    if [ ! -x "$ROOT/bench/$prog" ] || [ "$ROOT/bench/$prog.c" -nt "$ROOT/bench/$prog" ]; then
        # shellcheck disable=SC2046
        gcc -O2 -Wall -Werror -o "$ROOT/bench/$prog" "$ROOT/bench/$prog.c" \
            $(pkg-config --cflags --libs libmongoc-1.0)
    fi
done

# Our own FerretDB, whatever RECON_TEST_MONGO_URI the caller's shell holds
# (a dev server must not be measured or have bench.items dropped by accident);
# BENCH_MONGO_URI points the benchmark at another server on purpose.
if [ -n "${BENCH_MONGO_URI:-}" ]; then
    export RECON_TEST_MONGO_URI=$BENCH_MONGO_URI
else
    unset RECON_TEST_MONGO_URI RECON_FERRETDB_PID
fi
# shellcheck source=../scripts/rig.sh
source scripts/rig.sh
rig_start_ferretdb
rig_start_pg
rig_tmp
WORK=$RIG_TMP/bench
mkdir -p "$WORK"
PGLOG=$RIG_TMP/postgresql.log
export RECON_FERRETDB_PID=${RECON_FERRETDB_PID:-}   # empty: a server we did not start

PSQL=("$RIG_PGBIN/psql" -X -q -v ON_ERROR_STOP=1)
sql() { "${PSQL[@]}" -At -c "$1"; }

# Epoch timestamps in the server log, so progress NOTICEs date the phases.
sql "ALTER SYSTEM SET log_line_prefix = '%n [%p] '" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
"${PSQL[@]}" -v mongo_uri="$RECON_TEST_MONGO_URI" <<'SQL'
CREATE EXTENSION recon;
CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri :'mongo_uri');
-- Row i of the data set (the same function fills the rows added later).
CREATE FUNCTION bench_rows(a int8, b int8)
RETURNS TABLE (id int8, name text, amount numeric(12,2), ts timestamptz, flag bool, payload jsonb)
LANGUAGE sql AS $$
  SELECT i, 'customer-' || md5(i::text),
         ((i * 7919) % 10000000) / 100.0,
         timestamptz '2024-01-01 00:00:00+00' + i * interval '1001 milliseconds',
         i % 3 = 0,
         jsonb_build_object('n', i % 1000, 'tag', 'tag-' || i % 17, 'ok', i % 2 = 0)
  FROM generate_series(a, b) i
$$;
SQL

ncpu=$(nproc)
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem_total=$(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo)
pg_version=$(sql "SHOW server_version")
mongoc_version=$(pkg-config --modversion libmongoc-1.0)
TICK=$(getconf CLK_TCK)
recon_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$ROOT" status --porcelain -- src sql Makefile 2>/dev/null)" ] ||
    recon_rev="$recon_rev + uncommitted changes in src/sql"

# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
load_data() {                  # load_data N
    local n=$1 t0 t1 step ndiv count
    log "N=$n: creating table bench and collection $NS"
    sql "SELECT recon.drop_mapping('bench') FROM recon.mappings WHERE name = 'bench'" >/dev/null
    sql "DROP TABLE IF EXISTS bench, bench_children" >/dev/null
    "$MONGO_TOOL" drop "$NS"
    sql "CREATE TABLE bench (id int8 PRIMARY KEY, name text, amount numeric(12,2),
                             ts timestamptz, flag bool, payload jsonb)" >/dev/null
    sql "INSERT INTO bench SELECT * FROM bench_rows(1, $n)" >/dev/null
    local shape_json= mapping_opts='{}'
    case $SHAPE in
        array)
            sql "ALTER TABLE bench ADD COLUMN tags text[], ADD COLUMN scores int4[]" >/dev/null
            sql "UPDATE bench SET tags = ARRAY['t' || id % 5, 't' || id % 7, 't' || id % 11],
                                  scores = ARRAY[id % 100, id % 3, NULL, id % 1000]::int4[]" >/dev/null
            shape_json=", 'tags', tags, 'scores', scores"
            mapping_opts='{"unordered": ["tags"]}' ;;
        embed)
            sql "CREATE TABLE bench_children (parent_id int8, n int, sku text, qty int,
                                              PRIMARY KEY (parent_id, n))" >/dev/null
            sql "INSERT INTO bench_children SELECT id, k, 'sku-' || (id * 5 + k) % 9973, (id + k) % 50
                   FROM bench, generate_series(1, 5) k" >/dev/null
            sql "VACUUM (ANALYZE) bench_children" >/dev/null
            shape_json=", 'children', coalesce(c.children, '[]')"
            mapping_opts='{"embed": {"children": {"source": "public.bench_children",
                "join": {"parent_id": "id"}, "columns": ["n", "sku", "qty"], "order_by": ["n"]}}}' ;;
    esac

    # The same rows as extended JSON: amount a double (libbson reads "12.30"
    # as one), ts a Date at the row's millisecond, payload an object.
    log "N=$n: loading $n documents into FerretDB"
    t0=$(date +%s.%N)
    "${PSQL[@]}" -c "COPY (SELECT json_build_object('_id', id, 'name', name, 'amount', amount,
            'ts', json_build_object('\$date', json_build_object('\$numberLong',
                  (extract(epoch FROM ts) * 1000)::int8::text)),
            'flag', flag, 'payload', payload $shape_json) FROM bench
            $([ "$SHAPE" = embed ] && echo "LEFT JOIN (SELECT parent_id, json_agg(json_build_object('n', n, 'sku', sku,
                  'qty', qty) ORDER BY n) AS children FROM bench_children GROUP BY parent_id) c ON c.parent_id = id")
            ORDER BY id) TO STDOUT" |
        split -l 50000 --filter="\"$MONGO_TOOL\" insert $NS"
    t1=$(date +%s.%N)
    count=$("$MONGO_TOOL" count "$NS")
    [ "$count" -eq "$n" ] || { log "FerretDB holds $count documents, expected $n"; exit 1; }
    LOAD_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
    log "N=$n: loaded in ${LOAD_SECS}s"

    # Divergences, made on the PostgreSQL side: id % step = 1 mismatches
    # (amount, and name for every other one), id % step = 2 rows deleted
    # (extra documents), as many new rows past N (missing documents).
    EXPECTED_DIV=0
    if [ "$DIVERGE_EVERY" -gt 0 ]; then
        step=$((DIVERGE_EVERY * 3))
        ndiv=$(sql "WITH u AS (UPDATE bench SET amount = amount + 1,
                          name = CASE WHEN id % $((step * 2)) = 1 THEN name || '!' ELSE name END
                        WHERE id % $step = 1 RETURNING 1),
                    d AS (DELETE FROM bench WHERE id % $step = 2 RETURNING 1)
                    SELECT (SELECT count(*) FROM u) || ' ' || (SELECT count(*) FROM d)")
        read -r nmis nextra <<<"$ndiv"
        [ "$nextra" -eq 0 ] ||
            sql "INSERT INTO bench SELECT * FROM bench_rows($n + 1, $n + $nextra)" >/dev/null
        EXPECTED_DIV=$((nmis + 2 * nextra))
        # the keys a sweep re-reads: changed rows, deleted rows, added rows
        awk -v n="$n" -v step="$step" -v extra="$nextra" 'BEGIN {
            for (i = 1; i <= n; i++) if (i % step == 1 || i % step == 2) print i
            for (i = n + 1; i <= n + extra; i++) print i }' >"$WORK/candidates-$n"
    else
        : >"$WORK/candidates-$n"
    fi
    sql "VACUUM (ANALYZE) bench" >/dev/null
    sql "CHECKPOINT" >/dev/null
    sql "SELECT recon.add_mapping('bench', 'public.bench', 'm', '$NS', options => '$mapping_opts')" >/dev/null
    TABLE_MB=$(sql "SELECT round(pg_total_relation_size('bench') / 1048576.0)")
}

# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------
bare_runs() {                  # bare_runs N: best of BARE_RUNS -> BARE_* globals
    local n=$1 i out f0 f1 secs rate
    BARE_RATE=0
    for i in $(seq 1 "$BARE_RUNS"); do
        f0=$(proc_ticks "$RECON_FERRETDB_PID")
        out=$("$BARE" -b "$PASS_BATCH" "$NS" "$FIELDS")
        f1=$(proc_ticks "$RECON_FERRETDB_PID")
        log "N=$n: bare_read #$i: $out ferretdb_cpu_s=$(awk -v a="$f0" -v b="$f1" -v t="$TICK" 'BEGIN {printf "%.2f", (b - a) / t}')"
        rate=$(sed -n 's/.*docs_per_s=\([0-9]*\).*/\1/p' <<<"$out")
        secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$out")
        if [ "$rate" -gt "$BARE_RATE" ]; then
            BARE_RATE=$rate BARE_SECS=$secs
            BARE_DOCS=$(sed -n 's/.*docs=\([0-9]*\) .*/\1/p' <<<"$out")
            BARE_CPU_US=$(sed -n 's/.*cpu_us_per_doc=\([0-9.]*\).*/\1/p' <<<"$out")
            BARE_RSS_KB=$(sed -n 's/.*maxrss_kb=\([0-9]*\).*/\1/p' <<<"$out")
            BARE_FERRET_S=$(awk -v a="$f0" -v b="$f1" -v t="$TICK" 'BEGIN {printf "%.2f", (b - a) / t}')
        fi
    done
    [ "$BARE_DOCS" -eq "$n" ] || log "warning: bare_read saw $BARE_DOCS documents, expected $n"
    # The fair baseline adds a bare re-read of the same candidate keys with
    # the same batch shape ($in of recon.batch_size keys, 100-document replies).
    BARE_REREAD_SECS=0
    local ncand=0
    [ -s "$WORK/candidates-$n" ] && ncand=$(wc -l <"$WORK/candidates-$n")
    if [ "$ncand" -gt "$FAIR_MAX_KEYS" ]; then
        # one collection scan per recon.batch_size keys on FerretDB: hours at 1M rows and 5 %
        log "N=$n: bare re-read of $ncand candidates skipped (more than BENCH_FAIR_MAX_KEYS=$FAIR_MAX_KEYS)"
        BARE_REREAD_SECS=skipped
    elif [ -s "$WORK/candidates-$n" ]; then
        out=$("$BARE_LOOKUP" -k "$BATCH" -b 100 -f "$WORK/candidates-$n" "$NS")
        log "N=$n: bare re-read of the candidates: $out"
        BARE_REREAD_SECS=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$out")
    fi
}

# Epoch time of the backend's progress NOTICE "<n> <what> read" in the log.
notice_time() {                # notice_time PID N WHAT
    awk -v pid="[$1]" -v pat="\": $2 $3 read" \
        '$2 == pid && index($0, pat) {print $1}' "$PGLOG" | tail -1
}

sweep_run() {                  # sweep_run N I PERF: one sweep in a fresh backend -> S_* globals
    local n=$1 i=$2 perf=$3 state=$WORK/sweep-$1-$2 res perf_start= perf_stop=
    rm -f "$state" "$state".*
    if [ "$perf" = 1 ]; then
        perf_start="\\! \"$SELF\" __perf start"
        perf_stop="\\! \"$SELF\" __perf stop"
    fi
    res=$(BENCH_STATE=$state "${PSQL[@]}" -At 2>"$state.stderr" <<SQL
SELECT pg_backend_pid() AS pid \gset
\setenv BENCH_PID :pid
SET recon.batch_size = $BATCH;
SET recon.pass_batch_size = $PASS_BATCH;
SET recon.progress_rows = $n;
SET log_min_messages = notice;
$SWEEP_SET
\! "$SELF" __snap before
\! "$SELF" __sampler start
$perf_start
\set ON_ERROR_STOP 0
\set run_id 0
SELECT recon.sweep('bench') AS run_id \gset
\set ON_ERROR_STOP 1
$perf_stop
\! "$SELF" __sampler stop
\! "$SELF" __snap after
SELECT :pid, r.rows_source, r.docs_target, r.candidates, r.divergences,
       extract(epoch FROM r.finished_at - r.started_at)
FROM (SELECT 1) x LEFT JOIN recon.runs r ON r.run_id = :run_id;
SQL
    ) || { log "sweep session failed:"; cat "$state.stderr" >&2; exit 1; }
    IFS='|' read -r S_PID S_ROWS S_DOCS S_CANDS S_DIVS S_SERVER_SECS <<<"$res"
    S_ERROR=
    if [ -z "$S_ROWS" ]; then
        S_ERROR=$(grep -E '^(psql:.*)?(ERROR|DETAIL)' "$state.stderr" | sed 's/^psql:[^:]*:[0-9]*: //' | tr '\n' ' ')
        S_ERROR=${S_ERROR:-unknown error}
        S_ROWS=0 S_DOCS=0 S_CANDS=0 S_DIVS=0 S_SERVER_SECS=0
    fi
    S_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
    read -r _ b_t b_cpu b_hwm _ b_anon b_f _ _ <<<"$(grep '^before ' "$state")"
    read -r _ a_t a_cpu a_hwm _ a_anon a_f a_file a_shmem <<<"$(grep '^after ' "$state")"
    S_PEAK_ANON=$(awk -v m="$a_anon" '$3 > m {m = $3} END {print m}' "$state.timeline" 2>/dev/null || echo "$a_anon")
    S_SECS=$(awk -v a="$b_t" -v b="$a_t" 'BEGIN {printf "%.3f", b - a}')
    S_CPU_S=$(awk -v a="$b_cpu" -v b="$a_cpu" -v t="$TICK" 'BEGIN {printf "%.2f", (b - a) / t}')
    S_FERRET_S=$(awk -v a="$b_f" -v b="$a_f" -v t="$TICK" 'BEGIN {printf "%.2f", (b - a) / t}')
    S_HWM0=$b_hwm S_HWM=$a_hwm S_ANON0=$b_anon S_FILE=$a_file S_SHMEM=$a_shmem
    # phases from the progress NOTICEs (end of the source pass, end of the
    # collection pass); CPU at those instants from the sampler's timeline.
    # "start" is everything before the source pass: mapping load, connect,
    # partition sizing.
    local t_rows t_docs
    t_rows=$(notice_time "$S_PID" "$n" rows)
    t_docs=$(notice_time "$S_PID" "$n" documents)
    S_PHASES=$(awk -v s="$b_t" -v r="${t_rows:-0}" -v d="${t_docs:-0}" -v e="$a_t" \
                   -v bc="$b_cpu" -v ec="$a_cpu" -v bf="$b_f" -v ef="$a_f" -v tick="$TICK" '
        function at(t, col,   i) {          # ticks at time t: first sample at or after t
            for (i = 1; i <= ns; i++) if (T[i] >= t) return V[i, col]
            return col == 2 ? ec : ef
        }
        { ns++; T[ns] = $1; V[ns, 2] = $2; V[ns, 5] = $5 }
        END {
            if (r == 0) { print "(no progress NOTICE for the source pass in the server log)"; exit }
            rc = at(r, 2); rf = at(r, 5)
            printf "start+source pass %.1fs (backend CPU %.2fs, FerretDB CPU %.2fs)", r - s, (rc - bc) / tick, (rf - bf) / tick
            if (d == 0) { printf ", then no NOTICE for the collection pass\n"; exit }
            dc = at(d, 2); df = at(d, 5)
            printf ", collection pass %.1fs (backend CPU %.2fs, FerretDB CPU %.2fs)", \
                d - r, (dc - rc) / tick, (df - rf) / tick
            printf ", match+recheck+record %.1fs (backend CPU %.2fs, FerretDB CPU %.2fs)\n", \
                e - d, (ec - dc) / tick, (ef - df) / tick
        }' "$state.timeline" 2>/dev/null || echo "(no timeline)")
    # the two passes alone (source + collection): seconds and backend ticks
    S_PASS_SECS= S_PASS_CPU=
    if [ -n "$t_docs" ]; then
        S_PASS_SECS=$(awk -v s="$b_t" -v d="$t_docs" 'BEGIN {printf "%.3f", d - s}')
        S_PASS_CPU=$(awk -v d="$t_docs" -v bc="$b_cpu" -v ec="$a_cpu" -v tick="$TICK" '
            $1 >= d && !done {c = $2; done = 1} END {if (!done) c = ec; printf "%.2f", (c - bc) / tick}' \
            "$state.timeline" 2>/dev/null || echo "")
    fi
    [ -z "$S_ERROR" ] || log "N=$n: sweep #$i FAILED after ${S_SECS}s: $S_ERROR"
    log "N=$n: sweep #$i: backend $S_PID, ${S_SECS}s wall (server ${S_SERVER_SECS}s), rows $S_ROWS docs $S_DOCS," \
        "candidates $S_CANDS divergences $S_DIVS (expected $EXPECTED_DIV); backend CPU ${S_CPU_S}s," \
        "FerretDB CPU ${S_FERRET_S}s; VmHWM ${S_HWM0} -> ${S_HWM} kB, RssAnon ${S_ANON0} -> peak ${S_PEAK_ANON} kB, RssShmem ${S_SHMEM} kB and RssFile ${S_FILE} kB after; $S_PHASES; loadavg $S_LOAD"
    if [ "$perf" = 1 ] && [ -s "$state.perf" ]; then
        log "N=$n: perf report (self time, top 40 symbols) of backend $S_PID:"
        perf report -i "$state.perf" --no-children --sort dso,symbol --percent-limit 0.7 \
            --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | grep -E '^ +[0-9.]+%' | head -40 >&2
        PERF_FILES+=("$state.perf")
    fi
}

# ---------------------------------------------------------------------------
# Range sweeps (optional): background, W workers, smallest size only
# ---------------------------------------------------------------------------
RANGE_WORKERS=${BENCH_RANGE_WORKERS:-}
RANGE_COUNT=${BENCH_RANGE_COUNT:-4}
RANGE_LINES=()
range_run() {                  # range_run W -> RG_STATUS RG_DIVS RG_SECS RG_SAME
    local w=$1 run
    sql "SELECT recon.alter_mapping('bench', '{\"sweep_ranges\": $RANGE_COUNT}')" >/dev/null
    run=$(sql "SELECT recon.start_sweep('bench', workers => $w)")
    until [ "$(sql "SELECT status FROM recon.runs WHERE run_id = $run")" != running ]; do sleep 1; done
    IFS='|' read -r RG_STATUS RG_DIVS RG_SECS <<<"$(sql "SELECT status, divergences,
        round(extract(epoch FROM finished_at - started_at), 3) FROM recon.runs WHERE run_id = $run")"
    # the same divergences (kind and key) as the last single-pass sweep saw
    RG_SAME=$(sql "WITH a AS (SELECT kind, key FROM bench_single_pass_divergences),
        b AS (SELECT kind, key::text FROM recon.divergences WHERE last_run_id = $run)
        SELECT CASE WHEN (SELECT count(*) FROM (TABLE a EXCEPT TABLE b) x) = 0
                     AND (SELECT count(*) FROM (TABLE b EXCEPT TABLE a) y) = 0 THEN 'same' ELSE 'DIFFERENT' END")
    sql "SELECT recon.alter_mapping('bench', '{\"sweep_ranges\": null}')" >/dev/null
}

# ---------------------------------------------------------------------------
# The sweep of each size
# ---------------------------------------------------------------------------
declare -A R
PERF_FILES=()
for n in $SIZES; do R[$n,error]=; done
for n in $SIZES; do
    load_data "$n"
    R[$n,load]=$LOAD_SECS R[$n,table_mb]=$TABLE_MB R[$n,expected]=$EXPECTED_DIV
    bare_runs "$n"
    R[$n,bare_rate]=$BARE_RATE R[$n,bare_secs]=$BARE_SECS R[$n,bare_cpu_us]=$BARE_CPU_US
    R[$n,bare_rss]=$BARE_RSS_KB R[$n,bare_ferret]=$BARE_FERRET_S R[$n,bare_reread]=$BARE_REREAD_SECS
    best=
    for i in $(seq 1 "$SWEEP_RUNS"); do
        perf=0
        [ -z "${BENCH_PERF:-}" ] || [ "$i" -ne "$SWEEP_RUNS" ] || perf=1
        sweep_run "$n" "$i" "$perf"
        # a finished sweep beats a failed one; then the faster one
        if [ -z "$best" ] || { [ -n "${R[$n,error]}" ] && [ -z "$S_ERROR" ]; } ||
           { [ "${R[$n,error]:+x}" = "${S_ERROR:+x}" ] &&
             awk -v a="$S_SECS" -v b="${R[$n,secs]}" 'BEGIN {exit !(a < b)}'; }; then
            best=$i R[$n,error]=$S_ERROR R[$n,loadavg]=$S_LOAD
            R[$n,secs]=$S_SECS R[$n,rows]=$S_ROWS R[$n,docs]=$S_DOCS R[$n,cands]=$S_CANDS
            R[$n,divs]=$S_DIVS R[$n,cpu]=$S_CPU_S R[$n,ferret]=$S_FERRET_S R[$n,hwm0]=$S_HWM0
            R[$n,hwm]=$S_HWM R[$n,anon0]=$S_ANON0 R[$n,peak_anon]=$S_PEAK_ANON R[$n,phases]=$S_PHASES
            R[$n,shmem]=$S_SHMEM R[$n,file]=$S_FILE
            R[$n,pass_secs]=$S_PASS_SECS R[$n,pass_cpu]=$S_PASS_CPU
        fi
    done
    # range sweeps on the smallest size only (each range scans the collection on FerretDB)
    if [ -n "$RANGE_WORKERS" ] && [ "$n" = "${SIZES%% *}" ]; then
        # what the single pass recorded, before range runs take the divergences over
        sql "DROP TABLE IF EXISTS bench_single_pass_divergences;
             CREATE TABLE bench_single_pass_divergences AS SELECT kind, key::text FROM recon.divergences
             WHERE last_run_id = (SELECT max(run_id) FROM recon.runs WHERE kind = 'sweep')" >/dev/null
        for w in $RANGE_WORKERS; do
            log "N=$n: range sweep, $RANGE_COUNT ranges, $w worker(s)"
            range_run "$w"
            RANGE_LINES+=("N=$n: range sweep of $RANGE_COUNT ranges (+ the other _id types) with $w worker(s): ${RG_SECS}s, status $RG_STATUS, divergences $RG_DIVS ($RG_SAME as the single pass); single pass ${R[$n,secs]}s: $(awk -v a="${R[$n,secs]}" -v b="$RG_SECS" 'BEGIN {printf "%.2f", a / b}')x its speed")
        done
    fi
done

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
f() { awk "BEGIN {printf \"$1\", $2}"; }
pm() { if awk "BEGIN {exit !($1)}"; then echo PASS; else echo MISS; fi; }
echo
echo "recon sweep benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $ncpu CPU(s), $cpu_model, $mem_total RAM; PostgreSQL $pg_version; libmongoc $mongoc_version"
if [ -n "$RECON_FERRETDB_PID" ]; then
    echo "recon: git $recon_rev; target: FerretDB ($RECON_FERRETDB_BIN, SQLite backend) on loopback"
else
    echo "recon: git $recon_rev; target: $RECON_TEST_MONGO_URI (not started here: FDB CPU columns are 0)"
fi
echo "shape: $SHAPE; recon.batch_size=$BATCH, recon.pass_batch_size=$PASS_BATCH; bare read best of $BARE_RUNS, sweep fastest of $SWEEP_RUNS (fresh backend each);" \
     "divergent keys: $([ "$DIVERGE_EVERY" -gt 0 ] && echo "1 per $DIVERGE_EVERY rows" || echo none)${SWEEP_SET:+; session: $SWEEP_SET}"
echo
fmt='%9s %9s %12s %11s %7s %11s %10s %10s %9s %10s %8s\n'
printf "$fmt" N "sweep s" "sweep rows/s" "bare rows/s" ratio "CPU us/row" "FDB CPU s" "FDB bare s" \
    "VmHWM MB" "growth MB" "anon MB"
for n in $SIZES; do
    if [ -n "${R[$n,error]}" ]; then
        R[$n,rate]=FAILED R[$n,ratio]=n/a R[$n,us_row]=n/a
    else
        rows=${R[$n,rows]} docs=${R[$n,docs]}
        compared=$((rows > docs ? rows : docs))
        R[$n,rate]=$(f "%.0f" "$compared / ${R[$n,secs]}")
        R[$n,ratio]=$(f "%.3f" "${R[$n,rate]} / ${R[$n,bare_rate]}")
        R[$n,us_row]=$(f "%.2f" "${R[$n,cpu]} * 1e6 / $compared")
    fi
    printf "$fmt" "$n" "${R[$n,secs]}" "${R[$n,rate]}" "${R[$n,bare_rate]}" "${R[$n,ratio]}" \
        "${R[$n,us_row]}" "${R[$n,ferret]}" "${R[$n,bare_ferret]}" \
        "$(f "%.1f" "${R[$n,hwm]} / 1024")" "$(f "%.1f" "(${R[$n,hwm]} - ${R[$n,hwm0]}) / 1024")" \
        "$(f "%.1f" "${R[$n,peak_anon]} / 1024")"
done
echo
echo "Fair baseline: the bare read plus a bare re-read of the same candidate keys (\$in of"
echo "recon.batch_size keys, 100-document replies); ratio = baseline seconds / sweep seconds:"
fmt3='%9s %9s %12s %14s %9s %7s\n'
printf "$fmt3" N "sweep s" "bare read s" "bare re-read s" "fair s" ratio
for n in $SIZES; do
    R[$n,fair_ratio]=n/a fair=n/a
    if [ "${R[$n,bare_reread]}" != skipped ]; then
        fair=$(f "%.3f" "${R[$n,bare_secs]} + ${R[$n,bare_reread]}")
        [ -n "${R[$n,error]}" ] || R[$n,fair_ratio]=$(f "%.3f" "$fair / ${R[$n,secs]}")
    fi
    printf "$fmt3" "$n" "${R[$n,secs]}" "${R[$n,bare_secs]}" "${R[$n,bare_reread]}" "$fair" "${R[$n,fair_ratio]}"
done
echo
echo "Start + the two passes (mapping load, partition sizing, source pass, collection pass: up to"
echo "the collection pass's progress NOTICE; without matching, re-checks and recording):"
fmt2='%9s %9s %12s %11s %7s %11s\n'
printf "$fmt2" N "passes s" "pass rows/s" "bare rows/s" ratio "CPU us/row"
for n in $SIZES; do
    if [ -z "${R[$n,pass_secs]}" ]; then
        printf "$fmt2" "$n" n/a n/a "${R[$n,bare_rate]}" n/a n/a
        continue
    fi
    pr=$(f "%.0f" "$n / ${R[$n,pass_secs]}")
    printf "$fmt2" "$n" "${R[$n,pass_secs]}" "$pr" "${R[$n,bare_rate]}" \
        "$(f "%.3f" "$pr / ${R[$n,bare_rate]}")" \
        "$( [ -n "${R[$n,pass_cpu]}" ] && f "%.2f" "${R[$n,pass_cpu]} * 1e6 / $n" || echo n/a)"
done
echo
for n in $SIZES; do
    echo "N=$n: ${R[$n,phases]}; candidates ${R[$n,cands]}, divergences ${R[$n,divs]}" \
         "(injected ${R[$n,expected]}); backend CPU ${R[$n,cpu]}s;" \
         "backend RssShmem $(f "%.1f" "${R[$n,shmem]} / 1024") MB, RssFile $(f "%.1f" "${R[$n,file]} / 1024") MB after the sweep; bare read ${R[$n,bare_secs]}s," \
         "client CPU ${R[$n,bare_cpu_us]} us/doc, client peak RSS $(f "%.1f" "${R[$n,bare_rss]} / 1024") MB;" \
         "table ${R[$n,table_mb]} MB; FerretDB load ${R[$n,load]}s; loadavg at sweep end ${R[$n,loadavg]}"
    [ -z "${R[$n,error]}" ] || echo "N=$n: sweep FAILED: ${R[$n,error]}"
done
echo
for n in $SIZES; do
    if [ -n "${R[$n,error]}" ]; then
        echo "N=$n: sweep failed: ratio MISS, CPU per row n/a"
        continue
    fi
    fair_pm="(bare re-read skipped)"
    [ "${R[$n,fair_ratio]}" = n/a ] || fair_pm=$(pm "${R[$n,fair_ratio]} >= 0.9")
    echo "N=$n: sweep/bare ratio ${R[$n,ratio]}; fair-baseline ratio ${R[$n,fair_ratio]} (target >= 0.9):" \
         "$fair_pm; backend CPU ${R[$n,us_row]} us/row (target <= 2.5):" \
         "$(pm "${R[$n,us_row]} <= 2.5")"
done
read -r -a sz <<<"$SIZES"
if [ "${#sz[@]}" -ge 2 ]; then
    lo=${sz[0]} hi=${sz[${#sz[@]}-1]}
    mr=$(f "%.2f" "${R[$hi,hwm]} / ${R[$lo,hwm]}")
    gr=$(f "%.2f" "(${R[$hi,hwm]} - ${R[$hi,hwm0]}) / (${R[$lo,hwm]} - ${R[$lo,hwm0]})")
    ar=$(f "%.2f" "${R[$hi,peak_anon]} / ${R[$lo,peak_anon]}")
    echo "peak backend memory N=$hi vs N=$lo: VmHWM ratio $mr (target <= 1.5): $(pm "$mr <= 1.5");" \
         "growth over a fresh backend ratio $gr; peak private (RssAnon) ratio $ar"
fi
for line in "${RANGE_LINES[@]}"; do echo "$line"; done
