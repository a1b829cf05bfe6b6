/* The forum's team and tournament tables as the tournament thread reads and writes them, in whichever schema
 * variant the forum's installer created (docs/forum.md §1.1, docs/tournaments.md): columns are detected and
 * only those present are written. Column names come from the fixed lists below, never from input. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mariadb.h"
#include "tournament.h"

#define SQL_MAX 2048
#define PARAMS_MAX 16

struct tforum {
    const achievd_settings *s;
    mdb_conn *db;
    char cols[8192];  /* ",table.column," for every column of the tables below (table without the prefix) */
    bool unreachable; /* the last tforum_detect failed: an outage is logged once, not every poll */
};

tforum *tforum_new(const achievd_settings *s)
{
    tforum *f = calloc(1, sizeof *f);
    char err[256];
    if (!f)
        return NULL;
    f->s = s;
    f->db = mdb_conn_open(s->mariadb_url, err, sizeof err);
    if (!f->db) {
        log_error("achievd: tournaments: cannot use MARIADB_URL: %s", err);
        free(f);
        return NULL;
    }
    return f;
}

void tforum_free(tforum *f)
{
    if (!f)
        return;
    mdb_conn_close(f->db);
    free(f);
}

/* Run a statement whose forum table names are written {p}. */
static mdb_result *query(tforum *f, const char *tmpl, int n, const char *const *params, char *err, size_t errlen)
{
    return mdb_conn_query_prefixed(f->db, f->s->prefix, tmpl, n, params, err, errlen);
}

/* Whether the forum's table (without prefix) has the column. */
static bool has(const tforum *f, const char *table, const char *column)
{
    char key[128];
    snprintf(key, sizeof key, ",%s.%s,", table, column);
    return strstr(f->cols, key) != NULL;
}

int tforum_detect(tforum *f)
{
    static const char *const tables[] = {"mohaa_tournament_matches", "mohaa_team_matches", "mohaa_teams",
                                         "mohaa_team_members", "mohaa_tournaments"};
    char names[5][96], err[256];
    const char *params[5];
    for (int i = 0; i < 5; i++) {
        snprintf(names[i], sizeof names[i], "%s%s", f->s->prefix, tables[i]);
        params[i] = names[i];
    }
    mdb_result *r = mdb_conn_query(f->db,
                                   "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS\n"
                                   "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?, ?, ?, ?, ?)\n"
                                   "ORDER BY TABLE_NAME, ORDINAL_POSITION",
                                   5, params, err, sizeof err);
    if (!r) {
        if (!f->unreachable)
            log_error("achievd: tournaments: cannot read the forum's columns (retried every poll): %s", err);
        f->unreachable = true;
        return -EIO;
    }
    if (f->unreachable)
        log_info("achievd: tournaments: the forum's database answers again");
    f->unreachable = false;
    char cols[sizeof f->cols];
    size_t n = 0, plen = strlen(f->s->prefix);
    cols[n++] = ',';
    cols[n] = '\0';
    for (unsigned long long i = 0; i < r->nrows; i++) {
        const char *t = mdb_cell(r, i, 0), *c = mdb_cell(r, i, 1);
        if (!t || !c || strlen(t) <= plen)
            continue;
        int w = snprintf(cols + n, sizeof cols - n, "%s.%s,", t + plen, c);
        if (w < 0 || (size_t)w >= sizeof cols - n)
            break;
        n += (size_t)w;
    }
    mdb_result_free(r);
    if (strcmp(cols, f->cols) != 0) {
        memcpy(f->cols, cols, sizeof cols);
        if (!tforum_has_brackets(f)) {
            log_info("achievd: tournaments: the forum has no %smohaa_tournament_matches table: no results to write",
                     f->s->prefix);
            return 0;
        }
        bool teams = has(f, "mohaa_tournament_matches", "id_team_a") || has(f, "mohaa_tournament_matches", "id_team1");
        log_info("achievd: tournaments: forum schema: bracket matches %s%s%s, team history %s%s, teams with%s draws, "
                 "tournament winner %s%s",
                 teams ? "" : "(none with teams) ", has(f, "mohaa_tournament_matches", "id_team1") ? "id_team1/2" : "",
                 has(f, "mohaa_tournament_matches", "id_team_a") ? " id_team_a/b" : "",
                 has(f, "mohaa_team_matches", "team_score") ? "team_score" : "",
                 has(f, "mohaa_team_matches", "score_us") ? " score_us" : "",
                 has(f, "mohaa_teams", "draws") ? "" : "out",
                 has(f, "mohaa_tournaments", "id_winner_team") ? "id_winner_team " : "",
                 has(f, "mohaa_tournaments", "winner_id_team") ? "winner_id_team" : "(status only)");
    }
    return 0;
}

bool tforum_has_brackets(const tforum *f)
{
    return strstr(f->cols, ",mohaa_tournament_matches.id_match,") != NULL;
}

