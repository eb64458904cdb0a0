# pg_cron schedules sweeps: a job running recon.sweep() records a run.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ReconTest;

my $uri = ReconTest::start_ferretdb();
my $node = ReconTest::new_node('cron', preload => 'recon,pg_cron',
	conf => "cron.database_name = 'postgres'\ncron.use_background_workers = on\n");
$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	CREATE EXTENSION pg_cron;
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t VALUES (1, 'a'), (2, 'b');
	SELECT recon.add_mapping('t', 'public.t', 'm', 'crondb.t');
});
ReconTest::mongo('drop', 'crondb.t');
ReconTest::mongo_in(qq({"_id": 1, "v": "a"}\n), 'insert', 'crondb.t');

$node->safe_psql('postgres',
	"SELECT cron.schedule('recon-sweep-t', '* * * * *', \$\$SELECT recon.sweep('t')\$\$)");
# pg_cron has minute granularity: the first run starts within about 60 s
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM recon.runs WHERE mapping_name = 't' AND status = 'finished'"),
	'the scheduled sweep ran');
is($node->safe_psql('postgres', "SELECT kind || ':' || key FROM recon.divergences"), 'missing:2',
	'and recorded the divergence');
is($node->safe_psql('postgres',
	"SELECT status FROM cron.job_run_details ORDER BY runid LIMIT 1"), 'succeeded',
	'pg_cron reports success');
$node->safe_psql('postgres', "SELECT cron.unschedule('recon-sweep-t')");

$node->stop;
done_testing();
