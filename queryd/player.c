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
 * - GET /stats/player/{guid}/predictions: {expected_kd, trend, confidence, rival_analysis, rating, ...}.
 * - GET /player/{guid}/predictions: same.
 * - GET /stats/player/{guid}/ratings?family&limit: {guid, points[...], total}: ratings_history.c.
 *
 * Every query is bounded by the player's key: player_daily, player_match, player_weapon, player_map,
 * player_fights and rating_changes are all ordered by guid first. An unknown GUID is 404. The profile and the
 * predictions carry ratings: ratingd notes its inserts on the freshness stream as the writer does, so they are
 * cached under their data generation like every answer.
 *
 * This file holds the profile (by GUID, name or forum member), its endpoints, and what every part shares
 * (player.h); player_routes registers every part's table. The other parts are player_deep.c (/deep, its parts
 * and the lists), player_trends.c (performance, peak performance, predictions) and player_style.c (combos,
 * playstyle, vehicles, game flow, world, bots, drilldown). */
#include "player.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "endpoint.h"
#include "ratings.h"

/* ---- SQL ---- */

// clang-format off
const char player_name_sql[] =
    "SELECT " SERVED_NAME_SQL("{guid}", "argMax(name, last_ms)") " AS name, max(last_ms) AS seen_ms, max(smf_id) AS smf_id\n"
    "FROM player_names\n"
    "WHERE guid = {guid}";
// clang-format on

// clang-format off
const char player_weapons_sql[] =
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
const char player_recent_sql[] =
    "SELECT *\n"
    "FROM ({facts})\n"
    "ORDER BY first_ms DESC, match_key ASC\n"
    "LIMIT {limit} OFFSET {offset}";
// clang-format on

// clang-format off
const char player_by_map_sql[] =
    "SELECT map, count() AS matches_played, sum(won) AS matches_won,\n"
    "       sum(lost) AS matches_lost, sum(kills) AS kills,\n"
    "       sum(deaths) AS deaths, sum(headshots) AS headshots\n"
    "FROM ({facts})\n"
    "GROUP BY map\n"
    "ORDER BY matches_played DESC, kills DESC, map ASC\n"
    "LIMIT {limit}";
// clang-format on

/* Kill streaks per life: each match's kills (kind 1) and deaths (kind 2) in event order (a kill before a
 * death at the same instant), lives numbered by the deaths before them, kills counted per life. */
// clang-format off
const char player_streaks_sql[] =
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
 * achievd's windows (achievd/evaluate_parts.h, TIME_EPS), and a kill exactly 3 s after the previous one chains. */
// clang-format off
const char player_multikills_sql[] =
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
const char player_opponents_sql[] =
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

const char *player_part(qjob *j)
{
    const char *part = job_endpoint(j)->part;
    return part ? part : "";
}

size_t player_vals(qjob *j, sqlv out[ENDPOINT_VALS])
{
    player_args *a = j->args;
    out[0] = SQL_STR("guid", a->guid);
    return 1;
}

void player_job_facts_at(qjob *j, int slot, const char *tmpl, long limit, long offset)
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

void player_job_facts(qjob *j, int slot, const char *tmpl, long limit)
{
    player_job_facts_at(j, slot, tmpl, limit, 0);
}

/* tmpl keyed by the player: {guid}, {limit}, {order}. */
static void job_guid_ordered(qjob *j, int slot, const char *tmpl, long limit, const char *order)
{
    player_args *a = j->args;
    sqlv v[] = {SQL_STR("guid", a->guid), SQL_INT("limit", limit), SQL_RAW("order", order)};
    job_ch(j, slot, tmpl, v, 3);
}

void player_job_guid(qjob *j, int slot, const char *tmpl, long limit)
{
    job_guid_ordered(j, slot, tmpl, limit, "kills");
}

void player_job_killers(qjob *j, int slot, const char *tmpl, long limit)
{
    job_guid_ordered(j, slot, tmpl, limit, "deaths_to");
}

void player_job_rivals(qjob *j, int slot, const char *tmpl, long limit)
{
    job_guid_ordered(j, slot, tmpl, limit, "kills + deaths_to");
}

void player_job_days(qjob *j, int slot, const char *tmpl, long unused)
{
    (void)unused;
    player_args *a = j->args;
    sqlv w[] = {SQL_STR("g", a->guid)};
    char *where = sqlt_render("guid = {g}", w, 1);
    if (where) {
        sqlv tv[] = {SQL_RAW("where", where), SQL_STR("day_from", "1970-01-01")};
        job_ch(j, slot, tmpl, tv, 2);
        free(where);
    }
}

void player_job_totals(qjob *j, int slot, const char *tmpl, long unused)
{
    (void)unused;
    player_args *a = j->args;
    sqlv w[] = {SQL_STR("g", a->guid)};
    char *where = sqlt_render("guid = {g}", w, 1);
    char *totals = where ? match_totals_render(where, 0, MATCH_ALL) : NULL;
    if (where && totals) {
        sqlv tv[] = {SQL_RAW("where", where), SQL_STR("day_from", "1970-01-01")};
        job_ch(j, slot, tmpl, tv, 2);
        sqlv mv[] = {SQL_RAW("sql", totals)};
        job_ch(j, slot + 1, "{sql}", mv, 1);
    } else {
        job_error(j, 500, "Out of memory.");
    }
    free(where);
    free(totals);
}

/* Whether the player exists: a name was seen, or any event was counted. */
bool player_known(qjob *j, int name_slot, int totals_slot)
{
    return row_num(job_row(j, name_slot), "seen_ms") > 0 || row_num(job_row(j, totals_slot), "events") > 0;
}