/* The SQL expression of a bracket match's team (1 or 2, a or b): the plugin's column when set, else smf-mohaa's. */
static void team_expr(const tforum *f, int which, char *out, size_t outlen)
{
    bool plugin = has(f, "mohaa_tournament_matches", which == 1 ? "id_team1" : "id_team2");
    bool smf = has(f, "mohaa_tournament_matches", which == 1 ? "id_team_a" : "id_team_b");
    const char *p = which == 1 ? "m.id_team1" : "m.id_team2", *s = which == 1 ? "m.id_team_a" : "m.id_team_b";
    if (plugin && smf)
        snprintf(out, outlen, "COALESCE(NULLIF(%s, 0), %s, 0)", p, s);
    else
        snprintf(out, outlen, "COALESCE(%s, 0)", plugin ? p : smf ? s : "0");
}

/* The SQL expression of a bracket match's player (1 or 2) in the plugin's player-based brackets; 0 elsewhere. */
static const char *player_expr(const tforum *f, int which)
{
    if (!has(f, "mohaa_tournament_matches", "id_player1") || !has(f, "mohaa_tournament_matches", "id_player2"))
        return "0";
    return which == 1 ? "COALESCE(m.id_player1, 0)" : "COALESCE(m.id_player2, 0)";
}

/* The bracket table's round column, the plugin's round_number else smf-mohaa's round (as queryd reads a round);
 * NULL when the schema has neither. */
static const char *round_column(const tforum *f)
{
    return has(f, "mohaa_tournament_matches", "round_number") ? "round_number"
           : has(f, "mohaa_tournament_matches", "round")      ? "`round`"
                                                              : NULL;
}

static uint32_t cell_u32(const mdb_result *r, unsigned long long row, unsigned col)
{
    const char *c = mdb_cell(r, row, col);
    unsigned long long v = c ? strtoull(c, NULL, 10) : 0;
    return v > UINT32_MAX ? 0 : (uint32_t)v;
}

/* Rows of (id_match, id_tournament, team a, team b, match id[, ..., player a, player b]) into tlinks. */
static int links_of(mdb_result *r, tlink **out, size_t *n)
{
    bool players = r->ncols >= 8;
    *n = 0;
    *out = r->nrows ? calloc(r->nrows, sizeof **out) : NULL;
    if (r->nrows && !*out)
        return -ENOMEM;
    for (unsigned long long i = 0; i < r->nrows; i++) {
        tlink *l = &(*out)[(*n)++];
        l->id_match = cell_u32(r, i, 0);
        l->id_tournament = cell_u32(r, i, 1);
        l->team_a = cell_u32(r, i, 2);
        l->team_b = cell_u32(r, i, 3);
        snprintf(l->match_id, sizeof l->match_id, "%s", mdb_cell(r, i, 4) ? mdb_cell(r, i, 4) : "");
        l->player_a = players ? cell_u32(r, i, 6) : 0;
        l->player_b = players ? cell_u32(r, i, 7) : 0;
    }
    return 0;
}

int tforum_pending(tforum *f, uint32_t after, tlink **out, size_t *n, size_t max)
{
    char a[96], b[96], sql[SQL_MAX], lim[24], err[256];
    team_expr(f, 1, a, sizeof a);
    team_expr(f, 2, b, sizeof b);
    snprintf(lim, sizeof lim, "%zu", max);
    snprintf(sql, sizeof sql,
             "SELECT m.id_match, m.id_tournament, %s, %s, l.match_id, 0, %s, %s\n"
             "FROM mohstats_tournament_links l\n"
             "JOIN {p}mohaa_tournament_matches m ON m.id_match = l.id_match\n"
             "LEFT JOIN mohstats_tournament_results r ON r.id_match = l.id_match\n"
             "WHERE r.id_match IS NULL AND l.id_match > %" PRIu32 "\n"
             "ORDER BY l.id_match\n"
             "LIMIT %s",
             a, b, player_expr(f, 1), player_expr(f, 2), after, lim);
    mdb_result *r = query(f, sql, 0, NULL, err, sizeof err);
    if (!r) {
        log_error("achievd: tournaments: cannot read the linked matches: %s", err);
        return -EIO;
    }
    int rc = links_of(r, out, n);
    mdb_result_free(r);
    return rc;
}

