/* The vocabulary of event values, as docs/definitions.md defines it: teams, hit locations, means of death,
 * stances and weapons. Tables in game_vocab.c; every C consumer (achievd, ...) classifies through here, so a
 * headshot or a pistol kill means the same thing everywhere. The team and body-location lists are X-macros, so
 * their SQL spelling is generated here too: VOCAB_SIDE_SQL and VOCAB_HIT_CLASS_SQL are the expressions of
 * raw_events' normalised columns (actor_side, target_side, team_side, hit_class), which
 * schemas/clickhouse/0005_normalised_columns.sql holds verbatim and tests/unit/test_event_model.c pins equal to
 * these macros; views and queries read those columns. The game types (VOCAB_GAME_TYPE_SQL, queryd's GAMETYPE_SQL)
 * and the means of death (VOCAB_MOD_CLASS_SQL) are X-macros too, with their SQL generated here; the views' own
 * means-of-death and stance lists and queryd's WEAPON_CLASS_SQL (queryd/stats.h) are pinned equal to these tables
 * by the same test. */
#ifndef MOHSTATS_GAME_VOCAB_H
#define MOHSTATS_GAME_VOCAB_H

#include <stdbool.h>

/* Teams: american/allies/allied -> allies, german/axis -> axis; nothing else is a side. The one list of team
 * names is this X-macro, X(sent, side name, side) with SEP between entries: the C table (game_vocab.c) and the
 * SQL arrays below are generated from it, so queryd's pages and its SQL count the same teams. Names are
 * matched case-insensitively, as the SQL's lower() does. */
typedef enum { SIDE_NONE, SIDE_ALLIES, SIDE_AXIS } team_side;
#define VOCAB_TEAMS(X, SEP)                                                                                            \
    X("american", "allies", SIDE_ALLIES)                                                                               \
    SEP X("allies", "allies", SIDE_ALLIES)                                                                             \
    SEP X("allied", "allies", SIDE_ALLIES)                                                                             \
    SEP X("german", "axis", SIDE_AXIS)                                                                                 \
    SEP X("axis", "axis", SIDE_AXIS)
team_side vocab_team_side(const char *team);
/* "allies", "axis", or "" for SIDE_NONE. */
const char *vocab_team_side_name(team_side side);

/* The team list as SQL arrays for transform(): the names as sent, and the side name of each. */
#define VOCAB_TEAM_SENT_SQL_(sent, name, side) "'" sent "'"
#define VOCAB_TEAM_SIDE_SQL_(sent, name, side) "'" name "'"
#define VOCAB_TEAM_NAMES_SQL "[" VOCAB_TEAMS(VOCAB_TEAM_SENT_SQL_, ", ") "]"
#define VOCAB_TEAM_SIDES_SQL "[" VOCAB_TEAMS(VOCAB_TEAM_SIDE_SQL_, ", ") "]"
/* SQL: the side of the team in column col: 'allies', 'axis', or '' (what vocab_team_side_name says). */
#define VOCAB_SIDE_SQL(col) "transform(lower(" col "), " VOCAB_TEAM_NAMES_SQL ", " VOCAB_TEAM_SIDES_SQL ", '')"

/* Hit locations (the engine's names, docs/tracker-wire.md §2.3) and their classes. */
typedef enum {
    HIT_NONE,   /* miss, general, unknown, empty: not a body part */
    HIT_HEAD,   /* head, helmet, neck: a headshot */
    HIT_TORSO,  /* torso_upper, torso_mid, torso_lower */
    HIT_PELVIS, /* pelvis (the "nutshot") */
    HIT_ARM,    /* *_arm_upper, *_arm_lower */
    HIT_HAND,   /* r_hand, l_hand */
    HIT_LEG,    /* *_leg_upper, *_leg_lower */
    HIT_FOOT,   /* r_foot, l_foot */
} hit_class;
/* The engine's 19 body locations in its own order: X(name, class, class name) with SEP between entries. The
 * class name is spelled beside the enum so the SQL array below can be generated; test_event_model.c checks
 * each equals vocab_hit_class_name(class). */
