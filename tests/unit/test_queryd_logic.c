/* Unit tests of queryd's pure logic: SQL templates and escaping, the stat vocabulary, parameter checks,
 * periods, paging, player names from the game, cache keys, ClickHouse JSON rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "area.h"
#include "cache.h"
#include "job.h"
#include "params.h"
#include "sqlt.h"
#include "stats.h"

static void test_sqlt_values(void **state)
{
    const char *list[] = {"a'b", "c\\d"};
    sqlv v[] = {SQL_STR("s", "O'Brien \\ \n"), SQL_INT("n", -42), SQL_LIST("l", list, 2), SQL_RAW("r", "sum(kills)"),
                SQL_FLOAT("f", 1.5)};
    char *sql = sqlt_render("SELECT {r} FROM t WHERE a = {s} AND b = {n} AND c IN {l} AND d = {f} AND e = {s}", v, 5);
    assert_non_null(sql);
    assert_string_equal(sql, "SELECT sum(kills) FROM t WHERE a = 'O\\'Brien \\\\ \\n' AND b = -42 AND c IN "
                             "('a\\'b', 'c\\\\d') AND d = 1.5 AND e = 'O\\'Brien \\\\ \\n'");
    free(sql);
}

static void test_sqlt_edges(void **state)
{
    /* A placeholder without a value is a bug: no SQL at all rather than a half-filled statement. */
    assert_null(sqlt_render("SELECT {missing}", NULL, 0));
    /* Braces that are not placeholders stay (none of ours, but a template may carry {} or {A}). */
    char *sql = sqlt_render("SELECT '{}', '{A}', '{'", NULL, 0);
    assert_string_equal(sql, "SELECT '{}', '{A}', '{'");
    free(sql);
    /* An empty list must still be valid SQL that matches nothing real. */
    sqlv v[] = {SQL_LIST("l", NULL, 0)};
    sql = sqlt_render("x IN {l}", v, 1);
    assert_string_equal(sql, "x IN ('')");
    free(sql);
    /* A value cannot inject: quotes and backslashes are escaped, a trailing backslash too. */
    sqlv inj[] = {SQL_STR("g", "x' OR 1=1 --\\")};
    sql = sqlt_render("guid = {g}", inj, 1);
    assert_string_equal(sql, "guid = 'x\\' OR 1=1 --\\\\'");
    free(sql);
    /* Control bytes do not end the statement or the string. */
    sqlv ctl[] = {SQL_STR("g", "a\tb\001")};
    sql = sqlt_render("{g}", ctl, 1);
    assert_string_equal(sql, "'a\\tb\\x01'");
    free(sql);
}

static void test_sql_in_and_prefix(void **state)
{
    const char *vals[] = {"1", "o'k"};
    char *s = sql_in("guid", vals, 2);
    assert_string_equal(s, "guid IN ('1', 'o\\'k')");
    free(s);
    s = sql_in("guid", vals, 0);
    assert_string_equal(s, "0");
    free(s);
    queryd q = {0};
    strcpy(q.smf_prefix, "forum_");
    s = smf_sql(&q, "SELECT * FROM {p}members JOIN {p}mohaa_identities");
    assert_string_equal(s, "SELECT * FROM forum_members JOIN forum_mohaa_identities");
    free(s);
}

/* The 38 stats the forum's leaderboard page asks for (docs/forum.md §2.3). */
static const char *const forum_stats[] = {
    "kills",        "deaths",        "kd_ratio",    "headshots",  "accuracy", "shots_fired",   "damage",
    "bash_kills",   "grenade_kills", "roadkills",   "telefrags",  "crushed",  "teamkills",     "suicides",
    "reloads",      "weapon_swaps",  "no_ammo",     "looter",     "distance", "sprinted",      "swam",
    "driven",       "jumps",         "crouch_time", "prone_time", "ladders",  "health_picked", "ammo_picked",
    "armor_picked", "items_picked",  "wins",        "team_wins",  "ffa_wins", "losses",        "objectives",
    "rounds",       "playtime",      "games"};

