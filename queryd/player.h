/* What the player area's files share (player.c, player_deep.c, player_trends.c, player_style.c): the parsed
 * parameters, the SQL more than one part reads, the helpers that queue a player's queries and render their rows,
 * and each part's start function, which player.c's routes serve. */
#ifndef MOHSTATS_QUERYD_PLAYER_H
#define MOHSTATS_QUERYD_PLAYER_H

#include "area.h"

typedef struct {
    char guid[IDENT_MAX + 1];
    long member_id; /* > 0 for /stats/member/{id} */
    paging pg;
    const char *part; /* which part of /deep, or the breakdown to build */
    const char *stat; /* drilldown */
    const char *dim;  /* drilldown */
    const char *dim_sql;
    long limit;
} player_args;

/* SQL templates over one player ({guid}), in player.c. */
extern const char player_name_sql[];    /* name, seen_ms, smf_id */
extern const char player_weapons_sql[]; /* per weapon, {limit} rows */
extern const char player_recent_sql[];  /* the newest matches, over {facts}, {limit} and {offset} */
extern const char player_by_map_sql[];  /* per map, over {facts} */
extern const char player_streaks_sql[]; /* kill streaks per life */
extern const char player_multikills_sql[];
extern const char player_opponents_sql[]; /* per other player, ordered by {order}, {limit} rows */

/* Queue a query over the player's facts: tmpl with {facts}, {guid}, {limit}, {offset}. */
void player_job_facts(qjob *j, int slot, const char *tmpl, long limit, long offset);
/* Queue a query keyed by the player: tmpl with {guid}, {limit}, {order}. */
void player_job_guid(qjob *j, int slot, const char *tmpl, long limit);
/* Queue the player's lifetime totals (player_totals_sql) in slot. */
void player_job_lifetime(qjob *j, int slot);
/* Queue the player's totals (slot) and match totals (slot + 1). */
void player_job_totals(qjob *j, int slot);
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

/* Each part's start (a qjob_fn): player_deep.c, player_trends.c, player_style.c. */
void player_deep_start(qjob *j);
void player_list_start(qjob *j);
void player_performance_start(qjob *j);
void player_peak_start(qjob *j);
void player_predictions_start(qjob *j);
void player_combos_start(qjob *j);
void player_playstyle_start(qjob *j);
void player_misc_start(qjob *j);
void player_drill_start(qjob *j);

#endif
