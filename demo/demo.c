/* demo_world: a living demo community for `make run` / `make demo`: a few simulated game servers that register and
 * post through the front door exactly as the stock tracker does (tracker-wire.md, with the gameflow, client and
 * interaction modules on), playing team matches on the stock maps with the stock weapons at a gentle rate.
 *
 * Usage: demo_world --url FRONT_DOOR [--servers N] [--players N] [--rate EVENTS_PER_S] [--match-seconds S]
 *                   [--seconds S] [--state FILE] [--members FILE] [--skills FILE] [--seed N]
 *                   [--fast --matches N] [--ffa SHARE]
 *
 * Every player has a hidden skill (an Elo-like number) that decides who wins a fight and how often they hit the
 * head, and favourite weapons, so leaderboards and ratings have something real to find (in the demo's first run the
 * three most skilled were the three with the most kills). About two players in
 * three are forum members who log in (guid = member id from MEMBER_BASE on, a player_auth event), the others are
 * guests (unauth_<slot>). Players join and leave between and during matches. --skills writes the hidden skills, for
 * checking a rating system against the truth.
 *
 * The demo's data is marked: its servers are named "[demo] ...", register from ports DEMO_PORT_BASE and up, and
 * their ids are written to --state (one "SERVER_ID NAME" per line) so that scripts/demo.sh purge can delete them.
 * --members writes the forum members the demo's players log in as (ids MEMBER_BASE and up) as SQL for the forum's
 * smf_members with their identity links (as authd writes them at a login), so that their names and achievements
 * show where the forum's are used.
 * --fast plays the same world on a simulated clock, as fast as the front door takes it, until --matches matches
 * have ended (then it stops): enough history to measure the ratings against the hidden skills in minutes instead
 * of days (tests/bench/ratings_eval.sh). The events are the same; only their batching differs: a batch goes at
 * FAST_BATCH events or a match's end, not after each kill or 2 s, and connections are kept open, because the
 * tracker's small requests would make the front door, not the simulation, the limit.
 * --ffa SHARE makes that share of the matches free-for-all (game type 1 on the dm maps: every player for themselves,
 * team "freeforall", no team_win), so that the free-for-all ratings can be measured too (tests/bench/ratings_eval.sh).
 * At 0 (the default) the world draws exactly the random numbers it drew before the option existed.
 * SIGINT/SIGTERM flush what is queued and stop. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "tracker_events.h"

#define MAX_SERVERS 16
#define MAX_PLAYERS 256
#define MAX_SLOTS 64
#define MAX_BATCH 20         /* game.max_batch_size of the tracker */
#define FAST_BATCH 100       /* --fast: bodies of about 45 KB, under ingestd's INGEST_LARGE_BODY_BYTES (64 KiB) */
#define FLUSH_S 2.0          /* the tracker's flush thread */
#define MEMBER_BASE 900001   /* forum member ids of the demo's players: far above a real forum's first members */
#define DEMO_PORT_BASE 12203 /* the game port the first demo server registers with */
#define TICK_S 0.1

typedef struct {
    const char *mapname, *gametype; /* cvar values, as match_start sends them */
    int gametype_num;               /* the engine's int, as match_end sends it */
    double half;                    /* the map spans -half .. half in x and y (game units) */
    double spots[4][2];             /* where fights cluster, as fractions of half */
} demo_map;

static const demo_map maps[] = {
    {"dm/mohdm1", "2", 2, 2600, {{-0.5, 0.4}, {0.3, 0.5}, {0.1, -0.4}, {-0.6, -0.6}}},
    {"dm/mohdm2", "2", 2, 2200, {{0.0, 0.0}, {0.5, -0.5}, {-0.5, 0.6}, {0.6, 0.4}}},
    {"dm/mohdm3", "2", 2, 3000, {{-0.2, 0.1}, {0.4, 0.3}, {-0.7, -0.2}, {0.2, -0.7}}},
    {"dm/mohdm4", "2", 2, 2400, {{0.0, 0.5}, {0.0, -0.5}, {0.5, 0.0}, {-0.5, 0.0}}},
    {"dm/mohdm6", "2", 2, 2800, {{-0.4, -0.4}, {0.4, 0.4}, {0.4, -0.3}, {-0.3, 0.5}}},
    {"dm/mohdm7", "2", 2, 2500, {{0.2, 0.2}, {-0.6, 0.3}, {0.6, -0.6}, {-0.1, -0.5}}},
    {"obj/obj_team1", "4", 4, 3200, {{0.6, 0.6}, {0.2, 0.1}, {-0.4, -0.3}, {-0.7, 0.5}}},
    {"obj/obj_team2", "4", 4, 3400, {{0.0, 0.7}, {0.3, 0.0}, {-0.3, -0.2}, {0.5, -0.6}}},
    {"obj/obj_team3", "4", 4, 3600, {{-0.6, -0.7}, {-0.2, -0.3}, {0.1, 0.2}, {0.5, 0.6}}},
    {"obj/obj_team4", "4", 4, 3000, {{0.0, 0.0}, {-0.5, 0.1}, {0.5, -0.1}, {0.0, 0.6}}},
};
#define NMAPS (sizeof maps / sizeof maps[0])

