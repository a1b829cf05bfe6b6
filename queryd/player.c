/* Players: profile, deep stats and every per-player breakdown, by GUID, by name and by forum member.
 *
 * - GET /stats/player/{guid}: {player:{...}, ...same keys flat}.
 * - GET /stats/player/name/{name}: {guid, name}.
 * - GET /stats/member/{id}: as /stats/player/{guid}, plus member_id.
 * - GET /stats/player/{guid}/deep: {combat, movement, accuracy, session, rivals, stance, interaction, weapons}.
 * - GET /stats/player/{guid}/combat: one part of /deep (combat).
 * - GET /stats/player/{guid}/movement: one part of /deep (movement).
 * - GET /stats/player/{guid}/stance: one part of /deep (stance).
 * - GET /stats/player/{guid}/weapons: [{weapon_name, kills, ...}].
 * - GET /stats/player/{guid}/matches?limit=10&offset&page=1: {list, matches, total, limit, offset}.
 * - GET /stats/player/{guid}/maps: [{map_name, kills, deaths, matches_played, matches_won}].
 * - GET /stats/player/{guid}/gametypes: [{gametype, matches_played, matches_won, ...}].
 * - GET /stats/player/{guid}/performance: {labels, kills, deaths, kd, matches, spm, kpm, ...}.
 * - GET /stats/player/{guid}/peak-performance: {best_hour, best_day, best_map, best_weapon, ...}.
 * - GET /stats/player/{guid}/combos: {weapon_on_map, victim_patterns, killer_patterns, ...}.
 * - GET /stats/player/{guid}/playstyle: {style, name, description, icon, confidence}.
 * - GET /stats/player/{guid}/vehicles: see its builder.
 * - GET /stats/player/{guid}/game-flow: see its builder.
 * - GET /stats/player/{guid}/world: see its builder.
 * - GET /stats/player/{guid}/bots: see its builder.
 * - GET /stats/player/{guid}/drilldown?stat=kd&dimension=weapon&limit=10: {breakdown, items, total, stat, dimension}.
 * - GET /stats/player/{guid}/predictions: {expected_kd, trend, confidence, ...}.
 * - GET /player/{guid}/predictions: same.
 *
 * Every query is bounded by the player's key: player_daily, player_match, player_weapon, player_map and
 * player_fights are all ordered by guid first. An unknown GUID is 404. */
#include "area.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct {
    char guid[IDENT_MAX + 1];
    long member_id; /* > 0 for /stats/member/{id} */
    paging pg;
    const char *part; /* which part of /deep, or the breakdown to build */
    const char *stat; /* drilldown */
    const char *dim;  /* drilldown */
    const char *dim_sql;
    long limit;
} player_args;

/* ---- SQL ---- */

// clang-format off
static const char name_sql[] =
    "SELECT argMax(name, last_ms) AS name, max(last_ms) AS seen_ms, max(smf_id) AS smf_id\n"
    "FROM player_names\n"
    "WHERE guid = {guid}";
// clang-format on

// clang-format off
static const char weapons_sql[] =
    "SELECT weapon, sum(kills) AS kills, sum(deaths) AS deaths, sum(headshots) AS headshots,\n"
    "       sum(shots_fired) AS shots_fired, sum(shots_hit) AS shots_hit,\n"
    "       sum(damage_dealt) AS damage, sum(kill_dist_sum) AS dist_sum,\n"
    "       sum(kill_dist_n) AS dist_n, sum(torso_kills) AS torso_kills,\n"
    "       sum(limb_kills) AS limb_kills\n"
    "FROM player_weapon\n"
    "WHERE guid = {guid}\n"
    "GROUP BY weapon\n"
    "ORDER BY kills DESC, deaths DESC, weapon ASC\n"
    "LIMIT {limit}";
// clang-format on

// clang-format off
static const char recent_sql[] =
    "SELECT *\n"
    "FROM ({facts})\n"
    "ORDER BY first_ms DESC, match_key ASC\n"
    "LIMIT {limit} OFFSET {offset}";
// clang-format on

// clang-format off
static const char facts_count_sql[] =
    "SELECT count() AS total\n"
    "FROM (SELECT match_key FROM player_match WHERE guid = {guid} GROUP BY match_key)";
// clang-format on

// clang-format off
static const char by_map_sql[] =
    "SELECT map, count() AS matches_played, sum(won) AS matches_won,\n"
    "       sum(lost) AS matches_lost, sum(kills) AS kills,\n"
    "       sum(deaths) AS deaths, sum(headshots) AS headshots\n"
    "FROM ({facts})\n"
    "GROUP BY map\n"
    "ORDER BY matches_played DESC, kills DESC, map ASC\n"
    "LIMIT {limit}";
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

/* Kill streaks per life: each match's kills (kind 1) and deaths (kind 2) in event order (a kill before a
 * death at the same instant), lives numbered by the deaths before them, kills counted per life. */
// clang-format off
static const char streaks_sql[] =
    "SELECT max(streak) AS best_streak, countIf(streak >= 5) AS streaks_5, countIf(streak >= 10) AS streaks_10,\n"
    "       countIf(streak >= 15) AS streaks_15, countIf(streak >= 20) AS streaks_20,\n"
    "       countIf(streak >= 25) AS streaks_25\n"
    "FROM\n"
    "(\n"
    "    SELECT match_key, life, count() AS streak\n"
    "    FROM\n"
    "    (\n"
    "        SELECT match_key,\n"
    "               arraySort((k, t) -> t, groupArray(kind), groupArray(t + kind * 0.0001)) AS seq,\n"
    "               arrayCumSum(arrayMap(k -> k = 2, seq)) AS lives\n"
    "        FROM player_fights\n"
    "        WHERE guid = {guid} AND kind IN (1, 2)\n"
    "        GROUP BY match_key\n"
    "    )\n"
    "    ARRAY JOIN seq AS k, lives AS life\n"
    "    WHERE k = 1\n"
    "    GROUP BY match_key, life\n"
    ")";
// clang-format on

/* Multi-kills: a match's kills in order; a gap of more than 3 s starts a new chain (docs/definitions.md). Game
 * times are binary fractions: 4.4 - 1.4 is 3.0000000000000004, so "more than 3" allows the same 1e-6 s as
 * achievd's windows (achievd/evaluate.c, TIME_EPS), and a kill exactly 3 s after the previous one chains. */
// clang-format off
static const char multikills_sql[] =
    "SELECT countIf(n = 2) AS double_kills, countIf(n = 3) AS triple_kills, countIf(n = 4) AS quad_kills,\n"
    "       countIf(n >= 5) AS multi_kills, sumIf(n, n >= 2) AS chained_kills\n"
    "FROM\n"
    "(\n"
    "    SELECT match_key, chain, count() AS n\n"
    "    FROM\n"
    "    (\n"
    "        SELECT match_key, arraySort(groupArray(t)) AS ts,\n"
    "               arrayCumSum(arrayMap(d -> d > 3.000001, arrayDifference(ts))) AS chains\n"
    "        FROM player_fights\n"
    "        WHERE guid = {guid} AND kind = 1\n"
    "        GROUP BY match_key\n"
    "    )\n"
    "    ARRAY JOIN chains AS chain\n"
    "    GROUP BY match_key, chain\n"
    ")";
