# recon.sweep_progress shows a running sweep from another session: its
# mapping, run, phase, rows and documents read, candidates and elapsed
# time, while the run's own recon.runs row is still invisible (the sweep is
# one transaction).  The row goes away when the sweep ends, also when it is
# cancelled.  An operator may read the view; a role without recon roles may
# not.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ReconTest;

my $uri = ReconTest::start_ferretdb();
my $node = ReconTest::new_node('progress');
my $rows = 5000;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE p (id int PRIMARY KEY, v text);
	INSERT INTO p SELECT g, 'v' || g FROM generate_series(1, $rows) g;
	ANALYZE p;
	SELECT recon.add_mapping('prog', 'public.p', 'm', 'progress.p', options => '{"repair": "off"}');
	CREATE ROLE watcher LOGIN;
	GRANT recon_operator TO watcher;
	CREATE ROLE nobody LOGIN;
});
ReconTest::mongo('drop', 'progress.p');
ReconTest::mongo_in(join('', map { my $v = $_ == 7 ? 'stale' : "v$_"; qq({"_id": $_, "v": "$v"}\n) } 1 .. $rows),
	'insert', 'progress.p');

is($node->safe_psql('postgres', 'SELECT count(*) FROM recon.sweep_progress'), '0', 'nothing runs: no rows');

# a sweep held before its re-check (debug pause point)
my $sweeper = $node->background_psql('postgres');
$sweeper->query_safe("SET recon.debug_pause_point = 'before_recheck'");
$sweeper->query_safe('SET recon.debug_pause_ms = 6000');
my $pid = $sweeper->query_safe('SELECT pg_backend_pid()');
$sweeper->query_until(qr/started/, "\\echo started\nSELECT recon.sweep('prog');\n");
$node->wait_for_log(qr/pausing 6000 ms at debug pause point/);

my $row = $node->safe_psql('postgres',
	"SELECT pid, mapping, run_id IS NOT NULL, kind, phase, rows_read, docs_read, rows_estimate,"
	  . " candidates, elapsed > '0'::interval, read_percent FROM recon.sweep_progress",
	extra_params => [ '-U', 'watcher' ]);
is($row, "$pid|prog|t|sweep|matching and re-checking|$rows|$rows|$rows|1|t|100",
	'an operator sees the running sweep: phase, both passes read, estimate');
is($node->safe_psql('postgres', "SELECT count(*) FROM recon.runs WHERE mapping_id IS NOT NULL"), '0',
	'while its run row is not yet visible');
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM recon.sweep_progress',
	extra_params => [ '-U', 'nobody' ]);
like($err, qr/permission denied/, 'a role without recon roles may not read it');

ok($node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM recon.sweep_progress"), 'the row goes away when the sweep ends');
$sweeper->quit;
is($node->safe_psql('postgres', "SELECT status, divergences FROM recon.runs"), 'finished|1',
	'and the sweep finished with its divergence');

# cancelled: the slot is cleared with the transaction
$sweeper = $node->background_psql('postgres', on_error_stop => 0);
$sweeper->query_safe("SET recon.debug_pause_point = 'before_recheck'");
$sweeper->query_safe('SET recon.debug_pause_ms = 20000');
$pid = $sweeper->query_safe('SELECT pg_backend_pid()');
$sweeper->query_until(qr/started/, "\\echo started\nSELECT recon.sweep('prog');\n");
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM recon.sweep_progress WHERE pid = $pid"),
	'a second sweep shows');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM recon.sweep_progress"),
	'cancelled: its row is gone');
$sweeper->quit;

$node->stop;
ReconTest::stop_ferretdb();
done_testing();
