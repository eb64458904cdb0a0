-- Mappings: definition, defaults and every validation error.
CREATE TABLE m_users (id int PRIMARY KEY, name text, email text, born date,
                      profile jsonb, secret text, n numeric);
CREATE TABLE m_nopk (a int, b text);
CREATE TABLE m_point (id int PRIMARY KEY, p point);
CREATE TABLE m_dup (code text, v int);
INSERT INTO m_dup VALUES ('a', 1), ('a', 2), ('b', 3);
CREATE TABLE m_tskey (ts timestamptz PRIMARY KEY, v int);

-- a valid mapping: key defaults to the primary key
SELECT recon.add_mapping('users', 'public.m_users', 'mongo1', 'rt_map.users',
        options => '{"fields": {"email": "contact.email"}, "exclude": ["secret"], "redact": ["name"]}') > 0 AS added;
SELECT name, source, server_name, collection, key_columns, options, cdc_enabled
  FROM recon.mappings WHERE name = 'users';

-- relation missing
SELECT recon.add_mapping('x', 'public.no_such_table', 'mongo1', 'rt_map.x');
\echo :LAST_ERROR_SQLSTATE
-- no primary key and no key
SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x');
\echo :LAST_ERROR_SQLSTATE
-- key column missing
SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x', key => ARRAY['nope']);
\echo :LAST_ERROR_SQLSTATE
-- unsupported column type
SELECT recon.add_mapping('x', 'public.m_point', 'mongo1', 'rt_map.x');
\echo :LAST_ERROR_SQLSTATE
-- ... which exclude can leave out
SELECT recon.add_mapping('points', 'public.m_point', 'mongo1', 'rt_map.points',
                         options => '{"exclude": ["p"]}') > 0 AS added;
-- unsupported key type
SELECT recon.add_mapping('x', 'public.m_tskey', 'mongo1', 'rt_map.x');
\echo :LAST_ERROR_SQLSTATE
-- unknown option
SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x', key => ARRAY['a'],
                         options => '{"repiar": "auto"}');
\echo :LAST_ERROR_SQLSTATE
-- the option table: what validation, the errors above and doc/mappings.md use
SELECT * FROM recon.mapping_options();
-- bad values name what the table says the option accepts
SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x', ARRAY['a'], '{"settle_ms": 3600001}');
SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x', ARRAY['a'], '{"max_write_errors": "10"}');
SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x', ARRAY['a'], '{"repair_mode": "merge"}');
SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x', ARRAY['a'], '{"null_equals_missing": "true"}');
SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x', ARRAY['a'], '{"unordered": "b"}');
SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x', ARRAY['a'], '{"embed": ["b"]}');
\echo :LAST_ERROR_SQLSTATE
-- the bounds themselves are accepted, null is the default
SELECT recon.add_mapping('bounds', 'public.m_nopk', 'mongo1', 'rt_map.bounds', ARRAY['a'],
       '{"settle_ms": 3600000, "max_write_errors": 1, "max_divergence_ratio": 0,
         "max_repairs_per_second": null}') > 0 AS added;
