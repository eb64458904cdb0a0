-- The sweep: a seeded collection with known drift is found exactly.
-- test/data/gen_sweep_users.py documents every benign difference
-- (rows 1-19 except none) and every injected divergence (rows 20-30, extras).
\! mongo_tool drop rt_sweep.users
\! mongo_tool insert rt_sweep.users < test/data/sweep_users.ndjson
CREATE TABLE s_users (
    id int PRIMARY KEY, name text, email text, score numeric(10,2), ratio float8,
    born date, last_login timestamptz, local_ts timestamp, uid uuid, avatar bytea,
    prefs jsonb, active bool, note text);
INSERT INTO s_users
SELECT g, 'user' || g, 'u' || g || '@example.com', g * 1.25, g / 4.0,
       date '1990-01-01' + g,
       timestamptz '2024-03-01 10:00:00.123456+00' + g * interval '1 minute',
       timestamp '2024-03-01 08:00:00' + g * interval '1 second',
       ('00000000-0000-0000-0000-' || lpad(to_hex(g), 12, '0'))::uuid,
       decode(lpad(to_hex(g), 4, '0'), 'hex'),
       jsonb_build_object('theme', 'dark', 'langs', jsonb_build_array('en', 'fr'), 'n', g),
       g % 2 = 0,
       CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END
FROM generate_series(1, 30) g;
-- row 11 written in another time zone: the same instant
UPDATE s_users SET last_login = '2024-03-01 12:11:00.123+02' WHERE id = 11;

SELECT recon.add_mapping('users', 'public.s_users', 'mongo1', 'rt_sweep.users') > 0 AS added;
SET recon.progress_rows = 25;
SELECT recon.sweep('users') AS run1 \gset
RESET recon.progress_rows;
SELECT status, rows_source, docs_target, divergences, new_divergences, resolved
  FROM recon.runs WHERE run_id = :run1;
-- exactly the injected drift, nothing else
SELECT kind, key, fields FROM recon.divergences
 WHERE mapping_id = (SELECT mapping_id FROM recon.mappings WHERE name = 'users')
 ORDER BY kind, key::text;
-- both images and both hashes are recorded
SELECT key, source_image->'name' AS src_name, target_image->'name' AS doc_name,
       length(source_hash) AS sh, length(target_hash) AS th
  FROM recon.divergences WHERE key = '21';
SELECT key, source_image IS NULL AS no_source, target_image->>'name' AS doc_name, source_hash IS NULL AS no_sh
  FROM recon.divergences WHERE kind = 'extra' ORDER BY key::text;

-- re-running on unchanged data records nothing new, only last_seen
SELECT recon.sweep('users') AS run2 \gset
SELECT divergences, new_divergences, resolved FROM recon.runs WHERE run_id = :run2;
SELECT count(*) AS open_divergences, count(DISTINCT first_run_id) AS first_runs,
       bool_and(last_run_id = :run2) AS all_seen_again
  FROM recon.divergences WHERE status = 'open'
   AND mapping_id = (SELECT mapping_id FROM recon.mappings WHERE name = 'users');

-- a document fixed by the application closes its divergence
\! mongo_tool update rt_sweep.users '{"_id": 21}' '{"$set": {"name": "user21"}}'
SELECT recon.sweep('users') AS run3 \gset
SELECT divergences, new_divergences, resolved FROM recon.runs WHERE run_id = :run3;
SELECT key, status, closed_at IS NOT NULL AS closed FROM recon.divergences WHERE key = '21';
SELECT action, detail->>'key' AS key FROM recon.audit_log
 WHERE run_id = :run3 AND action = 'divergence.closed';

-- a source change that the sweep sees: a deleted row makes its document extra
DELETE FROM s_users WHERE id = 1;
SELECT recon.sweep('users') AS run4 \gset
SELECT kind, key FROM recon.divergences WHERE last_run_id = :run4 AND key = '1';

-- composite keys, nested paths, redaction, extra_fields = report
\! mongo_tool drop rt_sweep.accounts
CREATE TABLE s_accounts (tenant text, id int, owner text, balance numeric, pin text,
                         PRIMARY KEY (tenant, id));
