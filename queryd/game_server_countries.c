/* A game server's players by country (the forum's server page).
 *
 * - GET /servers/{id}/countries: [{country_code, country_name, player_count, percentage}], by players, then code.
 *
 * A player's country is the one of the address their latest connect on this server carried, which ingestd looked
 * up in its GeoIP database when the event arrived (raw_events.actor_country; the address itself is never stored:
 * docs/security.md). Players whose tracker sent no address, or whose address is in no country, are not counted,
 * and percentage is of the players counted. Guests (unauth_) and hidden players are left out, as in every list of
 * players. An unknown server is 404; a server without countries answers []. */
#include "area.h"
#include "game_server.h"
#include "geoip.h"

#include <math.h>
#include <string.h>

/* Trackers send the player's address with connect (docs/tracker-wire.md), and ingestd gives a login (player_auth)
 * the country of the guest's connect (ingestd/event_row.c), so only those rows are read: the table's key starts
 * with event_type and server_id. */
// clang-format off
static const char countries_sql[] =
    "SELECT country AS country_code, count() AS player_count\n"
    "FROM\n"
    "(\n"
    "    SELECT actor_guid, argMax(actor_country, received_at) AS country\n"
    "    FROM raw_events\n"
    "    WHERE " SERVER_COUNTRY_ROWS_SQL "\n"
    "      AND " LISTED_PLAYER_SQL("actor_guid") "\n"
    "    GROUP BY actor_guid\n"
    ")\n"
    "GROUP BY country\n"
    "ORDER BY player_count DESC, country_code ASC";
// clang-format on

static void countries_build(qjob *j)
{
    if (!server_row(j, 0)) {
        server_unknown(j);
        return;
    }
    const cJSON *rows = job_rows(j, 1), *r;
    double total = 0;
    cJSON_ArrayForEach(r, rows) total += row_num(r, "player_count");
    cJSON *out = cJSON_CreateArray();
    cJSON_ArrayForEach(r, rows)
    {
        const char *code = row_str(r, "country_code");
        double n = row_num(r, "player_count");
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "country_code", code);
        cJSON_AddStringToObject(e, "country_name", geoip_country_name(code));
        cJSON_AddNumberToObject(e, "player_count", n);
        json_add_round(e, "percentage", n * 100 / total, 1);
        cJSON_AddItemToArray(out, e);
    }
    job_answer(j, 200, out);
}

static const endpoint countries_endpoints[] = {
    {.path = "/servers/{id}/countries",
     .key = "srvc",
     .args_size = sizeof(server_args),
     .params = {SERVER_ID_PARAM},
     .vals = server_vals,
     .queries = {{0, servers_pg_sql, server_job_registered, 0}, {1, countries_sql, NULL, 0}},
     .build = countries_build},
};

void game_server_countries_routes(queryd *q, http_server *s)
{
    endpoints_add(q, s, countries_endpoints, sizeof countries_endpoints / sizeof countries_endpoints[0]);
}