/* --ffa: the free-for-all maps, game type 1 (dm). */
static const demo_map ffa_maps[] = {
    {"dm/mohdm1", "1", 1, 2600, {{-0.5, 0.4}, {0.3, 0.5}, {0.1, -0.4}, {-0.6, -0.6}}},
    {"dm/mohdm2", "1", 1, 2200, {{0.0, 0.0}, {0.5, -0.5}, {-0.5, 0.6}, {0.6, 0.4}}},
    {"dm/mohdm6", "1", 1, 2800, {{-0.4, -0.4}, {0.4, 0.4}, {0.4, -0.3}, {-0.3, 0.5}}},
};
#define NFFA_MAPS (sizeof ffa_maps / sizeof ffa_maps[0])
#define FFA_TEAM "freeforall" /* the engine's team in free-for-all: no side */

/* The weapons of each side (indexes into tracker_events.c's weapons[]) and how far they reach. */
static const unsigned allied_weapons[] = {1, 2, 4, 5, 7, 9, 10, 12};
static const unsigned axis_weapons[] = {0, 3, 8, 14, 6, 9, 11, 13};
#define NSIDE_WEAPONS 8

static const char *const server_names[] = {
    "[demo] Normandy Veterans", "[demo] Eastern Front TDM", "[demo] Objective Only", "[demo] Sniper Alley",
    "[demo] Late Night Frag",   "[demo] Rookie Friendly",   "[demo] Clan Wars",      "[demo] Pistols at Dawn",
};

static const char *const player_names[] = {
    "Pvt. Ryan", "Hans",    "Sgt.Rock", "DerJaeger",  "Kowalski", "Ghost",    "Lt.Dan",     "Fritz",
    "Mad Max",   "Wolf",    "Blitz",    "Sarge",      "Doc",      "Tiger",    "Lucky",      "Hawk",
    "Baker",     "Brandt",  "Viper",    "[FR]Jérôme", "Nomad",    "Rook",     "Sniper Joe", "Kraut",
    "Yankee",    "Bulldog", "Echo",     "Reaper",     "Schulz",   "Miller",   "Kelly",      "Rusty",
    "Ace",       "Tank",    "Greta",    "Iron Mike",  "Shadow",   "Falke",    "Big Red",    "Smitty",
    "Panzer",    "Dutch",   "Ivan",     "Kat",        "Jackal",   "Maverick", "Otto",       "Spud",
};
#define NNAMES (sizeof player_names / sizeof player_names[0])

static const char *const chat_lines[] = {"gg", "nice shot", "lag!",      "rush B",       "who has the bazooka?",
                                         "ns", "lol",       "camper...", "allies push!", "gg wp all"};
#define NCHAT (sizeof chat_lines / sizeof chat_lines[0])

typedef struct {
    sim_player p;      /* what the player block says */
    double skill;      /* hidden: who wins a fight */
    unsigned member;   /* forum member id, 0 for a guest */
    int server;        /* the server played on, -1 offline */
    unsigned slot;     /* client number there */
    double dead_until; /* level time of the respawn while dead; 0 alive */
    unsigned likes[2]; /* favourite weapon per side (index into the side's list) */
} demo_player;

typedef struct {
    char name[64], id[64], token[128];
    unsigned port;
    const demo_map *map;
    char session[24], match_id[24];
    double level_time, match_len, since_flush, owed;
    int kills[2]; /* allies, axis this match */
    bool slot_used[MAX_SLOTS];
    bytebuf queue;
    unsigned queued;
    unsigned map_index;
    bool ffa; /* this match is free-for-all (--ffa) */
} demo_server;

typedef struct {
    const char *url, *state_path, *members_path, *skills_path;
    unsigned nservers, nplayers;
    double rate, match_seconds, seconds;
    uint64_t seed;
    bool fast;        /* simulated clock, no pause between ticks (see the top of the file) */
    uint64_t matches; /* --fast: stop after this many matches ended */
    double ffa;       /* the share of free-for-all matches */
} options;

static options opt = {NULL, NULL, NULL, NULL, 3, 36, 3.0, 600, 0, 1, false, 0, 0};
static demo_server servers[MAX_SERVERS];
static demo_player players[MAX_PLAYERS];
static rng world;
static CURL *curl;
static uint64_t sent_events, sent_batches, failed_batches, matches_ended;
static volatile sig_atomic_t stop_requested;

