/* Leaderboards: any stat of the vocabulary (stats.c) over a period, paged, and the cards page.
 *
 * | route                         | params                                        | answer                      |
 * |-------------------------------|-----------------------------------------------|-----------------------------|
 * | GET /stats/leaderboard/global | stat, period, limit, offset, page, count_only | {players, total, page, ...} |
 * |                               |                                               | or {total}                  |
 * | GET /stats/leaderboard        | same                                          | same                        |
 * | GET /stats/leaderboard/{stat} | period, limit, offset, page, count_only       | same                        |
 * | GET /stats/leaderboard/cards  | -                                             | {<metric>: [{player_id,     |
 * |                               |                                               | player_name, value}] x3}    |
 *
 * Every answer is a ranking of the period's board (board.c): all players' totals, built once for all stats; but
 * stat=rating (with a family parameter), a current value read from ratingd's table, which ratings_leaderboard.c
 * answers.
 *
 * Their endpoints are board answers (endpoint.board: served at their board's data generation), and stat=rating
 * names another endpoint instead (endpoint.instead: ratings_leaderboard.c's, with parameters and a key of its own). */
#include "area.h"

#include <stdio.h>
#include <string.h>

#include "board.h"
#include "endpoint.h"
#include "ratings.h"

#define LB_DEFAULT_LIMIT 25

typedef struct {
    const endpoint *ep;
    const lb_stat *stat;
    period p;
    paging pg;
    bool count_only;
} lb_args;

/* Why a job got no board: the status board_get gave. */
static void board_failed(qjob *j, int status)
{
    job_error(j, status ? status : 500, "The statistics query failed; the error is in queryd's log.");
}

/* The answer: the page's rows of the stat's ranking, each with its player stats, or the count alone. */
static void lb_answer(const board *b, int status, void *arg)
{
    qjob *j = arg;
    lb_args *a = j->args;
    if (!b) {
        board_failed(j, status);
        return;
    }
    j->data_gen = board_gen(b);
    size_t *rows = malloc((size_t)a->pg.limit * sizeof *rows), total;
    if (!rows) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    size_t n = board_rank(b, a->stat, (size_t)a->pg.offset, a->count_only ? 0 : (size_t)a->pg.limit, rows, &total);
    cJSON *o = cJSON_CreateObject();
    if (a->count_only) {
        free(rows);
        cJSON_AddNumberToObject(o, "total", (double)total);
        job_answer(j, 200, o);
        return;
    }
    cJSON *players = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        const char *guid = board_guid(b, rows[i]), *name = board_name(b, rows[i]);
        double value = board_value(b, rows[i], a->stat);
        cJSON *p = board_stats_json(b, rows[i]);
        cJSON_AddNumberToObject(p, "rank", (double)(a->pg.offset + (long)i + 1));
        cJSON_AddStringToObject(p, "player_id", guid);
        cJSON_AddStringToObject(p, "guid", guid);
        cJSON_AddStringToObject(p, "id", guid);
        cJSON_AddStringToObject(p, "player_name", name);
        cJSON_AddStringToObject(p, "name", name);
        json_add_round(p, "value", value, a->stat->decimals);
        /* The widget shows row[stat]: make it the ranked value whatever the stat's own key means. */
        cJSON_DeleteItemFromObject(p, a->stat->name);
        json_add_round(p, a->stat->name, value, a->stat->decimals);
        cJSON_AddItemToArray(players, p);
    }
    free(rows);
    cJSON_AddItemToObject(o, "players", players);
    cJSON_AddNumberToObject(o, "total", (double)total);
    cJSON_AddNumberToObject(o, "page", (double)a->pg.page);
    cJSON_AddNumberToObject(o, "limit", (double)a->pg.limit);
    cJSON_AddNumberToObject(o, "offset", (double)a->pg.offset);
    cJSON_AddStringToObject(o, "stat", a->stat->name);
    cJSON_AddStringToObject(o, "period", period_name(a->p));
    job_answer(j, 200, o);
}

static void lb_start(qjob *j)
{
    lb_args *a = j->args;
    board_get(j->q->boards, a->p, lb_answer, j);
}

/* ---- cards: the top 3 of many metrics in one page ---- */

