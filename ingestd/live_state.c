/* Live state per server, published to Redis `live_matches`; session -> map memory, kept in Redis
 * `ingest_session_maps` so that it outlives both a quiet spell and a restart. */
#include "live_state.h"

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytebuf.h"
#include "config.h"
#include "hashmap.h"
#include "live_matches.h"
#include "log.h"
#include "text.h"

#define SESSION_MAPS_KEY "ingest_session_maps"
/* A server's stored session maps are written again at least this often while it is active (or a quarter of
 * SESSION_MAP_TTL_S if that is shorter), so the last_event_ms they carry (what decides their expiry after a
 * restart, and whether another replica may delete them) is never older than this. */
#define SESSION_MAPS_REFRESH_MS 3600000
#define MAX_SESSIONS_PER_SERVER 16
#define MAX_PLAYERS_PER_SERVER 256
/* A string literal as the (pointer, length) pair bytebuf_append takes. */
#define LIT(s) s, sizeof(s) - 1

typedef struct {
    char *name, *team;
    char country[3]; /* of the address of their connect, "" when none came (event_summary.actor_country) */
    uint64_t kills, deaths;
    uint64_t last_seen_ms;
} live_player;

struct live_server {
    live_state *ls;
    char *id;
    char *session, *map, *match_key;
    uint64_t started_ms, last_event_ms;
    hashmap *players;  /* guid -> live_player */
    hashmap *sessions; /* session id -> map name (char *) */
    int dirty;         /* the live view changed since it was published */
    int listed;        /* in live_matches: it has not been quiet for LIVE_TTL_MS since */
    int sessions_dirty;         /* the session maps changed since they were saved */
    uint64_t sessions_saved_ms; /* when the session maps were last written to Redis */
};

struct live_state {
    uv_loop_t *loop;
    redis_client *redis;
    hashmap *servers; /* server id -> live_server */
    uv_timer_t timer;
    uint64_t ttl_ms, player_ttl_ms, session_ttl_ms, sessions_refresh_ms;
    int seeded, seed_inflight, closed;
    void (*close_done)(void *);
    void *close_arg;
};

/* Duplicate a slice as a NUL-terminated UTF-8 string (names may arrive as CP1252). */
static char *slice_dup_utf8(slice s)
{
    char *out = malloc(s.n * 3 + 1);
    if (!out)
        return NULL;
    size_t n = text_to_utf8(s.p, s.n, out);
    n = text_strip_colors(out, n);
    out[n] = '\0';
    return out;
}

/* Replace *dst with a copy of s if they differ. */
static void set_str(char **dst, slice s)
{
    if (*dst && strlen(*dst) == s.n && memcmp(*dst, s.p, s.n) == 0)
        return;
    char *n = slice_dup_utf8(s);
    if (!n)
        return;
    free(*dst);
    *dst = n;
}

