/* The stat vocabulary: leaderboard stats as SQL, shared SQL templates and the player stats object. */
#include "stats.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "job.h"
#include "live_matches.h"
#include "sqlt.h"

/* A stat's SQL is an expression over the columns of one player_totals_sql row (daily stats) or one
 * match_totals_render row (match stats). A player is on a board when the value is > 0 (docs/definitions.md). */
const lb_stat lb_stats[] = {
    {"kills", STAT_DAILY, "kills", 0},
    {"deaths", STAT_DAILY, "deaths", 0},
    {"kd_ratio", STAT_DAILY, "if(deaths = 0, toFloat64(kills), kills / deaths)", 2},
    {"headshots", STAT_DAILY, "headshots", 0},
    {"accuracy", STAT_DAILY, "if(shots_fired = 0, 0, shots_hit * 100 / shots_fired)", 1},
    {"shots_fired", STAT_DAILY, "shots_fired", 0},
    {"damage", STAT_DAILY, "damage_dealt", 0},
    {"bash_kills", STAT_DAILY, "bash_kills", 0},
    {"grenade_kills", STAT_DAILY, "grenade_kills", 0},
    {"roadkills", STAT_DAILY, "roadkills", 0},
    {"telefrags", STAT_DAILY, "telefrags", 0},
    {"crushed", STAT_DAILY, "crushed", 0},
    {"teamkills", STAT_DAILY, "teamkills", 0},
    {"suicides", STAT_DAILY, "suicides", 0},
    {"reloads", STAT_DAILY, "reloads", 0},
    {"weapon_swaps", STAT_DAILY, "weapon_swaps", 0},
    {"no_ammo", STAT_DAILY, "no_ammo", 0},
    {"looter", STAT_DAILY, "items_picked", 0},
    {"distance", STAT_DAILY, "distance_units * 0.0000254", 2},
    {"sprinted", STAT_DAILY, "sprinted_units * 0.0000254", 2},
    {"swam", STAT_DAILY, "swam_units * 0.0000254", 2},
    {"driven", STAT_DAILY, "driven_units * 0.0000254", 2},
    {"jumps", STAT_DAILY, "jumps", 0},
    {"crouch_time", STAT_DAILY, "crouches", 0},
    {"prone_time", STAT_DAILY, "prones", 0},
    {"ladders", STAT_DAILY, "ladders", 0},
    {"health_picked", STAT_DAILY, "health_picked", 0},
    {"ammo_picked", STAT_DAILY, "ammo_picked", 0},
    {"armor_picked", STAT_DAILY, "armor_picked", 0},
    {"items_picked", STAT_DAILY, "items_picked", 0},
    {"wins", STAT_MATCH, "wins", 0},
    {"team_wins", STAT_MATCH, "team_wins", 0},
    {"ffa_wins", STAT_MATCH, "ffa_wins", 0},
    {"losses", STAT_MATCH, "losses", 0},
    {"objectives", STAT_DAILY, "objectives", 0},
    {"rounds", STAT_MATCH, "rounds", 0},
    {"playtime", STAT_MATCH, "playtime_s", 0},
    {"games", STAT_MATCH, "games", 0},
    /* Beyond the forum's 38: used by the cards page and the Go API's clients. */
    {"bot_kills", STAT_DAILY, "bot_kills", 0},
    {"total_kills", STAT_DAILY, "kills + bot_kills", 0},
    {"chat_msgs", STAT_DAILY, "chat_messages", 0},
    {"vehicle_enter", STAT_DAILY, "vehicle_enters", 0},
    {"turret_enter", STAT_DAILY, "turret_enters", 0},
    {"doors_opened", STAT_DAILY, "doors_opened", 0},
    {"spectating", STAT_DAILY, "spectates", 0},
    {"headshot_ratio", STAT_DAILY, "if(kills = 0, 0, headshots * 100 / kills)", 1},
};
const size_t lb_stats_count = sizeof lb_stats / sizeof lb_stats[0];

static const struct {
    const char *alias, *stat;
} lb_aliases[] = {
    {"kd", "kd_ratio"},
    {"kdr", "kd_ratio"},
    {"kill", "kills"},
    {"objectives_done", "objectives"},
    {"rounds_played", "rounds"},
    {"games_finished", "games"},
    {"matches", "games"},
    {"matches_played", "games"},
    {"time_played", "playtime"},
    {"playtime_seconds", "playtime"},
    {"distance_km", "distance"},
    {"team_kills", "teamkills"},
    {"vehicle_kills", "roadkills"},
    {"damage_dealt", "damage"},
};

