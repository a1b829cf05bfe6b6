/* Teams and tournaments, read side: the results achievd recorded (mohstats_tournament_results, docs/tournaments.md)
 * with the forum's teams and brackets (MariaDB), and the linked games' statistics (ClickHouse).
 *
 * - GET /stats/team/{id}: the team's play from its members' linked GUIDs while each was in the team (kills, deaths,
 *   K/D, accuracy, games, wins, losses, top maps and weapons, and each member's part, former members' too).
 * - GET /stats/team/{id}/matches: {team_id, team_name, team_tag, played, wins, losses, draws, matches: [...]}, the
 *   team's recorded tournament matches, newest first.
 * - GET /stats/team/{id}/vs/{other}: the same for the matches between the two teams, with both teams' tallies.
 * - GET /stats/tournament/{id}: {tournament, bracket: [...rounds of matches with teams, scores, winner, link and the
 *   linked game's statistics], top_players: [...], matches_played}.
 * - GET /stats/member/{id}/tournaments: a member's tournament record: the recorded matches of their teams that
 *   ended while they were in the team, per tournament and in all.
 *
 * Only columns every schema variant of the forum has are named; the bracket's rows are read whole (SELECT m.*) and
 * each variant's names taken where present (the plugin's id_team1 / round_number / team1_score / id_winner, else
 * smf-mohaa's id_team_a / round / score_a / winner_id). */
#include "area.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "endpoint.h"
#include "event_model.h"
#include "stats.h"

typedef struct {
    const endpoint *ep;
    long id, other;
} team_args;

#define HISTORY_MAX "200"

/* The recorded matches of team {1} (every "?" is the team's id, {2} the opponent or 0 for any), from the team's
 * side: its score first, its result; a bye is no match played: left out. Only this forum's:
 * mohstats_tournament_results is the database's, and another forum's prefix in it has teams of the same ids
 * (docs/tournaments.md). */
// clang-format off
#define HISTORY_SQL(where)                                                                                             \
    "SELECT r.id_match AS tournament_match_id, m.id_tournament, tr.name AS tournament_name, r.match_id,\n"          \
    "       r.ended_at, IF(r.id_team_a = ?, r.id_team_b, r.id_team_a) AS opponent_id,\n"                              \
    "       COALESCE(o.team_name, '') AS opponent_name,\n"                                                              \
    "       IF(r.id_team_a = ?, r.score_a, r.score_b) AS team_score,\n"                                                 \
    "       IF(r.id_team_a = ?, r.score_b, r.score_a) AS opponent_score,\n"                                             \
    "       CASE WHEN r.result = 'draw' THEN 'draw'\n"                                                                  \
    "            WHEN (r.result = 'a') = (r.id_team_a = ?) THEN 'win' ELSE 'loss' END AS result\n"                      \
    "FROM mohstats_tournament_results AS r\n"                                                                           \
    "JOIN {p}mohaa_tournament_matches AS m ON m.id_match = r.id_match\n"                                                \
    "LEFT JOIN {p}mohaa_tournaments AS tr ON tr.id_tournament = m.id_tournament\n"                                      \
    "LEFT JOIN {p}mohaa_teams AS o ON o.id_team = IF(r.id_team_a = ?, r.id_team_b, r.id_team_a)\n"                     \
    "WHERE r.result <> 'bye' AND " where "\n"                                                                           \
    "ORDER BY r.ended_at DESC, r.id_match DESC\n"                                                                       \
    "LIMIT " HISTORY_MAX
// clang-format on

static const char history_sql[] = HISTORY_SQL("(r.id_team_a = ? OR r.id_team_b = ?)");
static const char h2h_sql[] =
    HISTORY_SQL("((r.id_team_a = ? AND r.id_team_b = ?) OR (r.id_team_b = ? AND r.id_team_a = ?))");
#define HISTORY_NUMERIC "tournament_match_id,id_tournament,ended_at,opponent_id,team_score,opponent_score"

static const char teams_sql[] = "SELECT id_team, team_name, team_tag FROM {p}mohaa_teams WHERE id_team IN (?, ?)";

/* Queue a MariaDB statement over the forum's tables; false when out of memory (answered). */
static bool queue_mdb(qjob *j, int slot, const char *tmpl, int n, const char *const *params, const char *numeric)
{
    char *sql = smf_sql(j->q, tmpl);
    if (!sql) {
        job_error(j, 500, "Out of memory.");
        return false;
    }
    job_mdb(j, slot, sql, n, params, numeric);
    free(sql);
    return true;
}

static const cJSON *team_of(const cJSON *teams, long id)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, teams)
    {
        if (row_num(r, "id_team") == (double)id)
            return r;
    }
    return NULL;
}

