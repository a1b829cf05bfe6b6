/* The event vocabulary in one place: canonical event types, their aliases, and how each wire field
 * maps onto a raw_events column. Data, not code: see the tables in event_model.c. */
#ifndef MOHSTATS_EVENT_MODEL_H
#define MOHSTATS_EVENT_MODEL_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    EVCAT_GAMEFLOW,
    EVCAT_COMBAT,
    EVCAT_SPECIAL_KILL,
    EVCAT_WEAPON,
    EVCAT_GRENADE,
    EVCAT_MOVEMENT,
    EVCAT_INTERACTION,
    EVCAT_ITEM,
    EVCAT_VEHICLE,
    EVCAT_SERVER,
    EVCAT_MAP,
    EVCAT_TEAM_VOTE,
    EVCAT_CLIENT,
    EVCAT_WORLD,
    EVCAT_BOT,
    EVCAT_OBJECTIVE,
    EVCAT_SCORE,
    EVCAT_AUTH,
    EVCAT_INTERNAL,
} event_category;

typedef struct {
    const char *name; /* canonical wire name, e.g. "player_kill" */
    event_category category;
} event_type_def;

/* The canonical types (docs/tracker-wire.md §5: 98 of them, every type the tracker scripts can send). */
extern const event_type_def event_types[];
extern const size_t event_types_count;
/* At least event_types_count (event_model.c asserts it): the size of a table indexed by event_type_index. */
#define EVENT_TYPES_MAX 128

/* What a type means to the code that counts it, so that no C outside the table compares type names. */
typedef enum {
    EVF_KILL = 1 << 0,             /* a player killed a player: the actor scores a kill, the target a death */
    EVF_LEAVE = 1 << 1,            /* the actor left the server */
    EVF_RUNNING_DISTANCE = 1 << 2, /* its "distance" key is the running total; the step is "walked" */
    EVF_CAPTURE = 1 << 3,          /* an objective taken (a flag capture on a match's timeline) */
    EVF_LOGIN = 1 << 4,            /* a guest logged in: the actor is the member they are from now on */
} event_flag;

/* The canonical type names C code and SQL use, spelled once. C passes an EVT_* name to event_type_resolve (never to
 * strcmp); SQL writes the EVT_SQL_* literal ("WHERE event_type = " EVT_SQL_PLAYER_KILL). Each name is in event_types[]
 * with the flags its comment gives, and each EVT_SQL_* quotes its EVT_*: tests/unit/test_event_model.c checks both.
 * Add a name here before C or a query reads a type it names. */
#define EVT_PLAYER_KILL "player_kill"             /* EVF_KILL */
#define EVT_DAMAGE "damage"                       /* no flag */
#define EVT_PLAYER_SPAWN "player_spawn"           /* no flag */
#define EVT_JUMP "jump"                           /* no flag */
#define EVT_CROUCH "crouch"                       /* no flag */
#define EVT_DISTANCE "distance"                   /* EVF_RUNNING_DISTANCE */
#define EVT_LADDER_MOUNT "ladder_mount"           /* no flag */
#define EVT_WEAPON_FIRE "weapon_fire"             /* no flag */
#define EVT_WEAPON_HIT "weapon_hit"               /* no flag */
#define EVT_WEAPON_CHANGE "weapon_change"         /* no flag */
#define EVT_DOOR_OPEN "door_open"                 /* no flag */
#define EVT_CHAT "chat"                           /* no flag */
#define EVT_CONNECT "connect"                     /* no flag */
#define EVT_DISCONNECT "disconnect"               /* EVF_LEAVE */
#define EVT_PLAYER_AUTH "player_auth"             /* EVF_LOGIN */
#define EVT_MATCH_START "match_start"             /* no flag */
#define EVT_MATCH_END "match_end"                 /* no flag */
#define EVT_ROUND_START "round_start"             /* no flag */
#define EVT_ROUND_END "round_end"                 /* no flag */
#define EVT_TEAM_WIN "team_win"                   /* no flag */
#define EVT_OBJECTIVE_CAPTURE "objective_capture" /* EVF_CAPTURE */
/* The same names as SQL string literals. */
#define EVT_SQL_CONNECT "'" EVT_CONNECT "'"
#define EVT_SQL_MATCH_END "'" EVT_MATCH_END "'"
#define EVT_SQL_MATCH_START "'" EVT_MATCH_START "'"
#define EVT_SQL_OBJECTIVE_CAPTURE "'" EVT_OBJECTIVE_CAPTURE "'"
#define EVT_SQL_PLAYER_AUTH "'" EVT_PLAYER_AUTH "'"
#define EVT_SQL_PLAYER_KILL "'" EVT_PLAYER_KILL "'"
#define EVT_SQL_ROUND_END "'" EVT_ROUND_END "'"
#define EVT_SQL_ROUND_START "'" EVT_ROUND_START "'"
#define EVT_SQL_TEAM_WIN "'" EVT_TEAM_WIN "'"
#define EVT_SQL_WEAPON_FIRE "'" EVT_WEAPON_FIRE "'"
#define EVT_SQL_WEAPON_HIT "'" EVT_WEAPON_HIT "'"

