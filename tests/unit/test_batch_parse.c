/* Unit tests: batch parsing (JSON array, NDJSON, legacy form lines) and row rendering, on the
 * examples and quirks of docs/tracker-wire.md §4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "batch_parse.h"
#include "event_row.h"
#include "row_columns.h"

/* The field named key of event i (last duplicate wins), or NULL. */
static const batch_field *field(const batch *b, size_t i, const char *key)
{
    const batch_event *e = &b->events[i];
    const batch_field *hit = NULL;
    for (size_t k = 0; k < e->nfields; k++) {
        const batch_field *f = &b->fields[e->first_field + k];
        if (f->key_len == strlen(key) && memcmp(f->key, key, f->key_len) == 0)
            hit = f;
    }
    return hit;
}

static void assert_field(const batch *b, size_t i, const char *key, batch_value_kind kind, const char *val)
{
    const batch_field *f = field(b, i, key);
    assert_non_null(f);
    assert_int_equal(f->kind, kind);
    assert_int_equal(f->val_len, strlen(val));
    assert_memory_equal(f->val, val, f->val_len);
}

static const char kill_body[] =
    "[{\"distance\": 1843.27, \"player_yaw\": \"87.363\", \"type\": \"distance\", \"player_x\": \"-1498.406\", "
    "\"walked\": 100.412, \"player_guid\": \"unauth_3\", \"timestamp\": \"734.200\", \"player_stance\": \"stand\", "
    "\"total_distance\": 1843.27, \"match_id\": \"no_match\", \"player_name\": \"Pvt. Ryan\", \"player_team\": "
    "\"american\", \"player_pitch\": \"0.000\", \"delta_distance\": 100.412, \"session_id\": "
    "\"sess_f88106789e6e168b\", \"player_z\": \"384.125\", \"player_y\": \"1499.732\"},{\"victim_guid\": \"42\", "
    "\"hitloc\": \"head\", \"type\": \"player_kill\", \"attacker_x\": \"-1523.125\", \"victim_smf_id\": \"42\", "
    "\"attacker_name\": \"Pvt. Ryan\", \"mod\": \"bullet\", \"timestamp\": \"734.250\", \"attacker_yaw\": "
    "\"87.363\", \"victim_team\": \"german\", \"weapon\": \"Kar98\", \"match_id\": \"no_match\", "
    "\"attacker_guid\": \"unauth_3\", \"victim_stance\": \"crouch\", \"damage\": \"100.000\", \"session_id\": "
    "\"sess_f88106789e6e168b\", \"attacker_team\": \"american\", \"attacker_pitch\": \"0.000\", \"attacker_y\": "
    "\"1504.860\", \"attacker_z\": \"384.125\", \"attacker_stance\": \"stand\", \"victim_name\": \"Hans\", "
    "\"victim_x\": \"-901.500\", \"victim_y\": \"1710.000\", \"victim_z\": \"392.125\", \"victim_pitch\": "
    "\"0.000\", \"victim_yaw\": \"253.740\"}]";

static void test_kill_batch(void **state)
{
    batch b;
    assert_int_equal(batch_parse(kill_body, strlen(kill_body), &b), 0);
    assert_int_equal(b.nevents, 2);
    assert_field(&b, 0, "distance", VAL_NUMBER, "1843.27");
    assert_field(&b, 0, "player_yaw", VAL_STRING, "87.363");
    assert_field(&b, 1, "damage", VAL_STRING, "100.000");
    /* Raw spans are the objects byte for byte, joined by a bare comma on the wire. */
    assert_int_equal(b.events[0].raw[0], '{');
    assert_int_equal(b.events[0].raw[b.events[0].raw_len - 1], '}');
    assert_int_equal(b.events[0].raw[b.events[0].raw_len], ',');
    assert_memory_equal(b.events[1].raw, "{\"victim_guid\": \"42\"", 20);
    batch_free(&b);
}

static void test_chat_raw_bytes(void **state)
{
    const char body[] = "[{\"player_stance\": \"crouch\", \"message\": \"gg \\\"ez\\\" C:\\\\temp 100% \\t<3\", "
                        "\"type\": \"chat\", \"is_team\": 0, \"player_name\": \"[FR]J\xE9r\xF4me&Co\"}]";
    batch b;
    assert_int_equal(batch_parse(body, strlen(body), &b), 0);
    assert_int_equal(b.nevents, 1);
    assert_field(&b, 0, "message", VAL_STRING, "gg \"ez\" C:\\temp 100% \t<3");
    assert_field(&b, 0, "player_name", VAL_STRING, "[FR]J\xE9r\xF4me&Co");
    assert_field(&b, 0, "is_team", VAL_NUMBER, "0");
    batch_free(&b);
}

