# Re-reading candidates on a server that scans the collection for a keyed
# look-up (FerretDB): the re-read gets recon.recheck_timeout_ms, not the
# socket timeout, so a sweep whose $in outlives the socket timeout still
# finishes; re-reading by passes over the collection (recon.recheck_reads =
# scan, what auto switches to on such a server) records exactly what keyed
# re-reads record.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ReconTest;

my $uri = ReconTest::start_ferretdb();
my $node = ReconTest::new_node('rereads');
my $n = 40000;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE r (id int PRIMARY KEY, v text);
	INSERT INTO r SELECT g, 'v' || g FROM generate_series(1, $n) g;
	SELECT recon.add_mapping('rr', 'public.r', 'm', 'rereads.r', options => '{"repair": "off"}');
});
# 30 changed documents, 5 missing (ids 101..105), 5 extra (ids n+1..n+5)
my $docs = '';
for my $i (1 .. $n + 5)
{
	next if $i >= 101 && $i <= 105;
	my $v = ($i % 1000 == 7 && $i < 30000) ? "changed$i" : "v$i";
	$docs .= qq({"_id": $i, "v": "$v"}\n);
}
ReconTest::mongo('drop', 'rereads.r');
ReconTest::mongo_in($docs, 'insert', 'rereads.r');

sub sweep_with
{
	my ($settings, $what) = @_;
	my $run = $node->safe_psql('postgres', "$settings SELECT recon.sweep('rr')");
	is($node->safe_psql('postgres', "SELECT status, divergences FROM recon.runs WHERE run_id = $run"),
		'finished|40', "$what: the sweep finished with 40 divergences");
	is($node->safe_psql('postgres',
		"SELECT kind || '|' || key::text FROM recon.divergences WHERE last_run_id = $run"
		  . " ORDER BY kind, key::text::int"),
		join("\n", (map { "extra|$_" } $n + 1 .. $n + 5),
			(map { "mismatch|$_" } grep { $_ % 1000 == 7 } 1 .. 29999),
			(map { "missing|$_" } 101 .. 105)),
		"$what: exactly the injected keys");
	return $run;
}

sweep_with('', 'keyed re-reads (default)');
sweep_with("SET recon.recheck_reads = 'scan'; SET recon.batch_size = 10; SET recon.recheck_scan_keys = 15;",
	're-reads by passes over the collection, 15 keys per pass');
# a socket timeout far below what one $in over 40,000 documents takes on
# FerretDB: the re-read waits recon.recheck_timeout_ms instead.  The pass's
# replies must stay well under it, also on a loaded machine: 50 documents
# each (a few ms of FerretDB's time), not recon.pass_batch_size's 8000 (one
# CI run on a busy machine saw a reply of 1000 take over 100 ms)
sweep_with("SET recon.recheck_reads = 'keyed'; SET recon.socket_timeout_ms = 100;"
	  . " SET recon.pass_batch_size = 50;",
	'keyed re-reads slower than the socket timeout');

# auto on a server that scans for $in: the first full batch's probe picks
# passes; the remaining candidates, no more than recon.recheck_in_keys, are
# still re-read by one $in (one scan that sends only their documents), more
# than that by a pass over the collection
sub auto_sweep
{
	my ($in_keys, $what) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET client_min_messages = debug1; SET recon.batch_size = 10;"
		  . " SET recon.recheck_in_keys = $in_keys; SELECT recon.sweep('rr')");
	is($ret, 0, "$what: the sweep succeeded");
	is($node->safe_psql('postgres', "SELECT status, divergences FROM recon.runs WHERE run_id = $out"),
		'finished|40', "$what: 40 divergences");
	return $err;
}
my $err = auto_sweep(50, 'auto, 40 candidates, recheck_in_keys 50');
like($err, qr/re-reads 40 candidates by \$in queries/,
	'auto, recheck_in_keys 50: the 40 candidates go in one $in although the probe chose passes');
unlike($err, qr/by a pass over the collection/, 'auto, recheck_in_keys 50: no pass');
$err = auto_sweep(10, 'auto, 40 candidates, recheck_in_keys 10');
like($err, qr/re-reads 40 candidates by a pass over the collection/,
	'auto, recheck_in_keys 10: the 40 candidates go by a pass');

# re-reads by a pass of more keys than a batch go through a temporary file
# and are judged a batch at a time; keys that move before the re-read get
# another round, wherever they sit among the batches
my $sweeper = $node->background_psql('postgres');
$sweeper->query_safe("SET recon.recheck_reads = 'scan'; SET recon.batch_size = 10;"
	  . " SET recon.recheck_scan_keys = 100; SET recon.debug_pause_point = 'before_recheck';"
	  . " SET recon.debug_pause_ms = 5000;");
