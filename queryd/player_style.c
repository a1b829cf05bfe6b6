/* Players: GET /stats/player/{guid}/combos, /playstyle, /vehicles, /game-flow, /world, /bots and /drilldown.
 * Its endpoints are the table at its end. */
#include "player.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "event_model.h"

/* ---- SQL ---- */

// clang-format off
static const char weapon_on_map_sql[] =
    "SELECT map_name, weapon, count() AS kills\n"
    "FROM player_fights\n"
    "WHERE guid = {guid} AND role = 1 AND kind = 1\n"
    "GROUP BY map_name, weapon\n"
    "ORDER BY kills DESC, map_name ASC, weapon ASC\n"
    "LIMIT 1 BY map_name\n"
    "LIMIT 20";
// clang-format on

// clang-format off
static const char weapon_kills_sql[] =
    "SELECT weapon, count() AS kills, avgIf(dist, dist >= 0) AS avg_dist, maxIf(dist, dist >= 0) AS max_dist,\n"
    "       minIf(dist, dist >= 0) AS min_dist, countIf(dist >= 0) AS dist_n,\n"
    "       countIf(" HEADSHOT_SQL ") AS head,\n"
    "       countIf(" TORSO_HIT_SQL ") AS torso,\n"
    "       countIf(" LIMB_HIT_SQL ") AS limb\n"
    "FROM player_fights\n"
    "WHERE guid = {guid} AND role = 1 AND kind = 1\n"
    "GROUP BY weapon\n"
    "ORDER BY kills DESC, weapon ASC\n"
    "LIMIT 20";
// clang-format on

/* First bloods: the matches the player played, and in each the first enemy kill by anyone (raw_events read
 * by its key: event type, server, match). */
// clang-format off
static const char first_blood_sql[] =
    "SELECT countIf(first_killer = {guid}) AS first_bloods, count() AS matches\n"
    "FROM\n"
    "(\n"
    "    SELECT match_key,\n"
    "           argMin(actor_guid, if(isNull(game_time), toFloat64(received_at) + received_ms / 1000,\n"
    "                                 ifNull(game_time, 0))) AS first_killer\n"
    "    FROM raw_events\n"
    "    WHERE event_type = " EVT_SQL_PLAYER_KILL "\n"
    "      AND server_id IN (SELECT anyMerge(server_id) FROM player_match WHERE guid = {guid} GROUP BY match_key)\n"
    "      AND match_key IN (SELECT match_key FROM player_match WHERE guid = {guid})\n"
    "      AND " ENEMY_KILL_SQL "\n"
    "    GROUP BY match_key\n"
    ")";
// clang-format on

// clang-format off
static const char class_sql[] =
    "SELECT " WEAPON_CLASS_SQL("weapon") " AS class, sum(kills) AS kills,\n"
    "       sum(kill_dist_sum) AS dist_sum, sum(kill_dist_n) AS dist_n\n"
    "FROM player_weapon\n"
    "WHERE guid = {guid}\n"
    "GROUP BY class\n"
    "ORDER BY kills DESC, class ASC";
// clang-format on

// clang-format off
static const char bots_sql[] =
    "SELECT other_name AS name, count() AS kills\n"
    "FROM player_fights\n"
    "WHERE guid = {guid} AND role = 1 AND kind = 4\n"
    "GROUP BY other_name\n"
    "ORDER BY kills DESC, name ASC\n"
    "LIMIT 10";
// clang-format on

// clang-format off
static const char vehicle_deaths_sql[] =
    "SELECT countIf(role = 2 AND " VOCAB_MOD_CLASS_SQL("mod") " = 'vehicle') AS vehicle_deaths\n"
    "FROM player_fights\n"
    "WHERE guid = {guid}";
// clang-format on

// clang-format off
static const char team_sides_sql[] =
    "SELECT team, count() AS matches, sum(team_win) AS wins, sum(team_loss) AS losses\n"
    "FROM ({facts})\n"
    "WHERE team IN ('allies', 'axis')\n"
    "GROUP BY team";
// clang-format on

/* ---- combos, playstyle, vehicles, game flow, world, bots ---- */

