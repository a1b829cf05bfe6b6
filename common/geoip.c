/* Countries of network addresses: libgeoip over Debian's GeoIP country databases. */
#include "geoip.h"

#include <GeoIP.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

const config_var geoip_config_vars[] = {
    {"GEOIP_DB", "/usr/share/GeoIP/GeoIP.dat",
     "GeoIP country database for IPv4 addresses (Debian's geoip-database); off: none"},
    {"GEOIP6_DB", "/usr/share/GeoIP/GeoIPv6.dat", "GeoIP country database for IPv6 addresses; off: none"},
    {NULL, NULL, NULL},
};

struct geoip {
    GeoIP *v4, *v6;
};

/* One database file, mapped (GEOIP_MMAP_CACHE: lookups read memory only, so threads may share it), or NULL. */
static GeoIP *open_one(const char *path, unsigned char edition)
{
    if (!path || !*path || strcmp(path, "off") == 0)
        return NULL;
    if (access(path, R_OK) != 0) {
        log_warn("geoip: %s cannot be read: no countries for those addresses (install Debian's geoip-database, "
                 "or set GEOIP_DB / GEOIP6_DB, or off)",
                 path);
        return NULL;
    }
    GeoIP *gi = GeoIP_open(path, GEOIP_MMAP_CACHE | GEOIP_SILENCE);
    if (gi && GeoIP_database_edition(gi) != edition) {
        log_warn("geoip: %s is not a GeoIP country database for %s addresses: left out", path,
                 edition == GEOIP_COUNTRY_EDITION ? "IPv4" : "IPv6");
        GeoIP_delete(gi);
        return NULL;
    }
    if (!gi)
        log_warn("geoip: %s could not be opened as a GeoIP database: left out", path);
    return gi;
}

geoip *geoip_open(const char *v4_path, const char *v6_path)
{
    GeoIP *v4 = open_one(v4_path, GEOIP_COUNTRY_EDITION), *v6 = open_one(v6_path, GEOIP_COUNTRY_EDITION_V6);
    geoip *g = (v4 || v6) ? malloc(sizeof *g) : NULL;
    if (!g) {
        if (v4)
            GeoIP_delete(v4);
        if (v6)
            GeoIP_delete(v6);
        return NULL;
    }
    g->v4 = v4;
    g->v6 = v6;
    return g;
}

geoip *geoip_open_configured(void)
{
    return geoip_open(config_get("GEOIP_DB"), config_get("GEOIP6_DB"));
}

void geoip_close(geoip *g)
{
    if (!g)
        return;
    if (g->v4)
        GeoIP_delete(g->v4);
    if (g->v6)
        GeoIP_delete(g->v6);
    free(g);
}

/* The address part of "a.b.c.d:port" or "[v6]:port" (unchanged otherwise) into buf, NUL-terminated; false when
 * it cannot be an address. */
static bool address_text(const char *addr, size_t len, char buf[INET6_ADDRSTRLEN])
{
    if (len && addr[0] == '[') {
        const char *close = memchr(addr, ']', len);
        if (!close)
            return false;
        addr++;
        len = (size_t)(close - addr);
    } else {
        const char *colon = memchr(addr, ':', len);
        /* One colon is an IPv4 address and its port; an IPv6 address has at least two. */
        if (colon && !memchr(colon + 1, ':', len - (size_t)(colon + 1 - addr)))
            len = (size_t)(colon - addr);
    }
    if (len == 0 || len >= INET6_ADDRSTRLEN)
        return false;
    memcpy(buf, addr, len);
    buf[len] = '\0';
    return true;
}

/* Whether a database code names a country: two letters, not one of the regions the legacy databases also use
 * ("AP" Asia/Pacific, "EU" Europe; the others, "A1", "A2", "O1", "--", have a digit or a dash). */
static bool is_country_code(const char *code)
{
    return code && code[0] >= 'A' && code[0] <= 'Z' && code[1] >= 'A' && code[1] <= 'Z' && code[2] == '\0' &&
           strcmp(code, "AP") != 0 && strcmp(code, "EU") != 0;
}

bool geoip_country(const geoip *g, const char *addr, size_t len, char out[3])
{
    out[0] = '\0';
    char text[INET6_ADDRSTRLEN];
    if (!g || !addr || !address_text(addr, len, text))
        return false;
    GeoIPLookup gl = {0};
    int id = 0;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, text, &a4) == 1) {
        if (g->v4)
            id = GeoIP_id_by_ipnum_gl(g->v4, ntohl(a4.s_addr), &gl);
    } else if (inet_pton(AF_INET6, text, &a6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
            uint32_t n;
            memcpy(&n, &a6.s6_addr[12], 4);
            if (g->v4)
                id = GeoIP_id_by_ipnum_gl(g->v4, ntohl(n), &gl);
        } else if (g->v6) {
            id = GeoIP_id_by_ipnum_v6_gl(g->v6, a6, &gl);
        }
    }
    if (id <= 0 || (unsigned)id >= GeoIP_num_countries())
        return false;
    const char *code = GeoIP_code_by_id(id);
    if (!is_country_code(code))
        return false;
    memcpy(out, code, 3);
    return true;
}

void geoip_country_flag(const char *code, char out[9])
{
    out[0] = '\0';
    if (!is_country_code(code))
        return;
    /* U+1F1E6 REGIONAL INDICATOR SYMBOL LETTER A and on: F0 9F 87 A6 + letter, all within one continuation byte. */
    for (int i = 0; i < 2; i++) {
        out[4 * i] = (char)0xF0;
        out[4 * i + 1] = (char)0x9F;
        out[4 * i + 2] = (char)0x87;
        out[4 * i + 3] = (char)(0xA6 + (code[i] - 'A'));
    }
    out[8] = '\0';
}

const char *geoip_country_name(const char *code)
{
    if (!is_country_code(code))
        return "";
    int id = GeoIP_id_by_code(code);
    if (id <= 0 || (unsigned)id >= GeoIP_num_countries())
        return "";
    const char *name = GeoIP_utf8_country_name[id];
    return name ? name : "";
}
