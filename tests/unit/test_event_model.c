/* Unit tests: lookups in the event vocabulary (wire fields, player block keys, types and aliases), known keys
 * and near misses alike; the value vocabulary (game_vocab.h: team sides, hit classes) and its SQL (the normalised
 * columns' expressions in schemas/clickhouse/0005, queryd's fragments, the lists of the applied views), which must
 * say the same. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <regex.h>

#include <cmocka.h>

#include "event_model.h"
#include "game_vocab.h"
#include "stats.h"
#include "source_file.h"

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

static void test_type_flags(void **state)
{
    const event_type_def *kill = event_type_resolve("player_kill", 11, false);
    assert_true(event_type_has(kill, EVF_KILL));
    assert_false(event_type_has(kill, EVF_LEAVE));
    /* Aliases resolve to the canonical type and so carry its flags. */
    assert_true(event_type_has(event_type_resolve("kill", 4, false), EVF_KILL));
    assert_true(event_type_has(event_type_resolve("player_killed", 13, false), EVF_KILL));
    assert_true(event_type_has(event_type_resolve("client_disconnect", 17, false), EVF_LEAVE));
    assert_true(event_type_has(event_type_resolve("player_distance", 15, false), EVF_RUNNING_DISTANCE));
    assert_true(event_type_has(event_type_resolve("objective_capture", 17, false), EVF_CAPTURE));
    assert_true(event_type_has(event_type_resolve("player_auth", 11, false), EVF_LOGIN));
    assert_false(event_type_has(event_type_resolve("accuracy_summary", 16, false), EVF_LOGIN));
    assert_false(event_type_has(NULL, EVF_KILL));
    /* Exactly one type of each flag: a kill is player_kill, not a death, a bot kill or a team kill. */
    static const event_flag flags[] = {EVF_KILL, EVF_LEAVE, EVF_RUNNING_DISTANCE, EVF_CAPTURE, EVF_LOGIN};
    for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
        int n = 0;
        for (size_t i = 0; i < event_types_count; i++)
            n += event_type_has(&event_types[i], flags[f]);
        assert_int_equal(n, 1);
    }
}

/* The names C and SQL use (EVT_*, EVT_SQL_*): each is a canonical type of the table, with the flags event_model.h
 * gives it, and each SQL literal is its name quoted. */
static void test_type_names(void **state)
{
    static const struct {
        const char *name, *sql;
        unsigned flags;
    } names[] = {
        {EVT_PLAYER_KILL, EVT_SQL_PLAYER_KILL, EVF_KILL},
        {EVT_DAMAGE, NULL, 0},
        {EVT_PLAYER_SPAWN, NULL, 0},
        {EVT_JUMP, NULL, 0},
        {EVT_CROUCH, NULL, 0},
        {EVT_DISTANCE, NULL, EVF_RUNNING_DISTANCE},
        {EVT_LADDER_MOUNT, NULL, 0},
        {EVT_WEAPON_FIRE, EVT_SQL_WEAPON_FIRE, 0},
        {EVT_WEAPON_HIT, EVT_SQL_WEAPON_HIT, 0},
        {EVT_WEAPON_CHANGE, NULL, 0},
        {EVT_DOOR_OPEN, NULL, 0},
        {EVT_CHAT, NULL, 0},
        {EVT_CONNECT, EVT_SQL_CONNECT, 0},
        {EVT_DISCONNECT, NULL, EVF_LEAVE},
        {EVT_PLAYER_AUTH, EVT_SQL_PLAYER_AUTH, EVF_LOGIN},
        {EVT_MATCH_START, EVT_SQL_MATCH_START, 0},
        {EVT_MATCH_END, EVT_SQL_MATCH_END, 0},
        {EVT_ROUND_START, EVT_SQL_ROUND_START, 0},
        {EVT_ROUND_END, EVT_SQL_ROUND_END, 0},
        {EVT_TEAM_WIN, EVT_SQL_TEAM_WIN, 0},
        {EVT_OBJECTIVE_CAPTURE, EVT_SQL_OBJECTIVE_CAPTURE, EVF_CAPTURE},
    };
    static const event_flag flags[] = {EVF_KILL, EVF_LEAVE, EVF_RUNNING_DISTANCE, EVF_CAPTURE, EVF_LOGIN};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const event_type_def *t = event_type_resolve(names[i].name, strlen(names[i].name), false);
        assert_non_null(t);
        assert_string_equal(t->name, names[i].name); /* canonical, not an alias */
        assert_ptr_equal(&event_types[event_type_index(t)], t);
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++)
            assert_int_equal(event_type_has(t, flags[f]), (names[i].flags & (unsigned)flags[f]) != 0);
        if (names[i].sql) {
            char quoted[64];
            snprintf(quoted, sizeof quoted, "'%s'", names[i].name);
            assert_string_equal(names[i].sql, quoted);
        }
    }
    assert_true(event_types_count <= EVENT_TYPES_MAX);
}

