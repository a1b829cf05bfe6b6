/* The event value vocabulary as tables (docs/definitions.md): each lookup is a scan of a short table. */
#include "game_vocab.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

#define VOCAB_TEAM_ROW_(sent, name, side) {sent, side},
static const struct {
    const char *name;
    team_side side;
} teams[] = {VOCAB_TEAMS(VOCAB_TEAM_ROW_, )};

team_side vocab_team_side(const char *team)
{
    for (size_t i = 0; team && i < COUNT(teams); i++)
        if (strcasecmp(team, teams[i].name) == 0)
            return teams[i].side;
    return SIDE_NONE;
}

const char *vocab_team_side_name(team_side side)
{
    return side == SIDE_ALLIES ? "allies" : side == SIDE_AXIS ? "axis" : "";
}

/* The engine's 19 body locations in its own order, with their classes. */
#define VOCAB_BODY_PART_ROW_(name, cls, cls_name) {name, cls},
static const struct {
    const char *name;
    hit_class cls;
} body_parts[VOCAB_BODY_PARTS] = {VOCAB_BODY_PART_LIST(VOCAB_BODY_PART_ROW_, )};

const char *vocab_hit_class_name(hit_class c)
{
    static const char *const names[] = {
        [HIT_NONE] = "",   [HIT_HEAD] = "head", [HIT_TORSO] = "torso", [HIT_PELVIS] = "pelvis",
        [HIT_ARM] = "arm", [HIT_HAND] = "hand", [HIT_LEG] = "leg",     [HIT_FOOT] = "foot",
    };
    return (size_t)c < COUNT(names) ? names[c] : "";
}

int vocab_hit_index(const char *hitloc)
{
    for (int i = 0; hitloc && i < VOCAB_BODY_PARTS; i++)
        if (strcasecmp(hitloc, body_parts[i].name) == 0)
            return i;
    return -1;
}

const char *vocab_hit_name(int index)
{
    return index >= 0 && index < VOCAB_BODY_PARTS ? body_parts[index].name : NULL;
}

hit_class vocab_hit_class(const char *hitloc)
{
    int i = vocab_hit_index(hitloc);
    return i < 0 ? HIT_NONE : body_parts[i].cls;
}

/* A means of death without its optional "MOD_" prefix (case-insensitive). */
static const char *mod_base(const char *mod)
{
    return mod && strncasecmp(mod, "mod_", 4) == 0 ? mod + 4 : mod;
}

#define VOCAB_MOD_ROW_(name, cls, cls_name) {name, cls, cls_name},
static const struct {
    const char *name;
    mod_class cls;
    const char *cls_name;
} mods[] = {VOCAB_MODS(VOCAB_MOD_ROW_, )};

mod_class vocab_mod_class(const char *mod)
{
    const char *m = mod_base(mod);
    for (size_t i = 0; m && i < COUNT(mods); i++)
        if (strcasecmp(m, mods[i].name) == 0)
            return mods[i].cls;
    return MOD_CLASS_OTHER;
}

const char *vocab_mod_class_name(mod_class c)
{
    for (size_t i = 0; i < COUNT(mods); i++)
        if (mods[i].cls == c)
            return mods[i].cls_name;
    return "other";
}

bool vocab_mod_is_rocket(const char *mod)
{
    const char *m = mod_base(mod);
    return m && strcasecmp(m, "rocket") == 0;
}

#define VOCAB_STANCE_ROW_(name, kind) {name, kind},
static const struct {
    const char *name;
    stance_kind kind;
} stances[] = {VOCAB_STANCES(VOCAB_STANCE_ROW_, )};

stance_kind vocab_stance(const char *stance)
{
    for (size_t i = 0; stance && i < COUNT(stances); i++)
        if (strcasecmp(stance, stances[i].name) == 0)
            return stances[i].kind;
    return STANCE_UNKNOWN;
}

/* Substring patterns per class, in the order they are tried (the same lists as WEAPON_CLASS_SQL). */
static const struct {
    weapon_class cls;
    const char *name;
    const char *patterns[10];
} weapon_classes[] = {
    {WCLASS_SNIPER, "sniper", {"sniper", "springfield", "scope"}},
    {WCLASS_EXPLOSIVE, "explosive", {"grenade", "granate", "bazooka", "panzer", "rocket", "explos", "mine", "tnt"}},
    {WCLASS_SHOTGUN, "shotgun", {"shotgun", "trench"}},
    {WCLASS_SMG, "smg", {"thompson", "mp40", "sten", "ppsh", "smg"}},
    {WCLASS_ASSAULT, "assault", {"bar", "stg", "mp44", "fg42", "mg42", "machine"}},
    {WCLASS_RIFLE, "rifle", {"kar98", "garand", "enfield", "mosin", "svt", "gewehr", "g43", "carbine", "rifle"}},
    {WCLASS_PISTOL, "pistol", {"colt", "p38", "pistol", "webley", "tt33", "luger", "walther", "revolver", "silenced"}},
    {WCLASS_MELEE, "melee", {"bash", "knife", "melee"}},
};

