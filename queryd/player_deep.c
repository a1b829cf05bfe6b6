/* Players: GET /stats/player/{guid}/deep and its parts (combat, movement, stance), and the lists (weapons,
 * matches, maps, game types). Its endpoints are the table at its end. */
#include "player.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- SQL ---- */

// clang-format off
static const char facts_count_sql[] =
    "SELECT count() AS total\n"
    "FROM (SELECT match_key FROM player_match WHERE guid = {guid} GROUP BY match_key)";
// clang-format on

// clang-format off
static const char by_gametype_sql[] =
    "SELECT gametype, count() AS matches_played, sum(won) AS matches_won,\n"
    "       sum(lost) AS matches_lost, sum(kills) AS kills,\n"
    "       sum(deaths) AS deaths, sum(headshots) AS headshots\n"
    "FROM ({facts})\n"
    "GROUP BY gametype\n"
    "ORDER BY matches_played DESC, gametype ASC";
// clang-format on

/* ---- /deep and its parts ---- */

static cJSON *combat_json(qjob *j)
{
    const cJSON *d = job_row(j, 0), *s = job_row(j, 3), *mk = job_row(j, 4);
    cJSON *c = cJSON_CreateObject();
    double kills = row_num(d, "kills"), deaths = row_num(d, "deaths");
    double pct = kills > 0 ? 100 / kills : 0;
    cJSON_AddNumberToObject(c, "kills", kills);
    cJSON_AddNumberToObject(c, "player_kills", kills);
    cJSON_AddNumberToObject(c, "bot_kills", row_num(d, "bot_kills"));
    cJSON_AddNumberToObject(c, "deaths", deaths);
    json_add_round(c, "kd_ratio", deaths > 0 ? kills / deaths : kills, 2);
    cJSON_AddNumberToObject(c, "headshots", row_num(d, "headshots"));
    json_add_round(c, "headshot_percent", row_num(d, "headshots") * pct, 1);
    cJSON_AddNumberToObject(c, "highest_streak", row_num(s, "best_streak"));
    cJSON_AddNumberToObject(c, "best_killstreak", row_num(s, "best_streak"));
    cJSON_AddNumberToObject(c, "streaks_5", row_num(s, "streaks_5"));
    cJSON_AddNumberToObject(c, "streaks_10", row_num(s, "streaks_10"));
    cJSON_AddNumberToObject(c, "streaks_15", row_num(s, "streaks_15"));
    cJSON_AddNumberToObject(c, "streaks_20", row_num(s, "streaks_20"));
    cJSON_AddNumberToObject(c, "streaks_25", row_num(s, "streaks_25"));
    cJSON_AddNumberToObject(c, "double_kills", row_num(mk, "double_kills"));
    cJSON_AddNumberToObject(c, "triple_kills", row_num(mk, "triple_kills"));
    cJSON_AddNumberToObject(c, "quad_kills", row_num(mk, "quad_kills"));
    cJSON_AddNumberToObject(c, "multi_kills", row_num(mk, "multi_kills"));
    json_add_round(c, "multi_kill_rate", row_num(mk, "chained_kills") * pct, 1);
    cJSON_AddNumberToObject(c, "melee_kills", row_num(d, "bash_kills"));
    cJSON_AddNumberToObject(c, "bash_kills", row_num(d, "bash_kills"));
    cJSON_AddNumberToObject(c, "grenade_kills", row_num(d, "grenade_kills"));
    cJSON_AddNumberToObject(c, "grenades_thrown", row_num(d, "grenades_thrown"));
    cJSON_AddNumberToObject(c, "suicides", row_num(d, "suicides"));
    cJSON_AddNumberToObject(c, "team_kills", row_num(d, "teamkills"));
    cJSON_AddNumberToObject(c, "teamkilled", row_num(d, "teamkilled"));
    cJSON_AddNumberToObject(c, "nutshots", row_num(d, "nutshots"));
    cJSON_AddNumberToObject(c, "torso_kills", row_num(d, "torso_kills"));
    cJSON_AddNumberToObject(c, "limb_kills", row_num(d, "limb_kills"));
    json_add_round(c, "torso_percent", row_num(d, "torso_kills") * pct, 1);
    json_add_round(c, "limb_percent", row_num(d, "limb_kills") * pct, 1);
    json_add_round(c, "nutshot_percent", row_num(d, "nutshots") * pct, 1);
    json_add_round(c, "damage_dealt", row_num(d, "damage_dealt"), 0);
    json_add_round(c, "damage_taken", row_num(d, "damage_taken"), 0);
    cJSON_AddNumberToObject(c, "roadkill_kills", row_num(d, "roadkills"));
    cJSON_AddNumberToObject(c, "telefrag_kills", row_num(d, "telefrags"));
    double special =
        row_num(d, "bash_kills") + row_num(d, "grenade_kills") + row_num(d, "roadkills") + row_num(d, "telefrags");
    cJSON_AddNumberToObject(c, "standard_kills", kills - special);
    json_add_round(c, "grenade_percent", row_num(d, "grenade_kills") * pct, 1);
    json_add_round(c, "melee_percent", row_num(d, "bash_kills") * pct, 1);
    cJSON_AddNumberToObject(c, "fall_deaths", row_num(d, "fall_deaths"));
    cJSON_AddNumberToObject(c, "crushed", row_num(d, "crushed"));
    return c;
}

