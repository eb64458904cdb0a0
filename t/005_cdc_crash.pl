# Durability of change checks: kill -9 of the change worker and an
# immediate shutdown in the middle of a stream of updates lose no changed
# key; MongoDB stopped for 30 s builds a backlog that drains when it
# returns, finding every divergence and inventing none.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ReconTest;

my $uri = ReconTest::start_ferretdb();
my $node = ReconTest::new_node('cdccrash', conf => "recon.naptime = 1\n");
my $rows = 300;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE items (id int PRIMARY KEY, v text);
	INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, $rows) g;
	SELECT recon.add_mapping('items', 'public.items', 'm', 'crash.items',
	       options => '{"repair": "approve", "settle_ms": 500}');
});
ReconTest::mongo('drop', 'crash.items');
ReconTest::mongo_in(join('', map { qq({"_id": $_, "v": "v$_"}\n) } 1 .. $rows), 'insert', 'crash.items');
$node->safe_psql('postgres', "SELECT recon.enable_cdc('items')");
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'recon change worker'"),
	'change worker running');

sub worker_pid
{
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'recon change worker'");
}

sub open_keys
{
	return $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(key::text, ',' ORDER BY key::int), '') FROM recon.divergences WHERE status = 'open'");
}

# ---- 1. updates that never reach MongoDB, across kill -9 and an immediate shutdown ----
my %changed;
my $round = 0;
sub write_batch
{
	my ($from, $to) = @_;
	$round++;
	my @sql;
	for my $k ($from .. $to)
	{
		push @sql, "UPDATE items SET v = 'r$round-$k' WHERE id = $k;";
		$changed{$k} = 1;
	}
	$node->safe_psql('postgres', join("\n", @sql));
}

write_batch(1, 40);
my $pid = worker_pid();
kill 'KILL', $pid;				# mid-stream: the postmaster restarts everything
ReconTest::wait_ready($node);
write_batch(41, 80);
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'recon change worker' AND pid <> $pid"),
	'the change worker is back after kill -9');
write_batch(81, 120);
$node->stop('immediate');
$node->start;
write_batch(121, 160);
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 160 FROM recon.divergences WHERE status = 'open'"),
	'every changed key found despite the crashes');
is(open_keys(), join(',', sort { $a <=> $b } keys %changed), 'exactly the changed keys');
is($node->safe_psql('postgres', "SELECT count(*) FROM recon.divergences WHERE kind <> 'mismatch'"), '0',
	'all mismatches, none invented');

# bring MongoDB in line for the next part (as the application would)
my $docs = '';
for my $k (1 .. 160)
{
	my $r = $k <= 40 ? 1 : $k <= 80 ? 2 : $k <= 120 ? 3 : 4;
	$docs .= qq({"_id": $k, "v": "r$r-$k"}\n);
}
ReconTest::mongo_replace_chunked($docs, 'crash.items');
my $r = $node->safe_psql('postgres', "SELECT recon.sweep('items')");
is($node->safe_psql('postgres', "SELECT divergences FROM recon.runs WHERE run_id = $r"), '0', 'in sync again');

# ---- 2. MongoDB down for 30 s while updates continue ----
# the application's writes are late by some seconds after an outage (here
# FerretDB's restart and the replay, slower on a loaded machine): settle_ms
# says so, and the worker waits settle_ms after a failure (3 s was raced by
# the replay's last chunk)
$node->safe_psql('postgres', q{SELECT recon.alter_mapping('items', '{"settle_ms": 10000}')});
ReconTest::stop_ferretdb();
my %pending;
for my $b (1 .. 6)
{
	my @sql;
	for my $k (161 + ($b - 1) * 20 .. 160 + $b * 20)
	{
		push @sql, "UPDATE items SET v = 'outage-$k' WHERE id = $k;";
		$pending{$k} = "outage-$k";
	}
	$node->safe_psql('postgres', join("\n", @sql));
	sleep 5;
}
ok($node->poll_query_until('postgres',
	"SELECT errors > 0 AND last_error ~ 'unreachable' AND queue_depth > 0 FROM recon.cdc_status"),
	'during the outage: errors counted, the backlog is visible');
my $backlog = $node->safe_psql('postgres', "SELECT queue_depth FROM recon.cdc_status");
cmp_ok($backlog, '>=', 100, "backlog of $backlog keys");

# MongoDB returns; the application replays its writes, except for keys 161-170
ReconTest::start_ferretdb();
ReconTest::mongo_replace_chunked(join('', map { qq({"_id": $_, "v": "$pending{$_}"}\n) } grep { $_ > 170 } sort { $a <=> $b } keys %pending),
	'crash.items');
ok($node->poll_query_until('postgres', "SELECT queue_depth = 0 FROM recon.cdc_status"), 'the backlog drains');
is(open_keys(), join(',', 161 .. 170), 'exactly the keys whose writes were lost are open');
is($node->safe_psql('postgres', 'SELECT ok FROM recon.verify_audit()'), 't', 'audit chain intact');

$node->stop;
done_testing();
