/* The stat vocabulary (docs/definitions.md) as data: every leaderboard stat with the SQL that computes it,
 * the SQL fragments several areas share (player totals, per-match facts with wins and losses, game type of
 * a match), and the builder of the common "player stats" JSON object. */
#ifndef MOHSTATS_STATS_H
#define MOHSTATS_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "game_vocab.h"

typedef struct cJSON cJSON;

/* Where a stat is computed from: daily per-player counters, or per-match facts (wins, playtime...). */
typedef enum { STAT_DAILY, STAT_MATCH } stat_source;

typedef struct {
    const char *name; /* as the forum asks for it */
    stat_source source;
    const char *value_sql; /* an expression over a player_totals_sql or a match_totals_render row */
    int decimals;          /* of the served value */
} lb_stat;

/* The leaderboard stats: the forum's 38 and a few more. */
extern const lb_stat lb_stats[];
extern const size_t lb_stats_count;

/* The stat a name (or an alias such as kd, objectives_done, games_finished) stands for; NULL if unknown. */
const lb_stat *lb_stat_find(const char *name);

/* 1 game unit = 1 inch (docs/definitions.md): game units to kilometres / metres. */
#define UNITS_TO_KM 0.0000254
#define UNITS_TO_M 0.0254

/* SQL: the game type id of a match from its gameflow gametype ({gt}) and map name ({map}). Columns, not
 * values: the placeholders are replaced by column expressions chosen in code. Generated from common/game_vocab.h's
 * game type table, which ratingd reads too. */
#define GAMETYPE_SQL(gt, map) VOCAB_GAME_TYPE_SQL(gt, map)

/* SQL: per match, the highest kill count of a player (top_kills), for the finished free-for-all matches only,
 * the only ones it decides (free-for-all wins). matches_where is a WHERE clause on the match_summary rows to
 * read, as a string literal: "" reads them all; it may hold placeholders the caller's template fills. */
#define TOP_KILLS_SQL(matches_where)                                                                                   \
    "SELECT match_key, max(k) AS top_kills\n"                                                                          \
    "FROM\n"                                                                                                           \
    "(\n"                                                                                                              \
    "    SELECT match_key, guid, sumMerge(kills) AS k\n"                                                               \
    "    FROM match_players\n"                                                                                         \
    "    WHERE match_key IN\n"                                                                                         \
    "    (\n"                                                                                                          \
    "        SELECT match_key FROM match_summary " matches_where "\n"                                                  \
    "        GROUP BY match_key\n"                                                                                     \
    "        HAVING sumMerge(ends) > 0 AND " GAMETYPE_SQL("argMaxMerge(gt)",                                           \
                                                          "argMaxMerge(map)") " = 'dm'\n"                              \
                                                                              "    )\n"                                \
                                                                              "    GROUP BY match_key, guid\n"         \
                                                                              ")\n"                                    \
                                                                              "GROUP BY match_key"

/* SQL: the class of a weapon from its name (sniper before rifle: "KAR98 Sniper" is a sniper rifle). */
#define WEAPON_CLASS_SQL(w)                                                                                            \
    "multiIf(match(lower(" w "), 'sniper|springfield|scope'), 'sniper', "                                              \
    "match(lower(" w "), 'grenade|granate|bazooka|panzer|rocket|explos|mine|tnt'), 'explosive', "                      \
    "match(lower(" w "), 'shotgun|trench'), 'shotgun', "                                                               \
    "match(lower(" w "), 'thompson|mp40|sten|ppsh|smg'), 'smg', "                                                      \
    "match(lower(" w "), 'bar|stg|mp44|fg42|mg42|machine'), 'assault', "                                               \
    "match(lower(" w "), 'kar98|garand|enfield|mosin|svt|gewehr|g43|carbine|rifle'), 'rifle', "                        \
    "match(lower(" w "), 'colt|p38|pistol|webley|tt33|luger|walther|revolver|silenced'), 'pistol', "                   \
    "match(lower(" w "), 'bash|knife|melee'), 'melee', 'other')"