my $off = -s $node->logfile;
$sweeper->query_until(qr/started/, "\\echo started\nSELECT recon.sweep('rr');\n");
$node->wait_for_log(qr/pausing 5000 ms at debug pause point/, $off);
ReconTest::mongo('update', 'rereads.r', '{"_id": 7}', '{"$set": {"v": "v7"}}');
ReconTest::mongo('update', 'rereads.r', '{"_id": 1007}', '{"$set": {"v": "moved1007"}}');
ReconTest::mongo('delete', 'rereads.r', '{"_id": 2007}');
$sweeper->quit;
my $run = $node->safe_psql('postgres', 'SELECT max(run_id) FROM recon.runs');
is($node->safe_psql('postgres', "SELECT status, candidates, divergences FROM recon.runs WHERE run_id = $run"),
	'finished|40|39', 'moved during a batched pass re-read: 40 candidates, 39 still differing');
is($node->safe_psql('postgres',
		"SELECT string_agg(kind || ' ' || key::text || ' ' || coalesce(target_image->>'v', '-'), ', '"
		  . " ORDER BY key::text::int) FROM recon.divergences WHERE last_run_id = $run AND key::text::int IN (7, 1007, 2007)"),
	'mismatch 1007 moved1007, missing 2007 -',
	'a key fixed meanwhile is not recorded; one that moved is recorded as it is now');

# the audit chain's head moves once per statement, not once per audit row:
# a run that opens 39 divergences writes them in one statement, and the head
# gets a handful of row versions (one per row made the chain quadratic).
# New divergences have no earlier repairs to look up in recon.repairs: a
# look-up planned while the table was empty scanned it for each divergence.
$node->safe_psql('postgres', q{SELECT recon.alter_mapping('rr', '{"repair": "approve"}');
	DELETE FROM recon.divergences; VACUUM recon.repairs});
my $chain = $node->safe_psql('postgres',
	"BEGIN; SELECT recon.sweep('rr') IS NOT NULL;"
	  . " SELECT count(*) FROM recon.audit_log WHERE action = 'divergence.opened'"
	  . " AND run_id = (SELECT max(run_id) FROM recon.runs);"
	  . " SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relid = 'recon.audit_chain_head'::regclass;"
	  . " SELECT ok FROM recon.verify_audit();"
	  . " SELECT count(*) FROM recon.repairs WHERE run_id = (SELECT max(run_id) FROM recon.runs);"
	  . " SELECT seq_scan + coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables WHERE relid = 'recon.repairs'::regclass;"
	  . " COMMIT;");
my (undef, $opened, $head_versions, $chain_ok, $planned, $repair_scans) = split /\n/, $chain;
is($opened, 39, 'the sweep opened 39 divergences, each audited');
cmp_ok($head_versions, '<', 10, "the chain head was updated $head_versions times, not once per audit row");
cmp_ok($planned, '>=', 30, "and planned $planned repairs");
cmp_ok($repair_scans, '<', 10, "recon.repairs was scanned $repair_scans times, not per new divergence");
is($chain_ok, 't', 'the chain verifies inside the transaction');
is($node->safe_psql('postgres', 'SELECT ok FROM recon.verify_audit()'), 't', 'and after it');

# A run that records many divergences while recon.divergences is small in
# the planner's statistics (emptied, as drop_mapping does): PostgreSQL's
# foreign-key check of each planned repair was planned once as a scan of the
# small table and kept while the run grew it, one scan per repair
# (quadratic). recon has such plans re-made as the run's divergences double.
$node->safe_psql('postgres', q{UPDATE r SET v = 'grown' || id WHERE id BETWEEN 30001 AND 32000;
	DELETE FROM recon.repairs; DELETE FROM recon.divergences; VACUUM recon.repairs, recon.divergences});
my (undef, $grown_planned, $divergence_scans) = split /\n/, $node->safe_psql('postgres',
	"BEGIN; SELECT recon.sweep('rr') IS NOT NULL;"
	  . " SELECT count(*) FROM recon.repairs WHERE run_id = (SELECT max(run_id) FROM recon.runs);"
	  . " SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = 'recon.divergences'::regclass;"
	  . " COMMIT;");
cmp_ok($grown_planned, '>=', 2000, "a run after the table was emptied planned $grown_planned repairs");
cmp_ok($divergence_scans, '<', 400,
	"recon.divergences was scanned $divergence_scans times, not once per planned repair");
is($node->safe_psql('postgres', 'SELECT ok FROM recon.verify_audit()'), 't', 'the chain verifies after the grown run');

$node->stop;
ReconTest::stop_ferretdb();
done_testing();
