--
-- embed: children embedded in their parent's document (option "embed").
--
-- Orders embed their line items.  The documents are written here as an
-- application would (\copy ... TO PROGRAM mongo_tool), with drift built
-- in: a lost child, an extra child, a changed child field, children in
-- another order, a parent with no children written as [] or not at all.
--
CREATE TABLE e_orders (id int PRIMARY KEY, customer text, placed date);
CREATE TABLE e_items (order_id int REFERENCES e_orders, line_no int, sku text, qty int,
                      price numeric(8,2), tags text[], PRIMARY KEY (order_id, line_no));
INSERT INTO e_orders SELECT g, 'cust' || g, date '2024-01-01' + g FROM generate_series(1, 10) g;
-- 3 to 10 children per parent; orders 9 and 10 have none
INSERT INTO e_items SELECT o, l, 'sku-' || o || '-' || l, l * 2, l + 0.5, ARRAY['a', 'b']
  FROM generate_series(1, 8) o, generate_series(1, 3 + o % 8) l;
SELECT order_id, count(*) AS children FROM e_items GROUP BY order_id ORDER BY order_id;

-- each order as the application wrote it: line items by line_no, with drift
CREATE VIEW e_docs AS
SELECT o.id, jsonb_build_object('_id', o.id, 'customer', o.customer,
         'placed', jsonb_build_object('$date', to_char(o.placed, 'YYYY-MM-DD') || 'T00:00:00Z'),
         'items', COALESCE((SELECT jsonb_agg(jsonb_build_object('line_no', i.line_no, 'sku',
                                CASE WHEN (o.id, i.line_no) = (6, 1) THEN 'x' ELSE i.sku END,
                                'qty', CASE WHEN (o.id, i.line_no) = (4, 2) THEN 77 ELSE i.qty END,
                                'price', i.price, 'tags', i.tags)
                              ORDER BY CASE WHEN o.id = 5 THEN -i.line_no ELSE i.line_no END)
                     FROM e_items i
                    WHERE i.order_id = o.id AND (o.id, i.line_no) <> (2, 3))
                   || CASE WHEN o.id = 3 THEN '[{"line_no": 99, "sku": "ghost", "qty": 1, "price": 1, "tags": []}]'::jsonb ELSE '[]'::jsonb END,
                   '[]'::jsonb)) AS doc
  FROM e_orders o;
\! mongo_tool drop rt_embed.orders
\! mongo_tool drop rt_embed.orders_unordered
\copy (SELECT (CASE WHEN id = 10 THEN doc - 'items' ELSE doc END) FROM e_docs) TO PROGRAM 'mongo_tool insert rt_embed.orders'
\copy (SELECT doc FROM e_docs) TO PROGRAM 'mongo_tool insert rt_embed.orders_unordered'

-- bad definitions are refused with what is wrong
\set VERBOSITY default
SELECT recon.add_mapping('orders', 'public.e_orders', 'mongo1', 'rt_embed.orders',
  options => '{"embed": {"items": {"source": "public.nope", "join": {"order_id": "id"}}}}');
SELECT recon.add_mapping('orders', 'public.e_orders', 'mongo1', 'rt_embed.orders',
  options => '{"embed": {"items": {"source": "public.e_items", "join": {"sku": "id"}}}}');
SELECT recon.add_mapping('orders', 'public.e_orders', 'mongo1', 'rt_embed.orders',
  options => '{"embed": {"items": {"source": "public.e_items"}}}');
SELECT recon.add_mapping('orders', 'public.e_orders', 'mongo1', 'rt_embed.orders',
  options => '{"embed": {"items": {"source": "public.e_items", "join": {"order_id": "id"}, "columns": ["line_no", "nope"]}}}');
SELECT recon.add_mapping('orders', 'public.e_orders', 'mongo1', 'rt_embed.orders',
  options => '{"embed": {"items": {"source": "public.e_items", "join": {"order_id": "id"}, "order": ["line_no"]}}}');