// clang-format off
#define VOCAB_BODY_PART_LIST(X, SEP)                                                                                   \
    X("head", HIT_HEAD, "head")                                                                                        \
    SEP X("helmet", HIT_HEAD, "head")                                                                                  \
    SEP X("neck", HIT_HEAD, "head")                                                                                    \
    SEP X("torso_upper", HIT_TORSO, "torso")                                                                           \
    SEP X("torso_mid", HIT_TORSO, "torso")                                                                             \
    SEP X("torso_lower", HIT_TORSO, "torso")                                                                           \
    SEP X("pelvis", HIT_PELVIS, "pelvis")                                                                              \
    SEP X("r_arm_upper", HIT_ARM, "arm")                                                                               \
    SEP X("l_arm_upper", HIT_ARM, "arm")                                                                               \
    SEP X("r_leg_upper", HIT_LEG, "leg")                                                                               \
    SEP X("l_leg_upper", HIT_LEG, "leg")                                                                               \
    SEP X("r_arm_lower", HIT_ARM, "arm")                                                                               \
    SEP X("l_arm_lower", HIT_ARM, "arm")                                                                               \
    SEP X("r_leg_lower", HIT_LEG, "leg")                                                                               \
    SEP X("l_leg_lower", HIT_LEG, "leg")                                                                               \
    SEP X("r_hand", HIT_HAND, "hand")                                                                                  \
    SEP X("l_hand", HIT_HAND, "hand")                                                                                  \
    SEP X("r_foot", HIT_FOOT, "foot")                                                                                  \
    SEP X("l_foot", HIT_FOOT, "foot")
// clang-format on
hit_class vocab_hit_class(const char *hitloc);
/* The class's name as the hit_class column holds it: "head", "torso", "pelvis", "arm", "hand", "leg", "foot",
 * or "" for HIT_NONE. */
const char *vocab_hit_class_name(hit_class c);
/* The body part's index among the engine's 19 body locations (head .. l_foot), or -1 for HIT_NONE ones. */
int vocab_hit_index(const char *hitloc);
#define VOCAB_BODY_PARTS 19
/* The engine's name of body location index (0 .. VOCAB_BODY_PARTS - 1), NULL outside. */
const char *vocab_hit_name(int index);

/* SQL: the hit-location class of column col, as vocab_hit_class_name(vocab_hit_class(col)) says. */
#define VOCAB_HIT_NAME_SQL_(name, cls, cls_name) "'" name "'"
#define VOCAB_HIT_CLASS_SQL_(name, cls, cls_name) "'" cls_name "'"
#define VOCAB_HIT_NAMES_SQL "[" VOCAB_BODY_PART_LIST(VOCAB_HIT_NAME_SQL_, ", ") "]"
#define VOCAB_HIT_CLASSES_SQL "[" VOCAB_BODY_PART_LIST(VOCAB_HIT_CLASS_SQL_, ", ") "]"
#define VOCAB_HIT_CLASS_SQL(col) "transform(lower(" col "), " VOCAB_HIT_NAMES_SQL ", " VOCAB_HIT_CLASSES_SQL ", '')"

/* Means of death, lower-cased and without a "MOD_" prefix, as classes the stats use. bash and impale are classes of
 * their own: a bash kill (docs/definitions.md) is `bash` alone, while achievd's melee kill (docs/achievements.md) is
 * either, or a melee weapon. */
typedef enum {
    MOD_CLASS_OTHER,
    MOD_CLASS_BULLET,    /* bullet, fast_bullet, shotgun (and the fixtures' pistol/rifle/...) */
    MOD_CLASS_GRENADE,   /* grenade */
    MOD_CLASS_EXPLOSION, /* explosion, explodewall, rocket, landmine, aagun */
    MOD_CLASS_BASH,      /* bash: a rifle butt or pistol whip */
    MOD_CLASS_IMPALE,    /* impale */
    MOD_CLASS_VEHICLE,   /* vehicle, roadkill */
    MOD_CLASS_TELEFRAG,  /* telefrag */
    MOD_CLASS_CRUSH,     /* crush, crush_every_frame */
    MOD_CLASS_FALLING,   /* falling */
    MOD_CLASS_DROWN,     /* drown, water, slime, lava, electricwater: the world's liquids */
    MOD_CLASS_SUICIDE,   /* suicide */
} mod_class;
/* The means of death and their classes: X(name, class, class name), SEP between entries. The class name is what
 * VOCAB_MOD_CLASS_SQL gives; the views' own lists (schemas/clickhouse/0002, 0005: md = 'bash', md IN ('vehicle',
 * 'roadkill'), ...) are pinned equal to these classes by tests/unit/test_event_model.c. */
