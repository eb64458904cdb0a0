-- recon demo: a PostgreSQL table, its drifting MongoDB copy, a sweep, the
-- approved repairs and the audit trail.  Run by scripts/demo.sh, which
-- passes the MongoDB URI as :mongo_uri and puts mongo_tool on PATH.
\set QUIET on
\pset footer off
SET client_min_messages = warning;

\echo
\echo '=== 1. The source of truth: 1,000 customers in PostgreSQL'
CREATE EXTENSION recon;
CREATE SERVER app_mongo FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri :'mongo_uri');
CREATE TABLE customers (
    id         int PRIMARY KEY,
    name       text NOT NULL,
    email      text,
    tier       text,
    balance    numeric(12,2),
    signed_up  date,
    last_login timestamptz,
    prefs      jsonb,
    tags       text[]              -- compared as a multiset (option "unordered")
);
INSERT INTO customers
SELECT g, 'Customer ' || g, 'c' || g || '@example.com',
       (ARRAY['bronze', 'silver', 'gold'])[1 + g % 3],
       round((g * 37.13)::numeric % 5000, 2),
       date '2020-01-01' + (g % 1400),
       timestamptz '2026-11-01 08:00:00.123456+00' + g * interval '17 minutes',
       jsonb_build_object('lang', (ARRAY['en', 'fr', 'de'])[1 + g % 3], 'news', g % 2 = 0),
       CASE WHEN g % 10 = 0 THEN ARRAY['vip', 'newsletter'] ELSE ARRAY['newsletter'] END
FROM generate_series(1, 1000) g;
SELECT count(*) AS customers FROM customers;

