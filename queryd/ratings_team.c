/* A forum team (docs/tournaments.md) by its members' ratings, and its chance against another team.
 *
 * | route                                      | params                                   | answer                  |
 * |--------------------------------------------|------------------------------------------|-------------------------|
 * | GET /stats/team/{id}/rating                | family, vs (another team's id)           | {mu, sigma, members[],  |
 * |                                            |                                          | opponent, win_prob,     |
 * |                                            |                                          | as_of_ms}               |
 *
 * The route is global.c's (its table registers rating_team_endpoints). */
#include "ratings.h"
#include "ratings_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

#define ID_WHY "must be a forum team id (a positive number)"
#define VS_WHY "must be another forum team's id (a positive number)"

/* What ?family= accepts; absent: the family achievd rates forum teams in, so that the default answer's
 * forum_rating is the forum's. */
static const param_choice team_family[] = {{"", RATING_TEAM_FAMILY, NULL}, RATING_FAMILY_CHOICES};

/* The teams' active members and every GUID each has linked; a member without one has player_guid ''. */
// clang-format off
static const char team_members_sql[] =
    "SELECT t.id_team, t.team_name, t.team_tag, m.id_member, COALESCE(i.player_guid, '') AS player_guid\n"
    "FROM {p}mohaa_teams AS t\n"
    "LEFT JOIN {p}mohaa_team_members AS m ON m.id_team = t.id_team AND m.status = 'active'\n"
    "LEFT JOIN {p}mohaa_identities AS i ON i.id_member = m.id_member AND i.player_guid != ''\n"
    "WHERE t.id_team IN (?, ?)\n"
    "ORDER BY t.id_team, m.id_member, i.player_guid";
// clang-format on

typedef struct {
    const endpoint *ep;
    long id, vs;                /* vs: 0 when no opponent was asked for */
    const param_choice *family; /* a team_family entry */
} team_args;

/* One member's rating: of the GUIDs the member linked, the one with the most rated matches in the family (a member
 * may have played under several; ties: the first GUID in order). */
typedef struct {
    double member_id;
    const char *guid; /* "" when none is rated */
    rating_member rating;
} team_member;

/* The members of team id from the MariaDB rows (ordered by team, then member), each with their rating (guid ""
 * when none of theirs is rated). Returns how many, at most max. */
static size_t team_members_of(const cJSON *members, const cJSON *ratings, long id, uint64_t now_ms, team_member *out,
                              size_t max)
{
    size_t n = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, members)
    {
        if (row_num(r, "id_team") != (double)id || row_num(r, "id_member") <= 0)
            continue;
        double member = row_num(r, "id_member");
        team_member *m = n > 0 && out[n - 1].member_id == member ? &out[n - 1] : NULL;
        if (!m) {
            if (n == max)
                break;
            m = &out[n++];
            *m = (team_member){.member_id = member, .guid = ""};
        }
        const cJSON *rated = rows_find(ratings, "guid", row_str(r, "player_guid"));
        if (rated && rating_member_offer(&m->rating, rating_served_rating(rated, now_ms), row_num(rated, "matches")))
            m->guid = row_str(rated, "guid");
    }
    return n;
}

#define TEAM_MAX_MEMBERS RATING_TEAM_MAX_MEMBERS

/* The first row of team id, or NULL: the team does not exist. */
static const cJSON *team_row(const cJSON *members, long id)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, members)
    {
        if (row_num(r, "id_team") == (double)id)
            return r;
    }
    return NULL;
}

/* A team as served, and its rated members as a team of the model (players[] of at least TEAM_MAX_MEMBERS). The
 * team's rating is rating_team_mean's, the one achievd writes into the forum on its scale (forum_rating). */
static cJSON *team_json(const cJSON *members, const cJSON *ratings, long id, uint64_t now_ms, rating_player *players,
                        size_t *nrated)
{
    const cJSON *head = team_row(members, id);
    team_member ms[TEAM_MAX_MEMBERS];
    size_t n = team_members_of(members, ratings, id, now_ms, ms, TEAM_MAX_MEMBERS);
    cJSON *o = cJSON_CreateObject(), *list = cJSON_CreateArray();
    cJSON_AddNumberToObject(o, "team_id", (double)id);
    cJSON_AddStringToObject(o, "team_name", row_str(head, "team_name"));
    cJSON_AddStringToObject(o, "team_tag", row_str(head, "team_tag"));
    rating_member rms[TEAM_MAX_MEMBERS];
    *nrated = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        bool rated = *ms[i].guid != '\0';
        rms[i] = ms[i].rating;
        cJSON_AddNumberToObject(m, "member_id", ms[i].member_id);
        cJSON_AddStringToObject(m, "guid", ms[i].guid);
        cJSON_AddBoolToObject(m, "rated", rated);
        if (rated) {
            rating_json_add(m, "", ms[i].rating.r.mu, ms[i].rating.r.sigma);
            cJSON_AddNumberToObject(m, "rated_matches", ms[i].rating.matches);
            players[(*nrated)++] = (rating_player){.r = ms[i].rating.r, .weight = 1};
        }
        cJSON_AddItemToArray(list, m);
    }
    cJSON_AddNumberToObject(o, "members_count", (double)n);
    cJSON_AddNumberToObject(o, "rated_members", (double)*nrated);
    rating team;
    if (rating_team_mean(rms, n, &team)) {
        rating_json_add(o, "", team.mu, team.sigma);
        rating_model model = rating_served_model();
        cJSON_AddNumberToObject(o, "forum_rating", rating_forum_points(&model, team));
    } else {
        cJSON_AddNullToObject(o, "mu");
        cJSON_AddNullToObject(o, "sigma");
        cJSON_AddNullToObject(o, "ordinal");
        cJSON_AddNullToObject(o, "forum_rating");
    }
    cJSON_AddItemToObject(o, "members", list);
    return o;
}