/* SQL: a map's display name: the part after the last '/', without a dm_/obj_/lib_/mp_ prefix, capitalised. */
#define MAP_DISPLAY_SQL(map)                                                                                           \
    "if(" map " = '', 'Unknown', concat(upper(substring(replaceRegexpOne(replaceRegexpOne(" map                        \
    ", '^.*/', ''), '^(dm|obj|lib|mp|tow)_', ''), 1, 1)), substring(replaceRegexpOne(replaceRegexpOne(" map            \
    ", '^.*/', ''), '^(dm|obj|lib|mp|tow)_', ''), 2)))"

/* SQL: a map name as served ('' is unknown). */
#define MAP_NAME_SQL(map) "if(" map " = '', 'unknown', " map ")"

/* SQL template: every player_daily counter summed per guid, for the rows {where} selects (a condition
 * rendered by code) from the day {day_from} on. */
extern const char player_totals_sql[];

/* SQL template: one row per (player, match) with the match's result for that player: guid, match_key,
 * team, first_ms, last_ms, kills, deaths, headshots, suicides, teamkills, map, server_id, name, winner,
 * gametype, ends, rounds, top_kills, team_win, team_loss, ffa_win, ffa_loss, won, lost (a match is won at most
 * once: won = team_win OR ffa_win; lost = a result that is not a win). {pm_where} selects the
 * player_match rows (a condition rendered by code), {bound_ms} the first match start. */
extern const char match_facts_sql[];

/* SQL: per guid, the match-based stats of the player_match rows pm_where selects (a condition rendered by
 * code), matches from bound_ms on: MATCH_BASE games, playtime_s, rounds; MATCH_RESULTS wins, team_wins,
 * ffa_wins, losses; both for MATCH_ALL. malloc'd. */
enum { MATCH_BASE = 1, MATCH_RESULTS = 2, MATCH_ALL = 3 };
char *match_totals_render(const char *pm_where, uint64_t bound_ms, int parts);

/* LIVE_TTL_MS (common/live_matches.h) in milliseconds: a server or player quiet longer is not online. */
double live_window_ms(void);

/* The common player stats object: every stat key the forum reads, from a player_totals_sql row and a
 * match_totals_render row (either may be NULL: zeros). */
cJSON *player_stats_json(const cJSON *daily, const cJSON *matches);

/* The name served for the GUID in column (or template value) guid: the one the operator pinned (mohstats-admin rename,
 * schemas/clickhouse/0011_player_name_pins.sql), else name_expr (the reader's own: the latest event's name). The pins
 * are read as two constant arrays (scalar subqueries, sorted alike by GUID) for transform(), so a reader changes one
 * expression and no FROM clause; transform() refuses empty arrays, hence the row of GUID '' (no player has it). */
#define NAME_PINS_SQL                                                                                                  \
    "(SELECT '' AS guid, '' AS name UNION ALL SELECT guid, argMax(name, at_ms) AS name FROM player_name_pins\n"        \
    "  GROUP BY guid HAVING argMax(pinned, at_ms) = 1)"
#define SERVED_NAME_SQL(guid, name_expr)                                                                               \
    "transform(" guid ", (SELECT arraySort(groupArray(guid)) FROM " NAME_PINS_SQL "),\n"                               \
    "  (SELECT arraySort((n, g) -> g, groupArray(name), groupArray(guid)) FROM " NAME_PINS_SQL "), " name_expr ")"

/* SQL template: each player's served name (SERVED_NAME_SQL), for the GUIDs in {guids} (a list). */
extern const char player_names_sql[];

/* PostgreSQL: the registered servers (small; every list that names servers reads it whole). */
extern const char servers_pg_sql[];
/* The same, without the servers the operator hid (mohstats-admin hide --server): for the lists of servers. */
extern const char listed_servers_pg_sql[];
/* The ids of the servers the operator hid: what the lists built from Redis's live state (live matches) leave out. */
extern const char hidden_servers_pg_sql[];

/* A player the public lists show: not a slot (unauth_<n>, docs/definitions.md, Players), not hidden by the operator
 * (mohstats-admin hide; the erased stand-in is hidden too: schemas/clickhouse/0008_hidden_players.sql). argMax, not
 * FINAL: a few milliseconds less in each query (FINAL costs 5-10 ms even on a table of a few rows). */
#define LISTED_PLAYER_SQL(col)                                                                                         \
    "(NOT startsWith(" col ", 'unauth_') AND " col " NOT IN (SELECT guid FROM hidden_players GROUP BY guid\n"          \
    "                                                  HAVING argMax(hidden, version) = 1))"

#endif
