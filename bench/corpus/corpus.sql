-- bench/corpus/corpus.sql — the PostgreSQL side of the corpus benchmark
-- (bench/corpus_bench.sh), and the list of divergences to inject.
--
--   psql -v customers=100000 -v orders=60000 -f bench/corpus/corpus.sql
--
-- Creates, replacing earlier ones:
--   customers   int8 key and 11 mapped columns of 11 types (text, varchar,
--               numeric, float8, bool, int4, timestamptz with microseconds,
--               date, uuid, jsonb, text[]), NULLs in 4 of them
--   orders      composite key (customer_id, order_no), three orders per
--               customer id; ship_* columns live in the document under
--               "shipping" (mapping option "fields")
--   corpus_expected (coll, key, kind, what)
--               about 1 key in 1,000 of each table, with the divergence it
--               gets (kind as recon names it: missing, extra, mismatch; what
--               says which change): key is "<id>" for customers and
--               "<customer_id>/<order_no>" for orders
--   corpus_customer_docs / corpus_order_docs
--               views: one extended-JSON document per line, as the
--               application writes them, with the divergences applied
--               (missing ones left out); bench/corpus/load.sh copies them
--               into MongoDB, then deletes the rows of the "extra" keys.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

DROP VIEW IF EXISTS corpus_customer_docs, corpus_order_docs;
DROP TABLE IF EXISTS customers, orders, corpus_expected;

-- ---------------------------------------------------------------------------
-- Extended JSON of one value, as the application's driver would write it.
-- numeric is written as the nearest double (FerretDB has no Decimal128).
-- STRICT: a NULL stays NULL (the document then has null or no field).
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION ej_long(int8) RETURNS json LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT json_build_object('$numberLong', $1::text) $$;
CREATE OR REPLACE FUNCTION ej_double(float8) RETURNS json LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT json_build_object('$numberDouble', $1::text) $$;
-- a Date at the millisecond, floored (what a driver keeps of a timestamp)
CREATE OR REPLACE FUNCTION ej_date(timestamptz) RETURNS json LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT json_build_object('$date', json_build_object('$numberLong',
                 floor(extract(epoch FROM $1) * 1000)::int8::text)) $$;
CREATE OR REPLACE FUNCTION ej_day(date) RETURNS json LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT ej_date($1::timestamp AT TIME ZONE 'UTC') $$;
CREATE OR REPLACE FUNCTION ej_uuid(uuid) RETURNS json LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT json_build_object('$binary', json_build_object(
                 'base64', encode(decode(replace($1::text, '-', ''), 'hex'), 'base64'),
                 'subType', '04')) $$;
