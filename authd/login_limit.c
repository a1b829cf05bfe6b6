/* Failed game logins, limited per game server and per player on it: two token buckets taken together. */
#include "login_limit.h"

#include <errno.h>
#include <stdio.h>

int login_limits_init(login_limits *l, double server_per_minute, double player_per_minute)
{
    l->server = rate_limit_new(server_per_minute, server_per_minute);
    l->player = rate_limit_new(player_per_minute, player_per_minute);
    if (!l->server || !l->player) {
        login_limits_close(l);
        return -ENOMEM;
    }
    return 0;
}

void login_limits_close(login_limits *l)
{
    rate_limit_free(l->server);
    rate_limit_free(l->player);
    l->server = l->player = NULL;
}

void login_limit_player_key(const char *server_key, const char *guid, char out[LOGIN_PLAYER_KEY_LEN])
{
    snprintf(out, LOGIN_PLAYER_KEY_LEN, "%s %.80s", server_key, guid);
}

login_limit_result login_limits_take(login_limits *l, const char *server_key, const char *player_key, uint64_t now_ms)
{
    if (!rate_limit_take(l->server, server_key, now_ms))
        return LOGIN_LIMIT_SERVER;
    if (!rate_limit_take(l->player, player_key, now_ms)) {
        rate_limit_give(l->server, server_key, now_ms); /* this attempt is not made: it must not count */
        return LOGIN_LIMIT_PLAYER;
    }
    return LOGIN_LIMIT_OK;
}

void login_limits_give(login_limits *l, const char *server_key, const char *player_key, uint64_t now_ms)
{
    rate_limit_give(l->server, server_key, now_ms);
    rate_limit_give(l->player, player_key, now_ms);
}