/* Whether type t (NULL: unknown) has flag f. */
bool event_type_has(const event_type_def *t, event_flag f);

/* Resolve a type as sent (canonical or alias) to its canonical definition; NULL if unknown.
 * door_state_change depends on the door's state, given as open_hint (true = opened). */
const event_type_def *event_type_resolve(const char *sent, size_t len, bool open_hint);
/* The index of canonical type t in event_types (t from event_type_resolve, not NULL): for tables of a daemon's own
 * meaning of each type, indexed like event_types. */
size_t event_type_index(const event_type_def *t);
const char *event_category_name(event_category c);

/* Which raw_events column a wire field feeds. Player blocks (player_/attacker_/victim_/target_/
 * killer_ + name, guid, smf_id, team, x, y, z, pitch, yaw, stance) are handled by event_block_field. */
typedef enum {
    FIELD_UNKNOWN = 0, /* not in the vocabulary: kept in raw, listed in unknown_fields */
    FIELD_RAW_ONLY,    /* known, no column of its own: kept in raw */
    FIELD_SECRET,      /* credentials a client put in the body: never stored */
    FIELD_IGNORED,     /* known and deliberately not trusted (server_id comes from the token) */
    FIELD_TYPE,
    FIELD_MATCH_ID,
    FIELD_SESSION_ID,
    FIELD_GAME_TIME,
    FIELD_MAP,
    FIELD_WEAPON,
    FIELD_OLD_WEAPON,
    FIELD_MEANS_OF_DEATH,
    FIELD_HITLOC,
    FIELD_DAMAGE,
    FIELD_DISTANCE,
    FIELD_TOTAL_DISTANCE,
    FIELD_AMOUNT,
    FIELD_MESSAGE,
    FIELD_ITEM,
    FIELD_TEAM,
    FIELD_GAMETYPE,
    FIELD_ROUND,
    FIELD_ALLIES_SCORE,
    FIELD_AXIS_SCORE,
    FIELD_PLAYER_COUNT,
    FIELD_DOOR_STATE,
    FIELD_ADDRESS, /* a player's network address: looked up into actor_country at ingest, never stored */
    FIELD__COUNT
} event_field;

typedef struct {
    event_field field;
    int priority; /* several aliases feed one column: the lowest priority present wins */
} event_field_map;

/* Look up a top-level wire key. Never NULL: unknown keys map to FIELD_UNKNOWN. */
event_field_map event_field_lookup(const char *key, size_t len);

/* Player blocks. */
typedef enum { BLOCK_NONE = -1, BLOCK_PLAYER, BLOCK_ATTACKER, BLOCK_KILLER, BLOCK_VICTIM, BLOCK_TARGET, BLOCK__COUNT } event_block;
typedef enum {
    BF_NAME,
    BF_GUID,
    BF_SMF_ID,
    BF_TEAM,
    BF_X,
    BF_Y,
    BF_Z,
    BF_PITCH,
    BF_YAW,
    BF_STANCE,
    BF__COUNT
} event_block_field;

/* Split "attacker_yaw" into (BLOCK_ATTACKER, BF_YAW). Also maps the old fixtures' pos_x/pos_y/pos_z
 * and aim_pitch/aim_yaw onto the player block. Returns false if the key is not a block field. */
bool event_block_key(const char *key, size_t len, event_block *block, event_block_field *field);

/* Which block is the actor and which the target: the first present in these orders. */
extern const event_block event_actor_blocks[];
extern const event_block event_target_blocks[];

#endif
