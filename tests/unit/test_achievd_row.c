/* Unit tests: achievd's event from a raw_events TSV row (ach_event_from_row), as the evaluator reads it from the stream
 * and from ClickHouse, and evaluated (achievd_fixture.h). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "criteria.h"
#include "evaluate.h"
#include "evaluate_state.h"
#include "raw_row.h"

#include "achievd_fixture.h"

/* ---- a raw_events row ---- */

/* A TSV line from columns (already escaped), tab-separated; n columns. */
static char *tsv_line(const char *const *cols, int n, size_t *len)
{
    size_t total = 1;
    for (int i = 0; i < n; i++)
        total += strlen(cols[i]) + 1;
    char *line = malloc(total);
    assert_non_null(line);
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        if (i)
            line[o++] = '\t';
        memcpy(line + o, cols[i], strlen(cols[i]));
        o += strlen(cols[i]);
    }
    line[o] = '\0';
    *len = o;
    return line;
}

/* raw_row_previous_format of a line and its newline, as a stream entry holds it. */
static bool previous_format(const char *line, size_t len)
{
    char *rows = malloc(len + 1);
    assert_non_null(rows);
    memcpy(rows, line, len);
    rows[len] = '\n';
    bool previous = raw_row_previous_format(rows, len + 1);
    free(rows);
    return previous;
}