/* A team's head of answer and its tallies over its history rows (their results are from its side). */
static cJSON *team_tally(const cJSON *team, const cJSON *history)
{
    cJSON *o = cJSON_CreateObject();
    double wins = 0, losses = 0, draws = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, history)
    {
        const char *res = row_str(r, "result");
        wins += strcmp(res, "win") == 0;
        losses += strcmp(res, "loss") == 0;
        draws += strcmp(res, "draw") == 0;
    }
    cJSON_AddNumberToObject(o, "team_id", row_num(team, "id_team"));
    cJSON_AddStringToObject(o, "team_name", row_str(team, "team_name"));
    cJSON_AddStringToObject(o, "team_tag", row_str(team, "team_tag"));
    cJSON_AddNumberToObject(o, "played", wins + losses + draws);
    cJSON_AddNumberToObject(o, "wins", wins);
    cJSON_AddNumberToObject(o, "losses", losses);
    cJSON_AddNumberToObject(o, "draws", draws);
    json_add_round(o, "win_rate", wins + losses + draws > 0 ? wins * 100 / (wins + losses + draws) : 0, 1);
    return o;
}

/* 404 naming the first of the asked teams the forum does not have; true when it answered. */
static bool team_missing(qjob *j, const cJSON *teams, long id, long other)
{
    long missing = !team_of(teams, id) ? id : other && !team_of(teams, other) ? other : 0;
    if (!missing)
        return false;
    char msg[96];
    snprintf(msg, sizeof msg, "Team not found: no forum team %ld.", missing);
    job_error(j, 404, msg);
    return true;
}

static void history_build(qjob *j)
{
    team_args *a = j->args;
    const cJSON *teams = job_rows(j, 0);
    if (team_missing(j, teams, a->id, a->other))
        return;
    cJSON *history = job_take(j, 1);
    cJSON *o = team_tally(team_of(teams, a->id), history);
    if (a->other) {
        /* the other team's tallies are this one's mirrored */
        cJSON *opp = cJSON_CreateObject();
        const cJSON *t = team_of(teams, a->other);
        cJSON_AddNumberToObject(opp, "team_id", row_num(t, "id_team"));
        cJSON_AddStringToObject(opp, "team_name", row_str(t, "team_name"));
        cJSON_AddStringToObject(opp, "team_tag", row_str(t, "team_tag"));
        cJSON_AddNumberToObject(opp, "wins", row_num(o, "losses"));
        cJSON_AddNumberToObject(opp, "losses", row_num(o, "wins"));
        cJSON_AddNumberToObject(opp, "draws", row_num(o, "draws"));
        cJSON_AddItemToObject(o, "opponent", opp);
    }
    cJSON_AddItemToObject(o, "matches", history ? history : cJSON_CreateArray());
    job_answer(j, 200, o);
}

static void history_start(qjob *j)
{
    team_args *a = j->args;
    char id[24], other[24];
    snprintf(id, sizeof id, "%ld", a->id);
    snprintf(other, sizeof other, "%ld", a->other ? a->other : a->id);
    const char *tp[] = {id, other};
    if (!queue_mdb(j, 0, teams_sql, 2, tp, "id_team"))
        return;
    bool ok;
    if (a->other) {
        const char *p[] = {id, id, id, id, id, id, other, id, other};
        ok = queue_mdb(j, 1, h2h_sql, 9, p, HISTORY_NUMERIC);
    } else {
        const char *p[] = {id, id, id, id, id, id, id};
        ok = queue_mdb(j, 1, history_sql, 7, p, HISTORY_NUMERIC);
    }
    if (ok)
        job_then(j, history_build);
}

/* ---- GET /stats/tournament/{id} ---- */

static const char tournament_sql[] = "SELECT * FROM {p}mohaa_tournaments WHERE id_tournament = ?";

// clang-format off
static const char bracket_sql[] =
    "SELECT m.*, l.match_id AS linked_match_id, l.source AS link_source, r.result AS recorded_result\n"
    "FROM {p}mohaa_tournament_matches AS m\n"
    "LEFT JOIN mohstats_tournament_links AS l ON l.id_match = m.id_match\n"
    "LEFT JOIN mohstats_tournament_results AS r ON r.id_match = m.id_match\n"
    "WHERE m.id_tournament = ?";

/* The bracket's teams, by the ids its rows name (each variant's columns; teams yet to play too): "?" repeated. */
#define BRACKET_TEAMS_MAX 256
static const char bracket_teams_sql[] = "SELECT id_team, team_name, team_tag FROM {p}mohaa_teams WHERE id_team IN (";

/* The linked games' statistics. */
static const char games_sql[] =
    "SELECT match_key, argMaxMerge(map) AS map_name, sumMerge(kills) AS kills, sumMerge(deaths) AS deaths,\n"
    "       uniqExactArrayMerge(players) AS player_count, argMaxMerge(winner) AS winner,\n"
    "       argMaxMerge(allies_score) AS allies_score, argMaxMerge(axis_score) AS axis_score,\n"
    "       intDiv(minMerge(first_ms), 1000) AS started_at, intDiv(maxMerge(last_ms), 1000) AS ended_at\n"
    "FROM match_summary\n"
    "WHERE match_key IN {keys}\n"
    "GROUP BY match_key";