static void test_stat_vocabulary(void **state)
{
    assert_int_equal(sizeof forum_stats / sizeof forum_stats[0], 38);
    for (size_t i = 0; i < 38; i++) {
        const lb_stat *s = lb_stat_find(forum_stats[i]);
        assert_non_null(s);
        assert_string_equal(s->name, forum_stats[i]);
        assert_true(strlen(s->value_sql) > 0);
    }
    /* Match-based stats read the per-match facts, the others the daily counters. */
    assert_int_equal(lb_stat_find("wins")->source, STAT_MATCH);
    assert_int_equal(lb_stat_find("games")->source, STAT_MATCH);
    assert_int_equal(lb_stat_find("playtime")->source, STAT_MATCH);
    assert_int_equal(lb_stat_find("kills")->source, STAT_DAILY);
    assert_int_equal(lb_stat_find("distance")->decimals, 2);
    /* Aliases used by the forum's cards and the old API. */
    assert_ptr_equal(lb_stat_find("kd"), lb_stat_find("kd_ratio"));
    assert_ptr_equal(lb_stat_find("objectives_done"), lb_stat_find("objectives"));
    assert_ptr_equal(lb_stat_find("games_finished"), lb_stat_find("games"));
    assert_ptr_equal(lb_stat_find("rounds_played"), lb_stat_find("rounds"));
    assert_null(lb_stat_find("global"));
    assert_null(lb_stat_find("kills; DROP TABLE raw_events"));
    assert_null(lb_stat_find(NULL));
    /* Distances are kilometres of inches: 1 unit = 0.0254 m (docs/definitions.md). */
    assert_true(strstr(lb_stat_find("distance")->value_sql, "0.0000254") != NULL);
    assert_true(UNITS_TO_KM * 1000 - UNITS_TO_M < 1e-12 && UNITS_TO_M - UNITS_TO_KM * 1000 < 1e-12);
}

static void test_player_stats_json(void **state)
{
    cJSON *d = cJSON_Parse("{\"kills\": 10, \"deaths\": 4, \"headshots\": 3, \"shots_fired\": 200, "
                           "\"shots_hit\": 50, \"distance_units\": 39370.0787, \"teamkills\": 1}");
    cJSON *m = cJSON_Parse("{\"games\": 4, \"wins\": 1, \"losses\": 2, \"playtime_s\": 3600}");
    cJSON *o = player_stats_json(d, m);
    assert_int_equal((int)row_num(o, "kills"), 10);
    assert_true(row_num(o, "kd_ratio") == 2.5);
    assert_true(row_num(o, "accuracy") == 25);
    assert_true(row_num(o, "distance_km") == 1);
    assert_true(row_num(o, "win_rate") == 25);
    assert_true(row_num(o, "playtime_seconds") == 3600);
    assert_true(row_num(o, "team_kills") == 1);
    cJSON_Delete(o);
    /* No deaths: K/D is the kill count; no rows at all: zeros, never NaN. */
    cJSON_ReplaceItemInObject(d, "deaths", cJSON_CreateNumber(0));
    o = player_stats_json(d, NULL);
    assert_true(row_num(o, "kd_ratio") == 10);
    cJSON_Delete(o);
    o = player_stats_json(NULL, NULL);
    char *text = cJSON_PrintUnformatted(o);
    assert_null(strstr(text, "null"));
    assert_null(strstr(text, "nan"));
    free(text);
    cJSON_Delete(o);
    cJSON_Delete(d);
    cJSON_Delete(m);
}

static void test_params(void **state)
{
    assert_true(ident_ok("unauth_3", IDENT_MAX));
    assert_true(ident_ok("dm/mohdm1", IDENT_MAX));
    assert_false(ident_ok("", IDENT_MAX));
    assert_false(ident_ok(NULL, IDENT_MAX));
    assert_false(ident_ok("a\nb", IDENT_MAX));
    char big[100];
    memset(big, 'x', sizeof big - 1);
    big[99] = '\0';
    assert_false(ident_ok(big, IDENT_MAX));

    assert_int_equal(param_long_parse("25", 10, 1, 100), 25);
    assert_int_equal(param_long_parse("1000", 10, 1, 100), 100);
    assert_int_equal(param_long_parse("-5", 10, 1, 100), 1);
    assert_int_equal(param_long_parse("abc", 10, 1, 100), 10);
    assert_int_equal(param_long_parse("5x", 10, 1, 100), 10);
    assert_int_equal(param_long_parse("", 10, 1, 100), 10);
    assert_int_equal(param_long_parse(NULL, 10, 1, 100), 10);
    assert_int_equal(param_long_parse("99999999999999999999999", 10, 1, 100), 10);
}

