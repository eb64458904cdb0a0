--
-- types: arrays, composites, char(n), varchar(n), citext, enums, domains,
-- time/timetz, interval, inet/cidr, macaddr, money; field-level paths.
--
-- Part 1 compares single values with documents as applications store them
-- (recon.value_matches), both ways: what recon writes (recon.bson_of) must
-- compare equal to the value it came from.  Part 2 maps a table with every
-- type, lets recon write the documents, re-reads them through MongoDB, then
-- injects one mutation of each kind and checks each is found at its path.
--
\pset null '(null)'
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TYPE t_mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN t_posint AS int CHECK (VALUE > 0);
CREATE TYPE t_addr AS (street text, city text, zip varchar(10), geo float8[]);

--
-- 1. Values
--
SELECT t.comparison, t.expected, t.result FROM (VALUES
  -- arrays: element by element, order kept, NULL elements included
  ('int4[] {1,2,3} = [1,2,3]',              true,  recon.value_matches('{1,2,3}'::int4[], '{"v": [1, 2, 3]}')),
  ('int4[] {1,2,3} = [1,2.0,3 long]',       true,  recon.value_matches('{1,2,3}'::int4[], '{"v": [1, 2.0, {"$numberLong": "3"}]}')),
  ('int4[] {1,2,3} <> [1,3,2] (order)',     false, recon.value_matches('{1,2,3}'::int4[], '{"v": [1, 3, 2]}')),
  ('int4[] {1,2,3} <> [1,2]',               false, recon.value_matches('{1,2,3}'::int4[], '{"v": [1, 2]}')),
  ('int4[] {1,NULL} = [1,null]',            true,  recon.value_matches('{1,NULL}'::int4[], '{"v": [1, null]}')),
  ('int4[] {1,NULL} <> [1]',                false, recon.value_matches('{1,NULL}'::int4[], '{"v": [1]}')),
  ('int4[] {} = []',                        true,  recon.value_matches('{}'::int4[], '{"v": []}')),
  ('int4[] {} <> missing',                  false, recon.value_matches('{}'::int4[], '{}')),
  ('int4[] {} <> null',                     false, recon.value_matches('{}'::int4[], '{"v": null}')),
  ('int4[] NULL = missing',                 true,  recon.value_matches(NULL::int4[], '{}')),
  ('int4[] NULL <> []',                     false, recon.value_matches(NULL::int4[], '{"v": []}')),
  ('int4[] {1} <> 1 (scalar)',              false, recon.value_matches('{1}'::int4[], '{"v": 1}')),
  ('int4[] {1} <> ["1"]',                   false, recon.value_matches('{1}'::int4[], '{"v": ["1"]}')),
  ('int2[] {7} = [7]',                      true,  recon.value_matches('{7}'::int2[], '{"v": [7]}')),
  ('int8[] {9007199254740993} = [long]',    true,  recon.value_matches('{9007199254740993}'::int8[], '{"v": [{"$numberLong": "9007199254740993"}]}')),
  ('numeric[] {1.50,2} = [1.5,2]',          true,  recon.value_matches('{1.50,2}'::numeric[], '{"v": [1.5, 2]}')),
  ('numeric[] {0.1} = [0.1 double]',        true,  recon.value_matches('{0.1}'::numeric[], '{"v": [0.1]}')),
  ('float8[] {0.1,NaN} = [0.1,NaN]',        true,  recon.value_matches('{0.1,NaN}'::float8[], '{"v": [0.1, {"$numberDouble": "NaN"}]}')),
  ('float4[] {1.5} = [1.5]',                true,  recon.value_matches('{1.5}'::float4[], '{"v": [1.5]}')),
  ('float8[] {1.5} <> [1.6]',               false, recon.value_matches('{1.5}'::float8[], '{"v": [1.6]}')),
  ('text[] {a,b} = ["a","b"]',              true,  recon.value_matches('{a,b}'::text[], '{"v": ["a", "b"]}')),
  ('text[] {a,b} <> ["a","B"]',             false, recon.value_matches('{a,b}'::text[], '{"v": ["a", "B"]}')),
  ('varchar(5)[] {ab} = ["ab"]',            true,  recon.value_matches('{ab}'::varchar(5)[], '{"v": ["ab"]}')),
  ('bool[] {t,f} = [true,false]',           true,  recon.value_matches('{t,f}'::bool[], '{"v": [true, false]}')),
  ('uuid[] = [Binary 4, string]',           true,  recon.value_matches(ARRAY['00000000-0000-0000-0000-000000000001'::uuid, '00000000-0000-0000-0000-000000000002'], '{"v": [{"$binary": {"base64": "AAAAAAAAAAAAAAAAAAAAAQ==", "subType": "04"}}, "00000000-0000-0000-0000-000000000002"]}')),
  ('timestamptz[] = [Date]',                true,  recon.value_matches(ARRAY['2024-03-01 10:00:00.123+00'::timestamptz], '{"v": [{"$date": {"$numberLong": "1709287200123"}}]}')),
  ('timestamp[] = [Date] (UTC)',            true,  recon.value_matches(ARRAY['2024-03-01 10:00:00'::timestamp], '{"v": [{"$date": {"$numberLong": "1709287200000"}}]}')),
  ('date[] = [Date, "YYYY-MM-DD"]',         true,  recon.value_matches(ARRAY['2024-03-01'::date, '2024-03-02'], '{"v": [{"$date": {"$numberLong": "1709251200000"}}, "2024-03-02"]}')),
  ('jsonb[] = [doc, array]',                true,  recon.value_matches(ARRAY['{"a": 1}'::jsonb, '[1, 2]'], '{"v": [{"a": 1}, [1, 2]]}')),
  ('jsonb[] <> [doc changed]',              false, recon.value_matches(ARRAY['{"a": 1}'::jsonb], '{"v": [{"a": 2}]}')),
  ('int4[] 2-D <> anything',                false, recon.value_matches('{{1,2},{3,4}}'::int4[], '{"v": [[1, 2], [3, 4]]}')),
  ('int4[] lower bound 0 <> anything',      false, recon.value_matches('[0:1]={1,2}'::int4[], '{"v": [1, 2]}')),
  -- char(n): trailing blanks are padding
  ('char(5) ''ab'' = "ab"',                 true,  recon.value_matches('ab'::char(5), '{"v": "ab"}')),
  ('char(5) ''ab'' = "ab   "',              true,  recon.value_matches('ab'::char(5), '{"v": "ab   "}')),
  ('char(5) ''ab'' <> " ab"',               false, recon.value_matches('ab'::char(5), '{"v": " ab"}')),
  ('varchar(5) ''ab'' <> "ab "',            false, recon.value_matches('ab'::varchar(5), '{"v": "ab "}')),
  -- citext: case-insensitive
  ('citext Ann = "ANN"',                    true,  recon.value_matches('Ann'::citext, '{"v": "ANN"}')),
  ('citext Ann <> "Anne"',                  false, recon.value_matches('Ann'::citext, '{"v": "Anne"}')),
  ('citext[] {Ann} = ["aNN"]',              true,  recon.value_matches('{Ann}'::citext[], '{"v": ["aNN"]}')),
  -- enums as their labels
  ('enum happy = "happy"',                  true,  recon.value_matches('happy'::t_mood, '{"v": "happy"}')),
  ('enum happy <> "Happy"',                 false, recon.value_matches('happy'::t_mood, '{"v": "Happy"}')),
  ('enum happy <> 2 (its position)',        false, recon.value_matches('happy'::t_mood, '{"v": 2}')),
  ('enum[] {ok,sad} = ["ok","sad"]',        true,  recon.value_matches('{ok,sad}'::t_mood[], '{"v": ["ok", "sad"]}')),
  -- domains: their base type's rule
  ('domain over int 5 = 5.0',               true,  recon.value_matches(5::t_posint, '{"v": 5.0}')),
  ('domain over int 5 <> "5"',              false, recon.value_matches(5::t_posint, '{"v": "5"}')),
  -- time, timetz
  ('time 10:30 = "10:30:00"',               true,  recon.value_matches('10:30'::time, '{"v": "10:30:00"}')),
  ('time 10:30 = "10:30"',                  true,  recon.value_matches('10:30'::time, '{"v": "10:30"}')),
  ('time 10:30:00.5 = "10:30:00.500"',      true,  recon.value_matches('10:30:00.5'::time, '{"v": "10:30:00.500"}')),
  ('time 10:30 <> "10:30:01"',              false, recon.value_matches('10:30'::time, '{"v": "10:30:01"}')),
  ('time 10:30 <> "10:30:00+00"',           false, recon.value_matches('10:30'::time, '{"v": "10:30:00+00"}')),
  ('time 10:30 <> "junk"',                  false, recon.value_matches('10:30'::time, '{"v": "junk"}')),
  ('timetz 10:30+02 = "10:30:00+02"',       true,  recon.value_matches('10:30+02'::timetz, '{"v": "10:30:00+02"}')),
  ('timetz 10:30+05:30 = "10:30:00+05:30"', true,  recon.value_matches('10:30+05:30'::timetz, '{"v": "10:30:00+05:30"}')),
  ('timetz 10:30+00 = "10:30:00Z"',         true,  recon.value_matches('10:30+00'::timetz, '{"v": "10:30:00Z"}')),
  ('timetz 10:30+02 <> "08:30:00+00"',      false, recon.value_matches('10:30+02'::timetz, '{"v": "08:30:00+00"}')),
  ('timetz 10:30+02 <> "10:30:00"',         false, recon.value_matches('10:30+02'::timetz, '{"v": "10:30:00"}')),
  -- interval: ISO 8601, PostgreSQL's equality (1 day = 24 hours)
  ('interval 1 day = "P1D"',                true,  recon.value_matches('1 day'::interval, '{"v": "P1D"}')),
  ('interval 1 day = "PT24H"',              true,  recon.value_matches('1 day'::interval, '{"v": "PT24H"}')),
  ('interval 1y2m3d4h5m6.5s = ISO',         true,  recon.value_matches('1 year 2 mons 3 days 04:05:06.5'::interval, '{"v": "P1Y2M3DT4H5M6.5S"}')),
  ('interval -1 mon = "P-1M"',              true,  recon.value_matches('-1 mon'::interval, '{"v": "P-1M"}')),
  ('interval 2 weeks = "P2W"',              true,  recon.value_matches('14 days'::interval, '{"v": "P2W"}')),
  ('interval 0 = "PT0S"',                   true,  recon.value_matches('0'::interval, '{"v": "PT0S"}')),
  ('interval 1 day <> "P2D"',               false, recon.value_matches('1 day'::interval, '{"v": "P2D"}')),
  ('interval 1 day <> "1 day" (not ISO)',   false, recon.value_matches('1 day'::interval, '{"v": "1 day"}')),
  -- inet, cidr, macaddr
  ('inet 10.0.0.1 = "10.0.0.1"',            true,  recon.value_matches('10.0.0.1'::inet, '{"v": "10.0.0.1"}')),
  ('inet 10.0.0.1 = "10.0.0.1/32"',         true,  recon.value_matches('10.0.0.1'::inet, '{"v": "10.0.0.1/32"}')),
  ('inet 10.0.0.1/8 <> "10.0.0.1"',         false, recon.value_matches('10.0.0.1/8'::inet, '{"v": "10.0.0.1"}')),
  ('inet ::1 = "0:0:0:0:0:0:0:1"',          true,  recon.value_matches('::1'::inet, '{"v": "0:0:0:0:0:0:0:1"}')),
  ('cidr 10.0.0.0/8 = "10.0.0.0/8"',        true,  recon.value_matches('10.0.0.0/8'::cidr, '{"v": "10.0.0.0/8"}')),
  ('cidr 10.0.0.0/8 <> "10.0.0.0/16"',      false, recon.value_matches('10.0.0.0/8'::cidr, '{"v": "10.0.0.0/16"}')),
  ('macaddr = "08-00-2B-01-02-03"',         true,  recon.value_matches('08:00:2b:01:02:03'::macaddr, '{"v": "08-00-2B-01-02-03"}')),
  ('macaddr = "08002b010203"',              true,  recon.value_matches('08:00:2b:01:02:03'::macaddr, '{"v": "08002b010203"}')),
  ('macaddr <> "08:00:2b:01:02:04"',        false, recon.value_matches('08:00:2b:01:02:03'::macaddr, '{"v": "08:00:2b:01:02:04"}')),
  -- money: a number in the currency's units (lc_monetary C: 2 digits)
  ('money 12.34 = 12.34 double',            true,  recon.value_matches('12.34'::money, '{"v": 12.34}')),
  ('money 12.34 = Decimal128 12.340',       true,  recon.value_matches('12.34'::money, '{"v": {"$numberDecimal": "12.340"}}')),
  ('money 12.34 <> 12.35',                  false, recon.value_matches('12.34'::money, '{"v": 12.35}')),
  ('money 12.34 <> "$12.34"',               false, recon.value_matches('12.34'::money, '{"v": "$12.34"}')),
  -- composites as subdocuments, attributes by name (order free), NULL = missing
  ('composite = subdocument',               true,  recon.value_matches(ROW('Main St', 'Oslo', '0150', '{59.9,10.7}')::t_addr, '{"v": {"city": "Oslo", "street": "Main St", "zip": "0150", "geo": [59.9, 10.7]}}')),
  ('composite NULL attr = missing',         true,  recon.value_matches(ROW('Main St', 'Oslo', NULL, NULL)::t_addr, '{"v": {"street": "Main St", "city": "Oslo"}}')),
  ('composite <> city changed',             false, recon.value_matches(ROW('Main St', 'Oslo', '0150', NULL)::t_addr, '{"v": {"street": "Main St", "city": "Bergen", "zip": "0150"}}')),
  ('composite <> scalar',                   false, recon.value_matches(ROW('Main St', 'Oslo', '0150', NULL)::t_addr, '{"v": "Main St, Oslo"}')),
  ('composite[] = [subdocs]',               true,  recon.value_matches(ARRAY[ROW('a', 'b', 'c', NULL)::t_addr], '{"v": [{"street": "a", "city": "b", "zip": "c"}]}'))
) AS t(comparison, expected, result);