// clang-format on

/* Opponents: per other player, kills on them and deaths by them (team kills and suicides excluded). */
// clang-format off
static const char opponents_sql[] =
    "SELECT other_guid, argMax(other_name, ts_ms) AS other_name,\n"
    "       countIf(role = 1 AND kind = 1) AS kills, countIf(role = 2 AND team_kill = 0) AS deaths_to,\n"
    "       topKIf(1)(weapon, role = 1 AND kind = 1) AS fav, topKIf(1)(weapon, role = 2) AS their_fav\n"
    "FROM player_fights\n"
    "WHERE guid = {guid} AND other_guid != '' AND other_guid != guid AND kind IN (1, 2)\n"
    "GROUP BY other_guid\n"
    "HAVING {order} > 0\n"
    "ORDER BY {order} DESC, other_guid ASC\n"
    "LIMIT {limit}";
// clang-format on

// clang-format off
static const char hourly_sql[] =
    "SELECT toHour(toDateTime(intDiv(ts_ms, 1000)), 'UTC') AS h,\n"
    "       countIf(role = 1 AND kind = 1) AS kills, countIf(role = 2) AS deaths\n"
    "FROM player_fights\n"
    "WHERE guid = {guid}\n"
    "GROUP BY h\n"
    "ORDER BY h";
// clang-format on

// clang-format off
static const char daily_sql[] =
    "SELECT toDayOfWeek(toDateTime(intDiv(ts_ms, 1000)), 'UTC') AS d,\n"
    "       countIf(role = 1 AND kind = 1) AS kills, countIf(role = 2) AS deaths\n"
    "FROM player_fights\n"
    "WHERE guid = {guid}\n"
    "GROUP BY d\n"
    "ORDER BY d";
// clang-format on

// clang-format off
static const char result_hours_sql[] =
    "SELECT toHour(toDateTime(intDiv(last_ms, 1000)), 'UTC') AS h,\n"
    "       sum(won) AS wins, sum(lost) AS losses\n"
    "FROM ({facts})\n"
    "GROUP BY h";
// clang-format on

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
    "    WHERE event_type = 'player_kill'\n"
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
    "SELECT countIf(role = 2 AND mod = 'vehicle') AS vehicle_deaths\n"
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

// clang-format off
static const char achievements_sql[] =
    "SELECT d.id_achievement, d.code, d.name, d.description, d.category, d.tier, d.icon, d.points,\n"
    "       pa.unlocked_date, i.id_member\n"
    "FROM {p}mohaa_identities AS i\n"
    "JOIN {p}mohaa_player_achievements AS pa ON pa.id_member = i.id_member\n"
    "JOIN {p}mohaa_achievement_defs AS d ON d.id_achievement = pa.id_achievement\n"
    "WHERE i.player_guid = ?\n"
    "ORDER BY pa.unlocked_date DESC, d.id_achievement ASC\n"
    "LIMIT 100";
// clang-format on

// clang-format off
static const char identity_sql[] =
    "SELECT id_member FROM {p}mohaa_identities WHERE player_guid = ? LIMIT 1";
// clang-format on

// clang-format off
static const char member_guid_sql[] =
    "SELECT player_guid FROM {p}mohaa_identities\n"
    "WHERE id_member = ? AND player_guid != ''\n"
    "ORDER BY linked_at DESC, id_identity DESC\n"
    "LIMIT 1";
// clang-format on

/* ---- helpers ---- */

/* The {facts} of one player (all matches), malloc'd. */
static char *facts_for(const char *guid)
{
    sqlv w[] = {SQL_STR("g", guid)};
    char *where = sqlt_render("guid = {g}", w, 1);
    if (!where)
        return NULL;
    sqlv fv[] = {SQL_RAW("pm_where", where), SQL_INT("bound_ms", 0)};
    char *facts = sqlt_render(match_facts_sql, fv, 2);
    free(where);
    return facts;
}

/* Queue a query over the player's facts: tmpl with {facts}, {guid}, {limit}, {offset}. */
static void job_facts(qjob *j, int slot, const char *tmpl, long limit, long offset)
{
    player_args *a = j->args;
    char *facts = facts_for(a->guid);
    if (!facts) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    sqlv v[] = {SQL_RAW("facts", facts), SQL_STR("guid", a->guid), SQL_INT("limit", limit), SQL_INT("offset", offset)};
    job_ch(j, slot, tmpl, v, 4);
    free(facts);
}

/* Queue a query keyed by the player: tmpl with {guid}, {limit}, {order}. */
static void job_guid(qjob *j, int slot, const char *tmpl, long limit)
{
    player_args *a = j->args;
    sqlv v[] = {SQL_STR("guid", a->guid), SQL_INT("limit", limit), SQL_RAW("order", "kills")};
    job_ch(j, slot, tmpl, v, 3);
}

/* Queue the player's totals (slot) and match totals (slot + 1). */
static void job_totals(qjob *j, int slot)
{
    player_args *a = j->args;
    sqlv w[] = {SQL_STR("g", a->guid)};
    char *where = sqlt_render("guid = {g}", w, 1);
    char *totals = where ? match_totals_render(where, 0, MATCH_ALL) : NULL;
    if (where && totals) {
        sqlv tv[] = {SQL_RAW("where", where), SQL_STR("day_from", "1970-01-01")};
        job_ch(j, slot, player_totals_sql, tv, 2);
        sqlv mv[] = {SQL_RAW("sql", totals)};
        job_ch(j, slot + 1, "{sql}", mv, 1);
    } else {
        job_error(j, 500, "Out of memory.");
    }
    free(where);
    free(totals);
}

/* Whether the player exists: a name was seen, or any event was counted. */
static bool player_known(qjob *j, int name_slot, int totals_slot)
{
    return row_num(job_row(j, name_slot), "seen_ms") > 0 || row_num(job_row(j, totals_slot), "events") > 0;
}

static void not_found(qjob *j)
{
    player_args *a = j->args;
    char msg[160];
    snprintf(msg, sizeof msg, "Player not found: no events for GUID '%.64s'.", a->guid);
    job_error(j, 404, msg);
}

/* One weapon row as served. */
static cJSON *weapon_json(const cJSON *r)
{
    cJSON *o = cJSON_CreateObject();
    const char *w = row_str(r, "weapon");
    double kills = row_num(r, "kills"), fired = row_num(r, "shots_fired"), hit = row_num(r, "shots_hit");
    double dn = row_num(r, "dist_n");
    cJSON_AddStringToObject(o, "weapon_name", w);
    cJSON_AddStringToObject(o, "name", w);
    cJSON_AddStringToObject(o, "weapon", w);
    cJSON_AddNumberToObject(o, "kills", kills);
    cJSON_AddNumberToObject(o, "deaths", row_num(r, "deaths"));
    cJSON_AddNumberToObject(o, "headshots", row_num(r, "headshots"));
    json_add_round(o, "headshot_percent", kills > 0 ? row_num(r, "headshots") * 100 / kills : 0, 1);
    json_add_round(o, "accuracy", fired > 0 ? hit * 100 / fired : 0, 1);
    cJSON_AddNumberToObject(o, "shots", fired);
    cJSON_AddNumberToObject(o, "shots_fired", fired);
    cJSON_AddNumberToObject(o, "hits", hit);
    cJSON_AddNumberToObject(o, "shots_hit", hit);
    json_add_round(o, "damage", row_num(r, "damage"), 0);
    json_add_round(o, "avg_distance", dn > 0 ? row_num(r, "dist_sum") / dn * UNITS_TO_M : 0, 1);
    return o;
}

