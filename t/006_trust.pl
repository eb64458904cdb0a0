# The audit trail's anchors outside the database, and the upgrade path:
# - ALTER EXTENSION recon UPDATE from 0.1.0 keeps mappings, runs and the
#   audit chain, binds mappings to their owner and server by OID;
# - the server-log copy of audit rows is written at commit only, with
#   chain_seq and row_hash (a rolled-back change never reaches the log);
# - a key file makes the chain an HMAC chain: re-hashing without the key,
#   downgrading rows to unkeyed or dropping every keyed row is detected;
# - a session holding recon's former advisory-lock key freezes nothing.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ReconTest;

my $uri = ReconTest::start_ferretdb();
my $node = ReconTest::new_node('trust');

# ---- upgrade from 0.1.0 ------------------------------------------------
$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon VERSION '0.1.0';
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t VALUES (1, 'a'), (2, 'b');
	-- what a 0.1.0 add_mapping left behind
	INSERT INTO recon.mappings (name, source, server_name, collection, key_columns, created_by)
	VALUES ('t', 'public.t'::regclass, 'm', 'trustdb.t', '{id}', current_user);
	INSERT INTO recon.audit_log (actor, action, mapping_name, reason)
	VALUES (current_user, 'mapping.created', 't', 'recon.add_mapping (0.1.0)');
});
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'recon'"),
	'0.1.0', 'installed at 0.1.0');
$node->safe_psql('postgres', 'ALTER EXTENSION recon UPDATE');
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'recon'"),
	'0.2.0', 'updated to 0.2.0');
is($node->safe_psql('postgres', qq{
	SELECT owner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
	   AND server_id = (SELECT oid FROM pg_foreign_server WHERE srvname = 'm')
	  FROM recon.mappings WHERE name = 't'}), 't', 'owner and server bound by OID');
is($node->safe_psql('postgres', 'SELECT ok FROM recon.verify_audit()'), 't',
	'the 0.1.0 audit chain verifies after the update');
ReconTest::mongo('drop', 'trustdb.t');
ReconTest::mongo_in(qq({"_id": 1, "v": "a"}\n), 'insert', 'trustdb.t');
$node->safe_psql('postgres', "SELECT recon.sweep('t')");
is($node->safe_psql('postgres', "SELECT kind || ':' || key FROM recon.divergences"), 'missing:2',
	'a sweep of the upgraded mapping finds the divergence');
is($node->safe_psql('postgres', 'SELECT ok FROM recon.verify_audit()'), 't',
	'the chain continues across the update');
# a server renamed after mapping: the mapping still follows it
$node->safe_psql('postgres', 'ALTER SERVER m RENAME TO m_renamed');
$node->safe_psql('postgres', "SELECT recon.sweep('t')");
is($node->safe_psql('postgres', "SELECT count(*) FROM recon.runs WHERE status = 'finished'"), '2',
	'a renamed server does not redirect or break the mapping');

# ---- server-log copy at commit only ---------------------------------------
my $log_from = -s $node->logfile;
$node->safe_psql('postgres', q{
	BEGIN;
	SELECT recon.alter_mapping('t', '{"settle_ms": 11}');
	ROLLBACK;
});
$node->safe_psql('postgres', q{SELECT recon.alter_mapping('t', '{"settle_ms": 12}')});
my ($seq, $hash) = split /\|/, $node->safe_psql('postgres',
	"SELECT chain_seq, row_hash FROM recon.audit_log ORDER BY chain_seq DESC LIMIT 1");
my $log = slurp_file($node->logfile, $log_from);
my @copies = ($log =~ /recon audit: mapping\.altered/g);
is(scalar @copies, 1, 'only the committed change reaches the server log');
like($log, qr/seq=$seq row_hash=$hash /, 'the log copy carries chain_seq and row_hash');
unlike($log, qr/DETAIL:[^\n]*"settle_ms": 11/, 'the rolled-back change is absent from the log');