/* SIGINT/SIGTERM: finish the tick, flush, exit. */
static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Seconds on a monotonic clock. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A standard normal deviate (Box-Muller). */
static double rng_normal(rng *r)
{
    double u = rng_unit(r) + 1e-12, v = rng_unit(r);
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* Collect an answer body (bounded). */
typedef struct {
    char data[4096];
    size_t len;
} answer;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    answer *a = arg;
    size_t k = size * n, room = sizeof a->data - 1 - a->len;
    memcpy(a->data + a->len, p, k < room ? k : room);
    a->len += k < room ? k : room;
    a->data[a->len] = '\0';
    return size * n;
}

/* POST body to BASE + path as the engine's curl worker does: one request per connection. Returns the HTTP status
 * (0 on a transport error). */
static long post(const char *path, const char *token, const char *body, size_t len, answer *a)
{
    char url[1024], hdr[200];
    snprintf(url, sizeof url, "%s%s", opt.url, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (token) {
        snprintf(hdr, sizeof hdr, "X-Server-Token: %s", token);
        h = curl_slist_append(h, hdr);
    }
    a->len = 0;
    a->data[0] = '\0';
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, opt.fast ? 0L : 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, a);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(a->data, sizeof a->data, "%s", curl_easy_strerror(rc));
    curl_slist_free_all(h);
    return status;
}

/* Register s as the tracker does at start and after a 401; 0 or -1 (said why). */
static int server_register(demo_server *s)
{
    char body[256];
    int n = snprintf(body, sizeof body, "{\"name\": \"%s\", \"ip_address\": \"127.0.0.1\", \"port\": \"%u\"}", s->name,
                     s->port);
    answer a;
    long status = post("/api/v1/servers/register", NULL, body, (size_t)n, &a);
    cJSON *j = status == 200 ? cJSON_Parse(a.data) : NULL;
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(j, "server_id")),
               *token = cJSON_GetStringValue(cJSON_GetObjectItem(j, "token"));
    if (!id || !token) {
        /* Not the answer itself when it was a 200: it would hold a token. */
        fprintf(stderr, "demo_world: registering '%s' failed (HTTP %ld): %s\n", s->name, status,
                status == 200 ? "no server_id or token in the answer" : a.data);
        cJSON_Delete(j);
        return -1;
    }
    snprintf(s->id, sizeof s->id, "%s", id);
    snprintf(s->token, sizeof s->token, "%s", token);
    cJSON_Delete(j);
    return 0;
}

/* Send s's queued batch; the tracker never retries, a failed batch is lost. A 401 re-registers. */
static void server_flush(demo_server *s)
{
    s->since_flush = 0;
    if (!s->queued)
        return;
    bytebuf_append(&s->queue, "]", 1);
    answer a;
    long status = post("/api/v1/ingest/events", s->token, s->queue.data, s->queue.len, &a);
    if (status >= 200 && status < 300) {
        sent_events += s->queued;
        sent_batches++;
    } else {
        failed_batches++;
        fprintf(stderr, "demo_world: %s: a batch of %u events was refused (HTTP %ld): %s\n", s->name, s->queued, status,
                a.data);
        if (status == 401)
            server_register(s);
    }
    s->queue.len = 0;
    s->queued = 0;
}

/* Start the next event object in s's batch. */
static json_obj event_begin(demo_server *s)
{
    bytebuf_append(&s->queue, s->queued ? "," : "[", 1);
    s->queued++;
    bytebuf_append(&s->queue, "{", 1);
    return (json_obj){&s->queue, true};
}

/* Close the event object; flush at a full batch (the tracker's max_batch_size). */
static void event_end(demo_server *s, json_obj *o)
{
    bytebuf_append(o->b, "}", 1);
    if (s->queued >= (opt.fast ? FAST_BATCH : MAX_BATCH))
        server_flush(s);
}

static void envelope(json_obj *o, const demo_server *s, const char *type)
{
    put_match_envelope(o, s->session, s->match_id, s->level_time, type);
}

/* A position near one of the map's hot spots. */
static void place(const demo_server *s, sim_player *p)
{
    const double *spot = s->map->spots[rng_below(&world, 4)];
    double h = s->map->half;
    p->x = fmax(-h, fmin(h, spot[0] * h + rng_normal(&world) * h * 0.15));
    p->y = fmax(-h, fmin(h, spot[1] * h + rng_normal(&world) * h * 0.15));
    p->z = rng_range(&world, 0, 160);
    p->yaw = rng_range(&world, 0, 360);
}