static cJSON *opponents_json(const cJSON *rows, bool killers)
{
    cJSON *a = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        double kills = row_num(r, "kills"), deaths = row_num(r, "deaths_to");
        const cJSON *fav = cJSON_GetArrayItem(cJSON_GetObjectItem(r, killers ? "their_fav" : "fav"), 0);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, killers ? "killer_guid" : "victim_guid", row_str(r, "other_guid"));
        cJSON_AddStringToObject(e, killers ? "killer_name" : "victim_name", row_str(r, "other_name"));
        cJSON_AddNumberToObject(e, killers ? "kills_against" : "kills", kills);
        cJSON_AddNumberToObject(e, "deaths_to", deaths);
        json_add_round(e, "ratio", deaths > 0 ? kills / deaths : kills, 2);
        cJSON_AddStringToObject(e, killers ? "most_used_weapon" : "favorite_weapon",
                                cJSON_GetStringValue(fav) ? fav->valuestring : "");
        cJSON_AddItemToArray(a, e);
    }
    return a;
}

static void combos_build(qjob *j)
{
    if (!player_known(j, 2, 7)) {
        player_not_found(j);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *wom = cJSON_CreateArray(), *dist = cJSON_CreateArray(), *hit = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, job_rows(j, 0))
    {
        cJSON *e = cJSON_CreateObject();
        const char *m = row_str(r, "map_name");
        cJSON_AddStringToObject(e, "map_name", *m ? m : "unknown");
        cJSON_AddStringToObject(e, "weapon_name", row_str(r, "weapon"));
        cJSON_AddNumberToObject(e, "kills", row_num(r, "kills"));
        cJSON_AddItemToArray(wom, e);
    }
    cJSON_ArrayForEach(r, job_rows(j, 1))
    {
        double kills = row_num(r, "kills");
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "weapon_name", row_str(r, "weapon"));
        cJSON_AddNumberToObject(e, "kills", kills);
        if (row_num(r, "dist_n") > 0) {
            json_add_round(e, "avg_distance", row_num(r, "avg_dist") * UNITS_TO_M, 1);
            json_add_round(e, "max_distance", row_num(r, "max_dist") * UNITS_TO_M, 1);
            json_add_round(e, "min_distance", row_num(r, "min_dist") * UNITS_TO_M, 1);
            cJSON_AddItemToArray(dist, e);
        } else {
            cJSON_Delete(e);
        }
        cJSON *h = cJSON_CreateObject();
        cJSON_AddStringToObject(h, "weapon_name", row_str(r, "weapon"));
        cJSON_AddNumberToObject(h, "kills", kills);
        json_add_round(h, "head_pct", kills > 0 ? row_num(r, "head") * 100 / kills : 0, 1);
        json_add_round(h, "torso_pct", kills > 0 ? row_num(r, "torso") * 100 / kills : 0, 1);
        json_add_round(h, "limb_pct", kills > 0 ? row_num(r, "limb") * 100 / kills : 0, 1);
        cJSON_AddItemToArray(hit, h);
    }
    cJSON_AddItemToObject(o, "weapon_on_map", wom);
    cJSON_AddItemToObject(o, "victim_patterns", opponents_json(job_rows(j, 3), false));
    cJSON_AddItemToObject(o, "killer_patterns", opponents_json(job_rows(j, 4), true));
    cJSON_AddItemToObject(o, "distance_by_weapon", dist);
    cJSON_AddItemToObject(o, "hitloc_by_weapon", hit);
    const cJSON *mk = job_row(j, 5), *fb = job_row(j, 6), *d = job_row(j, 7);
    double kills = row_num(d, "kills");
    json_add_round(o, "multi_kill_rate", kills > 0 ? row_num(mk, "chained_kills") * 100 / kills : 0, 1);
    json_add_round(o, "first_blood_rate",
                   row_num(fb, "matches") > 0 ? row_num(fb, "first_bloods") * 100 / row_num(fb, "matches") : 0, 1);
    cJSON_AddNumberToObject(o, "first_bloods", row_num(fb, "first_bloods"));
    job_answer(j, 200, o);
}

