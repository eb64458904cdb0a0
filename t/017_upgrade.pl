# Versioned upgrades: a database on the released 0.1.0, filled with a
# mapping, runs, divergences, a repair and a chain of audit rows, is
# updated with ALTER EXTENSION recon UPDATE.  Its schema must then equal a
# fresh install of the current version, object by object (a catalog-level
# description of the recon schema: tables, columns, constraints, indexes,
# views, functions, triggers, privileges, comments), its data must be kept,
# and its audit chain must verify, and go on, across the update.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ReconTest;

my $uri = ReconTest::start_ferretdb();
my $node = ReconTest::new_node('upgrade');
my $current = $node->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'recon'");

# ---- the released version, with data --------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->safe_psql('old', qq{
	CREATE EXTENSION recon VERSION '0.1.0';
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c');
	INSERT INTO recon.mappings (name, source, server_name, collection, key_columns, created_by, options)
	VALUES ('t', 'public.t'::regclass, 'm', 'upgrade.t', '{id}', current_user, '{"repair": "approve"}');
	INSERT INTO recon.runs (mapping_id, mapping_name, kind, status, started_by, finished_at,
	                        rows_source, docs_target, candidates, divergences, new_divergences, repairs_planned)
	SELECT mapping_id, 't', 'sweep', 'finished', current_user, now(), 3, 2, 2, 2, 2, 1 FROM recon.mappings;
	INSERT INTO recon.divergences (mapping_id, first_run_id, last_run_id, kind, key, key_canon, fields)
	SELECT r.mapping_id, r.run_id, r.run_id, k.kind, k.key, k.canon, k.fields
	  FROM recon.runs r,
	       (VALUES ('missing', '3'::jsonb, '\\x01'::bytea, '{}'::text[]),
	               ('mismatch', '2'::jsonb, '\\x02'::bytea, '{v}'::text[])) AS k(kind, key, canon, fields);
	INSERT INTO recon.repairs (divergence_id, run_id, mapping_id, action, operation, needs_approval)
	SELECT divergence_id, last_run_id, mapping_id, 'insert', '{"insert": {"_id": 3, "v": "c"}}', true
	  FROM recon.divergences WHERE kind = 'missing';
	INSERT INTO recon.audit_log (actor, action, mapping_name, reason)
	VALUES (current_user, 'mapping.created', 't', 'recon.add_mapping (0.1.0)'),
	       (current_user, 'run.started', 't', 'recon.sweep (0.1.0)'),
	       (current_user, 'divergence.opened', 't', 'recon.sweep (0.1.0)');
});
is($node->safe_psql('old', 'SELECT ok FROM recon.verify_audit()'), 't', 'the 0.1.0 chain verifies');
my $counts = q{SELECT (SELECT count(*) FROM recon.mappings) || '/' || (SELECT count(*) FROM recon.runs)
                 || '/' || (SELECT count(*) FROM recon.divergences) || '/' || (SELECT count(*) FROM recon.repairs)
                 || '/' || (SELECT count(*) FROM recon.audit_log)};
is($node->safe_psql('old', $counts), '1/1/2/1/3', 'mappings, runs, divergences, repairs, audit rows');

$node->safe_psql('old', 'ALTER EXTENSION recon UPDATE');
is($node->safe_psql('old', "SELECT extversion FROM pg_extension WHERE extname = 'recon'"), $current,
	"updated to the current version ($current)");

# ---- a fresh install of the current version --------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION recon');

