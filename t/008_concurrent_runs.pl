# Concurrent runs and schema changes:
# - two sweeps of one mapping: the second waits for the first, both finish;
# - a sweep resolves only what it could re-read, never a divergence another
#   run recorded after it started;
# - ALTER COLUMN ... TYPE during a throttled apply_repairs: no crash, a clear
#   schema-drift error naming the column, nothing written after it;
# - a column added later is not compared until alter_mapping accepts it;
# - two alter_mapping calls at once: the second waits and merges into what
#   the first committed (neither change is lost).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);
use ReconTest;

my $uri = ReconTest::start_ferretdb();
my $node = ReconTest::new_node('runs');
$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE s (id int PRIMARY KEY, v text);
	INSERT INTO s SELECT g, 'v' || g FROM generate_series(1, 4) g;
	CREATE FUNCTION slow_true() RETURNS boolean LANGUAGE sql AS 'SELECT pg_sleep(0.75) IS NOT NULL';
	CREATE VIEW slow_s AS SELECT id, v FROM s WHERE slow_true();
	SELECT recon.add_mapping('slow', 'public.slow_s', 'm', 'runs.slow', key => ARRAY['id'],
	                         options => '{"repair": "off"}');
});
ReconTest::mongo('drop', 'runs.slow');
ReconTest::mongo_in(qq({"_id": 1, "v": "v1"}\n{"_id": 2, "v": "v2"}\n), 'insert', 'runs.slow');

# ---- two sweeps at once ----------------------------------------------------
my ($out_a, $err_a, $out_b, $err_b) = ('', '', '', '');
my $a = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres'),
	'-c', "SELECT recon.sweep('slow')" ], '>', \$out_a, '2>', \$err_a);
$node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
	  . " WHERE c.relname = 'mappings' AND l.mode = 'RowShareLock' AND l.pid <> pg_backend_pid()")
  or die 'first sweep did not start';
my $b = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres'),
	'-c', "SELECT recon.sweep('slow')" ], '>', \$out_b, '2>', \$err_b);
$a->finish;
$b->finish;
like($out_a, qr/^\d+$/, 'the first sweep finished');
like($out_b, qr/^\d+$/, 'the second sweep finished too');
like($err_b, qr/waiting for the sweep of mapping "slow" that is already running/,
	'the second one said it waited for the first');
is($node->safe_psql('postgres',
	"SELECT string_agg(status, ',') FROM recon.runs WHERE kind = 'sweep'"), 'finished,finished',
	'both runs recorded as finished');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM recon.divergences WHERE kind = 'missing' AND status = 'open'"), '2',
	'the sweeps recorded their divergences once (keys 3 and 4)');

# ---- a divergence another run records while a sweep runs ------------------
my $d = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres'),
	'-c', "SELECT recon.sweep('slow')" ], '>', \$out_a, '2>', \$err_a);
$node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
	  . " WHERE c.relname = 'mappings' AND l.mode = 'RowShareLock' AND l.pid <> pg_backend_pid()")
  or die 'sweep did not start';
usleep(300_000);
$node->safe_psql('postgres', q{
	INSERT INTO recon.runs (mapping_id, mapping_name, kind, status, started_by)
	SELECT mapping_id, name, 'cdc', 'running', 'recon_cdc_worker' FROM recon.mappings WHERE name = 'slow';
	INSERT INTO recon.divergences (mapping_id, first_run_id, last_run_id, kind, key, key_canon)
	SELECT m.mapping_id, r.run_id, r.run_id, 'mismatch', '99', '\x0199'
	  FROM recon.mappings m, recon.runs r WHERE m.name = 'slow' AND r.kind = 'cdc';
});
# the sweep holds its source: a TRUNCATE (or DROP) of it waits for the sweep
my ($tret, $tout, $terr) = $node->psql('postgres', "SET lock_timeout = '300ms'; TRUNCATE s");
like($terr, qr/lock timeout/, 'the source cannot be truncated or dropped under a running sweep');
$d->finish;
is($node->safe_psql('postgres', "SELECT count(*) FROM s"), '4', 'and the table is intact');
is($node->safe_psql('postgres', "SELECT status FROM recon.divergences WHERE key = '99'"), 'open',
	'a divergence recorded by another run after the sweep started is not resolved by it');