const lb_stat *lb_stat_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof lb_aliases / sizeof lb_aliases[0]; i++)
        if (strcmp(name, lb_aliases[i].alias) == 0) {
            name = lb_aliases[i].stat;
            break;
        }
    for (size_t i = 0; i < lb_stats_count; i++)
        if (strcmp(name, lb_stats[i].name) == 0)
            return &lb_stats[i];
    return NULL;
}

// clang-format off
const char player_totals_sql[] =
    "SELECT\n"
    "    guid,\n"
    "    sum(events) AS events, sum(kills) AS kills, sum(deaths) AS deaths,\n"
    "    sum(suicides) AS suicides, sum(teamkills) AS teamkills,\n"
    "    sum(teamkilled) AS teamkilled, sum(headshots) AS headshots,\n"
    "    sum(bot_kills) AS bot_kills, sum(torso_kills) AS torso_kills,\n"
    "    sum(limb_kills) AS limb_kills, sum(nutshots) AS nutshots,\n"
    "    sum(bash_kills) AS bash_kills, sum(grenade_kills) AS grenade_kills,\n"
    "    sum(roadkills) AS roadkills, sum(telefrags) AS telefrags,\n"
    "    sum(crushed) AS crushed, sum(fall_deaths) AS fall_deaths,\n"
    "    sum(standing_kills) AS standing_kills, sum(crouch_kills) AS crouch_kills,\n"
    "    sum(prone_kills) AS prone_kills,\n"
    "    sum(kill_dist_sum) AS kill_dist_sum, sum(kill_dist_n) AS kill_dist_n,\n"
    "    sum(shots_fired) AS shots_fired, sum(shots_hit) AS shots_hit,\n"
    "    sum(damage_dealt) AS damage_dealt, sum(damage_taken) AS damage_taken,\n"
    "    sum(reloads) AS reloads, sum(weapon_swaps) AS weapon_swaps,\n"
    "    sum(no_ammo) AS no_ammo, sum(items_picked) AS items_picked,\n"
    "    sum(health_picked) AS health_picked, sum(ammo_picked) AS ammo_picked,\n"
    "    sum(armor_picked) AS armor_picked,\n"
    "    sum(distance_units) AS distance_units, sum(sprinted_units) AS sprinted_units,\n"
    "    sum(swam_units) AS swam_units, sum(driven_units) AS driven_units,\n"
    "    sum(jumps) AS jumps, sum(crouches) AS crouches, sum(prones) AS prones,\n"
    "    sum(ladders) AS ladders, sum(objectives) AS objectives,\n"
    "    sum(chat_messages) AS chat_messages, sum(team_messages) AS team_messages,\n"
    "    sum(spawns) AS spawns, sum(grenades_thrown) AS grenades_thrown,\n"
    "    sum(vehicle_enters) AS vehicle_enters, sum(turret_enters) AS turret_enters,\n"
    "    sum(doors_opened) AS doors_opened, sum(spectates) AS spectates\n"
    "FROM player_daily\n"
    "WHERE {where} AND day >= toDate({day_from})\n"
    "GROUP BY guid";
// clang-format on

/* Joins nest because ClickHouse 18.16 allows one JOIN per SELECT. The match_summary and match_players
 * parts are restricted to the selected players' matches, so a player page reads only its own matches; the
 * top kill count (free-for-all wins) is only looked up for finished dm matches, the only ones it decides. */
