# recon.enable_cdc() on a busy server.  Creating the slot waits for the
# transactions that are running, and a catalog change committed while it
# waits (here in another database) is replayed as a cache invalidation inside
# the slot's creation, in a subtransaction of the caller's.  PostgreSQL 15
# leaves the caller's resource owner switched after that; enable_cdc must
# still succeed, and leave its slot and its state whole.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ReconTest;

my $uri = ReconTest::start_ferretdb();
my $node = ReconTest::new_node('enablebusy');
$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE items (id int PRIMARY KEY, v text);
	SELECT recon.add_mapping('items', 'public.items', 'm', 'busy.items');
});
$node->safe_psql('postgres', 'CREATE DATABASE other');

# An interactive session that keeps its transaction open between statements.
sub session
{
	my ($db) = @_;
	my %s = (in => '', out => '', err => '');
	$s{h} = IPC::Run::start([ 'psql', '-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db) ],
		'<', \$s{in}, '>', \$s{out}, '2>', \$s{err});
	return \%s;
}

# Run sql in the session; returns its output once the marker is back.
sub run
{
	my ($s, $sql) = @_;
	my $timer = IPC::Run::timer($PostgreSQL::Test::Utils::timeout_default);
	$s->{out} = '';
	$s->{in} .= "$sql\nSELECT 'run-done';\n";
	$timer->start;
	$s->{h}->pump until $s->{out} =~ /run-done\n/ || $timer->is_expired || !$s->{h}->pumpable;
	die "session did not answer: $s->{err}" unless $s->{out} =~ s/run-done\n//;
	chomp $s->{out};
	return $s->{out};
}

# enable_cdc waiting for the transaction with this XID to end
sub waits_for
{
	my ($xid) = @_;
	return $node->poll_query_until('postgres', qq{
		SELECT count(*) > 0 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		 WHERE l.locktype = 'transactionid' AND l.transactionid::text = '$xid' AND NOT l.granted
		   AND a.query LIKE '%enable_cdc%'});
}

# Slot creation first waits for what runs when it starts (b), then, from its
# first snapshot on, for what runs then (d); a transaction that begins after
# that (c) changes catalogs of another database and commits in between.
my $b = session('postgres');
my $b_xid = run($b, 'BEGIN; SELECT pg_current_xact_id();');
my ($a_out, $a_err) = ('', '');
my $a = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres'),
	'-c', "SELECT recon.enable_cdc('items')" ], '>', \$a_out, '2>', \$a_err);
ok(waits_for($b_xid), 'creating the slot waits for the running transaction');
my $d = session('postgres');
my $d_xid = run($d, 'BEGIN; SELECT pg_current_xact_id();');
run($b, 'COMMIT;');
ok(waits_for($d_xid), 'then for the one that began meanwhile');
my $c = session('other');
run($c, 'BEGIN; SELECT pg_current_xact_id(); CREATE TABLE catalog_change (x int); COMMIT;');
run($d, 'COMMIT;');
ok($a->finish, 'enable_cdc succeeds') or diag $a_err;
unlike($a_err, qr/ERROR/, 'without an error') or diag $a_err;
like($a_err, qr/change checks enabled for mapping "items"/, 'and says so');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE plugin = 'recon'"),
	'1', 'the slot exists');
is($node->safe_psql('postgres',
	"SELECT cdc_enabled FROM recon.mappings WHERE name = 'items'"), 't', 'the mapping follows changes');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM recon.audit_log WHERE action = 'cdc.enabled'"), '1', 'and the audit trail says so');
for my $s ($b, $c, $d)
{
	$s->{in} .= "\\q\n";
	$s->{h}->finish;
}

$node->stop;
done_testing();