/* The best players of the tournament's games. */
static const char top_players_sql[] =
    "SELECT guid, " SERVED_NAME_SQL("guid", "argMaxMerge(name)") " AS name, sumMerge(kills) AS kills, sumMerge(deaths) AS deaths,\n"
    "       sumMerge(headshots) AS headshots, uniqExact(match_key) AS matches\n"
    "FROM match_players\n"
    "WHERE match_key IN {keys} AND " LISTED_PLAYER_SQL("guid") "\n"
    "GROUP BY guid\n"
    "ORDER BY kills DESC, deaths ASC, guid ASC\n"
    "LIMIT 10";
// clang-format on

/* A bracket row's value under the plugin's name, else smf-mohaa's (a NULL or 0 plugin value falls back). */
static double either_num(const cJSON *row, const char *plugin, const char *smf)
{
    double v = row_num(row, plugin);
    return v != 0 || !cJSON_GetObjectItem(row, smf) ? v : row_num(row, smf);
}

static void add_team_ref(cJSON *o, const char *key, double id, const cJSON *teams)
{
    cJSON *t = cJSON_AddObjectToObject(o, key);
    const cJSON *row = id > 0 ? team_of(teams, (long)id) : NULL;
    cJSON_AddNumberToObject(t, "team_id", id);
    cJSON_AddStringToObject(t, "team_name", row_str(row, "team_name"));
}

/* A bracket row's round: the plugin's round_number, else smf-mohaa's round. */
static double round_of(const cJSON *r)
{
    return cJSON_GetObjectItem(r, "round_number") ? row_num(r, "round_number") : row_num(r, "round");
}

/* Bracket order: by round, then the upper bracket before the lower (smf-mohaa's bracket_group), then the match's
 * place in its round (the plugin's match_number), then id_match: the forum creates a bracket's matches in any
 * order (a later round's match first, a replay added at the end). Absent columns read 0. */
static int bracket_order(const void *x, const void *y)
{
    const cJSON *a = *(const cJSON *const *)x, *b = *(const cJSON *const *)y;
    double ka[] = {round_of(a), row_num(a, "bracket_group"), row_num(a, "match_number"), row_num(a, "id_match")};
    double kb[] = {round_of(b), row_num(b, "bracket_group"), row_num(b, "match_number"), row_num(b, "id_match")};
    for (size_t i = 0; i < sizeof ka / sizeof ka[0]; i++)
        if (ka[i] != kb[i])
            return ka[i] < kb[i] ? -1 : 1;
    return 0;
}

static void tournament_build(qjob *j)
{
    const cJSON *bracket = job_rows(j, 1), *teams = job_rows(j, 2), *games = job_rows(j, 3);
    size_t nrows = (size_t)cJSON_GetArraySize(bracket), nsorted = 0;
    const cJSON **sorted = nrows ? malloc(nrows * sizeof *sorted) : NULL;
    if (nrows && !sorted) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    const cJSON *r;
    cJSON_ArrayForEach(r, bracket)
    {
        sorted[nsorted++] = r;
    }
    if (nrows)
        qsort(sorted, nrows, sizeof *sorted, bracket_order);
    cJSON *o = cJSON_CreateObject(), *head = job_take(j, 0), *t = cJSON_DetachItemFromArray(head, 0);
    cJSON_Delete(head);
    cJSON_AddItemToObject(o, "tournament", t);
    cJSON *rounds = cJSON_AddArrayToObject(o, "bracket");
    double round_seen = -1;
    cJSON *matches = NULL;
    for (size_t i = 0; i < nrows; i++) {
        r = sorted[i];
        double round = round_of(r);
        if (!matches || round != round_seen) {
            cJSON *rd = cJSON_CreateObject();
            cJSON_AddNumberToObject(rd, "round", round);
            matches = cJSON_AddArrayToObject(rd, "matches");
            cJSON_AddItemToArray(rounds, rd);
            round_seen = round;
        }
        cJSON *m = cJSON_CreateObject();
        double a = either_num(r, "id_team1", "id_team_a"), b = either_num(r, "id_team2", "id_team_b");
        cJSON_AddNumberToObject(m, "tournament_match_id", row_num(r, "id_match"));
        add_team_ref(m, "team1", a, teams);
        add_team_ref(m, "team2", b, teams);
        cJSON_AddNumberToObject(m, "team1_score", either_num(r, "team1_score", "score_a"));
        cJSON_AddNumberToObject(m, "team2_score", either_num(r, "team2_score", "score_b"));
        cJSON_AddNumberToObject(m, "winner_id", either_num(r, "id_winner", "winner_id"));
        const char *result = row_str(r, "recorded_result");
        cJSON_AddStringToObject(m, "status",
                                *result                 ? "completed"
                                : *row_str(r, "status") ? row_str(r, "status")
                                                        : "pending");
        /* a bye: the one team advanced without a game (docs/tournaments.md) */
        cJSON_AddBoolToObject(m, "bye", strcmp(result, "bye") == 0);
        const char *link = row_str(r, "linked_match_id");
        if (*link) {
            cJSON_AddStringToObject(m, "match_id", link);
            cJSON_AddStringToObject(m, "link_source", row_str(r, "link_source"));
        } else {
            cJSON_AddNullToObject(m, "match_id");
        }
        const cJSON *g = *link ? rows_find(games, "match_key", link) : NULL;
        if (g) {
            cJSON *game = cJSON_CreateObject();
            json_copy(game, g, "map_name", NULL);
            json_copy(game, g, "kills", NULL);
            json_copy(game, g, "deaths", NULL);
            json_copy(game, g, "player_count", NULL);
            json_copy(game, g, "allies_score", NULL);
            json_copy(game, g, "axis_score", NULL);
            json_copy(game, g, "started_at", NULL);
            json_copy(game, g, "ended_at", NULL);
            cJSON_AddItemToObject(m, "game", game);
        } else {
            cJSON_AddNullToObject(m, "game");
        }
        cJSON_AddItemToArray(matches, m);
    }
    free(sorted);
    cJSON *players = job_take(j, 4);
    cJSON *p;
    cJSON_ArrayForEach(p, players)
    {
        double k = row_num(p, "kills"), d = row_num(p, "deaths");
        json_add_round(p, "kd_ratio", d > 0 ? k / d : k, 2);
    }
    cJSON_AddItemToObject(o, "top_players", players ? players : cJSON_CreateArray());
    cJSON_AddNumberToObject(o, "matches_played", (double)cJSON_GetArraySize(games));
    job_answer(j, 200, o);
}