/* 0 for allies, 1 for axis. */
static int side_of(const sim_player *p)
{
    return strcmp(p->team, "american") == 0 ? 0 : 1;
}

/* The weapon a player takes: usually their favourite of the side, sometimes another. */
static unsigned pick_weapon(const demo_player *dp)
{
    int side = side_of(&dp->p);
    unsigned k = rng_unit(&world) < 0.7 ? dp->likes[side] : rng_below(&world, NSIDE_WEAPONS);
    return side == 0 ? allied_weapons[k] : axis_weapons[k];
}

/* player_spawn, and client_begin beside it (the client module hooks the same engine event). */
static void emit_spawn(demo_server *s, demo_player *dp)
{
    dp->dead_until = 0;
    dp->p.crouched = false;
    place(s, &dp->p);
    json_obj o = event_begin(s);
    put_player(&o, "player", &dp->p);
    envelope(&o, s, "player_spawn");
    event_end(s, &o);
}

/* The player block event of a given type (jump, crouch, connect, disconnect...). */
static void emit_simple(demo_server *s, demo_player *dp, const char *type)
{
    json_obj o = event_begin(s);
    envelope(&o, s, type);
    put_player(&o, "player", &dp->p);
    if (strcmp(type, "jump") == 0)
        put_num(&o, "jump_height", 56);
    event_end(s, &o);
}

/* Online players of s, alive ones only when alive is set. */
static unsigned roster(const demo_server *s, unsigned *out, bool alive)
{
    unsigned n = 0;
    for (unsigned i = 0; i < opt.nplayers; i++)
        if (players[i].server == s - servers && (!alive || players[i].dead_until == 0))
            out[n++] = i;
    return n;
}

/* dp joins s: a free slot, the smaller team, connect + team_join + spawn; members log in (player_auth). */
static void player_join(demo_server *s, demo_player *dp)
{
    unsigned slot = 0;
    while (slot < MAX_SLOTS && s->slot_used[slot])
        slot++;
    if (slot == MAX_SLOTS)
        return;
    s->slot_used[slot] = true;
    dp->server = (int)(s - servers);
    dp->slot = slot;
    unsigned on[MAX_PLAYERS], n = roster(s, on, false), axis = 0;
    for (unsigned i = 0; i < n; i++)
        if (&players[on[i]] != dp && side_of(&players[on[i]].p) == 1)
            axis++;
    dp->p.team = s->ffa ? FFA_TEAM : axis * 2 < n - 1 ? "german" : "american";
    snprintf(dp->p.guid, sizeof dp->p.guid, "unauth_%u", slot);
    dp->p.smf_id[0] = '\0';
    dp->p.weapon = pick_weapon(dp);
    place(s, &dp->p);
    emit_simple(s, dp, "connect");
    json_obj o = event_begin(s);
    envelope(&o, s, "team_join");
    put_player(&o, "player", &dp->p);
    put_str(&o, NULL, "old_team", "spectator");
    put_str(&o, NULL, "new_team", dp->p.team);
    event_end(s, &o);
    if (dp->member) {
        /* After /auth/verify the tracker reports the player under their member id. */
        snprintf(dp->p.guid, sizeof dp->p.guid, "%u", dp->member);
        snprintf(dp->p.smf_id, sizeof dp->p.smf_id, "%u", dp->member);
        o = event_begin(s);
        envelope(&o, s, "player_auth");
        put_player(&o, "player", &dp->p);
        put_str(&o, NULL, "smf_member_id", dp->p.smf_id);
        put_str(&o, NULL, "smf_member_name", dp->p.name);
        event_end(s, &o);
    }
    emit_spawn(s, dp);
}

/* dp leaves s. */
static void player_leave(demo_server *s, demo_player *dp)
{
    emit_simple(s, dp, "disconnect");
    s->slot_used[dp->slot] = false;
    dp->server = -1;
}