/* Playstyle: the class of weapon most of the player's kills come from (docs/definitions.md). */
static void playstyle_build(qjob *j)
{
    if (!player_known(j, 2, 3)) {
        player_not_found(j);
        return;
    }
    static const struct {
        const char *cls, *style, *description, *icon;
    } styles[] = {
        {"sniper", "Sniper", "Most kills come from scoped rifles, at range.", "crosshair"},
        {"rifle", "Rifleman", "Most kills come from bolt-action and semi-automatic rifles.", "rifle"},
        {"smg", "Rusher", "Most kills come from submachine guns, up close.", "running"},
        {"shotgun", "Rusher", "Most kills come from shotguns, up close.", "running"},
        {"assault", "Soldier", "Most kills come from assault rifles and machine guns.", "rifle"},
        {"explosive", "Demolitionist", "Most kills come from grenades and rockets.", "bomb"},
        {"pistol", "Gunslinger", "Most kills come from pistols.", "pistol"},
        {"melee", "Brawler", "Most kills are melee bashes.", "fist"},
        {"other", "Soldier", "No weapon class dominates.", "rifle"},
    };
    double total = 0;
    const cJSON *r, *top = NULL;
    cJSON_ArrayForEach(r, job_rows(j, 0))
    {
        total += row_num(r, "kills");
        if (!top)
            top = r;
    }
    const char *style = "Rookie", *desc = "Fewer than 10 kills: too early to tell.", *icon = "recruit";
    double conf = 0;
    if (total >= 10 && top) {
        for (size_t i = 0; i < sizeof styles / sizeof styles[0]; i++)
            if (strcmp(styles[i].cls, row_str(top, "class")) == 0) {
                style = styles[i].style;
                desc = styles[i].description;
                icon = styles[i].icon;
            }
        conf = row_num(top, "kills") / total;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "style", style);
    cJSON_AddStringToObject(o, "name", style);
    cJSON_AddStringToObject(o, "description", desc);
    cJSON_AddStringToObject(o, "icon", icon);
    json_add_round(o, "confidence", conf, 2);
    cJSON_AddStringToObject(o, "weapon_class", top ? row_str(top, "class") : "");
    job_answer(j, 200, o);
}

