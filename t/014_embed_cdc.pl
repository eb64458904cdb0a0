# Change checks follow embedded children: orders embed their line items
# (option "embed").  A change of a child row alone (qty updated, a line
# deleted, a line moved to another order) re-checks its parent key, and the
# divergence names the child's path.  A child table that is also mapped on
# its own is decoded for both mappings.  The child's replica identity must
# cover the join columns.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ReconTest;

my $uri = ReconTest::start_ferretdb();
my $node = ReconTest::new_node('embedcdc', conf => "recon.naptime = 1\n");

$node->safe_psql('postgres', qq{
	CREATE EXTENSION recon;
	CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$uri');
	CREATE TABLE orders (id int PRIMARY KEY, customer text);
	CREATE TABLE items (order_id int NOT NULL REFERENCES orders, line_no int NOT NULL, qty int,
	                    PRIMARY KEY (order_id, line_no));
	INSERT INTO orders SELECT g, 'c' || g FROM generate_series(1, 20) g;
	INSERT INTO items SELECT o, l, l FROM generate_series(1, 20) o, generate_series(1, 3) l;
	SELECT recon.add_mapping('orders', 'public.orders', 'm', 'ecdc.orders',
	       options => '{"embed": {"items": {"source": "public.items", "join": {"order_id": "id"},
	                    "columns": ["line_no", "qty"], "order_by": ["line_no"]}}, "settle_ms": 300}');
	-- the child table mapped on its own as well (a collection of line items)
	ALTER TABLE items ADD COLUMN id int GENERATED ALWAYS AS (order_id * 1000 + line_no) STORED UNIQUE;
});
# ids of the child table's own mapping come from a unique column
$node->safe_psql('postgres', q{
	SELECT recon.add_mapping('lines', 'public.items', 'm', 'ecdc.lines', key => ARRAY['id'],
	       options => '{"exclude": ["order_id", "line_no"], "settle_ms": 300}');
	ALTER TABLE items REPLICA IDENTITY FULL;
});
ReconTest::mongo('drop', 'ecdc.orders');
ReconTest::mongo('drop', 'ecdc.lines');
ReconTest::mongo_in(join('', map {
	my $o = $_;
	qq({"_id": $o, "customer": "c$o", "items": [)
	  . join(', ', map { qq({"line_no": $_, "qty": $_}) } 1 .. 3) . "]}\n"
} 1 .. 20), 'insert', 'ecdc.orders');
ReconTest::mongo_in(join('', map {
	my $o = $_;
	map { my $id = $o * 1000 + $_; qq({"_id": $id, "qty": $_}\n) } 1 .. 3
} 1 .. 20), 'insert', 'ecdc.lines');

for my $mapping ('orders', 'lines')
{
	my $r = $node->safe_psql('postgres', "SELECT recon.sweep('$mapping')");
	is($node->safe_psql('postgres', "SELECT divergences FROM recon.runs WHERE run_id = $r"), '0',
		"$mapping in sync before the changes");
}

# the child's replica identity must cover the join columns
$node->safe_psql('postgres', 'ALTER TABLE items REPLICA IDENTITY NOTHING');
my ($ret, $out, $err) = $node->psql('postgres', "SELECT recon.enable_cdc('orders')");
like($err, qr/replica identity of public\.items does not cover the key of mapping "orders"/,
	'enable_cdc checks the child relation\'s replica identity');
$node->safe_psql('postgres', 'ALTER TABLE items REPLICA IDENTITY FULL');

$node->safe_psql('postgres', "SELECT recon.enable_cdc('orders')");
$node->safe_psql('postgres', "SELECT recon.enable_cdc('lines')");
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'recon change worker'"),
	'a change worker runs');

# child changes only: no parent row is touched, MongoDB is not written
$node->safe_psql('postgres', q{
	UPDATE items SET qty = 100 WHERE order_id = 3 AND line_no = 2;
	DELETE FROM items WHERE order_id = 5 AND line_no = 3;
	UPDATE items SET order_id = 8, line_no = 4 WHERE order_id = 7 AND line_no = 1;
});
ok($node->poll_query_until('postgres',
	"SELECT count(run_id) = 2 FROM recon.cdc_status WHERE mapping IN ('orders', 'lines')"),
	'the worker runs both mappings');
my $run = $node->safe_psql('postgres', "SELECT run_id FROM recon.cdc_status WHERE mapping = 'orders'");
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 4 FROM recon.divergences WHERE first_run_id = $run"),
	'four parents diverge: 3, 5, and both ends of the moved line (7 and 8)');
is($node->safe_psql('postgres',
	"SELECT string_agg(key::text || ' ' || array_to_string(fields, ','), '; ' ORDER BY key::text)"
	  . " FROM recon.divergences WHERE first_run_id = $run"),
	'3 items[line_no=2].qty; 5 items[line_no=3]; 7 items[line_no=1]; 8 items[line_no=4]',
	'each at the child\'s path');

# the same WAL also re-checked the child table's own mapping
my $lines_run = $node->safe_psql('postgres', "SELECT run_id FROM recon.cdc_status WHERE mapping = 'lines'");
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 4 FROM recon.divergences WHERE first_run_id = $lines_run"),
	'the child table\'s own mapping sees its changes too');
is($node->safe_psql('postgres',
	"SELECT string_agg(kind || ' ' || key::text, ', ' ORDER BY key::text) FROM recon.divergences"
	  . " WHERE first_run_id = $lines_run"),
	'mismatch 3002, extra 5003, extra 7001, missing 8004', 'exactly the changed lines');

# a repair of the parents fixes the arrays; a sweep agrees afterwards
$node->safe_psql('postgres', "SELECT recon.alter_mapping('orders', '{\"repair\": \"auto\"}')");
my $sweep = $node->safe_psql('postgres', "SELECT recon.sweep('orders')");
$node->safe_psql('postgres', "CALL recon.apply_repairs($sweep)");
$sweep = $node->safe_psql('postgres', "SELECT recon.sweep('orders')");
is($node->safe_psql('postgres', "SELECT divergences FROM recon.runs WHERE run_id = $sweep"), '0',
	'after the repairs nothing diverges');

# the quality gate of change checks (the sweep's formula, over the keys checked):
# twelve parents diverge at once -> the change run is gated, its repairs wait
$node->safe_psql('postgres',
	"SELECT recon.alter_mapping('orders', '{\"repair\": \"auto\", \"max_divergence_ratio\": 0.2}')");
$node->safe_psql('postgres', 'UPDATE items SET qty = qty + 500 WHERE order_id BETWEEN 9 AND 20 AND line_no = 1');
ok($node->poll_query_until('postgres', "SELECT status = 'gated' FROM recon.runs WHERE run_id = $run"),
	'the change run trips the quality gate');
like($node->safe_psql('postgres', "SELECT gate_reason FROM recon.runs WHERE run_id = $run"),
	qr/^divergence ratio \d\.\d{4} exceeds max_divergence_ratio 0\.2$/, 'with the ratio in its reason');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM recon.audit_log WHERE run_id = $run AND action = 'gate.tripped' AND actor = 'recon_cdc_worker'"),
	'1', 'audited once, by the change worker');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM recon.repairs WHERE run_id = $run AND status IN ('applying', 'applied', 'verified')"
	  . " AND divergence_id IN (SELECT divergence_id FROM recon.divergences WHERE key::text::int BETWEEN 9 AND 20)"),
	'0', 'and none of its repairs of the twelve was applied');

$node->stop;
ReconTest::stop_ferretdb();
done_testing();