/* A new map on s: new session and match id, match_start, everybody spawns. */
static void match_start(demo_server *s)
{
    bool was_ffa = s->ffa;
    /* Drawn only with --ffa, so that without it the world is the one it always was. */
    s->ffa = opt.ffa > 0 && rng_unit(&world) < opt.ffa;
    if (s->ffa) {
        s->map = &ffa_maps[rng_below(&world, NFFA_MAPS)];
    } else {
        s->map_index = (s->map_index + 1 + rng_below(&world, 2)) % NMAPS;
        s->map = &maps[s->map_index];
    }
    snprintf(s->session, sizeof s->session, "sess_%016" PRIx64, rng_next(&world));
    snprintf(s->match_id, sizeof s->match_id, "match_%016" PRIx64, rng_next(&world));
    s->level_time = rng_range(&world, 3, 8);
    s->match_len = opt.match_seconds * rng_range(&world, 0.8, 1.2);
    s->kills[0] = s->kills[1] = 0;
    json_obj o = event_begin(s);
    envelope(&o, s, "match_start");
    put_str(&o, NULL, "map_name", s->map->mapname);
    put_str(&o, NULL, "gametype", s->map->gametype);
    put_num(&o, "timelimit", round(opt.match_seconds / 60));
    put_num(&o, "fraglimit", 0);
    put_num(&o, "maxclients", 24);
    event_end(s, &o);
    unsigned on[MAX_PLAYERS], n = roster(s, on, false);
    /* Everyone is on their own in free-for-all; after one, the sides are dealt out again, alternately. */
    for (unsigned i = 0; i < n && (s->ffa || was_ffa); i++)
        players[on[i]].p.team = s->ffa ? FFA_TEAM : i % 2 ? "german" : "american";
    for (unsigned i = 0; i < n; i++)
        emit_spawn(s, &players[on[i]]);
}

/* The match on s ends: team_win and match_end for the side with more kills, then the final flush. */
static void match_end(demo_server *s)
{
    /* free-for-all: no team wins; the ratings place players by their scores */
    const char *winner = s->ffa ? "" : s->kills[0] >= s->kills[1] ? "allies" : "axis";
    json_obj o;
    if (!s->ffa) {
        o = event_begin(s);
        envelope(&o, s, "team_win");
        put_str(&o, NULL, "teamnum", winner);
        event_end(s, &o);
    }
    o = event_begin(s);
    envelope(&o, s, "match_end");
    put_str(&o, NULL, "map", s->map->mapname);
    put_num(&o, "gametype", s->map->gametype_num);
    put_str(&o, NULL, "winning_team", winner);
    event_end(s, &o);
    server_flush(s);
    matches_ended++;
}

/* A fight between two alive players of opposite sides: the hidden skills decide who dies (Elo's expectation). */
static void fight(demo_server *s)
{
    unsigned alive[MAX_PLAYERS], n = roster(s, alive, true);
    if (n < 2)
        return;
    demo_player *a = &players[alive[rng_below(&world, n)]], *b = NULL;
    for (unsigned tries = 0; tries < 8 && !b; tries++) {
        demo_player *c = &players[alive[rng_below(&world, n)]];
        if (s->ffa ? c != a : side_of(&c->p) != side_of(&a->p))
            b = c;
    }
    if (!b)
        return;
    double p_a = 1 / (1 + pow(10, (b->skill - a->skill) / 400));
    demo_player *killer = rng_unit(&world) < p_a ? a : b, *victim = killer == a ? b : a;
    /* The victim stands within the killer's weapon's reach. */
    unsigned w = killer->p.weapon;
    double reach = strcmp(weapons[w].mod, "shotgun") == 0 ? 400 : strstr(weapons[w].name, "niper") ? 2500 : 1200;
    double dist = rng_range(&world, 100, reach), ang = rng_range(&world, 0, 2 * M_PI);
    victim->p.x = killer->p.x + dist * cos(ang);
    victim->p.y = killer->p.y + dist * sin(ang);
    killer->p.yaw = fmod(ang * 180 / M_PI + 360, 360);
    /* Better players hit the head more often. */
    double head_p = 0.12 + 0.2 * (killer->skill - 1200) / 700;
    const char *hitloc = rng_unit(&world) < head_p ? (rng_unit(&world) < 0.8 ? "head" : "helmet")
                                                   : hitlocs[3 + rng_below(&world, NHITLOCS - 3)];
    if (strcmp(weapons[w].mod, "grenade") == 0 || strcmp(weapons[w].mod, "rocket") == 0)
        hitloc = "general";
    json_obj o = event_begin(s);
    put_str(&o, NULL, "hitloc", hitloc);
    put_player(&o, "victim", &victim->p);
    envelope(&o, s, "player_kill");
    put_player(&o, "attacker", &killer->p);
    put_str(&o, NULL, "weapon", weapons[w].name);
    put_str(&o, NULL, "mod", weapons[w].mod);
    put_fixed3(&o, NULL, "damage", rng_range(&world, 40, 120));
    event_end(s, &o);
    if (!s->ffa)
        s->kills[side_of(&killer->p)]++;
    victim->dead_until = s->level_time + rng_range(&world, 2, 6);
    if (!opt.fast)
        server_flush(s); /* the tracker flushes at once after every kill */
}

