/* Tournament links: the forum (an operator or a tournament admin) says which game match decided a tournament
 * match (docs/tournaments.md, docs/api.md "Tournaments").
 *
 * - POST /api/v1/auth/tournament-matches/{id}/link   {match_id}: link (or move the link) to the match id queryd's
 *                                                    match endpoints use; {match_id: ""} or null removes it
 * - GET  /api/v1/auth/tournament-matches/{id}/link   the link and whether its result is recorded
 *
 * Why here: these are the forum's authenticated writes, and authd is where the forum's secret is checked
 * (authd_forum_allowed) and where mohstats already writes links into the forum's database (GUID -> member).
 * authd only records the link, in mohstats_tournament_links; achievd's tournament thread writes the result into
 * the forum's tables exactly once, within ACHIEVD_TOURNAMENT_POLL_MS of the link when the match has already
 * ended, or of the match's end. A recorded result is history: its link can no longer be moved or removed (409).
 * A game decides one tournament match: linking one already linked to another tournament match is refused (409,
 * naming it). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "log.h"

typedef struct {
    authd *a;
    char *exists_sql, *link_sql, *unlink_sql, *state_sql;
} tournament_ctx;

/* One link call between its MariaDB steps. */
typedef struct {
    tournament_ctx *t;
    http_request *req;
    char id[16];
    char match_id[65]; /* "" = remove the link */
    bool change;       /* POST: the link is to be changed once the state allows it */
} tcall;

/* A tournament match id: 1 .. 2^32-1, as the forum's INT UNSIGNED id_match. */
static bool parse_id(const char *s, char *out, size_t outlen)
{
    char *end = NULL;
    unsigned long long v = s && *s >= '1' && *s <= '9' ? strtoull(s, &end, 10) : 0;
    if (!v || !end || *end || v > 4294967295ull)
        return false;
    snprintf(out, outlen, "%llu", v);
    return true;
}

/* A match id as queryd accepts one: 1 to 64 printable ASCII bytes. */
static bool valid_match_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return false;
    return true;
}

static void respond_db_error(tcall *c, const char *err)
{
    log_error("tournament link %s: the forum database failed: %s", c->id, err ? err : "?");
    http_respond_error(c->req, 503, "The forum database is unreachable; try again shortly");
    free(c);
}

/* The answer: the link as it stands now. */
static void on_state(mdb_result *res, const char *err, void *arg)
{
    tcall *c = arg;
    if (!res) {
        respond_db_error(c, err);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    const char *linked = res->nrows ? mdb_cell(res, 0, 0) : NULL;
    const char *source = res->nrows ? mdb_cell(res, 0, 1) : NULL;
    const char *result = res->nrows ? mdb_cell(res, 0, 2) : NULL;
    cJSON_AddNumberToObject(o, "tournament_match_id", strtod(c->id, NULL));
    if (linked)
        cJSON_AddStringToObject(o, "match_id", linked);
    else
        cJSON_AddNullToObject(o, "match_id");
    if (source)
        cJSON_AddStringToObject(o, "source", source);
    else
        cJSON_AddNullToObject(o, "source");
    cJSON_AddBoolToObject(o, "recorded", result != NULL);
    if (result)
        cJSON_AddStringToObject(o, "result", result);
    http_respond_json(c->req, 200, o);
    free(c);
}

static void answer_state(tcall *c)
{
    const char *params[1] = {c->id};
    if (mdb_query(c->t->a->mdb, c->t->state_sql, 1, params, on_state, c) != 0)
        on_state(NULL, "out of memory", c);
}

static void on_changed(mdb_result *res, const char *err, void *arg)
{
    tcall *c = arg;
    if (!res) {
        respond_db_error(c, err);
        return;
    }
    log_info("forum: tournament match %s %s%s", c->id, c->match_id[0] ? "linked to match " : "unlinked", c->match_id);
    answer_state(c);
}

/* Whether the tournament match exists, and what is recorded of it. */
static void on_exists(mdb_result *res, const char *err, void *arg)
{
    tcall *c = arg;
    if (!res) {
        respond_db_error(c, err);
        return;
    }
    if (res->nrows == 0) {
        http_respond_error(c->req, 404,
                           "Unknown tournament match: no row with this id_match in the forum's tournament matches");
        free(c);
        return;
    }
    const char *recorded = mdb_cell(res, 0, 0);
    if (!c->change) {
        answer_state(c);
        return;
    }
    if (recorded) {
        if (strcmp(recorded, c->match_id) == 0) { /* the same link again: nothing to do */
            answer_state(c);
            return;
        }
        http_respond_error(c->req, 409,
                           "This tournament match's result is already recorded from another match; "
                           "its link cannot change");
        free(c);
        return;
    }
    /* A game decides one tournament match: the forum unlinks it there first (a recorded one stays). */
    const char *other = c->match_id[0] ? mdb_cell(res, 0, 1) : NULL;
    if (other) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "This match is already linked to tournament match %s; unlink it there first (a game decides one "
                 "tournament match)",
                 other);
        http_respond_error(c->req, 409, msg);
        free(c);
        return;
    }
    int rc;
    if (c->match_id[0]) {
        /* the statement itself re-checks that no result was recorded since on_exists looked */
        const char *params[3] = {c->id, c->match_id, c->id};
        rc = mdb_query(c->t->a->mdb, c->t->link_sql, 3, params, on_changed, c);
    } else {
        const char *params[1] = {c->id};
        rc = mdb_query(c->t->a->mdb, c->t->unlink_sql, 1, params, on_changed, c);
    }
    if (rc != 0)
        on_changed(NULL, "out of memory", c);
}