static void test_team_sides(void **state)
{
    /* Every name of a side, in any case; "allied" is the Allies on every page (issue 18). */
    static const char *const allies[] = {"american", "allies", "allied", "Allied", "AMERICAN"};
    static const char *const axis[] = {"german", "axis", "Axis", "GERMAN"};
    static const char *const neither[] = {"", "spectator", "freeforall", "none", "ally", "alliess", "germans"};
    for (size_t i = 0; i < sizeof allies / sizeof allies[0]; i++)
        assert_int_equal(vocab_team_side(allies[i]), SIDE_ALLIES);
    for (size_t i = 0; i < sizeof axis / sizeof axis[0]; i++)
        assert_int_equal(vocab_team_side(axis[i]), SIDE_AXIS);
    for (size_t i = 0; i < sizeof neither / sizeof neither[0]; i++)
        assert_int_equal(vocab_team_side(neither[i]), SIDE_NONE);
    assert_int_equal(vocab_team_side(NULL), SIDE_NONE);
    assert_string_equal(vocab_team_side_name(SIDE_ALLIES), "allies");
    assert_string_equal(vocab_team_side_name(SIDE_AXIS), "axis");
    assert_string_equal(vocab_team_side_name(SIDE_NONE), "");
    /* The side columns' SQL is generated from the same list, and says '' where vocab_team_side_name does. */
    assert_string_equal(VOCAB_SIDE_SQL("t"), "transform(lower(t), ['american', 'allies', 'allied', 'german', 'axis'], "
                                             "['allies', 'allies', 'allies', 'axis', 'axis'], '')");
}

/* "('a', 'b')": the body locations, in the engine's order, whose class is one of classes (HIT_NONE ends). */
static void hitloc_list(char *out, size_t size, const hit_class *classes)
{
    size_t n = (size_t)snprintf(out, size, "(");
    for (int i = 0; i < VOCAB_BODY_PARTS; i++)
        for (const hit_class *c = classes; *c != HIT_NONE; c++)
            if (vocab_hit_class(vocab_hit_name(i)) == *c)
                n += (size_t)snprintf(out + n, size - n, "%s'%s'", n > 1 ? ", " : "", vocab_hit_name(i));
    snprintf(out + n, size - n, ")");
}