/* A death without an enemy: a fall, or one's own grenade. */
static void mishap(demo_server *s, demo_player *dp)
{
    bool grenade = rng_unit(&world) < 0.5;
    json_obj o = event_begin(s);
    put_str(&o, NULL, "hitloc", "general");
    put_player(&o, "victim", &dp->p);
    envelope(&o, s, "player_kill");
    if (grenade) {
        put_player(&o, "attacker", &dp->p);
        put_str(&o, NULL, "weapon", side_of(&dp->p) == 0 ? "Frag Grenade" : "Stielhandgranate");
        put_str(&o, NULL, "mod", "grenade");
    } else {
        put_str(&o, NULL, "weapon", "world");
        put_str(&o, NULL, "mod", "falling");
    }
    put_fixed3(&o, NULL, "damage", 100);
    event_end(s, &o);
    dp->dead_until = s->level_time + 4;
    if (!opt.fast)
        server_flush(s);
}

/* One event of the ordinary mix on s (what a minute of a real server looks like, thinned out). */
static void random_event(demo_server *s)
{
    unsigned alive[MAX_PLAYERS], n = roster(s, alive, true);
    if (n == 0)
        return;
    demo_player *dp = &players[alive[rng_below(&world, n)]];
    double r = rng_unit(&world);
    if (r < 0.22) {
        fight(s);
    } else if (r < 0.60) {
        double walked = rng_range(&world, 100, 112);
        dp->p.total_distance += walked;
        dp->p.x = fmax(-s->map->half, fmin(s->map->half, dp->p.x + walked * cos(dp->p.yaw * M_PI / 180)));
        dp->p.y = fmax(-s->map->half, fmin(s->map->half, dp->p.y + walked * sin(dp->p.yaw * M_PI / 180)));
        dp->p.yaw = fmod(dp->p.yaw + rng_range(&world, -40, 40) + 360, 360);
        json_obj o = event_begin(s);
        put_num(&o, "distance", dp->p.total_distance);
        envelope(&o, s, "distance");
        put_num(&o, "walked", walked);
        put_player(&o, "player", &dp->p);
        put_num(&o, "total_distance", dp->p.total_distance);
        put_num(&o, "delta_distance", walked);
        event_end(s, &o);
    } else if (r < 0.72) {
        emit_simple(s, dp, "jump");
    } else if (r < 0.78) {
        dp->p.crouched = true;
        emit_simple(s, dp, "crouch");
    } else if (r < 0.86) {
        unsigned old = dp->p.weapon;
        dp->p.weapon = pick_weapon(dp);
        json_obj o = event_begin(s);
        put_str(&o, NULL, "old_weapon", weapons[old].name);
        envelope(&o, s, "weapon_change");
        put_player(&o, "player", &dp->p);
        put_str(&o, NULL, "new_weapon", weapons[dp->p.weapon].name);
        event_end(s, &o);
    } else if (r < 0.90) {
        emit_simple(s, dp, rng_unit(&world) < 0.5 ? "ladder_mount" : "ladder_dismount");
    } else if (r < 0.93) {
        json_obj o = event_begin(s);
        put_player(&o, "player", &dp->p);
        envelope(&o, s, "chat");
        put_str(&o, NULL, "message", chat_lines[rng_below(&world, NCHAT)]);
        put_num(&o, "is_team", rng_unit(&world) < 0.3);
        event_end(s, &o);
    } else if (r < 0.94) {
        mishap(s, dp);
    } else {
        /* Someone leaves and someone else joins: from time to time, not every turn of the mix. */
        unsigned on[MAX_PLAYERS], k = roster(s, on, false);
        if (rng_unit(&world) < 0.2 && k > 4)
            player_leave(s, &players[on[rng_below(&world, k)]]);
        unsigned idle[MAX_PLAYERS], m = 0;
        for (unsigned i = 0; i < opt.nplayers; i++)
            if (players[i].server < 0)
                idle[m++] = i;
        unsigned cap = 2 * opt.nplayers / opt.nservers;
        if (m && k < cap && rng_unit(&world) < 0.3)
            player_join(s, &players[idle[rng_below(&world, m)]]);
    }
}

/* One tick of s: time passes, the dead respawn, events at the configured rate, the 2 s flush, the end of a match. */
static void server_tick(demo_server *s, double dt)
{
    s->level_time += dt;
    s->since_flush += dt;
    for (unsigned i = 0; i < opt.nplayers; i++)
        if (players[i].server == s - servers && players[i].dead_until != 0 && players[i].dead_until <= s->level_time)
            emit_spawn(s, &players[i]);
    s->owed += opt.rate * dt * rng_range(&world, 0.5, 1.5);
    while (s->owed >= 1) {
        s->owed -= 1;
        random_event(s);
    }
    if (s->since_flush >= FLUSH_S && !opt.fast)
        server_flush(s);
    if (s->level_time >= s->match_len) {
        match_end(s);
        match_start(s);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: demo_world --url FRONT_DOOR [--servers N] [--players N] [--rate EVENTS_PER_S] "
                    "[--match-seconds S] [--seconds S] [--state FILE] [--members FILE] [--skills FILE] [--seed N] "
                    "[--fast --matches N] [--ffa SHARE]\n");
    exit(2);
}

