/* Failed game logins, limited per game server and per player on it.
 *
 * The login calls carry no credentials, so the limits are what keeps guessing slow. They are two because a game
 * server sends the logins of all its players: a single limit per server let one player who mistyped their code
 * a few times lock everyone on that server out for a minute. Now a player (the GUID the server names, which the
 * stock tracker sets to the client slot) has a small allowance of their own, and the server a larger one that
 * bounds the guesses of all its players together, including a hostile server owner who names a new GUID with
 * every guess. The player key includes the server, so a server cannot spend another server's players' allowance.
 *
 * Each attempt takes its share of both allowances before its code is looked up and gives it back unless it
 * fails (login_limits_give). authd runs one event loop, so take and check are one step: any number of wrong
 * codes sent at once cannot all pass the check before the first failure is counted. The allowances are token
 * buckets (common/rate_limit.c): N at once, then N a minute. */
#ifndef MOHSTATS_LOGIN_LIMIT_H
#define MOHSTATS_LOGIN_LIMIT_H

#include <stdint.h>

#include "client_ip.h"
#include "rate_limit.h"

/* A player's key: the server's limit key, a space, and up to 80 bytes of the GUID. */
#define LOGIN_PLAYER_KEY_LEN (CLIENT_LIMIT_KEY_LEN + 1 + 80 + 1)

typedef struct {
    rate_limit *server, *player;
} login_limits;

typedef enum {
    LOGIN_LIMIT_OK,     /* both allowances had room; one of each is taken */
    LOGIN_LIMIT_SERVER, /* the server's allowance is spent; nothing taken */
    LOGIN_LIMIT_PLAYER, /* the player's allowance is spent; nothing taken */
} login_limit_result;

/* Allowances of server_per_minute and player_per_minute failures. 0, or -ENOMEM. */
int login_limits_init(login_limits *l, double server_per_minute, double player_per_minute);
void login_limits_close(login_limits *l);

/* The player key of guid on the server whose limit key is server_key. */
void login_limit_player_key(const char *server_key, const char *guid, char out[LOGIN_PLAYER_KEY_LEN]);

/* Take one attempt from both allowances at now_ms, the server's first: a server over its limit never gets to
 * create player entries, so their number is bounded by the servers' allowances. */
login_limit_result login_limits_take(login_limits *l, const char *server_key, const char *player_key, uint64_t now_ms);

/* Give back what login_limits_take took, for an attempt that turned out not to fail. */
void login_limits_give(login_limits *l, const char *server_key, const char *player_key, uint64_t now_ms);

#endif