# ---- ALTER COLUMN TYPE during a throttled apply ---------------------------
$node->safe_psql('postgres', q{
	CREATE TABLE tt (id int PRIMARY KEY, tier text);
	INSERT INTO tt SELECT g, g::text FROM generate_series(1, 6) g;
	SELECT recon.add_mapping('tt', 'public.tt', 'm', 'runs.tt',
	                         options => '{"repair": "auto", "max_repairs_per_second": 1}');
});
ReconTest::mongo('drop', 'runs.tt');
ReconTest::mongo_in(join('', map { qq({"_id": $_, "tier": "old"}\n) } 1 .. 6), 'insert', 'runs.tt');
my $run = $node->safe_psql('postgres', "SELECT recon.sweep('tt')");
my ($out_c, $err_c) = ('', '');
my $c = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres'),
	'-c', "CALL recon.apply_repairs($run)" ], '>', \$out_c, '2>', \$err_c);
$node->poll_query_until('postgres',
	"SELECT count(*) >= 1 FROM recon.repairs WHERE run_id = $run AND status = 'verified'")
  or die 'apply did not start';
$node->safe_psql('postgres', 'ALTER TABLE tt ALTER COLUMN tier TYPE int USING tier::int');
$c->finish;
like($err_c, qr/schema drift in the source of mapping "tt": column "tier" changed type/,
	'the apply stops with a schema-drift error naming the column');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server did not crash');
my $verified = $node->safe_psql('postgres',
	"SELECT count(*) FROM recon.repairs WHERE run_id = $run AND status = 'verified'");
ok($verified < 6, "repairs after the change were not applied ($verified of 6 before it)");
is(ReconTest::mongo('count', 'runs.tt', '{"tier": "old"}'), 6 - $verified,
	'nothing was written after the change');
is($node->safe_psql('postgres', "SELECT change FROM recon.schema_drift WHERE mapping = 'tt'"),
	'changed type', 'recon.schema_drift shows it');
$node->safe_psql('postgres', q{SELECT recon.alter_mapping('tt', '{}')});
is($node->safe_psql('postgres', "SELECT count(*) FROM recon.schema_drift WHERE mapping = 'tt'"), '0',
	'alter_mapping accepts the new column type');

# ---- a column added later ----------------------------------------------------
$node->safe_psql('postgres', 'ALTER TABLE tt ADD COLUMN secret text DEFAULT \'s\'');
my ($ret, $out, $err) = $node->psql('postgres', "SELECT recon.sweep('tt')");
like($err, qr/columns added to the source of mapping "tt" are not compared: secret/,
	'a sweep names the added column');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM recon.divergences d JOIN recon.runs r ON r.run_id = d.last_run_id"
	  . " WHERE r.run_id = (SELECT max(run_id) FROM recon.runs) AND 'secret' = ANY(d.fields)"), '0',
	'and does not compare it');

# ---- two alter_mapping calls at once -----------------------------------------
my $first = $node->background_psql('postgres');
$first->query_safe(q{BEGIN; SELECT recon.alter_mapping('tt', '{"settle_ms": 2001}')});
my ($out_d, $err_d) = ('', '');
my $second = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres'),
	'-c', q{SELECT recon.alter_mapping('tt', '{"max_write_errors": 7}')} ],
	'>', \$out_d, '2>', \$err_d);
$node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
	  . " AND query LIKE '%max_write_errors%' AND pid <> pg_backend_pid()")
  or die 'the second alter_mapping did not wait';
$first->query_safe('COMMIT');
$first->quit;
$second->finish;
is($err_d, '', 'the second alter_mapping succeeds after waiting');
is($node->safe_psql('postgres',
	"SELECT options->>'settle_ms' || ' ' || (options->>'max_write_errors') FROM recon.mappings WHERE name = 'tt'"),
	'2001 7', 'both concurrent alter_mapping changes are kept');

$node->stop;
done_testing();