/* The cards' metrics: the key served and the stat computing it. */
static const struct {
    const char *card, *stat;
} card_metrics[] = {
    {"kills", "kills"},
    {"deaths", "deaths"},
    {"kd", "kd_ratio"},
    {"headshots", "headshots"},
    {"accuracy", "accuracy"},
    {"shots_fired", "shots_fired"},
    {"damage", "damage"},
    {"bash_kills", "bash_kills"},
    {"grenade_kills", "grenade_kills"},
    {"roadkills", "roadkills"},
    {"telefrags", "telefrags"},
    {"crushed", "crushed"},
    {"teamkills", "teamkills"},
    {"suicides", "suicides"},
    {"reloads", "reloads"},
    {"weapon_swaps", "weapon_swaps"},
    {"no_ammo", "no_ammo"},
    {"looter", "looter"},
    {"distance", "distance"},
    {"sprinted", "sprinted"},
    {"swam", "swam"},
    {"driven", "driven"},
    {"jumps", "jumps"},
    {"crouch_time", "crouch_time"},
    {"prone_time", "prone_time"},
    {"ladders", "ladders"},
    {"health_picked", "health_picked"},
    {"ammo_picked", "ammo_picked"},
    {"armor_picked", "armor_picked"},
    {"items_picked", "items_picked"},
    {"wins", "wins"},
    {"team_wins", "team_wins"},
    {"ffa_wins", "ffa_wins"},
    {"losses", "losses"},
    {"objectives_done", "objectives"},
    {"rounds_played", "rounds"},
    {"games_finished", "games"},
    {"vehicle_enter", "vehicle_enter"},
    {"turret_enter", "turret_enter"},
    {"vehicle_kills", "roadkills"},
    {"chat_msgs", "chat_msgs"},
    {"spectating", "spectating"},
    {"doors_opened", "doors_opened"},
    {"playtime", "playtime"},
    {"headshot_ratio", "headshot_ratio"},
    {"bot_kills", "bot_kills"},
};

/* Top 3 of every metric, from the all-time board. */
static void cards_answer(const board *b, int status, void *arg)
{
    qjob *j = arg;
    if (!b) {
        board_failed(j, status);
        return;
    }
    j->data_gen = board_gen(b);
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < sizeof card_metrics / sizeof card_metrics[0]; i++) {
        const lb_stat *st = lb_stat_find(card_metrics[i].stat);
        size_t rows[3], total;
        size_t n = board_rank(b, st, 0, 3, rows, &total);
        cJSON *top = cJSON_CreateArray();
        for (size_t r = 0; r < n; r++) {
            const char *guid = board_guid(b, rows[r]), *name = board_name(b, rows[r]);
            double value = board_value(b, rows[r], st);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "rank", (double)(r + 1));
            cJSON_AddStringToObject(e, "player_id", guid);
            cJSON_AddStringToObject(e, "guid", guid);
            cJSON_AddStringToObject(e, "player_name", name);
            cJSON_AddStringToObject(e, "name", name);
            json_add_round(e, "value", value, st->decimals);
            char shown[64];
            snprintf(shown, sizeof shown, "%.*f", st->decimals, value);
            cJSON_AddStringToObject(e, "display_value", shown);
            cJSON_AddItemToArray(top, e);
        }
        cJSON_AddItemToObject(o, card_metrics[i].card, top);
    }
    job_answer(j, 200, o);
}

static void cards_start(qjob *j)
{
    board_get(j->q->boards, PERIOD_ALL, cards_answer, j);
}

/* ---- the endpoints ---- */

#define LB_PARAMS(stat_kind)                                                                                           \
    {{PARAM_PERIOD, "period", offsetof(lb_args, p), 0, "must be all, day, week, month or year", NULL},                 \
     {stat_kind, "stat", offsetof(lb_args, stat), 0,                                                                   \
      "is not a known stat (kills, deaths, kd_ratio, headshots, accuracy, ..., rating; see docs/definitions.md)",      \
      NULL},                                                                                                           \
     {PARAM_PAGING, "limit", offsetof(lb_args, pg), LB_DEFAULT_LIMIT, NULL, NULL},                                     \
     {PARAM_FLAG, "count_only", offsetof(lb_args, count_only), 0, NULL, NULL}}

/* A stat's ranking: ?stat= at the first two paths, {stat} at the last; stat=rating is ratings_leaderboard.c's. */
#define LEADERBOARD(p, k, stat_kind)                                                                                   \
    {.path = p,                                                                                                        \
     .key = k,                                                                                                         \
     .args_size = sizeof(lb_args),                                                                                     \
     .params = LB_PARAMS(stat_kind),                                                                                   \
     .start = lb_start,                                                                                                \
     .board = true,                                                                                                    \
     .instead = {"stat", RATING_STAT, &rating_leaderboard_endpoint}}

static const endpoint leaderboard_endpoints[] = {
    LEADERBOARD("/stats/leaderboard", "lb", PARAM_STAT),
    LEADERBOARD("/stats/leaderboard/global", "lb", PARAM_STAT),
    {.path = "/stats/leaderboard/cards", .key = "lbcards", .start = cards_start, .board = true},
    LEADERBOARD("/stats/leaderboard/{stat}", "lbstat", PARAM_PATH_STAT),
};

void leaderboard_routes(queryd *q, http_server *s)
{
    endpoints_add(q, s, leaderboard_endpoints, sizeof leaderboard_endpoints / sizeof leaderboard_endpoints[0]);
}