INSERT INTO s_accounts VALUES ('acme', 1, 'ann', 10, 'PIN-ann'), ('acme', 2, 'bob', 20, 'PIN-bob'),
                              ('zeta', 1, 'cid', 30, 'PIN-cid');
\! printf '%s\n' '{"_id": {"tenant": "acme", "id": 1}, "info": {"owner": "ann"}, "balance": 10, "pin": "PIN-ann"}' '{"_id": {"tenant": "acme", "id": 2}, "info": {"owner": "bob"}, "balance": 21, "pin": "PIN-old", "cache": 1}' '{"_id": {"id": 1, "tenant": "zeta"}, "info": {"owner": "cid"}, "balance": 30, "pin": "PIN-cid"}' | mongo_tool insert rt_sweep.accounts
SELECT recon.add_mapping('accounts', 'public.s_accounts', 'mongo1', 'rt_sweep.accounts',
       options => '{"fields": {"owner": "info.owner"}, "redact": ["pin"], "extra_fields": "report"}') > 0 AS added;
SELECT recon.sweep('accounts') AS run5 \gset
-- acme/2 differs (balance, pin, an unmapped field); zeta/1's _id has its fields
-- in the wrong order, which is another _id in MongoDB: extra + missing
SELECT kind, key, fields FROM recon.divergences WHERE last_run_id = :run5 ORDER BY kind, key::text;
-- redacted values appear only as hashes, in images and planned operations
SELECT source_image->>'pin' LIKE 'redacted:hmac:%' AS src_redacted,
       target_image->>'pin' LIKE 'redacted:hmac:%' AS doc_redacted,
       source_image->'info'->>'owner' AS owner
  FROM recon.divergences WHERE last_run_id = :run5 AND kind = 'mismatch';
SELECT count(*) AS rows_leaking_pin FROM recon.divergences d
 WHERE d.last_run_id = :run5 AND (d::text LIKE '%PIN-%');
SELECT count(*) AS repairs_leaking_pin FROM recon.repairs r
 WHERE r.run_id = :run5 AND r.operation::text LIKE '%PIN-%';
SELECT count(*) AS audit_leaking_pin FROM recon.audit_log a WHERE a::text LIKE '%PIN-%';

-- re-checks read a plain table's rows through its unique key index (any
-- column order); a key without one, or an index whose collation differs
-- from the column's, is read with a query: the same divergences either way
\! mongo_tool drop rt_sweep.pairs
\! mongo_tool drop rt_sweep.codes
\! mongo_tool drop rt_sweep.names
CREATE TABLE s_pairs (a int, b text, v text, PRIMARY KEY (b, a));
CREATE TABLE s_codes (code int, v text);
CREATE INDEX ON s_codes (code);
CREATE TABLE s_names (name text COLLATE "C", v text);
CREATE UNIQUE INDEX ON s_names (name COLLATE "POSIX");
INSERT INTO s_pairs VALUES (1, 'x', 'one'), (2, 'y', 'two'), (3, 'z', 'three');
INSERT INTO s_codes VALUES (1, 'one'), (2, 'two'), (3, 'three');
INSERT INTO s_names VALUES ('ann', 'one'), ('bob', 'two'), ('cid', 'three');
\! printf '%s\n' '{"_id": {"a": 1, "b": "x"}, "v": "one"}' '{"_id": {"a": 2, "b": "y"}, "v": "TWO"}' '{"_id": {"a": 4, "b": "z"}, "v": "three"}' | mongo_tool insert rt_sweep.pairs
\! printf '%s\n' '{"_id": 1, "v": "one"}' '{"_id": 2, "v": "TWO"}' '{"_id": 4, "v": "three"}' | mongo_tool insert rt_sweep.codes
\! printf '%s\n' '{"_id": "ann", "v": "one"}' '{"_id": "bob", "v": "TWO"}' '{"_id": "dan", "v": "three"}' | mongo_tool insert rt_sweep.names
SELECT recon.add_mapping('pairs', 'public.s_pairs', 'mongo1', 'rt_sweep.pairs', key => ARRAY['a', 'b']) > 0 AS added;
SELECT recon.add_mapping('codes', 'public.s_codes', 'mongo1', 'rt_sweep.codes', key => ARRAY['code']) > 0 AS added;
SELECT recon.add_mapping('names', 'public.s_names', 'mongo1', 'rt_sweep.names', key => ARRAY['name']) > 0 AS added;
SELECT recon.sweep('pairs') AS run_pairs, recon.sweep('codes') AS run_codes,
       recon.sweep('names') AS run_names \gset