// clang-format off
#define VOCAB_MODS(X, SEP)                                                                                             \
    X("bullet", MOD_CLASS_BULLET, "bullet") SEP X("fast_bullet", MOD_CLASS_BULLET, "bullet")                           \
    SEP X("shotgun", MOD_CLASS_BULLET, "bullet") SEP X("pistol", MOD_CLASS_BULLET, "bullet")                           \
    SEP X("rifle", MOD_CLASS_BULLET, "bullet") SEP X("smg", MOD_CLASS_BULLET, "bullet")                                \
    SEP X("sniper", MOD_CLASS_BULLET, "bullet") SEP X("grenade", MOD_CLASS_GRENADE, "grenade")                         \
    SEP X("explosion", MOD_CLASS_EXPLOSION, "explosion") SEP X("explodewall", MOD_CLASS_EXPLOSION, "explosion")        \
    SEP X("rocket", MOD_CLASS_EXPLOSION, "explosion") SEP X("landmine", MOD_CLASS_EXPLOSION, "explosion")              \
    SEP X("aagun", MOD_CLASS_EXPLOSION, "explosion") SEP X("bash", MOD_CLASS_BASH, "bash")                             \
    SEP X("impale", MOD_CLASS_IMPALE, "impale") SEP X("vehicle", MOD_CLASS_VEHICLE, "vehicle")                         \
    SEP X("roadkill", MOD_CLASS_VEHICLE, "vehicle") SEP X("telefrag", MOD_CLASS_TELEFRAG, "telefrag")                  \
    SEP X("crush", MOD_CLASS_CRUSH, "crush") SEP X("crush_every_frame", MOD_CLASS_CRUSH, "crush")                      \
    SEP X("falling", MOD_CLASS_FALLING, "falling") SEP X("drown", MOD_CLASS_DROWN, "drown")                            \
    SEP X("water", MOD_CLASS_DROWN, "drown") SEP X("slime", MOD_CLASS_DROWN, "drown")                                  \
    SEP X("lava", MOD_CLASS_DROWN, "drown") SEP X("electricwater", MOD_CLASS_DROWN, "drown")                           \
    SEP X("suicide", MOD_CLASS_SUICIDE, "suicide")
// clang-format on
mod_class vocab_mod_class(const char *mod);
/* The class's name as VOCAB_MOD_CLASS_SQL gives it ("other" for MOD_CLASS_OTHER). */
const char *vocab_mod_class_name(mod_class c);
/* Whether mod names a rocket (rocket, bazooka/panzerschreck projectiles). */
bool vocab_mod_is_rocket(const char *mod);

/* SQL: the class name of the means of death in column col, as vocab_mod_class_name(vocab_mod_class(col)) says. */
// clang-format off
#define VOCAB_MOD_NAME_SQL_(name, cls, cls_name) "'" name "'"
#define VOCAB_MOD_CLASS_NAME_SQL_(name, cls, cls_name) "'" cls_name "'"
#define VOCAB_MOD_CLASS_SQL(col)                                                                                       \
    "transform(replaceRegexpOne(lower(" col "), '^mod_', ''), [" VOCAB_MODS(VOCAB_MOD_NAME_SQL_, ", ") "], ["          \
    VOCAB_MODS(VOCAB_MOD_CLASS_NAME_SQL_, ", ") "], 'other')"
// clang-format on

/* Stances: stand[ing], crouch[ing], prone, as X(name, kind), SEP between entries (the views' lists are pinned to it
 * like the means of death's). */