# ---- the former advisory-lock key freezes nothing ----------------------
my $holder = $node->background_psql('postgres');
$holder->query_safe("SELECT pg_advisory_lock(hashtext('recon.audit_log')::bigint)");
my ($ret, $out, $err) = $node->psql('postgres',
	q{SET statement_timeout = '10s'; SELECT recon.alter_mapping('t', '{"settle_ms": 13}')});
is($ret, 0, 'an audit write proceeds while another session holds the old lock key');
$holder->quit;

# ---- keyed chain -----------------------------------------------------------
my $keydir = PostgreSQL::Test::Utils::tempdir();
my $keyfile = "$keydir/audit.key";
my $key = join('', map { sprintf('%02x', int(rand(256))) } 1 .. 32);
open(my $fh, '>', $keyfile) or die;
print $fh "$key\n";
close $fh;
chmod 0644, $keyfile;
$node->append_conf('postgresql.conf', "recon.audit_key_file = '$keyfile'");
$node->reload;
($ret, $out, $err) = $node->psql('postgres',
	q{SELECT recon.alter_mapping('t', '{"settle_ms": 14}')});
isnt($ret, 0, 'a key file readable by others is refused');
like($err, qr/recon.audit_key_file is not usable.*group or others/s, 'with a clear reason');
unlike($err, qr/$key/, 'and the key is not shown');
chmod 0600, $keyfile;

my $rot = $node->safe_psql('postgres', q{SELECT recon.rotate_audit_key('key introduced')});
ok($rot > 0, 'key rotation recorded');
$node->safe_psql('postgres', q{SELECT recon.alter_mapping('t', '{"settle_ms": 15}')});
$node->safe_psql('postgres', q{SELECT recon.alter_mapping('t', '{"settle_ms": 16}')});
is($node->safe_psql('postgres',
	"SELECT count(*) FROM recon.audit_log WHERE chain_seq >= $rot AND key_id IS NULL"),
	'0', 'rows after the rotation are keyed');
is($node->safe_psql('postgres', 'SELECT ok FROM recon.verify_audit()'), 't', 'keyed chain verifies');
my ($aseq, $ahash) = split /\|/, $node->safe_psql('postgres',
	'SELECT chain_seq, row_hash FROM recon.audit_head()');

# a superuser without the key rewrites a keyed row and re-hashes forward
$node->safe_psql('postgres', q{
	CREATE TABLE saved AS SELECT * FROM recon.audit_log;
	CREATE TABLE saved_head AS SELECT * FROM recon.audit_chain_head;
	CREATE FUNCTION rehash(from_seq bigint, drop_key boolean) RETURNS void LANGUAGE plpgsql AS $$
	DECLARE r recon.audit_log; prev text;
	BEGIN
	    SELECT row_hash INTO prev FROM recon.audit_log WHERE chain_seq = from_seq - 1;
	    prev := coalesce(prev, repeat('0', 64));
	    FOR r IN SELECT * FROM recon.audit_log WHERE chain_seq >= from_seq ORDER BY chain_seq LOOP
	        IF drop_key THEN r.key_id := NULL; END IF;
	        r.prev_hash := prev;
	        r.row_hash := encode(sha256(convert_to(prev || recon._audit_content(r), 'UTF8')), 'hex');
	        UPDATE recon.audit_log SET prev_hash = r.prev_hash, row_hash = r.row_hash, key_id = r.key_id
	         WHERE audit_id = r.audit_id;
	        prev := r.row_hash;
	    END LOOP;
	    UPDATE recon.audit_chain_head SET row_hash = prev;
	END $$;
	CREATE FUNCTION restore() RETURNS void LANGUAGE sql AS $$
	    UPDATE recon.audit_log a SET actor = s.actor, prev_hash = s.prev_hash, row_hash = s.row_hash,
	           key_id = s.key_id FROM saved s WHERE a.audit_id = s.audit_id;
	    UPDATE recon.audit_chain_head h SET chain_seq = s.chain_seq, row_hash = s.row_hash FROM saved_head s;
	$$;
	ALTER TABLE recon.audit_log DISABLE TRIGGER USER;
});
my $last = $node->safe_psql('postgres', 'SELECT max(chain_seq) FROM recon.audit_log');
$node->safe_psql('postgres', qq{
	UPDATE recon.audit_log SET actor = 'nobody' WHERE chain_seq = $last;
	SELECT rehash($last, false);
});
is($node->safe_psql('postgres', 'SELECT ok, reason FROM recon.verify_audit()'),
	'f|row_hash does not match the row', 'a keyed row re-hashed without the key is detected');