int tforum_byes(tforum *f, tlink **out, size_t *n, size_t max)
{
    const char *rnd = round_column(f);
    *out = NULL;
    *n = 0;
    if (!rnd)
        return 0; /* no rounds: no first round, no byes */
    char a[96], b[96], sql[SQL_MAX], lim[24], err[256];
    team_expr(f, 1, a, sizeof a);
    team_expr(f, 2, b, sizeof b);
    snprintf(lim, sizeof lim, "%zu", max);
    /* Only the first round has byes (the plugin pairs its entrants there, and a later round's match with one team is
     * waiting for its other, the winner of a match not played yet). A match the forum linked is a game's. */
    snprintf(sql, sizeof sql,
             "SELECT * FROM (\n"
             "  SELECT m.id_match, m.id_tournament, %s AS a, %s AS b, '' AS match_id, m.%s AS rnd, %s AS pa, %s AS pb\n"
             "  FROM {p}mohaa_tournament_matches m\n"
             "  LEFT JOIN mohstats_tournament_links l ON l.id_match = m.id_match\n"
             "  LEFT JOIN mohstats_tournament_results r ON r.id_match = m.id_match\n"
             "  WHERE l.id_match IS NULL AND r.id_match IS NULL\n"
             ") s\n"
             "WHERE rnd = 1 AND ((a > 0) <> (b > 0) AND pa = 0 AND pb = 0\n"
             "                   OR a = 0 AND b = 0 AND (pa > 0) <> (pb > 0))\n"
             "ORDER BY id_match\n"
             "LIMIT %s",
             a, b, rnd, player_expr(f, 1), player_expr(f, 2), lim);
    mdb_result *r = query(f, sql, 0, NULL, err, sizeof err);
    if (!r) {
        log_error("achievd: tournaments: cannot read the byes: %s", err);
        return -EIO;
    }
    int rc = links_of(r, out, n);
    mdb_result_free(r);
    return rc;
}

/* The time MariaDB's clock says, in ms (a stint's edge, compared with ClickHouse's first_ms). */
#define NOW_MS "FLOOR(UNIX_TIMESTAMP(NOW(3)) * 1000)"

int tforum_sync_memberships(tforum *f)
{
    static const char T[] = "mohaa_team_members";
    if (!has(f, T, "status"))
        return 0; /* no teams package: no members */
    char sql[SQL_MAX], err[256];
    const char *params[2] = {f->s->prefix, f->s->prefix};
    /* Close the open stints of members whose row is no longer active (left, kicked, retired) or gone: they left
     * now, as far as anything says (a poll late at most), or at the forum's left_date where a schema has one. */
    snprintf(sql, sizeof sql,
             "UPDATE mohstats_team_memberships AS h\n"
             "LEFT JOIN {p}mohaa_team_members AS m ON m.id_team = h.id_team AND m.id_member = h.id_member\n"
             "SET h.left_ms = GREATEST(h.joined_ms, %s)\n"
             "WHERE h.forum_prefix = ? AND h.left_ms IS NULL AND (m.id_member IS NULL OR m.status <> 'active')",
             has(f, T, "left_date") ? "IF(m.left_date > 0 AND m.left_date * 1000 < " NOW_MS
                                      ", m.left_date * 1000, " NOW_MS ")"
                                    : NOW_MS);
    mdb_result *r = query(f, sql, 1, params, err, sizeof err);
    if (!r) {
        log_error("achievd: tournaments: cannot close the stints of members who left their team: %s", err);
        return -EIO;
    }
    mdb_result_free(r);
    /* Open one for each active member row without one: from the forum's joined_date, unless the member was in the
     * team before and that date is not after they left (a row set active again keeps its old date): then now.
     * IGNORE: a second achievd opening the same stint (a lease changing hands) computes the same key. */
    snprintf(sql, sizeof sql,
             "INSERT IGNORE INTO mohstats_team_memberships (forum_prefix, id_team, id_member, joined_ms)\n"
             "SELECT ?, id_team, id_member, IF(last_left IS NULL OR joined > last_left, joined, now_ms)\n"
             "FROM (SELECT m.id_team, m.id_member, %s AS joined, " NOW_MS " AS now_ms,\n"
             "             MAX(h.left_ms) AS last_left, SUM(h.joined_ms IS NOT NULL AND h.left_ms IS NULL) AS open\n"
             "      FROM {p}mohaa_team_members AS m\n"
             "      LEFT JOIN mohstats_team_memberships AS h\n"
             "        ON h.forum_prefix = ? AND h.id_team = m.id_team AND h.id_member = m.id_member\n"
             "      WHERE m.status = 'active'\n"
             "      GROUP BY m.id_team, m.id_member) AS s\n"
             "WHERE open = 0",
             has(f, T, "joined_date") ? "MAX(m.joined_date) * 1000" : "0");
    r = query(f, sql, 2, params, err, sizeof err);
    if (!r) {
        log_error("achievd: tournaments: cannot record the members who joined a team: %s", err);
        return -EIO;
    }
    mdb_result_free(r);
    return 0;
}

/* The first column of r's rows as strings (malloc'd, *n of them: a string that could not be copied is left out),
 * r freed. 0, or -ENOMEM. */
static int first_column(mdb_result *r, char ***out, size_t *n)
{
    *out = r->nrows ? calloc(r->nrows, sizeof **out) : NULL;
    for (unsigned long long i = 0; *out && i < r->nrows; i++)
        if (((*out)[*n] = strdup(mdb_cell(r, i, 0))))
            (*n)++;
    int rc = r->nrows && !*out ? -ENOMEM : 0;
    mdb_result_free(r);
    return rc;
}

