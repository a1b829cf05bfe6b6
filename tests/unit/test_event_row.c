/* Unit tests: raw_events rows. Numbers in canonical decimal text are copied into the row without parsing; these
 * tests check that every column gets exactly what the parse-and-print path gives, on hand-picked edge cases and on
 * many generated inputs. Also the enrichment columns, and the map an event gets from its session. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch_parse.h"
#include "event_row.h"
#include "row_columns.h"

/* ---- the reference: how event_row.c rendered numbers before the fast paths (02fbf63) ---- */

static bool ref_field_number(const batch_field *f, double max_abs, double *v)
{
    if (!f || (f->kind != VAL_NUMBER && f->kind != VAL_STRING) || f->val_len == 0 || f->val_len > 64)
        return false;
    char buf[65];
    memcpy(buf, f->val, f->val_len);
    buf[f->val_len] = '\0';
    char *end;
    double d = strtod(buf, &end);
    while (*end == ' ')
        end++;
    if (end == buf || *end || !isfinite(d) || fabs(d) > max_abs)
        return false;
    *v = d;
    return true;
}

static bool ref_plain_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    size_t digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    if (digits && i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t ed = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, ed++;
        if (!ed)
            return false;
    }
    return digits && i == n;
}

/* The text a Nullable(Float) column got for f. */
static void ref_float(const batch_field *f, double max_abs, char *out, size_t size)
{
    double v;
    if (!ref_field_number(f, max_abs, &v))
        snprintf(out, size, "\\N");
    else if (ref_plain_number(f->val, f->val_len))
        snprintf(out, size, "%.*s", (int)f->val_len, f->val);
    else
        snprintf(out, size, "%.17g", v);
}

/* The text a Nullable(Int32) column got for f. */
static void ref_int32(const batch_field *f, char *out, size_t size)
{
    double v;
    if (!ref_field_number(f, 2147483647.0, &v))
        snprintf(out, size, "\\N");
    else
        snprintf(out, size, "%d", (int)v);
}

/* ---- rendering ---- */

/* The wire keys set to the value under test, the column each lands in, and the column's type. */
static const struct {
    const char *key, *column;
    char kind; /* f Float32, d Float64, i Int32 */
} number_keys[] = {
    {"timestamp", "game_time", 'd'}, {"player_x", "actor_x", 'f'},          {"damage", "damage", 'f'},
    {"walked", "distance", 'd'},     {"round_number", "round_number", 'i'},
};

/* The nth TSV column of a row, copied into out. */
static void column(const char *row, int n, char *out, size_t size)
{
    for (; n > 0; n--)
        row = strchr(row, '\t') + 1;
    size_t len = strcspn(row, "\t\n");
    assert_true(len < size);
    memcpy(out, row, len);
    out[len] = '\0';
}

static unsigned long checked;

/* Render one event whose number keys all carry text (as a JSON string when quoted, else bare) and compare
 * each number column with the reference. Bare text that is not JSON is skipped. */
static void check_number(const char *text, bool quoted)
{
    char body[512];
    int len = snprintf(body, sizeof body, "[{\"type\": \"player_kill\", \"player_guid\": \"g1\"");
    for (size_t k = 0; k < sizeof number_keys / sizeof number_keys[0]; k++)
        len += snprintf(body + len, sizeof body - (size_t)len, quoted ? ", \"%s\": \"%s\"" : ", \"%s\": %s",
                        number_keys[k].key, text);
    len += snprintf(body + len, sizeof body - (size_t)len, "}]");
    assert_true((size_t)len < sizeof body);

    batch b;
    if (batch_parse(body, (size_t)len, &b)) {
        assert_false(quoted);
        batch_free(&b);
        return;
    }
    assert_int_equal(b.nevents, 1);
    event_context ctx = {.server_id = "srv-1", .received_ms = 1764000000123ULL};
    bytebuf row = {0};
    event_summary sum;
    assert_int_equal(event_row_render(&b, &b.events[0], &ctx, &row, &sum), 0);
    for (size_t k = 0; k < sizeof number_keys / sizeof number_keys[0]; k++) {
        const batch_field *f = NULL;
        for (size_t i = 0; i < b.nfields; i++)
            if (b.fields[i].key_len == strlen(number_keys[k].key) &&
                memcmp(b.fields[i].key, number_keys[k].key, b.fields[i].key_len) == 0)
                f = &b.fields[i];
        assert_non_null(f);
        char want[128], got[128];
        switch (number_keys[k].kind) {
        case 'f':
            ref_float(f, FLT_MAX, want, sizeof want);
            break;
        case 'd':
            ref_float(f, DBL_MAX, want, sizeof want);
            break;
        default:
            ref_int32(f, want, sizeof want);
            break;
        }
        column(row.data, colno(number_keys[k].column), got, sizeof got);
        if (strcmp(want, got) != 0)
            fail_msg("%s = %s%s%s: got \"%s\", want \"%s\"", number_keys[k].key, quoted ? "\"" : "", text,
                     quoted ? "\"" : "", got, want);
        checked++;
    }
    bytebuf_free(&row);
    batch_free(&b);
}