/* The bracket's teams' names (slot 2), whether or not they have played yet. */
static bool queue_bracket_teams(qjob *j, const cJSON *bracket)
{
    char ids[BRACKET_TEAMS_MAX][24];
    const char *params[BRACKET_TEAMS_MAX];
    char sql[sizeof bracket_teams_sql + 3 * BRACKET_TEAMS_MAX + 2];
    int n = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, bracket)
    {
        double t[] = {either_num(r, "id_team1", "id_team_a"), either_num(r, "id_team2", "id_team_b")};
        for (size_t k = 0; k < 2 && n < BRACKET_TEAMS_MAX; k++) {
            bool seen = t[k] <= 0;
            for (int i = 0; i < n && !seen; i++)
                seen = strtod(ids[i], NULL) == t[k];
            if (!seen) {
                snprintf(ids[n], sizeof ids[n], "%.0f", t[k]);
                params[n] = ids[n];
                n++;
            }
        }
    }
    if (n == 0)
        return true;
    size_t len = (size_t)snprintf(sql, sizeof sql, "%s", bracket_teams_sql);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, i ? ", ?" : "?");
    snprintf(sql + len, sizeof sql - len, ")");
    return queue_mdb(j, 2, sql, n, params, "id_team");
}

/* Step 2: the bracket's teams (MariaDB) and the games linked to its matches (ClickHouse). */
static void tournament_games(qjob *j)
{
    if (!job_row(j, 0)) {
        job_error(j, 404, "Tournament not found.");
        return;
    }
    const cJSON *bracket = job_rows(j, 1);
    if (!queue_bracket_teams(j, bracket))
        return;
    size_t max = (size_t)cJSON_GetArraySize(bracket), n = 0;
    const char **keys = max ? malloc(max * sizeof *keys) : NULL;
    const cJSON *r;
    cJSON_ArrayForEach(r, bracket)
    {
        const char *k = row_str(r, "linked_match_id");
        if (*k && keys && ident_ok(k, IDENT_MAX))
            keys[n++] = k;
    }
    if (n > 0) {
        sqlv v[] = {SQL_LIST("keys", keys, n)};
        job_ch(j, 3, games_sql, v, 1);
        job_ch(j, 4, top_players_sql, v, 1);
    }
    free(keys);
    job_then(j, tournament_build);
}

static void tournament_start(qjob *j)
{
    team_args *a = j->args;
    char id[24];
    snprintf(id, sizeof id, "%ld", a->id);
    const char *p[] = {id};
    const char *bracket_numeric = "id_match,id_tournament,round,round_number,match_number,bracket_group,id_team_a,"
                                  "id_team_b,score_a,score_b,winner_id,id_team1,id_team2,id_player1,id_player2,"
                                  "team1_score,team2_score,id_winner,match_date,scheduled_time,completed_time";
    /* every variant's numbers (docs/forum.md §1.1): install.sql's, the plugin's, install_tournaments.sql's, ... */
    const char *tournament_numeric = "id_tournament,max_teams,team_size,tournament_start,tournament_end,start_date,"
                                     "registration_start,registration_end,created_by,id_creator,created_date,"
                                     "id_winner_team,winner_id_team";
    if (queue_mdb(j, 0, tournament_sql, 1, p, tournament_numeric) &&
        queue_mdb(j, 1, bracket_sql, 1, p, bracket_numeric))
        job_then(j, tournament_games);
}

/* ---- who was in which team, when ---- */

/* The stints of members in teams whose {col} (id_team or id_member) is "?": mohstats_team_memberships, which
 * achievd's tournament thread keeps from the forum's member rows (the forum keeps no date of leaving), and the
 * active member rows it has not seen yet (achievd stopped, or a poll behind) from their joined_date. left_ms 0: in
 * the team still. Parameters: the prefix, the id, the id, the prefix. */