static cJSON *movement_json(qjob *j)
{
    const cJSON *d = job_row(j, 0);
    cJSON *m = cJSON_CreateObject();
    json_add_round(m, "total_distance_km", row_num(d, "distance_units") * UNITS_TO_KM, 2);
    json_add_round(m, "distance_km", row_num(d, "distance_units") * UNITS_TO_KM, 2);
    json_add_round(m, "distance_units", row_num(d, "distance_units"), 0);
    json_add_round(m, "sprinted_km", row_num(d, "sprinted_units") * UNITS_TO_KM, 2);
    json_add_round(m, "swam_km", row_num(d, "swam_units") * UNITS_TO_KM, 2);
    json_add_round(m, "driven_km", row_num(d, "driven_units") * UNITS_TO_KM, 2);
    cJSON_AddNumberToObject(m, "jump_count", row_num(d, "jumps"));
    cJSON_AddNumberToObject(m, "crouch_count", row_num(d, "crouches"));
    cJSON_AddNumberToObject(m, "prone_count", row_num(d, "prones"));
    cJSON_AddNumberToObject(m, "sprint_count", 0);
    cJSON_AddNumberToObject(m, "ladder_count", row_num(d, "ladders"));
    cJSON_AddNumberToObject(m, "spawn_count", row_num(d, "spawns"));
    /* No stand-up event exists, so time per stance cannot be measured (docs/definitions.md): these are
     * the counts the forum's "time" fields have always held. */
    cJSON_AddNumberToObject(m, "time_crouching", row_num(d, "crouches"));
    cJSON_AddNumberToObject(m, "time_prone", row_num(d, "prones"));
    cJSON_AddNumberToObject(m, "time_standing", 0);
    cJSON_AddNumberToObject(m, "crouch_time_sec", row_num(d, "crouches"));
    cJSON_AddNumberToObject(m, "prone_time_sec", row_num(d, "prones"));
    cJSON_AddNumberToObject(m, "sprint_time_sec", 0);
    return m;
}