typedef enum { STANCE_UNKNOWN, STANCE_STAND, STANCE_CROUCH, STANCE_PRONE } stance_kind;
// clang-format off
#define VOCAB_STANCES(X, SEP)                                                                                          \
    X("stand", STANCE_STAND) SEP X("standing", STANCE_STAND) SEP X("crouch", STANCE_CROUCH)                            \
    SEP X("crouching", STANCE_CROUCH) SEP X("prone", STANCE_PRONE)
// clang-format on
stance_kind vocab_stance(const char *stance);

/* Weapon classes from the weapon string: the first class whose patterns match, in table order (sniper
 * before rifle: "KAR98 Sniper" is a sniper rifle). */
typedef enum {
    WCLASS_OTHER,
    WCLASS_SNIPER,
    WCLASS_EXPLOSIVE,
    WCLASS_SHOTGUN,
    WCLASS_SMG,
    WCLASS_ASSAULT,
    WCLASS_RIFLE,
    WCLASS_PISTOL,
    WCLASS_MELEE,
    WCLASS__COUNT
} weapon_class;
weapon_class vocab_weapon_class(const char *weapon);
const char *vocab_weapon_class_name(weapon_class c);
/* The substring patterns of class c, NULL-terminated (none for WCLASS_OTHER). */
const char *const *vocab_weapon_class_patterns(weapon_class c);

/* The forum catalogue's weapon names (weapon_kills_<name>) and the engine strings they stand for. */
typedef enum {
    WFAM_NONE = -1,
    WFAM_THOMPSON,
    WFAM_KAR98K,
    WFAM_GARAND,
    WFAM_MP40,
    WFAM_BAR,
    WFAM_STG44,
    WFAM_SPRINGFIELD,
    WFAM__COUNT
} weapon_family;
weapon_family vocab_weapon_family(const char *weapon);
const char *vocab_weapon_family_name(weapon_family f);
/* The family a catalogue name ("thompson", "kar98k", ...) stands for, or WFAM_NONE. */
weapon_family vocab_weapon_family_by_name(const char *name);

/* Game types (docs/definitions.md, "Game type"): a match's type is the gameflow events' gametype when it names one
 * (the engine's number or a name, case-insensitive), else the map name's prefix (letters before the first '/' or
 * '_': dm/mohdm1, obj_team2) when it is a type's id and that type is found by map, else unknown. queryd's SQL
 * (VOCAB_GAME_TYPE_SQL, through GAMETYPE_SQL in queryd/stats.h) and ratingd (vocab_game_type) both read these two
 * lists; tests/unit/test_event_model.c pins the SQL to them.
 *
 * The types: X(id, rating family, BY_MAP or NOT_BY_MAP), SEP between entries. The family is the one
 * docs/ratings.md rates the type in. rb (round-based: team rounds without respawn) is rated with the objective
 * types, as docs/ratings.md has it: like obj, tow and lib a match of it is a series of rounds a side wins, where a
 * tdm match is one kill count. rb is NOT_BY_MAP: definitions.md names no rb map prefix and the stock game ships
 * no rb_ maps; until 2026-12-08 ratingd alone read an "rb_" map as rb while queryd's SQL said other. */
#define VOCAB_GAME_TYPES(X, SEP)                                                                                       \
    X("dm", "ffa", BY_MAP)                                                                                             \
    SEP X("tdm", "team", BY_MAP)                                                                                       \
    SEP X("rb", "objective", NOT_BY_MAP)                                                                               \
    SEP X("obj", "objective", BY_MAP)                                                                                  \
    SEP X("tow", "objective", BY_MAP)                                                                                  \
    SEP X("lib", "objective", BY_MAP)                                                                                  \
    SEP X("ctf", "objective", BY_MAP)