// clang-format off
#define STINTS_SQL(col)                                                                                                \
    "SELECT h.id_team, h.id_member, h.joined_ms, COALESCE(h.left_ms, 0) AS left_ms\n"                                 \
    "FROM mohstats_team_memberships AS h WHERE h.forum_prefix = ? AND h." col " = ?\n"                                 \
    "UNION ALL\n"                                                                                                      \
    "SELECT x.id_team, x.id_member, x.joined_date * 1000, 0\n"                                                        \
    "FROM {p}mohaa_team_members AS x\n"                                                                                \
    "WHERE x." col " = ? AND x.status = 'active' AND NOT EXISTS (\n"                                                   \
    "  SELECT 1 FROM mohstats_team_memberships AS o\n"                                                               \
    "  WHERE o.forum_prefix = ? AND o.id_team = x.id_team AND o.id_member = x.id_member AND o.left_ms IS NULL)"
// clang-format on

/* ---- GET /stats/member/{id}/tournaments ---- */

/* The recorded matches of the member's teams (this forum's bracket matches, byes left out) that ended while they
 * were in the team (its stints: a member who left keeps the record of their time in it, and no more). */
// clang-format off
static const char member_record_sql[] =
    "SELECT DISTINCT tm.id_team, t.team_name, m.id_tournament, tr.name AS tournament_name,\n"
    "       r.id_match AS tournament_match_id, r.match_id, r.ended_at,\n"
    "       CASE WHEN r.result = 'draw' THEN 'draw'\n"
    "            WHEN (r.result = 'a') = (r.id_team_a = tm.id_team) THEN 'win' ELSE 'loss' END AS result\n"
    "FROM (" STINTS_SQL("id_member") ") AS tm\n"
    "JOIN mohstats_tournament_results AS r ON (r.id_team_a = tm.id_team OR r.id_team_b = tm.id_team)\n"
    "     AND r.result <> 'bye'\n"
    "     AND r.ended_at * 1000 >= tm.joined_ms AND (tm.left_ms = 0 OR r.ended_at * 1000 < tm.left_ms)\n"
    "LEFT JOIN {p}mohaa_teams AS t ON t.id_team = tm.id_team\n"
    "JOIN {p}mohaa_tournament_matches AS m ON m.id_match = r.id_match\n"
    "LEFT JOIN {p}mohaa_tournaments AS tr ON tr.id_tournament = m.id_tournament\n"
    "ORDER BY r.ended_at DESC, r.id_match DESC\n"
    "LIMIT " HISTORY_MAX;
// clang-format on

static void member_build(qjob *j)
{
    team_args *a = j->args;
    cJSON *rows = job_take(j, 0);
    cJSON *o = cJSON_CreateObject(), *per = cJSON_CreateArray();
    double wins = 0, losses = 0, draws = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        const char *res = row_str(r, "result");
        int k = strcmp(res, "win") == 0 ? 0 : strcmp(res, "loss") == 0 ? 1 : 2;
        wins += k == 0;
        losses += k == 1;
        draws += k == 2;
        double tid = row_num(r, "id_tournament");
        cJSON *t = NULL, *x;
        cJSON_ArrayForEach(x, per)
        {
            if (row_num(x, "tournament_id") == tid)
                t = x;
        }
        if (!t) {
            t = cJSON_CreateObject();
            cJSON_AddNumberToObject(t, "tournament_id", tid);
            cJSON_AddStringToObject(t, "tournament_name", row_str(r, "tournament_name"));
            cJSON_AddNumberToObject(t, "team_id", row_num(r, "id_team"));
            cJSON_AddStringToObject(t, "team_name", row_str(r, "team_name"));
            cJSON_AddNumberToObject(t, "wins", 0);
            cJSON_AddNumberToObject(t, "losses", 0);
            cJSON_AddNumberToObject(t, "draws", 0);
            cJSON_AddItemToArray(per, t);
        }
        cJSON *c = cJSON_GetObjectItem(t, k == 0 ? "wins" : k == 1 ? "losses" : "draws");
        cJSON_SetNumberValue(c, c->valuedouble + 1);
    }
    cJSON_AddNumberToObject(o, "member_id", (double)a->id);
    cJSON_AddNumberToObject(o, "played", wins + losses + draws);
    cJSON_AddNumberToObject(o, "wins", wins);
    cJSON_AddNumberToObject(o, "losses", losses);
    cJSON_AddNumberToObject(o, "draws", draws);
    cJSON_AddItemToObject(o, "tournaments", per);
    cJSON_AddItemToObject(o, "matches", rows ? rows : cJSON_CreateArray());
    job_answer(j, 200, o);
}

static void member_start(qjob *j)
{
    team_args *a = j->args;
    char id[24];
    snprintf(id, sizeof id, "%ld", a->id);
    const char *p[] = {j->q->smf_prefix, id, id, j->q->smf_prefix};
    if (queue_mdb(j, 0, member_record_sql, 4, p, "id_team,id_tournament,tournament_match_id,ended_at"))
        job_then(j, member_build);
}

/* ---- GET /stats/team/{id}: the team's play, from its members' GUIDs while they were members ---- */

/* The team and its members, present and past: each stint in the team (a member who left and came back has two),
 * each GUID they linked, and whether they are in the team now. */
