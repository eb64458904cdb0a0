# Range sweeps: a sweep split into _id ranges records exactly what the
# single-pass sweep records on the same data — divergences of every kind,
# an _id of an unexpected type, keys at the range boundaries — whether it
# runs in the foreground, is cancelled half-way (pg_cancel_backend) and
# resumed, runs on two background workers, or loses its worker to kill -9
# half-way (the postmaster restarts, the launcher resumes it).  Keys moved
# across a range boundary while a sweep is paused between ranges are
# recorded as a single-pass sweep run afterwards records them.  A
# composite key, a second run while one is unfinished and the resumption
# of a finished run are refused.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ReconTest;

my $uri = ReconTest::start_ferretdb();
my $node = ReconTest::new_node('ranges', conf => "recon.naptime = 1\n");
my $n = 3000;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE s (id int PRIMARY KEY, v text, n int);
	INSERT INTO s SELECT g, 'v' || g, g % 7 FROM generate_series(1, $n) g;
	DELETE FROM s WHERE id IN (200, 2600);
	ANALYZE s;
	SELECT recon.add_mapping('s', 'public.s', 'm', 'ranges.s',
	       options => '{"repair": "approve", "settle_ms": 100}');
	CREATE TABLE c (a int, b int, v text, PRIMARY KEY (a, b));
	SELECT recon.add_mapping('comp', 'public.c', 'm', 'ranges.c', options => '{"repair": "off"}');
});

# the boundaries a 4-range sweep takes (the source's key distribution)
my @b = split /\|/, $node->safe_psql('postgres',
	"SELECT array_to_string(percentile_disc(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY id), '|') FROM s");
is(scalar(@b), 3, "boundaries of 4 ranges: @b");

# the collection: missing, extra, mismatched documents, two _ids no key can
# have, and divergences on both sides of each boundary
# (with 200 and 2600 deleted: 751, 1500, 2250)
my %missing = map { $_ => 1 } (100, 1100, 2100, $b[0] - 1, $b[1], $b[2] + 1);
my %stale = map { $_ => 1 } (7, 1234, 2999, $b[0], $b[1] - 1, $b[1] + 1, $b[2] - 1, $b[2]);
my $docs = '';
for my $id (1 .. $n)
{
	next if $missing{$id};
	my $v = $stale{$id} ? 'stale' : "v$id";
	$docs .= sprintf(qq({"_id": %d, "v": "%s", "n": %d}\n), $id, $v, $id % 7);
}
$docs .= qq({"_id": -5, "v": "x", "n": 1}\n{"_id": 3100, "v": "x", "n": 1}\n);
$docs .= qq({"_id": "str1", "v": "x", "n": 1}\n{"_id": 10.5, "v": "x", "n": 1}\n);
ReconTest::mongo('drop', 'ranges.s');
ReconTest::mongo_in($docs, 'insert', 'ranges.s');

# what a run recorded, and its counters
sub records
{
	my $run = shift;
	return $node->safe_psql('postgres',
		"SELECT string_agg(kind || ' ' || key::text || ' ' || fields::text, E'\\n' ORDER BY key::text, kind)"
		  . " FROM recon.divergences WHERE last_run_id = $run AND status = 'open'");
}

sub counters
{
	my $run = shift;
	return $node->safe_psql('postgres',
		"SELECT status, rows_source, docs_target, candidates, divergences, new_divergences,"
		  . " resolved, repairs_planned FROM recon.runs WHERE run_id = $run");
}

# each run starts from no records, so that every counter compares
sub reset_records
{
	$node->safe_psql('postgres', 'DELETE FROM recon.repairs; DELETE FROM recon.divergences;');
}

sub last_run
{
	return $node->safe_psql('postgres', 'SELECT max(run_id) FROM recon.runs');
}

# a foreground range sweep of 4 ranges in a background session, paused at
# the debug pause point (60 s): returns the session and its backend pid
sub paused_range_sweep
{
	my ($point) = @_;
	my $session = $node->background_psql('postgres', on_error_stop => 0);
	$session->query_safe("SET recon.debug_pause_point = '$point'");
	$session->query_safe('SET recon.debug_pause_ms = 60000');
	my $backend = $session->query_safe('SELECT pg_backend_pid()');
	my $from = -s $node->logfile;
	$session->query_until(qr/started/, "\\echo started\nCALL recon.range_sweep('s', ranges => 4);\n");
	$node->wait_for_log(qr/pausing 60000 ms at debug pause point/, $from);
	return ($session, $backend);
}