/* vehicles, game-flow, world and bots share one builder: totals, match totals, name and one query of each's. */
static void misc_build(qjob *j)
{
    const char *part = player_part(j);
    if (!player_known(j, 2, 0)) {
        player_not_found(j);
        return;
    }
    const cJSON *d = job_row(j, 0), *m = job_row(j, 1);
    cJSON *o = cJSON_CreateObject();
    if (strcmp(part, "vehicles") == 0) {
        cJSON_AddNumberToObject(o, "vehicle_kills", row_num(d, "roadkills"));
        cJSON_AddNumberToObject(o, "vehicle_deaths", row_num(job_row(j, 3), "vehicle_deaths"));
        cJSON_AddNumberToObject(o, "roadkills", row_num(d, "roadkills"));
        cJSON_AddNumberToObject(o, "vehicle_uses", row_num(d, "vehicle_enters"));
        cJSON_AddNumberToObject(o, "turret_uses", row_num(d, "turret_enters"));
        /* Kills from turrets are not told apart from other kills by any event field. */
        cJSON_AddNumberToObject(o, "turret_kills", 0);
        cJSON_AddNumberToObject(o, "turret_deaths", 0);
        json_add_round(o, "total_driven_km", row_num(d, "driven_units") * UNITS_TO_KM, 2);
        cJSON_AddItemToObject(o, "by_vehicle_type", cJSON_CreateArray());
        cJSON_AddItemToObject(o, "by_turret_type", cJSON_CreateArray());
    } else if (strcmp(part, "game-flow") == 0) {
        double games = row_num(m, "games"), wins = row_num(m, "wins"), losses = row_num(m, "losses");
        cJSON_AddNumberToObject(o, "matches_played", games);
        cJSON_AddNumberToObject(o, "matches_won", wins);
        cJSON_AddNumberToObject(o, "matches_lost", losses);
        cJSON_AddNumberToObject(o, "rounds_played", row_num(m, "rounds"));
        cJSON_AddNumberToObject(o, "objectives_total", row_num(d, "objectives"));
        json_add_round(o, "win_rate", games > 0 ? wins * 100 / games : 0, 1);
        cJSON *ts = cJSON_AddObjectToObject(o, "team_stats");
        double sides = 0;
        const cJSON *r;
        cJSON_ArrayForEach(r, job_rows(j, 3)) sides += row_num(r, "matches");
        cJSON_ArrayForEach(r, job_rows(j, 3))
        {
            char key[40];
            const char *t = row_str(r, "team");
            snprintf(key, sizeof key, "%s_matches", t);
            cJSON_AddNumberToObject(ts, key, row_num(r, "matches"));
            snprintf(key, sizeof key, "%s_wins", t);
            cJSON_AddNumberToObject(ts, key, row_num(r, "wins"));
            snprintf(key, sizeof key, "%s_playtime_pct", t);
            json_add_round(ts, key, sides > 0 ? row_num(r, "matches") * 100 / sides : 0, 1);
        }
    } else if (strcmp(part, "world") == 0) {
        cJSON_AddNumberToObject(o, "doors_opened", row_num(d, "doors_opened"));
        cJSON_AddNumberToObject(o, "ladder_climbs", row_num(d, "ladders"));
        cJSON_AddNumberToObject(o, "ladder_mounts", row_num(d, "ladders"));
        cJSON_AddNumberToObject(o, "fall_deaths", row_num(d, "fall_deaths"));
        cJSON_AddNumberToObject(o, "chat_messages", row_num(d, "chat_messages"));
        cJSON_AddNumberToObject(o, "team_messages", row_num(d, "team_messages"));
        cJSON_AddNumberToObject(o, "items_picked_up", row_num(d, "items_picked"));
        cJSON *items = cJSON_AddArrayToObject(o, "item_pickups");
        static const struct {
            const char *type, *col;
        } kinds[] = {{"health", "health_picked"}, {"ammo", "ammo_picked"}, {"armor", "armor_picked"}};
        for (size_t k = 0; k < 3; k++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "item_type", kinds[k].type);
            cJSON_AddNumberToObject(e, "count", row_num(d, kinds[k].col));
            cJSON_AddItemToArray(items, e);
        }
    } else { /* bots */
        double bk = row_num(d, "bot_kills");
        cJSON_AddNumberToObject(o, "bot_kills", bk);
        /* A death by a bot looks like any other death in the events: bot killers are not known. */
        cJSON_AddNumberToObject(o, "bot_deaths", 0);
        cJSON_AddNumberToObject(o, "bot_kd_ratio", bk);
        cJSON *top = cJSON_AddArrayToObject(o, "top_bot_victims");
        const cJSON *r;
        cJSON_ArrayForEach(r, job_rows(j, 3))
        {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", row_str(r, "name"));
            cJSON_AddNumberToObject(e, "kills", row_num(r, "kills"));
            cJSON_AddItemToArray(top, e);
        }
    }
    job_answer(j, 200, o);
}

/* ---- drilldown ---- */

// clang-format off
static const char drill_sql[] =
    "SELECT {dim} AS label, countIf(role = 1 AND kind = 1) AS kills,\n"
    "       countIf(role = 2) AS deaths, countIf(headshot = 1) AS headshots,\n"
    "       countIf(kind = 3) AS teamkills\n"
    "FROM player_fights\n"
    "WHERE guid = {guid}\n"
    "GROUP BY label";
// clang-format on