int tforum_team_guids(tforum *f, uint32_t team, uint64_t from_s, uint64_t to_s, char ***out, size_t *n)
{
    /* A member counts while in the team (their stints): joined no later than to_s (the game's end), left no
     * earlier than from_s (its start), or not left. */
    char team_s[16], from[24], to[24], err[256];
    snprintf(team_s, sizeof team_s, "%" PRIu32, team);
    snprintf(from, sizeof from, "%" PRIu64, from_s * 1000);
    snprintf(to, sizeof to, "%" PRIu64, to_s * 1000 + 999);
    const char *params[4] = {f->s->prefix, team_s, to, from};
    mdb_result *r = query(f,
                          "SELECT DISTINCT i.player_guid\n"
                          "FROM mohstats_team_memberships AS h\n"
                          "JOIN {p}mohaa_identities AS i ON i.id_member = h.id_member\n"
                          "WHERE h.forum_prefix = ? AND h.id_team = ? AND i.player_guid != ''\n"
                          "  AND h.joined_ms <= ? AND (h.left_ms IS NULL OR h.left_ms >= ?)",
                          4, params, err, sizeof err);
    *out = NULL;
    *n = 0;
    if (!r) {
        log_error("achievd: tournaments: cannot read team %" PRIu32 "'s members: %s", team, err);
        return -EIO;
    }
    return first_column(r, out, n);
}

int tforum_member_guids(tforum *f, uint32_t member, char ***out, size_t *n)
{
    char id[16], err[256];
    snprintf(id, sizeof id, "%" PRIu32, member);
    const char *params[1] = {id};
    mdb_result *r =
        query(f, "SELECT DISTINCT player_guid FROM {p}mohaa_identities WHERE id_member = ? AND player_guid != ''", 1,
              params, err, sizeof err);
    *out = NULL;
    *n = 0;
    if (!r) {
        log_error("achievd: tournaments: cannot read member %" PRIu32 "'s GUIDs: %s", member, err);
        return -EIO;
    }
    return first_column(r, out, n);
}

void tforum_guids_free(char **g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(g[i]);
    free(g);
}

/* A statement built from detected columns: SQL text and its parameters (NULL = SQL NULL). */
typedef struct {
    char sql[SQL_MAX];
    size_t len;
    const char *params[PARAMS_MAX];
    int n;
    char vals[PARAMS_MAX][112];
} stmt;

static void stmt_add(stmt *q, const char *text)
{
    int w = snprintf(q->sql + q->len, sizeof q->sql - q->len, "%s", text);
    if (w > 0)
        q->len += (size_t)w < sizeof q->sql - q->len ? (size_t)w : 0;
}

/* Append text and a parameter for its "?" (value NULL: SQL NULL). */
static void stmt_param(stmt *q, const char *text, const char *value)
{
    stmt_add(q, text);
    if (q->n >= PARAMS_MAX)
        return;
    if (value) {
        snprintf(q->vals[q->n], sizeof q->vals[q->n], "%s", value);
        q->params[q->n] = q->vals[q->n];
    } else {
        q->params[q->n] = NULL;
    }
    q->n++;
}

static void stmt_num(stmt *q, const char *text, long long v)
{
    char b[24];
    snprintf(b, sizeof b, "%lld", v);
    stmt_param(q, text, b);
}

static int run(tforum *f, stmt *q, unsigned long long *affected)
{
    char err[256];
    mdb_result *r = query(f, q->sql, q->n, q->params, err, sizeof err);
    if (!r) {
        log_error("achievd: tournaments: a write failed: %s", err);
        return -EIO;
    }
    if (affected)
        *affected = r->affected_rows;
    mdb_result_free(r);
    return 0;
}

/* The winning team, or player in a player-based bracket; 0 on a draw. */
static uint32_t winner_of(const tresult *res)
{
    bool players = res->l.team_a == 0 && res->l.team_b == 0;
    uint32_t a = players ? res->l.player_a : res->l.team_a, b = players ? res->l.player_b : res->l.team_b;
    return res->outcome == 'a' ? a : res->outcome == 'b' ? b : 0;
}

/* The bracket match: winner, scores, completed, and the game match where the schema has room for it. */
static int write_bracket(tforum *f, const tresult *res)
{
    static const char T[] = "mohaa_tournament_matches";
    uint32_t winner = winner_of(res);
    char w[16];
    snprintf(w, sizeof w, "%" PRIu32, winner);
    stmt q = {0};
    stmt_add(&q, "UPDATE {p}mohaa_tournament_matches SET id_match = id_match");
    if (has(f, T, "winner_id"))
        stmt_param(&q, ", winner_id = ?", w);
    if (has(f, T, "id_winner"))
        stmt_param(&q, ", id_winner = ?", winner ? w : NULL);
    if (has(f, T, "score_a")) {
        stmt_num(&q, ", score_a = ?", res->score_a < 0 ? 0 : res->score_a);
        stmt_num(&q, ", score_b = ?", res->score_b < 0 ? 0 : res->score_b);
    }
    if (has(f, T, "team1_score")) {
        stmt_num(&q, ", team1_score = ?", res->score_a);
        stmt_num(&q, ", team2_score = ?", res->score_b);
    }
    if (has(f, T, "status"))
        stmt_add(&q, ", status = 'completed'");
    if (has(f, T, "completed_time"))
        stmt_num(&q, ", completed_time = ?", (long long)res->ended_s);
    if (has(f, T, "game_match_id") && !res->bye)
        stmt_param(&q, ", game_match_id = ?", res->l.match_id);
    stmt_num(&q, " WHERE id_match = ?", res->l.id_match);
    return run(f, &q, NULL);
}