/* Parse the command line into opt; exits with a message on a bad value. */
static void parse_options(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"servers", required_argument, NULL, 's'},
        {"players", required_argument, NULL, 'p'},
        {"rate", required_argument, NULL, 'r'},
        {"match-seconds", required_argument, NULL, 'm'},
        {"seconds", required_argument, NULL, 't'},
        {"state", required_argument, NULL, 'f'},
        {"members", required_argument, NULL, 'M'},
        {"skills", required_argument, NULL, 'k'},
        {"seed", required_argument, NULL, 'x'},
        {"fast", no_argument, NULL, 'F'},
        {"matches", required_argument, NULL, 'n'},
        {"ffa", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'u':
            opt.url = optarg;
            break;
        case 's':
            opt.nservers = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'p':
            opt.nplayers = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'r':
            opt.rate = strtod(optarg, NULL);
            break;
        case 'm':
            opt.match_seconds = strtod(optarg, NULL);
            break;
        case 't':
            opt.seconds = strtod(optarg, NULL);
            break;
        case 'f':
            opt.state_path = optarg;
            break;
        case 'M':
            opt.members_path = optarg;
            break;
        case 'k':
            opt.skills_path = optarg;
            break;
        case 'x':
            opt.seed = strtoull(optarg, NULL, 10);
            break;
        case 'F':
            opt.fast = true;
            break;
        case 'n':
            opt.matches = strtoull(optarg, NULL, 10);
            break;
        case 'a':
            opt.ffa = strtod(optarg, NULL);
            break;
        default:
            usage();
        }
    }
    if (!opt.url || optind != argc)
        usage();
    if (opt.nservers < 1 || opt.nservers > MAX_SERVERS || opt.nplayers < 2 * opt.nservers ||
        opt.nplayers > MAX_PLAYERS || !(opt.rate > 0) || !(opt.match_seconds >= 10) || opt.seconds < 0 ||
        !(opt.ffa >= 0 && opt.ffa <= 1)) {
        fprintf(stderr,
                "demo_world: --servers must be 1-%d, --players at least 2 per server and at most %d, --rate "
                "above 0, --match-seconds at least 10 and --ffa between 0 and 1\n",
                MAX_SERVERS, MAX_PLAYERS);
        exit(2);
    }
    if (opt.fast != (opt.matches > 0)) {
        fprintf(stderr, "demo_world: --fast needs --matches N (how many matches to play), and --matches --fast\n");
        exit(2);
    }
}

/* The community: names, hidden skills, favourite weapons, members and guests. */
static void make_players(void)
{
    for (unsigned i = 0; i < opt.nplayers; i++) {
        demo_player *dp = &players[i];
        memset(dp, 0, sizeof *dp);
        if (i < NNAMES)
            snprintf(dp->p.name, sizeof dp->p.name, "%s", player_names[i]);
        else
            snprintf(dp->p.name, sizeof dp->p.name, "%s %u", player_names[i % NNAMES], (unsigned)(i / NNAMES + 1));
        dp->skill = 1500 + 200 * rng_normal(&world);
        dp->member = rng_unit(&world) < 0.67 ? MEMBER_BASE + i : 0;
        dp->server = -1;
        dp->likes[0] = rng_below(&world, NSIDE_WEAPONS);
        dp->likes[1] = rng_below(&world, NSIDE_WEAPONS);
    }
}

