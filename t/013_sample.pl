# recon.sample: a random sample of a 100,000-row table with a known 1 %
# divergence rate (500 changed documents, 500 missing ones) and 299 extra
# documents.  With a fixed seed the row sample is repeatable; its 95 %
# interval contains the true rate; every divergence it records is one of
# the injected ones; and it resolves nothing it did not draw.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ReconTest;

my $uri = ReconTest::start_ferretdb();
my $node = ReconTest::new_node('sample');
my $n = 100000;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE s (id int PRIMARY KEY, v text);
	INSERT INTO s SELECT g, 'v' || g FROM generate_series(1, $n) g;
	ANALYZE s;
	SELECT recon.add_mapping('sm', 'public.s', 'm', 'sample.s',
	                         options => '{"repair": "off", "settle_ms": 0}');
});
# documents: id % 200 = 1 changed, id % 200 = 101 missing, n+1 .. n+300 extra
# (but n+101, whose id % 200 = 101 too: 299 extras, 1,299 divergences in all)
my $docs = $node->safe_psql('postgres', qq{
	SELECT json_build_object('_id', g, 'v', CASE WHEN g % 200 = 1 THEN 'changed' ELSE 'v' || g END)
	  FROM generate_series(1, $n + 300) g WHERE g % 200 <> 101});
ReconTest::mongo('drop', 'sample.s');
ReconTest::mongo_in("$docs\n", 'insert', 'sample.s');

my $real = "((kind = 'mismatch' AND key::text::int % 200 = 1)"
  . " OR (kind = 'missing' AND key::text::int % 200 = 101)"
  . " OR (kind = 'extra' AND key::text::int > $n))";
my $set = 'SET recon.batch_size = 10000;';

my $first = $node->safe_psql('postgres',
	"$set SELECT run_id, rows_sampled, rows_divergent, rate_low, rate_high, documents_sampled"
	  . " FROM recon.sample('sm', rows => 4000, documents => 2000, seed => 42)");
my ($run, $rows, $div, $low, $high, $docs_sampled) = split /\|/, $first;
note("sample: $first");
ok($rows > 3000 && $rows < 5000, "about 4,000 rows drawn ($rows)");
ok($low <= 0.01 && 0.01 <= $high, "the 95 % interval [$low, $high] contains the true rate 0.01");
ok($div > 0, "divergent rows found ($div)");
ok($docs_sampled > 1000, "documents drawn ($docs_sampled)");
is($node->safe_psql('postgres',
	"SELECT count(*) FROM recon.divergences WHERE last_run_id = $run AND NOT $real"), '0',
	'every divergence the sample recorded is a real one');
# (the document sample records mismatches of rows it did not draw too)
cmp_ok($node->safe_psql('postgres',
	"SELECT count(*) FROM recon.divergences WHERE last_run_id = $run AND kind IN ('mismatch', 'missing')"),
	'>=', $div, 'the divergent rows it counted are recorded');
is($node->safe_psql('postgres', "SELECT kind, status FROM recon.runs WHERE run_id = $run"),
	'sample|finished', 'recorded as a finished run of kind sample');
like($node->safe_psql('postgres', "SELECT estimate->>'rows_sampled' FROM recon.runs WHERE run_id = $run"),
	qr/^$rows$/, 'the estimate is kept with the run');

# the same seed draws the same rows
my $again = $node->safe_psql('postgres',
	"$set SELECT rows_sampled, rows_divergent FROM recon.sample('sm', rows => 4000, documents => 0, seed => 42)");
is($again, "$rows|$div", 'the same seed draws the same rows, with the same result');

# a sweep, then a sample: the sample resolves nothing it did not draw
my $sweep = $node->safe_psql('postgres', "$set SELECT recon.sweep('sm')");
is($node->safe_psql('postgres', "SELECT divergences FROM recon.runs WHERE run_id = $sweep"), '1299',
	'the sweep finds all 1,299');
$node->safe_psql('postgres', "$set SELECT recon.sample('sm', rows => 500, documents => 0, seed => 7)");
is($node->safe_psql('postgres', "SELECT count(*) FROM recon.divergences WHERE status = 'open'"), '1299',
	'after a sample all 1,299 are still open');

# bad input
my ($ret, $out, $err) = $node->psql('postgres', "SELECT recon.sample('sm', rows => 0, documents => 0)");
like($err, qr/a sample draws 1 to 1000000 rows/, 'an empty sample is refused');

$node->stop;
ReconTest::stop_ferretdb();
done_testing();