static cJSON *weapons_json(const cJSON *rows)
{
    cJSON *a = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, rows) cJSON_AddItemToArray(a, weapon_json(r));
    return a;
}

/* One of the player's matches (a match_facts_sql row) as served. */
static cJSON *match_item_json(const cJSON *r)
{
    cJSON *o = cJSON_CreateObject();
    const char *mk = row_str(r, "match_key");
    const char *map = row_str(r, "map");
    double kills = row_num(r, "kills"), deaths = row_num(r, "deaths");
    double first = row_num(r, "first_ms"), last = row_num(r, "last_ms");
    double secs = row_num(r, "last_t") - row_num(r, "first_t");
    bool win = row_num(r, "won") > 0;
    bool loss = row_num(r, "lost") > 0;
    char iso[32];
    iso_time((uint64_t)first, iso);
    cJSON_AddStringToObject(o, "match_id", mk);
    cJSON_AddStringToObject(o, "id", mk);
    cJSON_AddStringToObject(o, "map_name", *map ? map : "unknown");
    cJSON_AddStringToObject(o, "map", *map ? map : "unknown");
    cJSON_AddStringToObject(o, "server_id", row_str(r, "server_id"));
    cJSON_AddStringToObject(o, "gametype", row_str(r, "gametype"));
    cJSON_AddStringToObject(o, "team", row_str(r, "team"));
    cJSON_AddNumberToObject(o, "kills", kills);
    cJSON_AddNumberToObject(o, "deaths", deaths);
    cJSON_AddNumberToObject(o, "headshots", row_num(r, "headshots"));
    json_add_round(o, "kd", deaths > 0 ? kills / deaths : kills, 2);
    json_add_round(o, "kd_ratio", deaths > 0 ? kills / deaths : kills, 2);
    /* MOHAA's scoreboard: a kill is +1, a suicide or team kill -1. */
    cJSON_AddNumberToObject(o, "score", kills - row_num(r, "suicides") - row_num(r, "teamkills"));
    cJSON_AddBoolToObject(o, "won", win);
    cJSON_AddBoolToObject(o, "is_win", win);
    cJSON_AddStringToObject(o, "result", win ? "win" : loss ? "loss" : "");
    cJSON_AddNumberToObject(o, "started_at", floor(first / 1000));
    cJSON_AddNumberToObject(o, "played_at", floor(first / 1000));
    cJSON_AddNumberToObject(o, "ended_at", floor(last / 1000));
    cJSON_AddStringToObject(o, "date", iso);
    json_add_round(o, "duration", secs, 0);
    return o;
}

/* A per-map or per-game-type row (by_map_sql, by_gametype_sql) as served; key is the grouping column. */
static cJSON *breakdown_json(const cJSON *r, const char *key, const char *as)
{
    cJSON *o = cJSON_CreateObject();
    const char *v = row_str(r, key);
    if (strcmp(key, "map") == 0 && !*v)
        v = "unknown";
    double played = row_num(r, "matches_played"), won = row_num(r, "matches_won");
    double kills = row_num(r, "kills"), deaths = row_num(r, "deaths");
    cJSON_AddStringToObject(o, as, v);
    cJSON_AddStringToObject(o, "name", v);
    cJSON_AddNumberToObject(o, "kills", kills);
    cJSON_AddNumberToObject(o, "deaths", deaths);
    cJSON_AddNumberToObject(o, "headshots", row_num(r, "headshots"));
    json_add_round(o, "kd_ratio", deaths > 0 ? kills / deaths : kills, 2);
    cJSON_AddNumberToObject(o, "matches_played", played);
    cJSON_AddNumberToObject(o, "matches_won", won);
    cJSON_AddNumberToObject(o, "matches_lost", row_num(r, "matches_lost"));
    json_add_round(o, "win_rate", played > 0 ? won * 100 / played : 0, 1);
    return o;
}

static cJSON *breakdowns_json(const cJSON *rows, const char *key, const char *as)
{
    cJSON *a = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, rows) cJSON_AddItemToArray(a, breakdown_json(r, key, as));
    return a;
}

/* ---- GET /stats/player/{guid} (also /stats/member/{id}) ---- */

static void profile_build(qjob *j)
{
    player_args *a = j->args;
    if (!player_known(j, 2, 0)) {
        not_found(j);
        return;
    }
    const cJSON *name_row = job_row(j, 2);
    cJSON *p = player_stats_json(job_row(j, 0), job_row(j, 1));
    const char *name = row_str(name_row, "name");
    cJSON_AddStringToObject(p, "guid", a->guid);
    cJSON_AddStringToObject(p, "player_id", a->guid);
    cJSON_AddStringToObject(p, "id", a->guid);
    cJSON_AddStringToObject(p, "name", *name ? name : "Unknown Soldier");
    cJSON_AddStringToObject(p, "player_name", *name ? name : "Unknown Soldier");
    cJSON_AddNumberToObject(p, "total_deaths", row_num(p, "deaths"));
    cJSON_AddNumberToObject(p, "total_damage", row_num(p, "damage"));
    cJSON_AddNumberToObject(p, "total_headshots", row_num(p, "headshots"));
    cJSON_AddNumberToObject(p, "last_seen", floor(row_num(name_row, "seen_ms") / 1000));
    double smf = row_num(name_row, "smf_id");
    if (smf <= 0)
        smf = row_num(job_row(j, 7), "id_member");
    if (a->member_id > 0)
        smf = (double)a->member_id;
    if (smf > 0)
        cJSON_AddNumberToObject(p, "member_id", smf);
    else
        cJSON_AddNullToObject(p, "member_id");
    cJSON_AddBoolToObject(p, "is_vip", false);

    cJSON *recent = cJSON_CreateArray(), *perf = cJSON_CreateArray();
    const cJSON *r;
    int i = 0;
    cJSON_ArrayForEach(r, job_rows(j, 3))
    {
        if (i++ < 10)
            cJSON_AddItemToArray(recent, match_item_json(r));
        cJSON_AddItemToArray(perf, match_item_json(r));
    }
    /* performance[] is oldest first, as a chart draws it. */
    cJSON *perf_sorted = cJSON_CreateArray();
    for (int k = cJSON_GetArraySize(perf) - 1; k >= 0; k--)
        cJSON_AddItemToArray(perf_sorted, cJSON_Duplicate(cJSON_GetArrayItem(perf, k), true));
    cJSON_Delete(perf);
    cJSON_AddItemToObject(p, "weapons", weapons_json(job_rows(j, 5)));
    cJSON_AddItemToObject(p, "maps", breakdowns_json(job_rows(j, 4), "map", "map_name"));
    cJSON_AddItemToObject(p, "performance", perf_sorted);
    cJSON_AddItemToObject(p, "recent_matches", recent);

    cJSON *ach = cJSON_CreateArray();
    cJSON_ArrayForEach(r, job_rows(j, 6))
    {
        cJSON *e = cJSON_Duplicate(r, true);
        cJSON_AddStringToObject(e, "achievement_code", row_str(r, "code"));
        cJSON_AddBoolToObject(e, "unlocked", true);
        cJSON_AddItemToArray(ach, e);
    }
    cJSON_AddItemToObject(p, "achievements", ach);

    /* The forum reads this answer both wrapped ({player: ...}: War Room, compare) and flat (profile, team
     * page): serve both. */
    cJSON *o = cJSON_Duplicate(p, true);
    cJSON_AddItemToObject(o, "player", p);
    job_answer(j, 200, o);
}

