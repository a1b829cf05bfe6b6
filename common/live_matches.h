/* The live view of the game servers, written by ingestd (ingestd/live_state.c) and read by queryd
 * (queryd/game_server.c, game_server_players.c): one Redis hash, field = server id, value = a JSON object of the
 * fields below. The one definition of its key and field names. */
#ifndef MOHSTATS_LIVE_MATCHES_H
#define MOHSTATS_LIVE_MATCHES_H

#define LIVE_MATCHES_KEY "live_matches"

/* A server or player quiet this long is not live: ingestd drops such a server from the hash, queryd counts
 * neither as online. One setting for both daemons, so that a page never shows a server ingestd dropped or
 * keeps one queryd calls offline. */
#define LIVE_TTL_VAR "LIVE_TTL_MS"
#define LIVE_TTL_DEFAULT_MS 120000
#define LIVE_TTL_STR_(x) #x
#define LIVE_TTL_STR(x) LIVE_TTL_STR_(x)
#define LIVE_TTL_DEFAULT LIVE_TTL_STR(LIVE_TTL_DEFAULT_MS) /* the same, as config_var's default text */
#define LIVE_TTL_HELP "a server (or player) quiet this long leaves the live state and is no longer online"

/* A server's entry. */
#define LIVE_SERVER_ID "server_id"
#define LIVE_SESSION_ID "session_id"
#define LIVE_MATCH_ID "match_id"
#define LIVE_MAP_NAME "map_name"
#define LIVE_STARTED_AT_MS "started_at_ms"
#define LIVE_LAST_EVENT_MS "last_event_ms" /* the server's last event; an entry older than the live window is stale */
#define LIVE_PLAYERS "players"             /* array of players, below */
#define LIVE_PLAYER_COUNT "player_count"

/* A player of an entry. */
#define LIVE_PLAYER_GUID "guid"
#define LIVE_PLAYER_NAME "name"
#define LIVE_PLAYER_TEAM "team" /* as sent: classify with vocab_team_side (game_vocab.h) */
#define LIVE_PLAYER_COUNTRY "country" /* ISO 3166-1 alpha-2 of the address of their connect, "" when unknown */
#define LIVE_PLAYER_KILLS "kills"
#define LIVE_PLAYER_DEATHS "deaths"
#define LIVE_PLAYER_LAST_SEEN_MS "last_seen_ms"

#endif
