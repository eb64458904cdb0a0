# The monitoring stack: Debian's prometheus-postgres-exporter, started with
# recon's queries file (monitoring/postgres_exporter.yml) and connected as a
# role that is only a member of recon_auditor, serves recon's metrics on
# /metrics with the values of a sweep with known divergences.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HTTP::Tiny;
use Time::HiRes qw(usleep);
use ReconTest;

my $exporter = '/usr/bin/prometheus-postgres-exporter';
# not a skip: a missing exporter is a failed set-up (scripts/install-deps.sh installs it)
die "$exporter is not installed (scripts/install-deps.sh installs it)\n" unless -x $exporter;

my $uri = ReconTest::start_ferretdb();
my $node = ReconTest::new_node('exporter');
$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE x (id int PRIMARY KEY, v text);
	INSERT INTO x SELECT g, 'v' || g FROM generate_series(1, 10) g;
	SELECT recon.add_mapping('exp', 'public.x', 'm', 'exporter.x');
	CREATE TABLE y (id int PRIMARY KEY, v text);
	INSERT INTO y VALUES (1, 'a');
	SELECT recon.add_mapping('calm', 'public.y', 'm', 'exporter.y');
	CREATE ROLE metrics LOGIN;
	GRANT recon_auditor TO metrics;
});
ReconTest::mongo('drop', 'exporter.x');
ReconTest::mongo('drop', 'exporter.y');
# 9 is lost, 3 is stale, 77 is an orphan
ReconTest::mongo_in(join('', map { my $v = $_ == 3 ? 'stale' : "v$_"; qq({"_id": $_, "v": "$v"}\n) }
	  grep { $_ != 9 } 1 .. 10) . qq({"_id": 77, "v": "orphan"}\n), 'insert', 'exporter.x');
ReconTest::mongo_in(qq({"_id": 1, "v": "a"}\n), 'insert', 'exporter.y');
$node->safe_psql('postgres', "SELECT recon.sweep('exp'), recon.sweep('calm')");

my $port = PostgreSQL::Test::Cluster::get_free_port();
my $log = $node->basedir . '/exporter.log';
my $dsn = sprintf('host=%s port=%d user=metrics dbname=postgres sslmode=disable', $node->host, $node->port);
my $queries = "$FindBin::RealBin/../monitoring/postgres_exporter.yml";
ok(-r $queries, 'the queries file ships with recon');
my $pid = fork();
die "fork: $!" unless defined $pid;
if ($pid == 0)
{
	open(STDOUT, '>', $log) or die;
	open(STDERR, '>&', \*STDOUT) or die;
	$ENV{DATA_SOURCE_NAME} = $dsn;
	exec($exporter, "--web.listen-address=127.0.0.1:$port", "--extend.query-path=$queries",
		'--disable-default-metrics', '--disable-settings-metrics') or die "exec: $!";
}

my $http = HTTP::Tiny->new(timeout => 10);
my $body = '';
for (1 .. 100)
{
	my $r = $http->get("http://127.0.0.1:$port/metrics");
	if ($r->{success} && $r->{content} =~ /recon_mapping_status/)
	{
		$body = $r->{content};
		last;
	}
	usleep(200_000);
}
kill 'TERM', $pid;
waitpid($pid, 0);
ok($body ne '', 'the exporter serves /metrics with recon metrics') or diag(slurp_file($log));

sub metric
{
	my ($name, $mapping) = @_;
	return $body =~ /^\Q$name\E\{[^}]*mapping="\Q$mapping\E"[^}]*\} (\S+)$/m ? $1 + 0 : undef;
}
is(metric('recon_health_open_divergences', 'exp'), 3, 'open divergences of the drifted mapping: 3');
is(metric('recon_mapping_open_missing', 'exp'), 1, 'one missing document');
is(metric('recon_mapping_open_extra', 'exp'), 1, 'one extra document');
is(metric('recon_mapping_open_mismatch', 'exp'), 1, 'one mismatch');
is(metric('recon_mapping_status', 'exp'), 1, 'status warning (1): divergences wait for approval');
is(metric('recon_health_awaiting_approval', 'exp'), 2, 'two repairs await approval (no delete planned: delete_extra is off)');
is(metric('recon_mapping_status', 'calm'), 0, 'the mapping in sync is ok (0)');
is(metric('recon_health_healthy', 'calm'), 1, 'and healthy');
is(metric('recon_sweep_running', 'exp'), 0, 'no sweep is running');
cmp_ok(metric('recon_health_last_run_age_seconds', 'exp'), '>=', 0, 'the last run has an age');
unlike(slurp_file($log), qr/permission denied/, 'the auditor role reads every recon query');

$node->stop;
ReconTest::stop_ferretdb();
done_testing();