/* Wall-clock milliseconds (live state is compared with receive times). */
static uint64_t wall_ms(void)
{
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static void player_free(void *p)
{
    live_player *pl = p;
    free(pl->name);
    free(pl->team);
    free(pl);
}

static void server_free(void *p)
{
    live_server *s = p;
    free(s->id);
    free(s->session);
    free(s->map);
    free(s->match_key);
    hashmap_free(s->players, player_free);
    hashmap_free(s->sessions, free);
    free(s);
}

live_server *live_state_server(live_state *ls, const char *server_id)
{
    live_server *s = hashmap_get(ls->servers, server_id, strlen(server_id));
    if (s)
        return s;
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->ls = ls;
    /* Created for a batch on its way to storage: the next tick must not take it for a server gone quiet. */
    s->last_event_ms = wall_ms();
    s->id = strdup(server_id);
    s->players = hashmap_new();
    s->sessions = hashmap_new();
    if (!s->id || !s->players || !s->sessions || hashmap_put(ls->servers, server_id, strlen(server_id), s, NULL)) {
        server_free(s);
        return NULL;
    }
    return s;
}

/* session_maps.get: the map a session named last. */
static const char *session_map_get(void *arg, const char *session, size_t slen, size_t *len)
{
    live_server *s = arg;
    const char *m = hashmap_get(s->sessions, session, slen);
    if (m)
        *len = strlen(m);
    return m;
}

/* session_maps.set: remember a session's map (a bounded number of sessions per server). */
static void session_map_set(void *arg, const char *session, size_t slen, const char *map, size_t mlen)
{
    live_server *s = arg;
    const char *cur = hashmap_get(s->sessions, session, slen);
    if (cur && strlen(cur) == mlen && memcmp(cur, map, mlen) == 0)
        return;
    if (!cur && hashmap_size(s->sessions) >= MAX_SESSIONS_PER_SERVER) {
        /* Old sessions are long over (a session is one map load): forget them all. */
        hashmap_free(s->sessions, free);
        s->sessions = hashmap_new();
        if (!s->sessions)
            abort();
    }
    char *copy = malloc(mlen + 1);
    if (!copy)
        return;
    memcpy(copy, map, mlen);
    copy[mlen] = '\0';
    void *old = NULL;
    if (hashmap_put(s->sessions, session, slen, copy, &old)) {
        free(copy);
        return;
    }
    free(old);
    s->sessions_dirty = 1;
}

session_maps live_server_session_maps(live_server *s)
{
    return (session_maps){session_map_get, session_map_set, s};
}

/* The player entry for guid (created on first sight); NULL if guid is empty. */
static live_player *player_get(live_server *s, slice guid)
{
    if (!guid.n)
        return NULL;
    live_player *p = hashmap_get(s->players, guid.p, guid.n);
    if (p)
        return p;
    if (hashmap_size(s->players) >= MAX_PLAYERS_PER_SERVER)
        return NULL;
    p = calloc(1, sizeof *p);
    if (!p || hashmap_put(s->players, guid.p, guid.n, p, NULL)) {
        free(p);
        return NULL;
    }
    return p;
}

/* Update a player from an event block. */
static void player_seen(live_player *p, slice name, slice team, uint64_t ms)
{
    if (!p)
        return;
    if (name.n)
        set_str(&p->name, name);
    if (team.n)
        set_str(&p->team, team);
    p->last_seen_ms = ms;
}

/* A guest logged in: the tracker reports a player as unauth_<slot> until their login succeeds and under their member
 * id from the player_auth event on, and no event names both (the slot is not sent again). The guest's entry would
 * stay listed beside the member's until unseen for five minutes (player_ttl_ms): the same player twice. The one
 * link is the name, which a login does not change: the guest entry of that name becomes the member's, keeping its
 * team and score. Two guests of one name (UnnamedSoldier) cannot be told apart; one of them is taken, and the other,
 * if it was the one, ages out as before. */
static const char guest_prefix[] = "unauth_";

/* The key (malloc'd) of the guest entry named name, or NULL. */
static char *guest_named(live_server *s, slice name)
{
    char *want = name.n ? slice_dup_utf8(name) : NULL;
    if (!want)
        return NULL;
    size_t pos = 0, klen;
    const char *k;
    void *v;
    char *found = NULL;
    while (!found && hashmap_next(s->players, &pos, &k, &klen, &v)) {
        live_player *p = v;
        if (klen > sizeof guest_prefix - 1 && memcmp(k, guest_prefix, sizeof guest_prefix - 1) == 0 && p->name &&
            strcmp(p->name, want) == 0)
            found = strndup(k, klen); /* the key goes with the entry */
    }
    free(want);
    return found;
}

static void player_logged_in(live_server *s, slice member, slice name)
{
    if (!member.n || !name.n ||
        (member.n >= sizeof guest_prefix - 1 && memcmp(member.p, guest_prefix, sizeof guest_prefix - 1) == 0))
        return;
    char *found = guest_named(s, name);
    if (!found)
        return;
    live_player *was = hashmap_remove(s->players, found, strlen(found));
    free(found);
    if (!hashmap_get(s->players, member.p, member.n) && hashmap_put(s->players, member.p, member.n, was, NULL) == 0)
        return;
    player_free(was); /* the member was listed already (a second login): their entry stays */
}

bool live_server_guest_country(live_server *s, const char *name, size_t len, char out[3])
{
    char *key = guest_named(s, (slice){name, len});
    const live_player *p = key ? hashmap_get(s->players, key, strlen(key)) : NULL;
    free(key);
    if (!p || !p->country[0])
        return false;
    memcpy(out, p->country, 3);
    return true;
}

void live_server_observe(live_server *s, const event_summary *ev, uint64_t received_ms)
{
    s->last_event_ms = received_ms;
    s->dirty = 1;
    /* A new session is a new map load: scores start again. */
    if (ev->session.n && (!s->session || strlen(s->session) != ev->session.n ||
                          memcmp(s->session, ev->session.p, ev->session.n) != 0)) {
        set_str(&s->session, ev->session);
        s->started_ms = received_ms;
        size_t pos = 0, klen;
        const char *k;
        void *v;
        while (hashmap_next(s->players, &pos, &k, &klen, &v)) {
            live_player *p = v;
            p->kills = p->deaths = 0;
        }
    }
    if (!s->match_key || strcmp(s->match_key, ev->match_key) != 0) {
        free(s->match_key);
        s->match_key = strdup(ev->match_key);
    }
    if (ev->map.n)
        set_str(&s->map, ev->map);
    if (ev->type && ev->type->category == EVCAT_AUTH)
        player_logged_in(s, ev->actor_guid, ev->actor_name);
    live_player *actor = player_get(s, ev->actor_guid);
    live_player *target = player_get(s, ev->target_guid);
    player_seen(actor, ev->actor_name, ev->actor_team, received_ms);
    player_seen(target, ev->target_name, ev->target_team, received_ms);
    if (actor && ev->actor_country[0])
        memcpy(actor->country, ev->actor_country, sizeof actor->country);
    if (event_type_has(ev->type, EVF_KILL)) {
        if (target)
            target->deaths++;
        if (actor && actor != target)
            actor->kills++;
    } else if (event_type_has(ev->type, EVF_LEAVE) && ev->actor_guid.n) {
        player_free(hashmap_remove(s->players, ev->actor_guid.p, ev->actor_guid.n));
    }
}

/* s as a JSON string literal: quote, backslash and control bytes escaped, everything else (UTF-8 by the time it
 * gets here) copied in runs. */
static int json_string(bytebuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    int rc = bytebuf_append(b, "\"", 1);
    const char *run = s;
    for (; rc == 0 && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t n = 2;
        if (c < 0x20) {
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        rc = bytebuf_append(b, run, (size_t)(s - run));
        if (rc == 0)
            rc = bytebuf_append(b, esc, n);
        run = s + 1;
    }
    if (rc == 0)
        rc = bytebuf_append(b, run, (size_t)(s - run));
    return rc ? rc : bytebuf_append(b, "\"", 1);
}

/* key (the text up to the value, e.g. ",\"name\":") followed by s as a JSON string ("" for NULL). */
static int json_str_field(bytebuf *b, const char *key, size_t keylen, const char *s)
{
    int rc = bytebuf_append(b, key, keylen);
    return rc ? rc : json_string(b, s ? s : "");
}

/* key followed by v (bytebuf_appendf's vsnprintf, run twice per call, was most of the cost). */
static int json_u64(bytebuf *b, const char *key, size_t keylen, uint64_t v)
{
    int rc = bytebuf_append(b, key, keylen);
    return rc ? rc : bytebuf_append_u64(b, v);
}

/* The JSON published for one server. Written straight into a buffer rather than through a cJSON tree: every
 * active server is published each second, and with 64 servers of 20 players the trees took 4-6 ms of CPU per
 * tick (this, about 1 ms), a stall of the loop that every request in flight waited for. The appends only fail
 * for lack of memory; their errors are gathered and the text dropped at the end. */
static char *server_json(live_server *s, uint64_t now_ms, uint64_t player_ttl_ms)
{
    bytebuf b = {0};
    int rc = json_str_field(&b, LIT("{\"" LIVE_SERVER_ID "\":"), s->id);
    rc |= json_str_field(&b, LIT(",\"" LIVE_SESSION_ID "\":"), s->session);
    rc |= json_str_field(&b, LIT(",\"" LIVE_MATCH_ID "\":"), s->match_key);
    rc |= json_str_field(&b, LIT(",\"" LIVE_MAP_NAME "\":"), s->map);
    rc |= json_u64(&b, LIT(",\"" LIVE_STARTED_AT_MS "\":"), s->started_ms);
    rc |= json_u64(&b, LIT(",\"" LIVE_LAST_EVENT_MS "\":"), s->last_event_ms);
    rc |= bytebuf_append(&b, LIT(",\"" LIVE_PLAYERS "\":["));
    unsigned count = 0;
    size_t pos = 0, klen;
    const char *k;
    void *v;
    while (hashmap_next(s->players, &pos, &k, &klen, &v)) {
        live_player *p = v;
        if (p->last_seen_ms + player_ttl_ms < now_ms)
            continue;
        rc |= count ? json_str_field(&b, LIT(",{\"" LIVE_PLAYER_GUID "\":"), k)
                    : json_str_field(&b, LIT("{\"" LIVE_PLAYER_GUID "\":"), k);
        rc |= json_str_field(&b, LIT(",\"" LIVE_PLAYER_NAME "\":"), p->name);
        rc |= json_str_field(&b, LIT(",\"" LIVE_PLAYER_TEAM "\":"), p->team);
        rc |= json_str_field(&b, LIT(",\"" LIVE_PLAYER_COUNTRY "\":"), p->country);
        rc |= json_u64(&b, LIT(",\"" LIVE_PLAYER_KILLS "\":"), p->kills);
        rc |= json_u64(&b, LIT(",\"" LIVE_PLAYER_DEATHS "\":"), p->deaths);
        rc |= json_u64(&b, LIT(",\"" LIVE_PLAYER_LAST_SEEN_MS "\":"), p->last_seen_ms);
        rc |= bytebuf_append(&b, LIT("}"));
        count++;
    }
    rc |= bytebuf_appendf(&b, "],\"" LIVE_PLAYER_COUNT "\":%u}", count);
    if (rc) {
        bytebuf_free(&b);
        return NULL;
    }
    return b.data;
}

/* The session maps stored for one server: {"last_event_ms":N,"sessions":{"<session id>":"<map>",...}}. */
static char *sessions_json(live_server *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, LIVE_LAST_EVENT_MS, (double)s->last_event_ms); /* the name hdel_quiet_script reads */
    cJSON *sessions = cJSON_AddObjectToObject(o, "sessions");
    size_t pos = 0, klen;
    const char *k;
    void *v;
    while (hashmap_next(s->sessions, &pos, &k, &klen, &v))
        cJSON_AddStringToObject(sessions, k, v);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* Restore live state and session maps after a restart from what was last published. */
static void on_seed(redis_client *c, struct redisReply *reply, const char *err, void *arg);
static void on_seed_sessions(redis_client *c, struct redisReply *reply, const char *err, void *arg);

/* Delete a server's entry from the hash key unless it holds news: only if its last_event_ms is at least ttl_ms
 * old, or it is unreadable. Several ingestd replicas share both hashes, and nginx sends each server's requests to one
 * of them; another replica that read the entry back at its start, or stopped hearing from the server when it was
 * moved, would otherwise delete what the replica now receiving the server's events keeps writing. */
static const char hdel_quiet_script[] =
    "local v = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if not v then return 0 end\n"
    "local ok, o = pcall(cjson.decode, v)\n"
    "local last = ok and type(o) == 'table' and tonumber(o['" LIVE_LAST_EVENT_MS "'])\n"
    "if last and last > tonumber(ARGV[2]) then return 0 end\n"
    "return redis.call('HDEL', KEYS[1], ARGV[1])\n";

static void hdel_if_quiet(live_state *ls, const char *key, const char *id, uint64_t now, uint64_t ttl_ms)
{
    char cutoff[24];
    snprintf(cutoff, sizeof cutoff, "%" PRIu64, now > ttl_ms ? now - ttl_ms : 0);
    redis_command(ls->redis, NULL, NULL, "EVAL %s 1 %s %s %s", hdel_quiet_script, key, id, cutoff);
}

/* A server quiet for LIVE_TTL_MS leaves the live view; its session maps stay (a server whose map runs on
 * with nobody playing sends nothing, and the events of the next player to join carry no map). */
static void server_unlist(live_state *ls, live_server *s, uint64_t now)
{
    hdel_if_quiet(ls, LIVE_MATCHES_KEY, s->id, now, ls->ttl_ms);
    s->listed = 0;
    s->dirty = 0;
    hashmap_free(s->players, player_free);
    s->players = hashmap_new();
    if (!s->players)
        abort();
}

/* Read back what was last published (once; again after a failure). */
static void seed(live_state *ls)
{
    if (ls->seeded || ls->closed || !redis_client_connected(ls->redis))
        return;
    ls->seeded = 1;
    if (redis_command(ls->redis, on_seed, ls, "HGETALL %s", LIVE_MATCHES_KEY) == 0)
        ls->seed_inflight++;
    else
        ls->seeded = 0;
    if (redis_command(ls->redis, on_seed_sessions, ls, "HGETALL %s", SESSION_MAPS_KEY) == 0)
        ls->seed_inflight++;
    else
        ls->seeded = 0;
}

void live_state_redis_connected(live_state *ls)
{
    seed(ls);
}

bool live_state_restored(const live_state *ls)
{
    return ls->seeded && !ls->seed_inflight;
}

/* Every tick: publish changed servers and session maps; a server quiet for LIVE_TTL_MS leaves the live
 * view, one quiet for SESSION_MAP_TTL_S is forgotten. */
static void on_tick(uv_timer_t *t)
{
    live_state *ls = t->data;
    if (!redis_client_connected(ls->redis))
        return;
    seed(ls);
    uint64_t now = wall_ms();
    size_t pos = 0, klen;
    const char *k;
    void *v;
    char *expired[64];
    int nexpired = 0;
    while (hashmap_next(ls->servers, &pos, &k, &klen, &v)) {
        live_server *s = v;
        if (s->last_event_ms + ls->session_ttl_ms < now) {
            if (nexpired < 64)
                expired[nexpired++] = strdup(k);
            continue;
        }
        if (s->last_event_ms + ls->ttl_ms < now) {
            if (s->listed)
                server_unlist(ls, s, now);
        } else if (s->dirty) {
            char *json = server_json(s, now, ls->player_ttl_ms);
            if (json && redis_command(ls->redis, NULL, NULL, "HSET %s %s %s", LIVE_MATCHES_KEY, s->id, json) == 0) {
                s->dirty = 0;
                s->listed = 1;
            }
            free(json);
        }
        /* Not before the stored maps were read back: this would overwrite them with only the sessions seen
         * since the start. */
        int refresh = s->last_event_ms > s->sessions_saved_ms && s->sessions_saved_ms + ls->sessions_refresh_ms < now;
        if (ls->seeded && !ls->seed_inflight && hashmap_size(s->sessions) && (s->sessions_dirty || refresh)) {
            char *json = sessions_json(s);
            if (json && redis_command(ls->redis, NULL, NULL, "HSET %s %s %s", SESSION_MAPS_KEY, s->id, json) == 0) {
                s->sessions_dirty = 0;
                s->sessions_saved_ms = now;
            }
            free(json);
        }
    }
    for (int i = 0; i < nexpired; i++) {
        if (!expired[i])
            continue;
        live_server *s = hashmap_remove(ls->servers, expired[i], strlen(expired[i]));
        if (s->listed)
            hdel_if_quiet(ls, LIVE_MATCHES_KEY, expired[i], now, ls->ttl_ms);
        hdel_if_quiet(ls, SESSION_MAPS_KEY, expired[i], now, ls->session_ttl_ms);
        server_free(s);
        free(expired[i]);
    }
}

static void live_state_destroy(live_state *ls);

/* A seeding reply came: true if it is to be read. False if the live state is closing (freed here once the
 * last reply came), or if the read failed (the next tick tries again). */
static bool seed_reply(live_state *ls, const struct redisReply *reply)
{
    ls->seed_inflight--;
    if (ls->closed) {
        if (!ls->seed_inflight)
            live_state_destroy(ls);
        return false;
    }
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        ls->seeded = 0;
        return false;
    }
    return true;
}

static void on_seed(redis_client *c, struct redisReply *reply, const char *err, void *arg)
{
    live_state *ls = arg;
    if (!seed_reply(ls, reply))
        return;
    uint64_t now = wall_ms();
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        cJSON *o = cJSON_ParseWithLength(reply->element[i + 1]->str, reply->element[i + 1]->len);
        const cJSON *last = cJSON_GetObjectItem(o, LIVE_LAST_EVENT_MS);
        const char *id = reply->element[i]->str;
        bool known = hashmap_get(ls->servers, id, strlen(id)) != NULL;
        if (!o || !cJSON_IsNumber(last) || (uint64_t)last->valuedouble + ls->ttl_ms < now || known) {
            /* Left by a process that stopped before the server went quiet. */
            if (!known)
                hdel_if_quiet(ls, LIVE_MATCHES_KEY, id, now, ls->ttl_ms);
            cJSON_Delete(o);
            continue;
        }
        live_server *s = live_state_server(ls, id);
        const char *session = cJSON_GetStringValue(cJSON_GetObjectItem(o, LIVE_SESSION_ID));
        const char *map = cJSON_GetStringValue(cJSON_GetObjectItem(o, LIVE_MAP_NAME));
        if (s && session && map && *map)
            session_map_set(s, session, strlen(session), map, strlen(map));
        if (s) {
            s->session = session ? strdup(session) : NULL;
            s->map = map ? strdup(map) : NULL;
            const char *mk = cJSON_GetStringValue(cJSON_GetObjectItem(o, LIVE_MATCH_ID));
            s->match_key = mk ? strdup(mk) : NULL;
            s->last_event_ms = (uint64_t)last->valuedouble;
            s->listed = 1;
            const cJSON *players = cJSON_GetObjectItem(o, LIVE_PLAYERS), *jp;
            cJSON_ArrayForEach(jp, players)
            {
                const char *guid = cJSON_GetStringValue(cJSON_GetObjectItem(jp, LIVE_PLAYER_GUID));
                if (!guid)
                    continue;
                live_player *p = player_get(s, (slice){guid, strlen(guid)});
                if (!p)
                    continue;
                const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(jp, LIVE_PLAYER_NAME));
                const char *team = cJSON_GetStringValue(cJSON_GetObjectItem(jp, LIVE_PLAYER_TEAM));
                player_seen(p, (slice){name ? name : "", name ? strlen(name) : 0},
                            (slice){team ? team : "", team ? strlen(team) : 0},
                            (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(jp, LIVE_PLAYER_LAST_SEEN_MS)));
                p->kills = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(jp, LIVE_PLAYER_KILLS));
                p->deaths = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(jp, LIVE_PLAYER_DEATHS));
                const char *country = cJSON_GetStringValue(cJSON_GetObjectItem(jp, LIVE_PLAYER_COUNTRY));
                if (country && strlen(country) == 2)
                    memcpy(p->country, country, sizeof p->country);
            }
        }
        cJSON_Delete(o);
    }
}