/* The winner into the next round's match, where the schema places matches by round and number (the plugin's
 * round_number and match_number): match n of round r feeds match ceil(n/2) of round r + 1, in slot 1 when n is
 * odd, else slot 2, as the plugin's own match report does. Only into an empty slot: one the forum's tournament
 * admin filled is theirs. Part of the result's transaction, so written once with it; smf-mohaa's brackets (round
 * and bracket_group, no place in the round) say nothing of which match is next: nothing is advanced there. */
static int write_advance(tforum *f, const tresult *res)
{
    static const char T[] = "mohaa_tournament_matches";
    uint32_t winner = winner_of(res);
    bool players = res->l.team_a == 0 && res->l.team_b == 0;
    const char *s1 = players ? "id_player1" : "id_team1", *s2 = players ? "id_player2" : "id_team2";
    if (!winner || !has(f, T, "round_number") || !has(f, T, "match_number") || !has(f, T, s1) || !has(f, T, s2))
        return 0;
    stmt q = {0};
    char set[160];
    stmt_num(&q,
             "UPDATE {p}mohaa_tournament_matches AS n\n"
             "JOIN {p}mohaa_tournament_matches AS m ON m.id_match = ?\n",
             res->l.id_match);
    snprintf(set, sizeof set, "SET n.%s = IF(m.match_number %% 2 = 1 AND COALESCE(n.%s, 0) = 0, ?, n.%s),\n", s1, s1,
             s1);
    stmt_num(&q, set, winner);
    snprintf(set, sizeof set, "    n.%s = IF(m.match_number %% 2 = 0 AND COALESCE(n.%s, 0) = 0, ?, n.%s)\n", s2, s2,
             s2);
    stmt_num(&q, set, winner);
    stmt_add(&q, "WHERE n.id_tournament = m.id_tournament AND n.round_number = m.round_number + 1\n"
                 "  AND n.match_number = (m.match_number + 1) DIV 2");
    unsigned long long advanced = 0;
    int rc = run(f, &q, &advanced);
    if (rc == 0 && advanced > 0)
        log_info("achievd: tournaments: %s %" PRIu32 " advances from tournament match %" PRIu32
                 " to the next round's match",
                 players ? "member" : "team", winner, res->l.id_match);
    return rc;
}

/* The tournament's winner and its end, when this match is its final: the one match of the tournament's last round
 * (no other match in a round as high), as the bracket stands. Part of the result's transaction, so written once
 * with it. The winner columns hold a team (install_teams_complete's id_winner_team, install_tournaments.sql's
 * winner_id_team), and only an empty one is filled; a player-based final ends the tournament without one. A draw
 * decides nothing. */
static int write_final(tforum *f, const tresult *res)
{
    static const char T[] = "mohaa_tournaments";
    uint32_t winner = winner_of(res);
    bool players = res->l.team_a == 0 && res->l.team_b == 0;
    const char *rnd = round_column(f);
    if (!winner || !rnd || !has(f, T, "id_tournament"))
        return 0;
    stmt q = {0};
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE {p}mohaa_tournaments AS t\n"
             "JOIN {p}mohaa_tournament_matches AS m ON m.id_match = ? AND m.id_tournament = t.id_tournament\n"
             "LEFT JOIN {p}mohaa_tournament_matches AS o\n"
             "  ON o.id_tournament = m.id_tournament AND o.id_match <> m.id_match AND o.%s >= m.%s\n"
             "SET t.id_tournament = t.id_tournament",
             rnd, rnd);
    stmt_num(&q, sql, res->l.id_match);
    static const char *const winner_columns[] = {"id_winner_team", "winner_id_team"};
    for (size_t i = 0; i < 2; i++) {
        if (players || !has(f, T, winner_columns[i]))
            continue;
        char set[128];
        snprintf(set, sizeof set, ",\n    t.%s = IF(COALESCE(t.%s, 0) = 0, ?, t.%s)", winner_columns[i],
                 winner_columns[i], winner_columns[i]);
        stmt_num(&q, set, winner);
    }
    if (has(f, T, "status"))
        stmt_add(&q, ",\n    t.status = 'completed'");
    stmt_add(&q, "\nWHERE o.id_match IS NULL");
    unsigned long long ended = 0;
    int rc = run(f, &q, &ended);
    if (rc == 0 && ended > 0)
        log_info("achievd: tournaments: tournament %" PRIu32 " is won by %s %" PRIu32
                 " (its final, tournament match %" PRIu32 ")",
                 res->l.id_tournament, players ? "member" : "team", winner, res->l.id_match);
    return rc;
}

