/* Unit tests: lookups in the event vocabulary (wire fields, player block keys, types and aliases), known keys
 * and near misses alike. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "event_model.h"

static event_field_map field(const char *key)
{
    return event_field_lookup(key, strlen(key));
}

static void test_fields(void **state)
{
    assert_int_equal(field("type").field, FIELD_TYPE);
    assert_int_equal(field("event_type").field, FIELD_TYPE);
    assert_int_equal(field("event_type").priority, 1);
    assert_int_equal(field("timestamp").field, FIELD_GAME_TIME);
    assert_int_equal(field("new_weapon").field, FIELD_WEAPON);
    assert_int_equal(field("new_weapon").priority, 1);
    assert_int_equal(field("walked").field, FIELD_DISTANCE);
    assert_int_equal(field("players").field, FIELD_PLAYER_COUNT);
    assert_int_equal(field("server_token").field, FIELD_SECRET);
    assert_int_equal(field("server_id").field, FIELD_IGNORED);
    assert_int_equal(field("ammo_amount").field, FIELD_RAW_ONLY);
    /* Near misses, block keys and the empty key are not wire fields. */
    static const char *const unknown[] = {"",      "typ",         "types",     "Type",       "TYPE",        "type ",
                                          "_type", "player_name", "weird_key", "ammo_amoun", "ammo_amountt"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        assert_int_equal(field(unknown[i]).field, FIELD_UNKNOWN);
    /* Keys are (pointer, length): bytes after len do not count. */
    assert_int_equal(event_field_lookup("typeXYZ", 4).field, FIELD_TYPE);
    assert_int_equal(event_field_lookup("", 0).field, FIELD_UNKNOWN);
}

static void test_block_keys(void **state)
{
    static const struct {
        const char *prefix;
        event_block block;
    } prefixes[] = {{"player_", BLOCK_PLAYER},
                    {"attacker_", BLOCK_ATTACKER},
                    {"killer_", BLOCK_KILLER},
                    {"victim_", BLOCK_VICTIM},
                    {"target_", BLOCK_TARGET}};
    static const char *const suffixes[BF__COUNT] = {"name", "guid", "smf_id", "team", "x",
                                                    "y",    "z",    "pitch",  "yaw",  "stance"};
    event_block b;
    event_block_field f;
    for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++)
        for (int s = 0; s < BF__COUNT; s++) {
            char key[32];
            snprintf(key, sizeof key, "%s%s", prefixes[p].prefix, suffixes[s]);
            assert_true(event_block_key(key, strlen(key), &b, &f));
            assert_int_equal(b, prefixes[p].block);
            assert_int_equal(f, s);
            /* One byte more or less is no block key. */
            assert_false(event_block_key(key, strlen(key) - 1, &b, &f) && f == (event_block_field)s);
            strcat(key, "s");
            assert_false(event_block_key(key, strlen(key), &b, &f));
        }
    assert_true(event_block_key("pos_y", 5, &b, &f));
    assert_true(b == BLOCK_PLAYER && f == BF_Y);
    assert_true(event_block_key("aim_yaw", 7, &b, &f));
    assert_true(b == BLOCK_PLAYER && f == BF_YAW);
    static const char *const misses[] = {"",      "player_",       "player", "victim_yawn", "Player_name",
                                         "pos_w", "spectator_name"};
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++)
        assert_false(event_block_key(misses[i], strlen(misses[i]), &b, &f));
}

static const char *type(const char *sent, bool open)
{
    const event_type_def *t = event_type_resolve(sent, strlen(sent), open);
    return t ? t->name : NULL;
}

static void test_types(void **state)
{
    /* Every canonical type resolves to itself. */
    for (size_t i = 0; i < event_types_count; i++)
        assert_string_equal(type(event_types[i].name, false), event_types[i].name);
    assert_string_equal(type("bot_death", false), "bot_killed");
    assert_string_equal(type("Player_Kill", false), "player_kill");
    assert_string_equal(type("door_state_change", true), "door_open");
    assert_string_equal(type("door_state_change", false), "door_close");
    assert_null(type("", false));
    assert_null(type("mystery", false));
    assert_null(type("player_kil", false));
    assert_null(type("player_kills", false));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_block_keys),
        cmocka_unit_test(test_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