static void test_hit_classes(void **state)
{
    assert_int_equal(vocab_hit_class("head"), HIT_HEAD);
    assert_int_equal(vocab_hit_class("Helmet"), HIT_HEAD);
    assert_int_equal(vocab_hit_class("neck"), HIT_HEAD);
    assert_int_equal(vocab_hit_class("torso_mid"), HIT_TORSO);
    assert_int_equal(vocab_hit_class("general"), HIT_NONE);
    assert_int_equal(vocab_hit_class(""), HIT_NONE);
    assert_null(vocab_hit_name(-1));
    assert_null(vocab_hit_name(VOCAB_BODY_PARTS));
    for (int i = 0; i < VOCAB_BODY_PARTS; i++)
        assert_int_equal(vocab_hit_index(vocab_hit_name(i)), i);
    /* The hit_class column's SQL maps each body location to its class's name, in the engine's order. */
    char names[1024] = "[", classes[1024] = "[";
    for (int i = 0; i < VOCAB_BODY_PARTS; i++) {
        const char *sep = i ? ", " : "";
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s'%s'", sep, vocab_hit_name(i));
        snprintf(classes + strlen(classes), sizeof classes - strlen(classes), "%s'%s'", sep,
                 vocab_hit_class_name(vocab_hit_class(vocab_hit_name(i))));
    }
    strcat(names, "]");
    strcat(classes, "]");
    assert_string_equal(VOCAB_HIT_NAMES_SQL, names);
    assert_string_equal(VOCAB_HIT_CLASSES_SQL, classes);
    assert_string_equal(VOCAB_HIT_CLASS_SQL("h"),
                        "transform(lower(h), " VOCAB_HIT_NAMES_SQL ", " VOCAB_HIT_CLASSES_SQL ", '')");
    assert_string_equal(vocab_hit_class_name(HIT_NONE), "");
    assert_string_equal(vocab_hit_class_name(HIT_PELVIS), "pelvis");
}

/* The hit classes that the quoted names after lead in sql name (one "= 'x'" or a list "IN ('x', 'y')"), as a
 * bit set of hit_class values; fails on a name that is no class's. */
static unsigned classes_named(const char *sql, const char *lead)
{
    const char *p = strstr(sql, lead);
    assert_non_null(p);
    p += strlen(lead);
    bool list = strncmp(p, " IN (", 5) == 0;
    assert_true(list || strncmp(p, " = ", 3) == 0);
    p += list ? 5 : 3;
    unsigned set = 0;
    for (;;) {
        assert_int_equal(*p, '\'');
        const char *end = strchr(p + 1, '\'');
        assert_non_null(end);
        int found = -1;
        for (int c = HIT_HEAD; c <= HIT_FOOT; c++)
            if (strlen(vocab_hit_class_name((hit_class)c)) == (size_t)(end - p - 1) &&
                strncmp(p + 1, vocab_hit_class_name((hit_class)c), (size_t)(end - p - 1)) == 0)
                found = c;
        assert_true(found > 0);
        set |= 1u << found;
        p = end + 1;
        if (!list || *p != ',')
            break;
        p += 2;
    }
    return set;
}

#define CLASS_SET(c) (1u << (c))

/* queryd's hit-class conditions name the table's classes: a headshot is a head hit, the torso kills take the
 * pelvis too, the limbs are arms, hands, legs and feet. */
static void test_queryd_hit_classes(void **state)
{
    assert_int_equal(classes_named(HEADSHOT_SQL, "hit_class"), CLASS_SET(HIT_HEAD));
    assert_int_equal(classes_named(TORSO_HIT_SQL, "hit_class"), CLASS_SET(HIT_TORSO) | CLASS_SET(HIT_PELVIS));
    assert_int_equal(classes_named(LIMB_HIT_SQL, "hit_class"),
                     CLASS_SET(HIT_ARM) | CLASS_SET(HIT_HAND) | CLASS_SET(HIT_LEG) | CLASS_SET(HIT_FOOT));
}