static void test_paging(void **state)
{
    paging p;
    paging_compute(NULL, NULL, NULL, 25, 100, 100000, &p);
    assert_int_equal(p.limit, 25);
    assert_int_equal(p.offset, 0);
    assert_int_equal(p.page, 1);
    paging_compute("5", "10", NULL, 25, 100, 100000, &p);
    assert_int_equal(p.offset, 10);
    assert_int_equal(p.page, 3);
    /* page when no offset; offset wins over page. */
    paging_compute("20", NULL, "3", 25, 100, 100000, &p);
    assert_int_equal(p.offset, 40);
    paging_compute("20", "0", "3", 25, 100, 100000, &p);
    assert_int_equal(p.offset, 0);
    /* Caps. */
    paging_compute("5000", "99999999", NULL, 25, 100, 100000, &p);
    assert_int_equal(p.limit, 100);
    assert_int_equal(p.offset, 100000);
    paging_compute("10", NULL, "99999999", 25, 100, 100000, &p);
    assert_int_equal(p.offset, 100000);
}

static void test_periods(void **state)
{
    period p;
    assert_int_equal(period_parse(NULL, &p), 0);
    assert_int_equal(p, PERIOD_ALL);
    assert_int_equal(period_parse("week", &p), 0);
    assert_int_equal(p, PERIOD_WEEK);
    assert_int_equal(period_parse("day", &p), 0);
    assert_int_equal(p, PERIOD_DAY);
    assert_int_equal(period_parse("year", &p), 0);
    assert_int_equal(p, PERIOD_YEAR);
    assert_int_equal(period_parse("forever", &p), -1);
    assert_string_equal(period_name(PERIOD_MONTH), "month");

    /* 2026-03-15 12:34:56 UTC. */
    int64_t now = 1773578096;
    char day[11];
    uint64_t ms;
    period_bound(PERIOD_DAY, now, day, &ms);
    assert_string_equal(day, "2026-03-15");
    assert_int_equal(ms, 1773532800000ULL);
    period_bound(PERIOD_WEEK, now, day, &ms);
    assert_string_equal(day, "2026-03-09");
    assert_int_equal(ms, (1773532800ULL - 6 * 86400) * 1000);
    period_bound(PERIOD_MONTH, now, day, &ms);
    assert_string_equal(day, "2026-02-14");
    period_bound(PERIOD_YEAR, now, day, &ms);
    assert_string_equal(day, "2025-03-16");
    period_bound(PERIOD_ALL, now, day, &ms);
    assert_string_equal(day, "1970-01-01");
    assert_int_equal(ms, 0);
}

static void test_names(void **state)
{
    char out[NAME_MAX_BYTES * 3 + 1];
    /* The game sends names raw: a CP1252 byte becomes its UTF-8 character. */
    assert_true(name_normalize("Ren\xe9", out, sizeof out));
    assert_string_equal(out, "Ren\xc3\xa9");
    /* Already UTF-8 stays; colour codes go. */
    assert_true(name_normalize("^1Ren\xc3\xa9^7", out, sizeof out));
    assert_string_equal(out, "Ren\xc3\xa9");
    assert_false(name_normalize("", out, sizeof out));
    assert_false(name_normalize("^1", out, sizeof out));
    char big[200];
    memset(big, 'n', sizeof big - 1);
    big[199] = '\0';
    assert_false(name_normalize(big, out, sizeof out));
}