static void profile_start(qjob *j)
{
    player_args *a = j->args;
    job_totals(j, 0);
    sqlv v[] = {SQL_STR("guid", a->guid)};
    job_ch(j, 2, name_sql, v, 1);
    job_facts(j, 3, recent_sql, 20, 0);
    job_facts(j, 4, by_map_sql, 5, 0);
    job_guid(j, 5, weapons_sql, 10);
    char *sql = smf_sql(j->q, achievements_sql);
    if (sql) {
        const char *params[] = {a->guid};
        /* The forum's database is not needed for the stats: without it the list is just empty. */
        j->optional |= 1u << 6;
        job_mdb(j, 6, sql, 1, params, "id_achievement,tier,points,unlocked_date,id_member");
        free(sql);
    }
    sql = smf_sql(j->q, identity_sql);
    if (sql) {
        const char *params[] = {a->guid};
        j->optional |= 1u << 7;
        job_mdb(j, 7, sql, 1, params, "id_member");
        free(sql);
    }
    job_then(j, profile_build);
}

/* Step 2 of /stats/member/{id}: the member's GUID is known, or not. */
static void member_resolved(qjob *j)
{
    player_args *a = j->args;
    const char *guid = row_str(job_row(j, 0), "player_guid");
    if (!*guid || !ident_ok(guid, IDENT_MAX)) {
        job_error(j, 404, "No player profile linked to this forum account.");
        return;
    }
    snprintf(a->guid, sizeof a->guid, "%s", guid);
    cJSON_Delete(j->rows[0]);
    j->rows[0] = NULL;
    profile_start(j);
}

static void member_start(qjob *j)
{
    player_args *a = j->args;
    char id[24];
    snprintf(id, sizeof id, "%ld", a->member_id);
    const char *params[] = {id};
    char *sql = smf_sql(j->q, member_guid_sql);
    if (!sql) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    job_mdb(j, 0, sql, 1, params, "");
    free(sql);
    job_then(j, member_resolved);
}

/* ---- GET /stats/player/name/{name} ---- */

// clang-format off
static const char by_name_sql[] =
    "SELECT guid, name, max(last_ms) AS last\n"
    "FROM player_names\n"
    "WHERE lowerUTF8(name) = lowerUTF8({name}) AND " NOT_UNAUTH_SQL( "guid") "\n"
    "GROUP BY guid, name\n"
    "ORDER BY name = {name} DESC, last DESC, guid ASC\n"
    "LIMIT 1";
// clang-format on

typedef struct {
    char name[NAME_MAX_BYTES * 3 + 1];
} name_args;

static void by_name_build(qjob *j)
{
    const cJSON *r = job_row(j, 0);
    if (!r) {
        name_args *a = j->args;
        char msg[400];
        snprintf(msg, sizeof msg, "Player not found: nobody has played as '%s'.", a->name);
        job_error(j, 404, msg);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "guid", row_str(r, "guid"));
    cJSON_AddStringToObject(o, "name", row_str(r, "name"));
    cJSON_AddStringToObject(o, "player_id", row_str(r, "guid"));
    job_answer(j, 200, o);
}

static void by_name_start(qjob *j)
{
    name_args *a = j->args;
    sqlv v[] = {SQL_STR("name", a->name)};
    job_ch(j, 0, by_name_sql, v, 1);
    job_then(j, by_name_build);
}

