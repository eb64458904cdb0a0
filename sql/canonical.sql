--
-- canonical: the value model (src/canonical.c) through libbson.
--
-- Every row compares one PostgreSQL value with the first field of a MongoDB
-- document given as canonical extended JSON ('{}' = the field is missing),
-- via recon.value_matches(value, bson_json, options).  Each row shows the
-- case, the result DESIGN.md ("Value canonicalization") requires, and the
-- result recon computes; the two columns must agree on every row.
--
\pset null '(null)'

--
-- 1. Integers and exact decimals: int2/int4/int8/numeric vs
--    int32/int64/Decimal128, by numeric value.
--
SELECT t.comparison, t.expected, t.result FROM (VALUES
  ('int2 5 = int32 5',                        true,  recon.value_matches(5::int2, '{"v": {"$numberInt": "5"}}')),
  ('int2 5 = int64 5',                        true,  recon.value_matches(5::int2, '{"v": {"$numberLong": "5"}}')),
  ('int2 -32768 = int32 -32768',              true,  recon.value_matches((-32768)::int2, '{"v": {"$numberInt": "-32768"}}')),
  ('int4 5 = int64 5',                        true,  recon.value_matches(5::int4, '{"v": {"$numberLong": "5"}}')),
  ('int4 5 = int32 5 (relaxed JSON 5)',       true,  recon.value_matches(5::int4, '{"v": 5}')),
  ('int4 5 <> int32 6',                       false, recon.value_matches(5::int4, '{"v": {"$numberInt": "6"}}')),
  ('int4 -5 <> int32 5',                      false, recon.value_matches((-5)::int4, '{"v": {"$numberInt": "5"}}')),
  ('int4 2147483647 = int64 2147483647',      true,  recon.value_matches(2147483647::int4, '{"v": {"$numberLong": "2147483647"}}')),
  ('int8 5 = Decimal128 5',                   true,  recon.value_matches(5::int8, '{"v": {"$numberDecimal": "5"}}')),
  ('int8 5 = Decimal128 5.000',               true,  recon.value_matches(5::int8, '{"v": {"$numberDecimal": "5.000"}}')),
  ('int8 5 = Decimal128 0.5E+1',              true,  recon.value_matches(5::int8, '{"v": {"$numberDecimal": "0.5E+1"}}')),
  ('int8 5 <> Decimal128 5.0000000001',       false, recon.value_matches(5::int8, '{"v": {"$numberDecimal": "5.0000000001"}}')),
  ('int4 1000 = Decimal128 1E+3',             true,  recon.value_matches(1000::int4, '{"v": {"$numberDecimal": "1E+3"}}')),
  ('int8 max = int64 max',                    true,  recon.value_matches(9223372036854775807::int8, '{"v": {"$numberLong": "9223372036854775807"}}')),
  ('int8 max = Decimal128 int8 max',          true,  recon.value_matches(9223372036854775807::int8, '{"v": {"$numberDecimal": "9223372036854775807"}}')),
  ('int8 min = int64 min',                    true,  recon.value_matches((-9223372036854775808)::int8, '{"v": {"$numberLong": "-9223372036854775808"}}')),
  ('int8 max <> int64 max - 1',               false, recon.value_matches(9223372036854775807::int8, '{"v": {"$numberLong": "9223372036854775806"}}')),
  ('int4 0 = Decimal128 -0',                  true,  recon.value_matches(0::int4, '{"v": {"$numberDecimal": "-0"}}')),
  ('int4 0 = Decimal128 0E-6176',             true,  recon.value_matches(0::int4, '{"v": {"$numberDecimal": "0E-6176"}}')),
  ('numeric 5 = int64 5',                     true,  recon.value_matches(5::numeric, '{"v": {"$numberLong": "5"}}')),
  ('numeric 5.000 = int32 5',                 true,  recon.value_matches(5.000::numeric, '{"v": {"$numberInt": "5"}}')),
  ('numeric 2.5 <> int32 2',                  false, recon.value_matches(2.5::numeric, '{"v": {"$numberInt": "2"}}')),
  ('numeric 2.5 <> int32 3',                  false, recon.value_matches(2.5::numeric, '{"v": {"$numberInt": "3"}}')),
  ('numeric 1.5 = Decimal128 1.50',           true,  recon.value_matches(1.5::numeric, '{"v": {"$numberDecimal": "1.50"}}')),
  ('numeric 1.500 = Decimal128 1.5',          true,  recon.value_matches(1.500::numeric, '{"v": {"$numberDecimal": "1.5"}}')),
  ('numeric 1.5 <> Decimal128 1.51',          false, recon.value_matches(1.5::numeric, '{"v": {"$numberDecimal": "1.51"}}')),
  ('numeric 1100 = Decimal128 1.1E+3',        true,  recon.value_matches(1100::numeric, '{"v": {"$numberDecimal": "1.1E+3"}}')),
  ('numeric 1100 = Decimal128 1100.00',       true,  recon.value_matches(1100::numeric, '{"v": {"$numberDecimal": "1100.00"}}')),
  ('numeric 1100 = int32 1100',               true,  recon.value_matches(1100::numeric, '{"v": {"$numberInt": "1100"}}')),
  ('numeric 1100 <> Decimal128 110',          false, recon.value_matches(1100::numeric, '{"v": {"$numberDecimal": "110"}}')),
  ('numeric 0.001 = Decimal128 1E-3',         true,  recon.value_matches(0.001::numeric, '{"v": {"$numberDecimal": "1E-3"}}')),
  ('numeric 0.0000000001 = Decimal128 1E-10', true,  recon.value_matches(0.0000000001::numeric, '{"v": {"$numberDecimal": "1E-10"}}')),
  ('numeric -12.3400 = Decimal128 -12.34',    true,  recon.value_matches((-12.3400)::numeric, '{"v": {"$numberDecimal": "-12.34"}}')),
  ('numeric -12.34 <> Decimal128 12.34',      false, recon.value_matches((-12.34)::numeric, '{"v": {"$numberDecimal": "12.34"}}')),
  ('numeric 34 digits = Decimal128 34 digits', true, recon.value_matches(12345678901234567890123456789012.34::numeric, '{"v": {"$numberDecimal": "12345678901234567890123456789012.34"}}')),
  ('numeric 34 digits <> Decimal128 last digit', false, recon.value_matches(12345678901234567890123456789012.34::numeric, '{"v": {"$numberDecimal": "12345678901234567890123456789012.35"}}')),
  ('numeric 0.10000000000000001 <> Dec128 0.1', false, recon.value_matches(0.10000000000000001::numeric, '{"v": {"$numberDecimal": "0.1"}}')),
  ('int8 9007199254740993 <> int64 ...992',   false, recon.value_matches(9007199254740993::int8, '{"v": {"$numberLong": "9007199254740992"}}')),
  ('int8 9007199254740993 <> Dec128 ...992',  false, recon.value_matches(9007199254740993::int8, '{"v": {"$numberDecimal": "9007199254740992"}}'))
) AS t(comparison, expected, result);