/* One team's row of match history, with the columns of this schema variant. */
static int write_history(tforum *f, const tresult *res, bool team_a, const char *opponent_name)
{
    static const char T[] = "mohaa_team_matches";
    uint32_t team = team_a ? res->l.team_a : res->l.team_b, opp = team_a ? res->l.team_b : res->l.team_a;
    int us = team_a ? res->score_a : res->score_b, them = team_a ? res->score_b : res->score_a;
    char mine = team_a ? 'a' : 'b';
    const char *result = res->outcome == 'd' ? "draw" : res->outcome == mine ? "win" : "loss";
    stmt q = {0}, v = {0};
    stmt_add(&q, "INSERT INTO {p}mohaa_team_matches (id_team, id_opponent, match_date, result, map");
    stmt_num(&v, ") VALUES (?", team);
    stmt_num(&v, ", ?", opp);
    stmt_num(&v, ", ?", (long long)res->ended_s);
    stmt_param(&v, ", ?", result);
    /* the plugin's map column is VARCHAR(50), smf-mohaa's 100 */
    stmt_param(&v, ", LEFT(?, 50)", res->map);
    if (has(f, T, "opponent_name")) {
        stmt_add(&q, ", opponent_name");
        stmt_param(&v, ", LEFT(?, 100)", opponent_name);
    }
    if (has(f, T, "id_tournament")) {
        stmt_add(&q, ", id_tournament");
        stmt_num(&v, ", ?", res->l.id_tournament);
    }
    if (has(f, T, "team_score")) {
        stmt_add(&q, ", team_score, opponent_score");
        stmt_num(&v, ", ?", us);
        stmt_num(&v, ", ?", them);
    }
    if (has(f, T, "score_us")) {
        stmt_add(&q, ", score_us, score_them");
        stmt_num(&v, ", ?", us);
        stmt_num(&v, ", ?", them);
    }
    stmt_add(&v, ")");
    stmt_add(&q, v.sql);
    memcpy(q.vals, v.vals, sizeof v.vals);
    for (int i = 0; i < v.n; i++)
        q.params[i] = v.params[i] ? q.vals[i] : NULL;
    q.n = v.n;
    return run(f, &q, NULL);
}

/* A team's totals: one more win, loss or draw (draws only where the schema counts them). */
static int write_totals(tforum *f, uint32_t team, char result)
{
    stmt q = {0};
    if (result == 'w')
        stmt_add(&q, "UPDATE {p}mohaa_teams SET wins = wins + 1");
    else if (result == 'l')
        stmt_add(&q, "UPDATE {p}mohaa_teams SET losses = losses + 1");
    else if (has(f, "mohaa_teams", "draws"))
        stmt_add(&q, "UPDATE {p}mohaa_teams SET draws = draws + 1");
    else
        return 0;
    stmt_num(&q, " WHERE id_team = ?", team);
    return run(f, &q, NULL);
}

/* The team's name, for the other team's history row; "" when unknown. */
static void team_name(tforum *f, uint32_t team, char *out, size_t outlen)
{
    char id[16], err[256];
    snprintf(id, sizeof id, "%" PRIu32, team);
    const char *params[1] = {id};
    mdb_result *r = query(f, "SELECT team_name FROM {p}mohaa_teams WHERE id_team = ?", 1, params, err, sizeof err);
    snprintf(out, outlen, "%s", r && r->nrows && mdb_cell(r, 0, 0) ? mdb_cell(r, 0, 0) : "");
    mdb_result_free(r);
}

