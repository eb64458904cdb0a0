#!/usr/bin/env bash
# scripts/valgrind.sh — run recon's main paths (sweep, apply, re-sweep,
# diagnostics, audit check; re-reads by a pass in batches; jsonb writing, replace mode, redaction,
# unwritable values) in a single-user backend under valgrind
# memcheck against a throwaway FerretDB.  Prints valgrind's findings; exits
# non-zero when one involves recon.so.  Slow (a few minutes); not in CI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v valgrind >/dev/null || { echo "valgrind.sh: install valgrind first"; exit 2; }
source scripts/rig.sh
rig_start_ferretdb
rig_tmp
make -s test/mongo_tool
test/mongo_tool drop vg.vt
test/mongo_tool drop vg.vr
test/mongo_tool drop vg.vty
test/mongo_tool drop vg.vo
data=$RIG_TMP/vgdata
rig_as_user "$RIG_PGBIN/initdb" -D "$data" --no-sync -A trust >/dev/null
echo "shared_preload_libraries = 'recon'" >>"$data/postgresql.conf"
# single-user -j mode: a statement ends with a semicolon and an empty line
cat >"$RIG_TMP/vg.sql" <<SQL
CREATE EXTENSION recon;

CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$RECON_TEST_MONGO_URI');

CREATE TABLE vt (id int PRIMARY KEY, name text, score numeric, born date, seen timestamptz, tags jsonb, ok bool, u uuid);

INSERT INTO vt SELECT g, 'n'||g, g*1.5, date '2000-01-01'+g, now(), jsonb_build_object('a', g, 'b', jsonb_build_array(1,2,'x')), g%2=0, gen_random_uuid() FROM generate_series(1,300) g;

SELECT recon.add_mapping('vt', 'public.vt', 'm', 'vg.vt', options => '{"repair": "auto"}');

SELECT recon.sweep('vt');

CALL recon.apply_repairs(1);

SELECT recon.sweep('vt');

SELECT count(*) FROM recon.divergences WHERE status = 'open';

SELECT recon.value_matches('{"a": [1, {"b": 2}]}'::jsonb, '{"v": {"a": [1, {"b": 2.0}]}}');

SELECT recon.bson_of('{"\$date": 1, "a.b": 2147483648, "c": 0.1, "d": 1e400, "e": [1, {"f": null}]}'::jsonb);

CREATE TABLE vr (id int PRIMARY KEY, pin text, doc jsonb, ts timestamptz);

INSERT INTO vr SELECT g, 'p'||g, jsonb_build_object('n', g * 1000000000000, 'k', repeat('x', g)), CASE WHEN g = 7 THEN 'infinity' ELSE now() END FROM generate_series(1,40) g;

SELECT recon.add_mapping('vr', 'public.vr', 'm', 'vg.vr', options => '{"repair": "auto", "repair_mode": "replace", "redact": ["pin"]}');

SELECT recon.sweep('vr');

CALL recon.apply_repairs(3);

UPDATE vr SET pin = 'changed' WHERE id <= 5;

SELECT recon.sweep('vr');

CALL recon.apply_repairs(4);

SELECT * FROM recon.sample('vt', 100, 50, 1);

SELECT * FROM recon.compare_document('vt', '{"_id": 1, "name": "n1", "v": "a", "v": "b"}');

SELECT * FROM recon.compare_document('vt', '\\x1a000000105f696400010000000276000500000061fffe620000'::bytea);

CREATE TYPE vmood AS ENUM ('sad', 'ok');

CREATE TYPE vaddr AS (street text, geo float8[]);

CREATE TABLE vty (id int PRIMARY KEY, tags text[], nums numeric[], moods vmood[], addr vaddr, iv interval, t timetz, ip inet, mac macaddr, c char(5), m money, prefs jsonb);

INSERT INTO vty SELECT g, ARRAY['a','b',NULL], ARRAY[1.5, g], ARRAY['ok']::vmood[], ROW('s'||g, ARRAY[1.5, g])::vaddr, g * interval '1 day 1 hour', '10:30+02', '10.0.0.1', '08:00:2b:01:02:03', 'x', g * 1.25, jsonb_build_object('n', jsonb_build_object('s', g)) FROM generate_series(1,50) g;

SELECT recon.add_mapping('vty', 'public.vty', 'm', 'vg.vty', options => '{"repair": "auto", "unordered": ["tags"]}');

SELECT recon.sweep('vty');

CALL recon.apply_repairs(6);

UPDATE vty SET tags = ARRAY['c'], addr = ROW('moved', ARRAY[2.5])::vaddr, prefs = '{"n": {"s": -1}}', nums = '{{1,2},{3,4}}' WHERE id <= 5;

SELECT recon.sweep('vty');

SELECT key, fields FROM recon.divergences WHERE last_run_id = 7 ORDER BY key::text;

CREATE TABLE vo (id int PRIMARY KEY, c text);

CREATE TABLE vl (oid int, n int, sku text, qty int, PRIMARY KEY (oid, n));

INSERT INTO vo SELECT g, 'c'||g FROM generate_series(1,30) g;

INSERT INTO vl SELECT o, n, 's'||n, n FROM generate_series(1,30) o, generate_series(1, 1 + o % 5) n;

SELECT recon.add_mapping('vo', 'public.vo', 'm', 'vg.vo', options => '{"repair": "auto", "embed": {"lines": {"source": "public.vl", "join": {"oid": "id"}, "order_by": ["n"]}}}');

SELECT recon.sweep('vo');

CALL recon.apply_repairs(8);

UPDATE vl SET qty = 99 WHERE oid = 3 AND n = 1;

DELETE FROM vl WHERE oid = 4;

SELECT recon.sweep('vo');

SELECT key, fields FROM recon.divergences WHERE last_run_id = 9 ORDER BY key::text;

UPDATE vt SET name = 'drift' || id WHERE id % 3 = 0;

SET recon.recheck_reads = 'scan';

SET recon.batch_size = 10;

SELECT recon.sweep('vt');

RESET recon.recheck_reads;

RESET recon.batch_size;

SELECT count(*) FROM recon.divergences WHERE status = 'open' AND mapping_id = (SELECT mapping_id FROM recon.mappings WHERE name = 'vt');

SELECT * FROM recon.sweep_progress;

SELECT mapping, status FROM recon.mapping_health;

SELECT recon.audit_head();

SELECT * FROM recon.verify_audit();

SQL
chmod 644 "$RIG_TMP/vg.sql"
rig_as_user env RECON_TEST_MONGO_URI="$RECON_TEST_MONGO_URI" valgrind --quiet --leak-check=no \
    --error-limit=no "$RIG_PGBIN/postgres" --single -D "$data" -j postgres \
    <"$RIG_TMP/vg.sql" >"$RIG_TMP/vg.out" 2>"$RIG_TMP/vg.err" || true
grep '^==' "$RIG_TMP/vg.err" || echo "valgrind.sh: no valgrind findings"
if grep -q 'recon\.so' "$RIG_TMP/vg.err"; then
    echo "valgrind.sh: findings in recon.so"; exit 1
fi
echo "valgrind.sh: nothing in recon.so (PostgreSQL's own WAL pwrite report is a known false positive)"