--
-- 2. Doubles: a number equals a double when the double is the nearest double
--    to it (what float(x) stores), never by exact decimal expansion; two
--    doubles are equal when they are the same double.
--
SELECT t.comparison, t.expected, t.result FROM (VALUES
  ('numeric 0.1 = double 0.1',                true,  recon.value_matches(0.1::numeric, '{"v": {"$numberDouble": "0.1"}}')),
  ('numeric 0.1000000000000000055511151231257827 = double 0.1', true,
     recon.value_matches(0.1000000000000000055511151231257827::numeric, '{"v": {"$numberDouble": "0.1"}}')),
  ('numeric exact expansion of 0.1 = double 0.1', true,
     recon.value_matches(0.1000000000000000055511151231257827021181583404541015625::numeric, '{"v": {"$numberDouble": "0.1"}}')),
  ('numeric 0.10000000000000001 = double 0.1 (nearest)', true,
     recon.value_matches(0.10000000000000001::numeric, '{"v": {"$numberDouble": "0.1"}}')),
  ('numeric 0.10000000000000001 <> double 0.10000000000000002 (next double)', false,
     recon.value_matches(0.10000000000000001::numeric, '{"v": {"$numberDouble": "0.10000000000000002"}}')),
  ('numeric 0.10000000000000002 = double 0.10000000000000002', true,
     recon.value_matches(0.10000000000000002::numeric, '{"v": {"$numberDouble": "0.10000000000000002"}}')),
  ('numeric 0.1 <> double 0.10000000000000002', false,
     recon.value_matches(0.1::numeric, '{"v": {"$numberDouble": "0.10000000000000002"}}')),
  ('numeric 0.3 <> double 0.30000000000000004', false,
     recon.value_matches(0.3::numeric, '{"v": {"$numberDouble": "0.30000000000000004"}}')),
  ('float8 0.1+0.2 = double 0.30000000000000004', true,
     recon.value_matches(0.1::float8 + 0.2::float8, '{"v": {"$numberDouble": "0.30000000000000004"}}')),
  ('float8 0.1+0.2 <> double 0.3',            false, recon.value_matches(0.1::float8 + 0.2::float8, '{"v": {"$numberDouble": "0.3"}}')),
  ('numeric 1+2^-53 (tie) = double 1 (even)', true,
     recon.value_matches(1.00000000000000011102230246251565404236316680908203125::numeric, '{"v": {"$numberDouble": "1.0"}}')),
  ('numeric 1+2^-53 (tie) <> double 1.0000000000000002', false,
     recon.value_matches(1.00000000000000011102230246251565404236316680908203125::numeric, '{"v": {"$numberDouble": "1.0000000000000002"}}')),
  ('numeric 1+2^-53+1e-60 = double 1.0000000000000002', true,
     recon.value_matches(1.000000000000000111022302462515654042363166809082031250000001::numeric, '{"v": {"$numberDouble": "1.0000000000000002"}}')),
  ('numeric 1+2^-53+1e-658 = double 1.0000000000000002', true,
     recon.value_matches(('1.00000000000000011102230246251565404236316680908203125' || repeat('0', 604) || '1')::numeric, '{"v": {"$numberDouble": "1.0000000000000002"}}')),
  ('numeric 1+2^-53+1e-658 <> double 1',      false,
     recon.value_matches(('1.00000000000000011102230246251565404236316680908203125' || repeat('0', 604) || '1')::numeric, '{"v": {"$numberDouble": "1.0"}}')),
  ('numeric 1.5 = double 1.5',                true,  recon.value_matches(1.5::numeric, '{"v": {"$numberDouble": "1.5"}}')),
  ('numeric 1100 = double 1100',              true,  recon.value_matches(1100::numeric, '{"v": {"$numberDouble": "1100.0"}}')),
  ('numeric 1e22 = double 1e22',              true,  recon.value_matches(1e22::numeric, '{"v": {"$numberDouble": "1.0E+22"}}')),
  ('numeric 123.456 <> double 123.457',       false, recon.value_matches(123.456::numeric, '{"v": {"$numberDouble": "123.457"}}')),
  ('numeric 1e400 = double Infinity (float(x) overflows)', true,
     recon.value_matches(('1e400')::numeric, '{"v": {"$numberDouble": "Infinity"}}')),
  ('numeric 1e400 <> double max',             false, recon.value_matches(('1e400')::numeric, '{"v": {"$numberDouble": "1.7976931348623157E+308"}}')),
  ('numeric 1e-400 = double 0 (float(x) underflows)', true,
     recon.value_matches(('1e-400')::numeric, '{"v": {"$numberDouble": "0.0"}}')),
  ('float8 0.1 = double 0.1',                 true,  recon.value_matches(0.1::float8, '{"v": {"$numberDouble": "0.1"}}')),
  ('float8 0.1 <> double 0.10000000000000002', false, recon.value_matches(0.1::float8, '{"v": {"$numberDouble": "0.10000000000000002"}}')),
  ('float8 1e300 = double 1e300',             true,  recon.value_matches(1e300::float8, '{"v": {"$numberDouble": "1.0E+300"}}')),
  ('float8 5e-324 = double 5e-324',           true,  recon.value_matches('5e-324'::float8, '{"v": {"$numberDouble": "4.9406564584124654E-324"}}')),
  ('float8 double max = double max',          true,  recon.value_matches('1.7976931348623157e308'::float8, '{"v": {"$numberDouble": "1.7976931348623157E+308"}}')),
  ('float8 -2.5 = double -2.5',               true,  recon.value_matches((-2.5)::float8, '{"v": {"$numberDouble": "-2.5"}}')),
  ('float8 -2.5 <> double 2.5',               false, recon.value_matches((-2.5)::float8, '{"v": {"$numberDouble": "2.5"}}')),
  ('float8 0.1 = Decimal128 0.1',             true,  recon.value_matches(0.1::float8, '{"v": {"$numberDecimal": "0.1"}}')),
  ('float8 0.1 = Decimal128 0.1000000000000000055511151231257827', true,
     recon.value_matches(0.1::float8, '{"v": {"$numberDecimal": "0.1000000000000000055511151231257827"}}')),
  ('float8 0.1 <> Decimal128 nearer to next double', false,
     recon.value_matches(0.1::float8, '{"v": {"$numberDecimal": "0.1000000000000000194289029309402394"}}')),
  ('float8 1 = int32 1',                      true,  recon.value_matches(1::float8, '{"v": {"$numberInt": "1"}}')),
  ('float8 3 = int64 3',                      true,  recon.value_matches(3::float8, '{"v": {"$numberLong": "3"}}')),
  ('float8 1.5 <> int32 1',                   false, recon.value_matches(1.5::float8, '{"v": {"$numberInt": "1"}}')),
  ('float4 0.5 = double 0.5',                 true,  recon.value_matches(0.5::float4, '{"v": {"$numberDouble": "0.5"}}')),
  ('float4 1.5 = Decimal128 1.50',            true,  recon.value_matches(1.5::float4, '{"v": {"$numberDecimal": "1.50"}}')),
  ('float4 7 = int32 7',                      true,  recon.value_matches(7::float4, '{"v": {"$numberInt": "7"}}')),
  ('float4 0.1 = double (float4 0.1 widened)', true, recon.value_matches(0.1::float4, '{"v": {"$numberDouble": "0.10000000149011612"}}')),
  ('float4 0.1 <> double 0.1 (other value)',  false, recon.value_matches(0.1::float4, '{"v": {"$numberDouble": "0.1"}}')),
  ('int8 2^53 = double 2^53',                 true,  recon.value_matches(9007199254740992::int8, '{"v": {"$numberDouble": "9007199254740992.0"}}')),
  ('int8 2^53+1 = double 2^53 (nearest)',     true,  recon.value_matches(9007199254740993::int8, '{"v": {"$numberDouble": "9007199254740992.0"}}')),
  ('int8 2^53+1 <> double 2^53+2',            false, recon.value_matches(9007199254740993::int8, '{"v": {"$numberDouble": "9007199254740994.0"}}')),
  ('int8 2^53+3 = double 2^53+4 (nearest)',   true,  recon.value_matches(9007199254740995::int8, '{"v": {"$numberDouble": "9007199254740996.0"}}')),
  ('int8 1234567890123456789 = its double',   true,  recon.value_matches(1234567890123456789::int8, '{"v": {"$numberDouble": "1.2345678901234568E+18"}}')),
  ('int8 1234567890123456789 <> next double', false, recon.value_matches(1234567890123456789::int8, '{"v": {"$numberDouble": "1.2345678901234570E+18"}}')),
  ('int8 max = double 2^63 (nearest)',        true,  recon.value_matches(9223372036854775807::int8, '{"v": {"$numberDouble": "9.2233720368547758E+18"}}')),
  ('int4 7 <> double 7.000000000000001',      false, recon.value_matches(7::int4, '{"v": {"$numberDouble": "7.000000000000001"}}'))
) AS t(comparison, expected, result);

