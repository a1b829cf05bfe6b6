/* Countries of network addresses, from the GeoIP country databases Debian installs (geoip-database: GeoIP.dat
 * for IPv4, GeoIPv6.dat for IPv6), read with Debian's libgeoip. */
#ifndef MOHSTATS_GEOIP_H
#define MOHSTATS_GEOIP_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* GEOIP_DB, GEOIP6_DB: the database files (docs/configuration.md). */
extern const config_var geoip_config_vars[];

typedef struct geoip geoip;

/* Open the databases the settings name. A file that is missing or unreadable is logged and left out (its
 * addresses have no country); "off" leaves one out on purpose. Returns NULL when neither is open, which every
 * function below accepts. */
geoip *geoip_open_configured(void);
/* Open the given files (NULL or "" for none): for tests and tools. */
geoip *geoip_open(const char *v4_path, const char *v6_path);
void geoip_close(geoip *g);

/* The ISO 3166-1 alpha-2 code (e.g. "FR") of the country addr is in, into out; false when it is not known (no
 * database, not an address, not in the database, or a region that is no country: anonymous proxies, "EU"...).
 * addr is as trackers and our tables write it: "a.b.c.d", "a.b.c.d:port", an IPv6 address, "[v6]:port", or an
 * IPv4-mapped IPv6 address. Safe from any thread: the databases are mapped read-only. */
bool geoip_country(const geoip *g, const char *addr, size_t len, char out[3]);

/* The country's English name (UTF-8) for a code geoip_country gave, "" for any other text. Needs no database. */
const char *geoip_country_name(const char *code);

/* The country's flag as an emoji (two regional indicator symbols, UTF-8) into out, "" for any other text. */
void geoip_country_flag(const char *code, char out[9]);

#endif
