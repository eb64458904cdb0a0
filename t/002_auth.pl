# Targets that require authentication: a wrong password, a missing user
# mapping and an unreachable server give distinct, clear errors, and the
# password never reaches errors, logs, audit rows or pg_stat_activity.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ReconTest;

my $auth_uri = $ENV{RECON_TEST_MONGO_AUTH_URI};
plan skip_all => 'no authenticating MongoDB (RECON_TEST_MONGO_AUTH_URI unset)' unless $auth_uri;
my $user = $ENV{RECON_TEST_MONGO_AUTH_USER};
my $good = $ENV{RECON_TEST_MONGO_AUTH_PASSWORD};
my $bad = 'Wr0ng-Secret-Value';

my $node = ReconTest::new_node('auth', conf => "log_min_messages = debug1\n");
$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	SET recon.audit_log_level = 'off';
	CREATE SERVER authm FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$auth_uri');
	CREATE SERVER deadm FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri 'mongodb://127.0.0.1:1/');
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t VALUES (1, 'a');
	SELECT recon.add_mapping('t', 'public.t', 'authm', 'authdb.t');
	SELECT recon.add_mapping('d', 'public.t', 'deadm', 'authdb.t');
	SET log_statement = 'none';  -- PostgreSQL itself would log this DDL with its password
	CREATE USER MAPPING FOR CURRENT_USER SERVER deadm OPTIONS (username '$user', password '$bad');
});

sub sweep_error
{
	my $mapping = shift;
	my ($ret, $out, $err) = $node->psql('postgres', "SELECT recon.sweep('$mapping')",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return $err;
}

# no user mapping: the server answers but refuses unauthenticated work
my $err = sweep_error('t');
like($err, qr/42501: MongoDB refused the operation .*not authorized/, 'no credentials: not authorized (42501)');

# wrong password
$node->safe_psql('postgres',
	"SET log_statement = 'none'; CREATE USER MAPPING FOR CURRENT_USER SERVER authm OPTIONS (username '$user', password '$bad')");
$err = sweep_error('t');
like($err, qr/28000: MongoDB refused the credentials/, 'wrong password: its own SQLSTATE (28000) and message');
like($err, qr/USER MAPPING/, 'the hint names the user mapping');
unlike($err, qr/\Q$bad\E/, 'the password is not in the error');

# unreachable: another SQLSTATE
$err = sweep_error('d');
like($err, qr/HV00N: MongoDB server unreachable/, 'unreachable server: HV00N');
unlike($err, qr/\Q$bad\E/, 'no password in that error either');

# the right password works; changing the user mapping drops the cached client
$node->safe_psql('postgres',
	"SET log_statement = 'none'; ALTER USER MAPPING FOR CURRENT_USER SERVER authm OPTIONS (SET password '$good')");
my ($ret, $out, $e2) = $node->psql('postgres', "SELECT recon.sweep('t') > 0");
is($out, 't', 'right password: the sweep runs');
is($node->safe_psql('postgres', "SELECT kind FROM recon.divergences"), 'missing',
	'and finds the missing document');

# one session: a password change takes effect without reconnecting
($ret, $out, $e2) = $node->psql('postgres', qq{
	SET log_statement = 'none';
	SELECT recon.sweep('t') > 0;
	ALTER USER MAPPING FOR CURRENT_USER SERVER authm OPTIONS (SET password '$bad');
	SELECT recon.sweep('t');
});
like($e2, qr/refused the credentials/, 'the cached client is dropped when the user mapping changes');

# nowhere else: logs (recon's own messages, libmongoc's at DEBUG1), audit, catalogs
my $log = slurp_file($node->logfile);
unlike($log, qr/\Q$bad\E|\Q$good\E/, 'no password in the server log');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM recon.audit_log a WHERE a::text LIKE '%$good%' OR a::text LIKE '%$bad%'"),
	'0', 'no password in audit rows');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_foreign_server WHERE array_to_string(srvoptions, ',') LIKE '%$good%'"),
	'0', 'no password in server options');

$node->stop;
done_testing();
