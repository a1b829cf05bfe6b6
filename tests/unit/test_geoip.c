/* Unit tests: countries of addresses (common/geoip.c) over the tests' databases (tests/geoip/build.sh), in every
 * form trackers and our tables write an address; names of countries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "geoip.h"

static const char v4_db[] = MOHSTATS_TEST_GEOIP_DIR "/GeoIP.dat";
static const char v6_db[] = MOHSTATS_TEST_GEOIP_DIR "/GeoIPv6.dat";

/* The country of addr, "" when none. */
static const char *country(const geoip *g, const char *addr)
{
    static char out[3];
    bool found = geoip_country(g, addr, strlen(addr), out);
    assert_int_equal(found, out[0] != '\0');
    return out;
}

static void test_lookup_forms(void **state)
{
    geoip *g = geoip_open(v4_db, v6_db);
    assert_non_null(g);
    assert_string_equal(country(g, "192.0.2.7"), "FR");
    assert_string_equal(country(g, "192.0.2.7:12203"), "FR"); /* the engine's "ip" userinfo has the port */
    assert_string_equal(country(g, "198.51.100.255"), "DE");
    assert_string_equal(country(g, "203.0.113.1"), "JP");
    assert_string_equal(country(g, "::ffff:198.51.100.1"), "DE"); /* IPv4-mapped: the IPv4 database */
    assert_string_equal(country(g, "2001:db8::1"), "BR");
    assert_string_equal(country(g, "[2001:db8:1::5]:12203"), "DE");
    /* Not in the database, a region rather than a country, or no address at all. */
    assert_string_equal(country(g, "10.0.0.1"), "");
    assert_string_equal(country(g, "127.0.0.1"), "");
    assert_string_equal(country(g, "203.0.113.200"), ""); /* EU */
    assert_string_equal(country(g, "2001:db8:2::1"), "");
    assert_string_equal(country(g, ""), "");
    assert_string_equal(country(g, "localhost"), "");
    assert_string_equal(country(g, "192.0.2.7:12203:9"), "");
    assert_string_equal(country(g, "[2001:db8::1"), "");
    assert_string_equal(country(g, "192.0.2.777"), "");
    /* Only the given length counts: the text after it is another field of the body. */
    char out[3];
    assert_true(geoip_country(g, "192.0.2.7\", \"name\": \"x\"", 9, out));
    assert_string_equal(out, "FR");
    geoip_close(g);
}

/* A missing database leaves its family without countries; none at all is NULL, and NULL answers nothing. */
static void test_missing_databases(void **state)
{
    geoip *g = geoip_open(v4_db, "/nonexistent/GeoIPv6.dat");
    assert_non_null(g);
    assert_string_equal(country(g, "192.0.2.7"), "FR");
    assert_string_equal(country(g, "2001:db8::1"), "");
    geoip_close(g);
    /* The IPv6 database where the IPv4 one belongs is refused, not misread. */
    g = geoip_open(v6_db, "off");
    assert_null(g);
    assert_null(geoip_open("off", ""));
    assert_string_equal(country(NULL, "192.0.2.7"), "");
    geoip_close(NULL);
}

static void test_country_names(void **state)
{
    assert_string_equal(geoip_country_name("FR"), "France");
    assert_string_equal(geoip_country_name("DE"), "Germany");
    assert_string_equal(geoip_country_name("CI"), "Cote D'Ivoire");
    assert_string_equal(geoip_country_name("AX"), "Aland Islands");
    assert_string_equal(geoip_country_name("EU"), "");
    assert_string_equal(geoip_country_name("ZZ"), "");
    assert_string_equal(geoip_country_name("fr"), "");
    assert_string_equal(geoip_country_name(""), "");
    assert_string_equal(geoip_country_name("FRA"), "");
    assert_string_equal(geoip_country_name(NULL), "");
}

static void test_country_flags(void **state)
{
    char flag[9];
    geoip_country_flag("FR", flag);
    assert_string_equal(flag, "\xf0\x9f\x87\xab\xf0\x9f\x87\xb7"); /* U+1F1EB U+1F1F7 */
    geoip_country_flag("ZA", flag);
    assert_string_equal(flag, "\xf0\x9f\x87\xbf\xf0\x9f\x87\xa6");
    geoip_country_flag("EU", flag);
    assert_string_equal(flag, "");
    geoip_country_flag("", flag);
    assert_string_equal(flag, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_forms),
        cmocka_unit_test(test_missing_databases),
        cmocka_unit_test(test_country_names),
        cmocka_unit_test(test_country_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
