/* The event vocabulary as tables: canonical types, type aliases, wire fields and their columns. */
#include "event_model.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

/* The 98 canonical types (docs/tracker-wire.md §5), which include all 80 type strings of the tracker
 * scripts' handlers (docs/tracker-wire.md §2) and the 91 of the tracker repository's list of types. */
const event_type_def event_types[] = {
    {"game_init", EVCAT_GAMEFLOW},
    {"game_start", EVCAT_GAMEFLOW},
    {"game_end", EVCAT_GAMEFLOW},
    {"match_start", EVCAT_GAMEFLOW},
    {"match_end", EVCAT_GAMEFLOW},
    {"round_start", EVCAT_GAMEFLOW},
    {"round_end", EVCAT_GAMEFLOW},
    {"warmup_start", EVCAT_GAMEFLOW},
    {"warmup_end", EVCAT_GAMEFLOW},
    {"intermission_start", EVCAT_GAMEFLOW},
    {"player_kill", EVCAT_COMBAT},
    {"death", EVCAT_COMBAT},
    {"damage", EVCAT_COMBAT},
    {"player_pain", EVCAT_COMBAT},
    {"player_suicide", EVCAT_SPECIAL_KILL},
    {"player_crushed", EVCAT_SPECIAL_KILL},
    {"player_telefragged", EVCAT_SPECIAL_KILL},
    {"player_roadkill", EVCAT_SPECIAL_KILL},
    {"player_bash", EVCAT_SPECIAL_KILL},
    {"player_teamkill", EVCAT_SPECIAL_KILL},
    {"weapon_fire", EVCAT_WEAPON},
    {"weapon_hit", EVCAT_WEAPON},
    {"weapon_change", EVCAT_WEAPON},
    {"reload", EVCAT_WEAPON},
    {"weapon_reload_done", EVCAT_WEAPON},
    {"weapon_ready", EVCAT_WEAPON},
    {"weapon_no_ammo", EVCAT_WEAPON},
    {"weapon_holster", EVCAT_WEAPON},
    {"weapon_raise", EVCAT_WEAPON},
    {"weapon_drop", EVCAT_WEAPON},
    {"grenade_throw", EVCAT_GRENADE},
    {"grenade_explode", EVCAT_GRENADE},
    {"jump", EVCAT_MOVEMENT},
    {"land", EVCAT_MOVEMENT},
    {"crouch", EVCAT_MOVEMENT},
    {"prone", EVCAT_MOVEMENT},
    {"player_stand", EVCAT_MOVEMENT},
    {"player_spawn", EVCAT_MOVEMENT},
    {"player_respawn", EVCAT_MOVEMENT},
    {"distance", EVCAT_MOVEMENT},
    {"player_movement", EVCAT_MOVEMENT},
    {"ladder_mount", EVCAT_MOVEMENT},
    {"ladder_dismount", EVCAT_MOVEMENT},
    {"use", EVCAT_INTERACTION},
    {"player_use_object_start", EVCAT_INTERACTION},
    {"player_use_object_finish", EVCAT_INTERACTION},
    {"player_spectate", EVCAT_INTERACTION},
    {"player_freeze", EVCAT_INTERACTION},
    {"chat", EVCAT_INTERACTION},
    {"item_pickup", EVCAT_ITEM},
    {"item_drop", EVCAT_ITEM},
    {"item_respawn", EVCAT_ITEM},
    {"health_pickup", EVCAT_ITEM},
    {"ammo_pickup", EVCAT_ITEM},
    {"armor_pickup", EVCAT_ITEM},
    {"vehicle_enter", EVCAT_VEHICLE},
    {"vehicle_exit", EVCAT_VEHICLE},
    {"vehicle_crash", EVCAT_VEHICLE},
    {"vehicle_change", EVCAT_VEHICLE},
    {"turret_enter", EVCAT_VEHICLE},
    {"turret_exit", EVCAT_VEHICLE},
    {"server_console_command", EVCAT_SERVER},
    {"heartbeat", EVCAT_SERVER},
    {"map_init", EVCAT_MAP},
    {"map_start", EVCAT_MAP},
    {"map_ready", EVCAT_MAP},
    {"map_shutdown", EVCAT_MAP},
    {"map_load_start", EVCAT_MAP},
    {"map_load_end", EVCAT_MAP},
    {"map_change_start", EVCAT_MAP},
    {"map_restart", EVCAT_MAP},
    {"team_join", EVCAT_TEAM_VOTE},
    {"team_win", EVCAT_TEAM_VOTE},
    {"vote_start", EVCAT_TEAM_VOTE},
    {"vote_passed", EVCAT_TEAM_VOTE},
    {"vote_failed", EVCAT_TEAM_VOTE},
    {"connect", EVCAT_CLIENT},
    {"disconnect", EVCAT_CLIENT},
    {"client_begin", EVCAT_CLIENT},
    {"client_userinfo_changed", EVCAT_CLIENT},
    {"player_inactivity_drop", EVCAT_CLIENT},
    {"door_open", EVCAT_WORLD},
    {"door_close", EVCAT_WORLD},
    {"explosion", EVCAT_WORLD},
    {"actor_spawn", EVCAT_BOT},
    {"actor_killed", EVCAT_BOT},
    {"bot_spawn", EVCAT_BOT},
    {"bot_killed", EVCAT_BOT},
    {"bot_roam", EVCAT_BOT},
    {"bot_curious", EVCAT_BOT},
    {"bot_attack", EVCAT_BOT},
    {"objective_update", EVCAT_OBJECTIVE},
    {"objective_capture", EVCAT_OBJECTIVE},
    {"score_change", EVCAT_SCORE},
    {"teamkill_kick", EVCAT_SCORE},
    {"player_auth", EVCAT_AUTH},
    {"accuracy_summary", EVCAT_AUTH},
    {"match_outcome", EVCAT_INTERNAL},
};
const size_t event_types_count = sizeof event_types / sizeof event_types[0];
_Static_assert(sizeof event_types / sizeof event_types[0] <= EVENT_TYPES_MAX, "raise EVENT_TYPES_MAX (event_model.h)");