SELECT recon.add_mapping('orders', 'public.e_orders', 'mongo1', 'rt_embed.orders',
  options => '{"embed": {"customer": {"source": "public.e_items", "join": {"order_id": "id"}}}}');
\set VERBOSITY terse

-- ordered by line_no; element identity defaults to the child key less the join
SELECT recon.add_mapping('orders', 'public.e_orders', 'mongo1', 'rt_embed.orders',
  options => '{"embed": {"items": {"source": "public.e_items", "join": {"order_id": "id"},
               "columns": ["line_no", "sku", "qty", "price", "tags"], "order_by": ["line_no"]}},
               "repair": "auto"}') > 0 AS added;
SELECT recon.sweep('orders') AS r1 \gset
SELECT rows_source, docs_target, divergences FROM recon.runs WHERE run_id = :r1;
-- exactly the drift: lost child 2/3, extra child 3/99, changed 4/2 qty and 6/1 sku,
-- order 5 reversed; no children as [] (9) or as no field (10) agree
SELECT kind, key, fields FROM recon.divergences WHERE last_run_id = :r1 AND status = 'open' ORDER BY key::text;
-- the images show the arrays
SELECT key, jsonb_array_length(source_image->'items') AS src_items, jsonb_array_length(target_image->'items') AS doc_items
  FROM recon.divergences WHERE last_run_id = :r1 AND status = 'open' ORDER BY key::text;

-- unordered (no order_by): another order is no divergence
SELECT recon.add_mapping('orders_u', 'public.e_orders', 'mongo1', 'rt_embed.orders_unordered',
  options => '{"embed": {"items": {"source": "public.e_items", "join": {"order_id": "id"}, "key": ["line_no"]}},
               "repair": "off"}') > 0 AS added;
SELECT recon.sweep('orders_u') AS r2 \gset
SELECT kind, key, fields FROM recon.divergences WHERE last_run_id = :r2 AND status = 'open' ORDER BY key::text;

-- repairs $set the whole array, compare-and-set; a re-sweep finds nothing
SELECT key, r.operation->'update'->'$set'->'items'->0 AS first_item
  FROM recon.repairs r JOIN recon.divergences d USING (divergence_id)
 WHERE r.run_id = :r1 AND d.key = '2';
CALL recon.apply_repairs(:r1);
SELECT status, count(*) FROM recon.repairs WHERE run_id = :r1 GROUP BY status;
SELECT recon.sweep('orders') AS r3 \gset
SELECT divergences, resolved FROM recon.runs WHERE run_id = :r3;
\! mongo_tool find rt_embed.orders '{"_id": 3}'

-- a child changed in PostgreSQL: its parent diverges at the child's path
UPDATE e_items SET qty = 1000 WHERE order_id = 7 AND line_no = 2;
DELETE FROM e_items WHERE order_id = 8 AND line_no = 1;
INSERT INTO e_items VALUES (9, 1, 'new', 1, 1, '{}');
SELECT recon.sweep('orders') AS r4 \gset
SELECT kind, key, fields FROM recon.divergences WHERE last_run_id = :r4 AND status = 'open' ORDER BY key::text;

-- the mapping owner must read the child too
CREATE ROLE e_admin;
GRANT recon_admin TO e_admin;
GRANT SELECT ON e_orders TO e_admin;
GRANT USAGE ON FOREIGN SERVER mongo1 TO e_admin;
SET ROLE e_admin;
\set VERBOSITY default
SELECT recon.add_mapping('orders_x', 'public.e_orders', 'mongo1', 'rt_embed.orders_x',
  options => '{"embed": {"items": {"source": "public.e_items", "join": {"order_id": "id"}}}}');
\set VERBOSITY terse
RESET ROLE;
REVOKE recon_admin FROM e_admin;
DROP OWNED BY e_admin;
DROP ROLE e_admin;

SELECT recon.drop_mapping('orders');
SELECT recon.drop_mapping('orders_u');