// clang-format off
static const char roster_sql[] =
    "SELECT t.id_team, t.team_name, t.team_tag, s.id_member, s.joined_ms, s.left_ms,\n"
    "       COALESCE(cm.status = 'active', 0) AS current, COALESCE(i.player_guid, '') AS guid,\n"
    "       COALESCE(NULLIF(mem.real_name, ''), mem.member_name, '') AS member_name\n"
    "FROM {p}mohaa_teams AS t\n"
    "LEFT JOIN (" STINTS_SQL("id_team") ") AS s ON s.id_team = t.id_team\n"
    "LEFT JOIN {p}mohaa_team_members AS cm ON cm.id_team = t.id_team AND cm.id_member = s.id_member\n"
    "LEFT JOIN {p}mohaa_identities AS i ON i.id_member = s.id_member AND i.player_guid != ''\n"
    "LEFT JOIN {p}members AS mem ON mem.id_member = s.id_member\n"
    "WHERE t.id_team = ?\n"
    "ORDER BY s.id_member, s.joined_ms, i.player_guid";

/* The GUIDs' stints as rows (col, sf, st) to join on: {guids}, {from} and {to} are parallel lists, one entry per
 * stint of a GUID (the ms it joined, the ms it left or 0). A join and not a lambda over the lists: ClickHouse 18.16
 * moves a WHERE down to a table's PREWHERE, where a lambda's captured columns are unknown. */
#define STINT_ROWS(col)                                                                                                \
    "(SELECT g AS " col ", toUInt64(f) AS sf, toUInt64(t) AS st FROM system.one\n"                                    \
    " ARRAY JOIN array{guids} AS g, array{from} AS f, array{to} AS t)"
#define IN_STINT(ts) ts " >= sf AND (st = 0 OR " ts " < st)"

/* Each game of the GUIDs that started while their member was in the team. */
static const char member_games_sql[] =
    "SELECT guid, match_key, map_name, side, kills, deaths, headshots, first_ms\n"
    "FROM (SELECT guid, match_key, argMaxMerge(map) AS map_name, argMaxMerge(team) AS side,\n"
    "             sumMerge(kills) AS kills, sumMerge(deaths) AS deaths, sumMerge(headshots) AS headshots,\n"
    "             minMerge(first_ms) AS first_ms\n"
    "      FROM player_match\n"
    "      WHERE guid IN {guids}\n"
    "      GROUP BY guid, match_key)\n"
    "ALL INNER JOIN " STINT_ROWS("guid") " USING guid\n"
    "WHERE " IN_STINT("first_ms") "\n"
    "ORDER BY first_ms DESC\n"
    "LIMIT 100000";

static const char member_winners_sql[] =
    "SELECT match_key, argMaxMerge(winner) AS winner\n"
    "FROM match_summary\n"
    "WHERE match_key IN (SELECT match_key FROM player_match WHERE guid IN {guids})\n"
    "GROUP BY match_key";

/* Shots, for accuracy, by day: the days of the member's stints, whole. */
static const char member_shots_sql[] =
    "SELECT guid, sum(shots_fired) AS shots_fired, sum(shots_hit) AS shots_hit\n"
    "FROM (SELECT guid, day, shots_fired, shots_hit FROM player_daily WHERE guid IN {guids})\n"
    "ALL INNER JOIN " STINT_ROWS("guid") " USING guid\n"
    "WHERE day >= toDate(toDateTime(intDiv(sf, 1000))) AND (st = 0 OR day <= toDate(toDateTime(intDiv(st, 1000))))\n"
    "GROUP BY guid";

/* The weapons of the kills made while in the team. */
static const char member_weapons_sql[] =
    "SELECT weapon AS name, count() AS kills\n"
    "FROM (SELECT weapon, actor_guid, toUInt64(received_at) * 1000 + received_ms AS ts\n"
    "      FROM raw_events\n"
    "      WHERE event_type = " EVT_SQL_PLAYER_KILL " AND actor_guid IN {guids} AND weapon != ''\n"
    "        AND " ENEMY_KILL_SQL ")\n"
    "ALL INNER JOIN " STINT_ROWS("actor_guid") " USING actor_guid\n"
    "WHERE " IN_STINT("ts") "\n"
    "GROUP BY weapon\n"
    "ORDER BY kills DESC, name ASC\n"
    "LIMIT 5";
// clang-format on

#define ROSTER_MAX 256

/* One member's totals while in the team. */
typedef struct {
    double member_id, kills, deaths, headshots, matches, wins, losses, shots, hits;
    const char *name;
    bool current; /* in the team now (else a former member, counted for their time in it) */
} member_play;

static member_play *member_of(member_play *ms, size_t n, const cJSON *roster, const char *guid)
{
    const cJSON *r = rows_find(roster, "guid", guid);
    for (size_t i = 0; r && i < n; i++)
        if (ms[i].member_id == row_num(r, "id_member"))
            return &ms[i];
    return NULL;
}