/* queryd's weapon classes (WEAPON_CLASS_SQL) are game_vocab.c's, class by class in its order. */
static void test_weapon_classes(void **state)
{
    char want[2048];
    size_t n = (size_t)snprintf(want, sizeof want, "multiIf(");
    for (int c = WCLASS_OTHER + 1; c < WCLASS__COUNT; c++) {
        n += (size_t)snprintf(want + n, sizeof want - n, "match(lower(w), '");
        const char *const *p = vocab_weapon_class_patterns((weapon_class)c);
        assert_non_null(p[0]);
        for (size_t i = 0; p[i]; i++)
            n += (size_t)snprintf(want + n, sizeof want - n, "%s%s", i ? "|" : "", p[i]);
        n += (size_t)snprintf(want + n, sizeof want - n, "'), '%s', ", vocab_weapon_class_name((weapon_class)c));
    }
    snprintf(want + n, sizeof want - n, "'other')");
    assert_string_equal(WEAPON_CLASS_SQL("w"), want);
    assert_null(vocab_weapon_class_patterns(WCLASS_OTHER)[0]);
    assert_int_equal(vocab_weapon_class("KAR98 Sniper"), WCLASS_SNIPER);
    assert_int_equal(vocab_weapon_class("Thompson"), WCLASS_SMG);
}

/* Read the quoted strings of an SQL array at *p ("['a', 'b']") into out (at most max), moving *p past it. */
static size_t sql_array(const char **p, char out[][32], size_t max)
{
    size_t n = 0;
    assert_int_equal(**p, '[');
    (*p)++;
    while (**p == '\'') {
        const char *end = strchr(*p + 1, '\'');
        assert_non_null(end);
        assert_true(n < max && (size_t)(end - *p - 1) < sizeof out[0]);
        snprintf(out[n++], sizeof out[0], "%.*s", (int)(end - *p - 1), *p + 1);
        *p = end + 1;
        if (strncmp(*p, ", ", 2) == 0)
            *p += 2;
    }
    assert_int_equal(**p, ']');
    (*p)++;
    return n;
}

/* Skip the literal text want at *p. */
static void sql_expect(const char **p, const char *want)
{
    assert_memory_equal(*p, want, strlen(want));
    *p += strlen(want);
}

/* queryd's game type SQL (GAMETYPE_SQL) says what vocab_game_type says, name by name and map prefix by prefix: both
 * come from game_vocab.h's two lists. */
static void test_game_types(void **state)
{
    static char sent[64][32], ids[64][32], types[16][32], by_map[16][32];
    const char *p = GAMETYPE_SQL("g", "m");
    sql_expect(&p, "transform(lower(g), ");
    size_t nsent = sql_array(&p, sent, 64);
    sql_expect(&p, ", ");
    assert_int_equal(sql_array(&p, ids, 64), nsent);
    sql_expect(&p, ", if(g != '', 'other', transform(extract(lower(m), '^([a-z]+)[/_]'), ");
    size_t ntypes = sql_array(&p, types, 16);
    sql_expect(&p, ", ");
    assert_int_equal(sql_array(&p, by_map, 16), ntypes);
    sql_expect(&p, ", 'other')))");
    assert_int_equal(*p, '\0');
    for (size_t i = 0; i < nsent; i++) {
        assert_string_equal(vocab_game_type(sent[i], "obj/x"), ids[i]);
        assert_string_not_equal(vocab_game_type_family(ids[i]), "");
    }
    for (size_t i = 0; i < ntypes; i++) {
        char map[48];
        snprintf(map, sizeof map, "%s/x", types[i]);
        const char *c = vocab_game_type("", map);
        assert_string_equal(*c ? c : "other", by_map[i]);
        assert_true(strcmp(by_map[i], "other") == 0 || strcmp(by_map[i], types[i]) == 0);
        assert_string_not_equal(vocab_game_type_family(types[i]), "");
    }
    assert_int_equal(ntypes, 7);
    assert_string_equal(vocab_game_type("dm", ""), "dm");
    assert_string_equal(vocab_game_type("", "rb/x"), ""); /* rb: NOT_BY_MAP (game_vocab.h) */
    assert_string_equal(vocab_game_type("coop", "dm/x"), "");
    assert_string_equal(vocab_game_type_family("rb"), "objective");
    assert_string_equal(vocab_game_type_family("other"), "");
}

