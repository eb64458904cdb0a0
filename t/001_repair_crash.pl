# Crash and outage behaviour of recon.apply_repairs: a backend killed
# between intent and result, or MongoDB stopped there, leaves repairs "in
# doubt"; the next apply resolves them by reading, without a duplicate write.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use ReconTest;

my $uri = ReconTest::start_ferretdb();
my $node = ReconTest::new_node('crash');

$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 20) g;
	SELECT recon.add_mapping('t', 'public.t', 'm', 'tap.t', options => '{"repair": "auto"}');
});
ReconTest::mongo('drop', 'tap.t');
# documents 1-10 exist, 11-15 are stale, 16-20 are missing
ReconTest::mongo_in(join('', map { qq({"_id": $_, "v": "v$_"}\n) } 1 .. 10)
	  . join('', map { qq({"_id": $_, "v": "stale"}\n) } 11 .. 15), 'insert', 'tap.t');

sub sweep { return $node->safe_psql('postgres', "SELECT recon.sweep('t')"); }

sub status_counts
{
	my $run = shift;
	return $node->safe_psql('postgres',
		"SELECT string_agg(status || '=' || n, ',' ORDER BY status) FROM"
		  . " (SELECT status, count(*) n FROM recon.repairs WHERE run_id = $run GROUP BY 1) s");
}

# Start apply_repairs paused at a point; return the harness and backend pid.
sub start_paused_apply
{
	my ($run, $point, $pause_ms) = @_;
	$pause_ms //= 60000;
	my ($out, $err) = ('', '');
	my $offset = -s $node->logfile;
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-d', $node->connstr('postgres'),
		  '-c', "SET recon.debug_pause_point = '$point'",
		  '-c', "SET recon.debug_pause_ms = $pause_ms",
		  '-c', "CALL recon.apply_repairs($run)" ],
		'>', \$out, '2>', \$err);
	$node->wait_for_log(qr/pausing \d+ ms at debug pause point/, $offset);
	my $log = substr(PostgreSQL::Test::Utils::slurp_file($node->logfile), $offset);
	$log =~ /\[(\d+)\][^\n]*pausing \d+ ms at debug pause point/
	  or die "no pause line in the log";
	return ($h, $1, \$err);
}

# ---- 1. kill -9 after the MongoDB write, before the result is recorded ----
my $run = sweep();
is(status_counts($run), 'planned=10', 'ten repairs planned');
my ($h, $pid) = start_paused_apply($run, 'after_write');
kill 'KILL', $pid;
$h->finish;
ReconTest::wait_ready($node);
is(status_counts($run), 'applying=10', 'killed between write and result: all in doubt');
is(ReconTest::mongo('count', 'tap.t'), '20', 'the writes themselves reached MongoDB');
$node->safe_psql('postgres', "CALL recon.apply_repairs($run)");
is(status_counts($run), 'verified=10', 'next apply resolves them');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM recon.audit_log WHERE run_id = $run AND action = 'repair.applied'"
	  . " AND reason LIKE 'in doubt: the earlier attempt''s write is in place%'"), '10',
	'resolved by reading: the landed writes are recorded as changes recon made, nothing written twice');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM recon.audit_log WHERE run_id = $run AND action = 'repair.applied'"
	  . " AND reason NOT LIKE 'in doubt%'"), '0',
	'no second write recorded');
is(ReconTest::mongo('count', 'tap.t'), '20', 'no duplicate documents');

# ---- 2. kill -9 after the intent, before the write ----
ReconTest::mongo('update', 'tap.t', '{"_id": {"$lte": 5}}', '{"$set": {"v": "drifted"}}');
$run = sweep();
($h, $pid) = start_paused_apply($run, 'after_intent');
kill 'KILL', $pid;
$h->finish;
ReconTest::wait_ready($node);
is(status_counts($run), 'applying=5', 'killed between intent and write: in doubt');
is(ReconTest::mongo('count', 'tap.t', '{"v": "drifted"}'), '5', 'nothing was written');
$node->safe_psql('postgres', "CALL recon.apply_repairs($run)");
is(status_counts($run), 'verified=5', 'next apply writes them (the documents still look as seen)');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM recon.audit_log WHERE run_id = $run AND action = 'repair.applying'"
	  . " AND reason LIKE 'in doubt%'"), '5', 'the second attempt is audited as in-doubt resolution');
is(ReconTest::mongo('count', 'tap.t', '{"v": "drifted"}'), '0', 'documents repaired');

# ---- 3. MongoDB stopped between intent and write ----
ReconTest::mongo('update', 'tap.t', '{"_id": {"$gte": 16}}', '{"$set": {"v": "drifted"}}');
$run = sweep();
my $errref;
($h, $pid, $errref) = start_paused_apply($run, 'after_intent', 3000);
ReconTest::stop_ferretdb();
$h->finish;
like($$errref, qr/MongoDB server unreachable|MongoDB error/, 'apply fails with a clear error while MongoDB is down');
is(status_counts($run), 'applying=5', 'repairs stay in doubt during the outage');
my ($ret, $stdout, $stderr) = $node->psql('postgres', "SELECT recon.sweep('t')");
like($stderr, qr/unreachable/, 'a sweep during the outage reports the server unreachable');
ReconTest::start_ferretdb();
$node->safe_psql('postgres', "CALL recon.apply_repairs($run)");
is(status_counts($run), 'verified=5', 'after the outage the in-doubt repairs are resolved');
my $final = sweep();
is($node->safe_psql('postgres', "SELECT divergences FROM recon.runs WHERE run_id = $final"), '0',
	'a final sweep finds nothing');
is($node->safe_psql('postgres', 'SELECT ok FROM recon.verify_audit()'), 't', 'audit chain intact after crashes');

$node->stop;
done_testing();