static void drill_build(qjob *j)
{
    player_args *a = j->args;
    const char *stat = param_choice_value(a->stat);
    if (!player_known(j, 2, 3)) {
        player_not_found(j);
        return;
    }
    /* Rank and cut in C: the value (a count or a ratio) is computed per row below. */
    int n = cJSON_GetArraySize(job_rows(j, 0));
    double *vals = calloc((size_t)n + 1, sizeof *vals);
    int *idx = calloc((size_t)n + 1, sizeof *idx);
    if (!vals || !idx) {
        free(vals);
        free(idx);
        job_error(j, 500, "Out of memory.");
        return;
    }
    double total = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *r = cJSON_GetArrayItem(job_rows(j, 0), i);
        if (strcmp(stat, "kd") == 0)
            vals[i] = player_kd_of(r);
        else
            vals[i] = row_num(r, stat);
        total += strcmp(stat, "kd") == 0 ? 0 : vals[i];
        idx[i] = i;
    }
    for (int x = 1; x < n; x++) /* insertion sort: n is the number of distinct labels, small */
        for (int y = x; y > 0; y--) {
            const char *ly = row_str(cJSON_GetArrayItem(job_rows(j, 0), idx[y]), "label");
            const char *lx = row_str(cJSON_GetArrayItem(job_rows(j, 0), idx[y - 1]), "label");
            if (vals[idx[y]] > vals[idx[y - 1]] || (vals[idx[y]] == vals[idx[y - 1]] && strcmp(ly, lx) < 0)) {
                int t = idx[y];
                idx[y] = idx[y - 1];
                idx[y - 1] = t;
            } else {
                break;
            }
        }
    cJSON *items = cJSON_CreateArray();
    for (int i = 0; i < n && i < a->limit; i++) {
        const cJSON *r = cJSON_GetArrayItem(job_rows(j, 0), idx[i]);
        if (vals[idx[i]] <= 0)
            break;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "key", row_str(r, "label"));
        cJSON_AddStringToObject(e, "label", row_str(r, "label"));
        json_add_round(e, "value", vals[idx[i]], strcmp(stat, "kd") == 0 ? 2 : 0);
        json_add_round(e, "percentage", total > 0 ? vals[idx[i]] * 100 / total : 0, 1);
        cJSON_AddNumberToObject(e, "kills", row_num(r, "kills"));
        cJSON_AddNumberToObject(e, "deaths", row_num(r, "deaths"));
        cJSON_AddItemToArray(items, e);
    }
    free(vals);
    free(idx);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "stat", stat);
    cJSON_AddStringToObject(o, "dimension", a->dim->name);
    json_add_round(o, "total", total, 0);
    cJSON_AddItemToObject(o, "items", cJSON_Duplicate(items, true));
    cJSON_AddItemToObject(o, "breakdown", items);
    job_answer(j, 200, o);
}

/* The drilldown: its query over one dimension ({dim}, a choice's data). */
static void drill_queue(qjob *j, int slot, const char *tmpl, long unused)
{
    (void)unused;
    player_args *a = j->args;
    sqlv v[] = {SQL_STR("guid", a->guid), SQL_RAW("dim", a->dim->data)};
    job_ch(j, slot, tmpl, v, 2);
}

/* The drilldown's stats: the value is the stat the builder reads. */
static const param_choice drill_stats[] = {
    {"kd", NULL, NULL},    {"kills", NULL, NULL},     {"deaths", NULL, NULL}, {"headshots", NULL, NULL},
    {"teamkills", NULL, NULL}, {"kd_ratio", "kd", NULL}, {NULL, NULL, NULL},
};

/* The drilldown's dimensions and the player_fights expression of each. */
static const param_choice drill_dims[] = {
    {"weapon", NULL, "weapon"},
    {"weapon_class", NULL, WEAPON_CLASS_SQL("weapon")},
    {"map", NULL, "if(map_name = '', 'unknown', map_name)"},
    {"server", NULL, "server_id"},
    {"hour", NULL, "toString(toHour(toDateTime(intDiv(ts_ms, 1000)), 'UTC'))"},
    {"time_of_day", NULL, "toString(toHour(toDateTime(intDiv(ts_ms, 1000)), 'UTC'))"},
    {"day", NULL, "toString(toDayOfWeek(toDateTime(intDiv(ts_ms, 1000)), 'UTC'))"},
    {"day_of_week", NULL, "toString(toDayOfWeek(toDateTime(intDiv(ts_ms, 1000)), 'UTC'))"},
    {"victim", NULL, "if(other_name = '', 'world', other_name)"},
    {"killer", NULL, "if(other_name = '', 'world', other_name)"},
    {"opponent", NULL, "if(other_name = '', 'world', other_name)"},
    {"hitloc", NULL, "if(hitloc = '', 'unknown', hitloc)"},
    {"stance", NULL, "if(stance = '', 'unknown', stance)"},
    {"range", NULL,
     "multiIf(dist < 0, 'unknown', dist * 0.0254 < 10, 'close', dist * 0.0254 < 30, 'medium', 'long')"},
    {NULL, NULL, NULL},
};

