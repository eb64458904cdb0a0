# Compare-and-set under concurrent application writes: apply_repairs pauses
# after re-reading both sides and before writing (recon.debug_pause_point =
# before_write), and an "application" changes the document meanwhile.  The
# filter is an equality with type guards, so none of these changes is
# overwritten; a replace never erases a field the application added; a
# delete whose row appears meanwhile is not reported as a success.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use ReconTest;

my $uri = ReconTest::start_ferretdb();
my $node = ReconTest::new_node('cas');
$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE t (id int PRIMARY KEY, a int);
	CREATE TABLE r (id int PRIMARY KEY, a int);
	CREATE TABLE d (id int PRIMARY KEY, a int);
	SELECT recon.add_mapping('t', 'public.t', 'm', 'cas.t', options => '{"repair": "auto"}');
	SELECT recon.add_mapping('r', 'public.r', 'm', 'cas.r',
	                         options => '{"repair": "auto", "repair_mode": "replace"}');
	SELECT recon.add_mapping('d', 'public.d', 'm', 'cas.d', options => '{"delete_extra": true}');
});

# Run apply_repairs paused before its write; do something meanwhile; let it finish.
sub apply_with_concurrent_write
{
	my ($run, $meanwhile) = @_;
	my ($out, $err) = ('', '');
	my $offset = -s $node->logfile;
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-d', $node->connstr('postgres'),
		  '-c', "SET recon.debug_pause_point = 'before_write'",
		  '-c', "SET recon.debug_pause_ms = 3000",
		  '-c', "CALL recon.apply_repairs($run)" ],
		'>', \$out, '2>', \$err);
	$node->wait_for_log(qr/pausing \d+ ms at debug pause point/, $offset);
	$meanwhile->();
	$h->finish;
	return $err;
}

sub outcome
{
	my ($run, $key) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT r.status || ': ' || coalesce(r.error, '') FROM recon.repairs r
		  JOIN recon.divergences d USING (divergence_id)
		 WHERE r.run_id = $run AND d.key = '$key'});
}

# ---- update mode: scalar -> array holding the same value; null -> missing ----
$node->safe_psql('postgres', 'INSERT INTO t VALUES (1, 5), (2, 5), (3, 5)');
ReconTest::mongo('drop', 'cas.t');
ReconTest::mongo_in(qq({"_id": 1, "a": 6}\n{"_id": 2, "a": null}\n{"_id": 3, "a": 7}\n), 'insert', 'cas.t');
my $run = $node->safe_psql('postgres', "SELECT recon.sweep('t')");
apply_with_concurrent_write($run, sub {
	ReconTest::mongo('update', 'cas.t', '{"_id": 1}', '{"$set": {"a": [6]}}');
	ReconTest::mongo('update', 'cas.t', '{"_id": 2}', '{"$unset": {"a": ""}}');
});
like(outcome($run, '1'), qr/^conflict/, 'a scalar that became an array holding it is not overwritten');
like(outcome($run, '2'), qr/^conflict/, 'a null that became a missing field is not overwritten');
like(outcome($run, '3'), qr/^verified/, 'an untouched document is repaired');
is(ReconTest::mongo('find', 'cas.t', '{"_id": {"$in": [1, 2]}}'),
	qq({ "_id" : 1, "a" : [ 6 ] }\n{ "_id" : 2 }), 'the application\'s writes survive');

# ---- replace mode: the application adds a field, or changes an unmapped one ----
$node->safe_psql('postgres', 'INSERT INTO r VALUES (1, 5), (2, 5)');
ReconTest::mongo('drop', 'cas.r');
ReconTest::mongo_in(qq({"_id": 1, "a": 6, "old": "x"}\n{"_id": 2, "a": 6, "note": "v1"}\n), 'insert', 'cas.r');
$run = $node->safe_psql('postgres', "SELECT recon.sweep('r')");
apply_with_concurrent_write($run, sub {
	ReconTest::mongo('update', 'cas.r', '{"_id": 1}', '{"$set": {"added": "by the app"}}');
	ReconTest::mongo('update', 'cas.r', '{"_id": 2}', '{"$set": {"note": "v2"}}');
});
like(outcome($run, '1'), qr/^verified/, 'replace applies');
is(ReconTest::mongo('find', 'cas.r', '{"_id": 1}'), '{ "_id" : 1, "a" : 5, "added" : "by the app" }',
	'a field the application added meanwhile is not erased (the unmapped field seen is)');
like(outcome($run, '2'), qr/^conflict/, 'an unmapped field changed meanwhile makes the replace a conflict');
is(ReconTest::mongo('find', 'cas.r', '{"_id": 2}'), '{ "_id" : 2, "a" : 6, "note" : "v2" }',
	'and the application\'s write survives');

# ---- delete: the row appears while the document is deleted ----
ReconTest::mongo('drop', 'cas.d');
ReconTest::mongo_in(qq({"_id": 1, "a": 1}\n), 'insert', 'cas.d');
$run = $node->safe_psql('postgres', "SELECT recon.sweep('d')");
$node->safe_psql('postgres', "SET SESSION AUTHORIZATION DEFAULT");
$node->safe_psql('postgres', qq{
	CREATE ROLE approver LOGIN; GRANT recon_approver TO approver;
});
$node->safe_psql('postgres', "SELECT recon.approve_repairs($run, NULL, 'orphan')",
	extra_params => [ '-U', 'approver' ]);
apply_with_concurrent_write($run, sub {
	$node->safe_psql('postgres', 'INSERT INTO d VALUES (1, 1)');
});
like(outcome($run, '1'), qr/^conflict: the source row appeared while its document was deleted/,
	'a delete whose row appeared meanwhile is not reported as a success');

$node->stop;
done_testing();
