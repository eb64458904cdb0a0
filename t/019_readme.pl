# Every ```sql example of README.md runs, in order, as the role the README
# says, against a cluster set up as its Install section says (recon and
# pg_cron preloaded, wal_level=logical) and tables and documents with real
# drift: the sweep finds it, carol's approval and bob's apply repair it,
# change checks follow the table, the audit chain verifies, the health views
# report.  Outcomes are asserted, not only the absence of errors.  The only
# rewriting of README text is the target URI (this test's FerretDB) and the
# user mapping's credentials (FerretDB here has no authentication: t/002
# covers credentials), by exact substitutions that fail when the README no
# longer has that text.  A README block the table below does not know fails
# the test: teach it the new example.  The function reference is checked
# against pg_proc: every public function and procedure of a fresh install is
# listed with its actual arguments, and the recon roles named as callers are
# the ones granted EXECUTE.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ReconTest;

my $readme_path = "$FindBin::RealBin/../README.md";
open(my $fh, '<', $readme_path) or die "cannot read $readme_path: $!";
my $readme = do { local $/; <$fh> };
close $fh;

my $uri = ReconTest::start_ferretdb();
my $node = ReconTest::new_node('readme', preload => 'recon,pg_cron',
	conf => "cron.database_name = 'postgres'\ncron.use_background_workers = on\n");
my $super = $node->safe_psql('postgres', 'SELECT current_user');
my $json = JSON::PP->new->canonical;

# ---------------------------------------------------------------------------
# Data the examples need: customers with drift the sweep must find (within
# the mapping's max_divergence_ratio of 0.05), orders with their lines, and
# events for the scheduled sample.
# ---------------------------------------------------------------------------
my $ncust = 100;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION pg_cron;
	CREATE TABLE public.customers (id int PRIMARY KEY, name text NOT NULL, email text,
	                               tags text[], tax_id text);
	INSERT INTO public.customers
	  SELECT g, 'customer ' || g, 'c' || g || '\@example.com', ARRAY['gold', 'eu'], 'TAX-' || g
	    FROM generate_series(1, $ncust) g;
	CREATE TABLE public.orders (id int PRIMARY KEY, customer_id int NOT NULL, total numeric(10,2));
	CREATE TABLE public.order_lines (order_id int REFERENCES public.orders, line_no int,
	                                 sku text, qty int, PRIMARY KEY (order_id, line_no));
	INSERT INTO public.orders VALUES (1, 1, 12.50), (2, 2, 3.00), (3, 3, 0);
	INSERT INTO public.order_lines VALUES (1, 1, 'A-1', 2), (1, 2, 'B-7', 1), (2, 1, 'C-3', 3);
	CREATE TABLE public.events (id bigint PRIMARY KEY, kind text, at timestamptz);
	INSERT INTO public.events
	  SELECT g, 'login', timestamptz '2024-01-01 00:00Z' + g * interval '1 minute'
	    FROM generate_series(1, 50) g;
	ANALYZE;
});