/* vehicles, game-flow, world and bots: the totals (slots 0 and 1) and the name (2), then each's own query (3). */
#define MISC_QUERIES {0, player_totals_sql, player_job_totals, 0}, {2, player_name_sql, NULL, 0}

const endpoint player_style_endpoints[] = {
    {.path = "/stats/player/{guid}/combos",
     .key = "p:combos",
     .args_size = sizeof(player_args),
     .params = {PLAYER_GUID_PARAM},
     .vals = player_vals,
     .queries = {{0, weapon_on_map_sql, NULL, 0},
                 {1, weapon_kills_sql, NULL, 0},
                 {2, player_name_sql, NULL, 0},
                 {3, player_opponents_sql, player_job_guid, 10},
                 {4, player_opponents_sql, player_job_killers, 10},
                 {5, player_multikills_sql, NULL, 0},
                 {6, first_blood_sql, NULL, 0},
                 {7, player_totals_sql, player_job_days, 0}},
     .build = combos_build},
    {.path = "/stats/player/{guid}/playstyle",
     .key = "p:playstyle",
     .args_size = sizeof(player_args),
     .params = {PLAYER_GUID_PARAM},
     .vals = player_vals,
     .queries = {{0, class_sql, NULL, 0}, {2, player_name_sql, NULL, 0}, {3, player_totals_sql, player_job_days, 0}},
     .build = playstyle_build},
    {.path = "/stats/player/{guid}/vehicles",
     .key = "p:vehicles",
     .args_size = sizeof(player_args),
     .params = {PLAYER_GUID_PARAM},
     .part = "vehicles",
     .vals = player_vals,
     .queries = {MISC_QUERIES, {3, vehicle_deaths_sql, NULL, 0}},
     .build = misc_build},
    {.path = "/stats/player/{guid}/game-flow",
     .key = "p:gameflow",
     .args_size = sizeof(player_args),
     .params = {PLAYER_GUID_PARAM},
     .part = "game-flow",
     .vals = player_vals,
     .queries = {MISC_QUERIES, {3, team_sides_sql, player_job_facts, 0}},
     .build = misc_build},
    {.path = "/stats/player/{guid}/world",
     .key = "p:world",
     .args_size = sizeof(player_args),
     .params = {PLAYER_GUID_PARAM},
     .part = "world",
     .vals = player_vals,
     .queries = {MISC_QUERIES},
     .build = misc_build},
    {.path = "/stats/player/{guid}/bots",
     .key = "p:bots",
     .args_size = sizeof(player_args),
     .params = {PLAYER_GUID_PARAM},
     .part = "bots",
     .vals = player_vals,
     .queries = {MISC_QUERIES, {3, bots_sql, NULL, 0}},
     .build = misc_build},
    {.path = "/stats/player/{guid}/drilldown",
     .key = "p:drill",
     .args_size = sizeof(player_args),
     .params = {PLAYER_GUID_PARAM,
                {PARAM_CHOICE, "stat", offsetof(player_args, stat), 0,
                 "must be kd, kills, deaths, headshots or teamkills", drill_stats},
                {PARAM_CHOICE, "dimension", offsetof(player_args, dim), 0,
                 "must be weapon, weapon_class, map, server, hour, day, victim, killer, hitloc, stance or range",
                 drill_dims},
                {PARAM_LIMIT, "limit", offsetof(player_args, limit), 10, NULL, NULL}},
     .vals = player_vals,
     .queries = {{0, drill_sql, drill_queue, 0},
                 {2, player_name_sql, NULL, 0},
                 {3, player_totals_sql, player_job_days, 0}},
     .build = drill_build},
};
const size_t player_style_endpoints_n = sizeof player_style_endpoints / sizeof player_style_endpoints[0];
