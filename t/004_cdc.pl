# Change-driven checks: an application-like writer updates mapped rows in
# thousands of transactions and writes MongoDB after each batch, but always
# drops the writes of keys 1-10 and corrupts those of keys 11-20.  The
# change worker must record exactly keys 1-20 and (repair = auto) repair
# them, with audit rows.  Also: TRUNCATE schedules a sweep, SIGTERM and
# restart, disable/enable leaves no stale slot, and no preload = clear error.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use ReconTest;

my $uri = ReconTest::start_ferretdb();
my $node = ReconTest::new_node('cdc', conf => "recon.naptime = 1\n");
my $rows = 500;

$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE items (id int PRIMARY KEY, v text, n int);
	INSERT INTO items SELECT g, 'v' || g, g FROM generate_series(1, $rows) g;
	SELECT recon.add_mapping('items', 'public.items', 'm', 'cdc.items',
	       options => '{"repair": "auto", "settle_ms": 1000}');
});
ReconTest::mongo('drop', 'cdc.items');
ReconTest::mongo_in(join('', map { qq({"_id": $_, "v": "v$_", "n": $_}\n) } 1 .. $rows),
	'insert', 'cdc.items');
sub sweep_divergences
{
	my $r = $node->safe_psql('postgres', "SELECT recon.sweep('items')");
	return $node->safe_psql('postgres', "SELECT divergences FROM recon.runs WHERE run_id = $r");
}
is(sweep_divergences(), '0', 'in sync before the stream');

my ($ret, $out, $err) = $node->psql('postgres', "SELECT recon.enable_cdc('items')");
is($ret, 0, 'enable_cdc succeeds') or diag $err;
like($err, qr/run recon.sweep/, 'and reminds to sweep once');
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'recon change worker'"),
	'a change worker runs, visible in pg_stat_activity');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE plugin = 'recon'"),
	'1', 'one recon slot for the database');

# ---- the writer ----
srand(42);
my $batches = 40;
my $per_batch = 50;
my %touched;
my $start = time;
for my $batch (1 .. $batches)
{
	my (@sql, %final);
	my @keys = $batch == 1 ? (1 .. 20) : ();
	push @keys, 1 + int(rand($rows)) while @keys < $per_batch;
	for my $i (0 .. $#keys)
	{
		my $k = $keys[$i];
		my $v = "b$batch-$i";
		push @sql, "UPDATE items SET v = '$v' WHERE id = $k;";
		$final{$k} = $v;
		$touched{$k} = 1;
	}
	$node->safe_psql('postgres', join("\n", @sql));	# one transaction per statement
	my $docs = '';
	for my $k (sort { $a <=> $b } keys %final)
	{
		next if $k <= 10;		# lost writes
		my $v = $k <= 20 ? "corrupt-$final{$k}" : $final{$k};
		$docs .= qq({"_id": $k, "v": "$v", "n": $k}\n);
	}
	ReconTest::mongo_in($docs, 'replace', 'cdc.items');	# the application's delayed write
}
my $transactions = $batches * $per_batch;
note sprintf("writer: %d transactions in %.1f s", $transactions, time - $start);

my $run = $node->safe_psql('postgres', "SELECT run_id FROM recon.cdc_status");
ok($node->poll_query_until('postgres',
	"SELECT count(DISTINCT key) = 20 FROM recon.divergences WHERE first_run_id = $run"),
	'the corrupted keys are found');
ok($node->poll_query_until('postgres',
	"SELECT queue_depth = 0 FROM recon.cdc_status"), 'the queue drains');
is($node->safe_psql('postgres',
	"SELECT string_agg(DISTINCT key::text, ',' ORDER BY key::text) FROM recon.divergences WHERE first_run_id = $run"),
	join(',', sort map { "$_" } 1 .. 20), 'exactly keys 1-20: no more, no fewer');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM recon.divergences WHERE first_run_id = $run AND kind <> 'mismatch'"),
	'0', 'all of them mismatches');

# repair = auto: the worker repairs them itself, with audit rows
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM recon.repairs WHERE run_id = $run AND status IN ('planned', 'approved', 'applying')"),
	'the worker applied every repair it planned');