// clang-format off
const char match_facts_sql[] =
    "SELECT\n"
    "    guid, match_key, team, first_ms, last_ms, first_t, last_t, kills, deaths, headshots, suicides,\n"
    "    teamkills, map, server_id, name, winner, gametype, ends, rounds, top_kills,\n"
    "    toUInt64(winner IN ('allies', 'axis') AND team = winner) AS team_win,\n"
    "    toUInt64(winner IN ('allies', 'axis') AND team IN ('allies', 'axis') AND team != winner) AS team_loss,\n"
    "    toUInt64(gametype = 'dm' AND ends > 0 AND kills > 0 AND kills = top_kills) AS ffa_win,\n"
    "    toUInt64(gametype = 'dm' AND ends > 0 AND NOT (kills > 0 AND kills = top_kills)) AS ffa_loss,\n"
    "    toUInt64(team_win OR ffa_win) AS won,\n"
    "    toUInt64((team_loss OR ffa_loss) AND NOT (team_win OR ffa_win)) AS lost\n"
    "FROM\n"
    "(\n"
    "    SELECT *\n"
    "    FROM\n"
    "    (\n"
    "        SELECT guid, match_key, argMaxMerge(team) AS team, minMerge(first_ms) AS first_ms,\n"
    "               maxMerge(last_ms) AS last_ms, sumMerge(kills) AS kills, sumMerge(deaths) AS deaths,\n"
    "               sumMerge(headshots) AS headshots, sumMerge(suicides) AS suicides,\n"
    "               sumMerge(teamkills) AS teamkills, argMaxMerge(map) AS map,\n"
    "               anyMerge(server_id) AS server_id, argMaxMerge(name) AS name,\n"
    "               minMerge(first_t) AS first_t, maxMerge(last_t) AS last_t\n"
    "        FROM player_match\n"
    "        WHERE {pm_where}\n"
    "        GROUP BY guid, match_key\n"
    "        HAVING first_ms >= {bound_ms}\n"
    "    )\n"
    "    ANY LEFT JOIN\n"
    "    (\n"
    "        SELECT match_key, argMaxMerge(winner) AS winner,\n"
    "               " GAMETYPE_SQL("argMaxMerge(gt)", "argMaxMerge(map)") " AS gametype,\n"
    "               sumMerge(ends) AS ends, sumMerge(rounds) AS rounds\n"
    "        FROM match_summary\n"
    "        WHERE match_key IN (SELECT match_key FROM player_match WHERE {pm_where})\n"
    "        GROUP BY match_key\n"
    "    ) USING match_key\n"
    ")\n"
    "ANY LEFT JOIN\n"
    "(\n" TOP_KILLS_SQL("WHERE match_key IN (SELECT match_key FROM player_match WHERE {pm_where})") "\n"
    ") USING match_key";
// clang-format on

/* Matches played, playtime and rounds (MATCH_BASE) need no result: they read the player's matches directly
 * (and the matches that had rounds). Wins and losses (MATCH_RESULTS) need the full facts, but only of the
 * matches that have a result (a winner, or a finished free-for-all), which trackers without gameflow events
 * never produce. */
// clang-format off
static const char match_base_tmpl[] =
    "SELECT guid, count() AS games, sum(l - f) AS playtime_s, sum(r) AS rounds\n"
    "FROM\n"
    "(\n"
    "    SELECT guid, match_key, minMerge(first_t) AS f, maxMerge(last_t) AS l\n"
    "    FROM player_match\n"
    "    WHERE {pm_where}\n"
    "    GROUP BY guid, match_key\n"
    "    HAVING minMerge(first_ms) >= {bound_ms}\n"
    ")\n"
    "ANY LEFT JOIN\n"
    "(\n"
    "    SELECT match_key, sumMerge(rounds) AS r FROM match_summary\n"
    "    WHERE match_key IN (SELECT match_key FROM player_match WHERE {pm_where})\n"
    "    GROUP BY match_key\n"
    "    HAVING r > 0\n"
    ") USING match_key\n"
    "GROUP BY guid";

static const char match_results_tmpl[] =
    "SELECT guid, sum(won) AS wins, sum(team_win) AS team_wins,\n"
    "       sum(ffa_win) AS ffa_wins, sum(lost) AS losses\n"
    "FROM ({facts})\n"
    "GROUP BY guid";

static const char match_totals_tmpl[] = "SELECT guid, games, playtime_s, rounds, wins, team_wins, ffa_wins, losses\n"
                                        "FROM ({base})\n"
                                        "ANY LEFT JOIN ({results}) USING guid";

/* The matches with a result (see above), as a condition on match_key. */
static const char result_matches_sql[] =
    "match_key IN (SELECT match_key FROM match_summary\n"
    "              WHERE match_key IN (SELECT match_key FROM player_match WHERE {pm_where})\n"
    "              GROUP BY match_key\n"
    "              HAVING argMaxMerge(winner) IN ('allies', 'axis') OR sumMerge(ends) > 0)";
