/* GET /stats/query: the old API's dynamic stat query (docs/api.md), with every part from a fixed list.
 *
 * - dimension (required): player (name), player_guid, map, server, match, weapon, hitloc; anything else is 400.
 * - metric: kills, deaths, headshots, accuracy, kdr, count (the default: events).
 * - filter_player_guid, filter_map, filter_weapon, filter_server: equality filters.
 * - start_date, end_date: RFC 3339 or YYYY-MM-DD; end_date defaults to now, start_date to 30 days before
 *   end_date; at most QUERY_SPAN_MAX_DAYS apart.
 * - limit: 1..1000 (default 100).
 * Answer: [{label, value}], by value descending then label; rows with value 0 are left out.
 *
 * It reads raw_events, so the window bounds the scan (raw_events is partitioned by month), and the kill
 * metrics read only player_kill rows (the first column of its key). Definitions are those of
 * docs/definitions.md: a kill is a kill of another player who is not a team mate; a death is any player_kill
 * of the player; headshots are kills in the head, helmet or neck; accuracy is weapon_hit / weapon_fire x 100.
 * A player dimension or filter counts each event for the player in the role the metric needs (the attacker
 * for kills, the victim for deaths); other dimensions count every event once.
 *
 * Not on the endpoint table (endpoint.h): its ten parameters are checked against each other (the window's ends,
 * whose defaults hang on the time and each other, and the order of the 400s), which its one handler says more
 * plainly than declared parameters could. */
#include "area.h"
#include "event_model.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define QUERY_LIMIT_MAX 1000
#define QUERY_SPAN_MAX_DAYS 366

typedef struct {
    const char *name;
    const char *plain; /* the label from one event */
    const char *role;  /* the label per player role (player dimensions), NULL when it is the same */
} dimension;

static const dimension dimensions[] = {
    {"player", NULL, "if(role = 1, actor_name, target_name)"},
    {"player_guid", NULL, "player"},
    {"map", "map_name", NULL},
    {"server", "server_id", NULL},
    {"match", "match_key", NULL},
    {"weapon", "weapon", NULL},
    {"hitloc", "lower(hitloc)", NULL},
};

typedef struct {
    const char *name;
    const char *types; /* the event types it reads: a condition on event_type */
    const char *plain; /* the value over events, counted once */
    const char *role;  /* the value over (event, player role) rows */
} metric_def;

#define KILL "event_type = " EVT_SQL_PLAYER_KILL " AND " ENEMY_KILL_SQL
#define FIRE "event_type = " EVT_SQL_WEAPON_FIRE
#define HIT "event_type = " EVT_SQL_WEAPON_HIT
// clang-format off
static const metric_def metric_defs[] = {
    {"kills", "event_type = " EVT_SQL_PLAYER_KILL, "countIf(" KILL ")", "countIf(role = 1 AND " KILL ")"},
    {"deaths", "event_type = " EVT_SQL_PLAYER_KILL, "count()", "countIf(role = 2)"},
    {"headshots", "event_type = " EVT_SQL_PLAYER_KILL, "countIf(" KILL " AND " HEADSHOT_SQL ")",
     "countIf(role = 1 AND " KILL " AND " HEADSHOT_SQL ")"},
    {"kdr", "event_type = " EVT_SQL_PLAYER_KILL,
     "if(count() = 0, 0, round(countIf(" KILL ") / count(), 2))",
     "if(countIf(role = 2) = 0, toFloat64(countIf(role = 1 AND " KILL ")), "
     "round(countIf(role = 1 AND " KILL ") / countIf(role = 2), 2))"},
    {"accuracy", "event_type IN (" EVT_SQL_WEAPON_FIRE ", " EVT_SQL_WEAPON_HIT ")",
     "if(countIf(" FIRE ") = 0, 0, round(countIf(" HIT ") * 100 / countIf(" FIRE "), 1))",
     "if(countIf(role = 1 AND " FIRE ") = 0, 0, round(countIf(role = 1 AND " HIT ") * 100 / countIf(role = 1 AND " FIRE
     "), 1))"},
    {"count", "1", "count()", "count()"},
};