/* Other names for canonical types: the architecture document's engine-style names, the engine's
 * own subscription names, and names used by old fixtures. "door_state_change" is special-cased:
 * it becomes door_open or door_close by the door's state. */
static const struct {
    const char *alias, *canonical;
} type_aliases[] = {
    {"player_say", "chat"},
    {"player_textmessage", "chat"},
    {"client_connect", "connect"},
    {"player_connected", "connect"},
    {"client_disconnect", "disconnect"},
    {"player_disconnecting", "disconnect"},
    {"intermission", "intermission_start"},
    {"player_jump", "jump"},
    {"player_land", "land"},
    {"player_crouch", "crouch"},
    {"player_prone", "prone"},
    {"player_distance", "distance"},
    {"player_use", "use"},
    {"player_death", "death"},
    {"player_damage", "damage"},
    {"player_damaged", "damage"},
    {"player_killed", "player_kill"},
    {"kill", "player_kill"},
    {"player_spawned", "player_spawn"},
    {"bot_death", "bot_killed"},
    {"weapon_reload", "reload"},
    {"bash", "player_bash"},
    {"team_change", "team_join"},
    {"client_begin_event", "client_begin"},
};

/* The flags of the types that have any (event_flag). */
static const struct {
    const char *type;
    unsigned flags;
} type_flags[] = {
    {EVT_PLAYER_KILL, EVF_KILL},
    {EVT_DISCONNECT, EVF_LEAVE},
    {EVT_DISTANCE, EVF_RUNNING_DISTANCE},
    {EVT_OBJECTIVE_CAPTURE, EVF_CAPTURE},
    {EVT_PLAYER_AUTH, EVF_LOGIN},
};

const char *event_category_name(event_category c)
{
    static const char *const names[] = {"gameflow", "combat",   "special_kill", "weapon", "grenade",
                                        "movement", "interaction", "item",     "vehicle", "server",
                                        "map",      "team_vote", "client",    "world",   "bot",
                                        "objective", "score",    "auth",      "internal"};
    return (size_t)c < sizeof names / sizeof names[0] ? names[c] : "unknown";
}