static void test_cache_keys(void **state)
{
    char k[201];
    qcache_key("lb:kills:all:25:0", k);
    assert_string_equal(k, "lb:kills:all:25:0");
    /* Keys with spaces, high bytes or too long become their hash: safe as one Redis argument. */
    qcache_key("pname:Ren\xc3\xa9 X", k);
    assert_int_equal(strncmp(k, "h:", 2), 0);
    assert_int_equal(strlen(k), 66);
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[299] = '\0';
    qcache_key(big, k);
    assert_int_equal(strlen(k), 66);
    char k2[201];
    big[0] = 'b';
    qcache_key(big, k2);
    assert_string_not_equal(k, k2);
    /* Parts from clients: "a:b" + "c" and "a" + "b:c" are two keys. */
    char p1[QCACHE_PART_MAX], p2[QCACHE_PART_MAX], j1[600], j2[600];
    snprintf(j1, sizeof j1, "heat:%s:%s", qcache_part("a:b", p1), qcache_part("c", p2));
    snprintf(j2, sizeof j2, "heat:%s:%s", qcache_part("a", p1), qcache_part("b:c", p2));
    assert_string_equal(j1, "heat:a%3Ab:c");
    assert_string_equal(j2, "heat:a:b%3Ac");
    assert_string_equal(qcache_part("50%:x", p1), "50%25%3Ax");
    memset(big, ':', sizeof big - 1); /* cut, never overrun */
    assert_true(strlen(qcache_part(big, p1)) < QCACHE_PART_MAX);
}

static void test_chjson(void **state)
{
    const char *body = "{\"meta\": [{\"name\": \"guid\", \"type\": \"String\"}, {\"name\": \"kills\", \"type\": "
                       "\"UInt64\"}, {\"name\": \"ids\", \"type\": \"Array(UInt64)\"}, {\"name\": \"n\", \"type\": "
                       "\"Nullable(Int64)\"}], \"data\": [{\"guid\": \"42\", \"kills\": \"7\", \"ids\": [\"1\"], "
                       "\"n\": null}], \"rows\": 1}";
    cJSON *rows = chjson_rows(body, strlen(body));
    assert_non_null(rows);
    const cJSON *r = cJSON_GetArrayItem(rows, 0);
    /* The GUID stays a string even though it looks like a number; the UInt64 becomes a number. */
    assert_true(cJSON_IsString(cJSON_GetObjectItem(r, "guid")));
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(r, "kills")));
    assert_int_equal((int)row_num(r, "kills"), 7);
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(r, "ids")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "n")));
    cJSON_Delete(rows);
    assert_null(chjson_rows("Code: 62. Syntax error", 22));
    assert_null(chjson_rows("{\"meta\": []}", 12));
}

static void test_round(void **state)
{
    cJSON *o = cJSON_CreateObject();
    json_add_round(o, "a", 2.0 / 3.0, 2);
    json_add_round(o, "b", -0.0001, 2);
    json_add_round(o, "c", 0.0 / 0.0, 2);
    char *t = cJSON_PrintUnformatted(o);
    assert_string_equal(t, "{\"a\":0.67,\"b\":0,\"c\":0}");
    free(t);
    cJSON_Delete(o);
    char iso[32];
    iso_time(1773578096123ULL, iso);
    assert_string_equal(iso, "2026-03-15T12:34:56Z");
}

static void test_time_parse(void **state)
{
    int64_t t;
    assert_int_equal(param_time_parse("2026-01-31T20:15:00Z", &t), 0);
    assert_int_equal(t, 1769890500);
    assert_int_equal(param_time_parse("2026-01-31T22:15:00.123+02:00", &t), 0);
    assert_int_equal(t, 1769890500);
    assert_int_equal(param_time_parse("2026-01-31T19:15:00-01:00", &t), 0);
    assert_int_equal(t, 1769890500);
    assert_int_equal(param_time_parse("2026-01-31", &t), 0);
    assert_int_equal(t, 1769817600);
    /* not times: no zone, impossible dates and hours, trailing bytes, short text, before 1970 */
    const char *bad[] = {"2026-01-31T20:15:00", "2026-02-30", "2026-13-01", "2026-01-31T24:00:00Z", "2026-01-31Z",
                         "2026-01-31T20:15Z",   "2026-1-31",  "2026",       "",                     "1969-12-31",
                         "2026-01-31T20:15:00Zx", "yesterday"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(param_time_parse(bad[i], &t), -1);
    assert_int_equal(param_time_parse(NULL, &t), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlt_values),
        cmocka_unit_test(test_sqlt_edges),
        cmocka_unit_test(test_sql_in_and_prefix),
        cmocka_unit_test(test_stat_vocabulary),
        cmocka_unit_test(test_player_stats_json),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_paging),
        cmocka_unit_test(test_periods),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_cache_keys),
        cmocka_unit_test(test_chjson),
        cmocka_unit_test(test_round),
        cmocka_unit_test(test_time_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