static void team_build(qjob *j)
{
    team_args *a = j->args;
    const cJSON *members = job_rows(j, 0), *ratings = job_rows(j, 1);
    long missing = !team_row(members, a->id) ? a->id : a->vs && !team_row(members, a->vs) ? a->vs : 0;
    if (missing) {
        char msg[96];
        snprintf(msg, sizeof msg, "Team not found: no forum team %ld.", missing);
        job_error(j, 404, msg);
        return;
    }
    rating_player mine[TEAM_MAX_MEMBERS], theirs[TEAM_MAX_MEMBERS];
    size_t nmine, ntheirs = 0;
    uint64_t now_ms = rating_now_ms();
    cJSON *o = team_json(members, ratings, a->id, now_ms, mine, &nmine);
    cJSON_AddStringToObject(o, "family", param_choice_value(a->family));
    cJSON_AddNumberToObject(o, "as_of_ms", (double)now_ms);
    if (a->vs) {
        cJSON_AddItemToObject(o, "opponent", team_json(members, ratings, a->vs, now_ms, theirs, &ntheirs));
        if (nmine > 0 && ntheirs > 0) {
            /* The chance of this team against the other, the model's prediction for a match of their rated members
             * (as ratingd predicts a match's sides: rating_win_probabilities). */
            rating_model m = rating_served_model();
            rating_team teams[2] = {{.players = mine, .nplayers = nmine, .rank = 1},
                                    {.players = theirs, .nplayers = ntheirs, .rank = 2}};
            double p[2];
            rating_win_probabilities(&m, teams, 2, p);
            cJSON_AddNumberToObject(o, "win_prob", p[0]);
        } else {
            cJSON_AddNullToObject(o, "win_prob");
        }
    }
    job_answer(j, 200, o);
}

/* Step 2: the ratings of every GUID the members linked. */
static void team_ratings(qjob *j)
{
    team_args *a = j->args;
    size_t max = (size_t)cJSON_GetArraySize(job_rows(j, 0));
    const char **guids = max ? malloc(max * sizeof *guids) : NULL;
    if (max && !guids) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    size_t n = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, job_rows(j, 0))
    {
        const char *g = row_str(r, "player_guid");
        if (*g)
            guids[n++] = g;
    }
    if (n > 0)
        rating_job_players(j, 1, param_choice_value(a->family), guids, n);
    free(guids);
    job_then(j, team_build);
}

static void team_start(qjob *j)
{
    team_args *a = j->args;
    char *sql = smf_sql(j->q, team_members_sql);
    if (!sql) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    char id[24], vs[24];
    snprintf(id, sizeof id, "%ld", a->id);
    snprintf(vs, sizeof vs, "%ld", a->vs ? a->vs : a->id);
    const char *params[] = {id, vs};
    job_mdb(j, 0, sql, 2, params, "id_team,id_member");
    free(sql);
    job_then(j, team_ratings);
}

/* ?vs= names another team than {id}: a team is no opponent of itself. */
static bool vs_other_team(const void *args)
{
    const team_args *a = args;
    return a->vs != a->id;
}

const endpoint rating_team_endpoints[] = {
    {.path = "/stats/team/{id}/rating",
     .key = "tr",
     .args_size = sizeof(team_args),
     .params = {{PARAM_ID, "id", offsetof(team_args, id), 0, ID_WHY, NULL},
                {PARAM_QUERY_ID, "vs", offsetof(team_args, vs), 0, VS_WHY, NULL},
                {PARAM_CHOICE, "family", offsetof(team_args, family), 0, RATING_FAMILY_WHY, team_family}},
     .rule = {vs_other_team, "vs", VS_WHY},
     /* two steps (the forum's members, then their ratings): it queues them itself */
     .start = team_start},
};
const size_t rating_team_endpoints_n = sizeof rating_team_endpoints / sizeof rating_team_endpoints[0];
