# ReconTest — shared helpers for recon's TAP tests: a private FerretDB
# (started from RECON_FERRETDB_BIN, so it can be stopped and restarted
# mid-test), a PostgreSQL node with recon preloaded, and mongo_tool calls.
package ReconTest;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(usleep);

our $ferret_pid;
our ($ferret_port, $ferret_dir);

sub port_open
{
	my $port = shift;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp');
	return 0 unless $s;
	close $s;
	return 1;
}

# Start (or restart, on the same port and data) a private FerretDB.
sub start_ferretdb
{
	my $bin = $ENV{RECON_FERRETDB_BIN};
	die "RECON_FERRETDB_BIN is not set (run through scripts/test.sh)" unless $bin;
	$ferret_port //= PostgreSQL::Test::Cluster::get_free_port();
	$ferret_dir //= PostgreSQL::Test::Utils::tempdir();
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDOUT, '>>', "$ferret_dir/ferretdb.log") or die;
		open(STDERR, '>&', \*STDOUT) or die;
		exec($bin, '-listen', "127.0.0.1:$ferret_port", '-dir', "$ferret_dir/data")
		  or die "exec $bin: $!";
	}
	$ferret_pid = $pid;
	for (1 .. 300)
	{
		last if port_open($ferret_port);
		usleep(100_000);
	}
	die "FerretDB did not start" unless port_open($ferret_port);
	$ENV{RECON_TEST_MONGO_URI} = "mongodb://127.0.0.1:$ferret_port/";
	return $ENV{RECON_TEST_MONGO_URI};
}

sub stop_ferretdb
{
	return unless $ferret_pid;
	kill 'TERM', $ferret_pid;
	waitpid($ferret_pid, 0);
	$ferret_pid = undef;
}

END { stop_ferretdb(); }

# A node with wal_level=logical and recon preloaded.
sub new_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	my $preload = $opts{preload} // 'recon';
	$node->append_conf('postgresql.conf', <<"CONF");
wal_level = logical
shared_preload_libraries = '$preload'
max_worker_processes = 20
recon.connect_timeout_ms = 2000
restart_after_crash = on
CONF
	$node->append_conf('postgresql.conf', $opts{conf}) if $opts{conf};
	$node->start;
	# recent minor releases only decode with listed output plugins
	if ($node->safe_psql('postgres',
			"SELECT count(*) FROM pg_settings WHERE name = 'output_plugin_libraries'") eq '1')
	{
		$node->safe_psql('postgres',
			'ALTER SYSTEM SET output_plugin_libraries = pgoutput, test_decoding, recon');
		$node->reload;
	}
	return $node;
}

# After a crash: wait until the server accepts queries again.
sub wait_ready
{
	my $node = shift;
	for (1 .. 600)
	{
		my $ok = eval { $node->safe_psql('postgres', 'SELECT 1') eq '1' };
		return 1 if $ok;
		usleep(100_000);
	}
	die "server did not come back";
}

# Keep the change workers away (recon.databases names no database) and stop
# the running one; true once none runs.  Changes committed meanwhile wait in
# the slot.
sub stop_change_workers
{
	my ($node) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET recon.databases = 'none_such'");
	$node->reload;
	$node->safe_psql('postgres',
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'recon change worker'");
	return $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'recon change worker'");
}

# Let the launcher start change workers again.
sub resume_change_workers
{
	my ($node) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM RESET recon.databases");
	$node->reload;
}

# Replace documents (one JSON per line) 40 at a time: FerretDB 1.24 stalls
# on update batches of about 100 operations.
sub mongo_replace_chunked
{
	my ($docs, $coll) = @_;
	my @lines = split /\n/, $docs;
	while (my @chunk = splice(@lines, 0, 40))
	{
		mongo_in(join("\n", @chunk) . "\n", 'replace', $coll);
	}
}

# Run mongo_tool against the private FerretDB; returns stdout.
sub mongo
{
	return mongo_in('', @_);
}

# The same, with input on stdin (for "insert").
sub mongo_in
{
	my ($stdin, @args) = @_;
	my ($out, $err);
	IPC::Run::run([ 'mongo_tool', @args ], '<', \$stdin, '>', \$out, '2>', \$err)
	  or die "mongo_tool @args failed: $err";
	chomp $out;
	return $out;
}

1;