SELECT recon.drop_mapping('bounds');
-- bad option values
SELECT sqlstate_of($$SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x', ARRAY['a'], '{"repair": "sometimes"}')$$) AS bad_repair,
       sqlstate_of($$SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x', ARRAY['a'], '{"max_divergence_ratio": 2}')$$) AS bad_ratio,
       sqlstate_of($$SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x', ARRAY['a'], '{"timestamp_precision": "ns"}')$$) AS bad_precision,
       sqlstate_of($$SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x', ARRAY['a'], '{"delete_extra": "yes"}')$$) AS bad_bool,
       sqlstate_of($$SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x', ARRAY['a'], '[1]')$$) AS not_object,
       sqlstate_of($$SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x', ARRAY['a'], '{"fields": {"b": "$b"}}')$$) AS bad_path,
       sqlstate_of($$SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x', ARRAY['a'], '{"fields": {"b": "_id"}}')$$) AS path_is_id,
       sqlstate_of($$SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x', ARRAY['a'], '{"fields": {"zz": "z"}}')$$) AS rename_unknown_column,
       sqlstate_of($$SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x', ARRAY['a'], '{"exclude": ["zz"]}')$$) AS exclude_unknown_column;
-- overlapping document paths
SELECT recon.add_mapping('x', 'public.m_users', 'mongo1', 'rt_map.x',
                         options => '{"fields": {"name": "a", "email": "a.b"}}');
\echo :LAST_ERROR_SQLSTATE
-- bad collection names
SELECT sqlstate_of($$SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'nodot', ARRAY['a'])$$) AS no_dot,
       sqlstate_of($$SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', '.coll', ARRAY['a'])$$) AS empty_db,
       sqlstate_of($$SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'db.', ARRAY['a'])$$) AS empty_coll,
       sqlstate_of($$SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'd b.c', ARRAY['a'])$$) AS space_in_db,
       sqlstate_of($$SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'db.c$x', ARRAY['a'])$$) AS dollar,
       sqlstate_of($$SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'db.system.users', ARRAY['a'])$$) AS system_coll;
SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'bad$db.c', key => ARRAY['a']);
\echo :LAST_ERROR_SQLSTATE
-- server missing
SELECT recon.add_mapping('x', 'public.m_nopk', 'nosuchserver', 'rt_map.x', key => ARRAY['a']);
\echo :LAST_ERROR_SQLSTATE
-- duplicate mapping name
SELECT recon.add_mapping('users', 'public.m_nopk', 'mongo1', 'rt_map.other', key => ARRAY['a']);
\echo :LAST_ERROR_SQLSTATE
-- a second mapping onto the same collection
SELECT recon.add_mapping('users2', 'public.m_nopk', 'mongo1', 'rt_map.users', key => ARRAY['a']);
\echo :LAST_ERROR_SQLSTATE
-- duplicate keys in the source (a non-unique key)
SELECT recon.add_mapping('dups', 'public.m_dup', 'mongo1', 'rt_map.dups', key => ARRAY['code']);
\echo :LAST_ERROR_SQLSTATE
-- NULL keys are refused too
INSERT INTO m_nopk VALUES (NULL, 'x');
SELECT recon.add_mapping('nullkey', 'public.m_nopk', 'mongo1', 'rt_map.nullkey', key => ARRAY['a']);
\echo :LAST_ERROR_SQLSTATE
DELETE FROM m_nopk;
-- a view can be compared, not repaired (repairs lock the source row)
CREATE VIEW m_users_v AS SELECT id, name FROM m_users;
SELECT recon.add_mapping('v', 'public.m_users_v', 'mongo1', 'rt_map.v', key => ARRAY['id']);
\echo :LAST_ERROR_SQLSTATE
SELECT recon.add_mapping('v', 'public.m_users_v', 'mongo1', 'rt_map.v', key => ARRAY['id'],
                         options => '{"repair": "off"}') > 0 AS added;
SELECT recon.alter_mapping('v', '{"repair": "auto"}');
\echo :LAST_ERROR_SQLSTATE
SELECT recon.drop_mapping('v');
DROP VIEW m_users_v;
-- the key cannot be redacted: it is the _id
SELECT recon.add_mapping('x', 'public.m_nopk', 'mongo1', 'rt_map.x', key => ARRAY['a'],
                         options => '{"redact": ["a"]}');
\echo :LAST_ERROR_SQLSTATE
-- a key without a unique index is accepted when the data is unique
SELECT recon.add_mapping('nopk', 'public.m_nopk', 'mongo1', 'rt_map.nopk', key => ARRAY['a']) > 0 AS added;
-- nothing was half-created by the failures
SELECT name FROM recon.mappings ORDER BY name;

-- alter_mapping merges and validates
SELECT recon.alter_mapping('users', '{"repair": "auto", "max_divergence_ratio": 0.5}');
SELECT options FROM recon.mappings WHERE name = 'users';
-- the audit row keeps both versions
SELECT detail->'before'->>'repair' AS before_repair, detail->'after'->>'repair' AS after_repair,
       before_hash <> after_hash AS hashes_differ
  FROM recon.audit_log WHERE action = 'mapping.altered' AND mapping_name = 'users';
SELECT recon.alter_mapping('users', '{"bogus": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT recon.alter_mapping('users', '{"fields": {"nope": "x"}}');
\echo :LAST_ERROR_SQLSTATE
SELECT recon.alter_mapping('nosuch', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT options FROM recon.mappings WHERE name = 'users';

-- defaults: a mapping without options compares as the table's defaults say
CREATE TABLE m_def (id int PRIMARY KEY, note text, at timestamptz, tags text[]);
INSERT INTO m_def VALUES (1, NULL, '2024-01-02 03:04:05.678901+00', '{a,b}');
SELECT recon.add_mapping('def', 'public.m_def', 'mongo1', 'rt_map.def') > 0 AS added;
SELECT options FROM recon.mappings WHERE name = 'def';
CREATE TABLE m_def_docs (doc text, json text);
INSERT INTO m_def_docs VALUES
  -- note absent (null_equals_missing), at in ms (timestamp_precision),
  -- a field no column maps to (extra_fields), tags in order (unordered)
  ('defaults', '{"_id": 1, "at": {"$date": "2024-01-02T03:04:05.678Z"}, "tags": ["a", "b"], "zz": 1}'),
  ('tags reordered', '{"_id": 1, "at": {"$date": "2024-01-02T03:04:05.678Z"}, "tags": ["b", "a"]}');
SELECT d.doc, c.kind, c.fields FROM m_def_docs d, recon.compare_document('def', d.json) c ORDER BY d.doc;
-- the other values make the same documents differ, or the reordered one equal
SELECT recon.alter_mapping('def', '{"null_equals_missing": false, "timestamp_precision": "us",
                                    "extra_fields": "report", "unordered": ["tags"]}');
SELECT d.doc, c.kind, c.fields FROM m_def_docs d, recon.compare_document('def', d.json) c ORDER BY d.doc;
-- every default, written out, is accepted and compares as leaving it out
SELECT recon.alter_mapping('def', (SELECT jsonb_object_agg(name, default_value::jsonb)
                                     FROM recon.mapping_options() WHERE default_value <> 'none'));
SELECT d.doc, c.kind, c.fields FROM m_def_docs d, recon.compare_document('def', d.json) c ORDER BY d.doc;
SELECT recon.drop_mapping('def');
DROP TABLE m_def, m_def_docs;

-- drop
SELECT recon.drop_mapping('points');
SELECT recon.drop_mapping('nopk');
SELECT recon.drop_mapping('points');
\echo :LAST_ERROR_SQLSTATE
SELECT action, mapping_name FROM recon.audit_log WHERE action LIKE 'mapping.%' ORDER BY audit_id;
SELECT recon.drop_mapping('users');
DROP TABLE m_users, m_nopk, m_point, m_dup, m_tskey;