void player_not_found(qjob *j)
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

cJSON *player_weapons_json(const cJSON *rows)
{
    cJSON *a = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, rows) cJSON_AddItemToArray(a, weapon_json(r));
    return a;
}

/* One of the player's matches (a match_facts_sql row) as served. */
cJSON *player_match_item_json(const cJSON *r)
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

/* A per-map or per-game-type row (player_by_map_sql, by_gametype_sql) as served; key is the grouping column. */
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

cJSON *player_breakdowns_json(const cJSON *rows, const char *key, const char *as)
{
    cJSON *a = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, rows) cJSON_AddItemToArray(a, breakdown_json(r, key, as));
    return a;
}

/* The K/D of a kills/deaths row. */
double player_kd_of(const cJSON *r)
{
    double k = row_num(r, "kills"), d = row_num(r, "deaths");
    return d > 0 ? k / d : k;
}

/* ---- GET /stats/player/{guid} (also /stats/member/{id}) ---- */

static void profile_build(qjob *j)
{
    player_args *a = j->args;
    if (!player_known(j, 2, 0)) {
        player_not_found(j);
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
            cJSON_AddItemToArray(recent, player_match_item_json(r));
        cJSON_AddItemToArray(perf, player_match_item_json(r));
    }
    /* performance[] is oldest first, as a chart draws it. */
    cJSON *perf_sorted = cJSON_CreateArray();
    for (int k = cJSON_GetArraySize(perf) - 1; k >= 0; k--)
        cJSON_AddItemToArray(perf_sorted, cJSON_Duplicate(cJSON_GetArrayItem(perf, k), true));
    cJSON_Delete(perf);
    cJSON_AddItemToObject(p, "weapons", player_weapons_json(job_rows(j, 5)));
    cJSON_AddItemToObject(p, "maps", player_breakdowns_json(job_rows(j, 4), "map", "map_name"));
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

    /* Skill ratings per game mode family (docs/ratings.md), and the one of the family played most. */
    const cJSON *ratings = job_rows(j, 8);
    uint64_t now_ms = rating_now_ms();
    cJSON_AddItemToObject(p, "ratings", rating_families_json(ratings, now_ms));
    cJSON_AddItemToObject(p, "rating", rating_family_json(ratings, rating_main_family(ratings), now_ms));

    /* The forum reads this answer both wrapped ({player: ...}: War Room, compare) and flat (profile, team
     * page): serve both. */
    cJSON *o = cJSON_Duplicate(p, true);
    cJSON_AddItemToObject(o, "player", p);
    job_answer(j, 200, o);
}

/* What the profile's table cannot say: its ratings and the forum's rows. */
static void profile_start(qjob *j)
{
    player_args *a = j->args;
    rating_job_current(j, 8, a->guid);
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
}

static void member_start(qjob *j);

/* ---- GET /stats/player/name/{name} ---- */

// clang-format off
static const char by_name_sql[] =
    "SELECT guid, name, max(last_ms) AS last\n"
    "FROM player_names\n"
    "WHERE lowerUTF8(name) = lowerUTF8({name}) AND " LISTED_PLAYER_SQL( "guid") "\n"
    "GROUP BY guid, name\n"
    "ORDER BY name = {name} DESC, last DESC, guid ASC\n"
    "LIMIT 1";
// clang-format on

typedef struct {
    const endpoint *ep;
    char name[PLAYER_NAME_MAX];
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

static size_t by_name_vals(qjob *j, sqlv out[ENDPOINT_VALS])
{
    name_args *a = j->args;
    out[0] = SQL_STR("name", a->name);
    return 1;
}

/* ---- the endpoints ---- */

/* The forum member's profile is the player's profile (PROFILE, first in the table) once the GUID is known. */
static const endpoint player_endpoints[] = {
    {.path = "/stats/player/{guid}",
     .key = "p:profile",
     .args_size = sizeof(player_args),
     .params = {PLAYER_GUID_PARAM},
     .vals = player_vals,
     .queries = {{0, player_totals_sql, player_job_totals, 0},
                 {2, player_name_sql, NULL, 0},
                 {3, player_recent_sql, player_job_facts, 20},
                 {4, player_by_map_sql, player_job_facts, 5},
                 {5, player_weapons_sql, player_job_guid, 10}},
     .start = profile_start,
     .build = profile_build},
    {.path = "/stats/player/name/{name}",
     .key = "pname",
     .args_size = sizeof(name_args),
     .params = {{PARAM_NAME, "name", offsetof(name_args, name), 0, "must be a player name of 1 to 96 bytes", NULL}},
     .vals = by_name_vals,
     .queries = {{0, by_name_sql, NULL, 0}},
     .build = by_name_build},
    {.path = "/stats/member/{id}",
     .key = "member",
     .args_size = sizeof(player_args),
     .params = {{PARAM_ID, "id", offsetof(player_args, member_id), 0, "must be a forum member id (a positive number)",
                 NULL}},
     .start = member_start},
};
#define PROFILE (&player_endpoints[0])

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
    endpoint_run(j, PROFILE);
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

void player_routes(queryd *q, http_server *s)
{
    endpoints_add(q, s, player_endpoints, sizeof player_endpoints / sizeof player_endpoints[0]);
    endpoints_add(q, s, player_deep_endpoints, player_deep_endpoints_n);
    endpoints_add(q, s, player_trends_endpoints, player_trends_endpoints_n);
    endpoints_add(q, s, player_style_endpoints, player_style_endpoints_n);
    endpoints_add(q, s, rating_player_endpoints, rating_player_endpoints_n);
}