static const char *const ch_views[] = {"schemas/clickhouse/0002_aggregates.sql",
                                       "schemas/clickhouse/0003_match_players.sql"};

/* The condition on alias col that a view writes for the names of one class: "col = 'a'" or "col IN ('a', 'b')". */
static void class_condition(char *out, size_t size, const char *col, const char *const *names, size_t n)
{
    size_t k = (size_t)snprintf(out, size, n == 1 ? "%s = " : "%s IN (", col);
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(out + k, size - k, "%s'%s'", i ? ", " : "", names[i]);
    snprintf(out + k, size - k, "%s", n == 1 ? "" : ")");
}

#define VOCAB_MOD_ENTRY_(name, cls, cls_name) {name, cls, cls_name},
#define VOCAB_STANCE_ENTRY_(name, kind) {name, kind},

/* The views' means-of-death and stance conditions (player_daily_mv in 0002 and its re-creation in 0005) are the
 * classes of game_vocab.h's tables, name for name: a bash kill is md = 'bash' in the views because the bash class is
 * bash alone (impale is its own class), and so on for every counter. VOCAB_MOD_CLASS_SQL says what vocab_mod_class
 * says. */
static void test_views_mod_stance_lists(void **state)
{
    static const struct {
        const char *name;
        mod_class cls;
        const char *cls_name;
    } mods[] = {VOCAB_MODS(VOCAB_MOD_ENTRY_, )};
    static const struct {
        const char *name;
        stance_kind kind;
    } stances[] = {VOCAB_STANCES(VOCAB_STANCE_ENTRY_, )};
    static const struct {
        const char *counter;
        mod_class cls;
    } mod_counters[] = {{"bash_kills", MOD_CLASS_BASH},   {"grenade_kills", MOD_CLASS_GRENADE},
                        {"roadkills", MOD_CLASS_VEHICLE}, {"telefrags", MOD_CLASS_TELEFRAG},
                        {"crushed", MOD_CLASS_CRUSH},     {"fall_deaths", MOD_CLASS_FALLING}};
    static const struct {
        const char *counter;
        stance_kind kind;
    } stance_counters[] = {
        {"standing_kills", STANCE_STAND}, {"crouch_kills", STANCE_CROUCH}, {"prone_kills", STANCE_PRONE}};
    static const char *const files[] = {"schemas/clickhouse/0002_aggregates.sql",
                                        "schemas/clickhouse/0005_normalised_columns.sql"};
    char cond[256], line[320];
    const char *names[16];
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char *text = source_file(files[f]);
        assert_non_null(strstr(text, "replaceRegexpOne(lower(means_of_death), '^mod_', '') AS md,"));
        assert_non_null(strstr(text, "lower(actor_stance) AS st,"));
        for (size_t c = 0; c < sizeof mod_counters / sizeof mod_counters[0]; c++) {
            size_t n = 0;
            for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++)
                if (mods[i].cls == mod_counters[c].cls)
                    names[n++] = mods[i].name;
            class_condition(cond, sizeof cond, "md", names, n);
            snprintf(line, sizeof line, " AND %s) AS %s,", cond, mod_counters[c].counter);
            assert_non_null(strstr(text, line));
        }
        for (size_t c = 0; c < sizeof stance_counters / sizeof stance_counters[0]; c++) {
            size_t n = 0;
            for (size_t i = 0; i < sizeof stances / sizeof stances[0]; i++)
                if (stances[i].kind == stance_counters[c].kind)
                    names[n++] = stances[i].name;
            class_condition(cond, sizeof cond, "st", names, n);
            snprintf(line, sizeof line, " AND %s) AS %s,", cond, stance_counters[c].counter);
            assert_non_null(strstr(text, line));
        }
        free(text);
    }
    /* the C lookups are the tables; the SQL is generated from the same list */
    for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++) {
        char upper[40];
        snprintf(upper, sizeof upper, "MOD_%s", mods[i].name);
        assert_int_equal(vocab_mod_class(mods[i].name), mods[i].cls);
        assert_int_equal(vocab_mod_class(upper), mods[i].cls);
        assert_string_equal(vocab_mod_class_name(mods[i].cls), mods[i].cls_name);
    }
    for (size_t i = 0; i < sizeof stances / sizeof stances[0]; i++)
        assert_int_equal(vocab_stance(stances[i].name), stances[i].kind);
    assert_int_equal(vocab_mod_class("impale"), MOD_CLASS_IMPALE);
    assert_int_equal(vocab_mod_class("unknown"), MOD_CLASS_OTHER);
    assert_string_equal(vocab_mod_class_name(MOD_CLASS_OTHER), "other");
    assert_memory_equal(VOCAB_MOD_CLASS_SQL("m"), "transform(replaceRegexpOne(lower(m), '^mod_', ''), ['bullet', ",
                        strlen("transform(replaceRegexpOne(lower(m), '^mod_', ''), ['bullet', "));
}