\echo '=== 2. The application''s MongoDB copy (app.customers), written the way apps do'
\! mongo_tool drop app.customers
\copy (SELECT jsonb_build_object('_id', id, 'name', name, 'email', email, 'tier', tier, 'balance', balance::float8, 'signed_up', jsonb_build_object('$date', to_char(signed_up, 'YYYY-MM-DD"T00:00:00Z"')), 'last_login', jsonb_build_object('$date', to_char(last_login AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')), 'prefs', prefs, 'tags', tags, 'app_cache', jsonb_build_object('views', id % 7))::text FROM customers WHERE id NOT IN (17, 404) ORDER BY id) TO PROGRAM 'mongo_tool insert app.customers'
\echo '    ... with drift: 2 lost inserts (17, 404), a stale tier (42), a balance'
\echo '    stored as a string (77), three logins shifted by a writer''s time zone'
\echo '    (101-103), a changed preference (250), a lost tag (500) and an orphan (5001);'
\! mongo_tool update app.customers '{"_id": 42}' '{"$set": {"tier": "silver"}}'
\! mongo_tool update app.customers '{"_id": 77}' '{"$set": {"balance": "2859.01"}}'
\! mongo_tool update app.customers '{"_id": {"$in": [101, 102, 103]}}' '{"$set": {"last_login": {"$date": "2026-11-02T12:00:00.000Z"}}}'
\! mongo_tool update app.customers '{"_id": 250}' '{"$set": {"prefs.lang": "es"}}'
\! mongo_tool update app.customers '{"_id": 500}' '{"$set": {"tags": ["newsletter"]}}'
\! printf '%s\n' '{"_id": 5001, "name": "Deleted Customer", "tier": "gold"}' | mongo_tool insert app.customers
\echo '    and harmless representation differences recon must NOT report: a whole'
\echo '    balance stored as an integer (300), a date stored as "YYYY-MM-DD" (301),'
\echo '    document keys in another order (302), tags in another order (310),'
\echo '    unmapped app fields (everywhere).'
\! mongo_tool update app.customers '{"_id": 300}' '{"$set": {"balance": 4139}}'
\! mongo_tool update app.customers '{"_id": 301}' '{"$set": {"signed_up": "2020-10-28"}}'
\! mongo_tool update app.customers '{"_id": 302}' '{"$set": {"prefs": {"news": true, "lang": "de"}}}'
\! mongo_tool update app.customers '{"_id": 310}' '{"$set": {"tags": ["newsletter", "vip"]}}'
UPDATE customers SET balance = 4139 WHERE id = 300;
UPDATE customers SET last_login = '2026-11-02 12:00:00+00' WHERE id BETWEEN 101 AND 103;
UPDATE customers SET last_login = last_login - interval '2 hours' WHERE id BETWEEN 101 AND 103;

\echo '=== 3. A DBA maps the table; an operator sweeps'
CREATE ROLE demo_operator; GRANT recon_operator TO demo_operator;
CREATE ROLE demo_approver; GRANT recon_approver TO demo_approver;
SELECT recon.add_mapping('customers', 'public.customers', 'app_mongo', 'app.customers',
       options => '{"repair": "approve", "delete_extra": true, "max_divergence_ratio": 0.05,
                    "unordered": ["tags"]}') AS mapping_id;
SET SESSION AUTHORIZATION demo_operator;   -- a login of its own (four eyes compare logins)
SELECT recon.sweep('customers') AS run \gset
RESET SESSION AUTHORIZATION;
SELECT run_id, status, rows_source, docs_target, divergences,
       round(divergences::numeric / rows_source, 4) AS ratio, finished_at - started_at AS took
  FROM recon.runs WHERE run_id = :run;

\echo '=== 4. What diverged (exactly the injected drift)'
SELECT kind, key, fields,
       CASE WHEN kind = 'mismatch' THEN
            (SELECT string_agg(f || ': ' || coalesce(source_image #> string_to_array(f, '.'), 'null')::text
                               || ' <> ' || coalesce((target_image #> string_to_array(f, '.'))::text, 'missing'), '; ')
               FROM unnest(fields) f)
       END AS "PostgreSQL <> MongoDB"
  FROM recon.divergences WHERE last_run_id = :run ORDER BY kind, key::text;

\echo '=== 5. The planned repairs (a dry run: nothing written yet)'
SELECT r.repair_id, d.key, r.action, r.needs_approval, r.operation
  FROM recon.repairs r JOIN recon.divergences d USING (divergence_id)
 WHERE r.run_id = :run ORDER BY r.repair_id;

\echo '=== 6. Another person approves; the operator applies (compare-and-set)'
SET SESSION AUTHORIZATION demo_approver;   -- a login of its own (four eyes compare logins)
SELECT recon.approve_repairs(:run, NULL, 'verified against the billing system') AS approved;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION demo_operator;   -- a login of its own (four eyes compare logins)
CALL recon.apply_repairs(:run);
RESET SESSION AUTHORIZATION;
SELECT status, count(*) FROM recon.repairs WHERE run_id = :run GROUP BY 1;

\echo '=== 7. A second sweep finds nothing left'
SET SESSION AUTHORIZATION demo_operator;   -- a login of its own (four eyes compare logins)
SELECT recon.sweep('customers') AS run2 \gset
RESET SESSION AUTHORIZATION;
SELECT run_id, status, divergences, resolved FROM recon.runs WHERE run_id = :run2;
\! mongo_tool find app.customers '{"_id": {"$in": [42, 77]}}'

\echo '=== 7b. Children embedded in their parent: orders and their line items'
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, placed_at timestamptz);
CREATE TABLE order_lines (order_id int REFERENCES orders, line_no int, sku text, qty int,
                          PRIMARY KEY (order_id, line_no));
INSERT INTO orders SELECT g, 1 + g % 1000, timestamptz '2026-11-20 09:00+00' + g * interval '1 minute'
  FROM generate_series(1, 200) g;
INSERT INTO order_lines SELECT o, l, 'SKU-' || (o * 7 + l) % 97, 1 + (o + l) % 5
  FROM generate_series(1, 200) o, generate_series(1, 3 + o % 4) l;
\! mongo_tool drop app.orders
\echo '    ... the application''s copy (app.orders) embeds the lines; drift: order 12'
\echo '    lost its line 2, order 13 has a wrong quantity on line 1'
\copy (SELECT jsonb_build_object('_id', o.id, 'customer', o.customer_id, 'placed_at', jsonb_build_object('$date', to_char(o.placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')), 'lines', (SELECT jsonb_agg(jsonb_build_object('line', l.line_no, 'sku', l.sku, 'qty', CASE WHEN (o.id, l.line_no) = (13, 1) THEN 40 ELSE l.qty END) ORDER BY l.line_no) FROM order_lines l WHERE l.order_id = o.id AND (o.id, l.line_no) <> (12, 2)))::text FROM orders o ORDER BY o.id) TO PROGRAM 'mongo_tool insert app.orders'
SELECT recon.add_mapping('orders', 'public.orders', 'app_mongo', 'app.orders',
       options => '{"fields": {"customer_id": "customer"},
                    "embed": {"lines": {"source": "public.order_lines", "join": {"order_id": "id"},
                              "columns": ["line_no", "sku", "qty"], "fields": {"line_no": "line"},
                              "order_by": ["line_no"]}},
                    "repair": "auto"}') AS mapping_id;
SELECT recon.sweep('orders') AS orun \gset
SELECT kind, key, fields FROM recon.divergences WHERE last_run_id = :orun ORDER BY key::text;
CALL recon.apply_repairs(:orun);
SELECT recon.sweep('orders') AS orun2 \gset
SELECT run_id, status, rows_source, divergences, resolved FROM recon.runs WHERE run_id = :orun2;

\echo '=== 8. The audit trail (append-only, hash-chained)'
SELECT chain_seq, to_char(at, 'HH24:MI:SS.MS') AS at, actor, action,
       coalesce(d.key::text, '') AS key, left(a.reason, 50) AS reason, left(a.row_hash, 12) AS hash
  FROM recon.audit_log a LEFT JOIN recon.divergences d USING (divergence_id)
 WHERE a.action NOT IN ('repair.planned', 'divergence.opened')
 ORDER BY chain_seq;
SELECT action, count(*) FROM recon.audit_log GROUP BY 1 ORDER BY 1;
SELECT * FROM recon.verify_audit();
\echo '=== 9. Anchor the chain outside the database, and verify against the anchor'
SELECT chain_seq AS anchor_seq, row_hash AS anchor_hash FROM recon.audit_head() \gset
\echo 'exported anchor:' :anchor_seq :anchor_hash
SELECT * FROM recon.verify_audit(:anchor_seq, :'anchor_hash');