--
-- 3. NaN = NaN (whatever type holds it), +/-Infinity, -0 = 0.
--
SELECT t.comparison, t.expected, t.result FROM (VALUES
  ('numeric NaN = double NaN',                true,  recon.value_matches('NaN'::numeric, '{"v": {"$numberDouble": "NaN"}}')),
  ('numeric NaN = Decimal128 NaN',            true,  recon.value_matches('NaN'::numeric, '{"v": {"$numberDecimal": "NaN"}}')),
  ('numeric NaN = Decimal128 -NaN',           true,  recon.value_matches('NaN'::numeric, '{"v": {"$numberDecimal": "-NaN"}}')),
  ('float8 NaN = double NaN',                 true,  recon.value_matches('NaN'::float8, '{"v": {"$numberDouble": "NaN"}}')),
  ('float8 NaN = Decimal128 NaN',             true,  recon.value_matches('NaN'::float8, '{"v": {"$numberDecimal": "NaN"}}')),
  ('float4 NaN = double NaN',                 true,  recon.value_matches('NaN'::float4, '{"v": {"$numberDouble": "NaN"}}')),
  ('numeric NaN <> double 0',                 false, recon.value_matches('NaN'::numeric, '{"v": {"$numberDouble": "0.0"}}')),
  ('numeric NaN <> double Infinity',          false, recon.value_matches('NaN'::numeric, '{"v": {"$numberDouble": "Infinity"}}')),
  ('numeric NaN <> BSON null',                false, recon.value_matches('NaN'::numeric, '{"v": null}')),
  ('float8 NaN <> double 1',                  false, recon.value_matches('NaN'::float8, '{"v": {"$numberDouble": "1.0"}}')),
  ('int4 0 <> double NaN',                    false, recon.value_matches(0::int4, '{"v": {"$numberDouble": "NaN"}}')),
  ('numeric 1 <> Decimal128 NaN',             false, recon.value_matches(1::numeric, '{"v": {"$numberDecimal": "NaN"}}')),
  ('numeric Infinity = double Infinity',      true,  recon.value_matches('Infinity'::numeric, '{"v": {"$numberDouble": "Infinity"}}')),
  ('numeric -Infinity = double -Infinity',    true,  recon.value_matches('-Infinity'::numeric, '{"v": {"$numberDouble": "-Infinity"}}')),
  ('numeric Infinity = Decimal128 Infinity',  true,  recon.value_matches('Infinity'::numeric, '{"v": {"$numberDecimal": "Infinity"}}')),
  ('numeric -Infinity = Decimal128 -Inf',     true,  recon.value_matches('-Infinity'::numeric, '{"v": {"$numberDecimal": "-Infinity"}}')),
  ('numeric Infinity <> double -Infinity',    false, recon.value_matches('Infinity'::numeric, '{"v": {"$numberDouble": "-Infinity"}}')),
  ('numeric Infinity <> double NaN',          false, recon.value_matches('Infinity'::numeric, '{"v": {"$numberDouble": "NaN"}}')),
  ('float8 Infinity = double Infinity',       true,  recon.value_matches('Infinity'::float8, '{"v": {"$numberDouble": "Infinity"}}')),
  ('float8 -Infinity = Decimal128 -Infinity', true,  recon.value_matches('-Infinity'::float8, '{"v": {"$numberDecimal": "-Infinity"}}')),
  ('float8 Infinity <> double max',           false, recon.value_matches('Infinity'::float8, '{"v": {"$numberDouble": "1.7976931348623157E+308"}}')),
  ('float4 Infinity = double Infinity',       true,  recon.value_matches('Infinity'::float4, '{"v": {"$numberDouble": "Infinity"}}')),
  ('int8 max <> double Infinity',             false, recon.value_matches(9223372036854775807::int8, '{"v": {"$numberDouble": "Infinity"}}')),
  ('float8 -0 = double 0',                    true,  recon.value_matches('-0'::float8, '{"v": {"$numberDouble": "0.0"}}')),
  ('float8 0 = double -0',                    true,  recon.value_matches(0::float8, '{"v": {"$numberDouble": "-0.0"}}')),
  ('float8 -0 = int32 0',                     true,  recon.value_matches('-0'::float8, '{"v": {"$numberInt": "0"}}')),
  ('float4 -0 = int64 0',                     true,  recon.value_matches('-0'::float4, '{"v": {"$numberLong": "0"}}')),
  ('numeric 0 = double -0',                   true,  recon.value_matches(0::numeric, '{"v": {"$numberDouble": "-0.0"}}')),
  ('numeric 0.000 = Decimal128 -0.00',        true,  recon.value_matches(0.000::numeric, '{"v": {"$numberDecimal": "-0.00"}}')),
  ('int4 0 = double -0',                      true,  recon.value_matches(0::int4, '{"v": {"$numberDouble": "-0.0"}}')),
  ('int4 0 = Decimal128 -0E+3',               true,  recon.value_matches(0::int4, '{"v": {"$numberDecimal": "-0E+3"}}')),
  ('float8 -0 <> double 5e-324',              false, recon.value_matches('-0'::float8, '{"v": {"$numberDouble": "4.9406564584124654E-324"}}'))
) AS t(comparison, expected, result);

--
-- 4. timestamptz / timestamp vs Date, truncated (floor) to
--    timestamp_precision (default "ms"); timestamp without time zone is
--    read as UTC.  Dates are ms since 1970-01-01 UTC.
--
SET TimeZone = 'America/New_York';
SELECT t.comparison, t.expected, t.result FROM (VALUES
  ('tstz 2024-01-01 00:00+00 = Date',         true,  recon.value_matches('2024-01-01 00:00:00+00'::timestamptz, '{"v": {"$date": {"$numberLong": "1704067200000"}}}')),
  ('tstz 2024-01-01 01:00+01 = same instant', true,  recon.value_matches('2024-01-01 01:00:00+01'::timestamptz, '{"v": {"$date": {"$numberLong": "1704067200000"}}}')),
  ('tstz 2023-12-31 19:00-05 = same instant', true,  recon.value_matches('2023-12-31 19:00:00-05'::timestamptz, '{"v": {"$date": {"$numberLong": "1704067200000"}}}')),
  ('tstz (session zone New York) = +5h Date', true,  recon.value_matches('2024-01-01 00:00:00'::timestamptz, '{"v": {"$date": {"$numberLong": "1704085200000"}}}')),
  ('tstz 2024-01-01 01:00+01 <> 01:00 UTC',   false, recon.value_matches('2024-01-01 01:00:00+01'::timestamptz, '{"v": {"$date": {"$numberLong": "1704070800000"}}}')),
  ('tstz <> Date 1 ms later',                 false, recon.value_matches('2024-01-01 00:00:00+00'::timestamptz, '{"v": {"$date": {"$numberLong": "1704067200001"}}}')),
  ('tstz = Date as relaxed ISO string',       true,  recon.value_matches('2024-01-01 00:00:00+00'::timestamptz, '{"v": {"$date": "2024-01-01T00:00:00Z"}}')),
  ('tstz .123456 = Date .123 (ms)',           true,  recon.value_matches('2024-05-06 07:08:09.123456+00'::timestamptz, '{"v": {"$date": {"$numberLong": "1714979289123"}}}')),
  ('tstz .123456 = Date .123 (ms explicit)',  true,  recon.value_matches('2024-05-06 07:08:09.123456+00'::timestamptz, '{"v": {"$date": {"$numberLong": "1714979289123"}}}', '{"timestamp_precision": "ms"}')),
  ('tstz .123456 <> Date .124 (no rounding)', false, recon.value_matches('2024-05-06 07:08:09.123456+00'::timestamptz, '{"v": {"$date": {"$numberLong": "1714979289124"}}}')),
  ('tstz .123456 <> Date .123 (us)',          false, recon.value_matches('2024-05-06 07:08:09.123456+00'::timestamptz, '{"v": {"$date": {"$numberLong": "1714979289123"}}}', '{"timestamp_precision": "us"}')),
  ('tstz .123000 = Date .123 (us)',           true,  recon.value_matches('2024-05-06 07:08:09.123+00'::timestamptz, '{"v": {"$date": {"$numberLong": "1714979289123"}}}', '{"timestamp_precision": "us"}')),
  ('tstz .123456 = Date .000 (s)',            true,  recon.value_matches('2024-05-06 07:08:09.123456+00'::timestamptz, '{"v": {"$date": {"$numberLong": "1714979289000"}}}', '{"timestamp_precision": "s"}')),
  ('tstz .123456 = Date .999 (s)',            true,  recon.value_matches('2024-05-06 07:08:09.123456+00'::timestamptz, '{"v": {"$date": {"$numberLong": "1714979289999"}}}', '{"timestamp_precision": "s"}')),
  ('tstz .123456 <> Date next second (s)',    false, recon.value_matches('2024-05-06 07:08:09.123456+00'::timestamptz, '{"v": {"$date": {"$numberLong": "1714979290000"}}}', '{"timestamp_precision": "s"}')),
  ('tstz .123456 <> Date .000 (ms)',          false, recon.value_matches('2024-05-06 07:08:09.123456+00'::timestamptz, '{"v": {"$date": {"$numberLong": "1714979289000"}}}')),
  ('tstz 1969-12-31 23:59:59.9995 = Date -1',  true, recon.value_matches('1969-12-31 23:59:59.9995+00'::timestamptz, '{"v": {"$date": {"$numberLong": "-1"}}}')),
  ('tstz 1969-12-31 23:59:59.9995 <> Date 0',  false, recon.value_matches('1969-12-31 23:59:59.9995+00'::timestamptz, '{"v": {"$date": {"$numberLong": "0"}}}')),
  ('tstz 1969-12-31 23:59:59.9995 <> Date -500', false, recon.value_matches('1969-12-31 23:59:59.9995+00'::timestamptz, '{"v": {"$date": {"$numberLong": "-500"}}}')),
  ('tstz 1969-12-31 23:59:59.9995 <> Date -1 (us)', false, recon.value_matches('1969-12-31 23:59:59.9995+00'::timestamptz, '{"v": {"$date": {"$numberLong": "-1"}}}', '{"timestamp_precision": "us"}')),
  ('tstz 1969-12-31 23:59:59.9995 = Date -1000 (s)', true, recon.value_matches('1969-12-31 23:59:59.9995+00'::timestamptz, '{"v": {"$date": {"$numberLong": "-1000"}}}', '{"timestamp_precision": "s"}')),
  ('tstz 1969-12-31 23:59:59.9995 = Date -1 (s)', true, recon.value_matches('1969-12-31 23:59:59.9995+00'::timestamptz, '{"v": {"$date": {"$numberLong": "-1"}}}', '{"timestamp_precision": "s"}')),
  ('tstz 1969-12-31 23:59:59.9995 <> Date 0 (s)', false, recon.value_matches('1969-12-31 23:59:59.9995+00'::timestamptz, '{"v": {"$date": {"$numberLong": "0"}}}', '{"timestamp_precision": "s"}')),
  ('tstz 1969-12-31 23:59:59.5 = Date -500',   true, recon.value_matches('1969-12-31 23:59:59.5+00'::timestamptz, '{"v": {"$date": {"$numberLong": "-500"}}}')),
  ('tstz 1969-12-31 23:59:59.5 = Date -500 (us)', true, recon.value_matches('1969-12-31 23:59:59.5+00'::timestamptz, '{"v": {"$date": {"$numberLong": "-500"}}}', '{"timestamp_precision": "us"}')),
  ('tstz 1900-01-01 = Date -2208988800000',   true,  recon.value_matches('1900-01-01 00:00:00+00'::timestamptz, '{"v": {"$date": {"$numberLong": "-2208988800000"}}}')),
  ('tstz 0001-01-01 = Date -62135596800000',  true,  recon.value_matches('0001-01-01 00:00:00+00'::timestamptz, '{"v": {"$date": {"$numberLong": "-62135596800000"}}}')),
  ('tstz 2038-01-19 03:14:08 = Date 2^31 s',  true,  recon.value_matches('2038-01-19 03:14:08+00'::timestamptz, '{"v": {"$date": {"$numberLong": "2147483648000"}}}')),
  ('tstz 2100-01-01 12:00 = Date',            true,  recon.value_matches('2100-01-01 12:00:00+00'::timestamptz, '{"v": {"$date": {"$numberLong": "4102488000000"}}}')),
  ('tstz 2100-01-01 12:00 <> Date 1 s later', false, recon.value_matches('2100-01-01 12:00:00+00'::timestamptz, '{"v": {"$date": {"$numberLong": "4102488001000"}}}')),
  ('tstz 294276-12-31 23:59:59.999 = Date',   true,  recon.value_matches('294276-12-31 23:59:59.999+00'::timestamptz, '{"v": {"$date": {"$numberLong": "9224318015999999"}}}')),
  ('tstz 294276-12-31 23:59:59.999 = Date (us)', true, recon.value_matches('294276-12-31 23:59:59.999+00'::timestamptz, '{"v": {"$date": {"$numberLong": "9224318015999999"}}}', '{"timestamp_precision": "us"}')),
  ('tstz 294276-12-31 23:59:59.999999 <> Date (us)', false, recon.value_matches('294276-12-31 23:59:59.999999+00'::timestamptz, '{"v": {"$date": {"$numberLong": "9224318015999999"}}}', '{"timestamp_precision": "us"}')),
  ('tstz 294276-12-31 <> Date of wrapped int64', false, recon.value_matches('294276-12-31 23:59:59.999+00'::timestamptz, '{"v": {"$date": {"$numberLong": "-9222426057709553"}}}')),
  ('tstz 1970-01-01 <> Date 2^61 ms (ms*1000 wraps)', false, recon.value_matches('1970-01-01 00:00:00+00'::timestamptz, '{"v": {"$date": {"$numberLong": "2305843009213693952"}}}')),
  ('tstz 1970-01-01 <> Date 2^61 ms (us)',    false, recon.value_matches('1970-01-01 00:00:00+00'::timestamptz, '{"v": {"$date": {"$numberLong": "2305843009213693952"}}}', '{"timestamp_precision": "us"}')),
  ('tstz 1970-01-01 = Date 0',                true,  recon.value_matches('1970-01-01 00:00:00+00'::timestamptz, '{"v": {"$date": {"$numberLong": "0"}}}')),
  ('tstz infinity <> Date int64 max',         false, recon.value_matches('infinity'::timestamptz, '{"v": {"$date": {"$numberLong": "9223372036854775807"}}}')),
  ('tstz -infinity <> Date int64 min',        false, recon.value_matches('-infinity'::timestamptz, '{"v": {"$date": {"$numberLong": "-9223372036854775808"}}}')),
  ('tstz <> ISO string of same instant',      false, recon.value_matches('2024-01-01 00:00:00+00'::timestamptz, '{"v": "2024-01-01T00:00:00Z"}')),
  ('tstz <> int64 of same ms',                false, recon.value_matches('2024-01-01 00:00:00+00'::timestamptz, '{"v": {"$numberLong": "1704067200000"}}')),
  ('tstz <> BSON Timestamp type',             false, recon.value_matches('2024-01-01 00:00:00+00'::timestamptz, '{"v": {"$timestamp": {"t": 1704067200, "i": 0}}}')),
  ('timestamp 2024-01-01 00:00 = Date (UTC)', true,  recon.value_matches('2024-01-01 00:00:00'::timestamp, '{"v": {"$date": {"$numberLong": "1704067200000"}}}')),
  ('timestamp 2024-01-01 00:00 <> Date in session zone', false, recon.value_matches('2024-01-01 00:00:00'::timestamp, '{"v": {"$date": {"$numberLong": "1704085200000"}}}')),
  ('timestamp .123456 = Date .123 (ms)',      true,  recon.value_matches('2024-05-06 07:08:09.123456'::timestamp, '{"v": {"$date": {"$numberLong": "1714979289123"}}}')),
  ('timestamp .123456 <> Date .123 (us)',     false, recon.value_matches('2024-05-06 07:08:09.123456'::timestamp, '{"v": {"$date": {"$numberLong": "1714979289123"}}}', '{"timestamp_precision": "us"}')),
  ('timestamp .123456 = Date .999 (s)',       true,  recon.value_matches('2024-05-06 07:08:09.123456'::timestamp, '{"v": {"$date": {"$numberLong": "1714979289999"}}}', '{"timestamp_precision": "s"}')),
  ('timestamp 1969-12-31 23:59:59.9995 = Date -1', true, recon.value_matches('1969-12-31 23:59:59.9995'::timestamp, '{"v": {"$date": {"$numberLong": "-1"}}}')),
  ('timestamp 2100-01-01 12:00 = Date',       true,  recon.value_matches('2100-01-01 12:00:00'::timestamp, '{"v": {"$date": {"$numberLong": "4102488000000"}}}')),
  ('timestamp <> Date string',                false, recon.value_matches('2024-01-01 00:00:00'::timestamp, '{"v": "2024-01-01 00:00:00"}'))
) AS t(comparison, expected, result);
SET TimeZone = 'Asia/Tokyo';
SELECT t.comparison, t.expected, t.result FROM (VALUES
  ('timestamp read as UTC in any session zone', true, recon.value_matches('2024-01-01 00:00:00'::timestamp, '{"v": {"$date": {"$numberLong": "1704067200000"}}}')),
  ('tstz with offset in any session zone',    true,  recon.value_matches('2024-01-01 01:00:00+01'::timestamptz, '{"v": {"$date": {"$numberLong": "1704067200000"}}}'))
) AS t(comparison, expected, result);
RESET TimeZone;