weapon_class vocab_weapon_class(const char *weapon)
{
    for (size_t i = 0; weapon && *weapon && i < COUNT(weapon_classes); i++)
        for (size_t p = 0; p < COUNT(weapon_classes[i].patterns) && weapon_classes[i].patterns[p]; p++)
            if (strcasestr(weapon, weapon_classes[i].patterns[p]))
                return weapon_classes[i].cls;
    return WCLASS_OTHER;
}

const char *vocab_weapon_class_name(weapon_class c)
{
    for (size_t i = 0; i < COUNT(weapon_classes); i++)
        if (weapon_classes[i].cls == c)
            return weapon_classes[i].name;
    return "other";
}

/* The catalogue's names and the engine strings (substrings, case-insensitive) each covers. "bar" must not
 * match "crowbar": the BAR's engine names start with it ("BAR", "bar_mp"). */
static const struct {
    weapon_family fam;
    const char *name;
    const char *contains[4];
    const char *prefix;
} weapon_families[] = {
    {WFAM_THOMPSON, "thompson", {"thompson"}, NULL},
    {WFAM_KAR98K, "kar98k", {"kar98"}, NULL},
    {WFAM_GARAND, "garand", {"garand"}, NULL},
    {WFAM_MP40, "mp40", {"mp40"}, NULL},
    {WFAM_BAR, "bar", {"browning automatic"}, "bar"},
    {WFAM_STG44, "stg44", {"stg44", "stg 44", "mp44"}, NULL},
    {WFAM_SPRINGFIELD, "springfield", {"springfield"}, NULL},
};

weapon_family vocab_weapon_family(const char *weapon)
{
    for (size_t i = 0; weapon && *weapon && i < COUNT(weapon_families); i++) {
        for (size_t p = 0; p < COUNT(weapon_families[i].contains) && weapon_families[i].contains[p]; p++)
            if (strcasestr(weapon, weapon_families[i].contains[p]))
                return weapon_families[i].fam;
        const char *pre = weapon_families[i].prefix;
        if (pre && strncasecmp(weapon, pre, strlen(pre)) == 0)
            return weapon_families[i].fam;
    }
    return WFAM_NONE;
}

const char *vocab_weapon_family_name(weapon_family f)
{
    for (size_t i = 0; i < COUNT(weapon_families); i++)
        if (weapon_families[i].fam == f)
            return weapon_families[i].name;
    return "";
}

weapon_family vocab_weapon_family_by_name(const char *name)
{
    for (size_t i = 0; name && i < COUNT(weapon_families); i++)
        if (strcasecmp(name, weapon_families[i].name) == 0)
            return weapon_families[i].fam;
    return WFAM_NONE;
}

const char *const *vocab_weapon_class_patterns(weapon_class c)
{
    static const char *const none[] = {NULL};
    for (size_t i = 0; i < COUNT(weapon_classes); i++)
        if (weapon_classes[i].cls == c)
            return weapon_classes[i].patterns;
    return none;
}

#define VOCAB_GT_BY_MAP_BY_MAP true
#define VOCAB_GT_BY_MAP_NOT_BY_MAP false
#define VOCAB_GAME_TYPE_ROW_(id, family, by_map) {id, family, VOCAB_GT_BY_MAP_##by_map},
static const struct {
    const char *id, *family;
    bool by_map; /* a map prefix of this id names the type */
} game_types[] = {VOCAB_GAME_TYPES(VOCAB_GAME_TYPE_ROW_, )};

#define VOCAB_GAME_TYPE_NAME_ROW_(sent, id) {sent, id},
static const struct {
    const char *sent, *id;
} game_type_names[] = {VOCAB_GAME_TYPE_NAMES(VOCAB_GAME_TYPE_NAME_ROW_, )};

const char *vocab_game_type(const char *gametype, const char *map)
{
    if (gametype && *gametype) {
        for (size_t i = 0; i < COUNT(game_type_names); i++)
            if (strcasecmp(gametype, game_type_names[i].sent) == 0)
                return game_type_names[i].id;
        return ""; /* a type the server named that we do not know: unknown, never guessed from the map */
    }
    /* The map's prefix: letters up to the first '/' or '_' (dm/mohdm1, obj_team2); longer than any id is none. */
    char prefix[8];
    size_t n = 0;
    for (; map && isalpha((unsigned char)map[n]) && n < sizeof prefix - 1; n++)
        prefix[n] = (char)tolower((unsigned char)map[n]);
    prefix[n] = '\0';
    if (!map || (map[n] != '/' && map[n] != '_'))
        return "";
    for (size_t i = 0; i < COUNT(game_types); i++)
        if (game_types[i].by_map && strcmp(prefix, game_types[i].id) == 0)
            return game_types[i].id;
    return "";
}

const char *vocab_game_type_family(const char *id)
{
    for (size_t i = 0; id && i < COUNT(game_types); i++)
        if (strcmp(id, game_types[i].id) == 0)
            return game_types[i].family;
    return "";
}
