#!/usr/bin/env bash
# bench/corpus/load.sh — build the corpus of the corpus benchmark: the
# PostgreSQL tables (bench/corpus/corpus.sql) and the application's copy in
# MongoDB, with about 0.1 % divergences injected and listed in
# corpus_expected.  Used by bench/corpus_bench.sh; runs on its own too:
#
#   PGHOST=... PGPORT=... RECON_TEST_MONGO_URI=mongodb://... \
#       bench/corpus/load.sh MONGO_TOOL [DB]
#
# MONGO_TOOL is test/mongo_tool (make test/mongo_tool); DB defaults to
# "corpus": its collections customers and orders are dropped and reloaded.
# Scale: CORPUS_CUSTOMERS (default 100000), CORPUS_ORDERS (default 60000).
set -euo pipefail

MONGO_TOOL=${1:?usage: load.sh MONGO_TOOL [DB]}
DB=${2:-corpus}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CUSTOMERS=${CORPUS_CUSTOMERS:-100000}
ORDERS=${CORPUS_ORDERS:-60000}
PSQL=(${PSQL_BIN:-psql} -X -q -v ON_ERROR_STOP=1)

log() { echo "corpus: $*" >&2; }

log "creating customers ($CUSTOMERS rows) and orders ($ORDERS rows)"
"${PSQL[@]}" -v customers="$CUSTOMERS" -v orders="$ORDERS" -f "$HERE/corpus.sql" >/dev/null

# The documents, 50,000 per insert (one bulk write each).
for coll in customers orders; do
    view=corpus_customer_docs
    [ "$coll" = customers ] || view=corpus_order_docs
    "$MONGO_TOOL" drop "$DB.$coll"
    log "loading $DB.$coll"
    "${PSQL[@]}" -c "COPY (SELECT doc FROM $view) TO STDOUT" |
        split -l 50000 --filter="\"$MONGO_TOOL\" insert $DB.$coll"
done

# Extra documents: their rows leave the table now that the documents exist.
"${PSQL[@]}" <<'SQL'
DELETE FROM customers c USING corpus_expected e
 WHERE e.coll = 'customers' AND e.kind = 'extra' AND e.key = c.id::text;
DELETE FROM orders o USING corpus_expected e
 WHERE e.coll = 'orders' AND e.kind = 'extra' AND e.key = o.customer_id || '/' || o.order_no;
SQL

for coll in customers orders; do
    want=$("${PSQL[@]}" -At -c "SELECT (SELECT count(*) FROM $coll)
              + (SELECT count(*) FILTER (WHERE kind = 'extra') - count(*) FILTER (WHERE kind = 'missing')
                   FROM corpus_expected WHERE coll = '$coll')")
    have=$("$MONGO_TOOL" count "$DB.$coll")
    [ "$have" -eq "$want" ] || { log "$DB.$coll holds $have documents, expected $want"; exit 1; }
done
"${PSQL[@]}" -At -c "SELECT 'corpus: injected ' || sum(n) || ' divergences: '
                            || string_agg(coll || ' ' || kind || ' ' || n, ', ' ORDER BY coll, kind)
                       FROM (SELECT coll, kind, count(*) AS n FROM corpus_expected GROUP BY 1, 2) s" >&2