-- what recon writes compares equal to the value it came from, for every type
SELECT 'int4[]' AS t, recon.bson_of('{1,NULL,3}'::int4[]) AS written, recon.value_matches('{1,NULL,3}'::int4[], recon.bson_of('{1,NULL,3}'::int4[])) AS round_trip
UNION ALL SELECT 'text[]', recon.bson_of('{a,NULL,"c d"}'::text[]) AS written, recon.value_matches('{a,NULL,"c d"}'::text[], recon.bson_of('{a,NULL,"c d"}'::text[])) AS round_trip
UNION ALL SELECT 'numeric[]', recon.bson_of('{1.5,2,1e30}'::numeric[]), recon.value_matches('{1.5,2,1e30}'::numeric[], recon.bson_of('{1.5,2,1e30}'::numeric[]))
UNION ALL SELECT 'float8[]', recon.bson_of('{0.1,-0}'::float8[]), recon.value_matches('{0.1,-0}'::float8[], recon.bson_of('{0.1,-0}'::float8[]))
UNION ALL SELECT 'bool[]', recon.bson_of('{t,NULL}'::bool[]), recon.value_matches('{t,NULL}'::bool[], recon.bson_of('{t,NULL}'::bool[]))
UNION ALL SELECT 'uuid[]', recon.bson_of('{00000000-0000-0000-0000-00000000000a}'::uuid[]), recon.value_matches('{00000000-0000-0000-0000-00000000000a}'::uuid[], recon.bson_of('{00000000-0000-0000-0000-00000000000a}'::uuid[]))
UNION ALL SELECT 'timestamptz[]', recon.bson_of('{"2024-03-01 10:00:00.123+00"}'::timestamptz[]), recon.value_matches('{"2024-03-01 10:00:00.123+00"}'::timestamptz[], recon.bson_of('{"2024-03-01 10:00:00.123+00"}'::timestamptz[]))
UNION ALL SELECT 'date[]', recon.bson_of('{2024-03-01}'::date[]), recon.value_matches('{2024-03-01}'::date[], recon.bson_of('{2024-03-01}'::date[]))
UNION ALL SELECT 'jsonb[]', recon.bson_of(ARRAY['{"a": [1, {"b": null}]}'::jsonb]), recon.value_matches(ARRAY['{"a": [1, {"b": null}]}'::jsonb], recon.bson_of(ARRAY['{"a": [1, {"b": null}]}'::jsonb]))
UNION ALL SELECT 'char(5)', recon.bson_of('ab'::char(5)), recon.value_matches('ab'::char(5), recon.bson_of('ab'::char(5)))
UNION ALL SELECT 'citext', recon.bson_of('Ann'::citext), recon.value_matches('Ann'::citext, recon.bson_of('Ann'::citext))
UNION ALL SELECT 'enum', recon.bson_of('ok'::t_mood), recon.value_matches('ok'::t_mood, recon.bson_of('ok'::t_mood))
UNION ALL SELECT 'domain', recon.bson_of(7::t_posint), recon.value_matches(7::t_posint, recon.bson_of(7::t_posint))
UNION ALL SELECT 'time', recon.bson_of('23:59:59.999999'::time), recon.value_matches('23:59:59.999999'::time, recon.bson_of('23:59:59.999999'::time))
UNION ALL SELECT 'timetz', recon.bson_of('10:30-03:30'::timetz), recon.value_matches('10:30-03:30'::timetz, recon.bson_of('10:30-03:30'::timetz))
UNION ALL SELECT 'interval', recon.bson_of('-1 year 2 mons -3 days 04:05:06.789'::interval), recon.value_matches('-1 year 2 mons -3 days 04:05:06.789'::interval, recon.bson_of('-1 year 2 mons -3 days 04:05:06.789'::interval))
UNION ALL SELECT 'inet', recon.bson_of('2001:db8::1/64'::inet), recon.value_matches('2001:db8::1/64'::inet, recon.bson_of('2001:db8::1/64'::inet))
UNION ALL SELECT 'cidr', recon.bson_of('192.168.0.0/16'::cidr), recon.value_matches('192.168.0.0/16'::cidr, recon.bson_of('192.168.0.0/16'::cidr))
UNION ALL SELECT 'macaddr', recon.bson_of('08:00:2b:01:02:03'::macaddr), recon.value_matches('08:00:2b:01:02:03'::macaddr, recon.bson_of('08:00:2b:01:02:03'::macaddr))
UNION ALL SELECT 'money', recon.bson_of('-12.34'::money), recon.value_matches('-12.34'::money, recon.bson_of('-12.34'::money))
UNION ALL SELECT 'composite', recon.bson_of(ROW('a', NULL, 'z', '{1.5}')::t_addr), recon.value_matches(ROW('a', NULL, 'z', '{1.5}')::t_addr, recon.bson_of(ROW('a', NULL, 'z', '{1.5}')::t_addr));