static void on_seed_sessions(redis_client *c, struct redisReply *reply, const char *err, void *arg)
{
    live_state *ls = arg;
    if (!seed_reply(ls, reply))
        return;
    uint64_t now = wall_ms();
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const char *id = reply->element[i]->str;
        cJSON *o = cJSON_ParseWithLength(reply->element[i + 1]->str, reply->element[i + 1]->len);
        const cJSON *last = cJSON_GetObjectItem(o, LIVE_LAST_EVENT_MS);
        const cJSON *sessions = cJSON_GetObjectItem(o, "sessions");
        if (!cJSON_IsNumber(last) || !cJSON_IsObject(sessions) ||
            (uint64_t)last->valuedouble + ls->session_ttl_ms < now) {
            hdel_if_quiet(ls, SESSION_MAPS_KEY, id, now, ls->session_ttl_ms);
            cJSON_Delete(o);
            continue;
        }
        live_server *s = hashmap_get(ls->servers, id, strlen(id));
        if (!s && (s = live_state_server(ls, id)))
            s->last_event_ms = (uint64_t)last->valuedouble;
        /* Sessions this process learnt since it started are newer than the stored ones: they stay. */
        size_t had = s ? hashmap_size(s->sessions) : 0;
        int was_dirty = s ? s->sessions_dirty : 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, sessions)
        {
            const char *map = cJSON_GetStringValue(e);
            if (!s || !map || !*map || hashmap_get(s->sessions, e->string, strlen(e->string)) ||
                hashmap_size(s->sessions) >= MAX_SESSIONS_PER_SERVER)
                continue;
            session_map_set(s, e->string, strlen(e->string), map, strlen(map));
        }
        if (s) {
            /* What was read back needs no writing, unless it joined sessions learnt here. */
            s->sessions_dirty = was_dirty || (had && hashmap_size(s->sessions) > had);
            if (!s->sessions_saved_ms)
                s->sessions_saved_ms = now;
        }
        cJSON_Delete(o);
    }
}