/* The demo's forum members as SQL for smf_members (INSERT IGNORE: a second run keeps them); 0 or -1. */
static int write_members(const char *path)
{
    /* Written aside and renamed: scripts/demo.sh reads it as soon as it appears. */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "demo_world: cannot write %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "-- The demo world's forum members (demo_world --members): ids %d and up.\n", MEMBER_BASE);
    for (unsigned i = 0; i < opt.nplayers; i++) {
        if (!players[i].member)
            continue;
        char name[2 * sizeof players[i].p.name], *w = name;
        for (const char *r = players[i].p.name; *r; r++) {
            if (*r == '\'' || *r == '\\')
                *w++ = *r;
            *w++ = *r;
        }
        *w = '\0';
        fprintf(f,
                "INSERT IGNORE INTO smf_members (id_member, member_name, real_name, date_registered, is_activated) "
                "VALUES (%u, '%s', '%s', UNIX_TIMESTAMP(), 1);\n",
                players[i].member, name, name);
        /* The link authd writes at a member's first login from a tracker (guid = member id, docs/api.md). */
        fprintf(f,
                "INSERT IGNORE INTO smf_mohaa_identities (id_member, player_guid, player_name, linked_at, verified) "
                "VALUES (%u, '%u', '%s', UNIX_TIMESTAMP(), 1);\n",
                players[i].member, players[i].member, name);
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "demo_world: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The hidden skills, best first ("SKILL MEMBER_OR_guest NAME" per line): the truth a rating system can be checked
 * against. Only the operator sees it; nothing of it reaches the stats but through the fights it decides. */
static int write_skills(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "demo_world: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    unsigned order[MAX_PLAYERS];
    for (unsigned i = 0; i < opt.nplayers; i++)
        order[i] = i;
    for (unsigned i = 1; i < opt.nplayers; i++) /* insertion sort: a few dozen players */
        for (unsigned k = i; k > 0 && players[order[k]].skill > players[order[k - 1]].skill; k--) {
            unsigned t = order[k];
            order[k] = order[k - 1];
            order[k - 1] = t;
        }
    for (unsigned i = 0; i < opt.nplayers; i++) {
        const demo_player *dp = &players[order[i]];
        if (dp->member)
            fprintf(f, "%.0f %u %s\n", dp->skill, dp->member, dp->p.name);
        else
            fprintf(f, "%.0f guest %s\n", dp->skill, dp->p.name);
    }
    return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    parse_options(argc, argv);
    size_t ul = strlen(opt.url);
    while (ul && opt.url[ul - 1] == '/')
        ((char *)opt.url)[--ul] = '\0';
    world.s = opt.seed;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl = curl_easy_init();
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    make_players();
    if (opt.members_path && write_members(opt.members_path) != 0)
        return 1;
    if (opt.skills_path && write_skills(opt.skills_path) != 0)
        return 1;

    FILE *state = opt.state_path ? fopen(opt.state_path, "w") : NULL;
    if (opt.state_path && !state) {
        fprintf(stderr, "demo_world: cannot write %s: %s\n", opt.state_path, strerror(errno));
        return 1;
    }
    for (unsigned i = 0; i < opt.nservers; i++) {
        demo_server *s = &servers[i];
        snprintf(s->name, sizeof s->name, "%s", server_names[i % (sizeof server_names / sizeof server_names[0])]);
        if (i >= sizeof server_names / sizeof server_names[0])
            snprintf(s->name + strlen(s->name), sizeof s->name - strlen(s->name), " %u", i + 1);
        s->port = DEMO_PORT_BASE + i;
        s->map_index = i * 3;
        if (server_register(s) != 0) {
            if (state)
                fclose(state);
            return 1;
        }
        if (state) {
            fprintf(state, "%s %s\n", s->id, s->name);
            fflush(state);
        }
    }
    if (state)
        fclose(state);
    /* Most of the community is online at first; the rest comes and goes. */
    for (unsigned i = 0; i < opt.nservers; i++) {
        demo_server *s = &servers[i];
        match_start(s);
        unsigned want = opt.nplayers * 3 / 4 / opt.nservers;
        for (unsigned k = 0; k < want; k++)
            player_join(s, &players[i * want + k]);
    }
    printf("demo_world: %u servers, %u players, %.1f events/s each, matches of %.0f s, through %s%s\n", opt.nservers,
           opt.nplayers, opt.rate, opt.match_seconds, opt.url, opt.fast ? " (fast: simulated clock)" : "");
    fflush(stdout);

    double t0 = now_s(), last = t0, last_report = t0;
    while (!stop_requested && (opt.seconds == 0 || last - t0 < opt.seconds) &&
           (!opt.fast || matches_ended < opt.matches)) {
        if (!opt.fast)
            usleep((useconds_t)(TICK_S * 1e6));
        double t = now_s(), dt = opt.fast ? TICK_S : t - last;
        last = t;
        for (unsigned i = 0; i < opt.nservers; i++)
            server_tick(&servers[i], dt);
        if (t - last_report >= 60) {
            last_report = t;
            printf("demo_world: %" PRIu64 " events in %" PRIu64 " batches sent, %" PRIu64 " batches refused\n",
                   sent_events, sent_batches, failed_batches);
            if (opt.fast)
                printf("demo_world: %" PRIu64 " of %" PRIu64 " matches played\n", matches_ended, opt.matches);
            fflush(stdout);
        }
    }
    for (unsigned i = 0; i < opt.nservers; i++) {
        server_flush(&servers[i]);
        bytebuf_free(&servers[i].queue);
    }
    printf("demo_world: stopped: %" PRIu64 " events in %" PRIu64 " batches sent, %" PRIu64 " batches refused\n",
           sent_events, sent_batches, failed_batches);
    printf("demo_world: %" PRIu64 " matches ended\n", matches_ended);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    return failed_batches && !sent_batches ? 1 : 0;
}