# The recon schema, object by object, as sorted text.  OIDs, and names
# PostgreSQL generates from them, are left out; everything else is compared.
my $describe = q{
WITH ns AS (SELECT 'recon'::regnamespace AS oid)
SELECT string_agg(line, E'\n' ORDER BY line) FROM (
  SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' acl=' || coalesce(c.relacl::text, '') ||
         ' comment=' || coalesce(obj_description(c.oid, 'pg_class'), '') AS line
    FROM pg_class c, ns WHERE c.relnamespace = ns.oid AND c.relkind IN ('r', 'v', 'm', 'S', 'p')
  UNION ALL
  SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ||
         CASE WHEN a.attnotnull THEN ' not null' ELSE '' END ||
         coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') ||
         ' acl=' || coalesce(a.attacl::text, '') || ' #' || a.attnum
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN ns ON c.relnamespace = ns.oid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'p')
  UNION ALL
  SELECT 'constraint ' || c.relname || ' ' || x.contype::text || ' ' || pg_get_constraintdef(x.oid)
    FROM pg_constraint x JOIN pg_class c ON c.oid = x.conrelid JOIN ns ON c.relnamespace = ns.oid
  UNION ALL
  SELECT 'index ' || regexp_replace(pg_get_indexdef(i.indexrelid), 'INDEX \S+ ON', 'INDEX ON')
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN ns ON c.relnamespace = ns.oid
  UNION ALL
  SELECT 'view ' || c.relname || ' ' || pg_get_viewdef(c.oid)
    FROM pg_class c, ns WHERE c.relnamespace = ns.oid AND c.relkind IN ('v', 'm')
  UNION ALL
  SELECT 'function ' || p.oid::regprocedure::text || ' returns ' || pg_get_function_result(p.oid) ||
         ' ' || p.prokind::text || ' secdef=' || p.prosecdef || ' vol=' || p.provolatile::text ||
         ' strict=' || p.proisstrict || ' config=' || coalesce(p.proconfig::text, '') ||
         ' acl=' || coalesce(p.proacl::text, '') || ' src=' || md5(p.prosrc) ||
         ' comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '')
    FROM pg_proc p, ns WHERE p.pronamespace = ns.oid
  UNION ALL
  SELECT 'trigger ' || c.relname || ' ' || regexp_replace(pg_get_triggerdef(t.oid), 'TRIGGER \S+', 'TRIGGER') ||
         ' name=' || t.tgname
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN ns ON c.relnamespace = ns.oid
   WHERE NOT t.tgisinternal
  UNION ALL
  SELECT 'type ' || t.typname || ' ' || t.typtype::text FROM pg_type t, ns
   WHERE t.typnamespace = ns.oid AND t.typtype NOT IN ('c') AND t.typname NOT LIKE '\_%'
  UNION ALL
  SELECT 'schema acl=' || coalesce(n.nspacl::text, '') FROM pg_namespace n, ns WHERE n.oid = ns.oid
  UNION ALL
  SELECT 'member ' || pg_describe_object(d.classid, d.objid, 0)
    FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
   WHERE e.extname = 'recon' AND d.deptype = 'e'
) s
};
my $old = $node->safe_psql('old', $describe);
my $fresh = $node->safe_psql('fresh', $describe);
cmp_ok(scalar(split /\n/, $fresh), '>', 100, 'the description covers the schema');
if ($old eq $fresh)
{
	pass('the updated schema equals a fresh install, object by object');
}
else
{
	my %o = map { $_ => 1 } split /\n/, $old;
	my %f = map { $_ => 1 } split /\n/, $fresh;
	diag("only after the update: $_") for grep { !$f{$_} } sort keys %o;
	diag("only in a fresh install: $_") for grep { !$o{$_} } sort keys %f;
	fail('the updated schema equals a fresh install, object by object');
}

# ---- the data and the chain survived, and go on ----------------------------
is($node->safe_psql('old', $counts), '1/1/2/1/3', 'every row kept');
is($node->safe_psql('old', "SELECT status, operation::text FROM recon.repairs"),
	'planned|{"insert": {"v": "c", "_id": 3}}', 'the planned repair kept as it was');
is($node->safe_psql('old', 'SELECT ok FROM recon.verify_audit()'), 't', 'the chain verifies after the update');
ReconTest::mongo('drop', 'upgrade.t');
ReconTest::mongo_in(qq({"_id": 1, "v": "a"}\n{"_id": 2, "v": "stale"}\n), 'insert', 'upgrade.t');
my $run = $node->safe_psql('old', "SELECT recon.sweep('t')");
is($node->safe_psql('old',
	"SELECT string_agg(kind || ':' || key::text, ',' ORDER BY key::text) FROM recon.divergences WHERE status = 'open'"),
	'mismatch:2,missing:3', 'a sweep after the update sees the same divergences');
is($node->safe_psql('old', 'SELECT ok, checked > 3 FROM recon.verify_audit()'), 't|t',
	'and the chain goes on across the update');

$node->stop;
ReconTest::stop_ferretdb();
done_testing();
