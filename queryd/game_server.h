/* What the game-server areas (game_server.c, game_server_parts.c, game_server_players.c) share: the server id in
 * the path, the registered server a job looked up, its live state. "Server" in these files is a game server. */
#ifndef MOHSTATS_GAME_SERVER_H
#define MOHSTATS_GAME_SERVER_H

#include <stdbool.h>

#include "area.h"

/* SQL template: the latest name of every player of server {id}. */
extern const char server_names_sql[];

/* A job's parameters about one server: its id, and what the endpoint reads. */
typedef struct {
    char id[IDENT_MAX + 1];
    long limit, days, hours;
} server_args;

/* Answer req with what start computes about the server in the path (a server_args with its id), cached under
 * "<prefix>:<id>" for ttl_s; a malformed id is 400. */
void server_serve(http_request *req, queryd *q, const char *prefix, int ttl_s, qjob_fn start);
/* The {id} of the path into out, or answer 400 and return false. */
bool server_id_param(http_request *req, char out[IDENT_MAX + 1]);
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
