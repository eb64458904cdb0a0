#!/usr/bin/env bash
# bench/corpus_bench.sh — recon.sweep() on a corpus-shaped data set (many
# column types, a composite key, renamed nested fields, ~0.1 % injected
# divergences) against bench/corpus/baseline, a driver-script reconciler in
# Go of the kind a DBA writes in a day, on the same data and server.  See
# bench/README.md ("Corpus") for what is measured.
#
#   flock /tmp/recon-test.lock bench/corpus_bench.sh
#   CORPUS_CUSTOMERS=10000 CORPUS_ORDERS=6000 BENCH_RUNS=1 bench/corpus_bench.sh
#
# Environment (all optional):
#   CORPUS_CUSTOMERS     customers rows (default 100000)
#   CORPUS_ORDERS        orders rows (default 60000)
#   BENCH_RUNS           runs of each side, alternating, median counts (default 3)
#   BENCH_SWEEP_SET      extra SQL run in the sweeps' session first
#   BENCH_GO             the go command (default: go on PATH, else /usr/local/go/bin/go)
#   BENCH_MONGO_URI      measure this MongoDB instead of starting a FerretDB (its
#                        corpus database's collections are dropped and reloaded)
#   BENCH_SKIP_BUILD=1   do not run install-deps / make / make install
#   RIG_KEEP=1           keep the rig's temp dir (see scripts/rig.sh)
# Informational only: the exit status does not depend on the figures.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
RUNS=${BENCH_RUNS:-3}
SWEEP_SET=${BENCH_SWEEP_SET:-}
export CORPUS_CUSTOMERS=${CORPUS_CUSTOMERS:-100000} CORPUS_ORDERS=${CORPUS_ORDERS:-60000}
DB=corpus

log() { echo "corpus_bench: $*" >&2; }

# ---------------------------------------------------------------------------
# The baseline first: without Go there is nothing to compare with.
# ---------------------------------------------------------------------------
GO=${BENCH_GO:-$(command -v go || echo /usr/local/go/bin/go)}
if ! [ -x "$GO" ] && ! command -v "$GO" >/dev/null 2>&1; then
    log "the Go toolchain is needed to build the baseline (bench/corpus/baseline, Go >= 1.23):"
    log "install Go or point BENCH_GO at the go command; nothing was measured"
    exit 2
fi
BASELINE=$ROOT/bench/corpus/baseline/baseline
# GOTOOLCHAIN=local: never download another toolchain; -mod=readonly: use
# go.sum as committed. With the modules in the module cache nothing goes
# to the network.
if ! (cd bench/corpus/baseline &&
      GOTOOLCHAIN=local GOFLAGS=-mod=readonly "$GO" build -o "$BASELINE" . >&2); then
    log "could not build the baseline with $GO ($("$GO" version 2>/dev/null || echo 'no version'))."
    log "If its modules (go.mongodb.org/mongo-driver, github.com/jackc/pgx/v5) are missing from the"
    log "module cache ($("$GO" env GOMODCACHE 2>/dev/null)), fetch them once with network access:"
    log "    (cd bench/corpus/baseline && $GO mod download)"
    log "nothing was measured"
    exit 2
fi

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    scripts/install-deps.sh >&2
    SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    make PG_CONFIG=$PG_CONFIG >&2
    $SUDO make install PG_CONFIG=$PG_CONFIG >&2
fi
make test/mongo_tool PG_CONFIG=$PG_CONFIG >&2
MONGO_TOOL=$ROOT/test/mongo_tool

# Our own FerretDB, whatever RECON_TEST_MONGO_URI the caller's shell holds;
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
WORK=$RIG_TMP/corpus
mkdir -p "$WORK"

PSQL=("$RIG_PGBIN/psql" -X -q -v ON_ERROR_STOP=1)
sql() { "${PSQL[@]}" -At -c "$1"; }

PGLOG=$RIG_TMP/postgresql.log
# Epoch timestamps in the server log: recon's progress NOTICEs date the
# ends of the source and collection passes.
sql "ALTER SYSTEM SET log_line_prefix = '%n [%p] '" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
"${PSQL[@]}" -v mongo_uri="$RECON_TEST_MONGO_URI" <<'SQL'
CREATE EXTENSION recon;
CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri :'mongo_uri');
SQL