sub psql_err
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return $err;
}

# ---- the single-pass sweep: the reference ----
my $single = $node->safe_psql('postgres', "SELECT recon.sweep('s')");
my $ref_records = records($single);
my $ref_counters = counters($single);
my $expected_div = scalar(keys %missing) + scalar(keys %stale) + 2 + 2 + 2;
is((split /\|/, $ref_counters)[4], $expected_div,
	"the single-pass sweep finds every injected divergence ($expected_div)");
like($ref_records, qr/^extra .*str1/m, 'including the string _id');
like($ref_records, qr/^mismatch $b[0] \{v\}$/m, 'and the key at a boundary');

# ---- a foreground range sweep ----
reset_records();
$node->safe_psql('postgres', "CALL recon.range_sweep('s', ranges => 4)");
my $fg = last_run();
is(records($fg), $ref_records, 'foreground range sweep: the same divergences (kind, key, fields)');
is(counters($fg), $ref_counters, 'and the same counters');
is($node->safe_psql('postgres',
		"SELECT string_agg(coalesce(lower_key::text, '-') || '..' || coalesce(upper_key::text, '-') || ':' || kind"
		  . " || ':' || status, ' ' ORDER BY range_no) FROM recon.sweep_ranges WHERE run_id = $fg"),
	"-..$b[0]:range:done $b[0]..$b[1]:range:done $b[1]..$b[2]:range:done $b[2]..-:range:done -..-:other_types:done",
	'four key ranges from the key distribution, open at both ends, and the other _id types');
is($node->safe_psql('postgres',
		"SELECT docs_target || '/' || divergences FROM recon.sweep_ranges WHERE run_id = $fg AND kind = 'other_types'"),
	'1/1', 'the string _id is swept by the unit of other types');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM recon.audit_log WHERE run_id = $fg AND action = 'divergence.opened'"),
	$expected_div, 'each opened divergence audited once, range by range');

# ---- cancelled between ranges (pg_cancel_backend), then resumed ----
reset_records();
my ($sweeper, $pid) = paused_range_sweep('between_ranges');
my $cancelled = last_run();
is($node->safe_psql('postgres', "SELECT count(*) FROM recon.sweep_ranges WHERE run_id = $cancelled AND status = 'done'"),
	'1', 'paused after its first range');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
ok($node->poll_query_until('postgres', "SELECT state = 'idle' FROM pg_stat_activity WHERE pid = $pid"),
	'the foreground range sweep is cancelled');
$sweeper->quit;
is($node->safe_psql('postgres',
		"SELECT r.status || ' ' || count(*) FILTER (WHERE s.status = 'done') FROM recon.runs r"
		  . " JOIN recon.sweep_ranges s USING (run_id) WHERE run_id = $cancelled GROUP BY r.status"),
	'running 1', 'the run stays unfinished with its first range recorded');

# while it is unfinished, no other sweep of the mapping starts
like(psql_err("SELECT recon.sweep('s')"), qr/55006: mapping "s" has an unfinished range sweep \(run $cancelled\).*HINT:  Finish it with CALL recon.resume_sweep\($cancelled\)/s,
	'a single-pass sweep is refused (55006) with the run to resume');
like(psql_err("CALL recon.range_sweep('s')"), qr/55006: mapping "s" has an unfinished range sweep/,
	'so is a second range sweep');
like(psql_err("SELECT recon.start_sweep('s', workers => 2)"), qr/55006/, 'and a background one');
like(psql_err("CALL recon.apply_repairs($cancelled)"), qr/has not finished/,
	'its repairs wait for its quality gate');

$node->safe_psql('postgres', "CALL recon.resume_sweep($cancelled)");
is(records($cancelled), $ref_records, 'cancelled and resumed: the same divergences');
is(counters($cancelled), $ref_counters, 'and the same counters');
is($node->safe_psql('postgres',
		"SELECT sum(attempts) FROM recon.sweep_ranges WHERE run_id = $cancelled"), '5',
	'each range swept once: the one done before the cancel was not swept again');