/* Events counted once. */
static const char plain_sql[] =
    "SELECT {label} AS label, {value} AS value\n"
    "FROM raw_events\n"
    "WHERE ({types}) AND received_at >= toDateTime({from}) AND received_at < toDateTime({to}) AND {filters}\n"
    "GROUP BY label\n"
    "HAVING value > 0\n"
    "ORDER BY value DESC, label ASC\n"
    "LIMIT {limit}";

/* Events counted per player taking part: the attacker or actor (role 1) and the victim or target (role 2, when
 * another player), as the per-player views count them (schemas/clickhouse/0002_aggregates.sql). The normalised
 * columns are named: `*` leaves out MATERIALIZED columns, and the metrics read them (ENEMY_KILL_SQL,
 * HEADSHOT_SQL). */
static const char role_sql[] =
    "SELECT {label} AS label, {value} AS value\n"
    "FROM\n"
    "(\n"
    "    SELECT *, actor_side, target_side, hit_class, role, if(role = 1, actor_guid, target_guid) AS player\n"
    "    FROM raw_events\n"
    "    ARRAY JOIN arrayFilter(r -> (r = 1 AND actor_guid != '')\n"
    "                            OR (r = 2 AND target_guid != '' AND target_guid != actor_guid), [1, 2]) AS role\n"
    "    WHERE ({types}) AND received_at >= toDateTime({from}) AND received_at < toDateTime({to})\n"
    ")\n"
    "WHERE " LISTED_PLAYER_SQL("player") " AND {filters}\n"
    "GROUP BY label\n"
    "HAVING value > 0\n"
    "ORDER BY value DESC, label ASC\n"
    "LIMIT {limit}";
// clang-format on

typedef struct {
    const dimension *dim;
    const metric_def *metric;
    int64_t from, to;
    long limit;
    char player[IDENT_MAX + 1], map[IDENT_MAX + 1], weapon[IDENT_MAX + 1], server[IDENT_MAX + 1];
} query_args;

/* The rows are the answer: [{label, value}]. */
static void query_build(qjob *j)
{
    job_answer(j, 200, job_take(j, 0));
}

static void query_start(qjob *j)
{
    query_args *a = j->args;
    /* The ad-hoc query is exempt from the freshness bound (docs/api.md): its answer counts as current for its
     * whole QUERY_CACHE_TTL_S, whatever was inserted since, so that new inserts never recompute it. */
    j->data_gen = UINT64_MAX;
    bool by_role = a->dim->role || a->player[0];
    /* The filters: each a fixed condition on a value escaped by sqlt. */
    char filters[512] = "1";
    static const struct {
        size_t offset;
        const char *cond;
    } fs[] = {
        {offsetof(query_args, player), " AND player = {player}"},
        {offsetof(query_args, map), " AND map_name = {map}"},
        {offsetof(query_args, weapon), " AND weapon = {weapon}"},
        {offsetof(query_args, server), " AND server_id = {server}"},
    };
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
        if (((const char *)a + fs[i].offset)[0])
            strncat(filters, fs[i].cond, sizeof filters - strlen(filters) - 1);
    sqlv fv[] = {SQL_STR("player", a->player), SQL_STR("map", a->map), SQL_STR("weapon", a->weapon),
                 SQL_STR("server", a->server)};
    char *where = sqlt_render(filters, fv, 4);
    if (!where) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    sqlv v[] = {SQL_RAW("label", by_role ? (a->dim->role ? a->dim->role : a->dim->plain) : a->dim->plain),
                SQL_RAW("value", by_role ? a->metric->role : a->metric->plain),
                SQL_RAW("types", a->metric->types),
                SQL_INT("from", a->from),
                SQL_INT("to", a->to),
                SQL_RAW("filters", where),
                SQL_INT("limit", a->limit)};
    job_ch(j, 0, by_role ? role_sql : plain_sql, v, 7);
    free(where);
    job_then(j, query_build);
}