static void test_quirks(void **state)
{
    /* nan/inf from %g, null, duplicate keys (last wins), \u escapes, nested vector, NUL bytes. */
    const char body[] = "\n\x00 [{\"type\": \"jump\", \"jump_height\": nan, \"x\": -inf, \"y\": 1.23457e+06, "
                        "\"team\": null, \"type\": \"land\", \"v\": [1, 2.5, {\"a\": [true]}], "
                        "\"u\": \"\\u00e9\\ud83d\\ude00\\u0000x\", \"b\": false}] \r\n";
    batch b;
    assert_int_equal(batch_parse(body, sizeof body - 1, &b), 0);
    assert_int_equal(b.nevents, 1);
    assert_field(&b, 0, "jump_height", VAL_NONFINITE, "nan");
    assert_field(&b, 0, "x", VAL_NONFINITE, "-inf");
    assert_field(&b, 0, "y", VAL_NUMBER, "1.23457e+06");
    assert_field(&b, 0, "team", VAL_NULL, "");
    assert_field(&b, 0, "type", VAL_STRING, "land");
    assert_field(&b, 0, "v", VAL_COMPOUND, "[1, 2.5, {\"a\": [true]}]");
    assert_field(&b, 0, "u", VAL_STRING, "\xc3\xa9\xf0\x9f\x98\x80x");
    assert_field(&b, 0, "b", VAL_BOOL, "false");
    batch_free(&b);
}

static void test_ndjson_and_form(void **state)
{
    const char body[] = "{\"type\":\"kill\",\"attacker_guid\":\"1\"}\n"
                        "type=chat&player_name=Tom&Jerry&message=100% sure & done&server_token=abc\r\n"
                        "type=connect&player_name=Bob%20Smith&x=a+b&y=a+b%21\n"
                        "{\n  \"type\": \"jump\"\n}\n";
    batch b;
    assert_int_equal(batch_parse(body, strlen(body), &b), 0);
    assert_int_equal(b.nevents, 4);
    assert_field(&b, 0, "type", VAL_STRING, "kill");
    assert_int_equal(b.events[1].format, EVENT_FORM);
    assert_field(&b, 1, "player_name", VAL_STRING, "Tom&Jerry");
    assert_field(&b, 1, "message", VAL_STRING, "100% sure & done");
    assert_field(&b, 1, "server_token", VAL_STRING, "abc");
    assert_field(&b, 2, "player_name", VAL_STRING, "Bob Smith");
    assert_field(&b, 2, "x", VAL_STRING, "a+b"); /* not plainly encoded: kept */
    assert_field(&b, 2, "y", VAL_STRING, "a b!");
    assert_field(&b, 3, "type", VAL_STRING, "jump");
    batch_free(&b);
}

static void expect_error(const char *body, const char *fragment)
{
    batch b;
    assert_int_equal(batch_parse(body, strlen(body), &b), -EINVAL);
    if (!strstr(b.error, fragment))
        fail_msg("error \"%s\" lacks \"%s\"", b.error, fragment);
    batch_free(&b);
}

static void test_errors(void **state)
{
    expect_error("[{\"type\": \"a\"}, {\"type\" \"b\"}]",
                 "expected ':' after a key, found '\"' at byte 24 (line 1, column 25)");
    expect_error("[{\"type\": \"a\"}, {\"type\" \"b\"}]", "in event 2");
    expect_error("[{\"type\": \"a\"}", "expected ',' or ']' after an event, found end of input");
    expect_error("[{\"type\": \"a\"}] x", "unexpected 'x' after the array");
    expect_error("[1]", "expected an event object, found '1'");
    expect_error("[{\"a\": \"unterminated}]", "unterminated string");
    expect_error("[{\"a\": \"bad \\q\"}]", "invalid escape");
    expect_error("[{\"a\": tru}]", "expected a value");
    expect_error("[{\"a\": 01x}]", "expected ',' or '}'");
    expect_error("{\"type\": \"a\"} junk", "one object per line");
    expect_error("{\"a\":\n\"b\",}", "line 2");
    char deep[200] = "[{\"a\": ";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    expect_error(deep, "nesting deeper");
}