is($node->safe_psql('postgres',
		"SELECT string_agg(action, ',' ORDER BY audit_id) FROM recon.audit_log WHERE run_id = $cancelled"
		  . " AND action LIKE 'run.%'"), 'run.started,run.resumed,run.finished', 'started, resumed and finished audited');
like(psql_err("CALL recon.resume_sweep($cancelled)"), qr/55000: run $cancelled has already ended \(finished\)/,
	'a finished run cannot be resumed');
like(psql_err("CALL recon.resume_sweep($single)"), qr/run $single is not a range sweep/,
	'nor a single-pass one');

# ---- cancelled inside a range (before its re-check): the range left 'running' is taken over ----
reset_records();
($sweeper, $pid) = paused_range_sweep('before_recheck');
my $inside = last_run();
is($node->safe_psql('postgres', "SELECT run_id || ' ' || range_no || ' ' || phase FROM recon.sweep_progress WHERE pid = $pid"),
	"$inside 1 matching and re-checking", 'recon.sweep_progress shows the range being swept');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
ok($node->poll_query_until('postgres', "SELECT state = 'idle' FROM pg_stat_activity WHERE pid = $pid"),
	'cancelled inside its first range');
is($node->safe_psql('postgres',
		"SELECT status || ' ' || worker_pid FROM recon.sweep_ranges WHERE run_id = $inside AND range_no = 1"),
	"running $pid", 'that range is left running, claimed by a session that is still connected');
$node->safe_psql('postgres', "CALL recon.resume_sweep($inside)");
$sweeper->quit;
is(records($inside), $ref_records, 'resumed: the same divergences');
is(counters($inside), $ref_counters, 'and the same counters');

# ---- two background workers ----
reset_records();
$node->safe_psql('postgres', "ALTER SYSTEM SET recon.debug_pause_point = 'between_ranges';"
	  . " ALTER SYSTEM SET recon.debug_pause_ms = 300;");
$node->reload;
my $par = $node->safe_psql('postgres', "SELECT recon.start_sweep('s', workers => 2)");
ok($node->poll_query_until('postgres', "SELECT status <> 'running' FROM recon.runs WHERE run_id = $par"),
	'the parallel range sweep ends');
is(records($par), $ref_records, 'two workers: the same divergences');
is(counters($par), $ref_counters, 'and the same counters');
is($node->safe_psql('postgres', "SELECT ranges || ' ' || count(DISTINCT worker_pid) FROM recon.runs"
		  . " JOIN recon.sweep_ranges USING (run_id) WHERE run_id = $par GROUP BY ranges"),
	'9 2', '8 ranges (4 per worker) and the other types, swept by both workers');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM recon.audit_log WHERE run_id = $par AND action = 'run.finished'"),
	'1', 'the run is finished exactly once');

# ---- kill -9 of the worker between ranges: the launcher resumes the run ----
reset_records();
$node->safe_psql('postgres', "ALTER SYSTEM SET recon.debug_pause_ms = 60000");
$node->reload;
my $off = -s $node->logfile;
my $killed = $node->safe_psql('postgres', "SELECT recon.start_sweep('s', workers => 2)");
$node->wait_for_log(qr/pausing 60000 ms at debug pause point/, $off);
# the workers started after the crash must not pause
$node->safe_psql('postgres', "ALTER SYSTEM RESET recon.debug_pause_point; ALTER SYSTEM RESET recon.debug_pause_ms;");
$node->reload;
my $done_before = $node->safe_psql('postgres',
	"SELECT count(*) FROM recon.sweep_ranges WHERE run_id = $killed AND status = 'done'");
ok($done_before >= 1 && $done_before < 9, "killed half-way ($done_before of 9 ranges done)");
my $wpid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'recon range worker' LIMIT 1");
kill 'KILL', $wpid;
ReconTest::wait_ready($node);
ok($node->poll_query_until('postgres', "SELECT status <> 'running' FROM recon.runs WHERE run_id = $killed"),
	'after the crash the launcher resumes the run and it ends');
is(records($killed), $ref_records, 'killed and resumed: the same divergences');
is(counters($killed), $ref_counters, 'and the same counters');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM recon.audit_log WHERE run_id = $killed AND action = 'run.resumed'"
		  . " AND reason LIKE '%launcher%'"), '1', 'the resumption by the launcher is audited');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM recon.audit_log WHERE run_id = $killed AND action = 'divergence.opened'"),
	$expected_div, 'every divergence audited once across the crash');