/* The gametype values that name a type: X(sent, id), lower case, SEP between entries. */
// clang-format off
#define VOCAB_GAME_TYPE_NAMES(X, SEP)                                                                                  \
    X("1", "dm") SEP X("dm", "dm") SEP X("ffa", "dm") SEP X("freeforall", "dm") SEP X("free-for-all", "dm")           \
    SEP X("deathmatch", "dm")                                                                                          \
    SEP X("2", "tdm") SEP X("tdm", "tdm") SEP X("team", "tdm") SEP X("teamdeathmatch", "tdm")                          \
    SEP X("team-deathmatch", "tdm")                                                                                    \
    SEP X("3", "rb") SEP X("rb", "rb") SEP X("round", "rb") SEP X("roundbased", "rb") SEP X("round-based", "rb")       \
    SEP X("4", "obj") SEP X("obj", "obj") SEP X("objective", "obj")                                                    \
    SEP X("5", "tow") SEP X("tow", "tow") SEP X("tug-of-war", "tow")                                                   \
    SEP X("6", "lib") SEP X("lib", "lib") SEP X("liberation", "lib")                                                   \
    SEP X("ctf", "ctf")
// clang-format on
/* A match's game type id ("dm", "tdm", "rb", "obj", "tow", "lib", "ctf"), or "" when unknown (the SQL's 'other'),
 * from its gameflow events' gametype ("" or NULL: none) and its map name. Static strings. */
const char *vocab_game_type(const char *gametype, const char *map);
/* The rating family of a game type id: "ffa", "team", "objective", or "" for "" and unknown ids. */
const char *vocab_game_type_family(const char *id);

/* SQL: the game type id of a match from its gametype (column expression gt) and map name (column expression map),
 * as vocab_game_type says but 'other' for unknown. A type's map prefix gives 'other' when it is NOT_BY_MAP. */
// clang-format off
#define VOCAB_GT_SENT_SQL_(sent, id) "'" sent "'"
#define VOCAB_GT_ID_SQL_(sent, id) "'" id "'"
#define VOCAB_GT_TYPE_SQL_(id, family, by_map) "'" id "'"
#define VOCAB_GT_BY_MAP_SQL_BY_MAP(id) "'" id "'"
#define VOCAB_GT_BY_MAP_SQL_NOT_BY_MAP(id) "'other'"
#define VOCAB_GT_PREFIX_SQL_(id, family, by_map) VOCAB_GT_BY_MAP_SQL_##by_map(id)
#define VOCAB_GAME_TYPE_SQL(gt, map)                                                                                   \
    "transform(lower(" gt "), [" VOCAB_GAME_TYPE_NAMES(VOCAB_GT_SENT_SQL_, ", ") "], ["                                \
    VOCAB_GAME_TYPE_NAMES(VOCAB_GT_ID_SQL_, ", ") "], if(" gt " != '', 'other', "                                      \
    "transform(extract(lower(" map "), '^([a-z]+)[/_]'), [" VOCAB_GAME_TYPES(VOCAB_GT_TYPE_SQL_, ", ") "], ["          \
    VOCAB_GAME_TYPES(VOCAB_GT_PREFIX_SQL_, ", ") "], 'other')))"
// clang-format on

/* 1 game unit = 1 inch = 0.0254 m (docs/definitions.md, Movement). */
#define VOCAB_METRES_PER_UNIT 0.0254

/* SQL over raw_events rows of player_kill: the kill is a kill by the definitions (another player, not a
 * team mate). actor_side and target_side are raw_events' normalised columns (schemas/clickhouse/0005): 'allies',
 * 'axis' or '' as the team table above says. Shared by queryd, ratingd and achievd: one spelling of
 * the kill rule in SQL, beside the C one (docs/definitions.md). */
#define ENEMY_KILL_SQL                                                                                                 \
    "(actor_guid != '' AND target_guid != '' AND actor_guid != target_guid"                                            \
    " AND NOT (actor_side != '' AND actor_side = target_side))"

/* SQL over raw_events or player_fights, which both have the normalised hit_class column (schemas/clickhouse/0005):
 * a headshot, a torso hit (pelvis included) and a limb hit. The class names are vocab_hit_class_name()'s
 * (tests/unit/test_event_model.c pins them). */
#define HEADSHOT_SQL "hit_class = 'head'"
#define TORSO_HIT_SQL "hit_class IN ('torso', 'pelvis')"
#define LIMB_HIT_SQL "hit_class IN ('arm', 'hand', 'leg', 'foot')"

#endif