# Documents as an application writes them: email nested under contact.
# Drift: 7 has a stale email, 13 was never written, 42 has a wrong tax_id
# (redacted: its values must never show), 1001 has no row.  5 has its tags in
# another order, which "unordered" must not report.
my @cust_docs;
for my $id (1 .. $ncust)
{
	next if $id == 13;
	my %d = (_id => $id, name => "customer $id",
		contact => { email => ($id == 7 ? 'stale7@example.com' : "c$id\@example.com") },
		tags => ($id == 5 ? [ 'eu', 'gold' ] : [ 'gold', 'eu' ]),
		tax_id => ($id == 42 ? 'TAX-WRONG-SECRET' : "TAX-$id"),
		last_login_app => 'app-only field');
	push @cust_docs, $json->encode(\%d);
}
push @cust_docs, $json->encode({ _id => 1001, name => 'orphan', contact => { email => 'o@example.com' } });
ReconTest::mongo('drop', 'app.customers');
ReconTest::mongo_in(join("\n", @cust_docs) . "\n", 'insert', 'app.customers');
ReconTest::mongo('drop', 'app.orders');
ReconTest::mongo_in(<<'DOCS', 'insert', 'app.orders');
{"_id": 1, "customer_id": 1, "total": 12.5, "lines": [{"line_no": 1, "sku": "A-1", "qty": 2}, {"line_no": 2, "sku": "B-7", "qty": 1}]}
{"_id": 2, "customer_id": 2, "total": 3, "lines": [{"line_no": 1, "sku": "C-3", "qty": 3}]}
{"_id": 3, "customer_id": 3, "total": 0, "lines": []}
DOCS
ReconTest::mongo('drop', 'app.events');
ReconTest::mongo_in(join('', map {
	my $m = sprintf('%02d', $_ % 60); my $h = sprintf('%02d', int($_ / 60));
	qq({"_id": $_, "kind": "login", "at": {"\$date": "2024-01-01T$h:$m:00Z"}}\n) } 1 .. 50),
	'insert', 'app.events');

sub mongo_doc
{
	my ($coll, $id) = @_;
	my $out = ReconTest::mongo('find', $coll, qq({"_id": $id}));
	return $out eq '' ? undef : decode_json((split /\n/, $out)[0]);
}

sub q_super { return $node->safe_psql('postgres', $_[0]); }