-- values no BSON value can hold are refused, never approximated
SELECT sqlstate_of($$SELECT recon.bson_of('{{1,2},{3,4}}'::int4[])$$) AS two_d,
       sqlstate_of($$SELECT recon.bson_of('[0:1]={1,2}'::int4[])$$) AS lower_bound;
\set VERBOSITY default
SELECT recon.bson_of('{{1,2},{3,4}}'::int4[]);
SELECT recon.canonical_form('{3,1,NULL}'::int4[]);
\set VERBOSITY terse

--
-- 2. A mapping with every type
--
\! mongo_tool drop rt_types.things
CREATE TABLE ty_things (
    id int PRIMARY KEY,
    tags text[], scores int4[], weights float8[], prices numeric[], flags bool[],
    ids uuid[], seen timestamptz[], days date[], docs jsonb[], moods t_mood[],
    code char(6), label varchar(20), handle citext, mood t_mood, qty t_posint,
    opens time, opens_tz timetz, ttl interval, ip inet, net cidr, mac macaddr,
    cost money, addr t_addr, prefs jsonb);
INSERT INTO ty_things
SELECT g,
       ARRAY['red', 'green', 'blue'], ARRAY[g, NULL, g * 2], ARRAY[0.1, g / 3.0], ARRAY[1.50, g],
       ARRAY[true, false], ARRAY[('00000000-0000-0000-0000-' || lpad(to_hex(g), 12, '0'))::uuid],
       ARRAY[timestamptz '2024-03-01 10:00:00.123+00' + g * interval '1 hour'],
       ARRAY[date '2024-01-01' + g], ARRAY[jsonb_build_object('n', g), '{"k": [1, 2]}'::jsonb],
       ARRAY['ok', 'happy']::t_mood[],
       'C' || g, 'label ' || g, 'Handle' || g, 'ok', g,
       time '08:00' + g * interval '1 minute', timetz '08:00+02', g * interval '1 day 2 hours',
       ('10.0.0.' || g)::inet, '10.0.0.0/8', '08:00:2b:01:02:03',
       (g * 1.25)::numeric::money, ROW('Main ' || g, 'Oslo', NULL, ARRAY[59.9, 10.7])::t_addr,
       jsonb_build_object('notify', jsonb_build_object('sms', true, 'email', false), 'theme', 'dark')
  FROM generate_series(1, 6) g;