static void player_by_name(http_request *req, void *arg)
{
    queryd *q = arg;
    name_args *a = ARGS_NEW(name_args);
    if (!a) {
        http_respond_error(req, 500, "Out of memory.");
        return;
    }
    if (!name_normalize(http_request_param(req, "name"), a->name, sizeof a->name)) {
        free(a);
        respond_bad_param(req, "name", "must be a player name of 1 to 96 bytes");
        return;
    }
    char key[8 + sizeof a->name];
    snprintf(key, sizeof key, "pname:%s", a->name);
    qcache_serve(q->cache, req, key, q->cache_ttl_s, by_name_start, a, free);
}

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
    player_args *a = j->args;
    if (!player_known(j, 2, 0)) {
        not_found(j);
        return;
    }
    if (strcmp(a->part, "combat") == 0) {
        job_answer(j, 200, combat_json(j));
        return;
    }
    if (strcmp(a->part, "movement") == 0) {
        job_answer(j, 200, movement_json(j));
        return;
    }
    if (strcmp(a->part, "stance") == 0) {
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
    cJSON_AddItemToObject(o, "weapons", weapons_json(job_rows(j, 6)));
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

static void deep_start(qjob *j)
{
    player_args *a = j->args;
    job_totals(j, 0);
    sqlv v[] = {SQL_STR("guid", a->guid)};
    job_ch(j, 2, name_sql, v, 1);
    job_ch(j, 3, streaks_sql, v, 1);
    job_ch(j, 4, multikills_sql, v, 1);
    job_ch(j, 5, rivals_sql, v, 1);
    job_guid(j, 6, weapons_sql, 50);
    job_then(j, deep_build);
}

/* ---- breakdowns: weapons, matches, maps, game types ---- */

static void list_build(qjob *j)
{
    player_args *a = j->args;
    if (!player_known(j, 2, 3)) {
        not_found(j);
        return;
    }
    if (strcmp(a->part, "weapons") == 0) {
        job_answer(j, 200, weapons_json(job_rows(j, 0)));
    } else if (strcmp(a->part, "maps") == 0) {
        job_answer(j, 200, breakdowns_json(job_rows(j, 0), "map", "map_name"));
    } else if (strcmp(a->part, "gametypes") == 0) {
        job_answer(j, 200, breakdowns_json(job_rows(j, 0), "gametype", "gametype"));
    } else {
        cJSON *list = cJSON_CreateArray();
        const cJSON *r;
        cJSON_ArrayForEach(r, job_rows(j, 0)) cJSON_AddItemToArray(list, match_item_json(r));
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

static void list_start(qjob *j)
{
    player_args *a = j->args;
    sqlv v[] = {SQL_STR("guid", a->guid)};
    if (strcmp(a->part, "weapons") == 0)
        job_guid(j, 0, weapons_sql, 100);
    else if (strcmp(a->part, "maps") == 0)
        job_facts(j, 0, by_map_sql, 100, 0);
    else if (strcmp(a->part, "gametypes") == 0)
        job_facts(j, 0, by_gametype_sql, 100, 0);
    else {
        job_facts(j, 0, recent_sql, a->pg.limit, a->pg.offset);
        job_ch(j, 1, facts_count_sql, v, 1);
    }
    job_ch(j, 2, name_sql, v, 1);
    sqlv w[] = {SQL_STR("g", a->guid)};
    char *where = sqlt_render("guid = {g}", w, 1);
    if (where) {
        sqlv tv[] = {SQL_RAW("where", where), SQL_STR("day_from", "1970-01-01")};
        job_ch(j, 3, player_totals_sql, tv, 2);
        free(where);
    }
    job_then(j, list_build);
}

/* ---- performance, peak performance, predictions ---- */

static void performance_build(qjob *j)
{
    if (!player_known(j, 2, 3)) {
        not_found(j);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *labels = cJSON_CreateArray(), *kills = cJSON_CreateArray(), *deaths = cJSON_CreateArray();
    cJSON *kd = cJSON_CreateArray(), *matches = cJSON_CreateArray();
    int n = cJSON_GetArraySize(job_rows(j, 0));
    double tk = 0, td = 0, score = 0, secs = 0, rounds = 0, wins = 0, losses = 0;
    for (int i = n - 1; i >= 0; i--) {
        const cJSON *r = cJSON_GetArrayItem(job_rows(j, 0), i);
        cJSON *m = match_item_json(r);
        char day[32];
        iso_time((uint64_t)row_num(r, "first_ms"), day);
        day[10] = '\0';
        cJSON_AddItemToArray(labels, cJSON_CreateString(day));
        cJSON_AddItemToArray(kills, cJSON_CreateNumber(row_num(r, "kills")));
        cJSON_AddItemToArray(deaths, cJSON_CreateNumber(row_num(r, "deaths")));
        cJSON_AddItemToArray(kd, cJSON_CreateNumber(row_num(m, "kd")));
        tk += row_num(r, "kills");
        td += row_num(r, "deaths");
        score += row_num(m, "score");
        secs += row_num(r, "last_t") - row_num(r, "first_t");
        rounds += row_num(r, "rounds");
        wins += row_num(r, "won");
        losses += row_num(r, "lost");
        cJSON_AddItemToArray(matches, m);
    }
    double minutes = secs / 60;
    cJSON_AddItemToObject(o, "labels", labels);
    cJSON_AddItemToObject(o, "kills", kills);
    cJSON_AddItemToObject(o, "deaths", deaths);
    cJSON_AddItemToObject(o, "kd", kd);
    cJSON_AddItemToObject(o, "matches", matches);
    json_add_round(o, "kd_ratio", td > 0 ? tk / td : tk, 2);
    json_add_round(o, "spm", minutes > 0 ? score / minutes : 0, 2);
    json_add_round(o, "kpm", minutes > 0 ? tk / minutes : 0, 2);
    json_add_round(o, "win_loss_ratio", losses > 0 ? wins / losses : wins, 2);
    cJSON_AddNumberToObject(o, "points", score);
    cJSON_AddNumberToObject(o, "rounds_played", rounds);
    cJSON_AddBoolToObject(o, "is_vip", false);
    job_answer(j, 200, o);
}

static void performance_start(qjob *j)
{
    player_args *a = j->args;
    job_facts(j, 0, recent_sql, 20, 0);
    sqlv v[] = {SQL_STR("guid", a->guid)};
    job_ch(j, 2, name_sql, v, 1);
    sqlv w[] = {SQL_STR("g", a->guid)};
    char *where = sqlt_render("guid = {g}", w, 1);
    if (where) {
        sqlv tv[] = {SQL_RAW("where", where), SQL_STR("day_from", "1970-01-01")};
        job_ch(j, 3, player_totals_sql, tv, 2);
        free(where);
    }
    job_then(j, performance_build);
}

/* The K/D of a kills/deaths row. */
static double kd_of(const cJSON *r)
{
    double k = row_num(r, "kills"), d = row_num(r, "deaths");
    return d > 0 ? k / d : k;
}

/* Best hours and days need this many kills + deaths to count: one lucky kill is not a peak. */
#define PEAK_MIN_EVENTS 10

static void peak_build(qjob *j)
{
    if (!player_known(j, 2, 7)) {
        not_found(j);
        return;
    }
    static const char *const day_names[] = {"",         "Monday", "Tuesday",  "Wednesday",
                                            "Thursday", "Friday", "Saturday", "Sunday"};
    cJSON *o = cJSON_CreateObject();
    cJSON *hourly = cJSON_CreateArray();
    const cJSON *r, *best_h = NULL, *best_d = NULL;
    cJSON_ArrayForEach(r, job_rows(j, 0))
    {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "hour", row_num(r, "h"));
        cJSON_AddNumberToObject(e, "kills", row_num(r, "kills"));
        cJSON_AddNumberToObject(e, "deaths", row_num(r, "deaths"));
        json_add_round(e, "kd_ratio", kd_of(r), 2);
        cJSON_AddItemToArray(hourly, e);
        if (row_num(r, "kills") + row_num(r, "deaths") >= PEAK_MIN_EVENTS && (!best_h || kd_of(r) > kd_of(best_h)))
            best_h = r;
    }
    cJSON *daily = cJSON_CreateArray();
    cJSON_ArrayForEach(r, job_rows(j, 1))
    {
        int d = (int)row_num(r, "d");
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "day_of_week", d);
        cJSON_AddStringToObject(e, "day_name", d >= 1 && d <= 7 ? day_names[d] : "");
        cJSON_AddNumberToObject(e, "kills", row_num(r, "kills"));
        cJSON_AddNumberToObject(e, "deaths", row_num(r, "deaths"));
        json_add_round(e, "kd_ratio", kd_of(r), 2);
        cJSON_AddItemToArray(daily, e);
        if (row_num(r, "kills") + row_num(r, "deaths") >= PEAK_MIN_EVENTS && (!best_d || kd_of(r) > kd_of(best_d)))
            best_d = r;
    }
    if (best_h) {
        cJSON *b = cJSON_AddObjectToObject(o, "best_hour");
        cJSON_AddNumberToObject(b, "hour", row_num(best_h, "h"));
        json_add_round(b, "kd_ratio", kd_of(best_h), 2);
        cJSON_AddNumberToObject(b, "kills", row_num(best_h, "kills"));
    } else {
        cJSON_AddNullToObject(o, "best_hour");
    }
    if (best_d) {
        cJSON *b = cJSON_AddObjectToObject(o, "best_day");
        int d = (int)row_num(best_d, "d");
        cJSON_AddNumberToObject(b, "day_of_week", d);
        cJSON_AddStringToObject(b, "day_name", d >= 1 && d <= 7 ? day_names[d] : "");
        json_add_round(b, "kd_ratio", kd_of(best_d), 2);
        cJSON_AddNumberToObject(b, "kills", row_num(best_d, "kills"));
    } else {
        cJSON_AddNullToObject(o, "best_day");
    }
    const cJSON *bm = job_row(j, 3), *bw = job_row(j, 4);
    if (bm) {
        cJSON *b = cJSON_AddObjectToObject(o, "best_map");
        const char *m = row_str(bm, "map");
        cJSON_AddStringToObject(b, "map_name", *m ? m : "unknown");
        cJSON_AddNumberToObject(b, "kills", row_num(bm, "kills"));
        json_add_round(b, "kd_ratio", kd_of(bm), 2);
    } else {
        cJSON_AddNullToObject(o, "best_map");
    }
    if (bw && row_num(bw, "kills") > 0) {
        cJSON *b = cJSON_AddObjectToObject(o, "best_weapon");
        cJSON_AddStringToObject(b, "weapon_name", row_str(bw, "weapon"));
        cJSON_AddNumberToObject(b, "kills", row_num(bw, "kills"));
        json_add_round(b, "headshot_percent",
                       row_num(bw, "kills") > 0 ? row_num(bw, "headshots") * 100 / row_num(bw, "kills") : 0, 1);
    } else {
        cJSON_AddNullToObject(o, "best_weapon");
    }
    cJSON_AddItemToObject(o, "hourly_breakdown", hourly);
    cJSON_AddItemToObject(o, "daily_breakdown", daily);
    /* Shots are counted per day, not per hour, so no hour can be called the most accurate. */
    cJSON_AddNullToObject(o, "most_accurate_at");
    const cJSON *mw = NULL, *ml = NULL;
    cJSON_ArrayForEach(r, job_rows(j, 5))
    {
        if (row_num(r, "wins") > 0 && (!mw || row_num(r, "wins") > row_num(mw, "wins")))
            mw = r;
        if (row_num(r, "losses") > 0 && (!ml || row_num(r, "losses") > row_num(ml, "losses")))
            ml = r;
    }
    if (mw)
        cJSON_AddNumberToObject(o, "most_wins_at", row_num(mw, "h"));
    else
        cJSON_AddNullToObject(o, "most_wins_at");
    if (ml)
        cJSON_AddNumberToObject(o, "most_losses_at", row_num(ml, "h"));
    else
        cJSON_AddNullToObject(o, "most_losses_at");
    const cJSON *s = job_row(j, 6);
    cJSON *streaks = cJSON_AddObjectToObject(o, "streaks");
    cJSON_AddNumberToObject(streaks, "best_kill_streak", row_num(s, "best_streak"));
    job_answer(j, 200, o);
}

// clang-format off
static const char best_map_sql[] =
    "SELECT map_name AS map, sum(kills) AS kills, sum(deaths) AS deaths\n"
    "FROM player_map\n"
    "WHERE guid = {guid}\n"
    "GROUP BY map\n"
    "HAVING kills > 0\n"
    "ORDER BY kills DESC, map ASC\n"
    "LIMIT 1";
// clang-format on

static void peak_start(qjob *j)
{
    player_args *a = j->args;
    sqlv v[] = {SQL_STR("guid", a->guid)};
    job_ch(j, 0, hourly_sql, v, 1);
    job_ch(j, 1, daily_sql, v, 1);
    job_ch(j, 2, name_sql, v, 1);
    job_ch(j, 3, best_map_sql, v, 1);
    job_guid(j, 4, weapons_sql, 1);
    job_facts(j, 5, result_hours_sql, 0, 0);
    job_ch(j, 6, streaks_sql, v, 1);
    sqlv w[] = {SQL_STR("g", a->guid)};
    char *where = sqlt_render("guid = {g}", w, 1);
    if (where) {
        sqlv tv[] = {SQL_RAW("where", where), SQL_STR("day_from", "1970-01-01")};
        job_ch(j, 7, player_totals_sql, tv, 2);
        free(where);
    }
    job_then(j, peak_build);
}

/* Predictions: a plain model over the last 10 matches (docs/definitions.md has no stat for it, so it is
 * described here): expected K/D = their kills / deaths; predicted kills and deaths = their means; trend =
 * the mean K/D of the last 5 against the 5 before (more than 10 % apart: improving / declining);
 * confidence = matches / 10, at most 1. Rivals: head-to-head kills against deaths with each opponent. */
static void predictions_build(qjob *j)
{
    player_args *a = j->args;
    if (!player_known(j, 2, 3)) {
        not_found(j);
        return;
    }
    const cJSON *rows = job_rows(j, 0);
    int n = cJSON_GetArraySize(rows);
    double k = 0, d = 0, recent_kd = 0, older_kd = 0;
    int nr = 0, no = 0;
    cJSON *recent = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        const cJSON *r = cJSON_GetArrayItem(rows, i); /* newest first */
        k += row_num(r, "kills");
        d += row_num(r, "deaths");
        double mkd = kd_of(r);
        if (i < 5) {
            recent_kd += mkd;
            nr++;
        } else {
            older_kd += mkd;
            no++;
        }
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "match_id", row_str(r, "match_key"));
        cJSON_AddNumberToObject(e, "kills", row_num(r, "kills"));
        cJSON_AddNumberToObject(e, "deaths", row_num(r, "deaths"));
        json_add_round(e, "kd", mkd, 2);
        cJSON_AddItemToArray(recent, e);
    }
    const char *trend = "stable";
    if (nr > 0 && no > 0) {
        double rk = recent_kd / nr, ok = older_kd / no;
        if (rk > ok * 1.1)
            trend = "improving";
        else if (rk < ok * 0.9)
            trend = "declining";
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "guid", a->guid);
    cJSON_AddStringToObject(o, "player_name", row_str(job_row(j, 2), "name"));
    json_add_round(o, "expected_kd", d > 0 ? k / d : k, 2);
    cJSON_AddStringToObject(o, "trend", trend);
    json_add_round(o, "confidence", n >= 10 ? 1 : n / 10.0, 2);
    json_add_round(o, "predicted_kills", n > 0 ? k / n : 0, 1);
    json_add_round(o, "predicted_deaths", n > 0 ? d / n : 0, 1);
    cJSON *riv = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, job_rows(j, 1))
    {
        double kills = row_num(r, "kills"), deaths = row_num(r, "deaths_to");
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "opponent_guid", row_str(r, "other_guid"));
        cJSON_AddStringToObject(e, "opponent_name", row_str(r, "other_name"));
        json_add_round(e, "win_prob", kills + deaths > 0 ? kills / (kills + deaths) : 0.5, 2);
        cJSON_AddBoolToObject(e, "nemesis", deaths > kills);
        cJSON_AddItemToArray(riv, e);
    }
    cJSON_AddItemToObject(o, "rival_analysis", riv);
    cJSON_AddItemToObject(o, "recent_performance", recent);
    cJSON_AddNumberToObject(o, "last_updated", (double)time(NULL));
    job_answer(j, 200, o);
}