// clang-format on

char *match_totals_render(const char *pm_where, uint64_t bound_ms, int parts)
{
    char *base = NULL, *results = NULL, *out = NULL;
    if (parts & MATCH_BASE) {
        sqlv bv[] = {SQL_RAW("pm_where", pm_where), SQL_INT("bound_ms", (long long)bound_ms)};
        if (!(base = sqlt_render(match_base_tmpl, bv, 2)))
            goto done;
    }
    if (parts & MATCH_RESULTS) {
        sqlv pv[] = {SQL_RAW("pm_where", pm_where)};
        char *results_of = sqlt_render(result_matches_sql, pv, 1);
        size_t n = strlen(pm_where) + (results_of ? strlen(results_of) : 0) + 16;
        char *restricted = results_of ? malloc(n) : NULL;
        if (restricted)
            snprintf(restricted, n, "(%s) AND %s", pm_where, results_of);
        free(results_of);
        if (!restricted)
            goto done;
        sqlv fv[] = {SQL_RAW("pm_where", restricted), SQL_INT("bound_ms", (long long)bound_ms)};
        char *facts = sqlt_render(match_facts_sql, fv, 2);
        free(restricted);
        if (!facts)
            goto done;
        sqlv rv[] = {SQL_RAW("facts", facts)};
        results = sqlt_render(match_results_tmpl, rv, 1);
        free(facts);
        if (!results)
            goto done;
    }
    if (base && results) {
        sqlv tv[] = {SQL_RAW("base", base), SQL_RAW("results", results)};
        out = sqlt_render(match_totals_tmpl, tv, 2);
    } else {
        out = base ? base : results;
        base = results = NULL;
    }
done:
    free(base);
    free(results);
    return out;
}

// clang-format off
const char player_names_sql[] =
    "SELECT guid, " SERVED_NAME_SQL("guid", "argMax(name, last_ms)") " AS name\n"
    "FROM player_names\n"
    "WHERE guid IN {guids}\n"
    "GROUP BY guid";
// clang-format on

// clang-format off
#define SERVERS_PG_SQL(where)                                                                                          \
    "SELECT id, name, host(ip_address) AS address, port, is_active,\n"                                             \
    "       extract(epoch FROM created_at)::bigint AS created_s,\n"                                               \
    "       coalesce(extract(epoch FROM last_seen_at)::bigint, 0) AS last_seen_s\n"                               \
    "FROM servers\n"                                                                                               \
    where                                                                                                          \
    "ORDER BY name, id"
const char servers_pg_sql[] = SERVERS_PG_SQL("");
const char listed_servers_pg_sql[] = SERVERS_PG_SQL("WHERE NOT hidden\n");
const char hidden_servers_pg_sql[] = "SELECT id FROM servers WHERE hidden";
// clang-format on

/* Add a whole number. */
static void add_n(cJSON *o, const char *key, double v)
{
    cJSON_AddNumberToObject(o, key, v);
}