SELECT r.mapping_name, d.kind, d.key, d.fields
  FROM recon.divergences d JOIN recon.runs r ON r.run_id = d.last_run_id
 WHERE r.run_id IN (:run_pairs, :run_codes, :run_names)
 ORDER BY r.mapping_name, d.kind, d.key::text;

-- a background sweep returns its run at once and records the same result
SELECT recon.start_sweep('users') AS bg \gset
DO $$
BEGIN
    FOR i IN 1..600 LOOP
        EXIT WHEN (SELECT status <> 'running' FROM recon.runs
                    WHERE run_id = (SELECT max(run_id) FROM recon.runs WHERE mapping_name = 'users'));
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT status, started_by = current_user AS by_caller, rows_source, divergences
  FROM recon.runs WHERE run_id = :bg;

-- a sweep of an unknown mapping, or while cancelled, changes nothing
SELECT recon.sweep('nosuch');
\echo :LAST_ERROR_SQLSTATE
SET statement_timeout = '1ms';
\set VERBOSITY terse
SELECT recon.sweep('users');
\set VERBOSITY default
-- PostgreSQL's timeout signals the backend twice (its process group, then
-- itself); a second signal that lands after the error would cancel the next
-- statement "due to user request": absorb it here
DO $$ BEGIN PERFORM pg_sleep(0.1); EXCEPTION WHEN query_canceled THEN NULL; END $$;
RESET statement_timeout;
-- a cancel that lands inside one item's subtransaction (recording a
-- divergence) ends the statement and leaves the session usable
SET recon.debug_pause_point = 'in_item';
SET recon.debug_pause_ms = 5000;
SET statement_timeout = '500ms';
\set VERBOSITY terse
SELECT recon.sweep('users');
\set VERBOSITY default
RESET statement_timeout;
RESET recon.debug_pause_point;
RESET recon.debug_pause_ms;
SELECT 'usable' AS session_after_cancel;
SELECT count(*) AS runs FROM recon.runs WHERE mapping_name = 'users';
SELECT recon.start_sweep('nosuch');
\echo :LAST_ERROR_SQLSTATE

-- digests: a double inside a document (JSON tree or array) hashes as the
-- number it renders as, so a jsonb or numeric[] value equal to it is no
-- candidate; one real difference is the only candidate
\! mongo_tool drop rt_sweep.jd
\! printf '%s\n' '{"_id": 1, "doc": {"x": 1.5, "y": [2.25, {"z": 0.5}]}, "nums": [1.5, 2.5]}' '{"_id": 2, "doc": {"x": 3}, "nums": [4.25]}' '{"_id": 3, "doc": {"x": 7.5}, "nums": [1.0]}' | mongo_tool insert rt_sweep.jd
CREATE TABLE s_jd (id int PRIMARY KEY, doc jsonb, nums numeric[]);
INSERT INTO s_jd VALUES (1, '{"x": 1.5, "y": [2.25, {"z": 0.5}]}', '{1.5,2.5}'),
                        (2, '{"x": 3}', '{4.25}'), (3, '{"x": 7.25}', '{1}');
SELECT recon.add_mapping('jd', 'public.s_jd', 'mongo1', 'rt_sweep.jd') > 0 AS added;
SELECT recon.sweep('jd') AS jd_run \gset
SELECT candidates, divergences FROM recon.runs WHERE run_id = :jd_run;
SELECT kind, key, fields FROM recon.divergences WHERE last_run_id = :jd_run;