live_state_timing live_state_timing_from_config(void)
{
    return (live_state_timing){
        .tick_ms = 1000,
        .ttl_ms = (uint64_t)config_get_int(LIVE_TTL_VAR, LIVE_TTL_DEFAULT_MS),
        .session_ttl_ms = (uint64_t)config_get_int("SESSION_MAP_TTL_S", 7 * 86400) * 1000,
    };
}

live_state *live_state_new(uv_loop_t *loop, redis_client *redis, live_state_timing timing)
{
    live_state *ls = calloc(1, sizeof *ls);
    if (!ls || !(ls->servers = hashmap_new())) {
        free(ls);
        return NULL;
    }
    ls->loop = loop;
    ls->redis = redis;
    ls->ttl_ms = timing.ttl_ms;
    ls->player_ttl_ms = 300000;
    ls->session_ttl_ms = timing.session_ttl_ms;
    ls->sessions_refresh_ms =
        ls->session_ttl_ms / 4 < SESSION_MAPS_REFRESH_MS ? ls->session_ttl_ms / 4 : SESSION_MAPS_REFRESH_MS;
    uv_timer_init(loop, &ls->timer);
    ls->timer.data = ls;
    uint64_t tick_ms = timing.tick_ms ? timing.tick_ms : 1000;
    uv_timer_start(&ls->timer, on_tick, tick_ms, tick_ms);
    return ls;
}

/* Free everything and report the close as done. */
static void live_state_destroy(live_state *ls)
{
    void (*done)(void *) = ls->close_done;
    void *arg = ls->close_arg;
    hashmap_free(ls->servers, server_free);
    free(ls);
    if (done)
        done(arg);
}

/* The timer handle closed: free, unless the seeding reply is still to come (it frees then). */
static void on_timer_closed(uv_handle_t *h)
{
    live_state *ls = h->data;
    ls->closed = 1;
    if (!ls->seed_inflight)
        live_state_destroy(ls);
}

void live_state_close(live_state *ls, void (*done)(void *arg), void *arg)
{
    /* Publish what changed since the last tick so a restart picks up from here. */
    on_tick(&ls->timer);
    ls->close_done = done;
    ls->close_arg = arg;
    uv_timer_stop(&ls->timer);
    uv_close((uv_handle_t *)&ls->timer, on_timer_closed);
}