cJSON *player_stats_json(const cJSON *d, const cJSON *m)
{
    cJSON *o = cJSON_CreateObject();
    double kills = row_num(d, "kills"), deaths = row_num(d, "deaths");
    double fired = row_num(d, "shots_fired"), hit = row_num(d, "shots_hit");
    double kd = deaths > 0 ? kills / deaths : kills;
    double acc = fired > 0 ? hit * 100 / fired : 0;
    double games = row_num(m, "games"), wins = row_num(m, "wins"), losses = row_num(m, "losses");
    double playtime = row_num(m, "playtime_s");
    double dist_km = row_num(d, "distance_units") * UNITS_TO_KM;
    add_n(o, "kills", kills);
    add_n(o, "deaths", deaths);
    json_add_round(o, "kd_ratio", kd, 2);
    json_add_round(o, "kd", kd, 2);
    json_add_round(o, "kdr", kd, 2);
    add_n(o, "headshots", row_num(d, "headshots"));
    json_add_round(o, "headshot_percent", kills > 0 ? row_num(d, "headshots") * 100 / kills : 0, 1);
    json_add_round(o, "accuracy", acc, 1);
    add_n(o, "shots_fired", fired);
    add_n(o, "shots_hit", hit);
    add_n(o, "shots", fired);
    add_n(o, "hits", hit);
    json_add_round(o, "damage", row_num(d, "damage_dealt"), 0);
    json_add_round(o, "damage_dealt", row_num(d, "damage_dealt"), 0);
    json_add_round(o, "damage_taken", row_num(d, "damage_taken"), 0);
    add_n(o, "suicides", row_num(d, "suicides"));
    add_n(o, "teamkills", row_num(d, "teamkills"));
    add_n(o, "team_kills", row_num(d, "teamkills"));
    add_n(o, "bot_kills", row_num(d, "bot_kills"));
    add_n(o, "total_kills", kills + row_num(d, "bot_kills"));
    add_n(o, "bash_kills", row_num(d, "bash_kills"));
    add_n(o, "melee_kills", row_num(d, "bash_kills"));
    add_n(o, "grenade_kills", row_num(d, "grenade_kills"));
    add_n(o, "roadkills", row_num(d, "roadkills"));
    add_n(o, "telefrags", row_num(d, "telefrags"));
    add_n(o, "crushed", row_num(d, "crushed"));
    add_n(o, "torso_kills", row_num(d, "torso_kills"));
    add_n(o, "limb_kills", row_num(d, "limb_kills"));
    add_n(o, "nutshots", row_num(d, "nutshots"));
    add_n(o, "standing_kills", row_num(d, "standing_kills"));
    add_n(o, "crouching_kills", row_num(d, "crouch_kills"));
    add_n(o, "prone_kills", row_num(d, "prone_kills"));
    add_n(o, "reloads", row_num(d, "reloads"));
    add_n(o, "weapon_swaps", row_num(d, "weapon_swaps"));
    add_n(o, "no_ammo", row_num(d, "no_ammo"));
    add_n(o, "looter", row_num(d, "items_picked"));
    add_n(o, "items_picked", row_num(d, "items_picked"));
    add_n(o, "health_picked", row_num(d, "health_picked"));
    add_n(o, "ammo_picked", row_num(d, "ammo_picked"));
    add_n(o, "armor_picked", row_num(d, "armor_picked"));
    json_add_round(o, "distance", dist_km, 2);
    json_add_round(o, "distance_km", dist_km, 2);
    json_add_round(o, "distance_traveled", dist_km * 1000, 0);
    json_add_round(o, "sprinted", row_num(d, "sprinted_units") * UNITS_TO_KM, 2);
    json_add_round(o, "swam", row_num(d, "swam_units") * UNITS_TO_KM, 2);
    json_add_round(o, "driven", row_num(d, "driven_units") * UNITS_TO_KM, 2);
    add_n(o, "jumps", row_num(d, "jumps"));
    add_n(o, "crouch_time", row_num(d, "crouches"));
    add_n(o, "prone_time", row_num(d, "prones"));
    add_n(o, "ladders", row_num(d, "ladders"));
    add_n(o, "objectives", row_num(d, "objectives"));
    add_n(o, "wins", wins);
    add_n(o, "team_wins", row_num(m, "team_wins"));
    add_n(o, "ffa_wins", row_num(m, "ffa_wins"));
    add_n(o, "losses", losses);
    add_n(o, "rounds", row_num(m, "rounds"));
    add_n(o, "games", games);
    add_n(o, "matches", games);
    add_n(o, "matches_played", games);
    add_n(o, "matches_won", wins);
    json_add_round(o, "win_rate", games > 0 ? wins * 100 / games : 0, 1);
    json_add_round(o, "wl_ratio", losses > 0 ? wins / losses : wins, 2);
    json_add_round(o, "playtime", playtime, 0);
    json_add_round(o, "playtime_seconds", playtime, 0);
    json_add_round(o, "time_played", playtime, 0);
    json_add_round(o, "playtime_hours", playtime / 3600, 1);
    json_add_round(o, "kpm", playtime > 0 ? kills * 60 / playtime : 0, 2);
    return o;
}

double live_window_ms(void)
{
    /* Read once: the setting does not change while queryd runs, and this is asked for every live player. */
    static double ms = -1;
    if (ms < 0)
        ms = (double)config_get_int(LIVE_TTL_VAR, LIVE_TTL_DEFAULT_MS);
    return ms;
}