static void test_empty(void **state)
{
    batch b;
    assert_int_equal(batch_parse("  [ ] ", 6, &b), 0);
    assert_int_equal(b.nevents, 0);
    batch_free(&b);
    assert_int_equal(batch_parse("", 0, &b), 0);
    assert_int_equal(b.nevents, 0);
    batch_free(&b);
    assert_int_equal(batch_parse("[{}, {\"type\":\"a\"}]", 19, &b), 0);
    assert_int_equal(b.nevents, 1);
    batch_free(&b);
}

/* INGEST_MAX_EVENTS: the event after the last allowed one is refused as soon as it begins, in every format. */
static void test_max_events(void **state)
{
    batch b;
    const char *arr = "[{\"type\":\"a\"},{\"type\":\"b\"},{\"type\":\"c\"}]";
    assert_int_equal(batch_parse_max(arr, strlen(arr), 3, &b), 0);
    assert_int_equal(b.nevents, 3);
    batch_free(&b);
    assert_int_equal(batch_parse_max(arr, strlen(arr), 2, &b), -E2BIG);
    assert_string_equal(b.error, "Batch too large: more than 2 events (INGEST_MAX_EVENTS); send at most 2 per request");
    batch_free(&b);
    /* the rest is not even parsed: a body broken after the limit is still "too many", not "malformed" */
    const char *broken = "[{\"type\":\"a\"},{\"type\":\"b\"},{\"type\":\"c\"}, {{{";
    assert_int_equal(batch_parse_max(broken, strlen(broken), 2, &b), -E2BIG);
    batch_free(&b);
    const char *lines = "a=1\na=2\n{\"type\":\"x\"}\n";
    assert_int_equal(batch_parse_max(lines, strlen(lines), 3, &b), 0);
    assert_int_equal(b.nevents, 3);
    batch_free(&b);
    assert_int_equal(batch_parse_max(lines, strlen(lines), 2, &b), -E2BIG);
    batch_free(&b);
    assert_int_equal(batch_parse_max(lines, strlen(lines), 0, &b), 0); /* 0: no limit */
    assert_int_equal(b.nevents, 3);
    batch_free(&b);
}

/* Split a rendered TSV line into its columns (in place). */
static size_t split_tsv(char *line, char **cols, size_t max)
{
    size_t n = 0;
    char *p = line;
    cols[n++] = p;
    for (; *p && *p != '\n'; p++)
        if (*p == '\t' && n < max) {
            *p = '\0';
            cols[n++] = p + 1;
        }
    *p = '\0';
    return n;
}

static const char *map_get(void *arg, const char *session, size_t slen, size_t *len)
{
    *len = 7;
    return slen ? "dm/mohdm6" : NULL;
}

static void render(const char *body, size_t ev, char **cols, char **buf)
{
    batch b;
    assert_int_equal(batch_parse(body, strlen(body), &b), 0);
    event_context ctx = {.server_id = "srv-1", .received_ms = 1764000000123ULL, .maps = {map_get, NULL, NULL}};
    bytebuf out = {0};
    event_summary sum;
    assert_int_equal(event_row_render(&b, &b.events[ev], &ctx, &out, &sum), 0);
    bytebuf_append(&out, "", 1);
    *buf = out.data;
    assert_int_equal(split_tsv(out.data, cols, 64), RC__COUNT);
    batch_free(&b);
}

