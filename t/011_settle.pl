# The settle wait of a background sweep's re-check holds no snapshot: a key
# that moved between the pass and the re-check is given settle_ms, and
# during that wait the sweep worker holds back no vacuum horizon
# (pg_stat_activity.backend_xmin is NULL).  The key is then recorded with
# what the re-check read last.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use ReconTest;

my $uri = ReconTest::start_ferretdb();
my $node = ReconTest::new_node('settle');
$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE s (id int PRIMARY KEY, v text);
	INSERT INTO s SELECT g, 'v' || g FROM generate_series(1, 3) g;
	SELECT recon.add_mapping('st', 'public.s', 'm', 'settle.s',
	                         options => '{"repair": "off", "settle_ms": 4000}');
	ALTER SYSTEM SET recon.debug_pause_point = 'before_recheck';
	ALTER SYSTEM SET recon.debug_pause_ms = 3000;
	SELECT pg_reload_conf();
});
ReconTest::mongo('drop', 'settle.s');
ReconTest::mongo_in(qq({"_id": 1, "v": "v1"}\n{"_id": 2, "v": "stale"}\n{"_id": 3, "v": "v3"}\n),
	'insert', 'settle.s');

my $run = $node->safe_psql('postgres', "SELECT recon.start_sweep('st')");
my $worker = "backend_type = 'recon sweep worker' OR application_name = 'recon sweep worker'";
# the worker is paused before its re-check, snapshot in hand
$node->wait_for_log(qr/pausing 3000 ms at debug pause point/);
# the divergent key moves: the re-check sees it differ from the pass and waits settle_ms
ReconTest::mongo('update', 'settle.s', '{"_id": 2}', '{"$set": {"v": "newer but wrong"}}');

my ($seen_waiting, $seen_without_xmin) = (0, 0);
for (1 .. 150)
{
	my $r = $node->safe_psql('postgres',
		"SELECT coalesce(backend_xmin::text, 'none') FROM pg_stat_activity WHERE ($worker)"
		  . " AND wait_event = 'Extension'");
	if ($r ne '')
	{
		$seen_waiting++;
		$seen_without_xmin++ if $r eq 'none';
	}
	last if $seen_without_xmin >= 3;
	usleep(100_000);
}
ok($seen_waiting > 0, 'the sweep worker was seen waiting');
ok($seen_without_xmin >= 3, 'while it waited for the key to settle it held no snapshot (backend_xmin NULL)');

$node->poll_query_until('postgres',
	"SELECT status <> 'running' FROM recon.runs WHERE run_id = $run")
  or die 'the sweep did not finish';
is($node->safe_psql('postgres', "SELECT status, divergences FROM recon.runs WHERE run_id = $run"),
	'finished|1', 'the sweep finished with the one divergent key');
is($node->safe_psql('postgres',
	"SELECT key::text, target_image->>'v' FROM recon.divergences WHERE last_run_id = $run"),
	'2|newer but wrong', 'the divergence holds what the last re-read saw');

$node->stop;
ReconTest::stop_ferretdb();
done_testing();
