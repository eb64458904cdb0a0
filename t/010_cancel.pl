# Cancel and terminate are honoured while MongoDB hangs: the sweep's reads
# wait for the server in short slices and give up when an interrupt is
# pending, instead of sitting out recon.socket_timeout_ms (here 10 minutes).
# FerretDB is frozen with SIGSTOP in the middle of a sweep, so the backend
# is blocked reading from an open connection that never answers.
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
my $node = ReconTest::new_node('cancel');
$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE s (id int PRIMARY KEY, v text);
	INSERT INTO s SELECT g, 'v' || g FROM generate_series(1, 4) g;
	CREATE FUNCTION slow_true() RETURNS boolean LANGUAGE sql AS 'SELECT pg_sleep(0.5) IS NOT NULL';
	CREATE VIEW slow_s AS SELECT id, v FROM s WHERE slow_true();
	SELECT recon.add_mapping('slow', 'public.slow_s', 'm', 'cancel.slow', key => ARRAY['id'],
	                         options => '{"repair": "off"}');
});
ReconTest::mongo('drop', 'cancel.slow');
ReconTest::mongo_in(qq({"_id": 1, "v": "v1"}\n), 'insert', 'cancel.slow');

# Start a sweep; freeze FerretDB while it reads the (slow) source; then interrupt it.
sub frozen_sweep
{
	my ($interrupt) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres'),
		'-c', "SET recon.socket_timeout_ms = 600000",
		'-c', "SELECT recon.sweep('slow')" ], '>', \$out, '2>', \$err);
	$node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'SELECT recon.sweep%' AND state = 'active'")
	  or die 'sweep did not start';
	my $pid = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT recon.sweep%' AND state = 'active'");
	kill 'STOP', $ReconTest::ferret_pid;
	# the source pass (2 s) ends; the collection pass then waits on the frozen server
	$node->poll_query_until('postgres',
		"SELECT wait_event IS DISTINCT FROM 'PgSleep' FROM pg_stat_activity WHERE pid = $pid")
	  or die 'source pass did not end';
	sleep 1;
	$node->safe_psql('postgres', "SELECT pg_${interrupt}_backend($pid)");
	my $gone = $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid AND state = 'active'");
	kill 'CONT', $ReconTest::ferret_pid;	# (before waiting: a failing run must not hang)
	$h->finish;
	return ($gone, $err);
}

my ($gone, $err) = frozen_sweep('cancel');
ok($gone, 'a sweep blocked on a hung MongoDB is cancelled (long before the 10-minute socket timeout)');
like($err, qr/canceling statement due to user request/, 'and reports the cancel, not an unreachable server');
is($node->safe_psql('postgres', "SELECT count(*) FROM recon.runs"), '0', 'the cancelled sweep recorded nothing');

($gone, $err) = frozen_sweep('terminate');
ok($gone, 'pg_terminate_backend ends it the same way');
like($err, qr/terminating connection due to administrator command/, 'with the usual message');

# the connection is dropped, not reused half-read: the next sweep works
my $run = $node->safe_psql('postgres', "SELECT recon.sweep('slow')");
is($node->safe_psql('postgres', "SELECT divergences FROM recon.runs WHERE run_id = $run"), '3',
	'a new sweep after the interruptions finds the three missing documents');

$node->stop;
done_testing();