static void link_handler(http_request *req, void *arg)
{
    tournament_ctx *t = arg;
    if (!authd_forum_allowed(t->a, req))
        return;
    tcall *c = calloc(1, sizeof *c);
    if (!c) {
        http_respond_error(req, 503, "Out of memory");
        return;
    }
    c->t = t;
    c->req = req;
    if (!parse_id(http_request_param(req, "id"), c->id, sizeof c->id)) {
        http_respond_error(req, 400, "The tournament match id must be a positive number (the forum's id_match)");
        free(c);
        return;
    }
    c->change = strcmp(http_request_method(req), "POST") == 0;
    if (c->change) {
        cJSON *o = authd_body(req);
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "match_id");
        bool ok = m && (cJSON_IsNull(m) || (cJSON_IsString(m) && (!*m->valuestring || valid_match_id(m->valuestring))));
        if (ok && cJSON_IsString(m))
            snprintf(c->match_id, sizeof c->match_id, "%s", m->valuestring);
        cJSON_Delete(o);
        if (!ok) {
            http_respond_error(req, 400,
                               "match_id is required: a match id as /api/v1/stats/match/{id} takes it "
                               "(1 to 64 printable characters), or \"\" or null to remove the link");
            free(c);
            return;
        }
    }
    const char *params[2] = {c->match_id, c->id};
    if (mdb_query(t->a->mdb, t->exists_sql, 2, params, on_exists, c) != 0)
        on_exists(NULL, "out of memory", c);
}

void tournament_routes(authd *a, http_server *s)
{
    static tournament_ctx t;
    t.a = a;
    t.exists_sql =
        mdb_prefixed_sql(a->smf_prefix, "SELECT r.match_id,\n"
                                        "  (SELECT MIN(o.id_match) FROM mohstats_tournament_links o\n"
                                        "   WHERE o.match_id = ? AND o.id_match <> m.id_match)\n"
                                        "FROM {p}mohaa_tournament_matches m\n"
                                        "LEFT JOIN mohstats_tournament_results r ON r.id_match = m.id_match\n"
                                        "WHERE m.id_match = ?");
    t.link_sql = mdb_prefixed_sql(a->smf_prefix,
                                  "INSERT INTO mohstats_tournament_links (id_match, match_id, source, linked_at)\n"
                                  "SELECT ?, ?, 'forum', UNIX_TIMESTAMP() FROM DUAL\n"
                                  "WHERE NOT EXISTS (SELECT 1 FROM mohstats_tournament_results WHERE id_match = ?)\n"
                                  "ON DUPLICATE KEY UPDATE match_id = VALUES(match_id), source = 'forum',\n"
                                  "                        linked_at = VALUES(linked_at)");
    t.unlink_sql =
        mdb_prefixed_sql(a->smf_prefix, "DELETE l FROM mohstats_tournament_links l\n"
                                        "LEFT JOIN mohstats_tournament_results r ON r.id_match = l.id_match\n"
                                        "WHERE l.id_match = ? AND r.id_match IS NULL");
    t.state_sql = mdb_prefixed_sql(a->smf_prefix, "SELECT COALESCE(r.match_id, l.match_id), l.source, r.result\n"
                                                  "FROM (SELECT ? AS id_match) k\n"
                                                  "LEFT JOIN mohstats_tournament_links l ON l.id_match = k.id_match\n"
                                                  "LEFT JOIN mohstats_tournament_results r ON r.id_match = k.id_match\n"
                                                  "WHERE l.id_match IS NOT NULL OR r.id_match IS NOT NULL");
    if (!t.exists_sql || !t.link_sql || !t.unlink_sql || !t.state_sql) {
        log_error("tournament links: out of memory");
        return;
    }
    static const char *const methods[] = {"POST", "GET"};
    for (size_t i = 0; i < 2; i++)
        if (http_server_route(s, methods[i], "/api/v1/auth/tournament-matches/{id}/link", link_handler, &t) != 0)
            log_error("cannot register route /api/v1/auth/tournament-matches/{id}/link");
}
