# The mapping options as documented: doc/mappings.md's option table must be
# recon.mapping_options(), row for row and cell for cell, so that the
# documentation cannot drift from the table validation uses.  The README's
# function reference must list the function.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ReconTest;

my $root = "$FindBin::RealBin/..";

sub slurp
{
	my $path = shift;
	open(my $fh, '<', $path) or die "$path: $!";
	local $/;
	return <$fh>;
}

# A Markdown table cell as text: a cell that is one code span is its
# content; "\|" is a literal bar.
sub cell
{
	my $c = shift;
	$c =~ s/^\s+|\s+$//g;
	$c =~ s/\\\|/|/g;
	$c = $1 if $c =~ /^`([^`]*)`$/;
	return $c;
}

sub row_cells
{
	my $line = shift;
	$line =~ s/^\s*\|//;
	$line =~ s/\|\s*$//;
	return map { cell($_) } split /(?<!\\)\|/, $line, -1;
}

# ---- the documented table ---------------------------------------------------
my $doc = slurp("$root/doc/mappings.md");
my ($section) = $doc =~ /^### Mapping options\n(.*?)(?=^#{1,3} |\z)/ms;
ok(defined $section, 'doc/mappings.md has a "Mapping options" section');
$section //= '';
my @lines = grep { /^\s*\|/ } split /\n/, ($section =~ /((?:^\|.*\n?)+)/m)[0] // '';
my @header = row_cells(shift(@lines) // '');
is_deeply(\@header, [qw(name type default accepted description)],
	'the option table has the columns of recon.mapping_options()');
shift @lines;    # the |---| line
my @documented = map { join(" | ", row_cells($_)) } @lines;

# ---- the function's output ----------------------------------------------------
my $node = ReconTest::new_node('option_docs');
$node->safe_psql('postgres', 'CREATE EXTENSION recon');
my $out = $node->safe_psql('postgres', q{
	SELECT string_agg(concat_ws(chr(31), name, type, default_value, accepted, description),
	                  chr(30) ORDER BY ord)
	  FROM recon.mapping_options() WITH ORDINALITY AS o(name, type, default_value, accepted, description, ord)});
my @actual = map { join(" | ", split(/\x1f/, $_, -1)) } split /\x1e/, $out;
cmp_ok(scalar(@actual), '>=', 15, 'recon.mapping_options() lists every option');

is(scalar(@documented), scalar(@actual), 'as many documented options as the function returns');
for my $i (0 .. $#actual)
{
	my ($name) = split / \| /, $actual[$i];
	is($documented[$i] // '(missing)', $actual[$i],
		"doc/mappings.md row " . ($i + 1) . " is option $name as recon.mapping_options() returns it");
}

# ---- the README lists the function ---------------------------------------------
my $readme = slurp("$root/README.md");
my ($reference) = $readme =~ /^## Function reference\n(.*?)(?=^## )/ms;
like($reference // '', qr/^\| `recon\.mapping_options\(\)` \|/m,
	"README's function reference has a row for recon.mapping_options()");

$node->stop;
done_testing();
