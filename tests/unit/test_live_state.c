/* Unit tests: the live state's server lifetime and its sessions' maps, against a private redis-server (it
 * publishes there, and restores from there after a restart). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <cjson/cJSON.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "live_state.h"
#include "redis_client.h"
#include "redis_server.h"

/* The live state's tick in these tests: a tenth of ingestd's second, the lifetimes counted in ticks, so that what
 * takes ingestd seconds takes the test a fraction of one (it waited out 27 s of 1 s ticks). */
#define TICK_MS 100

/* A live state on the test's tick: a server leaves the live view after ttl ticks of quiet, and its sessions' maps
 * are forgotten after session_ttl ticks. */
static live_state *live_new(uv_loop_t *loop, redis_client *rc, uint64_t ttl, uint64_t session_ttl)
{
    return live_state_new(loop, rc, (live_state_timing){TICK_MS, ttl * TICK_MS, session_ttl * TICK_MS});
}

/* The same with ingestd's lifetimes (minutes and days: nothing leaves during the test). */
static live_state *live_new_lasting(uv_loop_t *loop, redis_client *rc)
{
    live_state_timing timing = live_state_timing_from_config();
    timing.tick_ms = TICK_MS;
    return live_state_new(loop, rc, timing);
}

static void on_wait_over(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* Run the loop for ms milliseconds of its own time, sleeping in it between events (a loop polled every 10 ms let
 * each tick run up to 10 ms late, and a repeating timer counts its next period from when it ran: late ticks added
 * up). A few more turns at the end, so that what a tick sent to Redis is written before the test looks. */
static void run_for(uv_loop_t *loop, uint64_t ms)
{
    uv_timer_t wait;
    uv_timer_init(loop, &wait);
    uv_timer_start(&wait, on_wait_over, ms, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&wait, NULL);
    for (int i = 0; i < 5; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        uv_sleep(2);
    }
}

/* Run the loop until cond holds, for at most limit ticks; the caller then asserts cond. What a tick does is
 * awaited, not timed: on a busy machine a tick runs late, and a fixed wait of half a tick would miss it. The
 * checks that something has not happened yet keep fixed waits, with several ticks to spare. */
#define RUN_UNTIL(loop, limit, cond)                                                                                   \
    do {                                                                                                               \
        uv_update_time(loop);                                                                                          \
        uint64_t until_ = uv_now(loop) + TICK_MS * (limit);                                                            \
        while (!(cond) && uv_now(loop) < until_)                                                                       \
            run_for(loop, TICK_MS / 10);                                                                               \
    } while (0)

/* The map a server remembers for a session, or "" (the server entry is made if missing). */
static const char *map_of(live_state *ls, const char *server, const char *session)
{
    session_maps m = live_server_session_maps(live_state_server(ls, server));
    size_t n = 0;
    const char *map = m.get(m.arg, session, strlen(session), &n);
    return map ? map : "";
}

static const char *s1_map(live_state *ls)
{
    return map_of(ls, "srv-1", "s1");
}

/* An event of the server's session s1 was accepted, and it named the session's map (as event_row_render
 * does). */
static void observe(live_state *ls, const char *session, const char *map)
{
    live_server *s = live_state_server(ls, "srv-1");
    session_maps m = live_server_session_maps(s);
    m.set(m.arg, session, strlen(session), map, strlen(map));
    event_summary ev = {.session = {session, strlen(session)}, .map = {map, strlen(map)}, .match_key = "m1"};
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    live_server_observe(s, &ev, (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000);
}

/* A synchronous connection to the test's redis-server (url: redis://127.0.0.1:PORT/0). */
static redisContext *redis_sync(const char *url)
{
    redisContext *c = redisConnect("127.0.0.1", atoi(strrchr(url, ':') + 1));
    assert_true(c && !c->err);
    return c;
}

/* HGET key field as a string ("" when absent), read synchronously beside the loop. */
static char *hget(const char *url, const char *key, const char *field)
{
    redisContext *c = redis_sync(url);
    redisReply *r = redisCommand(c, "HGET %s %s", key, field);
    assert_non_null(r);
    char *out = strdup(r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    redisFree(c);
    return out;
}

static void hset(const char *url, const char *key, const char *field, const char *value)
{
    redisContext *c = redis_sync(url);
    freeReplyObject(redisCommand(c, "HSET %s %s %s", key, field, value));
    redisFree(c);
}

/* hget() holds needle. */
static int hget_has(const char *url, const char *key, const char *field, const char *needle)
{
    char *v = hget(url, key, field);
    int found = strstr(v, needle) != NULL;
    free(v);
    return found;
}

static int hget_empty(const char *url, const char *key, const char *field)
{
    char *v = hget(url, key, field);
    int empty = !*v;
    free(v);
    return empty;
}

static void on_closed(void *arg)
{
    ++*(int *)arg;
}

static redis_client *connect_redis(uv_loop_t *loop, const char *url)
{
    redis_client *rc = redis_client_new(loop, url);
    assert_non_null(rc);
    for (int i = 0; i < 300 && !redis_client_connected(rc); i++)
        run_for(loop, 10);
    assert_true(redis_client_connected(rc));
    return rc;
}

static void close_all(uv_loop_t *loop, live_state *ls, redis_client *rc)
{
    int closed = 0;
    if (ls)
        live_state_close(ls, on_closed, &closed);
    redis_client_close(rc, on_closed, &closed);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, ls ? 2 : 1);
}

/* A private redis-server for each test, stopped by the teardown even when the test fails. */
typedef struct {
    pid_t redis;
    char url[64];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    int port = test_free_port();
    f->redis = test_redis_start(port, "/tmp");
    snprintf(f->url, sizeof f->url, "redis://127.0.0.1:%d/0", port);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    test_redis_stop(f->redis);
    free(f);
    return 0;
}

/* A server entry made for a batch on its way to storage survives the ticks while the batch is stored (it used
 * to be taken for a server gone quiet at the next tick, freeing what the batch's summaries pointed to, and
 * forgetting its sessions' maps). A server quiet for LIVE_TTL_MS leaves the live view but keeps its sessions'
 * maps: a map runs on with nobody playing, and the next player's events carry no map. Only after
 * SESSION_MAP_TTL_S of quiet are they forgotten, in memory and in Redis. */
static void test_quiet_server_keeps_session_maps(void **state)
{
    fixture *f = *state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    redis_client *rc = connect_redis(&loop, f->url);

    live_state *ls = live_new(&loop, rc, /* ttl= */ 2, /* session_ttl= */ 6);
    assert_non_null(ls);
    /* A batch on its way to storage named the session's map (event_row_render); not accounted yet. */
    session_maps m = live_server_session_maps(live_state_server(ls, "srv-1"));
    m.set(m.arg, "s1", 2, "obj/obj_team2", 13);
    run_for(&loop, 3 * TICK_MS / 2); /* a tick */
    assert_string_equal(s1_map(ls), "obj/obj_team2");

    observe(ls, "s1", "obj/obj_team2"); /* stored: at 1.5 ticks */
    /* Published at the next tick, maps saved too. */
    RUN_UNTIL(&loop, 30,
              hget_has(f->url, "live_matches", "srv-1", "\"map_name\":\"obj/obj_team2\"") &&
                  hget_has(f->url, "ingest_session_maps", "srv-1", "\"s1\":\"obj/obj_team2\""));
    assert_true(hget_has(f->url, "live_matches", "srv-1", "\"map_name\":\"obj/obj_team2\""));
    assert_true(hget_has(f->url, "ingest_session_maps", "srv-1", "\"s1\":\"obj/obj_team2\""));

    /* Quiet for LIVE_TTL_MS at 3.5 ticks, out of the live view at the 4th; the maps, 3.5 ticks from their end,
     * are kept. */
    RUN_UNTIL(&loop, 30, hget_empty(f->url, "live_matches", "srv-1"));
    assert_true(hget_empty(f->url, "live_matches", "srv-1"));
    assert_string_equal(s1_map(ls), "obj/obj_team2");

    /* Quiet for SESSION_MAP_TTL_S at 7.5 ticks, forgotten at the 8th. */
    RUN_UNTIL(&loop, 30, hget_empty(f->url, "ingest_session_maps", "srv-1"));
    assert_true(hget_empty(f->url, "ingest_session_maps", "srv-1"));
    assert_string_equal(s1_map(ls), "");

    close_all(&loop, ls, rc);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Two ingestd replicas share the hashes. Replica a read srv-1 back at its start and hears nothing from it after;
 * replica b receives its events. When srv-1 has been quiet for LIVE_TTL_MS and then SESSION_MAP_TTL_S as far as
 * a knows, a must not delete the entries b keeps writing (it did, unconditionally). */
static void test_replica_keeps_entries_of_another(void **state)
{
    fixture *f = *state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    redis_client *rb = connect_redis(&loop, f->url);
    live_state *b = live_new(&loop, rb, /* ttl= */ 2, /* session_ttl= */ 4);
    assert_non_null(b);
    observe(b, "s0", "dm/mohdm1");
    /* Published and saved by b. */
    RUN_UNTIL(&loop, 30, hget_has(f->url, "live_matches", "srv-1", "\"map_name\":\"dm/mohdm1\""));
    assert_true(hget_has(f->url, "live_matches", "srv-1", "\"map_name\":\"dm/mohdm1\""));

    redis_client *ra = connect_redis(&loop, f->url);
    live_state *a = live_new(&loop, ra, 2, 4);
    assert_non_null(a);
    /* 7.5 ticks of b hearing srv-1, one session (b saves its maps again every SESSION_MAP_TTL_S / 4): past both
     * lifetimes for a, whose last news of srv-1 is what it read back. */
    for (int i = 1; i <= 15; i++) {
        observe(b, "s0", "dm/mohdm1");
        run_for(&loop, TICK_MS / 2);
        assert_true(hget_has(f->url, "live_matches", "srv-1", "\"map_name\":\"dm/mohdm1\""));
    }
    /* a did forget it (map_of makes an empty entry once it has), and left b's saved maps alone. */
    RUN_UNTIL(&loop, 30, !*map_of(a, "srv-1", "s0"));
    assert_true(hget_has(f->url, "ingest_session_maps", "srv-1", "\"s0\":\"dm/mohdm1\""));
    assert_string_equal(map_of(a, "srv-1", "s0"), "");

    int closed = 0; /* both at once: the loop runs until nothing is left, b's timer included */
    live_state_close(a, on_closed, &closed);
    live_state_close(b, on_closed, &closed);
    redis_client_close(ra, on_closed, &closed);
    redis_client_close(rb, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 4);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* A restarted ingestd knows the maps of the sessions its predecessor saw, even for a server that is no longer
 * live; what it learnt itself before reading them back wins; stored maps of servers quiet for longer than
 * SESSION_MAP_TTL_S, and unreadable ones, are deleted. */
static void test_session_maps_survive_restart(void **state)
{
    fixture *f = *state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    redis_client *rc = connect_redis(&loop, f->url);

    live_state_timing one_tick = live_state_timing_from_config();
    one_tick.tick_ms = one_tick.ttl_ms = TICK_MS;
    live_state *ls = live_state_new(&loop, rc, one_tick);
    assert_non_null(ls);
    observe(ls, "s1", "obj/obj_team2");
    observe(ls, "s2", "dm/mohdm2");
    /* Published at the first tick (which reads the stored maps), saved and out of the live view at the second. */
    RUN_UNTIL(&loop, 30,
              hget_has(f->url, "ingest_session_maps", "srv-1", "\"s2\":\"dm/mohdm2\"") &&
                  hget_empty(f->url, "live_matches", "srv-1"));
    assert_true(hget_empty(f->url, "live_matches", "srv-1"));
    close_all(&loop, ls, rc);

    hset(f->url, "ingest_session_maps", "srv-old", "{\"last_event_ms\":1000,\"sessions\":{\"s\":\"dm/mohdm6\"}}");
    hset(f->url, "ingest_session_maps", "srv-bad", "not json");

    rc = connect_redis(&loop, f->url);
    ls = live_state_new(&loop, rc, one_tick);
    assert_non_null(ls);
    observe(ls, "s1", "dm/mohdm1"); /* before the first tick reads the stored maps back */
    /* Read back at the first tick, the maps saved (the new one with the old) at the second. */
    RUN_UNTIL(&loop, 30,
              hget_has(f->url, "ingest_session_maps", "srv-1", "\"s1\":\"dm/mohdm1\"") &&
                  hget_empty(f->url, "ingest_session_maps", "srv-old") &&
                  hget_empty(f->url, "ingest_session_maps", "srv-bad"));
    assert_string_equal(map_of(ls, "srv-1", "s1"), "dm/mohdm1");
    assert_string_equal(map_of(ls, "srv-1", "s2"), "dm/mohdm2");
    assert_true(hget_has(f->url, "ingest_session_maps", "srv-1", "\"s1\":\"dm/mohdm1\""));
    assert_true(hget_has(f->url, "ingest_session_maps", "srv-1", "\"s2\":\"dm/mohdm2\""));
    assert_true(hget_empty(f->url, "ingest_session_maps", "srv-old"));
    assert_true(hget_empty(f->url, "ingest_session_maps", "srv-bad"));
    close_all(&loop, ls, rc);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* The published entry is JSON that gives back every name exactly: quotes, backslashes and control bytes
 * escaped, UTF-8 (CP1252 names converted to it) carried as it is. The entry is written by hand
 * rather than through a cJSON tree, for speed, so this checks the escaping. */
static void test_published_entry_is_json(void **state)
{
    fixture *f = *state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    redis_client *rc = connect_redis(&loop, f->url);
    live_state *ls = live_new_lasting(&loop, rc);
    assert_non_null(ls);

    static const char killer[] = "Sgt \"Q\" back\\slash\x01tab\there";
    static const char victim[] = "J\xe9r\xf4me \x80"; /* CP1252, as old clients send it */
    event_summary ev = {
        .type = event_type_resolve("player_kill", 11, false),
        .session = {"s1", 2},
        .map = {"dm/mohdm1", 9},
        .match_key = "m1",
        .actor_guid = {"g\"1", 3},
        .actor_name = {killer, sizeof killer - 1},
        .actor_team = {"allies", 6},
        .target_guid = {"g2", 2},
        .target_name = {victim, sizeof victim - 1},
        .target_team = {"axis", 4},
    };
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    live_server_observe(live_state_server(ls, "srv-1"), &ev, (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000);
    RUN_UNTIL(&loop, 30, !hget_empty(f->url, "live_matches", "srv-1")); /* published at the first tick */

    char *text = hget(f->url, "live_matches", "srv-1");
    cJSON *o = cJSON_Parse(text);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "map_name")->valuestring, "dm/mohdm1");
    assert_string_equal(cJSON_GetObjectItem(o, "session_id")->valuestring, "s1");
    assert_int_equal(cJSON_GetObjectItem(o, "player_count")->valueint, 2);
    cJSON *players = cJSON_GetObjectItem(o, "players");
    assert_int_equal(cJSON_GetArraySize(players), 2);
    int seen = 0;
    cJSON *p;
    cJSON_ArrayForEach(p, players)
    {
        const char *guid = cJSON_GetObjectItem(p, "guid")->valuestring;
        const char *name = cJSON_GetObjectItem(p, "name")->valuestring;
        int kills = cJSON_GetObjectItem(p, "kills")->valueint, deaths = cJSON_GetObjectItem(p, "deaths")->valueint;
        if (strcmp(guid, "g\"1") == 0) {
            assert_string_equal(name, killer);
            assert_string_equal(cJSON_GetObjectItem(p, "team")->valuestring, "allies");
            assert_int_equal(kills * 10 + deaths, 10);
            seen |= 1;
        } else {
            assert_string_equal(guid, "g2");
            assert_string_equal(name, "J\xc3\xa9r\xc3\xb4me \xe2\x82\xac");
            assert_int_equal(kills * 10 + deaths, 1);
            seen |= 2;
        }
        assert_true(cJSON_GetObjectItem(p, "last_seen_ms")->valuedouble > 1e12);
    }
    assert_int_equal(seen, 3);
    cJSON_Delete(o);
    free(text);
    close_all(&loop, ls, rc);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Accept one event of session s1 on srv-1 now: actor and target GUID and name (NULL: no such block). */
static void observe_players(live_state *ls, const char *type, const char *actor, const char *actor_name,
                            const char *target, const char *target_name)
{
    event_summary ev = {.type = event_type_resolve(type, strlen(type), false),
                        .session = {"s1", 2},
                        .map = {"dm/mohdm1", 9},
                        .match_key = "m1"};
    if (actor)
        ev.actor_guid = (slice){actor, strlen(actor)}, ev.actor_name = (slice){actor_name, strlen(actor_name)},
        ev.actor_team = (slice){"allies", 6};
    if (target)
        ev.target_guid = (slice){target, strlen(target)}, ev.target_name = (slice){target_name, strlen(target_name)};
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    live_server_observe(live_state_server(ls, "srv-1"), &ev, (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000);
}

/* A guest who logs in is listed once, under their member id, with the score they had as a guest; another guest
 * stays as they were. */
static void test_login_replaces_guest(void **state)
{
    fixture *f = *state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    redis_client *rc = connect_redis(&loop, f->url);
    live_state *ls = live_new_lasting(&loop, rc);
    assert_non_null(ls);

    /* Lucky's connect came with an address in France; the login's row gets the country from here (ingest_api.c). */
    event_summary connect = {.type = event_type_resolve("connect", 7, false),
                             .session = {"s1", 2},
                             .map = {"dm/mohdm1", 9},
                             .match_key = "m1",
                             .actor_guid = {"unauth_3", 8},
                             .actor_name = {"Lucky", 5},
                             .actor_country = "FR"};
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    live_server *s = live_state_server(ls, "srv-1");
    live_server_observe(s, &connect, (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000);
    observe_players(ls, "connect", "unauth_4", "Wolf", NULL, NULL);
    observe_players(ls, "player_kill", "unauth_3", "Lucky", "unauth_4", "Wolf");
    char country[3];
    assert_true(live_server_guest_country(s, "^2Lucky", 7, country));
    assert_string_equal(country, "FR");
    assert_false(live_server_guest_country(s, "Wolf", 4, country)); /* no address came */
    assert_false(live_server_guest_country(s, "Nobody", 6, country));
    /* The name as the game sends it, colour codes and all: the live view keeps it without them. */
    observe_players(ls, "player_auth", "900015", "^2Lucky", NULL, NULL);
    observe_players(ls, "player_kill", "900015", "Lucky", "unauth_4", "Wolf");
    RUN_UNTIL(&loop, 30, !hget_empty(f->url, "live_matches", "srv-1")); /* published at the first tick */

    char *text = hget(f->url, "live_matches", "srv-1");
    cJSON *o = cJSON_Parse(text);
    assert_non_null(o);
    assert_int_equal(cJSON_GetObjectItem(o, "player_count")->valueint, 2);
    cJSON *p;
    int seen = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(o, "players"))
    {
        const char *guid = cJSON_GetObjectItem(p, "guid")->valuestring;
        int kills = cJSON_GetObjectItem(p, "kills")->valueint, deaths = cJSON_GetObjectItem(p, "deaths")->valueint;
        if (strcmp(guid, "900015") == 0) {
            assert_string_equal(cJSON_GetObjectItem(p, "name")->valuestring, "Lucky");
            assert_string_equal(cJSON_GetObjectItem(p, "team")->valuestring, "allies");
            assert_string_equal(cJSON_GetObjectItem(p, "country")->valuestring, "FR");
            assert_int_equal(kills, 2);
            seen |= 1;
        } else {
            assert_string_equal(guid, "unauth_4");
            assert_string_equal(cJSON_GetObjectItem(p, "country")->valuestring, "");
            assert_int_equal(deaths, 2);
            seen |= 2;
        }
    }
    assert_int_equal(seen, 3);
    cJSON_Delete(o);
    free(text);
    close_all(&loop, ls, rc);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_quiet_server_keeps_session_maps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_maps_survive_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_keeps_entries_of_another, setup, teardown),
        cmocka_unit_test_setup_teardown(test_published_entry_is_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_replaces_guest, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