static cJSON *stance_json(qjob *j)
{
    const cJSON *d = job_row(j, 0);
    cJSON *s = cJSON_CreateObject();
    double st = row_num(d, "standing_kills"), cr = row_num(d, "crouch_kills"), pr = row_num(d, "prone_kills");
    double all = st + cr + pr;
    cJSON_AddNumberToObject(s, "standing_kills", st);
    cJSON_AddNumberToObject(s, "crouch_kills", cr);
    cJSON_AddNumberToObject(s, "prone_kills", pr);
    cJSON_AddNumberToObject(s, "standing_player_kills", st);
    cJSON_AddNumberToObject(s, "crouch_player_kills", cr);
    cJSON_AddNumberToObject(s, "prone_player_kills", pr);
    json_add_round(s, "standing_pct", all > 0 ? st * 100 / all : 0, 1);
    json_add_round(s, "crouch_pct", all > 0 ? cr * 100 / all : 0, 1);
    json_add_round(s, "prone_pct", all > 0 ? pr * 100 / all : 0, 1);
    return s;
}

static void deep_build(qjob *j)
{
    const char *part = player_part(j);
    if (!player_known(j, 2, 0)) {
        player_not_found(j);
        return;
    }
    if (strcmp(part, "combat") == 0) {
        job_answer(j, 200, combat_json(j));
        return;
    }
    if (strcmp(part, "movement") == 0) {
        job_answer(j, 200, movement_json(j));
        return;
    }
    if (strcmp(part, "stance") == 0) {
        job_answer(j, 200, stance_json(j));
        return;
    }
    const cJSON *d = job_row(j, 0), *m = job_row(j, 1);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "combat", combat_json(j));
    cJSON_AddItemToObject(o, "movement", movement_json(j));

    cJSON *acc = cJSON_CreateObject();
    double fired = row_num(d, "shots_fired"), hit = row_num(d, "shots_hit"), dn = row_num(d, "kill_dist_n");
    json_add_round(acc, "overall", fired > 0 ? hit * 100 / fired : 0, 1);
    json_add_round(acc, "accuracy", fired > 0 ? hit * 100 / fired : 0, 1);
    cJSON_AddNumberToObject(acc, "shots_fired", fired);
    cJSON_AddNumberToObject(acc, "shots_hit", hit);
    json_add_round(acc, "head_hit_pct", hit > 0 ? row_num(d, "headshots") * 100 / hit : 0, 1);
    json_add_round(acc, "avg_distance", dn > 0 ? row_num(d, "kill_dist_sum") / dn * UNITS_TO_M : 0, 1);
    cJSON_AddItemToObject(o, "accuracy", acc);

    cJSON *ses = cJSON_CreateObject();
    double games = row_num(m, "games"), wins = row_num(m, "wins"), pt = row_num(m, "playtime_s");
    cJSON_AddNumberToObject(ses, "matches_played", games);
    cJSON_AddNumberToObject(ses, "wins", wins);
    cJSON_AddNumberToObject(ses, "matches_won", wins);
    cJSON_AddNumberToObject(ses, "losses", row_num(m, "losses"));
    json_add_round(ses, "win_rate", games > 0 ? wins * 100 / games : 0, 1);
    cJSON_AddNumberToObject(ses, "rounds_played", row_num(m, "rounds"));
    json_add_round(ses, "playtime_seconds", pt, 0);
    json_add_round(ses, "playtime_hours", pt / 3600, 1);
    json_add_round(ses, "kills_per_match", games > 0 ? row_num(d, "kills") / games : 0, 2);
    cJSON_AddNumberToObject(ses, "last_seen", floor(row_num(job_row(j, 2), "seen_ms") / 1000));
    cJSON_AddItemToObject(o, "session", ses);

    cJSON *riv = cJSON_CreateObject();
    const cJSON *nem = NULL, *vic = NULL, *r;
    cJSON_ArrayForEach(r, job_rows(j, 5))
    {
        if (strcmp(row_str(r, "side"), "nemesis") == 0 && !nem)
            nem = r;
        if (strcmp(row_str(r, "side"), "victim") == 0 && !vic)
            vic = r;
    }
    cJSON_AddStringToObject(riv, "nemesis_guid", nem ? row_str(nem, "other_guid") : "");
    cJSON_AddStringToObject(riv, "nemesis_name", nem ? row_str(nem, "other_name") : "");
    cJSON_AddNumberToObject(riv, "nemesis_kills", nem ? row_num(nem, "n") : 0);
    cJSON_AddStringToObject(riv, "victim_guid", vic ? row_str(vic, "other_guid") : "");
    cJSON_AddStringToObject(riv, "victim_name", vic ? row_str(vic, "other_name") : "");
    cJSON_AddNumberToObject(riv, "victim_kills", vic ? row_num(vic, "n") : 0);
    cJSON_AddItemToObject(o, "rivals", riv);

    cJSON_AddItemToObject(o, "stance", stance_json(j));

    cJSON *in = cJSON_CreateObject();
    cJSON_AddNumberToObject(in, "chat_messages", row_num(d, "chat_messages"));
    cJSON_AddNumberToObject(in, "team_messages", row_num(d, "team_messages"));
    cJSON_AddNumberToObject(in, "vehicle_uses", row_num(d, "vehicle_enters"));
    cJSON_AddNumberToObject(in, "turret_uses", row_num(d, "turret_enters"));
    cJSON_AddNumberToObject(in, "doors_opened", row_num(d, "doors_opened"));
    cJSON *pk = cJSON_CreateArray();
    static const struct {
        const char *label, *col;
    } kinds[] = {{"Health", "health_picked"}, {"Ammo", "ammo_picked"}, {"Armor", "armor_picked"}};
    double other = row_num(d, "items_picked");
    for (size_t k = 0; k < 3; k++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "item_name", kinds[k].label);
        cJSON_AddNumberToObject(e, "count", row_num(d, kinds[k].col));
        other -= row_num(d, kinds[k].col);
        cJSON_AddItemToArray(pk, e);
    }
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "item_name", "Other");
    cJSON_AddNumberToObject(e, "count", other > 0 ? other : 0);
    cJSON_AddItemToArray(pk, e);
    cJSON_AddItemToObject(in, "pickups", pk);
    cJSON_AddItemToObject(o, "interaction", in);
    cJSON_AddItemToObject(o, "weapons", player_weapons_json(job_rows(j, 6)));
    job_answer(j, 200, o);
}

