#!/usr/bin/perl
# Writes a small MaxMind database for the GeoIp tests (Debian: libmaxmind-db-writer-perl):
#   203.0.113.0/24 -> US, 2001:db8::/32 -> DE, 198.51.100.0/24 -> a record without a country.
# Usage: write_test_mmdb.pl OUT.mmdb
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my %types = (country => 'map', iso_code => 'utf8_string', continent => 'map', code => 'utf8_string');
my $tree = MaxMind::DB::Writer::Tree->new(
  ip_version               => 6,
  record_size              => 24,
  database_type            => 'advx-Test-Country',
  languages                => ['en'],
  description              => { en => 'advx test database' },
  map_key_type_callback    => sub { $types{ $_[0] } },
  alias_ipv6_to_ipv4       => 1,
  remove_reserved_networks => 0,  # the test ranges are documentation ranges
);
$tree->insert_network('203.0.113.0/24',  { country   => { iso_code => 'US' } });
$tree->insert_network('2001:db8::/32',   { country   => { iso_code => 'DE' } });
$tree->insert_network('198.51.100.0/24', { continent => { code     => 'EU' } });
open(my $fh, '>:raw', $ARGV[0]) or die "cannot write $ARGV[0]: $!";
$tree->write_tree($fh);
close($fh) or die "cannot write $ARGV[0]: $!";