int tforum_record(tforum *f, const tresult *res, bool *recorded)
{
    char err[256], name_a[256], name_b[256];
    *recorded = false;
    team_name(f, res->l.team_a, name_a, sizeof name_a);
    team_name(f, res->l.team_b, name_b, sizeof name_b);
    if (mdb_conn_begin(f->db, err, sizeof err) != 0) {
        log_error("achievd: tournaments: cannot start a transaction: %s", err);
        return -EIO;
    }
    /* The link first, locked (FOR UPDATE, whatever the session's isolation level): the forum may have moved it
     * (authd) since tforum_pending read it, and the result would then be the old game's. A move committed before
     * is seen here and nothing is written (the next poll reads the new link); one coming after waits for this
     * transaction, and authd's statement then finds the mark and changes nothing (a recorded link no longer
     * moves). A second achievd recording the same match waits here too, then finds the mark below. */
    char idm[16];
    snprintf(idm, sizeof idm, "%" PRIu32, res->l.id_match);
    const char *lp[1] = {idm};
    mdb_result *lr = mdb_conn_query(
        f->db, "SELECT match_id FROM mohstats_tournament_links WHERE id_match = ? FOR UPDATE", 1, lp, err, sizeof err);
    bool locked = lr != NULL;
    /* (a bye has no game: it stands while nothing links the match) */
    bool same = res->bye
                    ? lr && lr->nrows == 0
                    : lr && lr->nrows == 1 && mdb_cell(lr, 0, 0) && strcmp(mdb_cell(lr, 0, 0), res->l.match_id) == 0;
    if (!locked)
        log_error("achievd: tournaments: cannot lock the link of tournament match %s: %s", idm, err);
    mdb_result_free(lr);
    /* Then the mark: INSERT IGNORE finds a mark a writer committed before and inserts nothing. */
    stmt q = {0};
    const char *outcome = res->bye ? "bye" : res->outcome == 'a' ? "a" : res->outcome == 'b' ? "b" : "draw";
    stmt_num(&q,
             "INSERT IGNORE INTO mohstats_tournament_results\n"
             "  (id_match, match_id, id_team_a, id_team_b, id_player_a, id_player_b, result, score_a, score_b,\n"
             "   ended_at, recorded_at)\n"
             "VALUES (?",
             res->l.id_match);
    stmt_param(&q, ", ?", res->l.match_id);
    stmt_num(&q, ", ?", res->l.team_a);
    stmt_num(&q, ", ?", res->l.team_b);
    stmt_num(&q, ", ?", res->l.team_a ? 0 : res->l.player_a);
    stmt_num(&q, ", ?", res->l.team_a ? 0 : res->l.player_b);
    stmt_param(&q, ", ?", outcome);
    stmt_num(&q, ", ?", res->score_a);
    stmt_num(&q, ", ?", res->score_b);
    stmt_num(&q, ", ?", (long long)res->ended_s);
    stmt_add(&q, ", UNIX_TIMESTAMP())");
    unsigned long long marked = 0;
    int rc = !locked ? -EIO : same ? run(f, &q, &marked) : 0;
    if (rc == 0 && marked == 1) {
        char ra = res->outcome == 'd' ? 'd' : res->outcome == 'a' ? 'w' : 'l';
        char rb = res->outcome == 'd' ? 'd' : res->outcome == 'b' ? 'w' : 'l';
        /* players (no team's history or totals), or a bye (no game played) */
        bool teams = (res->l.team_a != 0 || res->l.team_b != 0) && !res->bye;
        rc = write_bracket(f, res);
        rc = rc || !teams ? rc : write_history(f, res, true, name_b);
        rc = rc || !teams ? rc : write_history(f, res, false, name_a);
        rc = rc || !teams ? rc : write_totals(f, res->l.team_a, ra);
        rc = rc || !teams ? rc : write_totals(f, res->l.team_b, rb);
        rc = rc ? rc : write_advance(f, res);
        rc = rc ? rc : write_final(f, res);
    }
    if (mdb_conn_end(f->db, rc == 0 && marked == 1, err, sizeof err) != 0) {
        log_error("achievd: tournaments: the transaction of tournament match %" PRIu32 " did not complete: %s",
                  res->l.id_match, err);
        return -EIO;
    }
    *recorded = rc == 0 && marked == 1;
    return rc;
}

int tforum_scheduled(tforum *f, uint64_t from_s, uint64_t to_s, tlink **out, uint64_t **when, size_t *n, size_t max)
{
    static const char T[] = "mohaa_tournament_matches";
    *n = 0;
    *out = NULL;
    *when = NULL;
    /* The plugin's scheduled_time, else smf-mohaa's match_date; a schema with neither schedules nothing. */
    const char *at = has(f, T, "scheduled_time") && has(f, T, "match_date")
                         ? "COALESCE(NULLIF(m.scheduled_time, 0), m.match_date)"
                     : has(f, T, "scheduled_time") ? "m.scheduled_time"
                     : has(f, T, "match_date")     ? "m.match_date"
                                                   : NULL;
    if (!at)
        return 0;
    char a[96], b[96], sql[SQL_MAX], lim[24], from[24], to[24], err[256];
    team_expr(f, 1, a, sizeof a);
    team_expr(f, 2, b, sizeof b);
    snprintf(lim, sizeof lim, "%zu", max);
    snprintf(from, sizeof from, "%" PRIu64, from_s);
    snprintf(to, sizeof to, "%" PRIu64, to_s);
    snprintf(sql, sizeof sql,
             "SELECT * FROM (\n"
             "  SELECT m.id_match, m.id_tournament, %s AS a, %s AS b, '' AS match_id, %s AS at, %s AS pa, %s AS pb\n"
             "  FROM {p}mohaa_tournament_matches m\n"
             "  LEFT JOIN mohstats_tournament_links l ON l.id_match = m.id_match\n"
             "  WHERE l.id_match IS NULL%s\n"
             ") s\n"
             /* two teams, or two players of the plugin's player-based brackets */
             "WHERE (a > 0 AND b > 0 OR a = 0 AND b = 0 AND pa > 0 AND pb > 0) AND at BETWEEN ? AND ?\n"
             "ORDER BY id_match\n"
             "LIMIT %s",
             a, b, at, player_expr(f, 1), player_expr(f, 2),
             has(f, T, "status") ? " AND m.status NOT IN ('completed', 'forfeit')" : "", lim);
    const char *params[2] = {from, to};
    mdb_result *r = query(f, sql, 2, params, err, sizeof err);
    if (!r) {
        log_error("achievd: tournaments: cannot read the scheduled matches: %s", err);
        return -EIO;
    }
    int rc = links_of(r, out, n);
    if (rc == 0 && *n) {
        *when = calloc(*n, sizeof **when);
        for (size_t i = 0; *when && i < *n; i++)
            (*when)[i] = strtoull(mdb_cell(r, i, 5) ? mdb_cell(r, i, 5) : "0", NULL, 10);
        rc = *when ? 0 : -ENOMEM;
    }
    mdb_result_free(r);
    return rc;
}

