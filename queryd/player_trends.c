/* Players: GET /stats/player/{guid}/performance, /peak-performance and /predictions. Its endpoints are the table
 * at its end. */
#include "player.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ratings.h"

/* ---- SQL ---- */

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

/* ---- performance, peak performance, predictions ---- */

static void performance_build(qjob *j)
{
    if (!player_known(j, 2, 3)) {
        player_not_found(j);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *labels = cJSON_CreateArray(), *kills = cJSON_CreateArray(), *deaths = cJSON_CreateArray();
    cJSON *kd = cJSON_CreateArray(), *matches = cJSON_CreateArray();
    int n = cJSON_GetArraySize(job_rows(j, 0));
    double tk = 0, td = 0, score = 0, secs = 0, rounds = 0, wins = 0, losses = 0;
    for (int i = n - 1; i >= 0; i--) {
        const cJSON *r = cJSON_GetArrayItem(job_rows(j, 0), i);
        cJSON *m = player_match_item_json(r);
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

/* Best hours and days need this many kills + deaths to count: one lucky kill is not a peak. */
#define PEAK_MIN_EVENTS 10

static void peak_build(qjob *j)
{
    if (!player_known(j, 2, 7)) {
        player_not_found(j);
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
        json_add_round(e, "kd_ratio", player_kd_of(r), 2);
        cJSON_AddItemToArray(hourly, e);
        if (row_num(r, "kills") + row_num(r, "deaths") >= PEAK_MIN_EVENTS &&
            (!best_h || player_kd_of(r) > player_kd_of(best_h)))
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
        json_add_round(e, "kd_ratio", player_kd_of(r), 2);
        cJSON_AddItemToArray(daily, e);
        if (row_num(r, "kills") + row_num(r, "deaths") >= PEAK_MIN_EVENTS &&
            (!best_d || player_kd_of(r) > player_kd_of(best_d)))
            best_d = r;
    }
    if (best_h) {
        cJSON *b = cJSON_AddObjectToObject(o, "best_hour");
        cJSON_AddNumberToObject(b, "hour", row_num(best_h, "h"));
        json_add_round(b, "kd_ratio", player_kd_of(best_h), 2);
        cJSON_AddNumberToObject(b, "kills", row_num(best_h, "kills"));
    } else {
        cJSON_AddNullToObject(o, "best_hour");
    }
    if (best_d) {
        cJSON *b = cJSON_AddObjectToObject(o, "best_day");
        int d = (int)row_num(best_d, "d");
        cJSON_AddNumberToObject(b, "day_of_week", d);
        cJSON_AddStringToObject(b, "day_name", d >= 1 && d <= 7 ? day_names[d] : "");
        json_add_round(b, "kd_ratio", player_kd_of(best_d), 2);
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
        json_add_round(b, "kd_ratio", player_kd_of(bm), 2);
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

/* Predictions: a plain model over the last 10 matches (docs/definitions.md has no stat for it, so it is
 * described here): expected K/D = their kills / deaths; predicted kills and deaths = their means; trend =
 * the mean K/D of the last 5 against the 5 before (more than 10 % apart: improving / declining);
 * confidence = matches / 10, at most 1. Rivals: the opponents met most; win_prob is the skill ratings' chance
 * that the player beats that one in a duel (docs/ratings.md), in the family the player has most rated matches in
 * (a new player's rating for either side without one); head_to_head is their kills against deaths with them. */
static void predictions_build(qjob *j)
{
    player_args *a = j->args;
    const cJSON *ratings = job_rows(j, 4);
    const char *family = rating_main_family(ratings);
    /* Served as the profile serves them: sigma widened for the time since each one's last rated match. */
    uint64_t now_ms = rating_now_ms();
    double mu, sigma;
    rating_served(rows_find(ratings, "family", family), now_ms, &mu, &sigma);
    const cJSON *rows = job_rows(j, 0);
    int n = cJSON_GetArraySize(rows);
    double k = 0, d = 0, recent_kd = 0, older_kd = 0;
    int nr = 0, no = 0;
    cJSON *recent = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        const cJSON *r = cJSON_GetArrayItem(rows, i); /* newest first */
        k += row_num(r, "kills");
        d += row_num(r, "deaths");
        double mkd = player_kd_of(r);
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
        const char *other = row_str(r, "other_guid");
        const cJSON *theirs = rows_find(job_rows(j, 5), "guid", other);
        double mu_o, sigma_o;
        rating_served(theirs, now_ms, &mu_o, &sigma_o);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "opponent_guid", other);
        cJSON_AddStringToObject(e, "opponent_name", row_str(r, "other_name"));
        json_add_round(e, "win_prob", rating_duel_win_prob(mu, sigma, mu_o, sigma_o), 4);
        json_add_round(e, "head_to_head", kills + deaths > 0 ? kills / (kills + deaths) : 0.5, 2);
        cJSON_AddNumberToObject(e, "opponent_mu", mu_o);
        cJSON_AddNumberToObject(e, "opponent_sigma", sigma_o);
        cJSON_AddBoolToObject(e, "opponent_rated", theirs != NULL);
        cJSON_AddBoolToObject(e, "nemesis", deaths > kills);
        cJSON_AddItemToArray(riv, e);
    }
    cJSON_AddItemToObject(o, "rival_analysis", riv);
    cJSON_AddItemToObject(o, "recent_performance", recent);
    cJSON_AddItemToObject(o, "rating", rating_family_json(ratings, family, now_ms));
    cJSON_AddItemToObject(o, "ratings", rating_families_json(ratings, now_ms));
    cJSON_AddNumberToObject(o, "last_updated", (double)time(NULL));
    job_answer(j, 200, o);
}

/* Step 2: the rivals' ratings in the player's main family. */
static void predictions_rivals(qjob *j)
{
    if (!player_known(j, 2, 3)) {
        player_not_found(j);
        return;
    }
    const char *guids[8];
    size_t n = rows_strings(job_rows(j, 1), "other_guid", guids, sizeof guids / sizeof guids[0]);
    if (n > 0)
        rating_job_players(j, 5, rating_main_family(job_rows(j, 4)), guids, n);
    job_then(j, predictions_build);
}

/* What the predictions' table cannot say: the player's ratings. */
static void predictions_start(qjob *j)
{
    player_args *a = j->args;
    rating_job_current(j, 4, a->guid);
}

/* The predictions: at two paths. They carry ratings, whose inserts move the data generation like the writer's. */
#define PREDICTIONS(p)                                                                                                 \
    {.path = p,                                                                                                        \
     .key = "p:predictions",                                                                                           \
     .args_size = sizeof(player_args),                                                                                 \
     .params = {PLAYER_GUID_PARAM},                                                                                    \
     .vals = player_vals,                                                                                              \
     .queries = {{0, player_recent_sql, player_job_facts, 10},                                                         \
                 {1, player_opponents_sql, player_job_rivals, 5},                                                      \
                 {2, player_name_sql, NULL, 0},                                                                        \
                 {3, player_totals_sql, player_job_days, 0}},                                                          \
     .start = predictions_start,                                                                                       \
     .build = predictions_rivals}

const endpoint player_trends_endpoints[] = {
    {.path = "/stats/player/{guid}/performance",
     .key = "p:performance",
     .args_size = sizeof(player_args),
     .params = {PLAYER_GUID_PARAM},
     .vals = player_vals,
     .queries = {{0, player_recent_sql, player_job_facts, 20},
                 {2, player_name_sql, NULL, 0},
                 {3, player_totals_sql, player_job_days, 0}},
     .build = performance_build},
    {.path = "/stats/player/{guid}/peak-performance",
     .key = "p:peak",
     .args_size = sizeof(player_args),
     .params = {PLAYER_GUID_PARAM},
     .vals = player_vals,
     .queries = {{0, hourly_sql, NULL, 0},
                 {1, daily_sql, NULL, 0},
                 {2, player_name_sql, NULL, 0},
                 {3, best_map_sql, NULL, 0},
                 {4, player_weapons_sql, player_job_guid, 1},
                 {5, result_hours_sql, player_job_facts, 0},
                 {6, player_streaks_sql, NULL, 0},
                 {7, player_totals_sql, player_job_days, 0}},
     .build = peak_build},
    PREDICTIONS("/stats/player/{guid}/predictions"),
    PREDICTIONS("/player/{guid}/predictions"),
};
const size_t player_trends_endpoints_n = sizeof player_trends_endpoints / sizeof player_trends_endpoints[0];