-- multi-dimensional columns are refused when the mapping is made
CREATE TABLE ty_grid (id int PRIMARY KEY, cells int[][]);
\set VERBOSITY default
SELECT recon.add_mapping('grid', 'public.ty_grid', 'mongo1', 'rt_types.grid');
CREATE TABLE ty_pt (id int PRIMARY KEY, p point);
SELECT recon.add_mapping('pt', 'public.ty_pt', 'mongo1', 'rt_types.pt');
CREATE TYPE t_bad AS (a int, b point);
CREATE TABLE ty_badcomp (id int PRIMARY KEY, c t_bad);
SELECT recon.add_mapping('badcomp', 'public.ty_badcomp', 'mongo1', 'rt_types.badcomp');
SELECT recon.add_mapping('things', 'public.ty_things', 'mongo1', 'rt_types.things',
       options => '{"unordered": ["label"]}');
SELECT recon.add_mapping('things', 'public.ty_things', 'mongo1', 'rt_types.things',
       options => '{"unordered": ["nope"]}');
\set VERBOSITY terse
SELECT recon.add_mapping('things', 'public.ty_things', 'mongo1', 'rt_types.things',
       options => '{"unordered": ["tags"], "repair": "auto"}') > 0 AS added;

-- an empty collection: every row is missing; recon writes the documents
SELECT recon.sweep('things') AS run1 \gset
SELECT divergences FROM recon.runs WHERE run_id = :run1;
CALL recon.apply_repairs(:run1);
SELECT status, count(*) FROM recon.repairs WHERE run_id = :run1 GROUP BY status;
\! mongo_tool find rt_types.things '{"_id": 2}'
-- what recon wrote, read back through MongoDB, compares equal: nothing diverges
SELECT recon.sweep('things') AS run2 \gset
SELECT divergences, new_divergences FROM recon.runs WHERE run_id = :run2;

