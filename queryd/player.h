/* What the player area's files share (player.c, player_deep.c, player_trends.c, player_style.c): the parsed
 * parameters, the SQL more than one part reads, the helpers that queue a player's queries and render their rows,
 * and each file's endpoint table (endpoint.h), which player_routes registers. */
#ifndef MOHSTATS_QUERYD_PLAYER_H
#define MOHSTATS_QUERYD_PLAYER_H

#include "area.h"
#include "endpoint.h"

typedef struct {
    const endpoint *ep; /* its part: which part of /deep, or the breakdown to build */
    char guid[IDENT_MAX + 1];
    long member_id; /* > 0 for /stats/member/{id} */
    paging pg;
    const param_choice *stat; /* drilldown: its value the stat, */
    const param_choice *dim;  /* its name the dimension, its data the dimension's expression */
    long limit;
} player_args;

/* The part of the player's page a job builds (its endpoint's part), "" for none. */
const char *player_part(qjob *j);

/* The values of every player query: {guid} (endpoint.vals). */
size_t player_vals(qjob *j, sqlv out[ENDPOINT_VALS]);

/* The {guid} path parameter, the first of every per-player endpoint. */
#define PLAYER_GUID_PARAM {PARAM_IDENT, "guid", offsetof(player_args, guid), 0, "must be 1 to 64 printable bytes", NULL}

/* SQL templates over one player ({guid}), in player.c. */
extern const char player_name_sql[];    /* name, seen_ms, smf_id */
extern const char player_weapons_sql[]; /* per weapon, {limit} rows */
extern const char player_recent_sql[];  /* the newest matches, over {facts}, {limit} and {offset} */
extern const char player_by_map_sql[];  /* per map, over {facts} */
extern const char player_streaks_sql[]; /* kill streaks per life */
extern const char player_multikills_sql[];
extern const char player_opponents_sql[]; /* per other player, ordered by {order}, {limit} rows */

/* The queries of the player's endpoints (endpoint_queue_fn: slot, template, a number), each giving the template
 * the values it reads. */
/* tmpl over the player's facts: {facts}, {guid}, {limit}, offset 0. */
void player_job_facts(qjob *j, int slot, const char *tmpl, long limit);
/* The same from a row: {offset}. */
void player_job_facts_at(qjob *j, int slot, const char *tmpl, long limit, long offset);
/* tmpl keyed by the player: {guid}, {limit}, {order} kills (player_opponents_sql: the players killed most). */
void player_job_guid(qjob *j, int slot, const char *tmpl, long limit);
/* player_opponents_sql ordered by deaths to them: the players killed by most. */
void player_job_killers(qjob *j, int slot, const char *tmpl, long limit);
/* player_opponents_sql ordered by kills and deaths together: the players met most. */
void player_job_rivals(qjob *j, int slot, const char *tmpl, long limit);
/* tmpl over every day of the player's daily rows: {where}, {day_from} (player_totals_sql: lifetime totals). Nothing
 * when out of memory: the builder then finds the slot empty. */
void player_job_days(qjob *j, int slot, const char *tmpl, long unused);
/* The player's totals (tmpl, player_totals_sql, as player_job_days) in slot and match totals in slot + 1. */
void player_job_totals(qjob *j, int slot, const char *tmpl, long unused);
/* Whether the player exists: a name was seen, or any event was counted. */
bool player_known(qjob *j, int name_slot, int totals_slot);
/* End the job with 404 naming the GUID. */
void player_not_found(qjob *j);
/* Rows as served: weapons (player_weapons_sql), one match (a match_facts_sql row), per-map or per-game-type
 * breakdowns (key is the grouping column, as the served name). */
cJSON *player_weapons_json(const cJSON *rows);
cJSON *player_match_item_json(const cJSON *r);
cJSON *player_breakdowns_json(const cJSON *rows, const char *key, const char *as);
/* The K/D of a kills/deaths row. */
double player_kd_of(const cJSON *r);

/* Each file's endpoints: player_deep.c, player_trends.c, player_style.c. */
extern const endpoint player_deep_endpoints[];
extern const size_t player_deep_endpoints_n;
extern const endpoint player_trends_endpoints[];
extern const size_t player_trends_endpoints_n;
extern const endpoint player_style_endpoints[];
extern const size_t player_style_endpoints_n;

#endif