--
-- 5. date vs Date at 00:00 UTC or a 'YYYY-MM-DD' string.
--
SELECT t.comparison, t.expected, t.result FROM (VALUES
  ('date 2024-01-01 = Date 00:00 UTC',        true,  recon.value_matches('2024-01-01'::date, '{"v": {"$date": {"$numberLong": "1704067200000"}}}')),
  ('date 2024-01-01 <> Date 00:00:00.001',    false, recon.value_matches('2024-01-01'::date, '{"v": {"$date": {"$numberLong": "1704067200001"}}}')),
  ('date 2024-01-01 <> Date 12:00 UTC',       false, recon.value_matches('2024-01-01'::date, '{"v": {"$date": {"$numberLong": "1704110400000"}}}')),
  ('date 2024-01-01 <> Date next day',        false, recon.value_matches('2024-01-01'::date, '{"v": {"$date": {"$numberLong": "1704153600000"}}}')),
  ('date 2024-01-01 <> Date 05:00 UTC (NY midnight)', false, recon.value_matches('2024-01-01'::date, '{"v": {"$date": {"$numberLong": "1704085200000"}}}')),
  ('date 1970-01-01 = Date 0',                true,  recon.value_matches('1970-01-01'::date, '{"v": {"$date": {"$numberLong": "0"}}}')),
  ('date 1969-12-31 = Date -86400000',        true,  recon.value_matches('1969-12-31'::date, '{"v": {"$date": {"$numberLong": "-86400000"}}}')),
  ('date 1969-12-31 <> Date -1 (23:59:59.999)', false, recon.value_matches('1969-12-31'::date, '{"v": {"$date": {"$numberLong": "-1"}}}')),
  ('date 1970-01-01 <> Date -1',              false, recon.value_matches('1970-01-01'::date, '{"v": {"$date": {"$numberLong": "-1"}}}')),
  ('date 1900-01-01 = Date',                  true,  recon.value_matches('1900-01-01'::date, '{"v": {"$date": {"$numberLong": "-2208988800000"}}}')),
  ('date 2100-01-01 = Date',                  true,  recon.value_matches('2100-01-01'::date, '{"v": {"$date": {"$numberLong": "4102444800000"}}}')),
  ('date 2024-01-01 = string "2024-01-01"',   true,  recon.value_matches('2024-01-01'::date, '{"v": "2024-01-01"}')),
  ('date 2024-02-29 = string "2024-02-29"',   true,  recon.value_matches('2024-02-29'::date, '{"v": "2024-02-29"}')),
  ('date 1969-07-20 = string "1969-07-20"',   true,  recon.value_matches('1969-07-20'::date, '{"v": "1969-07-20"}')),
  ('date 2024-01-01 <> string "2024-01-02"',  false, recon.value_matches('2024-01-01'::date, '{"v": "2024-01-02"}')),
  ('date 2023-03-02 <> string "2023-02-30"',  false, recon.value_matches('2023-03-02'::date, '{"v": "2023-02-30"}')),
  ('date 2023-02-28 <> string "2023-02-29"',  false, recon.value_matches('2023-02-28'::date, '{"v": "2023-02-29"}')),
  ('date 2023-03-01 <> string "2023-02-29"',  false, recon.value_matches('2023-03-01'::date, '{"v": "2023-02-29"}')),
  ('date 2024-12-01 <> string "2024-13-01"',  false, recon.value_matches('2024-12-01'::date, '{"v": "2024-13-01"}')),
  ('date 2024-01-01 <> string "2024-1-1"',    false, recon.value_matches('2024-01-01'::date, '{"v": "2024-1-1"}')),
  ('date 2024-01-01 <> string "2024/01/01"',  false, recon.value_matches('2024-01-01'::date, '{"v": "2024/01/01"}')),
  ('date 2024-01-01 <> string "20240101"',    false, recon.value_matches('2024-01-01'::date, '{"v": "20240101"}')),
  ('date 2024-01-01 <> string with time',     false, recon.value_matches('2024-01-01'::date, '{"v": "2024-01-01T00:00:00Z"}')),
  ('date 2024-01-01 <> string " 2024-01-01"', false, recon.value_matches('2024-01-01'::date, '{"v": " 2024-01-01"}')),
  ('date 0001-01-01 BC = string "0000-01-01" (ISO year 0)', true, recon.value_matches('0001-01-01 BC'::date, '{"v": "0000-01-01"}')),
  ('date 2024-01-01 <> int32 19723 (days)',   false, recon.value_matches('2024-01-01'::date, '{"v": {"$numberInt": "19723"}}')),
  ('date infinity <> Date int64 max',         false, recon.value_matches('infinity'::date, '{"v": {"$date": {"$numberLong": "9223372036854775807"}}}')),
  ('date infinity <> string "infinity"',      false, recon.value_matches('infinity'::date, '{"v": "infinity"}'))
) AS t(comparison, expected, result);