static void test_event_from_row(void **state)
{
    (void)state;
    at_reset();
    const char *cols[RC__COUNT];
    for (int i = 0; i < RC__COUNT; i++)
        cols[i] = "";
    cols[RC_EVENT_ID] = "5f0e1d2c-3b4a-4968-8776-655443322110";
    cols[RC_BATCH_ID] = "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3";
    cols[RC_SERVER_ID] = "srv-1";
    cols[RC_RECEIVED_AT] = "1735084800"; /* 2024-12-25 00:00:00 UTC */
    cols[RC_RECEIVED_MS] = "250";
    cols[RC_GAME_TIME] = "\\N";
    cols[RC_SESSION_ID] = "sess-1";
    cols[RC_MATCH_KEY] = "m0123456789abcdef";
    cols[RC_MAP_NAME] = "obj/obj_team2";
    cols[RC_EVENT_TYPE] = "player_kill";
    cols[RC_TYPE_SENT] = "kill";
    cols[RC_KNOWN_TYPE] = "1";
    cols[RC_ACTOR_GUID] = "7";
    cols[RC_ACTOR_NAME] = "Tab\\tName \\\\o/";
    cols[RC_ACTOR_TEAM] = "american";
    cols[RC_ACTOR_SMF_ID] = "7";
    cols[RC_ACTOR_X] = "100.5";
    cols[RC_ACTOR_Y] = "-20";
    cols[RC_ACTOR_Z] = "64";
    cols[RC_ACTOR_PITCH] = "\\N";
    cols[RC_ACTOR_YAW] = "90";
    cols[RC_ACTOR_STANCE] = "prone";
    cols[RC_TARGET_GUID] = "unauth_3";
    cols[RC_TARGET_NAME] = "\\N";
    cols[RC_TARGET_TEAM] = "german";
    cols[RC_TARGET_SMF_ID] = "0";
    cols[RC_TARGET_X] = "\\N";
    cols[RC_TARGET_Y] = "5";
    cols[RC_TARGET_Z] = "6";
    cols[RC_TARGET_PITCH] = "\\N";
    cols[RC_TARGET_YAW] = "\\N";
    cols[RC_WEAPON] = "Thompson";
    cols[RC_OLD_WEAPON] = "\\N";
    cols[RC_MEANS_OF_DEATH] = "MOD_BULLET";
    cols[RC_HITLOC] = "head";
    cols[RC_DAMAGE] = "100";
    cols[RC_DISTANCE] = "\\N";
    cols[RC_TOTAL_DISTANCE] = "\\N";
    cols[RC_AMOUNT] = "\\N";
    cols[RC_MESSAGE] = "gg\\twp \\\\o/ \\N";
    cols[RC_TEAM] = "\\N";
    cols[RC_ROUND_NUMBER] = "\\N";
    cols[RC_ALLIES_SCORE] = "3";
    cols[RC_AXIS_SCORE] = "\\N";
    cols[RC_RAW] = "{\"type\": \"kill\"}";
    size_t len;
    char *line = tsv_line(cols, RC__COUNT, &len);
    char *f[RC__COUNT];
    unsigned char null[RC__COUNT];
    assert_int_equal(raw_row_split(line, len, f, null), 0);
    assert_string_equal(f[RC_ACTOR_NAME], "Tab\tName \\o/");
    assert_true(null[RC_GAME_TIME] && null[RC_TARGET_NAME] && null[RC_TARGET_X]);
    assert_false(null[RC_ACTOR_X] || null[RC_MESSAGE] || null[RC_UNKNOWN_FIELDS]);
    assert_string_equal(f[RC_GAME_TIME], "");
    assert_string_equal(f[RC_RAW], "{\"type\": \"kill\"}");

    ach_event e;
    assert_true(ach_event_from_row(f, null, &e));
    assert_int_equal(e.type, EV_KILL);
    assert_int_equal(e.received_ms, 1735084800250ULL);
    assert_true(e.game_time == 1735084800.25); /* no tracker time: the receive time */
    assert_string_equal(e.batch_id, "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3");
    assert_string_equal(e.server_id, "srv-1");
    assert_string_equal(e.match_key, "m0123456789abcdef");
    assert_string_equal(e.map, "obj/obj_team2");
    assert_string_equal(e.actor_guid, "7");
    assert_string_equal(e.actor_team, "american");
    assert_string_equal(e.actor_stance, "prone");
    assert_int_equal(e.actor_smf_id, 7);
    assert_true(e.actor_has_pos);
    assert_true(e.actor_pos[0] == 100.5 && e.actor_pos[1] == -20 && e.actor_pos[2] == 64);
    assert_true(e.actor_has_yaw && e.actor_yaw == 90);
    assert_string_equal(e.target_guid, "unauth_3");
    assert_string_equal(e.target_team, "german");
    assert_int_equal(e.target_smf_id, 0);
    assert_false(e.target_has_pos); /* x is \N */
    assert_false(e.target_has_yaw);
    assert_string_equal(e.weapon, "Thompson");
    assert_string_equal(e.mod, "MOD_BULLET");
    assert_string_equal(e.hitloc, "head");
    assert_string_equal(e.message, "gg\twp \\o/ N");
    assert_string_equal(e.team, "");
    assert_true(e.distance == 0);
    assert_false(e.has_round_scores); /* axis_score is \N */

    /* applied: a prone Christmas headshot of a guest, with a Thompson */
    ach_def defs[] = {def("killer", "kills", 1), def("xmas", "christmas_kills", 1), def("snake", "prone_kills", 1),
                      def("tommy", "weapon_kills_thompson", 1), def("sniper", "headshots", 1)};
    fx fx1;
    fx_init(&fx1, defs, 5);
    assert_int_equal(evaluator_apply(fx1.ev, &e), 0);
    free(line); /* the evaluator keeps no pointer into the row */
    for (size_t i = 0; i < 5; i++) {
        const rec_write *u = find_unlock(&fx1, M(7), defs[i].code);
        assert_non_null(u);
        assert_int_equal(u->at_ms, 1735084800250ULL);
        assert_string_equal(u->match_key, "m0123456789abcdef");
    }
    assert_int_equal(evaluator_metric(fx1.ev, M(7), "maps_played"), 1);
    fx_done(&fx1);

    /* a tracker time, another type, round scores, a distance */
    cols[RC_GAME_TIME] = "12.5";
    cols[RC_EVENT_TYPE] = "round_end";
    cols[RC_AXIS_SCORE] = "-1";
    cols[RC_DISTANCE] = "-3";
    line = tsv_line(cols, RC__COUNT, &len);
    assert_int_equal(raw_row_split(line, len, f, null), 0);
    assert_true(ach_event_from_row(f, null, &e));
    assert_int_equal(e.type, EV_ROUND_END);
    assert_true(e.game_time == 12.5);
    assert_true(e.has_round_scores && e.allies_score == 3 && e.axis_score == -1);
    assert_true(e.distance == 0); /* a negative step is none */
    free(line);

    /* an event type achievd does not read; a game time that is no number falls back to the receive time */
    cols[RC_EVENT_TYPE] = "ladder_dismount";
    cols[RC_GAME_TIME] = "soon";
    line = tsv_line(cols, RC__COUNT, &len);
    assert_int_equal(raw_row_split(line, len, f, null), 0);
    assert_true(ach_event_from_row(f, null, &e));
    assert_int_equal(e.type, EV_OTHER);
    assert_true(e.game_time == 1735084800.25);
    free(line);

    /* no receive time, or one that is not a time: not usable */
    const char *bad_at[] = {"", "\\N", "abc", "-5", "1e300"};
    for (size_t i = 0; i < sizeof bad_at / sizeof bad_at[0]; i++) {
        cols[RC_RECEIVED_AT] = bad_at[i];
        line = tsv_line(cols, RC__COUNT, &len);
        assert_int_equal(raw_row_split(line, len, f, null), 0);
        assert_false(ach_event_from_row(f, null, &e));
        free(line);
    }
    cols[RC_RECEIVED_AT] = "1735084800";
    const char *bad_ms[] = {"-1", "1000", "x"};
    for (size_t i = 0; i < sizeof bad_ms / sizeof bad_ms[0]; i++) {
        cols[RC_RECEIVED_MS] = bad_ms[i];
        line = tsv_line(cols, RC__COUNT, &len);
        assert_int_equal(raw_row_split(line, len, f, null), 0);
        assert_false(ach_event_from_row(f, null, &e));
        free(line);
    }
    cols[RC_RECEIVED_MS] = "250";

    /* a row of the format before actor_country (a stream entry older than the upgrade): read, the column empty */
    cols[RC_ACTOR_COUNTRY] = "FR";
    line = tsv_line(cols, RC__COUNT, &len);
    assert_false(previous_format(line, len));
    assert_int_equal(raw_row_split(line, len, f, null), 0);
    assert_string_equal(f[RC_ACTOR_COUNTRY], "FR");
    free(line);
    line = tsv_line(cols, RC__COUNT - 1, &len);
    assert_true(previous_format(line, len));
    assert_int_equal(raw_row_split(line, len, f, null), 0);
    assert_string_equal(f[RC_ACTOR_COUNTRY], "");
    assert_false(null[RC_ACTOR_COUNTRY]);
    assert_string_equal(f[RC_RAW], cols[RC_RAW]);
    assert_true(ach_event_from_row(f, null, &e));
    free(line);

    /* two columns short or one too many */
    line = tsv_line(cols, RC__COUNT - 2, &len);
    assert_int_equal(raw_row_split(line, len, f, null), -EINVAL);
    free(line);
    const char *more[RC__COUNT + 1];
    memcpy(more, cols, sizeof cols);
    more[RC__COUNT] = "extra";
    line = tsv_line(more, RC__COUNT + 1, &len);
    assert_int_equal(raw_row_split(line, len, f, null), -EINVAL);
    free(line);
}

