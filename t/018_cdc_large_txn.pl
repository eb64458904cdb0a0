# A 1M-row single transaction: every changed key is checked, the change
# worker's memory stays bounded (decoded keys spill past
# logical_decoding_work_mem instead of piling up), and the worker decodes in
# process: one "starting logical decoding" line for the worker's life, not
# one per poll.
#
# The transaction updates all 1,000,000 rows of a mapped table and then
# deletes all but three of them, so that MongoDB needs documents for three
# keys only (DESIGN.md: FerretDB serves $in look-ups by scanning the
# collection, so keyed look-ups need a modest collection): the 999,997
# others are absent on both sides when checked, which is equal.  Of the three
# kept rows, one gets a new value MongoDB never receives: exactly one
# divergence.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use ReconTest;

my $rows = 1_000_000;
my $uri = ReconTest::start_ferretdb();
my $node = ReconTest::new_node('cdc_large', conf => <<'CONF');
recon.naptime = 1
recon.batch_size = 10000
logical_decoding_work_mem = '1MB'
max_wal_size = '4GB'
CONF

$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE big (id int PRIMARY KEY, v text, n int);
	INSERT INTO big SELECT g, 'v' || g, 0 FROM generate_series(1, $rows) g;
	SELECT recon.add_mapping('big', 'public.big', 'm', 'large.big',
	       options => '{"repair": "off", "settle_ms": 500, "exclude": ["n"]}');
});
ReconTest::mongo('drop', 'large.big');
ReconTest::mongo_in(join('', map { qq({"_id": $_, "v": "v$_"}\n) } 1 .. 3), 'insert', 'large.big');
$node->safe_psql('postgres', "SELECT recon.enable_cdc('big')");
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM recon.cdc_status WHERE mapping = 'big' AND slot_name IS NOT NULL"),
	'change checks follow big');
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'recon change worker'"),
	'a change worker runs');

# a check that comes late (no worker for longer than settle_ms + the re-check
# schedule) records a key that still differs at its first re-check: the
# others would only add rounds, the application's write has had all their time
my $checks_sql = "SELECT s.checks FROM recon.cdc_state s JOIN recon.mappings m USING (mapping_id) WHERE m.name = 'big'";
ok(ReconTest::stop_change_workers($node), 'the change worker is stopped');
$node->safe_psql('postgres', "UPDATE big SET v = 'late' WHERE id = 10");
usleep(3_000_000);
ReconTest::resume_change_workers($node);
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM recon.divergences WHERE key = '10' AND status = 'open'"),
	'the late-checked key is recorded');
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM recon.cdc_queue"), 'and leaves the queue');
is($node->safe_psql('postgres', $checks_sql), '2',
	'after two checks, not four: it was read more than settle_ms + the schedule (1.9 s) after its commit');

my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'recon change worker'");

# the plugin stays usable from SQL for diagnostics, through a slot of one's own
# (the worker holds its own slot)
ok($node->poll_query_until('postgres',
		"SELECT active FROM pg_replication_slots WHERE slot_name LIKE 'recon\\_%'"),
	'the change worker holds its slot');
$node->safe_psql('postgres', "SELECT pg_create_logical_replication_slot('diag', 'recon')");
$node->safe_psql('postgres', "UPDATE big SET v = 'v1' WHERE id = 1");
my $relid = $node->safe_psql('postgres', "SELECT 'big'::regclass::oid");
is($node->safe_psql('postgres',
		"SELECT string_agg(CASE WHEN left(l, 1) = 'X' THEN 'X' ELSE replace(l, E'\\t', ' ') END, '|')"
		  . " FROM (SELECT convert_from(data, 'UTF8') AS l FROM pg_logical_slot_get_binary_changes("
		  . "'diag', NULL, NULL, 'relations', '$relid:1')) c"),
	"U $relid.0 1|X", 'SQL callers get text lines: the changed key, then the end of the transaction');
$node->safe_psql('postgres', "SELECT pg_drop_replication_slot('diag')");

sub rss_anon_kb
{
	open(my $fh, '<', "/proc/$pid/status") or return 0;
	while (<$fh>) { return $1 if /^RssAnon:\s+(\d+) kB/; }
	return 0;
}
# an error between decoding and the queue's commit loses nothing: the worker
# decodes again from the slot's confirmed position (here the queue write fails twice)
$node->safe_psql('postgres', q{
	CREATE SEQUENCE queue_failures;
	CREATE FUNCTION fail_twice() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		IF nextval('public.queue_failures') <= 2 THEN
			RAISE EXCEPTION 'injected queue write failure';
		END IF;
		RETURN NEW;
	END $$;
	CREATE TRIGGER fail_twice BEFORE INSERT ON recon.cdc_queue FOR EACH ROW EXECUTE FUNCTION fail_twice();
	UPDATE big SET v = 'not in mongo' WHERE id = 2;
});
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM recon.divergences WHERE key = '2' AND status = 'open'"),
	'the key whose queue write failed twice is still checked, and found');
is($node->safe_psql('postgres', "SELECT last_value > 2 FROM queue_failures"), 't', 'after two failed writes');
$node->safe_psql('postgres', 'DROP TRIGGER fail_twice ON recon.cdc_queue');

my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok($node->poll_query_until('postgres',
		"SELECT confirmed_flush_lsn >= '$lsn' AND queue_depth = 0 FROM recon.cdc_status WHERE mapping = 'big'"),
	'the worker decoded and checked everything so far');