/* Wire keys (other than player blocks) and the column each feeds. Priorities order aliases of one
 * column: e.g. weapon_change's new_weapon feeds weapon unless an explicit weapon is present. */
static const struct {
    const char *key;
    event_field field;
    int priority;
} field_table[] = {
    {"type", FIELD_TYPE, 0},
    {"event_type", FIELD_TYPE, 1},
    {"match_id", FIELD_MATCH_ID, 0},
    {"session_id", FIELD_SESSION_ID, 0},
    {"timestamp", FIELD_GAME_TIME, 0},
    {"server_id", FIELD_IGNORED, 0},
    {"server_token", FIELD_SECRET, 0},
    {"auth_token", FIELD_SECRET, 0},
    {"token", FIELD_SECRET, 0},
    {"map_name", FIELD_MAP, 0},
    {"map", FIELD_MAP, 1},
    {"mapname", FIELD_MAP, 2},
    {"current_map", FIELD_MAP, 3},
    {"weapon", FIELD_WEAPON, 0},
    {"new_weapon", FIELD_WEAPON, 1},
    {"projectile", FIELD_WEAPON, 2},
    {"inflictor", FIELD_WEAPON, 3},
    {"old_weapon", FIELD_OLD_WEAPON, 0},
    {"mod", FIELD_MEANS_OF_DEATH, 0},
    {"means_of_death", FIELD_MEANS_OF_DEATH, 1},
    {"method", FIELD_MEANS_OF_DEATH, 2},
    {"hitloc", FIELD_HITLOC, 0},
    {"damage", FIELD_DAMAGE, 0},
    {"walked", FIELD_DISTANCE, 0},
    {"delta_distance", FIELD_DISTANCE, 1},
    {"distance", FIELD_DISTANCE, 2}, /* on `distance` events this key is the running total: see event_row.c */
    {"total_distance", FIELD_TOTAL_DISTANCE, 0},
    {"count", FIELD_AMOUNT, 0},
    {"amount", FIELD_AMOUNT, 1},
    {"jump_height", FIELD_AMOUNT, 2},
    {"fall_height", FIELD_AMOUNT, 3},
    {"health_restored", FIELD_AMOUNT, 4},
    {"armor_amount", FIELD_AMOUNT, 5},
    {"ammo_count", FIELD_AMOUNT, 6},
    {"ammo_remaining", FIELD_AMOUNT, 7},
    {"delta", FIELD_AMOUNT, 8},
    {"score_delta", FIELD_AMOUNT, 9},
    {"teamkill_count", FIELD_AMOUNT, 10},
    {"message", FIELD_MESSAGE, 0},
    {"vote_string", FIELD_MESSAGE, 1},
    {"fail_reason", FIELD_MESSAGE, 2},
    {"reason", FIELD_MESSAGE, 3},
    {"command", FIELD_MESSAGE, 4},
    {"item_name", FIELD_ITEM, 0},
    {"item", FIELD_ITEM, 1},
    {"objective_name", FIELD_ITEM, 2},
    {"objective", FIELD_ITEM, 3},
    {"objective_id", FIELD_ITEM, 4},
    {"objective_index", FIELD_ITEM, 5},
    {"vote_name", FIELD_ITEM, 6},
    {"vote_type", FIELD_ITEM, 7},
    {"vehicle", FIELD_ITEM, 8},
    {"turret", FIELD_ITEM, 9},
    {"entity", FIELD_ITEM, 10},
    {"door", FIELD_ITEM, 11},
    {"object", FIELD_ITEM, 12},
    {"ammo_type", FIELD_ITEM, 13},
    {"bot_id", FIELD_ITEM, 14},
    {"score_type", FIELD_ITEM, 15},
    {"new_team", FIELD_TEAM, 0},
    {"winning_team", FIELD_TEAM, 1},
    {"winner", FIELD_TEAM, 2},
    {"teamnum", FIELD_TEAM, 3},
    {"capturing_team", FIELD_TEAM, 4},
    {"to_team", FIELD_TEAM, 5},
    {"team", FIELD_TEAM, 6},
    {"gametype", FIELD_GAMETYPE, 0},
    {"game_type", FIELD_GAMETYPE, 1},
    {"g_gametype", FIELD_GAMETYPE, 2},
    {"round_number", FIELD_ROUND, 0},
    {"allies_score", FIELD_ALLIES_SCORE, 0},
    {"allied_score", FIELD_ALLIES_SCORE, 1},
    {"axis_score", FIELD_AXIS_SCORE, 0},
    {"player_count", FIELD_PLAYER_COUNT, 0},
    {"players", FIELD_PLAYER_COUNT, 1},
    {"door_state", FIELD_DOOR_STATE, 0},
    {"state", FIELD_DOOR_STATE, 1},
    /* Known fields with no column of their own; raw keeps them (queryd reads the few it needs). */
    {"is_team", FIELD_RAW_ONLY, 0},
    {"team_only", FIELD_RAW_ONLY, 0},
    {"fired", FIELD_RAW_ONLY, 0},
    {"hits", FIELD_RAW_ONLY, 0},
    {"shots_fired", FIELD_RAW_ONLY, 0},
    {"shots_hit", FIELD_RAW_ONLY, 0},
    {"accuracy", FIELD_RAW_ONLY, 0},
    {"old_team", FIELD_RAW_ONLY, 0},
    {"from_team", FIELD_RAW_ONLY, 0},
    {"yes_count", FIELD_RAW_ONLY, 0},
    {"no_count", FIELD_RAW_ONLY, 0},
    {"yes_votes", FIELD_RAW_ONLY, 0},
    {"no_votes", FIELD_RAW_ONLY, 0},
    {"vote_target", FIELD_RAW_ONLY, 0},
    {"new_total", FIELD_RAW_ONLY, 0},
    {"new_score", FIELD_RAW_ONLY, 0},
    {"score", FIELD_RAW_ONLY, 0},
    {"timelimit", FIELD_RAW_ONLY, 0},
    {"fraglimit", FIELD_RAW_ONLY, 0},
    {"maxclients", FIELD_RAW_ONLY, 0},
    {"max_players", FIELD_RAW_ONLY, 0},
    {"duration", FIELD_RAW_ONLY, 0},
    {"total_rounds", FIELD_RAW_ONLY, 0},
    {"next_map", FIELD_RAW_ONLY, 0},
    {"from_map", FIELD_RAW_ONLY, 0},
    {"to_map", FIELD_RAW_ONLY, 0},
    {"load_time", FIELD_RAW_ONLY, 0},
    {"objective_status", FIELD_RAW_ONLY, 0},
    {"status", FIELD_RAW_ONLY, 0},
    {"progress", FIELD_RAW_ONLY, 0},
    {"frozen_state", FIELD_RAW_ONLY, 0},
    {"smf_member_id", FIELD_RAW_ONLY, 0},
    {"smf_member_name", FIELD_RAW_ONLY, 0},
    {"smf_id", FIELD_RAW_ONLY, 0},
    {"claimed_id", FIELD_RAW_ONLY, 0},
    {"code", FIELD_RAW_ONLY, 0},
    {"client_num", FIELD_RAW_ONLY, 0},
    {"sprinted", FIELD_RAW_ONLY, 0},
    {"swam", FIELD_RAW_ONLY, 0},
    {"driven", FIELD_RAW_ONLY, 0},
    {"location", FIELD_RAW_ONLY, 0},
    {"radius", FIELD_RAW_ONLY, 0},
    {"speed", FIELD_RAW_ONLY, 0},
    {"seat", FIELD_RAW_ONLY, 0},
    {"position", FIELD_RAW_ONLY, 0},
    {"from_vehicle", FIELD_RAW_ONLY, 0},
    {"to_vehicle", FIELD_RAW_ONLY, 0},
    {"driver_guid", FIELD_RAW_ONLY, 0},
    {"destroyer_guid", FIELD_RAW_ONLY, 0},
    {"opener_guid", FIELD_RAW_ONLY, 0},
    {"actor_id", FIELD_RAW_ONLY, 0},
    {"actor_type", FIELD_RAW_ONLY, 0},
    {"match_outcome", FIELD_RAW_ONLY, 0},
    {"ip", FIELD_ADDRESS, 0}, /* connect: the player's address, "a.b.c.d:port" as the engine writes it */
    {"name", FIELD_RAW_ONLY, 0},
    {"idle_time", FIELD_RAW_ONLY, 0},
    {"version", FIELD_RAW_ONLY, 0},
    {"protocol", FIELD_RAW_ONLY, 0},
    {"cpu_usage", FIELD_RAW_ONLY, 0},
    {"executor", FIELD_RAW_ONLY, 0},
    {"capturing_player", FIELD_RAW_ONLY, 0},
    {"ammo_amount", FIELD_RAW_ONLY, 0},
};