static void predictions_start(qjob *j)
{
    player_args *a = j->args;
    job_facts(j, 0, recent_sql, 10, 0);
    sqlv v[] = {SQL_STR("guid", a->guid), SQL_INT("limit", 5), SQL_RAW("order", "kills + deaths_to")};
    job_ch(j, 1, opponents_sql, v, 3);
    job_ch(j, 2, name_sql, v, 1);
    sqlv w[] = {SQL_STR("g", a->guid)};
    char *where = sqlt_render("guid = {g}", w, 1);
    if (where) {
        sqlv tv[] = {SQL_RAW("where", where), SQL_STR("day_from", "1970-01-01")};
        job_ch(j, 3, player_totals_sql, tv, 2);
        free(where);
    }
    job_then(j, predictions_build);
}

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
        not_found(j);
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

static void combos_start(qjob *j)
{
    player_args *a = j->args;
    sqlv v[] = {SQL_STR("guid", a->guid)};
    job_ch(j, 0, weapon_on_map_sql, v, 1);
    job_ch(j, 1, weapon_kills_sql, v, 1);
    job_ch(j, 2, name_sql, v, 1);
    sqlv vk[] = {SQL_STR("guid", a->guid), SQL_INT("limit", 10), SQL_RAW("order", "kills")};
    job_ch(j, 3, opponents_sql, vk, 3);
    sqlv vd[] = {SQL_STR("guid", a->guid), SQL_INT("limit", 10), SQL_RAW("order", "deaths_to")};
    job_ch(j, 4, opponents_sql, vd, 3);
    job_ch(j, 5, multikills_sql, v, 1);
    job_ch(j, 6, first_blood_sql, v, 1);
    sqlv w[] = {SQL_STR("g", a->guid)};
    char *where = sqlt_render("guid = {g}", w, 1);
    if (where) {
        sqlv tv[] = {SQL_RAW("where", where), SQL_STR("day_from", "1970-01-01")};
        job_ch(j, 7, player_totals_sql, tv, 2);
        free(where);
    }
    job_then(j, combos_build);
}