/* The ClickHouse views cannot read the table (they are SQL, applied and checksummed): each of their copies of
 * the team list must be the table's, or the views and queryd's pages would count different teams. */
static void test_views_team_list(void **state)
{
    int copies = 0;
    for (size_t v = 0; v < sizeof ch_views / sizeof ch_views[0]; v++) {
        char *text = source_file(ch_views[v]);
        for (const char *p = strstr(text, "transform(lower("); p; p = strstr(p + 1, "transform(lower(")) {
            const char *names = strstr(p, "), ");
            assert_non_null(names);
            names += 3;
            assert_memory_equal(names, VOCAB_TEAM_NAMES_SQL, strlen(VOCAB_TEAM_NAMES_SQL));
            const char *sides = names + strlen(VOCAB_TEAM_NAMES_SQL);
            assert_int_equal(*sides++, ',');
            sides += strspn(sides, " \n");
            assert_memory_equal(sides, VOCAB_TEAM_SIDES_SQL, strlen(VOCAB_TEAM_SIDES_SQL));
            copies++;
        }
        free(text);
    }
    assert_true(copies >= 25);
}

/* Each copy of a hit-location class in the views of 0002 and 0003 is the table's. */
static void test_views_hitloc_lists(void **state)
{
    static const char limb_pattern[] = "_(arm|leg)_|_(hand|foot)$";
    char head[256], torso[256], limb[64];
    hitloc_list(head, sizeof head, (const hit_class[]){HIT_HEAD, HIT_NONE});
    hitloc_list(torso, sizeof torso, (const hit_class[]){HIT_TORSO, HIT_PELVIS, HIT_NONE});
    snprintf(limb, sizeof limb, "'%s'", limb_pattern);
    const struct {
        const char *lead, *list;
    } classes[] = {{"IN ('head'", head}, {"IN ('torso", torso}, {"'_(arm", limb}};
    int copies = 0;
    for (size_t v = 0; v < sizeof ch_views / sizeof ch_views[0]; v++) {
        char *text = source_file(ch_views[v]);
        for (size_t c = 0; c < sizeof classes / sizeof classes[0]; c++)
            for (const char *p = strstr(text, classes[c].lead); p; p = strstr(p + 1, classes[c].lead)) {
                const char *list = strchr(p, classes[c].list[0]);
                assert_memory_equal(list, classes[c].list, strlen(classes[c].list));
                copies++;
            }
        free(text);
    }
    assert_true(copies >= 13);
    /* The old limb pattern matches exactly the arms, hands, legs and feet of the table. */
    regex_t re;
    assert_int_equal(regcomp(&re, limb_pattern, REG_EXTENDED | REG_NOSUB), 0);
    for (int i = 0; i < VOCAB_BODY_PARTS; i++) {
        hit_class c = vocab_hit_class(vocab_hit_name(i));
        bool is_limb = c == HIT_ARM || c == HIT_HAND || c == HIT_LEG || c == HIT_FOOT;
        assert_int_equal(regexec(&re, vocab_hit_name(i), 0, NULL, 0) == 0, is_limb);
    }
    regfree(&re);
}