ncpu=$(nproc)
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
pg_version=$(sql "SHOW server_version")
go_version=$("$GO" version | awk '{print $3}')
recon_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$ROOT" status --porcelain -- src sql Makefile 2>/dev/null)" ] ||
    recon_rev="$recon_rev + uncommitted changes in src/sql"

# ---------------------------------------------------------------------------
# Data, once; the mappings
# ---------------------------------------------------------------------------
t0=$(date +%s.%N)
PSQL_BIN=$RIG_PGBIN/psql bench/corpus/load.sh "$MONGO_TOOL" "$DB"
LOAD_SECS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
log "corpus loaded in ${LOAD_SECS}s"
"${PSQL[@]}" >/dev/null <<SQL
SELECT recon.add_mapping('customers', 'public.customers', 'm', '$DB.customers');
SELECT recon.add_mapping('orders', 'public.orders', 'm', '$DB.orders',
       options => '{"fields": {"ship_city": "shipping.city", "ship_zip": "shipping.zip",
                               "ship_country": "shipping.country"}}');
VACUUM (ANALYZE) customers, orders;
CHECKPOINT;
SQL
INJECTED=$(sql "SELECT count(*) FROM corpus_expected")
INJECTED_BY=$(sql "SELECT string_agg(coll || ' ' || kind || ' ' || n, ', ' ORDER BY coll, kind)
                     FROM (SELECT coll, kind, count(*) AS n FROM corpus_expected GROUP BY 1, 2) s")
NROWS_C=$(sql "SELECT count(*) FROM customers") NROWS_O=$(sql "SELECT count(*) FROM orders")

# ---------------------------------------------------------------------------
# Runs: recon (both sweeps in one fresh session) and the baseline, alternating
# ---------------------------------------------------------------------------
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b - a}'; }

# phases MAPPING PID START END: where one sweep's time went, from the last
# progress NOTICE of each pass (every 1,000 rows/documents) in the server log.
phases() {
    awk -v pid="[$2]" -v pat="sweep of \"$1\": " -v s="$3" -v e="$4" '
        $2 == pid && index($0, pat) && / rows read/ {r = $1}
        $2 == pid && index($0, pat) && / documents read/ {d = $1}
        END {
            if (r == "" || d == "") { printf "%s: no progress NOTICEs (fewer than 1,000 rows?)", m; exit }
            printf "source pass %.1fs, collection pass %.1fs, re-check + record %.1fs", r - s, d - r, e - d
        }' m="$1" "$PGLOG"
}