static void test_render_kill(void **state)
{
    char *cols[64], *buf;
    render(kill_body, 1, cols, &buf);
    assert_string_equal(cols[colno("server_id")], "srv-1");
    assert_string_equal(cols[colno("received_at")], "1764000000");
    assert_string_equal(cols[colno("received_ms")], "123");
    assert_string_equal(cols[colno("game_time")], "734.250");
    assert_string_equal(cols[colno("event_type")], "player_kill");
    assert_string_equal(cols[colno("known_type")], "1");
    assert_string_equal(cols[colno("actor_guid")], "unauth_3");
    assert_string_equal(cols[colno("actor_x")], "-1523.125");
    assert_string_equal(cols[colno("target_guid")], "42");
    assert_string_equal(cols[colno("target_smf_id")], "42");
    assert_string_equal(cols[colno("target_yaw")], "253.740");
    assert_string_equal(cols[colno("target_stance")], "crouch");
    assert_string_equal(cols[colno("weapon")], "Kar98");
    assert_string_equal(cols[colno("means_of_death")], "bullet");
    assert_string_equal(cols[colno("hitloc")], "head");
    assert_string_equal(cols[colno("damage")], "100.000");
    assert_string_equal(cols[colno("map_name")], "dm/mohd"); /* from the session map (7 bytes asked) */
    assert_string_equal(cols[colno("distance")], "\\N");
    assert_string_equal(cols[colno("unknown_fields")], "");
    assert_true(cols[colno("match_key")][0] == 'm' && strlen(cols[colno("match_key")]) == 17);
    assert_memory_equal(cols[colno("raw")], "{\"victim_guid\": \"42\"", 20);
    free(buf);

    render(kill_body, 0, cols, &buf);
    assert_string_equal(cols[colno("event_type")], "distance");
    assert_string_equal(cols[colno("distance")], "100.412");
    assert_string_equal(cols[colno("total_distance")], "1843.27");
    assert_string_equal(cols[colno("target_guid")], "");
    free(buf);
}

static void test_render_aliases(void **state)
{
    char *cols[64], *buf;
    render("[{\"type\": \"bot_death\", \"killer_guid\": \"7\", \"means_of_death\": \"MOD_RIFLE\", \"players\": "
           "\"12\", \"allied_score\": 3.7, \"winner\": \"allies\", \"game_type\": \"obj\", \"server_id\": \"spoof\", "
           "\"server_token\": \"sekrit\", \"weird_key\": 1, \"damage\": 1e999, \"player_x\": nan}]",
           0, cols, &buf);
    assert_string_equal(cols[colno("event_type")], "bot_killed");
    assert_string_equal(cols[colno("type_sent")], "bot_death");
    assert_string_equal(cols[colno("actor_guid")], "7");
    assert_string_equal(cols[colno("means_of_death")], "MOD_RIFLE");
    assert_string_equal(cols[colno("player_count")], "12");
    assert_string_equal(cols[colno("allies_score")], "3");
    assert_string_equal(cols[colno("team")], "allies");
    assert_string_equal(cols[colno("gametype")], "obj");
    assert_string_equal(cols[colno("server_id")], "srv-1");
    assert_string_equal(cols[colno("unknown_fields")], "weird_key");
    assert_string_equal(cols[colno("damage")], "\\N");
    assert_null(strstr(cols[colno("raw")], "sekrit"));
    assert_non_null(strstr(cols[colno("raw")], "\"weird_key\": 1"));
    free(buf);

    render("[{\"type\": \"mystery\", \"player_name\": \"^1J\xE9r\xF4me\"}]", 0, cols, &buf);
    assert_string_equal(cols[colno("event_type")], "mystery");
    assert_string_equal(cols[colno("known_type")], "0");
    assert_string_equal(cols[colno("actor_name")], "J\xc3\xa9r\xc3\xb4me");
    free(buf);

    render("[{\"type\": \"door_state_change\", \"state\": \"open\"}]", 0, cols, &buf);
    assert_string_equal(cols[colno("event_type")], "door_open");
    free(buf);
    render("[{\"type\": \"player_say\", \"message\": \"a\\tb\\nc\\\\\"}]", 0, cols, &buf);
    assert_string_equal(cols[colno("event_type")], "chat");
    assert_string_equal(cols[colno("message")], "a\\tb\\nc\\\\"); /* TSV-escaped */
    free(buf);
}

static void test_match_key(void **state)
{
    char a[24], b[24], c[24], d[24];
    event_match_key("s1", "no_match", 8, "sess_1", 6, a);
    event_match_key("s2", "no_match", 8, "sess_1", 6, b);
    event_match_key("s1", "", 0, "sess_1", 6, c);
    event_match_key("s1", "match_9c41d07e2b5fa8c3", 22, "sess_1", 6, d);
    assert_string_not_equal(a, b); /* never merged across servers */
    assert_string_equal(a, c);     /* empty and no_match mean the same */
    assert_string_not_equal(a, d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_batch),     cmocka_unit_test(test_chat_raw_bytes),
        cmocka_unit_test(test_quirks),         cmocka_unit_test(test_ndjson_and_form),
        cmocka_unit_test(test_errors),         cmocka_unit_test(test_empty),
        cmocka_unit_test(test_max_events),     cmocka_unit_test(test_render_kill),
        cmocka_unit_test(test_render_aliases), cmocka_unit_test(test_match_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