# ---- keys moved across range boundaries while a sweep is paused between ranges ----
reset_records();
my ($x, $y, $z, $w) = ($b[1] + 10, $b[1] + 20, $b[0] + 10, $b[0] + 20);	# ranges 3, 3, 2, 2
my ($x2, $y2, $z2, $w2) = ($b[2] + 10, $b[2] + 20, 10, 20);			# to ranges 4, 4, 1, 1
$node->safe_psql('postgres', "DELETE FROM s WHERE id IN ($x2, $y2, $z2, $w2)");
ReconTest::mongo('delete', 'ranges.s', qq({"_id": {"\$in": [$x2, $y2, $z2, $w2]}}));
($sweeper, $pid) = paused_range_sweep('between_ranges');
my $moved = last_run();
is($node->safe_psql('postgres', "SELECT count(*) FROM recon.sweep_ranges WHERE run_id = $moved AND status = 'done'"),
	'1', 'paused after range 1');
# x: range 3 -> 4 on both sides; y: range 3 -> 4 in PostgreSQL only;
# z: range 2 -> the swept range 1 on both sides; w: range 2 -> 1 in PostgreSQL only
$node->safe_psql('postgres', "UPDATE s SET id = $x2 WHERE id = $x; UPDATE s SET id = $y2 WHERE id = $y;"
	  . " UPDATE s SET id = $z2 WHERE id = $z; UPDATE s SET id = $w2 WHERE id = $w;");
ReconTest::mongo('delete', 'ranges.s', qq({"_id": {"\$in": [$x, $z]}}));
ReconTest::mongo_in(sprintf(qq({"_id": %d, "v": "v%d", "n": %d}\n{"_id": %d, "v": "v%d", "n": %d}\n),
		$x2, $x, $x % 7, $z2, $z, $z % 7), 'insert', 'ranges.s');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
ok($node->poll_query_until('postgres', "SELECT state = 'idle' FROM pg_stat_activity WHERE pid = $pid"),
	'cancelled while paused');
$sweeper->quit;
$node->safe_psql('postgres', "CALL recon.resume_sweep($moved)");
my $moved_records = records($moved);
reset_records();
my $after = $node->safe_psql('postgres', "SELECT recon.sweep('s')");
my $after_records = records($after);
ok($after_records =~ /^missing $y2 /m && $after_records =~ /^extra $y /m,
	'a single-pass sweep afterwards: the key moved in PostgreSQL only is missing at its new key, extra at its old');
# the one key the range sweep cannot see: moved in PostgreSQL only into a range already swept
my $expect = join("\n", grep { $_ !~ /^missing $w2 / } split /\n/, $after_records);
is($moved_records, $expect,
	'the range sweep records the same, except the key moved in PostgreSQL only into a range it had swept');
like($after_records, qr/^missing $w2 /m, '(which the next sweep records)');
unlike($moved_records, qr/^\w+ ($x|$x2|$z|$z2) /m, 'keys moved on both sides: nothing recorded');

# ---- refused ----
like(psql_err("CALL recon.range_sweep('comp')"),
	qr/0A000: mapping "comp" cannot be swept in key ranges.*Its key has 2 columns.*HINT:  Use the single-pass sweep/s,
	'a composite key is refused (0A000) with a hint to the single-pass sweep');
like(psql_err(qq{SELECT recon.alter_mapping('comp', '{"sweep_ranges": 4}')}), qr/0A000/,
	'so is option sweep_ranges on it');
like(psql_err("BEGIN; CALL recon.range_sweep('s'); COMMIT;"), qr/cannot run inside a transaction block/,
	'a range sweep commits per range: not inside a transaction block');

# ---- abandoned: a run given up for good, so that the mapping can be swept again ----
reset_records();
($sweeper, $pid) = paused_range_sweep('before_recheck');
my $gone = last_run();
like(psql_err("SELECT recon.abandon_sweep($gone, 'giving up')"),
	qr/55006: range 1 of run $gone is being swept \(process $pid\).*HINT:  Cancel that process \(SELECT pg_cancel_backend\($pid\)\)/s,
	'a range being swept is not abandoned under its sweeper (55006, naming the process)');