static void check_both(const char *text)
{
    check_number(text, true);
    check_number(text, false);
}

static void test_number_edge_cases(void **state)
{
    static const char *const cases[] = {
        /* what trackers send */
        "734.250",
        "42",
        "1843.27",
        "-1523.125",
        "100.000",
        "0",
        "0.0",
        "1.23457e+06",
        "1.23457E-06",
        "-4.5e-05",
        /* not plain: reformatted or no value */
        "nan",
        "-nan",
        "inf",
        "-inf",
        "infinity",
        "+5",
        " 5",
        "5 ",
        "5  ",
        "0x10",
        "1e",
        "1e+",
        "e5",
        ".",
        "-",
        "",
        "1.5.5",
        "1,5",
        "--1",
        "true",
        "null",
        /* leading zeros, signs, bare points */
        "007",
        "-007",
        "00.5",
        "-0",
        "-0.0",
        "0e0",
        "-0e-0",
        ".5",
        "5.",
        "-.5",
        "-5.",
        "0.000",
        "000",
        /* Int32 edges */
        "2147483647",
        "2147483648",
        "-2147483647",
        "-2147483648",
        "-2147483649",
        "999999999",
        "-999999999",
        "1000000000",
        "3.7",
        "-3.7",
        "-0.5",
        "1e3",
        "12.0",
        /* Float32 edges: FLT_MAX is 3.40282347e38 */
        "1e38",
        "9.99e37",
        "1e39",
        "3.4028234e38",
        "3.40282347e38",
        "3.4028235e38",
        "3.5e38",
        "-3.5e38",
        "99999999999999999999999999999999999999",
        "100000000000000000000000000000000000000",
        "340282346638528859811704183484516925440",
        "340282356779733661637539395458142568448",
        "0.0000000000000000000000000000000000001e76",
        "100e36",
        "10e37",
        "0.1e39",
        "0.01e39",
        /* Float64 edges: DBL_MAX is 1.7976931348623157e308 */
        "1e308",
        "9.999e307",
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "1.8e308",
        "1e309",
        "1e999",
        "-1e999",
        "1e-400",
        "1e-324",
        "4.9e-324",
        "0e999999999999",
        "1e99999999999999999999",
        "1e-99999999999999",
        /* length limit */
        "1234567890123456789012345678901234567890123456789012345678901234",
        "12345678901234567890123456789012345678901234567890123456789012345",
        "0.00000000000000000000000000000000000000000000000000000000000001",
        "0.000000000000000000000000000000000000000000000000000000000000001",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_both(cases[i]);
}

/* A small deterministic generator (xorshift), so a failure can be replayed. */
static uint64_t rng = 88172645463325252ULL;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* Append n random digits. */
static size_t put_digits(char *s, size_t at, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        s[at++] = (char)('0' + rnd(10));
    return at;
}

/* A number-like text near the interesting boundaries: long and short digit runs, leading zeros, exponents
 * around the Float32, Float64 and Int32 limits, and now and then a stray character. */
static void gen_number(char *s)
{
    size_t n = 0;
    if (rnd(3) == 0)
        s[n++] = rnd(8) ? '-' : '+';
    if (rnd(4) == 0)
        s[n++] = '0'; /* a leading zero */
    static const unsigned int_lens[] = {0, 1, 2, 3, 4, 9, 10, 11, 36, 37, 38, 39, 40};
    n = put_digits(s, n, int_lens[rnd(sizeof int_lens / sizeof int_lens[0])]);
    if (rnd(2)) {
        s[n++] = '.';
        n = put_digits(s, n, rnd(12));
    }
    if (rnd(3) == 0) {
        s[n++] = rnd(2) ? 'e' : 'E';
        unsigned sign = rnd(3);
        if (sign)
            s[n++] = sign == 1 ? '-' : '+';
        static const int exps[] = {0, 1, 5, 6, 36, 37, 38, 39, 40, 305, 306, 307, 308, 309, 310, 320, 330, 400};
        n += (size_t)sprintf(s + n, "%d", exps[rnd(sizeof exps / sizeof exps[0])]);
    }
    if (rnd(20) == 0) {
        static const char stray[] = " .e-+x";
        size_t at = n ? rnd((unsigned)n + 1) : 0;
        memmove(s + at + 1, s + at, n - at);
        s[at] = stray[rnd(sizeof stray - 1)];
        n++;
    }
    s[n] = '\0';
}

/* Any short text over the characters numbers are made of. */
static void gen_text(char *s)
{
    static const char chars[] = "0123456789000-+.eE ";
    size_t n = rnd(20);
    for (size_t i = 0; i < n; i++)
        s[i] = chars[rnd(sizeof chars - 1)];
    s[n] = '\0';
}

static void test_number_generated(void **state)
{
    char s[128];
    checked = 0;
    for (int i = 0; i < 20000; i++) {
        gen_number(s);
        check_both(s);
        gen_text(s);
        check_both(s);
    }
    assert_true(checked > 100000);
}

/* The enrichment columns, written without printf: ids, receive time, match key, known_type. */
static void test_enrichment_columns(void **state)
{
    static const struct {
        uint64_t ms;
        const char *at, *msec;
    } times[] = {{1764000000123ULL, "1764000000", "123"},
                 {1764000000005ULL, "1764000000", "5"},
                 {1764000000000ULL, "1764000000", "0"},
                 {999ULL, "0", "999"},
                 {18446744073709551615ULL, "18446744073709551", "615"}};
    const char body[] = "[{\"type\": \"jump\", \"session_id\": \"s1\"}, {\"type\": \"mystery\"}]";
    for (size_t t = 0; t < sizeof times / sizeof times[0]; t++) {
        batch b;
        assert_int_equal(batch_parse(body, sizeof body - 1, &b), 0);
        event_context ctx = {.server_id = "srv-1", .received_ms = times[t].ms};
        memset(ctx.batch_id, 0xab, sizeof ctx.batch_id);
        bytebuf row = {0};
        event_summary sum;
        assert_int_equal(event_row_render(&b, &b.events[0], &ctx, &row, &sum), 0);
        assert_int_equal(event_row_render(&b, &b.events[1], &ctx, &row, &sum), 0);
        char *second = strchr(row.data, '\n') + 1;
        char got[128];
        column(row.data, colno("received_at"), got, sizeof got);
        assert_string_equal(got, times[t].at);
        column(row.data, colno("received_ms"), got, sizeof got);
        assert_string_equal(got, times[t].msec);
        column(row.data, colno("batch_id"), got, sizeof got);
        assert_string_equal(got, "abababab-abab-abab-abab-abababababab");
        column(row.data, colno("event_id"), got, sizeof got);
        assert_int_equal(strlen(got), 36);
        assert_true(got[8] == '-' && got[14] == '4');
        column(row.data, colno("server_id"), got, sizeof got);
        assert_string_equal(got, "srv-1");
        column(row.data, colno("match_key"), got, sizeof got);
        char want[24];
        event_match_key("srv-1", "", 0, "s1", 2, want);
        assert_string_equal(got, want);
        column(row.data, colno("known_type"), got, sizeof got);
        assert_string_equal(got, "1");
        column(second, colno("known_type"), got, sizeof got);
        assert_string_equal(got, "0");
        column(second, colno("event_type"), got, sizeof got);
        assert_string_equal(got, "mystery");
        bytebuf_free(&row);
        batch_free(&b);
    }
}

/* A one-session store in place of the live state's session -> map memory. */
typedef struct {
    char session[32], map[64];
} one_session;

static const char *one_get(void *arg, const char *session, size_t slen, size_t *len)
{
    one_session *o = arg;
    if (strlen(o->session) != slen || memcmp(o->session, session, slen) != 0 || !o->map[0])
        return NULL;
    *len = strlen(o->map);
    return o->map;
}

static void one_set(void *arg, const char *session, size_t slen, const char *map, size_t mlen)
{
    one_session *o = arg;
    snprintf(o->session, sizeof o->session, "%.*s", (int)slen, session);
    snprintf(o->map, sizeof o->map, "%.*s", (int)mlen, map);
}

/* An event without a map gets its session's latest in the row; its summary, read once the batch is stored,
 * must not point into the live state's memory of it, which may be replaced or freed by then. */
static void test_session_map(void **state)
{
    const char body[] = "[{\"type\": \"match_start\", \"session_id\": \"s1\", \"map_name\": \"obj/obj_team2\"},"
                        " {\"type\": \"jump\", \"session_id\": \"s1\"}, {\"type\": \"jump\", \"session_id\": \"s2\"}]";
    batch b;
    assert_int_equal(batch_parse(body, sizeof body - 1, &b), 0);
    one_session store;
    memset(&store, 0, sizeof store);
    event_context ctx = {.server_id = "srv-1", .received_ms = 1764000000000ULL, .maps = {one_get, one_set, &store}};
    bytebuf row = {0};
    event_summary sum[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(event_row_render(&b, &b.events[i], &ctx, &row, &sum[i]), 0);
    assert_string_equal(store.map, "obj/obj_team2");
    char got[128];
    const char *line = row.data;
    const char *want[3] = {"obj/obj_team2", "obj/obj_team2", ""};
    for (int i = 0; i < 3; i++, line = strchr(line, '\n') + 1) {
        column(line, colno("map_name"), got, sizeof got);
        assert_string_equal(got, want[i]);
    }
    assert_int_equal(sum[0].map.n, 13);
    assert_memory_equal(sum[0].map.p, "obj/obj_team2", 13);
    assert_int_equal(sum[1].map.n, 0);
    assert_int_equal(sum[2].map.n, 0);
    bytebuf_free(&row);
    batch_free(&b);
}

/* A connect's "ip" becomes the country in actor_country and leaves no trace: not in raw, not in unknown_fields. */
static void test_address_country(void **state)
{
    geoip *g = geoip_open(MOHSTATS_TEST_GEOIP_DIR "/GeoIP.dat", MOHSTATS_TEST_GEOIP_DIR "/GeoIPv6.dat");
    assert_non_null(g);
    const char body[] =
        "[{\"type\": \"connect\", \"player_guid\": \"7\", \"ip\": \"192.0.2.7:12203\", \"player_name\": \"A\"},"
        " {\"type\": \"connect\", \"player_guid\": \"8\", \"ip\": \"10.1.2.3\"},"
        " {\"type\": \"jump\", \"player_guid\": \"7\"}]";
    const char form[] = "type=connect&player_guid=9&ip=2001:db8::1&player_name=B\r\n";
    const char *want_raw[] = {"{\"type\": \"connect\", \"player_guid\": \"7\", \"player_name\": \"A\"}",
                              "{\"type\": \"connect\", \"player_guid\": \"8\"}",
                              "{\"type\": \"jump\", \"player_guid\": \"7\"}",
                              "type=connect&player_guid=9&player_name=B"};
    const char *want_country[] = {"FR", "", "", "BR"};
    event_context ctx = {.server_id = "srv-1", .received_ms = 1764000000000ULL, .geo = g};
    for (int part = 0; part < 2; part++) {
        batch b;
        const char *text = part ? form : body;
        assert_int_equal(batch_parse(text, strlen(text), &b), 0);
        bytebuf row = {0};
        for (size_t i = 0; i < b.nevents; i++) {
            size_t k = part ? 3 : i;
            event_summary sum;
            row.len = 0;
            assert_int_equal(event_row_render(&b, &b.events[i], &ctx, &row, &sum), 0);
            assert_int_equal(bytebuf_append(&row, "", 1), 0);
            char got[256];
            column(row.data, colno("actor_country"), got, sizeof got);
            assert_string_equal(got, want_country[k]);
            assert_string_equal(sum.actor_country, want_country[k]);
            column(row.data, colno("raw"), got, sizeof got);
            assert_string_equal(got, want_raw[k]);
            column(row.data, colno("unknown_fields"), got, sizeof got);
            assert_string_equal(got, "");
            assert_null(strstr(row.data, "192.0.2"));
            assert_null(strstr(row.data, "2001:db8"));
        }
        bytebuf_free(&row);
        batch_free(&b);
    }
    /* Without a database the address is cut all the same. */
    ctx.geo = NULL;
    batch b;
    assert_int_equal(batch_parse(body, sizeof body - 1, &b), 0);
    bytebuf row = {0};
    event_summary sum;
    assert_int_equal(event_row_render(&b, &b.events[0], &ctx, &row, &sum), 0);
    assert_int_equal(bytebuf_append(&row, "", 1), 0);
    char got[256];
    column(row.data, colno("actor_country"), got, sizeof got);
    assert_string_equal(got, "");
    assert_null(strstr(row.data, "192.0.2"));
    bytebuf_free(&row);
    batch_free(&b);
    geoip_close(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_number_edge_cases),
        cmocka_unit_test(test_number_generated),
        cmocka_unit_test(test_enrichment_columns),
        cmocka_unit_test(test_session_map),
        cmocka_unit_test(test_address_country),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