/* The number of times needle occurs in text. */
static int occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* 0005's normalised columns are computed by game_vocab.h's SQL, byte for byte; it spells the lists nowhere else,
 * and every hit class its views name is the table's. */
static void test_normalised_columns(void **state)
{
    char *text = source_file("schemas/clickhouse/0005_normalised_columns.sql");
    static const char *const alters[] = {
        "\nALTER TABLE raw_events ADD COLUMN actor_side String MATERIALIZED " VOCAB_SIDE_SQL("actor_team") ";\n",
        "\nALTER TABLE raw_events ADD COLUMN target_side String MATERIALIZED " VOCAB_SIDE_SQL("target_team") ";\n",
        "\nALTER TABLE raw_events ADD COLUMN team_side String MATERIALIZED " VOCAB_SIDE_SQL("team") ";\n",
        "\nALTER TABLE raw_events ADD COLUMN hit_class String MATERIALIZED " VOCAB_HIT_CLASS_SQL("hitloc") ";\n",
        "\nALTER TABLE player_fights ADD COLUMN hit_class String DEFAULT " VOCAB_HIT_CLASS_SQL("hitloc") ";\n",
    };
    for (size_t i = 0; i < sizeof alters / sizeof alters[0]; i++)
        assert_non_null(strstr(text, alters[i]));
    assert_int_equal(occurrences(text, "transform("), 5);
    assert_int_equal(occurrences(text, "'american'"), 3);
    assert_int_equal(occurrences(text, "'helmet'"), 2);
    assert_int_equal(occurrences(text, "'torso_mid'"), 2);
    assert_int_equal(occurrences(text, "match(hl"), 0);
    assert_int_equal(occurrences(text, "lower(hitloc) IN"), 0);
    /* Every hit-class condition of the views names classes of the table. */
    int conditions = 0;
    for (const char *lead = "hc"; lead; lead = strcmp(lead, "hc") == 0 ? "hit_class" : NULL)
        for (const char *p = strstr(text, lead); p; p = strstr(p + 1, lead)) {
            char key[16];
            snprintf(key, sizeof key, "%s ", lead);
            bool cond = strncmp(p, key, strlen(key)) == 0 &&
                        (strncmp(p + strlen(lead), " = '", 4) == 0 || strncmp(p + strlen(lead), " IN ('", 6) == 0);
            if (!cond)
                continue;
            assert_true(classes_named(p, lead) != 0);
            conditions++;
        }
    assert_int_equal(conditions, 14);
    /* Each view it drops it creates again, right after. */
    int drops = 0;
    for (const char *p = strstr(text, "\nDROP TABLE IF EXISTS "); p; p = strstr(p + 1, "\nDROP TABLE IF EXISTS ")) {
        char name[64], want[256];
        assert_int_equal(sscanf(p, "\nDROP TABLE IF EXISTS %63[a-z_];", name), 1);
        assert_non_null(strstr(name, "_mv"));
        snprintf(want, sizeof want, "DROP TABLE IF EXISTS %s;\nCREATE MATERIALIZED VIEW IF NOT EXISTS %s TO ", name,
                 name);
        assert_non_null(strstr(p, want));
        drops++;
    }
    assert_int_equal(drops, 11);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_block_keys),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_type_flags),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_team_sides),
        cmocka_unit_test(test_views_team_list),
        cmocka_unit_test(test_hit_classes),
        cmocka_unit_test(test_views_hitloc_lists),
        cmocka_unit_test(test_weapon_classes),
        cmocka_unit_test(test_game_types),
        cmocka_unit_test(test_views_mod_stance_lists),
        cmocka_unit_test(test_queryd_hit_classes),
        cmocka_unit_test(test_normalised_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