is($node->safe_psql('postgres', "SELECT status FROM recon.runs WHERE run_id = $gone"), 'running',
	'and the run is left as it was');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
ok($node->poll_query_until('postgres', "SELECT state = 'idle' FROM pg_stat_activity WHERE pid = $pid"),
	'then cancelled inside its first range');
$sweeper->quit;
like(psql_err("SELECT recon.abandon_sweep($gone, '  ')"), qr/22023: abandoning a sweep needs a reason/,
	'a reason is required (22023)');
like(psql_err("SELECT recon.abandon_sweep($single, 'why')"), qr/55000: run $single is not a range sweep/,
	'a single-pass run cannot be abandoned');
like(psql_err("SELECT recon.abandon_sweep($fg, 'why')"), qr/55000: run $fg has already ended \(finished\)/,
	'nor a finished one');
my $me = $node->safe_psql('postgres', 'SELECT session_user');
is($node->safe_psql('postgres', "SELECT recon.abandon_sweep($gone, 'mapping about to change')"), '5',
	'abandoned: its 5 units (4 ranges and the other _id types) were not swept');
is($node->safe_psql('postgres', "SELECT status || ' | ' || error FROM recon.runs WHERE run_id = $gone"),
	"failed | abandoned by $me: mapping about to change", 'the run failed, saying who abandoned it and why');
is($node->safe_psql('postgres',
		"SELECT string_agg(status, ' ' ORDER BY range_no) FROM recon.sweep_ranges WHERE run_id = $gone"),
	'abandoned abandoned abandoned abandoned abandoned', 'each of its ranges is abandoned');
is($node->safe_psql('postgres',
		"SELECT actor || ' ' || reason || ' ' || (detail->>'ranges_abandoned') FROM recon.audit_log"
		  . " WHERE run_id = $gone AND action = 'run.abandoned'"),
	"$me mapping about to change 5", 'audited: run.abandoned, with the reason');
like(psql_err("CALL recon.resume_sweep($gone)"), qr/55000: run $gone has already ended \(abandoned\)/,
	'an abandoned run cannot be resumed');
like(psql_err("SELECT recon.abandon_sweep($gone, 'again')"), qr/55000: run $gone has already ended \(abandoned\)/,
	'nor abandoned twice');
is($node->safe_psql('postgres', "SELECT abandoned_at IS NOT NULL FROM recon.runs WHERE run_id = $gone"), 't',
	'recon.runs.abandoned_at is set');

# abandoned after a range was done: what that range recorded stays, its
# planned repairs are superseded (the run never reaches its quality gate)
reset_records();
($sweeper, $pid) = paused_range_sweep('between_ranges');
my $half = last_run();
my $planned = $node->safe_psql('postgres',
	"SELECT count(*) FROM recon.repairs WHERE run_id = $half AND status = 'planned'");
ok($planned > 0, "range 1 done and paused: $planned repairs planned");
is($node->safe_psql('postgres', "SELECT recon.abandon_sweep($half, 'stop after range 1')"), '4',
	'abandoned between ranges, its sweeper idle: 4 units not swept');
is($node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE status = 'superseded') || '/' || count(*) FROM recon.repairs WHERE run_id = $half"),
	"$planned/$planned", 'each repair it planned is superseded');
is($node->safe_psql('postgres',
		"SELECT detail->>'repairs_superseded' FROM recon.audit_log WHERE run_id = $half AND action = 'run.abandoned'"),
	$planned, 'audited with that count');
ok($node->safe_psql('postgres', "SELECT count(*) FROM recon.divergences WHERE last_run_id = $half AND status = 'open'") > 0,
	'the divergences range 1 recorded stay open');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
$sweeper->quit;
is($node->safe_psql('postgres',
		"SELECT string_agg(status, ' ' ORDER BY range_no) FROM recon.sweep_ranges WHERE run_id = $half"),
	'done abandoned abandoned abandoned abandoned', 'its sweeper, woken, swept nothing more');

my $fresh = $node->safe_psql('postgres', "SELECT recon.sweep('s')");
is(records($fresh), $after_records, 'the mapping is swept again: what the last single pass recorded');

$node->stop;
ReconTest::stop_ferretdb();
done_testing();