--
-- 6. uuid vs Binary subtype 4 or the canonical 8-4-4-4-12 string.
--    a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 = base64 oO68mZwLTvi7bWu5vTgKEQ==
--
SELECT t.comparison, t.expected, t.result FROM (VALUES
  ('uuid = Binary subtype 4',                 true,  recon.value_matches('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"v": {"$binary": {"base64": "oO68mZwLTvi7bWu5vTgKEQ==", "subType": "04"}}}')),
  ('uuid = $uuid (Binary subtype 4)',         true,  recon.value_matches('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"v": {"$uuid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}}')),
  ('uuid <> Binary subtype 3 (legacy)',       false, recon.value_matches('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"v": {"$binary": {"base64": "oO68mZwLTvi7bWu5vTgKEQ==", "subType": "03"}}}')),
  ('uuid <> Binary subtype 0',                false, recon.value_matches('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"v": {"$binary": {"base64": "oO68mZwLTvi7bWu5vTgKEQ==", "subType": "00"}}}')),
  ('uuid <> Binary subtype 4, 15 bytes',      false, recon.value_matches('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"v": {"$binary": {"base64": "oO68mZwLTvi7bWu5vTgK", "subType": "04"}}}')),
  ('uuid <> other uuid as Binary subtype 4',  false, recon.value_matches('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12'::uuid, '{"v": {"$binary": {"base64": "oO68mZwLTvi7bWu5vTgKEQ==", "subType": "04"}}}')),
  ('nil uuid = Binary subtype 4 zeros',       true,  recon.value_matches('00000000-0000-0000-0000-000000000000'::uuid, '{"v": {"$binary": {"base64": "AAAAAAAAAAAAAAAAAAAAAA==", "subType": "04"}}}')),
  ('uuid = canonical string, lower case',     true,  recon.value_matches('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"v": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}')),
  ('uuid = canonical string, upper case',     true,  recon.value_matches('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"v": "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"}')),
  ('uuid <> string of other uuid',            false, recon.value_matches('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"v": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12"}')),
  ('uuid <> string without hyphens',          false, recon.value_matches('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"v": "a0eebc999c0b4ef8bb6d6bb9bd380a11"}')),
  ('uuid <> string in braces',                false, recon.value_matches('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"v": "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}"}')),
  ('uuid <> string, hyphens misplaced',       false, recon.value_matches('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"v": "a0eebc999-c0b-4ef8-bb6d-6bb9bd380a11"}')),
  ('uuid <> string, 35 characters',           false, recon.value_matches('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"v": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1"}')),
  ('uuid <> string, non-hex digit',           false, recon.value_matches('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"v": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g"}')),
  ('uuid <> ObjectId',                        false, recon.value_matches('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"v": {"$oid": "a0eebc999c0b4ef8bb6d6bb9"}}'))
) AS t(comparison, expected, result);

--
-- 7. bytea vs Binary (generic subtypes 0 and 2), byte for byte.
--    '\x0001ff68656c6c6f' = base64 AAH/aGVsbG8=, 'hello' = aGVsbG8=
--
SELECT t.comparison, t.expected, t.result FROM (VALUES
  ('bytea = Binary subtype 0',                true,  recon.value_matches('\x0001ff68656c6c6f'::bytea, '{"v": {"$binary": {"base64": "AAH/aGVsbG8=", "subType": "00"}}}')),
  ('bytea = Binary subtype 2 (old binary)',   true,  recon.value_matches('\x0001ff68656c6c6f'::bytea, '{"v": {"$binary": {"base64": "AAH/aGVsbG8=", "subType": "02"}}}')),
  ('bytea empty = Binary empty',              true,  recon.value_matches(''::bytea, '{"v": {"$binary": {"base64": "", "subType": "00"}}}')),
  ('bytea <> Binary one byte shorter',        false, recon.value_matches('\x0001ff68656c6c6f'::bytea, '{"v": {"$binary": {"base64": "AAH/aGVsbA==", "subType": "00"}}}')),
  ('bytea <> Binary other bytes',             false, recon.value_matches('\x0001ff68656c6c6e'::bytea, '{"v": {"$binary": {"base64": "AAH/aGVsbG8=", "subType": "00"}}}')),
  ('bytea ''hello'' <> string "hello"',       false, recon.value_matches('hello'::bytea, '{"v": "hello"}')),
  ('bytea ''hello'' <> string "\x68656c6c6f"', false, recon.value_matches('hello'::bytea, '{"v": "\\x68656c6c6f"}')),
  ('bytea ''hello'' <> string "aGVsbG8="',    false, recon.value_matches('hello'::bytea, '{"v": "aGVsbG8="}')),
  ('bytea 16 bytes <> Binary subtype 4 (uuid)', false, recon.value_matches('\xa0eebc999c0b4ef8bb6d6bb9bd380a11'::bytea, '{"v": {"$binary": {"base64": "oO68mZwLTvi7bWu5vTgKEQ==", "subType": "04"}}}')),
  ('bytea <> Binary user subtype 0x80',       false, recon.value_matches('hello'::bytea, '{"v": {"$binary": {"base64": "aGVsbG8=", "subType": "80"}}}'))
) AS t(comparison, expected, result);