/* Player block keys: a prefix naming the block and a suffix naming the field ("attacker_yaw"). */
static const struct {
    const char *prefix;
    event_block block;
} block_prefixes[] = {
    {"player_", BLOCK_PLAYER}, {"attacker_", BLOCK_ATTACKER}, {"killer_", BLOCK_KILLER},
    {"victim_", BLOCK_VICTIM}, {"target_", BLOCK_TARGET},
};
static const struct {
    const char *suffix;
    event_block_field field;
} block_suffixes[] = {
    {"name", BF_NAME}, {"guid", BF_GUID}, {"smf_id", BF_SMF_ID}, {"team", BF_TEAM}, {"x", BF_X},
    {"y", BF_Y},       {"z", BF_Z},       {"pitch", BF_PITCH},   {"yaw", BF_YAW},   {"stance", BF_STANCE},
};
/* Fields of the old Go fixtures that describe the acting player. */
static const struct {
    const char *key;
    event_block_field field;
} block_loose[] = {{"pos_x", BF_X}, {"pos_y", BF_Y}, {"pos_z", BF_Z}, {"aim_pitch", BF_PITCH}, {"aim_yaw", BF_YAW}};

#define NFIELDS (sizeof field_table / sizeof field_table[0])
#define NTYPE_KEYS (sizeof event_types / sizeof event_types[0] + sizeof type_aliases / sizeof type_aliases[0])
#define NBLOCK_KEYS                                                                                                    \
    (sizeof block_prefixes / sizeof block_prefixes[0] * (sizeof block_suffixes / sizeof block_suffixes[0]) +           \
     sizeof block_loose / sizeof block_loose[0])