# ---------------------------------------------------------------------------
# The README's blocks, in order.  match: a substring that identifies the
# block; as: its role, or [substring => role] pairs chosen per statement (the
# first pair whose substring the statement contains); subst: the only
# permitted rewrites; gset: psql variables it sets that later blocks use;
# after: the outcome checks, given each statement's output.
# ---------------------------------------------------------------------------
my %var;
my @spec = (
	{   name => 'install', match => 'CREATE EXTENSION recon;', as => $super,
		after => sub {
			is(q_super("SELECT extversion FROM pg_extension WHERE extname = 'recon'"), '0.2.0',
				'install: recon 0.2.0 installed');
			is(q_super(q{SELECT count(*) FROM pg_roles WHERE NOT rolcanlogin
			             AND rolname IN ('recon_admin', 'recon_operator', 'recon_approver', 'recon_auditor')}),
				'4', 'install: the four roles exist');
		} },
	{   name => 'roles', match => 'CREATE ROLE alice LOGIN', as => $super,
		after => sub {
			is(q_super(q{SELECT string_agg(m.rolname || ':' || r.rolname, ',' ORDER BY m.rolname)
			             FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid
			             JOIN pg_roles m ON m.oid = a.member WHERE m.rolname IN ('alice','bob','carol','dave')}),
				'alice:recon_admin,bob:recon_operator,carol:recon_approver,dave:recon_auditor',
				'roles: each person has the role the README gives');
			# pg_cron's functions live in schema cron, which only a superuser
			# may use until granted: README step 4 says so in its text
			q_super('GRANT USAGE ON SCHEMA cron TO bob');
		} },
	{   name => 'target', match => 'CREATE SERVER app_mongo', as => $super,
		subst => [
			[ q{'mongodb://db1.internal:27017/?replicaSet=rs0&tls=true&authSource=admin'}, qq{'$uri'} ],
			[ q{ OPTIONS (username 'recon', password '…')}, '' ],
		],
		after => sub {
			is(q_super(q{SELECT count(*) FROM pg_user_mappings WHERE srvname = 'app_mongo' AND usename = 'alice'}),
				'1', 'target: alice has a user mapping for app_mongo');
		} },
	{   name => 'mappings', match => "recon.add_mapping('customers'", as => 'alice',
		after => sub {
			is(q_super(q{SELECT string_agg(name || ':' || owner::regrole::text, ',' ORDER BY name) FROM recon.mappings}),
				'customers:alice,orders:alice', 'mappings: both made, owned by alice');
			# README step 4 samples a mapping "events" it does not show: made here
			q_super('GRANT SELECT ON public.events TO alice');
			$node->safe_psql('postgres',
				q{SELECT recon.add_mapping('events', 'public.events', 'app_mongo', 'app.events')},
				connstr => $node->connstr('postgres') . ' user=alice');
			# the embed example of the README fits documents written that way
			my $orun = $node->safe_psql('postgres', q{SELECT recon.sweep('orders')},
				connstr => $node->connstr('postgres') . ' user=bob');
			is(q_super("SELECT status || ':' || divergences FROM recon.runs WHERE run_id = $orun"), 'finished:0', 'mappings: orders embedding order_lines sweeps clean against its documents');
		} },
	{   name => 'sweep', match => "recon.sweep('customers') AS run \\gset", as => 'bob', gset => ['run'],
		after => sub {
			my @u = @_;
			like($var{run}, qr/^\d+$/, "sweep: \\gset set :run ($var{run})");
			is($u[1], "finished|$ncust|" . ($ncust) . '|4',
				'sweep: run finished, 100 rows and 100 documents read, 4 divergences');
			my @div = map { my @f = split /\|/, $_, 5; "$f[0]:$f[1]:$f[2]" } split /\n/, $u[2];
			is(join(' ', sort @div), 'extra:1001:{} mismatch:42:{tax_id} mismatch:7:{contact.email} missing:13:{}',
				'sweep: the stale email, the wrong tax_id, the lost insert and the orphan; not the reordered tags');
			unlike($u[2], qr/TAX-42|TAX-WRONG/, 'sweep: tax_id values are never shown');
			like($u[2], qr/redacted:hmac:/, 'sweep: ... but as keyed hashes');
		} },
	{   name => 'cron', match => "cron.schedule('recon-customers'", as => 'bob',
		after => sub {
			is(q_super(q{SELECT string_agg(jobname || '|' || schedule || '|' || username || '|' || command, E'\n' ORDER BY jobname) FROM cron.job}),
				"recon-customers|*/30 * * * *|bob|SELECT recon.sweep('customers')\n"
				  . "recon-events-sample|0 6 * * *|bob|SELECT recon.sample('events', rows => 20000)",
				'cron: the two jobs are scheduled, to run as bob');
		} },
	{   name => 'repairs', match => 'recon.approve_repairs(:run',
		as => [ [ 'approve_repairs' => 'carol' ], [ 'apply_repairs' => 'bob' ], [ 'FROM recon.repairs' => 'carol' ] ],
		uses => ['run'],
		after => sub {
			my @u = @_;
			my @plans = split /\n/, $u[0];
			is(scalar(@plans), 3, 'repairs: three repairs planned (none for the orphan)');
			is(join(' ', sort map { my @f = split /\|/; "$f[1]:$f[2]" } @plans), 'insert:t update:t update:t',
				'repairs: an insert and two updates, each needing approval');
			unlike($u[0], qr/TAX-42|TAX-WRONG/, 'repairs: the planned operations redact tax_id');
			is($u[1], '3', 'repairs: carol approved the three');
			is(q_super("SELECT string_agg(DISTINCT status || ':' || decided_by::text, ',') FROM recon.repairs WHERE run_id = $var{run}"),
				'verified:carol', 'repairs: all three verified after bob applied them');
			my $d7 = mongo_doc('app.customers', 7);
			is($d7->{contact}{email}, 'c7@example.com', 'repairs: the stale email is written');
			is($d7->{last_login_app}, 'app-only field', 'repairs: ... and the app-only field kept');
			my $d13 = mongo_doc('app.customers', 13);
			is($d13 && $d13->{contact}{email}, 'c13@example.com', 'repairs: the lost document is inserted');
			is(mongo_doc('app.customers', 42)->{tax_id}, 'TAX-42', 'repairs: the tax_id is written');
			ok(defined mongo_doc('app.customers', 1001), 'repairs: the orphan stays (no delete_extra)');
		} },
	{   name => 'cdc', match => "recon.enable_cdc('customers')", as => 'alice',
		after => sub {
			my @u = @_;
			like($u[1], qr/^customers\|/m, 'cdc: cdc_status shows the mapping');
			# a change PostgreSQL commits but the copy never gets
			q_super(q{UPDATE public.customers SET name = 'renamed' WHERE id = 3});
			ok($node->poll_query_until('postgres',
				q{SELECT count(*) = 1 FROM recon.divergences d JOIN recon.mappings m USING (mapping_id)
				   WHERE m.name = 'customers' AND d.status = 'open' AND d.key = '3'
				     AND d.kind = 'mismatch' AND d.fields = '{name}'}),
				'cdc: the change worker records the change the copy missed');
		} },
	{   name => 'audit', match => 'recon.verify_audit()', as => 'dave',
		after => sub {
			my @u = @_;
			is(scalar(split /\n/, $u[0]), 20, 'audit: the last 20 rows are listed');
			like($u[1], qr/^t\|\d+\|\|$/, 'audit: verify_audit() is ok');
			my ($seq, $hash) = split /\|/, $u[2];
			is($seq, q_super('SELECT max(chain_seq) FROM recon.audit_log'), 'audit: audit_head() is the newest row');
			like($hash, qr/^[0-9a-f]{64}$/, 'audit: ... with its hash');
			is(q_super(q{SELECT string_agg(action || ':' || session_user_name, ',' ORDER BY action)
			             FROM (SELECT DISTINCT action, session_user_name FROM recon.audit_log
			                    WHERE action IN ('mapping.created', 'repair.approved', 'repair.applied')) a}),
				'mapping.created:alice,repair.applied:bob,repair.approved:carol',
				'audit: who made mappings, approved and applied is recorded');
		} },
	{   name => 'health', match => 'recon.mapping_health', as => 'dave',
		after => sub {
			my @u = @_;
			my %h = map { my @f = split /\|/; ($f[0] => "$f[1]|$f[2]") } split /\n/, $u[0];
			is(join(',', sort keys %h), 'customers,events,orders', 'health: one row per mapping');
			is($h{customers}, 'warning|2', 'health: customers warns of its two open divergences');
			is($u[1], '', 'health: no sweep runs now');
		} },
);

