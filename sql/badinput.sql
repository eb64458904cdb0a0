-- The usual suspects of the bad-input catalogue (README §6) not covered
-- elsewhere: empty sides, extreme numbers, huge values, a missing collection.
\! mongo_tool drop rt_bad.e
\! mongo_tool drop rt_bad.n
-- an empty table and a collection that does not exist
CREATE TABLE bad_e (id int PRIMARY KEY, v text);
SELECT recon.add_mapping('bad_e', 'public.bad_e', 'mongo1', 'rt_bad.e') > 0 AS added;
SELECT recon.sweep('bad_e') AS run_e \gset
SELECT status, rows_source, docs_target, divergences FROM recon.runs WHERE run_id = :run_e;
-- an empty table and a non-empty collection: every document is extra
\! printf '%s\n' '{"_id": 1, "v": "a"}' '{"_id": 2, "v": "b"}' | mongo_tool insert rt_bad.e
SELECT recon.sweep('bad_e') AS run_e2 \gset
SELECT kind, count(*) FROM recon.divergences WHERE last_run_id = :run_e2 GROUP BY 1;
-- rows, and an empty collection: every row is missing
INSERT INTO bad_e VALUES (1, 'a'), (2, 'b'), (3, 'c');
\! mongo_tool drop rt_bad.e
SELECT recon.sweep('bad_e') AS run_e3 \gset
SELECT kind, count(*) FROM recon.divergences WHERE last_run_id = :run_e3 AND status = 'open' GROUP BY 1;
-- dropping a mapping drops its queued change checks too
INSERT INTO recon.cdc_queue (mapping_id, key_canon, key, committed_at, due_at)
  SELECT mapping_id, '\x01', '1', now(), now() FROM recon.mappings WHERE name = 'bad_e';
SELECT recon.drop_mapping('bad_e');
SELECT count(*) AS queued_after_drop FROM recon.cdc_queue;

-- extreme numbers on the source side, compared and planned without error
CREATE TABLE bad_n (id int PRIMARY KEY, big numeric, f float8, j jsonb);
INSERT INTO bad_n VALUES
  (1, ('1' || repeat('0', 300))::numeric, '-0', NULL),          -- 10^300 = double 1e300; -0 = 0
  (2, ('0.' || repeat('3', 1000))::numeric, 'NaN', NULL),       -- 1000 digits: its nearest double
  (3, 1, 'Infinity', (SELECT jsonb_agg(g) FROM generate_series(1, 100000) g)),   -- ~600 kB jsonb
  (4, 1, 0, NULL),
  (5, ('1' || repeat('0', 999))::numeric, 1, NULL);             -- beyond double range: Decimal128
\! printf '%s\n' '{"_id": 1, "big": 1e300, "f": 0}' '{"_id": 4, "big": 1, "f": {"$numberDouble": "-0.0"}}' | mongo_tool insert rt_bad.n
SELECT recon.add_mapping('bad_n', 'public.bad_n', 'mongo1', 'rt_bad.n') > 0 AS added;
SELECT recon.sweep('bad_n') AS run_n \gset
SELECT kind, key, fields, reason FROM recon.divergences WHERE last_run_id = :run_n ORDER BY key::text;
SELECT d.key, r.action, r.status, left(r.operation::text, 60) AS operation
  FROM recon.repairs r JOIN recon.divergences d USING (divergence_id)
 WHERE r.run_id = :run_n ORDER BY d.key::text;
SELECT recon.drop_mapping('bad_n');
DROP TABLE bad_e, bad_n;

-- duplicate source keys (a view that repeats rows): the run fails naming the
-- key, resolves nothing and leaves nothing to apply; never one row silently
\! mongo_tool drop rt_bad.dup
CREATE TABLE bad_d (id int PRIMARY KEY, v text);
INSERT INTO bad_d VALUES (1, 'a'), (2, 'b');
CREATE VIEW bad_dv AS SELECT id, v FROM bad_d UNION ALL SELECT id, 'other' FROM bad_d WHERE id = 2;
\! printf '%s\n' '{"_id": 1, "v": "a"}' | mongo_tool insert rt_bad.dup
SELECT recon.add_mapping('bad_dv', 'public.bad_dv', 'mongo1', 'rt_bad.dup', key => ARRAY['id'],
       options => '{"repair": "off"}');
\echo :LAST_ERROR_SQLSTATE
-- (the key check refuses it at mapping time; duplicates that appear later:)
DROP VIEW bad_dv;
CREATE VIEW bad_dv AS SELECT id, v FROM bad_d;
SELECT recon.add_mapping('bad_dv', 'public.bad_dv', 'mongo1', 'rt_bad.dup', key => ARRAY['id'],
       options => '{"repair": "off"}') > 0 AS added;
SELECT recon.sweep('bad_dv') > 0 AS swept;
SELECT kind, key, status FROM recon.divergences d JOIN recon.mappings m USING (mapping_id) WHERE m.name = 'bad_dv';
\! printf '%s\n' '{"_id": 2, "v": "b"}' | mongo_tool insert rt_bad.dup
CREATE OR REPLACE VIEW bad_dv AS SELECT id, v FROM bad_d UNION ALL SELECT id, 'other' FROM bad_d WHERE id = 2;
SELECT recon.sweep('bad_dv') AS run_d \gset
SELECT status, error FROM recon.runs WHERE run_id = :run_d;
-- the failed run resolved nothing: key 2 stays open until a good run re-reads it
SELECT kind, key, status FROM recon.divergences d JOIN recon.mappings m USING (mapping_id) WHERE m.name = 'bad_dv';
SELECT recon.drop_mapping('bad_dv');
DROP VIEW bad_dv;
DROP TABLE bad_d;