/* achievd's kind of each canonical type it reacts to; every other type, and a name that is no type, is EV_OTHER. */
static void test_event_kinds(void **state)
{
    (void)state;
    static const struct {
        const char *type;
        ach_event_type kind;
    } kinds[] = {
        {"player_kill", EV_KILL},
        {"damage", EV_DAMAGE},
        {"player_spawn", EV_SPAWN},
        {"jump", EV_JUMP},
        {"weapon_change", EV_WEAPON_CHANGE},
        {"crouch", EV_CROUCH},
        {"distance", EV_DISTANCE},
        {"ladder_mount", EV_LADDER},
        {"door_open", EV_DOOR},
        {"chat", EV_CHAT},
        {"disconnect", EV_DISCONNECT},
        {"weapon_fire", EV_FIRE},
        {"weapon_hit", EV_HIT},
        {"round_end", EV_ROUND_END},
        {"team_win", EV_TEAM_WIN},
        {"match_end", EV_MATCH_END},
        {"ladder_dismount", EV_OTHER},
        {"door_close", EV_OTHER},
        {"bot_killed", EV_OTHER},
        {"no_such_type", EV_OTHER},
        {"", EV_OTHER},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        assert_int_equal(ach_event_kind(kinds[i].type), kinds[i].kind);
    assert_int_equal(ach_event_kind(NULL), EV_OTHER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_from_row),
        cmocka_unit_test(test_event_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