// clang-format off
static const char rivals_sql[] =
    "SELECT 'nemesis' AS side, other_guid, argMax(other_name, ts_ms) AS other_name, count() AS n\n"
    "FROM player_fights\n"
    "WHERE guid = {guid} AND role = 2 AND team_kill = 0 AND other_guid != ''\n"
    "  AND other_guid != guid\n"
    "GROUP BY other_guid\n"
    "ORDER BY n DESC, other_guid ASC\n"
    "LIMIT 1\n"
    "UNION ALL\n"
    "SELECT 'victim' AS side, other_guid, argMax(other_name, ts_ms) AS other_name, count() AS n\n"
    "FROM player_fights\n"
    "WHERE guid = {guid} AND role = 1 AND kind = 1\n"
    "GROUP BY other_guid\n"
    "ORDER BY n DESC, other_guid ASC\n"
    "LIMIT 1";
// clang-format on

/* ---- breakdowns: weapons, matches, maps, game types ---- */

static void list_build(qjob *j)
{
    player_args *a = j->args;
    const char *part = player_part(j);
    if (!player_known(j, 2, 3)) {
        player_not_found(j);
        return;
    }
    if (strcmp(part, "weapons") == 0) {
        job_answer(j, 200, player_weapons_json(job_rows(j, 0)));
    } else if (strcmp(part, "maps") == 0) {
        job_answer(j, 200, player_breakdowns_json(job_rows(j, 0), "map", "map_name"));
    } else if (strcmp(part, "gametypes") == 0) {
        job_answer(j, 200, player_breakdowns_json(job_rows(j, 0), "gametype", "gametype"));
    } else {
        cJSON *list = cJSON_CreateArray();
        const cJSON *r;
        cJSON_ArrayForEach(r, job_rows(j, 0)) cJSON_AddItemToArray(list, player_match_item_json(r));
        cJSON *o = cJSON_CreateObject();
        /* The player page reads .list; another forum function stores .matches. */
        cJSON_AddItemToObject(o, "matches", cJSON_Duplicate(list, true));
        cJSON_AddItemToObject(o, "list", list);
        cJSON_AddNumberToObject(o, "total", row_num(job_row(j, 1), "total"));
        cJSON_AddNumberToObject(o, "limit", (double)a->pg.limit);
        cJSON_AddNumberToObject(o, "offset", (double)a->pg.offset);
        cJSON_AddNumberToObject(o, "page", (double)a->pg.page);
        job_answer(j, 200, o);
    }
}