$node->safe_psql('postgres', 'SELECT restore()');
$node->safe_psql('postgres', qq{
	UPDATE recon.audit_log SET actor = 'nobody' WHERE chain_seq = $last;
	SELECT rehash($last, true);
});
is($node->safe_psql('postgres', 'SELECT ok, reason FROM recon.verify_audit()'),
	'f|an unkeyed row after keyed rows', 'downgrading a row to unkeyed is detected');
$node->safe_psql('postgres', 'SELECT restore()');
$node->safe_psql('postgres', q{
	UPDATE recon.audit_log SET actor = 'nobody' WHERE chain_seq = 1;
	SELECT rehash(1, true);
});
like($node->safe_psql('postgres', 'SELECT ok, reason FROM recon.verify_audit()'),
	qr/^f\|recon.audit_key_file is set but no row is keyed/,
	'a whole chain rewritten without the key is detected');
is($node->safe_psql('postgres', "SELECT ok FROM recon.verify_audit($aseq, '$ahash')"), 'f',
	'and fails against the exported anchor');
$node->safe_psql('postgres', q{
	SELECT restore();
	ALTER TABLE recon.audit_log ENABLE ALWAYS TRIGGER audit_chain;
	ALTER TABLE recon.audit_log ENABLE ALWAYS TRIGGER audit_chain_advance;
	ALTER TABLE recon.audit_log ENABLE ALWAYS TRIGGER audit_no_update;
	ALTER TABLE recon.audit_log ENABLE ALWAYS TRIGGER audit_no_truncate;
});
is($node->safe_psql('postgres', "SELECT ok FROM recon.verify_audit($aseq, '$ahash')"), 't',
	'restored chain verifies against the anchor');

# writers racing for the chain: each waits for the head's lock, links to the
# rows the others committed, and leaves the head at the chain's end
my $before = $node->safe_psql('postgres', 'SELECT max(chain_seq) FROM recon.audit_log');
$node->pgbench('--no-vacuum --client=4 --transactions=20', 0, [qr/processed: 80\/80/], [qr/^$/],
	'4 sessions write audit rows at once',
	{ 'audit_race' => q{
		BEGIN;
		SELECT recon.rotate_audit_key('race :client_id a');
		SELECT recon.rotate_audit_key('race :client_id b');
		COMMIT;
	} });
is($node->safe_psql('postgres', "SELECT count(*) FROM recon.audit_log WHERE chain_seq > $before"),
	'160', 'every racing row is in the chain');
is($node->safe_psql('postgres', 'SELECT ok, reason FROM recon.verify_audit()'), 't|',
	'the raced chain verifies and ends at its head');

# a server without the key cannot verify keyed rows (nor forge them)
$node->append_conf('postgresql.conf', "recon.audit_key_file = ''");
$node->reload;
is($node->safe_psql('postgres', 'SELECT ok, reason FROM recon.verify_audit()'),
	'f|row_hash does not match the row', 'keyed rows do not verify without the key');

# a key file inside the data directory is refused
my $inside = $node->data_dir . '/audit.key';
open($fh, '>', $inside) or die;
print $fh "$key\n";
close $fh;
chmod 0600, $inside;
$node->append_conf('postgresql.conf', "recon.audit_key_file = '$inside'");
$node->reload;
($ret, $out, $err) = $node->psql('postgres', 'SELECT recon.rotate_audit_key()');
like($err, qr/inside the data directory/, 'a key file inside the data directory is refused');

$node->stop;
done_testing();