# ---------------------------------------------------------------------------
# Run them.
# ---------------------------------------------------------------------------
my @blocks;
push @blocks, $1 while $readme =~ /^```sql\n(.*?)^```\s*$/msg;
note(scalar(@blocks) . ' sql blocks in README.md');

# Statements end at a line whose code ends with ';' or '\gset'; comment
# lines before a statement belong to it.
sub statements
{
	my ($text) = @_;
	my (@st, $cur);
	for my $line (split /\n/, $text)
	{
		$cur .= "$line\n";
		(my $code = $line) =~ s/\s*--.*$//;
		if ($code =~ /(;|\\gset)\s*$/)
		{
			push @st, $cur;
			$cur = undef;
		}
	}
	die "README block ends inside a statement:\n$cur"
	  if defined $cur && grep { !/^\s*(--.*)?$/ } split /\n/, $cur;
	return @st;
}

my $bi = 0;
for my $block (@blocks)
{
	my $s = $spec[$bi];
	die("README.md sql block $bi is not known to t/019_readme.pl; teach the test:\n$block")
	  unless $s && index($block, $s->{match}) >= 0;
	$bi++;
	my $text = $block;
	for my $sub (@{ $s->{subst} // [] })
	{
		my ($old, $new) = @$sub;
		my $n = () = $text =~ /\Q$old\E/g;
		die("README block '$s->{name}' should contain exactly once: $old (found $n)") unless $n == 1;
		$text =~ s/\Q$old\E/$new/;
	}
	my @st = statements($text);
	my $script = '';
	my $first_role;
	my $role;
	for my $i (0 .. $#st)
	{
		my $r = $s->{as};
		if (ref $r)
		{
			my ($pair) = grep { index($st[$i], $_->[0]) >= 0 } @$r;
			die("README block '$s->{name}': no role for statement:\n$st[$i]") unless $pair;
			$r = $pair->[1];
		}
		if (!defined $first_role) { $first_role = $r; }
		elsif ($r ne $role) { $script .= "\\c - $r\n"; }
		$role = $r;
		$script .= "\\echo \@\@stmt $i\n$st[$i]";
	}
	$script .= "\\echo \@\@var $_ :$_\n" for @{ $s->{gset} // [] };
	my @vars = map { ('-v', "$_=$var{$_}") } @{ $s->{uses} // [] };
	my ($ret, $out, $err) = $node->psql('postgres', $script,
		connstr => $node->connstr('postgres') . " user=$first_role",
		extra_params => \@vars);
	note("block '$s->{name}':\n$script\n-- stdout:\n$out\n-- stderr:\n$err");
	is($ret, 0, "README block '$s->{name}' runs") or diag($err);
	my @unit = ('') x scalar(@st);
	my $cur;
	for my $line (split /\n/, $out)
	{
		if ($line =~ /^\@\@stmt (\d+)$/) { $cur = $1; next; }
		if ($line =~ /^\@\@var (\w+) (.*)$/)
		{
			die("README block '$s->{name}' did not set :$1") if $2 eq ":$1";
			$var{$1} = $2;
			next;
		}
		$unit[$cur] .= ($unit[$cur] eq '' ? '' : "\n") . $line if defined $cur;
	}
	$s->{after}->(@unit) if $s->{after};
}
is($bi, scalar(@spec), 'every example the test knows is still in README.md');

# The scheduled commands run, as the role pg_cron would run them as (waiting
# for */30 or 06:00 is not an option; t/003 has pg_cron run a job).
for my $job (split /\n/, q_super('SELECT username || $$|$$ || command FROM cron.job ORDER BY jobname'))
{
	my ($user, $cmd) = split /\|/, $job, 2;
	# recon.sweep returns the run id, recon.sample a record that starts with it
	my ($run) = $node->safe_psql('postgres', $cmd,
		connstr => $node->connstr('postgres') . " user=$user") =~ /^\(?(\d+)/;
	is(q_super("SELECT kind || ':' || status || ':' || divergences FROM recon.runs WHERE run_id = $run"),
		$cmd =~ /sample/ ? 'sample:finished:0' : 'sweep:finished:2',
		"cron job runs as $user: $cmd" . ($cmd =~ /sample/ ? ' (events match)'
			: ' (finds the orphan and the change the copy missed)'));
}

# ---------------------------------------------------------------------------
# The function reference: every public function of a fresh install, with
# its arguments as pg_proc has them, and the recon roles allowed to call it.
# ---------------------------------------------------------------------------
my ($ref) = $readme =~ /^## Function reference\n(.*?)^## /ms;
ok(defined $ref, 'README has a function reference');
unlike($ref, qr/^\|.*\n\s*\n\|/m, 'function reference: one table (no blank line splits it)');
my %doc;    # name => { args => [variants], who => text }
for my $row (grep { /^\|\s*`/ } split /\n/, $ref)
{
	my @col = split /(?<!\\)\|/, $row;
	my ($sigs, $who) = ($col[1], $col[3]);
	while ($sigs =~ /recon\.(\w+)\(([^)]*)\)/g)
	{
		my ($name, $args) = ($1, $2);
		my @v = ($args);
		if ($args =~ /^(.*?)(\S+) \\\| (\S+)(.*)$/)
		{
			@v = ("$1$2$4", "$1$3$4");
		}
		push @{ $doc{$name}{args} }, @v;
		$doc{$name}{who} = $who;
	}
}
my @procs = split /\n/, q_super(q{
	SELECT p.proname || '|' || pg_catalog.pg_get_function_arguments(p.oid) || '|' ||
	       concat_ws(',', VARIADIC ARRAY(SELECT r FROM unnest(ARRAY['recon_admin', 'recon_operator',
	                                    'recon_approver', 'recon_auditor']) r
	                                    WHERE has_function_privilege(r, p.oid, 'EXECUTE') ORDER BY r))
	  FROM pg_proc p
	 WHERE p.pronamespace = 'recon'::regnamespace AND p.proname !~ '^_'
	   AND p.prorettype <> 'trigger'::regtype
	 ORDER BY 1});
ok(@procs > 15, 'recon has public functions (' . scalar(@procs) . ')');

sub norm_args
{
	my ($a) = @_;
	my @parts = grep { !/^OUT / } split /,\s*/, $a;
	s/^IN // for @parts;    # procedures show the mode
	s/::[a-z][\w ]*(\[\])?//g for @parts;    # defaults as pg_get_function_arguments casts them
	s/\s+/ /g for @parts;
	return join(', ', @parts);
}

my %seen;
for my $p (@procs)
{
	my ($name, $args, $grantees) = split /\|/, $p, 3;
	$seen{$name} = 1;
	unless ($doc{$name})
	{
		fail("function reference lists recon.$name");
		next;
	}
	my $want = norm_args($args);
	ok((grep { norm_args($_) eq $want } @{ $doc{$name}{args} }),
		"function reference: recon.$name($want)")
	  or diag("README has: " . join(' / ', @{ $doc{$name}{args} }));
	my $who = $doc{$name}{who};
	my @named = $who =~ /all four roles/
	  ? qw(recon_admin recon_approver recon_auditor recon_operator)
	  : sort($who =~ /`(recon_\w+)`/g);
	is($grantees, join(',', @named), "function reference: who may call recon.$name");
}
for my $name (sort keys %doc)
{
	ok($seen{$name}, "function reference: recon.$name exists");
}

# ---------------------------------------------------------------------------
# The settings table: every recon.* setting of the running server, with its
# default as the server reports it, and no row for a setting that is gone.
# ---------------------------------------------------------------------------
my ($settings) = $readme =~ /^## Settings\n(.*?)^## /ms;
ok(defined $settings, 'README has a settings table');
my %doc_set;    # name => default column
for my $row (grep { /^\|\s*`recon\./ } split /\n/, $settings)
{
	my @col = split /(?<!\\)\|/, $row;
	my ($name) = $col[1] =~ /`(recon\.\w+)`/;
	$doc_set{$name} = $col[2];
}
# defaults in milliseconds where the setting has a time unit
my %server_set = map { split /\|/, $_, 2 } split /\n/, q_super(
	"SELECT name || '|' || CASE unit WHEN 's' THEN (boot_val::bigint * 1000)::text"
	  . " WHEN 'min' THEN (boot_val::bigint * 60000)::text ELSE coalesce(boot_val, '') END"
	  . " FROM pg_settings WHERE name LIKE 'recon.%' ORDER BY name");
ok(keys(%server_set) > 15, 'recon has settings (' . scalar(keys %server_set) . ')');
for my $name (sort keys %server_set)
{
	ok(exists $doc_set{$name}, "settings table lists $name") or next;
	my $boot = $server_set{$name};
	# the default column starts with the default: `1000`, `5s`, `''`, `'200,400,800'`
	my ($shown) = $doc_set{$name} =~ /`([^`]*)`/;
	$shown = '' if defined $shown && $shown eq "''";
	$shown =~ s/^'(.*)'$/$1/ if defined $shown;
	my $ok = defined $shown && ($shown eq $boot || norm_unit($shown) eq norm_unit($boot));
	ok($ok, "settings table: default of $name") or diag("README: $doc_set{$name}; server: '$boot'");
}
for my $name (sort keys %doc_set)
{
	ok(exists $server_set{$name}, "settings table: $name exists");
}

# "5s" / "5000" and "200ms" / "200" name the same default of a setting in ms or s
sub norm_unit
{
	my ($v) = @_;
	return $1 * 1000 if $v =~ /^(\d+)s$/;
	return $1 if $v =~ /^(\d+)ms$/;
	return $v;
}

$node->stop;
done_testing();