recon_run() {                  # recon_run I -> R_SECS[I], R_ERR[I], R_INFO[I]
    local i=$1 t0 t1 pid name run_id started finished rest
    t0=$(now)
    pid=$("${PSQL[@]}" -At 2>"$WORK/recon-$i.stderr" <<SQL
SET log_min_messages = notice;
SET client_min_messages = warning;
SET recon.progress_rows = 1000;
$SWEEP_SET
SELECT pg_backend_pid();
\set ON_ERROR_STOP 0
SELECT recon.sweep('customers') AS c \gset
SELECT recon.sweep('orders') AS o \gset
SQL
    ) || true
    t1=$(now)
    R_SECS[$i]=$(secs "$t0" "$t1")
    if grep -q ERROR "$WORK/recon-$i.stderr"; then
        R_ERR[$i]=$(grep -E 'ERROR|DETAIL' "$WORK/recon-$i.stderr" | tr '\n' ' ')
        log "recon run $i FAILED after ${R_SECS[$i]}s: ${R_ERR[$i]}"
        return
    fi
    R_ERR[$i]= R_INFO[$i]=
    # each mapping's last run: server seconds, counts, phases
    while IFS='|' read -r name run_id started finished rest; do
        R_INFO[$i]+="${R_INFO[$i]:+; }$name: run $run_id, $rest; $(phases "$name" "$pid" "$started" "$finished")"
    done < <(sql "SELECT m.name, r.run_id, extract(epoch FROM r.started_at), extract(epoch FROM r.finished_at),
                         format('%ss (rows %s, docs %s, candidates %s, divergences %s)',
                                round(extract(epoch FROM r.finished_at - r.started_at), 3),
                                r.rows_source, r.docs_target, r.candidates, r.divergences)
                    FROM recon.runs r JOIN recon.mappings m USING (mapping_id)
                   WHERE r.run_id = (SELECT max(run_id) FROM recon.runs x WHERE x.mapping_id = r.mapping_id)
                   ORDER BY r.run_id")
    R_INFO[$i]+="; loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
    log "recon run $i: ${R_SECS[$i]}s; ${R_INFO[$i]}"
}

baseline_run() {               # baseline_run I -> B_SECS[I]
    local i=$1 t0 t1
    t0=$(now)
    if ! "$BASELINE" -mongo "$RECON_TEST_MONGO_URI" -db "$DB" >"$WORK/baseline-$i.out" 2>"$WORK/baseline-$i.err"; then
        B_SECS[$i]=$(secs "$t0" "$(now)")
        B_ERR[$i]=$(tail -3 "$WORK/baseline-$i.err" | tr '\n' ' ')
        log "baseline run $i FAILED after ${B_SECS[$i]}s: ${B_ERR[$i]}"
        return
    fi
    t1=$(now)
    B_SECS[$i]=$(secs "$t0" "$t1")
    B_ERR[$i]=
    echo "loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/baseline-$i.err"
    log "baseline run $i: ${B_SECS[$i]}s; $(tr '\n' ' ' <"$WORK/baseline-$i.err")"
    LAST_BASELINE=$WORK/baseline-$i.out
}

declare -a R_SECS R_ERR R_INFO B_SECS B_ERR
LAST_BASELINE=
for i in $(seq 1 "$RUNS"); do
    recon_run "$i"
    baseline_run "$i"
done

median() {                     # median of the arguments (failed runs excluded by the caller)
    [ $# -gt 0 ] || { echo n/a; return; }
    printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1}
        END {if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
ok_secs() {                    # ok_secs R|B: the seconds of the runs that finished
    local i
    for i in $(seq 1 "$RUNS"); do
        if [ "$1" = R ] && [ -z "${R_ERR[$i]}" ]; then echo "${R_SECS[$i]}"; fi
        if [ "$1" = B ] && [ -z "${B_ERR[$i]}" ]; then echo "${B_SECS[$i]}"; fi
    done
}
# shellcheck disable=SC2046
R_MED=$(median $(ok_secs R))
# shellcheck disable=SC2046
B_MED=$(median $(ok_secs B))
RATIO=n/a
[ "$R_MED" = n/a ] || [ "$B_MED" = n/a ] || RATIO=$(awk -v b="$B_MED" -v r="$R_MED" 'BEGIN {printf "%.3f", b / r}')

# ---------------------------------------------------------------------------
# Divergences found, against the injected set
# ---------------------------------------------------------------------------
sql "CREATE TABLE corpus_found (tool text, coll text, key text, kind text)" >/dev/null
# recon: the divergences of each mapping's last run
sql "INSERT INTO corpus_found
     SELECT 'recon', m.name,
            CASE WHEN jsonb_typeof(d.key) = 'object' AND m.name = 'orders'
                      THEN (d.key ->> 'customer_id') || '/' || (d.key ->> 'order_no')
                 WHEN jsonb_typeof(d.key) = 'object' THEN d.key ->> 'id'
                 WHEN jsonb_typeof(d.key) = 'array'
                      THEN (SELECT string_agg(v, '/' ORDER BY n) FROM jsonb_array_elements_text(d.key)
                                                                WITH ORDINALITY a(v, n))
                 ELSE d.key #>> '{}' END,
            d.kind
       FROM recon.divergences d JOIN recon.mappings m USING (mapping_id)
      WHERE d.last_run_id = (SELECT max(run_id) FROM recon.runs r WHERE r.mapping_id = m.mapping_id)" >/dev/null
if [ -n "$LAST_BASELINE" ]; then
    awk 'NF >= 3 {print "baseline\t" $2 "\t" $3 "\t" $1}' "$LAST_BASELINE" |
        "${PSQL[@]}" -c "\\copy corpus_found FROM pstdin" >/dev/null
fi
ACCURACY=$(sql "SELECT format('%-10s %7s %9s %7s %13s %11s', t.tool, 
                       (SELECT count(*) FROM corpus_found f WHERE f.tool = t.tool), $INJECTED,
                       (SELECT count(*) FROM corpus_expected e WHERE NOT EXISTS
                           (SELECT 1 FROM corpus_found f WHERE f.tool = t.tool AND (f.coll, f.key) = (e.coll, e.key))),
                       (SELECT count(*) FROM corpus_found f WHERE f.tool = t.tool AND NOT EXISTS
                           (SELECT 1 FROM corpus_expected e WHERE (f.coll, f.key) = (e.coll, e.key))),
                       (SELECT count(*) FROM corpus_found f JOIN corpus_expected e USING (coll, key)
                         WHERE f.tool = t.tool AND f.kind <> e.kind))
                  FROM (VALUES (1, 'recon'), (2, 'baseline')) t(n, tool) ORDER BY t.n")
DETAILS=$(sql "SELECT format('%s missed %s %s (%s)', t.tool, e.coll, e.key, e.what)
                 FROM (VALUES ('recon'), ('baseline')) t(tool), corpus_expected e
                WHERE NOT EXISTS (SELECT 1 FROM corpus_found f WHERE f.tool = t.tool AND (f.coll, f.key) = (e.coll, e.key))
               UNION ALL
               SELECT format('%s false alarm: %s %s %s', f.tool, f.kind, f.coll, f.key)
                 FROM corpus_found f
                WHERE NOT EXISTS (SELECT 1 FROM corpus_expected e WHERE (f.coll, f.key) = (e.coll, e.key))
               UNION ALL
               SELECT format('%s wrong kind: %s %s is %s, found %s', f.tool, e.coll, e.key, e.kind, f.kind)
                 FROM corpus_found f JOIN corpus_expected e USING (coll, key) WHERE f.kind <> e.kind
               ORDER BY 1 LIMIT 40")

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
echo
echo "recon corpus benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $ncpu CPU(s), $cpu_model; PostgreSQL $pg_version; $go_version"
if [ -n "${RECON_FERRETDB_PID:-}" ]; then
    echo "recon: git $recon_rev; target: FerretDB ($RECON_FERRETDB_BIN, SQLite backend) on loopback"
else
    echo "recon: git $recon_rev; target: $RECON_TEST_MONGO_URI"
fi
echo "corpus: customers $CORPUS_CUSTOMERS (int8 key, 11 mapped columns of 11 types), orders $CORPUS_ORDERS"
echo "        (composite key as an _id subdocument, 3 columns renamed to shipping.*); after injection"
echo "        $NROWS_C + $NROWS_O rows; $INJECTED divergent keys injected ($INJECTED_BY); load ${LOAD_SECS}s"
echo "runs: $RUNS of each, alternating recon / baseline; recon = recon.sweep('customers') then"
echo "      recon.sweep('orders') in one fresh psql session, default settings (re-check on)${SWEEP_SET:+; session: $SWEEP_SET}"
echo
row() {                        # row LABEL ARRAY-NAME ERR-ARRAY-NAME MEDIAN
    local label=$1 i line
    local -n a=$2 e=$3
    line=$(printf '%-22s' "$label")
    for i in $(seq 1 "$RUNS"); do
        if [ -n "${e[$i]}" ]; then line+=$(printf ' %9s' FAILED); else line+=$(printf ' %9s' "${a[$i]}"); fi
    done
    printf '%s %9s\n' "$line" "$4"
}
hdr=$(printf '%-22s' "wall seconds")
for i in $(seq 1 "$RUNS"); do hdr+=$(printf ' %9s' "run $i"); done
printf '%s %9s\n' "$hdr" median
row "recon (both sweeps)" R_SECS R_ERR "$R_MED"
row "baseline (Go script)" B_SECS B_ERR "$B_MED"
echo
echo "ratio baseline / recon (median): $RATIO  (>= 1: recon at least as fast)"
echo
printf '%-10s %7s %9s %7s %13s %11s\n' "" found injected missed "false alarms" "wrong kind"
echo "$ACCURACY"
[ -z "$DETAILS" ] || { echo; echo "$DETAILS"; }
echo
for i in $(seq 1 "$RUNS"); do
    [ -z "${R_ERR[$i]}" ] || { echo "recon run $i failed: ${R_ERR[$i]}"; continue; }
    echo "recon run $i: ${R_INFO[$i]}"
done
for i in $(seq 1 "$RUNS"); do
    [ -z "${B_ERR[$i]}" ] || { echo "baseline run $i failed: ${B_ERR[$i]}"; continue; }
    echo "baseline run $i: $(tr '\n' ' ' <"$WORK/baseline-$i.err")"
done