-- the ISO string some code path wrote instead of a Date (a type slip)
CREATE OR REPLACE FUNCTION ej_iso(timestamptz) RETURNS json LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT to_json(to_char($1 AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) $$;

-- ---------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------
CREATE TABLE customers (
    id          int8 PRIMARY KEY,
    name        text NOT NULL,
    email       varchar(120),
    balance     numeric(12,2),
    score       float8,
    active      boolean,
    visits      int4,
    created_at  timestamptz,
    birth_date  date,
    ext_id      uuid,
    prefs       jsonb,
    tags        text[]
);
INSERT INTO customers
SELECT i,
       'Customer ' || i || ' ' || substr(md5(i::text), 1, 8),
       'c' || i || '@example.' || (ARRAY['com', 'org', 'net'])[i % 3 + 1],
       ((i::int8 * 7919) % 10000000) / 100.0,
       ((i * 0.7310585786300049) % 1000)::float8,
       i % 4 <> 0,
       (i * 31) % 500,
       -- microseconds in PostgreSQL, milliseconds in the document
       timestamptz '2020-01-01 00:00:00+00' + i * interval '7 minutes 3.123457 seconds',
       CASE WHEN i % 9 = 0 THEN NULL ELSE date '1950-01-01' + (i * 37) % 20000 END,
       md5('ext' || i)::uuid,
       CASE WHEN i % 11 = 0 THEN NULL
            ELSE jsonb_build_object('theme', (ARRAY['dark', 'light'])[i % 2 + 1],
                                    'lang', (ARRAY['en', 'de', 'fr', 'ja'])[i % 4 + 1],
                                    'notify', jsonb_build_object('email', i % 2 = 0, 'sms', i % 5 = 0),
                                    'limit', (i % 100) * 0.5) END,
       CASE WHEN i % 13 = 0 THEN '{}'::text[]
            WHEN i % 17 = 0 THEN NULL
            ELSE ARRAY['a' || i % 7, 'b' || i % 11] END
FROM generate_series(1, :customers) i;

CREATE TABLE orders (
    customer_id  int8,
    order_no     int4,
    status       text NOT NULL,
    total        numeric(10,2),
    placed_at    timestamptz,
    ship_city    text,
    ship_zip     varchar(10),
    ship_country text,
    items        int4,
    note         text,
    PRIMARY KEY (customer_id, order_no)
);
-- order i is (customer_id, order_no) = ((i - 1) / 3 + 1, (i - 1) % 3 + 1)
INSERT INTO orders
SELECT (i - 1) / 3 + 1, (i - 1) % 3 + 1,
       (ARRAY['new', 'paid', 'shipped', 'delivered', 'returned'])[i % 5 + 1],
       ((i::int8 * 104729) % 1000000) / 100.0,
       timestamptz '2023-06-01 00:00:00+00' + i * interval '2 minutes 11.000250 seconds',
       (ARRAY['Lisbon', 'Berlin', 'Osaka', 'Lyon', 'Austin', 'Porto', 'Kraków'])[i % 7 + 1],
       lpad(((i * 7) % 100000)::text, 5, '0'),
       (ARRAY['PT', 'DE', 'JP', 'FR', 'US', 'PT', 'PL'])[i % 7 + 1],
       i % 9 + 1,
       CASE WHEN i % 5 = 0 THEN 'leave at door ' || i % 13 END
FROM generate_series(1, :orders) i;

-- ---------------------------------------------------------------------------
-- Divergences: key i with i % 1000 = 137 (customers) or 421 (orders).
-- j = i / 1000 chooses the kind (cycling) and the variant.
-- ---------------------------------------------------------------------------
CREATE TABLE corpus_expected (
    coll  text NOT NULL,
    key   text NOT NULL,
    kind  text NOT NULL CHECK (kind IN ('missing', 'extra', 'mismatch')),
    what  text NOT NULL,
    PRIMARY KEY (coll, key)
);
INSERT INTO corpus_expected
SELECT 'customers', id::text,
       CASE WHEN c < 2 THEN 'missing' WHEN c < 4 THEN 'extra' ELSE 'mismatch' END,
       CASE WHEN c < 2 THEN 'missing document'
            WHEN c < 4 THEN 'extra document'
            WHEN c < 7 THEN (ARRAY['changed name (trailing blank)', 'changed balance (+0.01)',
                                   'changed created_at (+1 ms)', 'changed tags (order)',
                                   'changed prefs.theme', 'changed ext_id'])[(j / 10 + c) % 6 + 1]
            ELSE (ARRAY['slip balance (string)', 'slip active (0/1)',
                        'slip created_at (ISO string)', 'slip visits (string)'])[(j / 10 + c) % 4 + 1]
       END
FROM (SELECT id, id / 1000 AS j, (id / 1000) % 10 AS c FROM customers WHERE id % 1000 = 137) s;
INSERT INTO corpus_expected
SELECT 'orders', customer_id || '/' || order_no,
       CASE c WHEN 0 THEN 'missing' WHEN 1 THEN 'extra' ELSE 'mismatch' END,
       CASE c WHEN 0 THEN 'missing document'
              WHEN 1 THEN 'extra document'
              WHEN 2 THEN (ARRAY['changed status', 'changed total (+0.5)',
                                 'changed shipping.city'])[(j / 6) % 3 + 1]
              WHEN 3 THEN (ARRAY['changed shipping.zip', 'changed items (+1)',
                                 'changed note (NULL vs empty string)'])[(j / 6) % 3 + 1]
              WHEN 4 THEN (ARRAY['slip total (string)', 'slip placed_at (ISO string)',
                                 'slip items (string)'])[(j / 6) % 3 + 1]
              ELSE 'misplaced ship_city (top level, not shipping.city)'
       END
FROM (SELECT customer_id, order_no, i / 1000 AS j, (i / 1000) % 6 AS c
      FROM (SELECT *, (customer_id - 1) * 3 + order_no AS i FROM orders) o
      WHERE i % 1000 = 421) s;

-- ---------------------------------------------------------------------------
-- The documents. NULL columns: every other document leaves the field out,
-- the others write null (both equal NULL).
-- ---------------------------------------------------------------------------
CREATE VIEW corpus_customer_docs AS
SELECT CASE WHEN c.id % 2 = 0 THEN json_strip_nulls(d) ELSE d END AS doc
FROM customers c
LEFT JOIN corpus_expected e ON e.coll = 'customers' AND e.key = c.id::text,
LATERAL (SELECT json_build_object(
    '_id',        ej_long(c.id),
    'name',       CASE WHEN e.what LIKE 'changed name%' THEN c.name || ' ' ELSE c.name END,
    'email',      c.email,
    'balance',    CASE WHEN e.what LIKE 'changed balance%' THEN ej_double((c.balance + 0.01)::float8)
                       WHEN e.what LIKE 'slip balance%' THEN to_json(c.balance::text)
                       ELSE ej_double(c.balance::float8) END,
    'score',      ej_double(c.score),
    'active',     CASE WHEN e.what LIKE 'slip active%' THEN to_json(c.active::int)
                       ELSE to_json(c.active) END,
    'visits',     CASE WHEN e.what LIKE 'slip visits%' THEN to_json(c.visits::text)
                       ELSE to_json(c.visits) END,
    'created_at', CASE WHEN e.what LIKE 'changed created_at%'
                            THEN ej_date(c.created_at + interval '1 millisecond')
                       WHEN e.what LIKE 'slip created_at%' THEN ej_iso(c.created_at)
                       ELSE ej_date(c.created_at) END,
    'birth_date', ej_day(c.birth_date),
    'ext_id',     CASE WHEN e.what LIKE 'changed ext_id%' THEN ej_uuid(md5('other' || c.id)::uuid)
                       ELSE ej_uuid(c.ext_id) END,
    'prefs',      CASE WHEN e.what LIKE 'changed prefs%'
                            THEN jsonb_set(coalesce(c.prefs, '{}'), '{theme}', '"neon"')::json
                       ELSE c.prefs::json END,
    'tags',       CASE WHEN e.what LIKE 'changed tags%'
                            THEN to_json(CASE WHEN cardinality(c.tags) >= 2
                                              THEN ARRAY[c.tags[2], c.tags[1]]
                                              ELSE coalesce(c.tags, '{}') || 'z'::text END)
                       ELSE to_json(c.tags) END) AS d) x
WHERE e.kind IS DISTINCT FROM 'missing'
ORDER BY c.id;

CREATE VIEW corpus_order_docs AS
SELECT CASE WHEN o.order_no = 2 THEN json_strip_nulls(d) ELSE d END AS doc
FROM orders o
LEFT JOIN corpus_expected e ON e.coll = 'orders' AND e.key = o.customer_id || '/' || o.order_no,
LATERAL (SELECT
    CASE WHEN e.what LIKE 'changed shipping.city%' THEN o.ship_city || 'x'
         ELSE o.ship_city END AS city,
    CASE WHEN e.what LIKE 'changed shipping.zip%' THEN o.ship_zip || '-1'
         ELSE o.ship_zip END AS zip) s,
LATERAL (SELECT json_build_object(
    -- the composite _id, fields in key order
    '_id',       json_build_object('customer_id', ej_long(o.customer_id), 'order_no', o.order_no),
    'status',    CASE WHEN e.what LIKE 'changed status%' THEN 'cancelled' ELSE o.status END,
    'total',     CASE WHEN e.what LIKE 'changed total%' THEN ej_double((o.total + 0.5)::float8)
                      WHEN e.what LIKE 'slip total%' THEN to_json(o.total::text)
                      ELSE ej_double(o.total::float8) END,
    'placed_at', CASE WHEN e.what LIKE 'slip placed_at%' THEN ej_iso(o.placed_at)
                      ELSE ej_date(o.placed_at) END,
    'shipping',  CASE WHEN e.what LIKE 'misplaced%'
                           THEN json_build_object('zip', s.zip, 'country', o.ship_country)
                      ELSE json_build_object('city', s.city, 'zip', s.zip, 'country', o.ship_country) END,
    'items',     CASE WHEN e.what LIKE 'changed items%' THEN to_json(o.items + 1)
                      WHEN e.what LIKE 'slip items%' THEN to_json(o.items::text)
                      ELSE to_json(o.items) END,
    'note',      CASE WHEN e.what LIKE 'changed note%' THEN to_json(coalesce(o.note || '!', ''))
                      ELSE to_json(o.note) END) AS d0) x0,
-- the misplaced city is appended as text: jsonb would reorder the _id fields
LATERAL (SELECT CASE WHEN e.what LIKE 'misplaced%'
                     THEN (left(x0.d0::text, -1) || ', "ship_city" : ' || to_json(s.city)::text || '}')::json
                     ELSE x0.d0 END AS d) x
WHERE e.kind IS DISTINCT FROM 'missing'
ORDER BY o.customer_id, o.order_no;
