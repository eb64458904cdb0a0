# Change checks keep flowing past bad keys and broken mappings:
# - one key whose check always fails (recon.debug_fail_key) is retried with
#   backoff, then quarantined (recon.cdc_quarantine, cdc_status.quarantined),
#   while 1,000 other changes are checked and a real divergence among them is
#   recorded;
# - one broken mapping (its source table dropped) is marked broken in
#   cdc_status while the other mapping's changes are still checked;
# - a backlog (keys already due when decoded, checked in full batches
#   before they are queued) with a failing key in it: that batch goes to the
#   queue instead, where the failing key is isolated and the rest checked.
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
my $node = ReconTest::new_node('iso', conf => "recon.naptime = 1\nrecon.poll_interval_ms = 100\n");
my $rows = 1000;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE a (id int PRIMARY KEY, v text);
	CREATE TABLE b (id int PRIMARY KEY, v text);
	INSERT INTO a SELECT g, 'v' || g FROM generate_series(1, $rows) g;
	INSERT INTO b VALUES (1, 'one');
	SELECT recon.add_mapping('a', 'public.a', 'm', 'iso.a', options => '{"repair": "off", "settle_ms": 200}');
	SELECT recon.add_mapping('b', 'public.b', 'm', 'iso.b', options => '{"repair": "off", "settle_ms": 200}');
});
ReconTest::mongo('drop', 'iso.a');
ReconTest::mongo('drop', 'iso.b');
ReconTest::mongo_in(join('', map { qq({"_id": $_, "v": "v$_"}\n) } 1 .. $rows), 'insert', 'iso.a');
ReconTest::mongo_in(qq({"_id": 1, "v": "one"}\n), 'insert', 'iso.b');
$node->safe_psql('postgres', "ALTER SYSTEM SET recon.debug_fail_key = '13'");
$node->reload;
$node->safe_psql('postgres', "SELECT recon.enable_cdc('a')");
$node->safe_psql('postgres', "SELECT recon.enable_cdc('b')");
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'recon change worker'")
  or die 'no change worker';

# 1,000 changes; the application keeps MongoDB in step except for key 500
$node->safe_psql('postgres', "UPDATE a SET v = v || '!'");
ReconTest::mongo_replace_chunked(join('', map { qq({"_id": $_, "v": "v$_!"}\n) } grep { $_ != 500 } 1 .. $rows), 'iso.a');

ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM recon.cdc_quarantine WHERE key = '13'"),
	'the failing key is quarantined');
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM recon.cdc_queue q JOIN recon.mappings m USING (mapping_id) WHERE m.name = 'a'"),
	'every other change was checked');
is($node->safe_psql('postgres',
	"SELECT string_agg(key::text, ',') FROM recon.divergences WHERE status = 'open'"), '500',
	'exactly the real divergence was recorded');
is($node->safe_psql('postgres', "SELECT quarantined FROM recon.cdc_status WHERE mapping = 'a'"), '1',
	'cdc_status counts the quarantined key');
like($node->safe_psql('postgres', "SELECT failures || ' ' || last_error FROM recon.cdc_quarantine"),
	qr/^5 recon.debug_fail_key: the check of key 13 fails/, 'with its failures and last error');

# a broken mapping does not stop the other one
$node->safe_psql('postgres', "ALTER SYSTEM RESET recon.debug_fail_key");
$node->reload;
$node->safe_psql('postgres', 'DROP TABLE b');
$node->safe_psql('postgres', "UPDATE a SET v = 'changed' WHERE id = 7");
ok($node->poll_query_until('postgres',
	"SELECT broken IS NOT NULL FROM recon.cdc_status WHERE mapping = 'b'"),
	'the mapping whose source was dropped is marked broken');
like($node->safe_psql('postgres', "SELECT broken FROM recon.cdc_status WHERE mapping = 'b'"),
	qr/no longer exists/, 'with the reason');
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM recon.divergences WHERE key = '7' AND status = 'open'"),
	'the other mapping is still checked');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'recon change worker'"),
	'1', 'and the worker keeps running');

# a backlog: the worker is away while 200 keys change, one of which fails to
# check and one of which really diverges
ok(ReconTest::stop_change_workers($node), 'the change worker is stopped');
my $checks_sql = "SELECT s.checks FROM recon.cdc_state s JOIN recon.mappings m USING (mapping_id) WHERE m.name = 'a'";
$node->safe_psql('postgres', "ALTER SYSTEM SET recon.debug_fail_key = '121'");
# keys due when decoded are checked at once in full batches only: two here
$node->safe_psql('postgres', "ALTER SYSTEM SET recon.batch_size = 100");
my $backlog_log = -s $node->logfile;
$node->safe_psql('postgres', "UPDATE a SET v = v || '?' WHERE id BETWEEN 101 AND 300");
ReconTest::mongo_replace_chunked(join('', map { qq({"_id": $_, "v": "v$_!?"}\n) } grep { $_ != 222 } 101 .. 300),
	'iso.a');
usleep(1_000_000);    # past settle_ms: every key is due when the worker decodes it
ReconTest::resume_change_workers($node);
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM recon.cdc_quarantine WHERE key = '121'"),
	'the key that fails in a backlog is quarantined');
like(slurp_file($node->logfile, $backlog_log),
	qr/100 changed keys of mapping "a" go to the queue: one of them could not be checked\n.*DETAIL:  recon.debug_fail_key: the check of key 121 fails/,
	'its batch, checked as decoded, went to the queue instead');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM recon.divergences WHERE key = '222' AND status = 'open'"),
	'the real divergence in the backlog is recorded');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM recon.cdc_queue q JOIN recon.mappings m USING (mapping_id) WHERE m.name = 'a'"),
	'every other key of the backlog was checked');
# the new worker counts from zero; one batch of 100 is checked as decoded,
# the failed one counts nothing and is checked again from the queue: 200
# keys once, 222 again at its re-check, 121 four more times until quarantined
is($node->safe_psql('postgres', $checks_sql), 205,
	'each backlog key was checked once from the queue (222 twice, 121 five times)');
$node->safe_psql('postgres', "ALTER SYSTEM RESET recon.debug_fail_key");
$node->safe_psql('postgres', "ALTER SYSTEM RESET recon.batch_size");
$node->reload;

$node->stop;
done_testing();
