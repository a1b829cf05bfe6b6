#!/usr/bin/env bash
# The tests' GeoIP country databases, built from the ranges beside this script with Debian's generator (geoip-bin):
#   tests/geoip/build.sh OUT_DIR   ->  OUT_DIR/GeoIP.dat (IPv4), OUT_DIR/GeoIPv6.dat (IPv6)
# The ranges are the documentation networks (RFC 5737, RFC 3849), each given a country:
#   192.0.2.0/24 FR, 198.51.100.0/24 DE, 203.0.113.0/25 JP, 203.0.113.128/25 EU (a region: no country),
#   2001:db8::/48 BR, 2001:db8:1::/48 DE. Any other address is in none.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GENERATOR=/usr/lib/geoip/geoip-generator
[ -x "$GENERATOR" ] || {
  echo "tests/geoip/build.sh: $GENERATOR is missing: install geoip-bin (scripts/deps.sh)" >&2
  exit 1
}
mkdir -p "$1"
"$GENERATOR" -4 -o "$1/GeoIP.dat" "$HERE/countries-v4.csv"
"$GENERATOR" -6 -o "$1/GeoIPv6.dat" "$HERE/countries-v6.csv"