-- one mutation of each kind, each found at its own (deepest) path
\! mongo_tool update rt_types.things '{"_id": 1}' '{"$set": {"tags": ["blue", "red", "green"], "handle": "HANDLE1", "code": "C1    ", "ttl": "PT26H"}}'
\! mongo_tool update rt_types.things '{"_id": 2}' '{"$set": {"scores": [2, null, 5], "prefs.notify.sms": false, "addr.city": "Bergen"}}'
\! mongo_tool update rt_types.things '{"_id": 3}' '{"$set": {"tags": ["red", "green"], "moods": ["happy", "ok"], "weights.1": 1.5}}'
\! mongo_tool update rt_types.things '{"_id": 4}' '{"$set": {"scores": [4, 8], "docs.0.n": 40, "opens_tz": "08:00:00+03"}}'
\! mongo_tool update rt_types.things '{"_id": 5}' '{"$set": {"ip": "10.0.0.55", "mac": "08:00:2b:01:02:ff", "cost": 6.26, "mood": "sad", "opens": "09:05:00"}}'
\! mongo_tool update rt_types.things '{"_id": 6}' '{"$set": {"tags": ["red", "green", "blue", "blue"], "addr": {"street": "Main 6", "city": "Oslo", "geo": [59.9, 10.7]}, "prefs": {"theme": "dark", "notify": {"sms": true, "email": false}}}}'
SELECT recon.sweep('things') AS run3 \gset
SELECT kind, key, fields FROM recon.divergences
 WHERE last_run_id = :run3 AND status = 'open' ORDER BY key::text;