/* Count a map once per game of the team (several members in one game count once). */
static void add_map(cJSON *maps, const char *name, bool won)
{
    cJSON *m = NULL, *x;
    cJSON_ArrayForEach(x, maps)
    {
        if (strcmp(row_str(x, "map_name"), name) == 0)
            m = x;
    }
    if (!m) {
        m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "map_name", name);
        cJSON_AddNumberToObject(m, "matches", 0);
        cJSON_AddNumberToObject(m, "wins", 0);
        cJSON_AddItemToArray(maps, m);
    }
    cJSON_SetNumberValue(cJSON_GetObjectItem(m, "matches"), row_num(m, "matches") + 1);
    if (won)
        cJSON_SetNumberValue(cJSON_GetObjectItem(m, "wins"), row_num(m, "wins") + 1);
}

static int by_matches(const void *a, const void *b)
{
    double x = row_num(*(const cJSON *const *)a, "matches"), y = row_num(*(const cJSON *const *)b, "matches");
    return x < y ? 1 : x > y ? -1 : 0;
}

static void team_stats_build(qjob *j)
{
    const cJSON *roster = job_rows(j, 0), *games = job_rows(j, 1), *winners = job_rows(j, 2), *shots = job_rows(j, 3);
    const cJSON *head = job_row(j, 0);
    member_play ms[ROSTER_MAX];
    size_t n = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, roster)
    {
        if (row_num(r, "id_member") > 0 && (n == 0 || ms[n - 1].member_id != row_num(r, "id_member")) && n < ROSTER_MAX)
            ms[n++] = (member_play){.member_id = row_num(r, "id_member"),
                                    .name = row_str(r, "member_name"),
                                    .current = row_num(r, "current") != 0};
    }
    double current = 0;
    for (size_t i = 0; i < n; i++)
        current += ms[i].current;
    /* the team's games: a game counts once whoever of its members played it; won when a member's side won */
    cJSON *seen = cJSON_CreateObject(), *maps = cJSON_CreateArray();
    double kills = 0, deaths = 0, headshots = 0, matches = 0, wins = 0, losses = 0, fired = 0, hit = 0;
    cJSON_ArrayForEach(r, games)
    {
        const char *winner = row_str(rows_find(winners, "match_key", row_str(r, "match_key")), "winner");
        const char *side = row_str(r, "side");
        bool decided = (!strcmp(winner, "allies") || !strcmp(winner, "axis")) && *side;
        bool won = decided && strcmp(winner, side) == 0, lost = decided && !won;
        member_play *m = member_of(ms, n, roster, row_str(r, "guid"));
        if (m) {
            m->kills += row_num(r, "kills");
            m->deaths += row_num(r, "deaths");
            m->headshots += row_num(r, "headshots");
            m->matches += 1;
            m->wins += won;
            m->losses += lost;
        }
        kills += row_num(r, "kills");
        deaths += row_num(r, "deaths");
        headshots += row_num(r, "headshots");
        const char *key = row_str(r, "match_key");
        if (!cJSON_GetObjectItem(seen, key)) {
            cJSON_AddBoolToObject(seen, key, won);
            matches += 1;
            wins += won;
            losses += lost;
            add_map(maps, row_str(r, "map_name"), won);
        }
    }
    cJSON_Delete(seen);
    cJSON_ArrayForEach(r, shots)
    {
        member_play *m = member_of(ms, n, roster, row_str(r, "guid"));
        if (m) {
            m->shots += row_num(r, "shots_fired");
            m->hits += row_num(r, "shots_hit");
        }
        fired += row_num(r, "shots_fired");
        hit += row_num(r, "shots_hit");
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "team_id", row_num(head, "id_team"));
    cJSON_AddStringToObject(o, "team_name", row_str(head, "team_name"));
    cJSON_AddStringToObject(o, "team_tag", row_str(head, "team_tag"));
    cJSON_AddNumberToObject(o, "members_count", current);
    cJSON_AddNumberToObject(o, "matches", matches);
    cJSON_AddNumberToObject(o, "wins", wins);
    cJSON_AddNumberToObject(o, "losses", losses);
    cJSON_AddNumberToObject(o, "kills", kills);
    cJSON_AddNumberToObject(o, "deaths", deaths);
    cJSON_AddNumberToObject(o, "headshots", headshots);
    json_add_round(o, "kd_ratio", deaths > 0 ? kills / deaths : kills, 2);
    json_add_round(o, "accuracy", fired > 0 ? hit * 100 / fired : 0, 1);
    /* maps by games played (cJSON has no sort: through an array of pointers) */
    int nm = cJSON_GetArraySize(maps);
    cJSON **mv = nm ? malloc((size_t)nm * sizeof *mv) : NULL;
    cJSON *sorted = cJSON_CreateArray();
    for (int i = 0; mv && i < nm; i++)
        mv[i] = cJSON_GetArrayItem(maps, i);
    if (mv)
        qsort(mv, (size_t)nm, sizeof *mv, by_matches);
    for (int i = 0; mv && i < nm && i < 5; i++)
        cJSON_AddItemReferenceToArray(sorted, mv[i]);
    cJSON_AddItemToObject(o, "top_maps", cJSON_Duplicate(sorted, true));
    cJSON_Delete(sorted);
    free(mv);
    cJSON_Delete(maps);
    cJSON *weapons = job_take(j, 4);
    cJSON_AddItemToObject(o, "top_weapons", weapons ? weapons : cJSON_CreateArray());
    cJSON *list = cJSON_AddArrayToObject(o, "members");
    for (size_t i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddNumberToObject(m, "member_id", ms[i].member_id);
        cJSON_AddStringToObject(m, "member_name", ms[i].name);
        cJSON_AddBoolToObject(m, "current", ms[i].current);
        cJSON_AddNumberToObject(m, "matches", ms[i].matches);
        cJSON_AddNumberToObject(m, "wins", ms[i].wins);
        cJSON_AddNumberToObject(m, "losses", ms[i].losses);
        cJSON_AddNumberToObject(m, "kills", ms[i].kills);
        cJSON_AddNumberToObject(m, "deaths", ms[i].deaths);
        json_add_round(m, "kd_ratio", ms[i].deaths > 0 ? ms[i].kills / ms[i].deaths : ms[i].kills, 2);
        json_add_round(m, "accuracy", ms[i].shots > 0 ? ms[i].hits * 100 / ms[i].shots : 0, 1);
        /* the member's part of the team's kills */
        json_add_round(m, "kills_share", kills > 0 ? ms[i].kills * 100 / kills : 0, 1);
        cJSON_AddItemToArray(list, m);
    }
    job_answer(j, 200, o);
}