/* Copy an optional identifier parameter into out; false (after answering 400) when it is malformed. */
static bool ident_param(http_request *req, const char *name, char out[IDENT_MAX + 1])
{
    const char *v = http_request_query(req, name);
    out[0] = '\0';
    if (!v || !*v)
        return true;
    if (!ident_ok(v, IDENT_MAX)) {
        respond_bad_param(req, name, "must be 1 to 64 printable bytes");
        return false;
    }
    snprintf(out, IDENT_MAX + 1, "%s", v);
    return true;
}

/* GET /stats/query */
static void stats_query(http_request *req, void *arg)
{
    queryd *q = arg;
    const char *dim = http_request_query(req, "dimension"), *met = http_request_query(req, "metric");
    query_args *a = ARGS_NEW(query_args);
    if (!a) {
        http_respond_error(req, 500, "Out of memory.");
        return;
    }
    for (size_t i = 0; dim && i < sizeof dimensions / sizeof dimensions[0]; i++)
        if (strcmp(dim, dimensions[i].name) == 0)
            a->dim = &dimensions[i];
    for (size_t i = 0; i < sizeof metric_defs / sizeof metric_defs[0]; i++)
        if (strcmp(met && *met ? met : "count", metric_defs[i].name) == 0)
            a->metric = &metric_defs[i];
    const char *start = http_request_query(req, "start_date"), *end = http_request_query(req, "end_date");
    /* No end_date: now, rounded up to the cache's lifetime, so that the same question asked again within it has
     * the same cache key (with the second in it, every request was a new key and a new query). */
    int64_t ttl = q->cache_ttl_s, now = (int64_t)time(NULL);
    a->to = (now / ttl + 1) * ttl;
    bool end_ok = !end || !*end || param_time_parse(end, &a->to) == 0;
    a->from = a->to - 30 * 86400; /* the default window: the 30 days before end_date */
    bool start_ok = !start || !*start || param_time_parse(start, &a->from) == 0;
    if (!a->dim) {
        respond_bad_param(req, "dimension", "must be player, player_guid, map, server, match, weapon or hitloc");
    } else if (!a->metric) {
        respond_bad_param(req, "metric", "must be kills, deaths, headshots, accuracy, kdr or count");
    } else if (!end_ok) {
        respond_bad_param(req, "end_date", "must be an RFC 3339 time (2026-01-31T20:15:00Z) or a date (2026-01-31)");
    } else if (!start_ok) {
        respond_bad_param(req, "start_date", "must be an RFC 3339 time (2026-01-31T20:15:00Z) or a date (2026-01-31)");
    } else if (a->to - a->from > (int64_t)QUERY_SPAN_MAX_DAYS * 86400 || a->to <= a->from) {
        respond_bad_param(req, "start_date", "must be before end_date, and at most 366 days before it");
    } else if (ident_param(req, "filter_player_guid", a->player) && ident_param(req, "filter_map", a->map) &&
               ident_param(req, "filter_weapon", a->weapon) && ident_param(req, "filter_server", a->server)) {
        a->limit = param_long(req, "limit", 100, 1, QUERY_LIMIT_MAX);
        char key[1200], k[4][QCACHE_PART_MAX];
        snprintf(key, sizeof key, "sq:%s:%s:%lld:%lld:%ld:%s:%s:%s:%s", a->dim->name, a->metric->name,
                 (long long)a->from, (long long)a->to, a->limit, qcache_part(a->player, k[0]),
                 qcache_part(a->map, k[1]), qcache_part(a->weapon, k[2]), qcache_part(a->server, k[3]));
        qcache_serve(q->cache, req, key, q->cache_ttl_s, query_start, a, free);
        return;
    }
    free(a);
}

static const route query_table[] = {
    {"/stats/query", stats_query},
};

void query_routes(queryd *q, http_server *s)
{
    routes_add(s, q, query_table, sizeof query_table / sizeof query_table[0]);
}