--
-- 8. jsonb / json vs document / array: document key order ignored, array
--    order kept, numbers by value (nearest-double rule inside too).
--
SELECT t.comparison, t.expected, t.result FROM (VALUES
  ('jsonb = document, keys reordered',        true,  recon.value_matches('{"a": 1, "b": "x"}'::jsonb, '{"v": {"b": "x", "a": {"$numberInt": "1"}}}')),
  ('jsonb = document, keys of other lengths', true,  recon.value_matches('{"bb": 1, "a": 2, "ccc": 3}'::jsonb, '{"v": {"ccc": 3, "a": 2, "bb": 1}}')),
  ('jsonb = nested documents reordered',      true,  recon.value_matches('{"a": {"x": 1, "y": [1, 2, {"z": null, "w": false}]}, "b": true}'::jsonb,
                                                       '{"v": {"b": true, "a": {"y": [1, 2, {"w": false, "z": null}], "x": 1}}}')),
  ('jsonb = document, non-ASCII keys reordered', true, recon.value_matches('{"é": 1, "ab": 2, "b": 3, "z": 4}'::jsonb, '{"v": {"z": 4, "b": 3, "é": 1, "ab": 2}}')),
  ('jsonb 40 keys = document, keys reversed', true,
     recon.value_matches((SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 40) g),
                         (SELECT '{"v": {' || string_agg(format('"k%s": %s', g, g), ', ' ORDER BY g DESC) || '}}' FROM generate_series(1, 40) g))),
  ('jsonb 40 keys <> document, one value off', false,
     recon.value_matches((SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 40) g),
                         (SELECT '{"v": {' || string_agg(format('"k%s": %s', g, CASE WHEN g = 33 THEN 0 ELSE g END), ', ' ORDER BY g DESC) || '}}' FROM generate_series(1, 40) g))),
  ('jsonb <> document with extra key',        false, recon.value_matches('{"a": 1}'::jsonb, '{"v": {"a": 1, "b": 2}}')),
  ('jsonb <> document missing a key',         false, recon.value_matches('{"a": 1, "b": 2}'::jsonb, '{"v": {"a": 1}}')),
  ('jsonb {"a": null} <> document {}',        false, recon.value_matches('{"a": null}'::jsonb, '{"v": {}}')),
  ('jsonb <> document, other key name',       false, recon.value_matches('{"a": 1}'::jsonb, '{"v": {"A": 1}}')),
  ('jsonb <> document with duplicate keys',   false, recon.value_matches('{"a": 2}'::jsonb, '{"v": {"a": 1, "a": 2}}')),
  ('jsonb [1,2,3] = array [1,2,3]',           true,  recon.value_matches('[1, 2, 3]'::jsonb, '{"v": [1, 2, 3]}')),
  ('jsonb [1,2,3] <> array [3,2,1]',          false, recon.value_matches('[1, 2, 3]'::jsonb, '{"v": [3, 2, 1]}')),
  ('jsonb [1,2,3] <> array [1,2]',            false, recon.value_matches('[1, 2, 3]'::jsonb, '{"v": [1, 2]}')),
  ('jsonb {"a":[1,2]} <> {"a":[2,1]}',        false, recon.value_matches('{"a": [1, 2]}'::jsonb, '{"v": {"a": [2, 1]}}')),
  ('jsonb [{"a":1},{"b":2}] <> reordered',    false, recon.value_matches('[{"a": 1}, {"b": 2}]'::jsonb, '{"v": [{"b": 2}, {"a": 1}]}')),
  ('jsonb {} = document {}',                  true,  recon.value_matches('{}'::jsonb, '{"v": {}}')),
  ('jsonb [] = array []',                     true,  recon.value_matches('[]'::jsonb, '{"v": []}')),
  ('jsonb {} <> array []',                    false, recon.value_matches('{}'::jsonb, '{"v": []}')),
  ('jsonb {"0":1} <> array [1]',              false, recon.value_matches('{"0": 1}'::jsonb, '{"v": [1]}')),
  ('jsonb number 1 = double 1.0 in document', true,  recon.value_matches('{"n": 1}'::jsonb, '{"v": {"n": {"$numberDouble": "1.0"}}}')),
  ('jsonb number 1.0 = int32 1 in document',  true,  recon.value_matches('{"n": 1.0}'::jsonb, '{"v": {"n": {"$numberInt": "1"}}}')),
  ('jsonb number 7 = int64 7 in array',       true,  recon.value_matches('[7]'::jsonb, '{"v": [{"$numberLong": "7"}]}')),
  ('jsonb 1.50 = Decimal128 1.5 in document', true,  recon.value_matches('{"n": 1.50}'::jsonb, '{"v": {"n": {"$numberDecimal": "1.5"}}}')),
  ('jsonb 0.1 = double 0.1 in document',      true,  recon.value_matches('{"n": 0.1}'::jsonb, '{"v": {"n": {"$numberDouble": "0.1"}}}')),
  ('jsonb 0.1000000000000000055511151231257827 = double 0.1 in document', true,
     recon.value_matches('{"n": 0.1000000000000000055511151231257827}'::jsonb, '{"v": {"n": {"$numberDouble": "0.1"}}}')),
  ('jsonb 0.10000000000000001 <> double 0.10000000000000002 in document', false,
     recon.value_matches('{"n": 0.10000000000000001}'::jsonb, '{"v": {"n": {"$numberDouble": "0.10000000000000002"}}}')),
  ('jsonb 0.10000000000000001 <> Decimal128 0.1 in document', false,
     recon.value_matches('{"n": 0.10000000000000001}'::jsonb, '{"v": {"n": {"$numberDecimal": "0.1"}}}')),
  ('jsonb 9007199254740993 = double 2^53 in array', true,
     recon.value_matches('[9007199254740993]'::jsonb, '{"v": [{"$numberDouble": "9007199254740992.0"}]}')),
  ('jsonb 9007199254740993 <> int64 2^53 in array', false,
     recon.value_matches('[9007199254740993]'::jsonb, '{"v": [{"$numberLong": "9007199254740992"}]}')),
  ('jsonb 0 = double -0 in array',            true,  recon.value_matches('[0]'::jsonb, '{"v": [{"$numberDouble": "-0.0"}]}')),
  ('jsonb 1 <> double NaN in array',          false, recon.value_matches('[1]'::jsonb, '{"v": [{"$numberDouble": "NaN"}]}')),
  ('jsonb 1.5 <> double 1.25 deep inside',    false, recon.value_matches('{"a": [{"b": 1.5}]}'::jsonb, '{"v": {"a": [{"b": {"$numberDouble": "1.25"}}]}}')),
  ('jsonb "1" <> number 1 in document',       false, recon.value_matches('{"n": "1"}'::jsonb, '{"v": {"n": 1}}')),
  ('jsonb true <> int32 1 in document',       false, recon.value_matches('{"n": true}'::jsonb, '{"v": {"n": 1}}')),
  ('jsonb null <> int32 0 in document',       false, recon.value_matches('{"n": null}'::jsonb, '{"v": {"n": 0}}')),
  ('jsonb string <> Date in document',        false, recon.value_matches('{"d": "2024-01-01T00:00:00Z"}'::jsonb, '{"v": {"d": {"$date": "2024-01-01T00:00:00Z"}}}')),
  ('jsonb string <> ObjectId in document',    false, recon.value_matches('{"id": "a0eebc999c0b4ef8bb6d6bb9"}'::jsonb, '{"v": {"id": {"$oid": "a0eebc999c0b4ef8bb6d6bb9"}}}')),
  ('jsonb non-ASCII keys and strings',        true,  recon.value_matches('{"Zürich": "Grüezi", "k": "😀"}'::jsonb, '{"v": {"k": "\ud83d\ude00", "Z\u00fcrich": "Gr\u00fcezi"}}')),
  ('jsonb scalar string = BSON string',       true,  recon.value_matches('"abc"'::jsonb, '{"v": "abc"}')),
  ('jsonb scalar 42 = int32 42',              true,  recon.value_matches('42'::jsonb, '{"v": {"$numberInt": "42"}}')),
  ('jsonb scalar 0.1000000000000000055511151231257827 = double 0.1', true,
     recon.value_matches('0.1000000000000000055511151231257827'::jsonb, '{"v": {"$numberDouble": "0.1"}}')),
  ('jsonb scalar true = BSON true',           true,  recon.value_matches('true'::jsonb, '{"v": true}')),
  ('jsonb scalar null = BSON null',           true,  recon.value_matches('null'::jsonb, '{"v": null}')),
  ('jsonb scalar 42 <> string "42"',          false, recon.value_matches('42'::jsonb, '{"v": "42"}')),
  ('jsonb 64 levels deep = same document',    true,  recon.value_matches((repeat('[', 64) || repeat(']', 64))::jsonb, '{"v": ' || repeat('[', 64) || repeat(']', 64) || '}')),
  ('jsonb 90 levels deep = same document',    true,  recon.value_matches((repeat('[', 90) || repeat(']', 90))::jsonb, '{"v": ' || repeat('[', 90) || repeat(']', 90) || '}')),
  ('jsonb 300 levels deep <> 90-level doc',   false, recon.value_matches((repeat('[', 300) || repeat(']', 300))::jsonb, '{"v": ' || repeat('[', 90) || repeat(']', 90) || '}')),
  ('json = document, keys reordered',         true,  recon.value_matches('{"b": 2, "a": {"d": [1, "x"], "c": null}}'::json, '{"v": {"a": {"c": null, "d": [1, "x"]}, "b": 2}}')),
  ('json <> array reordered',                 false, recon.value_matches('[1, "x"]'::json, '{"v": ["x", 1]}')),
  ('json number 2 = double 2.0 in document',  true,  recon.value_matches('{"n": 2}'::json, '{"v": {"n": {"$numberDouble": "2.0"}}}')),
  ('json with duplicate key = last value',    true,  recon.value_matches('{"a": 1, "a": 2}'::json, '{"v": {"a": 2}}')),
  ('json whitespace ignored',                 true,  recon.value_matches('{ "a" :[ 1 ,2 ] }'::json, '{"v": {"a": [1, 2]}}'))
) AS t(comparison, expected, result);

--
-- 9. bool vs bool only.
--
SELECT t.comparison, t.expected, t.result FROM (VALUES
  ('bool true = true',                        true,  recon.value_matches(true, '{"v": true}')),
  ('bool false = false',                      true,  recon.value_matches(false, '{"v": false}')),
  ('bool true <> false',                      false, recon.value_matches(true, '{"v": false}')),
  ('bool false <> true',                      false, recon.value_matches(false, '{"v": true}')),
  ('bool true <> int32 1',                    false, recon.value_matches(true, '{"v": {"$numberInt": "1"}}')),
  ('bool false <> int32 0',                   false, recon.value_matches(false, '{"v": {"$numberInt": "0"}}')),
  ('bool true <> double 1.0',                 false, recon.value_matches(true, '{"v": {"$numberDouble": "1.0"}}')),
  ('bool true <> string "true"',              false, recon.value_matches(true, '{"v": "true"}')),
  ('bool false <> BSON null',                 false, recon.value_matches(false, '{"v": null}')),
  ('int4 1 <> bool true',                     false, recon.value_matches(1::int4, '{"v": true}')),
  ('numeric 0 <> bool false',                 false, recon.value_matches(0::numeric, '{"v": false}'))
) AS t(comparison, expected, result);