/* Playstyle: the class of weapon most of the player's kills come from (docs/definitions.md). */
static void playstyle_build(qjob *j)
{
    if (!player_known(j, 2, 3)) {
        not_found(j);
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

static void playstyle_start(qjob *j)
{
    player_args *a = j->args;
    sqlv v[] = {SQL_STR("guid", a->guid)};
    job_ch(j, 0, class_sql, v, 1);
    job_ch(j, 2, name_sql, v, 1);
    sqlv w[] = {SQL_STR("g", a->guid)};
    char *where = sqlt_render("guid = {g}", w, 1);
    if (where) {
        sqlv tv[] = {SQL_RAW("where", where), SQL_STR("day_from", "1970-01-01")};
        job_ch(j, 3, player_totals_sql, tv, 2);
        free(where);
    }
    job_then(j, playstyle_build);
}

/* vehicles, game-flow, world and bots share one job: totals, match totals, name and one extra query. */
static void misc_build(qjob *j)
{
    player_args *a = j->args;
    if (!player_known(j, 2, 0)) {
        not_found(j);
        return;
    }
    const cJSON *d = job_row(j, 0), *m = job_row(j, 1);
    cJSON *o = cJSON_CreateObject();
    if (strcmp(a->part, "vehicles") == 0) {
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
    } else if (strcmp(a->part, "game-flow") == 0) {
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
    } else if (strcmp(a->part, "world") == 0) {
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

static void misc_start(qjob *j)
{
    player_args *a = j->args;
    job_totals(j, 0);
    sqlv v[] = {SQL_STR("guid", a->guid)};
    job_ch(j, 2, name_sql, v, 1);
    if (strcmp(a->part, "vehicles") == 0)
        job_ch(j, 3, vehicle_deaths_sql, v, 1);
    else if (strcmp(a->part, "game-flow") == 0)
        job_facts(j, 3, team_sides_sql, 0, 0);
    else if (strcmp(a->part, "bots") == 0)
        job_ch(j, 3, bots_sql, v, 1);
    job_then(j, misc_build);
}

/* ---- drilldown ---- */

/* Dimensions of the drilldown and the player_fights expression of each. */
static const struct {
    const char *name, *sql;
} drill_dims[] = {
    {"weapon", "weapon"},
    {"weapon_class", WEAPON_CLASS_SQL("weapon")},
    {"map", "if(map_name = '', 'unknown', map_name)"},
    {"server", "server_id"},
    {"hour", "toString(toHour(toDateTime(intDiv(ts_ms, 1000)), 'UTC'))"},
    {"time_of_day", "toString(toHour(toDateTime(intDiv(ts_ms, 1000)), 'UTC'))"},
    {"day", "toString(toDayOfWeek(toDateTime(intDiv(ts_ms, 1000)), 'UTC'))"},
    {"day_of_week", "toString(toDayOfWeek(toDateTime(intDiv(ts_ms, 1000)), 'UTC'))"},
    {"victim", "if(other_name = '', 'world', other_name)"},
    {"killer", "if(other_name = '', 'world', other_name)"},
    {"opponent", "if(other_name = '', 'world', other_name)"},
    {"hitloc", "if(hitloc = '', 'unknown', hitloc)"},
    {"stance", "if(stance = '', 'unknown', stance)"},
    {"range", "multiIf(dist < 0, 'unknown', dist * 0.0254 < 10, 'close', dist * 0.0254 < 30, 'medium', 'long')"},
};

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
    if (!player_known(j, 2, 3)) {
        not_found(j);
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
        if (strcmp(a->stat, "kd") == 0)
            vals[i] = kd_of(r);
        else
            vals[i] = row_num(r, a->stat);
        total += strcmp(a->stat, "kd") == 0 ? 0 : vals[i];
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
        json_add_round(e, "value", vals[idx[i]], strcmp(a->stat, "kd") == 0 ? 2 : 0);
        json_add_round(e, "percentage", total > 0 ? vals[idx[i]] * 100 / total : 0, 1);
        cJSON_AddNumberToObject(e, "kills", row_num(r, "kills"));
        cJSON_AddNumberToObject(e, "deaths", row_num(r, "deaths"));
        cJSON_AddItemToArray(items, e);
    }
    free(vals);
    free(idx);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "stat", a->stat);
    cJSON_AddStringToObject(o, "dimension", a->dim);
    json_add_round(o, "total", total, 0);
    cJSON_AddItemToObject(o, "items", cJSON_Duplicate(items, true));
    cJSON_AddItemToObject(o, "breakdown", items);
    job_answer(j, 200, o);
}

static void drill_start(qjob *j)
{
    player_args *a = j->args;
    sqlv v[] = {SQL_STR("guid", a->guid), SQL_RAW("dim", a->dim_sql)};
    job_ch(j, 0, drill_sql, v, 2);
    job_ch(j, 2, name_sql, v, 1);
    sqlv w[] = {SQL_STR("g", a->guid)};
    char *where = sqlt_render("guid = {g}", w, 1);
    if (where) {
        sqlv tv[] = {SQL_RAW("where", where), SQL_STR("day_from", "1970-01-01")};
        job_ch(j, 3, player_totals_sql, tv, 2);
        free(where);
    }
    job_then(j, drill_build);
}

/* ---- handlers ---- */

/* Parse {guid} into fresh args; answers 400 and returns NULL when it is not usable. */
static player_args *args_for(http_request *req)
{
    const char *guid = http_request_param(req, "guid");
    if (!ident_ok(guid, IDENT_MAX)) {
        respond_bad_param(req, "guid", "must be 1 to 64 printable bytes");
        return NULL;
    }
    player_args *a = ARGS_NEW(player_args);
    if (!a) {
        http_respond_error(req, 500, "Out of memory.");
        return NULL;
    }
    snprintf(a->guid, sizeof a->guid, "%s", guid);
    a->part = "";
    return a;
}

/* Serve a per-player answer: key "<kind>:<guid>[:extra]". */
static void serve(http_request *req, player_args *a, const char *kind, const char *extra, qjob_fn start)
{
    queryd *q = http_request_data(req);
    char key[600], g[QCACHE_PART_MAX], x[QCACHE_PART_MAX];
    snprintf(key, sizeof key, "p:%s:%s%s%s", kind, qcache_part(a->guid, g), extra ? ":" : "",
             extra ? qcache_part(extra, x) : "");
    qcache_serve(q->cache, req, key, q->cache_ttl_s, start, a, free);
}

#define PLAYER_HANDLER(fn, kind, part_name, start)                                                                     \
    static void fn(http_request *req, void *arg)                                                                       \
    {                                                                                                                  \
        http_request_set_data(req, arg);                                                                               \
        player_args *a = args_for(req);                                                                                \
        if (!a)                                                                                                        \
            return;                                                                                                    \
        a->part = part_name;                                                                                           \
        serve(req, a, kind, NULL, start);                                                                              \
    }

PLAYER_HANDLER(player_profile, "profile", "", profile_start)
PLAYER_HANDLER(player_deep, "deep", "", deep_start)
PLAYER_HANDLER(player_combat, "combat", "combat", deep_start)
PLAYER_HANDLER(player_movement, "movement", "movement", deep_start)
PLAYER_HANDLER(player_stance, "stance", "stance", deep_start)
PLAYER_HANDLER(player_weapons, "weapons", "weapons", list_start)
PLAYER_HANDLER(player_maps, "maps", "maps", list_start)
PLAYER_HANDLER(player_gametypes, "gametypes", "gametypes", list_start)
PLAYER_HANDLER(player_performance, "performance", "", performance_start)
PLAYER_HANDLER(player_peak, "peak", "", peak_start)
PLAYER_HANDLER(player_combos, "combos", "", combos_start)
PLAYER_HANDLER(player_playstyle, "playstyle", "", playstyle_start)
PLAYER_HANDLER(player_predictions, "predictions", "", predictions_start)
PLAYER_HANDLER(player_vehicles, "vehicles", "vehicles", misc_start)
PLAYER_HANDLER(player_gameflow, "gameflow", "game-flow", misc_start)
PLAYER_HANDLER(player_world, "world", "world", misc_start)
PLAYER_HANDLER(player_bots, "bots", "bots", misc_start)

/* GET /stats/player/{guid}/matches */
static void player_matches(http_request *req, void *arg)
{
    queryd *q = arg;
    http_request_set_data(req, arg);
    player_args *a = args_for(req);
    if (!a)
        return;
    a->part = "matches";
    paging_parse(req, q, 10, &a->pg);
    char extra[48];
    snprintf(extra, sizeof extra, "%ld:%ld", a->pg.limit, a->pg.offset);
    serve(req, a, "matches", extra, list_start);
}

/* GET /stats/player/{guid}/drilldown */
static void player_drilldown(http_request *req, void *arg)
{
    queryd *q = arg;
    http_request_set_data(req, arg);
    const char *stat = http_request_query(req, "stat");
    const char *dim = http_request_query(req, "dimension");
    static const char *const stats[] = {"kd", "kills", "deaths", "headshots", "teamkills"};
    const char *st = NULL;
    for (size_t i = 0; i < sizeof stats / sizeof stats[0]; i++)
        if (!stat || !*stat || strcmp(stat, stats[i]) == 0) {
            st = stats[i];
            break;
        }
    if (stat && strcmp(stat, "kd_ratio") == 0)
        st = "kd";
    if (!st) {
        respond_bad_param(req, "stat", "must be kd, kills, deaths, headshots or teamkills");
        return;
    }
    size_t di = 0;
    if (dim && *dim) {
        for (di = 0; di < sizeof drill_dims / sizeof drill_dims[0]; di++)
            if (strcmp(dim, drill_dims[di].name) == 0)
                break;
        if (di == sizeof drill_dims / sizeof drill_dims[0]) {
            respond_bad_param(req, "dimension",
                              "must be weapon, weapon_class, map, server, hour, day, victim, killer, hitloc, "
                              "stance or range");
            return;
        }
    }
    player_args *a = args_for(req);
    if (!a)
        return;
    a->stat = st;
    a->dim = drill_dims[di].name;
    a->dim_sql = drill_dims[di].sql;
    a->limit = param_long(req, "limit", 10, 1, q->max_limit);
    char extra[64];
    snprintf(extra, sizeof extra, "%s:%s:%ld", a->stat, a->dim, a->limit);
    serve(req, a, "drill", extra, drill_start);
}

/* GET /stats/member/{id} */
static void member_profile(http_request *req, void *arg)
{
    queryd *q = arg;
    long id = param_long_parse(http_request_param(req, "id"), -1, -1, 2147483647L);
    if (id <= 0) {
        respond_bad_param(req, "id", "must be a forum member id (a positive number)");
        return;
    }
    player_args *a = ARGS_NEW(player_args);
    if (!a) {
        http_respond_error(req, 500, "Out of memory.");
        return;
    }
    a->member_id = id;
    a->part = "";
    char key[48];
    snprintf(key, sizeof key, "member:%ld", id);
    qcache_serve(q->cache, req, key, q->cache_ttl_s, member_start, a, free);
}

static const route player_table[] = {
    {"/stats/player/name/{name}", player_by_name},
    {"/stats/member/{id}", member_profile},
    {"/stats/player/{guid}", player_profile},
    {"/stats/player/{guid}/deep", player_deep},
    {"/stats/player/{guid}/combat", player_combat},
    {"/stats/player/{guid}/movement", player_movement},
    {"/stats/player/{guid}/stance", player_stance},
    {"/stats/player/{guid}/weapons", player_weapons},
    {"/stats/player/{guid}/matches", player_matches},
    {"/stats/player/{guid}/maps", player_maps},
    {"/stats/player/{guid}/gametypes", player_gametypes},
    {"/stats/player/{guid}/performance", player_performance},
    {"/stats/player/{guid}/peak-performance", player_peak},
    {"/stats/player/{guid}/combos", player_combos},
    {"/stats/player/{guid}/playstyle", player_playstyle},
    {"/stats/player/{guid}/predictions", player_predictions},
    {"/player/{guid}/predictions", player_predictions},
    {"/stats/player/{guid}/vehicles", player_vehicles},
    {"/stats/player/{guid}/game-flow", player_gameflow},
    {"/stats/player/{guid}/world", player_world},
    {"/stats/player/{guid}/bots", player_bots},
    {"/stats/player/{guid}/drilldown", player_drilldown},
};

void player_routes(queryd *q, http_server *s)
{
    routes_add(s, q, player_table, sizeof player_table / sizeof player_table[0]);
}