note $node->safe_psql('postgres',
	"SELECT string_agg(status || '=' || n, ', ') FROM (SELECT status, count(*) n FROM recon.repairs"
	  . " WHERE run_id = $run GROUP BY 1) s");
cmp_ok($node->safe_psql('postgres',
	"SELECT count(DISTINCT divergence_id) FROM recon.repairs WHERE run_id = $run AND status = 'verified'"),
	'>=', 20, 'at least one verified repair per corrupted key');
is(ReconTest::mongo('count', 'cdc.items', '{"v": {"$regex": "^corrupt"}}'), '0', 'no corrupt document left');
cmp_ok($node->safe_psql('postgres',
	"SELECT count(DISTINCT divergence_id) FROM recon.audit_log WHERE run_id = $run"
	  . " AND action = 'repair.applied' AND actor = 'recon_cdc_worker'"), '>=', 20,
	'repairs are audited as the change worker');
is(sweep_divergences(), '0', 'a full sweep afterwards agrees: nothing diverges');
my $status = $node->safe_psql('postgres',
	"SELECT changes >= $transactions / 2, checks > 0, lag_bytes IS NOT NULL, errors FROM recon.cdc_status");
is($status, 't|t|t|0', 'cdc_status reports changes, checks, lag and no errors');
is($node->safe_psql('postgres', 'SELECT ok FROM recon.verify_audit()'), 't', 'audit chain intact');

# ---- TRUNCATE schedules a full sweep ----
$node->safe_psql('postgres', 'TRUNCATE items');
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM recon.runs WHERE kind = 'sweep' AND started_by = 'recon_cdc_worker'"
	  . " AND status IN ('finished', 'gated')"),
	'TRUNCATE led to a full sweep by the worker');
is($node->safe_psql('postgres',
	"SELECT docs_target > 0 AND divergences = docs_target FROM recon.runs WHERE started_by = 'recon_cdc_worker'"
	  . " AND kind = 'sweep' ORDER BY run_id DESC LIMIT 1"),
	't', 'which finds every document extra');

# ---- SIGTERM: the worker stops promptly and the launcher starts another ----
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'recon change worker'");
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'recon change worker' AND pid <> $pid"),
	'terminated worker replaced by a new one');

# ---- disable / enable: no stale slot ----
$node->safe_psql('postgres', "SELECT recon.disable_cdc('items')");
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_replication_slots WHERE plugin = 'recon'"), 'disable drops the slot');
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'recon change worker'"),
	'and the worker goes away');
$node->safe_psql('postgres', "SELECT recon.enable_cdc('items')");
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE plugin = 'recon'"),
	'1', 're-enable: exactly one slot');
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'recon change worker'"),
	'and a worker again');

# ---- replica identity must cover the key ----
$node->safe_psql('postgres', q{
	CREATE TABLE noident (k text NOT NULL, v int, id int PRIMARY KEY);
	SELECT recon.add_mapping('noident', 'public.noident', 'm', 'cdc.noident', key => ARRAY['k']);
});
($ret, $out, $err) = $node->psql('postgres', "SELECT recon.enable_cdc('noident')");
like($err, qr/replica identity .* does not cover the key.*\n.*\n.*HINT:  ALTER TABLE/s,
	'enable_cdc refuses a replica identity without the key, with a hint');

$node->stop;

# ---- without preload: a clear error ----
my $plain = PostgreSQL::Test::Cluster->new('nopreload');
$plain->init;
$plain->append_conf('postgresql.conf', "wal_level = logical\n");
$plain->start;
$plain->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE t (id int PRIMARY KEY);
	SELECT recon.add_mapping('t', 'public.t', 'm', 'cdc.t');
});
($ret, $out, $err) = $plain->psql('postgres', "SELECT recon.enable_cdc('t')");
like($err, qr/requires recon in shared_preload_libraries.*HINT:  Add recon to shared_preload_libraries/s,
	'enable_cdc without preload: error and hint');
$plain->stop;

done_testing();