/* A hash index over the keys of a table, built once: every wire field of every event is looked up, so
 * this is one hash and (nearly always) one comparison instead of a binary search. Open addressing with
 * linear probing; the sizes keep each index at most half full, so probes stay short and end on an
 * empty slot. */
typedef struct {
    const char *key; /* NULL: empty slot */
    size_t len;
    int value;
} key_slot;

#define FIELD_SLOTS 512
#define TYPE_SLOTS 256
#define BLOCK_SLOTS 128
_Static_assert(NFIELDS * 2 <= FIELD_SLOTS && NTYPE_KEYS * 2 <= TYPE_SLOTS && NBLOCK_KEYS * 2 <= BLOCK_SLOTS,
               "a key index more than half full: double its slots");

static key_slot field_index[FIELD_SLOTS]; /* wire key -> field_table entry */
static key_slot type_index[TYPE_SLOTS];   /* type name or alias -> event_types entry */
static key_slot block_index[BLOCK_SLOTS]; /* block key -> block * BF__COUNT + field */
static unsigned type_flag_bits[sizeof event_types / sizeof event_types[0]]; /* event_types entry -> flags */
static char block_keys[NBLOCK_KEYS][24];  /* the composed block keys the index points to */
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* Add key -> value to an index of nslots (a power of two). Keys are unique in every table. */
static void index_put(key_slot *slots, size_t nslots, const char *key, int value)
{
    size_t len = strlen(key);
    size_t i = (size_t)hash_fnv1a(key, len) & (nslots - 1);
    while (slots[i].key)
        i = (i + 1) & (nslots - 1);
    slots[i] = (key_slot){key, len, value};
}

/* The value of (key, len) in an index; -1 if absent. */
static int index_find(const key_slot *slots, size_t nslots, const char *key, size_t len)
{
    for (size_t i = (size_t)hash_fnv1a(key, len) & (nslots - 1); slots[i].key; i = (i + 1) & (nslots - 1))
        if (slots[i].len == len && memcmp(slots[i].key, key, len) == 0)
            return slots[i].value;
    return -1;
}