-- the repair $sets whole columns; afterwards nothing diverges
CALL recon.apply_repairs(:run3);
SELECT status, count(*) FROM recon.repairs WHERE run_id = :run3 GROUP BY status;
SELECT recon.sweep('things') AS run4 \gset
SELECT divergences, resolved FROM recon.runs WHERE run_id = :run4;

-- deep paths are capped: 40 changed keys in one jsonb column report the column
UPDATE ty_things SET prefs = (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 40) i) WHERE id = 1;
UPDATE ty_things SET prefs = (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 3) i) || '{"notify": {"sms": true, "email": false}, "theme": "dark"}' WHERE id = 2;
SELECT recon.sweep('things') AS run5 \gset
SELECT key, fields FROM recon.divergences WHERE last_run_id = :run5 AND status = 'open' ORDER BY key::text;

-- a redacted jsonb column reports its own path only (its keys may be data)
SELECT recon.alter_mapping('things', '{"redact": ["prefs"], "repair": "approve"}') IS NOT NULL AS altered;
SELECT recon.sweep('things') AS run6 \gset
SELECT key, fields FROM recon.divergences WHERE last_run_id = :run6 AND status = 'open' ORDER BY key::text;

SELECT recon.drop_mapping('things');

-- a view as a source works (read as the mapping owner); change checks refuse it
CREATE VIEW ty_things_v AS SELECT id, tags, mood FROM ty_things;
SELECT recon.add_mapping('things_v', 'public.ty_things_v', 'mongo1', 'rt_types.things',
       key => ARRAY['id'], options => '{"unordered": ["tags"], "repair": "off"}') > 0 AS added;
SELECT recon.sweep('things_v') AS run7 \gset
SELECT divergences FROM recon.runs WHERE run_id = :run7;
\set VERBOSITY default
SELECT recon.enable_cdc('things_v');
\set VERBOSITY terse
SELECT recon.drop_mapping('things_v');