/* The player's matches, a page of them (?limit, ?offset, ?page). */
static void matches_queue(qjob *j, int slot, const char *tmpl, long unused)
{
    (void)unused;
    player_args *a = j->args;
    player_job_facts_at(j, slot, tmpl, a->pg.limit, a->pg.offset);
}

/* /deep and each of its parts: totals (slots 0 and 1), name, streaks, multi-kills, rivals, weapons. */
#define DEEP(p, k, part_name)                                                                                          \
    {.path = p,                                                                                                        \
     .key = k,                                                                                                         \
     .args_size = sizeof(player_args),                                                                                 \
     .params = {PLAYER_GUID_PARAM},                                                                                    \
     .part = part_name,                                                                                                \
     .vals = player_vals,                                                                                              \
     .queries = {{0, player_totals_sql, player_job_totals, 0},                                                         \
                 {2, player_name_sql, NULL, 0},                                                                        \
                 {3, player_streaks_sql, NULL, 0},                                                                     \
                 {4, player_multikills_sql, NULL, 0},                                                                  \
                 {5, rivals_sql, NULL, 0},                                                                             \
                 {6, player_weapons_sql, player_job_guid, 50}},                                                        \
     .build = deep_build}

/* A breakdown (weapons, maps, game types): its rows in slot 0, then the name and the lifetime totals that tell
 * whether the player exists. */
#define LIST(p, part_name, sql, queue, n)                                                                              \
    {.path = p,                                                                                                        \
     .key = "p:" part_name,                                                                                            \
     .args_size = sizeof(player_args),                                                                                 \
     .params = {PLAYER_GUID_PARAM},                                                                                    \
     .part = part_name,                                                                                                \
     .vals = player_vals,                                                                                              \
     .queries = {{0, sql, queue, n}, {2, player_name_sql, NULL, 0}, {3, player_totals_sql, player_job_days, 0}},      \
     .build = list_build}

const endpoint player_deep_endpoints[] = {
    DEEP("/stats/player/{guid}/deep", "p:deep", NULL),
    DEEP("/stats/player/{guid}/combat", "p:combat", "combat"),
    DEEP("/stats/player/{guid}/movement", "p:movement", "movement"),
    DEEP("/stats/player/{guid}/stance", "p:stance", "stance"),
    LIST("/stats/player/{guid}/weapons", "weapons", player_weapons_sql, player_job_guid, 100),
    LIST("/stats/player/{guid}/maps", "maps", player_by_map_sql, player_job_facts, 100),
    LIST("/stats/player/{guid}/gametypes", "gametypes", by_gametype_sql, player_job_facts, 100),
    {.path = "/stats/player/{guid}/matches",
     .key = "p:matches",
     .args_size = sizeof(player_args),
     .params = {PLAYER_GUID_PARAM, {PARAM_PAGING, "limit", offsetof(player_args, pg), 10, NULL, NULL}},
     .part = "matches",
     .vals = player_vals,
     .queries = {{0, player_recent_sql, matches_queue, 0},
                 {1, facts_count_sql, NULL, 0},
                 {2, player_name_sql, NULL, 0},
                 {3, player_totals_sql, player_job_days, 0}},
     .build = list_build},
};
const size_t player_deep_endpoints_n = sizeof player_deep_endpoints / sizeof player_deep_endpoints[0];