/* Step 2: the GUIDs' games while their member was in the team, from ClickHouse. */
static void team_stats_games(qjob *j)
{
    const cJSON *roster = job_rows(j, 0);
    if (!job_row(j, 0)) {
        job_error(j, 404, "Team not found.");
        return;
    }
    /* one entry per stint and GUID (a roster row) */
    const char *guids[ROSTER_MAX], *from_p[ROSTER_MAX], *to_p[ROSTER_MAX];
    char from[ROSTER_MAX][24], to[ROSTER_MAX][24];
    size_t n = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, roster)
    {
        const char *g = row_str(r, "guid");
        if (*g && n < ROSTER_MAX && ident_ok(g, IDENT_MAX)) {
            guids[n] = g;
            snprintf(from[n], sizeof from[n], "%.0f", row_num(r, "joined_ms"));
            snprintf(to[n], sizeof to[n], "%.0f", row_num(r, "left_ms"));
            from_p[n] = from[n];
            to_p[n] = to[n];
            n++;
        }
    }
    if (n > 0) {
        sqlv v[] = {SQL_LIST("guids", guids, n), SQL_LIST("from", from_p, n), SQL_LIST("to", to_p, n)};
        job_ch(j, 1, member_games_sql, v, 3);
        job_ch(j, 2, member_winners_sql, v, 1);
        job_ch(j, 3, member_shots_sql, v, 3);
        job_ch(j, 4, member_weapons_sql, v, 3);
    }
    job_then(j, team_stats_build);
}

static void team_stats_start(qjob *j)
{
    team_args *a = j->args;
    char id[24];
    snprintf(id, sizeof id, "%ld", a->id);
    const char *p[] = {j->q->smf_prefix, id, id, j->q->smf_prefix, id};
    if (queue_mdb(j, 0, roster_sql, 5, p, "id_team,id_member,joined_ms,left_ms,current"))
        job_then(j, team_stats_games);
}

/* ---- the endpoints ---- */

#define TEAM_ID_PARAM(field, name)                                                                                     \
    {                                                                                                                  \
        PARAM_ID, name, offsetof(team_args, field), 0, "must be a forum team id (a positive number)", NULL, 0, 0       \
    }

static const endpoint team_endpoints[] = {
    {.path = "/stats/team/{id}",
     .key = "team:stats",
     .args_size = sizeof(team_args),
     .params = {TEAM_ID_PARAM(id, "id")},
     .start = team_stats_start},
    {.path = "/stats/team/{id}/matches",
     .key = "team:matches",
     .args_size = sizeof(team_args),
     .params = {TEAM_ID_PARAM(id, "id")},
     .start = history_start},
    {.path = "/stats/team/{id}/vs/{other}",
     .key = "team:h2h",
     .args_size = sizeof(team_args),
     .params = {TEAM_ID_PARAM(id, "id"), TEAM_ID_PARAM(other, "other")},
     .start = history_start},
    {.path = "/stats/tournament/{id}",
     .key = "tournament",
     .args_size = sizeof(team_args),
     .params = {{PARAM_ID, "id", offsetof(team_args, id), 0, "must be a forum tournament id (a positive number)", NULL,
                 0, 0}},
     .start = tournament_start},
    {.path = "/stats/member/{id}/tournaments",
     .key = "member:tournaments",
     .args_size = sizeof(team_args),
     .params = {{PARAM_ID, "id", offsetof(team_args, id), 0, "must be a forum member id (a positive number)", NULL, 0,
                 0}},
     .start = member_start},
};

void team_routes(queryd *q, http_server *s)
{
    endpoints_add(q, s, team_endpoints, sizeof team_endpoints / sizeof team_endpoints[0]);
}