int tforum_autolink(tforum *f, uint32_t id_match, const char *match_id, bool *linked)
{
    char id[16], err[256];
    snprintf(id, sizeof id, "%" PRIu32, id_match);
    const char *params[3] = {id, match_id, match_id};
    /* IGNORE: a link the forum made meanwhile wins. A game decides one tournament match: one linked already is
     * not linked again. */
    mdb_result *r =
        mdb_conn_query(f->db,
                       "INSERT IGNORE INTO mohstats_tournament_links (id_match, match_id, source, linked_at)\n"
                       "SELECT ?, ?, 'auto', UNIX_TIMESTAMP() FROM DUAL\n"
                       "WHERE NOT EXISTS (SELECT 1 FROM mohstats_tournament_links WHERE match_id = ?)",
                       3, params, err, sizeof err);
    if (!r) {
        log_error("achievd: tournaments: cannot link tournament match %s: %s", id, err);
        return -EIO;
    }
    *linked = r->affected_rows == 1;
    mdb_result_free(r);
    return 0;
}

int tforum_game_linked(tforum *f, const char *match_id, bool *linked)
{
    char err[256];
    const char *params[1] = {match_id};
    mdb_result *r = mdb_conn_query(f->db, "SELECT 1 FROM mohstats_tournament_links WHERE match_id = ? LIMIT 1", 1,
                                   params, err, sizeof err);
    if (!r) {
        log_error("achievd: tournaments: cannot read the links: %s", err);
        return -EIO;
    }
    *linked = r->nrows > 0;
    mdb_result_free(r);
    return 0;
}

bool tforum_has_team_rating(const tforum *f)
{
    /* the teams package without its members table is no forum's, but then there is nothing to rate */
    return has(f, "mohaa_teams", "rating") && has(f, "mohaa_team_members", "status");
}

int tforum_rosters(tforum *f, tmember **out, size_t *n)
{
    char err[256];
    *out = NULL;
    *n = 0;
    /* the members queryd's /stats/team/{id}/rating counts: the active ones, whenever they joined */
    mdb_result *r = query(f,
                          "SELECT m.id_team, m.id_member, COALESCE(i.player_guid, '')\n"
                          "FROM {p}mohaa_team_members AS m\n"
                          "LEFT JOIN {p}mohaa_identities AS i ON i.id_member = m.id_member AND i.player_guid != ''\n"
                          "WHERE m.status = 'active'\n"
                          "ORDER BY m.id_team, m.id_member, i.player_guid",
                          0, NULL, err, sizeof err);
    if (!r) {
        log_error("achievd: tournaments: cannot read the teams' members: %s", err);
        return -EIO;
    }
    *out = r->nrows ? calloc(r->nrows, sizeof **out) : NULL;
    for (unsigned long long i = 0; *out && i < r->nrows; i++) {
        tmember *m = &(*out)[(*n)++];
        m->team = cell_u32(r, i, 0);
        m->member = cell_u32(r, i, 1);
        snprintf(m->guid, sizeof m->guid, "%s", mdb_cell(r, i, 2) ? mdb_cell(r, i, 2) : "");
    }
    int rc = r->nrows && !*out ? -ENOMEM : 0;
    mdb_result_free(r);
    return rc;
}

int tforum_set_rating(tforum *f, uint32_t team, int rating, bool *changed)
{
    stmt q = {0};
    unsigned long long affected = 0;
    stmt_num(&q, "UPDATE {p}mohaa_teams SET rating = ?", rating);
    stmt_num(&q, " WHERE id_team = ?", team);
    stmt_num(&q, " AND NOT (rating <=> ?)", rating); /* a NULL rating is written too */
    int rc = run(f, &q, &affected);
    *changed = rc == 0 && affected > 0;
    return rc;
}