--
-- 10. text by exact bytes.
--
SELECT t.comparison, t.expected, t.result FROM (VALUES
  ('text abc = "abc"',                        true,  recon.value_matches('abc'::text, '{"v": "abc"}')),
  ('text abc <> "ABC"',                       false, recon.value_matches('abc'::text, '{"v": "ABC"}')),
  ('text abc <> "abc " (trailing space)',     false, recon.value_matches('abc'::text, '{"v": "abc "}')),
  ('text abc <> " abc"',                      false, recon.value_matches('abc'::text, '{"v": " abc"}')),
  ('text Zurich (u-umlaut) = same UTF-8',      true,  recon.value_matches('Zürich'::text, '{"v": "Zürich"}')),
  ('text Zurich (u-umlaut) = \u00fc escape',  true,  recon.value_matches('Zürich'::text, '{"v": "Z\u00fcrich"}')),
  ('text Zurich NFC <> NFD (u + U+0308)',       false, recon.value_matches('Zürich'::text, '{"v": "Zu\u0308rich"}')),
  ('text emoji = "\ud83d\ude00"',             true,  recon.value_matches('😀'::text, '{"v": "\ud83d\ude00"}')),
  ('text emoji = raw UTF-8 emoji',            true,  recon.value_matches('x😀y'::text, '{"v": "x😀y"}')),
  ('text emoji <> other emoji',               false, recon.value_matches('😀'::text, '{"v": "😁"}')),
  ('text tab/newline = "a\tb\n"',             true,  recon.value_matches(E'a\tb\n'::text, '{"v": "a\tb\n"}')),
  ('text quote/backslash = escaped',          true,  recon.value_matches(E'say "hi" \\o/'::text, '{"v": "say \"hi\" \\o/"}')),
  ('text '''' = ""',                          true,  recon.value_matches(''::text, '{"v": ""}')),
  ('text '''' <> BSON null',                  false, recon.value_matches(''::text, '{"v": null}')),
  ('text '''' <> missing',                    false, recon.value_matches(''::text, '{}')),
  ('text '''' <> missing (null_equals_missing false)', false, recon.value_matches(''::text, '{}', '{"null_equals_missing": false}')),
  ('text 1 <> int32 1',                       false, recon.value_matches('1'::text, '{"v": {"$numberInt": "1"}}')),
  ('text 1.5 <> double 1.5',                  false, recon.value_matches('1.5'::text, '{"v": {"$numberDouble": "1.5"}}')),
  ('text true <> bool true',                  false, recon.value_matches('true'::text, '{"v": true}')),
  ('text uuid <> Binary subtype 4',           false, recon.value_matches('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::text, '{"v": {"$binary": {"base64": "oO68mZwLTvi7bWu5vTgKEQ==", "subType": "04"}}}')),
  ('text hello <> Binary hello',              false, recon.value_matches('hello'::text, '{"v": {"$binary": {"base64": "aGVsbG8=", "subType": "00"}}}')),
  ('text <> Symbol of same text',             false, recon.value_matches('abc'::text, '{"v": {"$symbol": "abc"}}')),
  ('int4 1 <> string "1"',                    false, recon.value_matches(1::int4, '{"v": "1"}')),
  ('numeric 1.5 <> string "1.5"',             false, recon.value_matches(1.5::numeric, '{"v": "1.5"}')),
  ('float8 1.5 <> string "1.5"',              false, recon.value_matches(1.5::float8, '{"v": "1.5"}')),
  ('varchar abc = "abc"',                     true,  recon.value_matches('abc'::varchar(10), '{"v": "abc"}')),
  ('name abc = "abc"',                        true,  recon.value_matches('abc'::name, '{"v": "abc"}')),
  ('char(5) abc = "abc  " (padded bytes)',    true,  recon.value_matches('abc'::char(5), '{"v": "abc  "}')),
  ('char(5) abc = "abc" (blanks are padding)', true, recon.value_matches('abc'::char(5), '{"v": "abc"}'))
) AS t(comparison, expected, result);

--
-- 11. NULL vs BSON null (always equal) and vs a missing field (per
--     null_equals_missing, default true).
--
SELECT t.comparison, t.expected, t.result FROM (VALUES
  ('NULL int4 = BSON null',                   true,  recon.value_matches(NULL::int4, '{"v": null}')),
  ('NULL int4 = BSON null (nem false)',       true,  recon.value_matches(NULL::int4, '{"v": null}', '{"null_equals_missing": false}')),
  ('NULL int4 = missing (default)',           true,  recon.value_matches(NULL::int4, '{}')),
  ('NULL int4 = missing (nem true)',          true,  recon.value_matches(NULL::int4, '{}', '{"null_equals_missing": true}')),
  ('NULL int4 <> missing (nem false)',        false, recon.value_matches(NULL::int4, '{}', '{"null_equals_missing": false}')),
  ('NULL text = BSON null',                   true,  recon.value_matches(NULL::text, '{"v": null}')),
  ('NULL text = missing',                     true,  recon.value_matches(NULL::text, '{}')),
  ('NULL text <> missing (nem false)',        false, recon.value_matches(NULL::text, '{}', '{"null_equals_missing": false}')),
  ('NULL text <> ""',                         false, recon.value_matches(NULL::text, '{"v": ""}')),
  ('NULL text <> "null"',                     false, recon.value_matches(NULL::text, '{"v": "null"}')),
  ('NULL int4 <> int32 0',                    false, recon.value_matches(NULL::int4, '{"v": {"$numberInt": "0"}}')),
  ('NULL numeric <> double NaN',              false, recon.value_matches(NULL::numeric, '{"v": {"$numberDouble": "NaN"}}')),
  ('NULL float8 = BSON null',                 true,  recon.value_matches(NULL::float8, '{"v": null}')),
  ('NULL bool <> false',                      false, recon.value_matches(NULL::bool, '{"v": false}')),
  ('NULL timestamptz = BSON null',            true,  recon.value_matches(NULL::timestamptz, '{"v": null}')),
  ('NULL timestamptz <> Date 0',              false, recon.value_matches(NULL::timestamptz, '{"v": {"$date": {"$numberLong": "0"}}}')),
  ('NULL date = missing',                     true,  recon.value_matches(NULL::date, '{}')),
  ('NULL uuid = BSON null',                   true,  recon.value_matches(NULL::uuid, '{"v": null}')),
  ('NULL bytea = BSON null',                  true,  recon.value_matches(NULL::bytea, '{"v": null}')),
  ('NULL jsonb = BSON null',                  true,  recon.value_matches(NULL::jsonb, '{"v": null}')),
  ('NULL jsonb <> missing (nem false)',       false, recon.value_matches(NULL::jsonb, '{}', '{"null_equals_missing": false}')),
  ('NULL jsonb <> empty document',            false, recon.value_matches(NULL::jsonb, '{"v": {}}')),
  ('int4 0 <> BSON null',                     false, recon.value_matches(0::int4, '{"v": null}')),
  ('int4 0 <> missing',                       false, recon.value_matches(0::int4, '{}')),
  ('int4 0 <> missing (nem false)',           false, recon.value_matches(0::int4, '{}', '{"null_equals_missing": false}')),
  ('jsonb {} <> missing',                     false, recon.value_matches('{}'::jsonb, '{}')),
  ('bool false <> missing',                   false, recon.value_matches(false, '{}')),
  ('field name does not matter',              true,  recon.value_matches(5::int4, '{"anything": 5}')),
  ('only the first field counts',             false, recon.value_matches(5::int4, '{"a": 6, "b": 5}'))
) AS t(comparison, expected, result);

--
-- 12. Domains compare as their base type.
--
CREATE DOMAIN canon_positive AS int4 CHECK (VALUE > 0);
CREATE DOMAIN canon_email AS text;
SELECT t.comparison, t.expected, t.result FROM (VALUES
  ('domain over int4 = int64',                true,  recon.value_matches(5::canon_positive, '{"v": {"$numberLong": "5"}}')),
  ('domain over int4 <> string',              false, recon.value_matches(5::canon_positive, '{"v": "5"}')),
  ('domain over text = string',               true,  recon.value_matches('a@b.c'::canon_email, '{"v": "a@b.c"}'))
) AS t(comparison, expected, result);
DROP DOMAIN canon_positive;
DROP DOMAIN canon_email;

--
-- 13. Canonical forms: what both sides are normalized to.
--
SELECT t.value, t.canonical FROM (VALUES
  ('int2 5',                    recon.canonical_form(5::int2)),
  ('int8 -9223372036854775808', recon.canonical_form((-9223372036854775808)::int8)),
  ('numeric 1100',              recon.canonical_form(1100::numeric)),
  ('numeric 1.500',             recon.canonical_form(1.500::numeric)),
  ('numeric -0.00123',          recon.canonical_form((-0.00123)::numeric)),
  ('numeric -0.000',            recon.canonical_form((-0.000)::numeric)),
  ('numeric NaN',               recon.canonical_form('NaN'::numeric)),
  ('numeric -Infinity',         recon.canonical_form('-Infinity'::numeric)),
  ('float8 0.1',                recon.canonical_form(0.1::float8)),
  ('float8 -0',                 recon.canonical_form('-0'::float8)),
  ('float8 1e22',               recon.canonical_form(1e22::float8)),
  ('float8 Infinity',           recon.canonical_form('Infinity'::float8)),
  ('float4 0.1',                recon.canonical_form(0.1::float4)),
  ('text it''s',                recon.canonical_form('it''s'::text)),
  ('bool true',                 recon.canonical_form(true)),
  ('NULL int4',                 recon.canonical_form(NULL::int4)),
  ('tstz .123456 (ms)',         recon.canonical_form('2024-05-06 07:08:09.123456+00'::timestamptz)),
  ('tstz .123456 (us)',         recon.canonical_form('2024-05-06 07:08:09.123456+00'::timestamptz, '{"timestamp_precision": "us"}')),
  ('tstz .123456 (s)',          recon.canonical_form('2024-05-06 07:08:09.123456+00'::timestamptz, '{"timestamp_precision": "s"}')),
  ('tstz 1969-12-31 23:59:59.9995 (ms)', recon.canonical_form('1969-12-31 23:59:59.9995+00'::timestamptz)),
  ('tstz 294276-12-31 23:59:59.999999 (ms)', recon.canonical_form('294276-12-31 23:59:59.999999+00'::timestamptz)),
  ('tstz 294276-12-31 23:59:59.999999 (us)', recon.canonical_form('294276-12-31 23:59:59.999999+00'::timestamptz, '{"timestamp_precision": "us"}')),
  ('tstz infinity',             recon.canonical_form('infinity'::timestamptz)),
  ('timestamp 2024-01-01',      recon.canonical_form('2024-01-01 00:00:00'::timestamp)),
  ('date 2024-01-01',           recon.canonical_form('2024-01-01'::date)),
  ('date 1969-12-31',           recon.canonical_form('1969-12-31'::date)),
  ('uuid',                      recon.canonical_form('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid)),
  ('bytea',                     recon.canonical_form('\x0001ff'::bytea)),
  ('jsonb',                     recon.canonical_form('{"b": [1.50, "x", null], "a": {"c": true}}'::jsonb)),
  ('jsonb scalar',              recon.canonical_form('1.0'::jsonb)),
  ('json',                      recon.canonical_form('{"b": 1, "a": 2}'::json))
) AS t(value, canonical);

SELECT t.bson, t.as_type, t.canonical FROM (VALUES
  ('Decimal128 1.50',      'numeric',     recon.canonical_form_bson('{"v": {"$numberDecimal": "1.50"}}', 'numeric')),
  ('Decimal128 1.1E+3',    'numeric',     recon.canonical_form_bson('{"v": {"$numberDecimal": "1.1E+3"}}', 'numeric')),
  ('Decimal128 -0.00',     'numeric',     recon.canonical_form_bson('{"v": {"$numberDecimal": "-0.00"}}', 'numeric')),
  ('Decimal128 -NaN',      'numeric',     recon.canonical_form_bson('{"v": {"$numberDecimal": "-NaN"}}', 'numeric')),
  ('double 0.1',           'numeric',     recon.canonical_form_bson('{"v": {"$numberDouble": "0.1"}}', 'numeric')),
  ('double -0.0',          'float8',      recon.canonical_form_bson('{"v": {"$numberDouble": "-0.0"}}', 'float8')),
  ('double 1e22',          'int8',        recon.canonical_form_bson('{"v": {"$numberDouble": "1.0E+22"}}', 'int8')),
  ('int64 -42',            'int4',        recon.canonical_form_bson('{"v": {"$numberLong": "-42"}}', 'int4')),
  ('string "5"',           'int4',        recon.canonical_form_bson('{"v": "5"}', 'int4')),
  ('Date .123',            'timestamptz', recon.canonical_form_bson('{"v": {"$date": {"$numberLong": "1714979289123"}}}', 'timestamptz')),
  ('Date .123 (us)',       'timestamptz', recon.canonical_form_bson('{"v": {"$date": {"$numberLong": "1714979289123"}}}', 'timestamptz', '{"timestamp_precision": "us"}')),
  ('Date .123 (s)',        'timestamp',   recon.canonical_form_bson('{"v": {"$date": {"$numberLong": "1714979289123"}}}', 'timestamp', '{"timestamp_precision": "s"}')),
  ('Date -1 (s)',          'timestamptz', recon.canonical_form_bson('{"v": {"$date": {"$numberLong": "-1"}}}', 'timestamptz', '{"timestamp_precision": "s"}')),
  ('Date 2^61 (us)',       'timestamptz', recon.canonical_form_bson('{"v": {"$date": {"$numberLong": "2305843009213693952"}}}', 'timestamptz', '{"timestamp_precision": "us"}')),
  ('Date 00:00 UTC',       'date',        recon.canonical_form_bson('{"v": {"$date": {"$numberLong": "1704067200000"}}}', 'date')),
  ('Date 12:00 UTC',       'date',        recon.canonical_form_bson('{"v": {"$date": {"$numberLong": "1704110400000"}}}', 'date')),
  ('"2024-01-01"',         'date',        recon.canonical_form_bson('{"v": "2024-01-01"}', 'date')),
  ('"2023-02-30"',         'date',        recon.canonical_form_bson('{"v": "2023-02-30"}', 'date')),
  ('uuid upper string',    'uuid',        recon.canonical_form_bson('{"v": "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"}', 'uuid')),
  ('Binary subtype 4',     'uuid',        recon.canonical_form_bson('{"v": {"$binary": {"base64": "oO68mZwLTvi7bWu5vTgKEQ==", "subType": "04"}}}', 'uuid')),
  ('Binary subtype 3',     'uuid',        recon.canonical_form_bson('{"v": {"$binary": {"base64": "oO68mZwLTvi7bWu5vTgKEQ==", "subType": "03"}}}', 'uuid')),
  ('Binary subtype 0',     'bytea',       recon.canonical_form_bson('{"v": {"$binary": {"base64": "AAH/", "subType": "00"}}}', 'bytea')),
  ('document',             'jsonb',       recon.canonical_form_bson('{"v": {"b": [{"$numberDecimal": "1.50"}, "x", null], "a": {"c": true}}}', 'jsonb')),
  ('document with Date',   'jsonb',       recon.canonical_form_bson('{"v": {"d": {"$date": {"$numberLong": "0"}}}}', 'jsonb')),
  ('ObjectId',             'text',        recon.canonical_form_bson('{"v": {"$oid": "a0eebc999c0b4ef8bb6d6bb9"}}', 'text')),
  ('null',                 'text',        recon.canonical_form_bson('{"v": null}', 'text')),
  ('missing',              'text',        recon.canonical_form_bson('{}', 'text')),
  ('missing (nem false)',  'text',        recon.canonical_form_bson('{}', 'text', '{"null_equals_missing": false}'))
) AS t(bson, as_type, canonical);

--
-- 14. Errors: bad extended JSON, unsupported types, bad options.
--
SELECT recon.value_matches(1, '{"v": 1');
SELECT recon.value_matches(1, 'not json');
SELECT recon.canonical_form_bson('{"v": {"$date": {"$numberLong": "x"}}}', 'timestamptz');
SELECT recon.value_matches(point(1, 2), '{"v": [1, 2]}');
SELECT recon.value_matches(int4range(1, 5), '{"v": {"lo": 1, "hi": 5}}');
SELECT recon.value_matches(ARRAY[point(1, 2)], '{"v": [[1, 2]]}');
SELECT recon.value_matches('a b'::tsvector, '{"v": "a b"}');
SELECT recon.value_matches('0/16B6C50'::pg_lsn, '{"v": "0/16B6C50"}');
SELECT recon.canonical_form(point(1, 2));
SELECT recon.canonical_form_bson('{"v": [1, 2]}', 'int4range');
SELECT recon.value_matches(now(), '{"v": {"$date": {"$numberLong": "0"}}}', '{"timestamp_precision": "ns"}');
-- nesting beyond what MongoDB stores is compared as an opaque token, not an error
SELECT recon.value_matches((repeat('[', 300) || repeat(']', 300))::jsonb, '{"v": []}') AS too_deep_matches;
SELECT recon.canonical_form((repeat('[', 300) || repeat(']', 300))::jsonb) LIKE '%too-deep%' AS too_deep_token;
-- the same errors carry real SQLSTATEs
SELECT t.statement, public.sqlstate_of(t.statement) AS sqlstate FROM (VALUES
  ($$SELECT recon.value_matches(1, '{"v": 1')$$),
  ($$SELECT recon.value_matches(point(1, 2), '{}')$$),
  ($$SELECT recon.value_matches(int4range(1, 5), '{}')$$),
  ($$SELECT recon.canonical_form_bson('{}', 'point')$$),
  ($$SELECT recon.canonical_form(now(), '{"timestamp_precision": "minute"}')$$)
) AS t(statement);