/* Build the lookup indexes once. */
static void tables_init(void)
{
    for (size_t i = 0; i < NFIELDS; i++)
        index_put(field_index, FIELD_SLOTS, field_table[i].key, (int)i);
    for (size_t i = 0; i < event_types_count; i++)
        index_put(type_index, TYPE_SLOTS, event_types[i].name, (int)i);
    for (size_t i = 0; i < sizeof type_aliases / sizeof type_aliases[0]; i++) {
        const char *canon = type_aliases[i].canonical;
        for (size_t t = 0; t < event_types_count; t++)
            if (strcmp(event_types[t].name, canon) == 0)
                index_put(type_index, TYPE_SLOTS, type_aliases[i].alias, (int)t);
    }
    for (size_t i = 0; i < sizeof type_flags / sizeof type_flags[0]; i++)
        for (size_t t = 0; t < event_types_count; t++)
            if (strcmp(event_types[t].name, type_flags[i].type) == 0)
                type_flag_bits[t] |= type_flags[i].flags;
    size_t n = 0;
    for (size_t p = 0; p < sizeof block_prefixes / sizeof block_prefixes[0]; p++)
        for (size_t f = 0; f < sizeof block_suffixes / sizeof block_suffixes[0]; f++) {
            snprintf(block_keys[n], sizeof block_keys[n], "%s%s", block_prefixes[p].prefix, block_suffixes[f].suffix);
            index_put(block_index, BLOCK_SLOTS, block_keys[n++],
                      (int)block_prefixes[p].block * BF__COUNT + (int)block_suffixes[f].field);
        }
    for (size_t i = 0; i < sizeof block_loose / sizeof block_loose[0]; i++)
        index_put(block_index, BLOCK_SLOTS, block_loose[i].key,
                  (int)BLOCK_PLAYER * BF__COUNT + (int)block_loose[i].field);
}

const event_type_def *event_type_resolve(const char *sent, size_t len, bool open_hint)
{
    pthread_once(&tables_once, tables_init);
    static const char door[] = "door_state_change";
    if (len == sizeof door - 1 && memcmp(sent, door, len) == 0)
        return event_type_resolve(open_hint ? "door_open" : "door_close", open_hint ? 9 : 10, false);
    /* Type names are lowercase; the engine's own names are camelCase (player_textMessage). */
    char lower[64];
    if (len >= sizeof lower)
        return NULL;
    for (size_t i = 0; i < len; i++)
        lower[i] = (sent[i] >= 'A' && sent[i] <= 'Z') ? (char)(sent[i] + 32) : sent[i];
    int i = index_find(type_index, TYPE_SLOTS, lower, len);
    return i < 0 ? NULL : &event_types[i];
}

event_field_map event_field_lookup(const char *key, size_t len)
{
    pthread_once(&tables_once, tables_init);
    int i = index_find(field_index, FIELD_SLOTS, key, len);
    if (i < 0)
        return (event_field_map){FIELD_UNKNOWN, 0};
    return (event_field_map){field_table[i].field, field_table[i].priority};
}

const event_block event_actor_blocks[] = {BLOCK_ATTACKER, BLOCK_KILLER, BLOCK_PLAYER, BLOCK_NONE};
const event_block event_target_blocks[] = {BLOCK_VICTIM, BLOCK_TARGET, BLOCK_NONE};

bool event_block_key(const char *key, size_t len, event_block *block, event_block_field *field)
{
    pthread_once(&tables_once, tables_init);
    int v = index_find(block_index, BLOCK_SLOTS, key, len);
    if (v < 0)
        return false;
    *block = (event_block)(v / BF__COUNT);
    *field = (event_block_field)(v % BF__COUNT);
    return true;
}

bool event_type_has(const event_type_def *t, event_flag f)
{
    pthread_once(&tables_once, tables_init);
    if (!t || t < event_types || t >= event_types + event_types_count)
        return false;
    return (type_flag_bits[t - event_types] & (unsigned)f) != 0;
}

size_t event_type_index(const event_type_def *t)
{
    return (size_t)(t - event_types);
}
