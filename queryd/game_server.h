/* What the game-server areas (game_server.c, game_server_parts.c, game_server_players.c) share: the server id in
 * the path, the registered server a job looked up, its live state. "Server" in these files is a game server. */
#ifndef MOHSTATS_GAME_SERVER_H
#define MOHSTATS_GAME_SERVER_H

#include <stdbool.h>

#include "area.h"
#include "endpoint.h"
#include "event_model.h"

/* SQL condition: the rows of server {id} that give a player's country (game_server_countries.c). */
#define SERVER_COUNTRY_ROWS_SQL                                                                                        \
    "event_type IN (" EVT_SQL_CONNECT ", " EVT_SQL_PLAYER_AUTH ") AND server_id = {id} AND actor_country != ''"

/* SQL template: the latest name of every player of server {id}. */
extern const char server_names_sql[];

/* A job's parameters about one server: its id, and what the endpoint reads. */
typedef struct {
    const endpoint *ep;
    char id[IDENT_MAX + 1];
    long limit, days, hours;
} server_args;

/* The {id} of the path: a game server's. */
#define SERVER_ID_PARAM                                                                                                \
    {PARAM_IDENT, "id", offsetof(server_args, id), 0, "must be a server id of 1 to 64 printable bytes", NULL, 0, 0}
/* The values of a server's queries: {id}, {limit}, {days}, {hours} (endpoint.vals). */
size_t server_vals(qjob *j, sqlv out[ENDPOINT_VALS]);
/* Queue the registered servers (PostgreSQL) in slot (endpoint_queue_fn: sql servers_pg_sql). */
void server_job_registered(qjob *j, int slot, const char *sql, long unused);
/* End the job with 404: id is not a registered server. */
void server_not_found(qjob *j, const char *id);
/* The job's server (server_args' id) in the registration rows of slot, or NULL. */
const cJSON *server_row(qjob *j, int slot);
/* server_not_found for the job's server. */
void server_unknown(qjob *j);
/* The live state (Redis live_matches, as job_redis_hash rows) of server id, or NULL when it sent nothing within
 * the live window. */
const cJSON *server_live_entry(const cJSON *live_rows, const char *id);

#endif