-- a source with no usable size estimate (a view) and an empty collection: the
-- sweep starts with one partition and re-splits it as rows arrive, so memory
-- follows recon.partition_rows, and the result is the same
\! mongo_tool drop rt_bad.big
CREATE TABLE bad_big (id int PRIMARY KEY, v text);
INSERT INTO bad_big SELECT g, 'v' || g FROM generate_series(1, 5000) g;
CREATE VIEW bad_bigv AS SELECT id, v FROM bad_big;
\! printf '%s\n' '{"_id": 17, "v": "v17"}' '{"_id": 4711, "v": "changed"}' '{"_id": 9999, "v": "orphan"}' | mongo_tool insert rt_bad.big
SELECT recon.add_mapping('bad_bigv', 'public.bad_bigv', 'mongo1', 'rt_bad.big', key => ARRAY['id'],
       options => '{"repair": "off"}') > 0 AS added;
SET recon.partition_rows = 1024;
SELECT recon.sweep('bad_bigv') AS run_big \gset
RESET recon.partition_rows;
SELECT rows_source, docs_target, divergences FROM recon.runs WHERE run_id = :run_big;
SELECT kind, count(*), min(key::text::int), max(key::text::int) FROM recon.divergences
 WHERE last_run_id = :run_big GROUP BY kind ORDER BY kind;
SELECT recon.drop_mapping('bad_bigv');
DROP VIEW bad_bigv;
DROP TABLE bad_big;

-- a string that is not valid UTF-8 in a document (written unvalidated): the
-- sweep finishes and records the key; the document's image says what it can
-- (a server that keeps the bytes: see recon.compare_document below)
\! mongo_tool drop rt_bad.utf
\! mongo_tool insert-raw-string rt_bad.utf 1 61fffe62
-- FerretDB stores the bad bytes as U+FFFD (ef bf bd): what a sweep reads
\! mongo_tool find-raw rt_bad.utf
CREATE TABLE bad_u (id int PRIMARY KEY, v text);
INSERT INTO bad_u VALUES (1, 'ab');
SELECT recon.add_mapping('bad_u', 'public.bad_u', 'mongo1', 'rt_bad.utf', options => '{"repair": "off"}') > 0 AS added;
SELECT recon.sweep('bad_u') AS run_u \gset
SELECT status, divergences FROM recon.runs WHERE run_id = :run_u;
SELECT kind, key, fields, target_image IS NOT NULL AS has_image FROM recon.divergences WHERE last_run_id = :run_u;
SELECT recon.drop_mapping('bad_u');
DROP TABLE bad_u;

-- documents no server hands over intact (FerretDB refuses duplicate and
-- dotted names at insert and stores invalid UTF-8 as U+FFFD), tried through
-- recon.compare_document(mapping, raw BSON): what a sweep would record
CREATE TABLE bad_raw (id int PRIMARY KEY, v text, w text);
INSERT INTO bad_raw VALUES (1, 'a', 'x');
SELECT recon.add_mapping('bad_raw', 'public.bad_raw', 'mongo1', 'rt_bad.raw',
       options => '{"fields": {"w": "n.w"}, "repair": "off"}') > 0 AS added;
SELECT c.doc, r.kind, r.fields, r.reason FROM (VALUES
  ('a mapped field named twice', '\x31000000105f69640001000000027600020000006100027600020000006100036e000e0000000277000200000078000000'::bytea),
  ('a nested mapped field named twice', '\x31000000105f69640001000000027600020000006100036e00170000000277000200000078000277000200000078000000'::bytea),
  ('an unmapped field named twice (ignored)', '\x3a000000105f69640001000000027600020000006100036e000e00000002770002000000780000027a00020000003100027a0002000000320000'::bytea),
  ('a literal dotted name is not the nested path', '\x22000000105f69640001000000027600020000006100026e2e770002000000780000'::bytea),
  ('a $-prefixed name is an ordinary unmapped field', '\x32000000105f69640001000000027600020000006100036e000e000000027700020000007800000224760002000000710000'::bytea),
  ('a string that is not valid UTF-8', '\x2a000000105f696400010000000276000400000061fffe00036e000e0000000277000200000078000000'::bytea),
  ('a string holding a NUL', '\x29000000105f6964000100000002760003000000610000036e000e0000000277000200000078000000'::bytea),
  ('a field name that is not valid UTF-8', '\x31000000105f69640001000000027600020000006100036e000e0000000277000200000078000002ff0002000000710000'::bytea),
  ('no _id at all', '\x0e00000002760002000000610000'::bytea)
) AS c(doc, raw), recon.compare_document('bad_raw', c.raw) r;
-- extended JSON too: equal, a row that is not there, an _id no row can have
SELECT (recon.compare_document('bad_raw', '{"_id": 1, "v": "a", "n": {"w": "x"}}')).*;
SELECT (recon.compare_document('bad_raw', '{"_id": 2, "v": "a"}')).*;
SELECT (recon.compare_document('bad_raw', '{"_id": {"$oid": "5f0000000000000000000000"}}')).*;
-- not a document, not JSON: clear errors
SELECT recon.compare_document('bad_raw', '\x0102'::bytea);
SELECT recon.compare_document('bad_raw', '{"_id": ');
-- a duplicate name inside a jsonb value is not equal to any jsonb value
SELECT recon.value_matches('{"a": 2}'::jsonb, '{"v": {"a": 1, "a": 2}}') AS dup_in_jsonb,
       recon.value_matches('{"a": 2}'::jsonb, '{"v": {"a": 2}}') AS plain_jsonb;
SELECT recon.drop_mapping('bad_raw');
DROP TABLE bad_raw;