my $checks0 = $node->safe_psql('postgres', $checks_sql);
my $log_start = -s $node->logfile;
my $rss_before = rss_anon_kb();

$node->safe_psql('postgres', q{
	BEGIN;
	UPDATE big SET n = n + 1;
	UPDATE big SET v = 'changed' WHERE id = 3;
	DELETE FROM big WHERE id > 3;
	COMMIT;
});

# follow the worker until it has checked every key; sample its memory
my ($checks, $peak) = (0, $rss_before);
for (1 .. 3600)
{
	my $rss = rss_anon_kb();
	$peak = $rss if $rss > $peak;
	$checks = $node->safe_psql('postgres', $checks_sql) - $checks0;
	last if $checks >= $rows + 2
	  && $node->safe_psql('postgres', 'SELECT count(*) FROM recon.cdc_queue') eq '0';
	usleep(250_000);
}
# each key once, the two divergent ones (2 and 3) twice: read long after their
# re-check schedule had passed (the million keys before them), they are
# recorded at their first re-check
is($checks, $rows + 2, 'every changed key was checked, once (the two divergent ones twice)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM recon.cdc_queue'), '0', 'the queue drained');
is($node->safe_psql('postgres',
		"SELECT string_agg(key::text || ':' || kind, ',' ORDER BY key::text) FROM recon.divergences WHERE mapping_id ="
		  . " (SELECT mapping_id FROM recon.mappings WHERE name = 'big') AND status = 'open'"),
	'10:missing,2:mismatch,3:mismatch', 'exactly the real divergences');
is($node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'recon change worker'"),
	$pid, 'the same worker did it all (no crash, no restart)');
diag("worker RssAnon: ${rss_before} kB before, peak ${peak} kB");
cmp_ok($peak - $rss_before, '<', 64 * 1024,
	'worker private memory grew by less than 64 MB for 1M changed keys');
ok(-d $node->data_dir . '/pg_replslot', 'slot directory present');

# no decoding restart per poll: the worker's context was created once, before the transaction
my $log = slurp_file($node->logfile, $log_start);
my $starts = () = $log =~ /starting logical decoding for slot/g;
is($starts, 0, 'no "starting logical decoding" line while the worker polled and checked');
my $whole = slurp_file($node->logfile);
my $all_starts = () = $whole =~ /starting logical decoding for slot "recon_/g;
is($all_starts, 4, 'one "starting logical decoding" line per worker start (2) and one after each failed queue write (2)');

# catalog changes between and within polls: the worker reads catalogs as of
# each change while decoding and as of now while checking, and flushes its
# caches between the two only when a catalog changed.  The mapped table is
# rewritten (VACUUM FULL: a new relfilenode) while the worker runs and while
# it is away, between changes; every change is still decoded and checked
# against the present table (a stale cache would read the old file).
$node->safe_psql('postgres', q{
	CREATE TABLE ddl (id int PRIMARY KEY, v text);
	INSERT INTO ddl SELECT g, 'v' || g FROM generate_series(1, 4) g;
	SELECT recon.add_mapping('ddl', 'public.ddl', 'm', 'large.ddl',
	       options => '{"repair": "off", "settle_ms": 200}');
	SELECT recon.enable_cdc('ddl');
});
ReconTest::mongo('drop', 'large.ddl');
ReconTest::mongo_in(join('', map { qq({"_id": $_, "v": "v$_"}\n) } 1 .. 4), 'insert', 'large.ddl');
my $ddl_log_start = -s $node->logfile;
$node->safe_psql('postgres', 'VACUUM FULL ddl');
$node->safe_psql('postgres', "UPDATE ddl SET v = 'x1' WHERE id = 1");
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM recon.divergences d JOIN recon.mappings m USING (mapping_id)"
		  . " WHERE m.name = 'ddl' AND d.key = '1' AND d.source_image->>'v' = 'x1'"),
	'a change right after the table was rewritten is checked against its new file');
ok(ReconTest::stop_change_workers($node), 'the change worker is stopped');
$node->safe_psql('postgres', "UPDATE ddl SET v = 'x2' WHERE id = 2");
$node->safe_psql('postgres', 'VACUUM FULL ddl');
$node->safe_psql('postgres', "UPDATE ddl SET v = 'x3' WHERE id = 3");
$node->safe_psql('postgres', 'CREATE INDEX ddl_v ON ddl (v)');
ReconTest::resume_change_workers($node);
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM recon.divergences d JOIN recon.mappings m USING (mapping_id)"
		  . " WHERE m.name = 'ddl' AND (d.key, d.source_image->>'v') IN (('2', 'x2'), ('3', 'x3'))"),
	'changes decoded on both sides of a rewrite are checked against the present table');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM recon.cdc_queue q JOIN recon.mappings m USING (mapping_id) WHERE m.name = 'ddl'"),
	'and leave the queue');
is($node->safe_psql('postgres',
		"SELECT string_agg(d.key::text, ',' ORDER BY d.key::text) FROM recon.divergences d"
		  . " JOIN recon.mappings m USING (mapping_id) WHERE m.name = 'ddl' AND d.status = 'open'"),
	'1,2,3', 'exactly the changed keys differ (4 was never changed)');
unlike(slurp_file($node->logfile, $ddl_log_start), qr/ERROR|WARNING/, 'without an error or a warning');

done_testing();
