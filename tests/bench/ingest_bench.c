/* Ingest benchmark: many simulated game servers post tracker batches to /api/v1/ingest/events; measures
 * request latency, accepted and end-to-end (visible in ClickHouse) event rates, and ClickHouse's own
 * bulk-insert rate for the same rows. Prints one JSON line per phase on stdout, a summary on stderr.
 *
 * The load is generated before the clock starts (every request, head and body, is built in memory), so
 * the timed part of the client only writes prepared bytes and parses answers: on a 2-core machine shared
 * with the system under test, the client's own CPU use is reported (client_cpu_s) so it can be judged. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <llhttp.h>
#include <uv.h>

#include "batch_parse.h"
#include "clickhouse.h"
#include "event_row.h"
#include "random.h"

#define INGEST_PATH "/api/v1/ingest/events"
#define MAX_BATCH_EVENTS 20 /* game.max_batch_size of the tracker */
#define MAX_PLAYERS 32

static void usage(void)
{
    fprintf(stderr,
            "usage: ingest_bench [options]\n"
            "  --url BASE            ingest endpoint base (front door or ingestd); posts to BASE" INGEST_PATH "\n"
            "                        (omit to run only the --raw phase)\n"
            "  --servers FILE        one simulated game server per line: SERVER_ID TOKEN (required)\n"
            "  --events N            events to send (default 200000)\n"
            "  --connections C       concurrent requests, each serving its own servers one batch at a time\n"
            "                        like the engine's single HTTP worker (default: one per server)\n"
            "  --mode close|keepalive  a new connection per request with Connection: close (the engine),\n"
            "                        or reused connections (default keepalive)\n"
            "  --rate EV_PER_S       offered load in events/s; 0 = as fast as answers come (default 0)\n"
            "  --clickhouse URL      ClickHouse HTTP URL (with ?database=): wait until the events are visible\n"
            "                        in raw_events and report the end-to-end rate\n"
            "  --raw                 then insert the same rows straight into ClickHouse, sequential bulk INSERTs\n"
            "                        into a bare copy of raw_events and into raw_events itself (its views\n"
            "                        included: the rows land twice, use a throwaway stack); reports the rates\n"
            "                        and end to end / raw\n"
            "  --raw-copy-only       the raw phase without touching raw_events (the ratio is then to the copy)\n"
            "  --raw-rows N          rows per raw INSERT (default 100000)\n"
            "  --e2e-timeout S       give up waiting for ClickHouse after S seconds (default 120)\n"
            "  --max-seconds S       stop sending after S seconds (default 300)\n"
            "  --seed N              generator seed (default 1)\n"
            "  --label TEXT          copied into the JSON lines\n"
            "  --latency-log FILE    one line per request: start (us since the first), latency (us), HTTP status\n"
            "  --dump FILE           write the generated batches, one body per line, SERVER_INDEX TAB BODY (to\n"
            "                        replay them with other tools or profile the parser)\n");
    exit(2);
}

/* ---- options ---------------------------------------------------------------------------------------------- */

typedef struct {
    const char *url, *servers_file, *clickhouse, *label, *latency_log, *dump;
    uint64_t events;
    unsigned connections;
    bool close_mode, raw, raw_copy_only;
    double rate;
    unsigned raw_rows;
    double e2e_timeout_s, max_seconds;
    uint64_t seed;
} options;

static void parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"servers", required_argument, NULL, 's'},
        {"events", required_argument, NULL, 'n'},
        {"connections", required_argument, NULL, 'c'},
        {"mode", required_argument, NULL, 'm'},
        {"rate", required_argument, NULL, 'r'},
        {"clickhouse", required_argument, NULL, 'C'},
        {"raw", no_argument, NULL, 'R'},
        {"raw-rows", required_argument, NULL, 'w'},
        {"e2e-timeout", required_argument, NULL, 'e'},
        {"max-seconds", required_argument, NULL, 'x'},
        {"seed", required_argument, NULL, 'S'},
        {"label", required_argument, NULL, 'l'},
        {"raw-copy-only", no_argument, NULL, 'O'},
        {"latency-log", required_argument, NULL, 'L'},
        {"dump", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (options){.events = 200000, .raw_rows = 100000, .e2e_timeout_s = 120, .max_seconds = 300, .seed = 1};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            o->url = *optarg ? optarg : NULL; /* --url "" overrides an earlier one: raw phase only */
            break;
        case 's':
            o->servers_file = optarg;
            break;
        case 'n':
            o->events = strtoull(optarg, NULL, 10);
            break;
        case 'c':
            o->connections = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'm':
            if (strcmp(optarg, "close") == 0)
                o->close_mode = true;
            else if (strcmp(optarg, "keepalive") == 0)
                o->close_mode = false;
            else
                usage();
            break;
        case 'r':
            o->rate = strtod(optarg, NULL);
            break;
        case 'C':
            o->clickhouse = optarg;
            break;
        case 'R':
            o->raw = true;
            break;
        case 'O':
            o->raw = o->raw_copy_only = true;
            break;
        case 'w':
            o->raw_rows = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'e':
            o->e2e_timeout_s = strtod(optarg, NULL);
            break;
        case 'x':
            o->max_seconds = strtod(optarg, NULL);
            break;
        case 'S':
            o->seed = strtoull(optarg, NULL, 10);
            break;
        case 'l':
            o->label = optarg;
            break;
        case 'L':
            o->latency_log = optarg;
            break;
        case 'D':
            o->dump = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind != argc || !o->servers_file || o->events == 0 || o->raw_rows == 0 || o->rate < 0)
        usage();
    if (o->raw && !o->clickhouse) {
        fprintf(stderr, "ingest_bench: --raw needs --clickhouse\n");
        exit(2);
    }
    if (!o->url && !o->raw && !o->dump) {
        fprintf(stderr, "ingest_bench: nothing to do: give --url, --raw, --dump, or several\n");
        exit(2);
    }
}

/* ---- game servers ------------------------------------------------------------------------------------------ */

typedef struct {
    char guid[24], smf_id[16];
    char name[40]; /* may hold raw CP1252 bytes, as sent by the engine */
    const char *team;
    double x, y, z, yaw;
    bool crouched;
    unsigned weapon;
    double total_distance;
} sim_player;

/* Deterministic generator state (splitmix64): the same seed gives the same load. */
typedef struct {
    uint64_t s;
} rng;

typedef struct {
    char *id, *token;
    rng rng;
    char session[24];
    double level_time;
    sim_player players[MAX_PLAYERS];
    unsigned nplayers;
    ch_buf queue;    /* the tracker's pending batch: "[" then objects joined by "," */
    unsigned queued; /* events in queue */
    unsigned *batches, nbatches, next_batch;
} sim_server;

/* Read SERVER_ID TOKEN lines; returns the count or exits with a message. */
static unsigned read_servers(const char *path, sim_server **out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "ingest_bench: cannot open %s: %s\n", path, strerror(errno));
        exit(1);
    }
    sim_server *v = NULL;
    unsigned n = 0;
    char line[1024], id[512], token[512];
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%511s %511s", id, token) != 2 || id[0] == '#')
            continue;
        v = realloc(v, (n + 1) * sizeof *v);
        if (!v)
            abort();
        memset(&v[n], 0, sizeof v[n]);
        v[n].id = strdup(id);
        v[n].token = strdup(token);
        n++;
    }
    fclose(f);
    if (n == 0) {
        fprintf(stderr, "ingest_bench: %s holds no 'SERVER_ID TOKEN' line\n", path);
        exit(1);
    }
    *out = v;
    return n;
}

/* ---- event generator --------------------------------------------------------------------------------------- */

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_unit(rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static unsigned rng_below(rng *r, unsigned n)
{
    return (unsigned)(rng_unit(r) * n);
}

static double rng_range(rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rng_unit(r);
}

static const struct {
    const char *name, *mod;
} weapons[] = {
    {"Kar98", "bullet"},
    {"M1 Garand", "bullet"},
    {"Thompson", "fast_bullet"},
    {"MP40", "fast_bullet"},
    {"Springfield '03 Sniper", "bullet"},
    {"Colt .45", "bullet"},
    {"Walther P38", "bullet"},
    {"BAR", "fast_bullet"},
    {"StG 44", "fast_bullet"},
    {"Shotgun", "shotgun"},
    {"Bazooka", "rocket"},
    {"Panzerschreck", "rocket"},
    {"Frag Grenade", "grenade"},
    {"Stielhandgranate", "grenade"},
    {"KAR98 - Sniper", "bullet"},
};
#define NWEAPONS (sizeof weapons / sizeof weapons[0])

static const char *const hitlocs[] = {
    "head",        "helmet",      "neck",        "torso_upper", "torso_mid",   "torso_lower", "pelvis",
    "r_arm_upper", "l_arm_upper", "r_leg_upper", "l_leg_upper", "r_arm_lower", "l_arm_lower", "r_leg_lower",
    "l_leg_lower", "r_hand",      "l_hand",      "r_foot",      "l_foot",      "general",
};
#define NHITLOCS (sizeof hitlocs / sizeof hitlocs[0])

/* Player names; \xNN are single CP1252 bytes (invalid UTF-8), as Latin-1 clients send them. */
static const char *const names[] = {
    "Pvt. Ryan",
    "Hans",
    "[FR]J\xE9r\xF4me&Co",
    "Sgt.Slaughter",
    "M\xFCller",
    "Fran\xE7ois",
    "=US=Doc",
    "Kowalski",
    "|ESP|Jos\xE9",
    "Tiger",
    "Bj\xF6rn",
    "Sniper_Wolf",
    "Padawan",
    "xXx_K1LL",
    "Grandpa",
    "Dutch",
    "S\xF8ren",
    "Fritz",
    "Lt.Dan",
    "Ghost",
    "Mad Max",
    "Ivan",
    "Ze Portugu\xEAs",
    "Rookie",
};
#define NNAMES (sizeof names / sizeof names[0])

enum { EV_DISTANCE, EV_WEAPON_CHANGE, EV_JUMP, EV_CROUCH, EV_SPAWN, EV_KILL, EV__COUNT };

/* The event mix of a running server (tracker-wire.md §2.3): movement dominates, kills flush alone. */
static const unsigned event_weights[EV__COUNT] = {70, 8, 6, 5, 5, 6};

/* Append a JSON string value as the engine escapes it: \" \\ and control bytes; bytes >= 0x80 raw. */
static void put_json_string(ch_buf *b, const char *s)
{
    ch_buf_append(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            ch_buf_append(b, esc, 2);
        } else if (c < 0x20) {
            ch_buf_appendf(b, "\\u%04x", c);
        } else {
            ch_buf_append(b, p, 1);
        }
    }
    ch_buf_append(b, "\"", 1);
}

/* A JSON object being written: the engine joins members with ", " and writes "key": value. */
typedef struct {
    ch_buf *b;
    bool first;
} json_obj;

/* Start the member prefix_name (or name when prefix is NULL). */
static void put_key(json_obj *o, const char *prefix, const char *name)
{
    if (!o->first)
        ch_buf_append(o->b, ", ", 2);
    o->first = false;
    if (prefix)
        ch_buf_appendf(o->b, "\"%s_%s\": ", prefix, name);
    else
        ch_buf_appendf(o->b, "\"%s\": ", name);
}

static void put_str(json_obj *o, const char *prefix, const char *name, const char *val)
{
    put_key(o, prefix, name);
    put_json_string(o->b, val);
}

/* A float cast to a Morpheus string: "%.3f" in quotes. */
static void put_fixed3(json_obj *o, const char *prefix, const char *name, double v)
{
    put_key(o, prefix, name);
    ch_buf_appendf(o->b, "\"%.3f\"", v);
}

/* A number added without a cast: %g, bare. */
static void put_num(json_obj *o, const char *name, double v)
{
    put_key(o, NULL, name);
    ch_buf_appendf(o->b, "%g", v);
}

/* The player block (tracker-wire.md §2.2) for prefix, keys in a scrambled order as the engine's hash map. */
static void put_player(json_obj *o, const char *prefix, const sim_player *p)
{
    put_fixed3(o, prefix, "yaw", p->yaw);
    put_fixed3(o, prefix, "x", p->x);
    put_str(o, prefix, "guid", p->guid);
    put_str(o, prefix, "stance", p->crouched ? "crouch" : "stand");
    put_str(o, prefix, "name", p->name);
    put_str(o, prefix, "team", p->team);
    if (p->smf_id[0])
        put_str(o, prefix, "smf_id", p->smf_id);
    put_fixed3(o, prefix, "pitch", 0.0);
    put_fixed3(o, prefix, "z", p->z);
    put_fixed3(o, prefix, "y", p->y);
}

/* The envelope of every event (tracker-wire.md §2.1). */
static void put_envelope(json_obj *o, const sim_server *s, const char *type)
{
    put_str(o, NULL, "type", type);
    put_fixed3(o, NULL, "timestamp", s->level_time);
    put_str(o, NULL, "match_id", "no_match");
    put_str(o, NULL, "session_id", s->session);
}

/* A new map: new session id, level time from zero, everybody respawns standing. */
static void server_new_map(sim_server *s)
{
    snprintf(s->session, sizeof s->session, "sess_%016" PRIx64, rng_next(&s->rng));
    s->level_time = rng_range(&s->rng, 1, 30);
    for (unsigned i = 0; i < s->nplayers; i++) {
        s->players[i].crouched = false;
        s->players[i].total_distance = 0;
    }
}

/* A server with 8-32 players on random slots; about a third logged in (guid = SMF id). */
static void server_init(sim_server *s, unsigned index, uint64_t seed)
{
    /* The roster depends on the server only, so that successive runs see the same players on a server (as a
     * real one keeps them for a while); the events depend on the seed too. */
    s->rng.s = (index + 1) * 0x9e3779b97f4a7c15ULL;
    s->nplayers = 8 + rng_below(&s->rng, MAX_PLAYERS - 8 + 1);
    bool slot_used[64] = {false};
    for (unsigned i = 0; i < s->nplayers; i++) {
        sim_player *p = &s->players[i];
        unsigned slot;
        do
            slot = rng_below(&s->rng, 64);
        while (slot_used[slot]);
        slot_used[slot] = true;
        if (rng_unit(&s->rng) < 0.35) {
            unsigned smf_id = 1 + rng_below(&s->rng, 20000);
            snprintf(p->smf_id, sizeof p->smf_id, "%u", smf_id);
            snprintf(p->guid, sizeof p->guid, "%u", smf_id);
        } else {
            snprintf(p->guid, sizeof p->guid, "unauth_%u", slot);
        }
        snprintf(p->name, sizeof p->name, "%s", names[rng_below(&s->rng, NNAMES)]);
        p->team = i % 2 ? "german" : "american";
        p->x = rng_range(&s->rng, -3000, 3000);
        p->y = rng_range(&s->rng, -3000, 3000);
        p->z = rng_range(&s->rng, -64, 512);
        p->yaw = rng_range(&s->rng, 0, 360);
        p->weapon = rng_below(&s->rng, NWEAPONS);
    }
    s->rng.s ^= seed * 0x100000001b3ULL;
    server_new_map(s);
}

/* Queue one event on s the way tracker.scr does; returns true when the batch must be flushed now (a kill,
 * or 20 events queued). */
static bool server_queue_event(sim_server *s)
{
    unsigned roll = rng_below(&s->rng, 100), type = 0;
    while (roll >= event_weights[type])
        roll -= event_weights[type++];
    s->level_time += 0.05 * (1 + rng_below(&s->rng, 4)); /* frame-quantised at 20 fps */
    if (s->level_time > 1800)
        server_new_map(s);

    ch_buf_append(&s->queue, s->queued ? ",{" : "[{", 2);
    json_obj ob = {&s->queue, true}, *o = &ob;
    sim_player *p = &s->players[rng_below(&s->rng, s->nplayers)];
    switch (type) {
    case EV_DISTANCE: {
        double walked = rng_range(&s->rng, 100, 112);
        p->total_distance += walked;
        p->x += walked * cos(p->yaw * M_PI / 180);
        p->y += walked * sin(p->yaw * M_PI / 180);
        p->yaw = fmod(p->yaw + rng_range(&s->rng, -30, 30) + 360, 360);
        put_num(o, "distance", p->total_distance);
        put_envelope(o, s, "distance");
        put_num(o, "walked", walked);
        put_player(o, "player", p);
        put_num(o, "total_distance", p->total_distance);
        put_num(o, "delta_distance", walked);
        break;
    }
    case EV_WEAPON_CHANGE: {
        unsigned old = p->weapon;
        p->weapon = rng_below(&s->rng, NWEAPONS);
        put_str(o, NULL, "old_weapon", weapons[old].name);
        put_envelope(o, s, "weapon_change");
        put_player(o, "player", p);
        put_str(o, NULL, "new_weapon", weapons[p->weapon].name);
        break;
    }
    case EV_JUMP:
        put_player(o, "player", p);
        put_envelope(o, s, "jump");
        put_num(o, "jump_height", 56);
        break;
    case EV_CROUCH:
        p->crouched = true;
        put_envelope(o, s, "crouch");
        put_player(o, "player", p);
        break;
    case EV_SPAWN:
        p->crouched = false;
        p->x = rng_range(&s->rng, -3000, 3000);
        p->y = rng_range(&s->rng, -3000, 3000);
        put_player(o, "player", p);
        put_envelope(o, s, "player_spawn");
        break;
    default: {
        /* Mostly a kill between players; a few self-kills, and world kills without an attacker block. */
        sim_player *victim = &s->players[rng_below(&s->rng, s->nplayers)];
        double r = rng_unit(&s->rng);
        put_str(o, NULL, "hitloc", hitlocs[rng_below(&s->rng, NHITLOCS)]);
        put_player(o, "victim", victim);
        put_envelope(o, s, "player_kill");
        if (r < 0.02) {
            put_str(o, NULL, "weapon", "world");
            put_str(o, NULL, "mod", "falling");
        } else {
            const sim_player *attacker = r < 0.05 ? victim : p;
            put_player(o, "attacker", attacker);
            put_str(o, NULL, "weapon", weapons[attacker->weapon].name);
            put_str(o, NULL, "mod", weapons[attacker->weapon].mod);
        }
        put_fixed3(o, NULL, "damage", rng_range(&s->rng, 20, 200));
        victim->crouched = false;
        break;
    }
    }
    ch_buf_append(&s->queue, "}", 1);
    s->queued++;
    return type == EV_KILL || s->queued >= MAX_BATCH_EVENTS;
}

/* ---- prepared requests ------------------------------------------------------------------------------------- */

typedef struct {
    unsigned server, nevents;
    char *req; /* the whole HTTP request: head then body */
    size_t req_len, body_off;
} bench_batch;

typedef struct {
    char host[256], port[16], hostport[280], path[512];
    struct sockaddr_storage addr;
} target;

/* Parse http://host[:port][/prefix] and resolve host once. */
static void parse_target(const char *url, target *t)
{
    memset(t, 0, sizeof *t);
    if (strncmp(url, "http://", 7) != 0) {
        fprintf(stderr, "ingest_bench: --url must start with http:// (got %s)\n", url);
        exit(2);
    }
    const char *h = url + 7, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    snprintf(t->hostport, sizeof t->hostport, "%.*s", (int)hl, h);
    const char *colon = memrchr(h, ':', hl);
    if (colon && !memchr(colon, ']', hl - (size_t)(colon - h))) {
        snprintf(t->host, sizeof t->host, "%.*s", (int)(colon - h), h);
        snprintf(t->port, sizeof t->port, "%.*s", (int)(hl - (size_t)(colon - h) - 1), colon + 1);
    } else {
        snprintf(t->host, sizeof t->host, "%.*s", (int)hl, h);
        snprintf(t->port, sizeof t->port, "80");
    }
    if (t->host[0] == '[') { /* [::1] */
        memmove(t->host, t->host + 1, strlen(t->host));
        t->host[strcspn(t->host, "]")] = '\0';
    }
    const char *prefix = slash ? slash : "";
    size_t pl = strlen(prefix);
    while (pl && prefix[pl - 1] == '/')
        pl--;
    if (pl >= strlen(INGEST_PATH) && strcmp(prefix + pl - strlen(INGEST_PATH), INGEST_PATH) == 0)
        snprintf(t->path, sizeof t->path, "%.*s", (int)pl, prefix);
    else
        snprintf(t->path, sizeof t->path, "%.*s%s", (int)pl, prefix, INGEST_PATH);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(t->host, t->port, &hints, &res);
    if (rc) {
        fprintf(stderr, "ingest_bench: cannot resolve %s: %s\n", t->host, gai_strerror(rc));
        exit(1);
    }
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
}

/* Close s's queued batch into a prepared request, as the tracker's flush_queue does. */
static void flush_batch(sim_server *s, unsigned index, const target *t, bool close_mode, bench_batch **v, size_t *n,
                        size_t *cap)
{
    if (!s->queued)
        return;
    ch_buf_append(&s->queue, "]", 1);
    char head[1024];
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\nContent-Type: application/json\r\n"
                      "X-Server-Token: %s\r\nContent-Length: %zu\r\n%s\r\n",
                      t->path, t->hostport, s->token, s->queue.len, close_mode ? "Connection: close\r\n" : "");
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4096;
        *v = realloc(*v, *cap * sizeof **v);
        if (!*v)
            abort();
    }
    bench_batch *bb = &(*v)[(*n)++];
    bb->server = index;
    bb->nevents = s->queued;
    bb->req_len = (size_t)hl + s->queue.len;
    bb->body_off = (size_t)hl;
    bb->req = malloc(bb->req_len);
    if (!bb->req)
        abort();
    memcpy(bb->req, head, (size_t)hl);
    memcpy(bb->req + hl, s->queue.data, s->queue.len);
    s->queue.len = 0;
    s->queued = 0;
}

/* Generate the whole load: events round-robin over the servers, each server batching like the tracker;
 * leftovers flushed at the end like its 2 s timer would. */
static bench_batch *generate(sim_server *servers, unsigned nservers, const options *o, const target *t,
                             size_t *nbatches)
{
    bench_batch *v = NULL;
    size_t n = 0, cap = 0;
    for (unsigned i = 0; i < nservers; i++)
        server_init(&servers[i], i, o->seed);
    for (uint64_t e = 0; e < o->events; e++) {
        unsigned i = (unsigned)(e % nservers);
        if (server_queue_event(&servers[i]))
            flush_batch(&servers[i], i, t, o->close_mode, &v, &n, &cap);
    }
    for (unsigned i = 0; i < nservers; i++)
        flush_batch(&servers[i], i, t, o->close_mode, &v, &n, &cap);
    /* Each server's batches in order, so that a worker sends them one after the other. */
    for (size_t k = 0; k < n; k++)
        servers[v[k].server].nbatches++;
    for (unsigned i = 0; i < nservers; i++) {
        servers[i].batches = malloc((servers[i].nbatches + 1) * sizeof(unsigned));
        if (!servers[i].batches)
            abort();
        servers[i].nbatches = 0;
        ch_buf_free(&servers[i].queue);
    }
    for (size_t k = 0; k < n; k++) {
        sim_server *s = &servers[v[k].server];
        s->batches[s->nbatches++] = (unsigned)k;
    }
    *nbatches = n;
    return v;
}

/* ---- the HTTP load ----------------------------------------------------------------------------------------- */

typedef struct bench bench;

/* One request in flight at a time, like the engine's single curl worker, for the servers index, index + C,
 * index + 2C, ... in turn. A request is over when its answer is parsed and its write has completed (libuv
 * owns write_req until then). */
typedef struct {
    bench *b;
    unsigned index, nmine, next_mine;
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_write_t write_req;
    llhttp_t parser;
    bool handle_live, connected, closing, finished, queued_idle;
    bool writing, answered, failed;
    const char *fail_reason;
    const bench_batch *cur;
    uint64_t t_start;
    char resp_body[256];
    size_t resp_len;
    char rbuf[16384];
} worker;

typedef struct {
    uint32_t *v;
    size_t n, cap;
} u32_vec;

/* Per request, for --latency-log: when it started (us after the first) and what it got. */
typedef struct {
    uint64_t start_us;
    uint32_t latency_us, status;
} request_log;

typedef struct {
    uint64_t requests, ok, non2xx, transport_errors, events_ok, events_processed, processed_mismatch;
    uint64_t bytes_sent, body_bytes_sent;
    unsigned status_count[600];
    u32_vec lat_us, lag_us;
    uint64_t t_first, t_last;
    request_log *log;
    size_t nlog, log_cap;
} load_stats;

struct bench {
    const options *o;
    uv_loop_t *loop;
    target tgt;
    sim_server *servers;
    unsigned nservers;
    bench_batch *batches;
    size_t nbatches;
    worker *workers;
    unsigned nworkers, active;
    llhttp_settings_t settings;
    uv_timer_t pace, deadline;
    bool pacing, stopping;
    uint64_t t0, events_started;
    worker **idle; /* ring of workers waiting for the pace timer (each at most once) */
    size_t idle_head, idle_tail;
    load_stats st;
};

static void worker_next(worker *w);

static void push_u32(u32_vec *v, uint64_t x)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 4096;
        v->v = realloc(v->v, v->cap * sizeof *v->v);
        if (!v->v)
            abort();
    }
    v->v[v->n++] = x > UINT32_MAX ? UINT32_MAX : (uint32_t)x;
}

/* The next batch of one of w's servers, rotating among them; NULL when they have sent everything. */
static const bench_batch *worker_peek(const worker *w)
{
    const bench *b = w->b;
    for (unsigned k = 0; k < w->nmine; k++) {
        const sim_server *s = &b->servers[w->index + ((w->next_mine + k) % w->nmine) * b->nworkers];
        if (s->next_batch < s->nbatches)
            return &b->batches[s->batches[s->next_batch]];
    }
    return NULL;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    worker *w = p->data;
    size_t room = sizeof w->resp_body - 1 - w->resp_len;
    if (len > room)
        len = room;
    memcpy(w->resp_body + w->resp_len, at, len);
    w->resp_len += len;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    worker *w = p->data;
    w->answered = true;
    return HPE_PAUSED; /* one answer per request: anything after it is not ours */
}

/* Closing finished: the worker may go on with a fresh connection. */
static void on_closed(uv_handle_t *h)
{
    worker *w = h->data;
    w->handle_live = w->connected = w->closing = false;
    if (!w->finished && !w->cur)
        worker_next(w);
}

static void worker_close(worker *w)
{
    if (w->handle_live && !w->closing) {
        w->closing = true;
        w->connected = false;
        uv_close((uv_handle_t *)&w->tcp, on_closed);
    }
}

/* Count the request that is over (answered, or failed: why says how), then reuse or close the connection. */
static void request_done(worker *w)
{
    bench *b = w->b;
    load_stats *st = &b->st;
    uint64_t now = uv_hrtime();
    st->requests++;
    st->t_last = now;
    push_u32(&st->lat_us, (now - w->t_start) / 1000);
    if (b->o->latency_log) {
        if (st->nlog == st->log_cap) {
            st->log_cap = st->log_cap ? st->log_cap * 2 : 4096;
            st->log = realloc(st->log, st->log_cap * sizeof *st->log);
            if (!st->log)
                abort();
        }
        st->log[st->nlog++] = (request_log){(w->t_start - st->t_first) / 1000, (uint32_t)((now - w->t_start) / 1000),
                                            w->answered ? w->parser.status_code : 0};
    }
    bool keep = false;
    if (w->answered) {
        unsigned status = w->parser.status_code;
        if (status < 600)
            st->status_count[status]++;
        w->resp_body[w->resp_len] = '\0';
        if (status >= 200 && status < 300) {
            st->ok++;
            st->events_ok += w->cur->nevents;
            const char *pr = strstr(w->resp_body, "\"processed\":");
            unsigned long processed = pr ? strtoul(pr + 12, NULL, 10) : 0;
            st->events_processed += processed;
            if (processed != w->cur->nevents)
                st->processed_mismatch++;
        } else {
            st->non2xx++;
            if (st->non2xx <= 3)
                fprintf(stderr, "ingest_bench: HTTP %u: %.200s\n", status, w->resp_body);
        }
        keep = !b->o->close_mode && llhttp_should_keep_alive(&w->parser);
    } else {
        st->transport_errors++;
        if (st->transport_errors <= 3)
            fprintf(stderr, "ingest_bench: request failed: %s\n", w->fail_reason ? w->fail_reason : "?");
    }
    w->cur = NULL;
    if (!keep && w->handle_live)
        worker_close(w); /* on_closed goes on */
    else
        worker_next(w);
}

/* The request is over once answered (or failed) and no write is pending. */
static void request_maybe_done(worker *w)
{
    if (w->cur && !w->writing && (w->answered || w->failed))
        request_done(w);
}

static void request_fail(worker *w, const char *why)
{
    if (!w->cur || w->answered || w->failed)
        return;
    w->failed = true;
    w->fail_reason = why;
    worker_close(w); /* also cancels a pending write */
    request_maybe_done(w);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    worker *w = h->data;
    *buf = uv_buf_init(w->rbuf, sizeof w->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    worker *w = s->data;
    if (!w->cur || w->answered || w->failed) {
        if (nread < 0)
            worker_close(w); /* the server closed an idle keep-alive connection */
        return;
    }
    if (nread > 0) {
        llhttp_errno_t err = llhttp_execute(&w->parser, buf->base, (size_t)nread);
        if (w->answered)
            request_maybe_done(w);
        else if (err != HPE_OK)
            request_fail(w, llhttp_errno_name(err));
    } else if (nread == UV_EOF) {
        llhttp_finish(&w->parser); /* completes an answer whose body ends with the connection */
        if (w->answered) {
            worker_close(w);
            request_maybe_done(w);
        } else {
            request_fail(w, "the connection closed before a full answer");
        }
    } else if (nread < 0) {
        request_fail(w, uv_strerror((int)nread));
    }
}

static void on_write(uv_write_t *req, int status)
{
    worker *w = req->data;
    w->writing = false;
    if (status < 0)
        request_fail(w, uv_strerror(status));
    request_maybe_done(w);
}

static void send_request(worker *w)
{
    llhttp_init(&w->parser, HTTP_RESPONSE, &w->b->settings);
    w->parser.data = w;
    uv_buf_t buf = uv_buf_init(w->cur->req, (unsigned)w->cur->req_len);
    w->write_req.data = w;
    w->b->st.bytes_sent += w->cur->req_len;
    w->b->st.body_bytes_sent += w->cur->req_len - w->cur->body_off;
    int rc = uv_write(&w->write_req, (uv_stream_t *)&w->tcp, &buf, 1, on_write);
    if (rc)
        request_fail(w, uv_strerror(rc));
    else
        w->writing = true;
}

static void on_connect(uv_connect_t *req, int status)
{
    worker *w = req->data;
    if (status < 0) {
        request_fail(w, uv_strerror(status));
        return;
    }
    if (!w->cur || w->failed)
        return;
    w->connected = true;
    uv_tcp_nodelay(&w->tcp, 1);
    uv_read_start((uv_stream_t *)&w->tcp, on_alloc, on_read);
    send_request(w);
}

/* The worker has nothing more to send (or the run is stopping). */
static void worker_finish(worker *w)
{
    bench *b = w->b;
    if (w->finished)
        return;
    w->finished = true;
    worker_close(w);
    if (--b->active == 0) {
        if (b->pacing)
            uv_timer_stop(&b->pace);
        uv_timer_stop(&b->deadline);
    }
}

/* Send bb now; intended is when the pace wanted it sent (0 when not pacing). */
static void worker_send(worker *w, const bench_batch *bb, uint64_t intended)
{
    bench *b = w->b;
    b->servers[bb->server].next_batch++;
    w->next_mine = (bb->server / b->nworkers + 1) % w->nmine;
    w->cur = bb;
    w->answered = w->failed = false;
    w->fail_reason = NULL;
    w->resp_len = 0;
    w->t_start = uv_hrtime();
    if (!b->st.t_first)
        b->st.t_first = w->t_start;
    if (intended)
        push_u32(&b->st.lag_us, w->t_start > intended ? (w->t_start - intended) / 1000 : 0);
    if (w->connected) {
        send_request(w);
        return;
    }
    uv_tcp_init(b->loop, &w->tcp);
    w->tcp.data = w;
    w->handle_live = true;
    w->connect_req.data = w;
    int rc = uv_tcp_connect(&w->connect_req, &w->tcp, (const struct sockaddr *)&b->tgt.addr, on_connect);
    if (rc)
        request_fail(w, uv_strerror(rc));
}

/* The worker is free: send its next batch now, or queue it for the pace timer. */
static void worker_next(worker *w)
{
    bench *b = w->b;
    if (w->finished || w->closing)
        return;
    const bench_batch *bb = worker_peek(w);
    if (!bb || b->stopping) {
        worker_finish(w);
    } else if (!b->pacing) {
        worker_send(w, bb, 0);
    } else if (!w->queued_idle) {
        w->queued_idle = true;
        b->idle[b->idle_tail++ % (b->nworkers + 1)] = w;
    }
}

/* Pace timer (1 ms): let queued workers go while the events started stay within rate x elapsed time. */
static void on_pace(uv_timer_t *t)
{
    bench *b = t->data;
    double allowed = b->o->rate * (double)(uv_hrtime() - b->t0) / 1e9;
    while (b->idle_head != b->idle_tail && (double)b->events_started <= allowed) {
        worker *w = b->idle[b->idle_head++ % (b->nworkers + 1)];
        w->queued_idle = false;
        const bench_batch *bb = worker_peek(w);
        if (!bb || b->stopping) {
            worker_finish(w);
            continue;
        }
        uint64_t intended = b->t0 + (uint64_t)((double)b->events_started / b->o->rate * 1e9);
        b->events_started += bb->nevents;
        worker_send(w, bb, intended);
    }
}

/* --max-seconds: first stop sending; 10 s later, give up on answers still awaited. */
static void on_deadline(uv_timer_t *t)
{
    bench *b = t->data;
    if (!b->stopping) {
        fprintf(stderr, "ingest_bench: --max-seconds reached; no new requests\n");
        b->stopping = true;
        while (b->idle_head != b->idle_tail) {
            worker *w = b->idle[b->idle_head++ % (b->nworkers + 1)];
            w->queued_idle = false;
            worker_finish(w);
        }
        uv_timer_start(&b->deadline, on_deadline, 10000, 0);
        return;
    }
    for (unsigned i = 0; i < b->nworkers; i++)
        request_fail(&b->workers[i], "no answer before --max-seconds");
}

static void run_load(bench *b)
{
    const options *o = b->o;
    b->loop = uv_default_loop();
    llhttp_settings_init(&b->settings);
    b->settings.on_body = on_body;
    b->settings.on_message_complete = on_message_complete;
    b->nworkers = o->connections ? o->connections : b->nservers;
    if (b->nworkers > b->nservers) {
        fprintf(stderr, "ingest_bench: %u connections for %u servers: using %u (one request in flight per server)\n",
                b->nworkers, b->nservers, b->nservers);
        b->nworkers = b->nservers;
    }
    b->workers = calloc(b->nworkers, sizeof *b->workers);
    b->idle = calloc(b->nworkers + 1, sizeof *b->idle);
    if (!b->workers || !b->idle)
        abort();
    b->active = b->nworkers;
    b->pacing = o->rate > 0;
    uv_timer_init(b->loop, &b->deadline);
    b->deadline.data = b;
    uv_timer_start(&b->deadline, on_deadline, (uint64_t)(o->max_seconds * 1000), 0);
    uv_timer_init(b->loop, &b->pace);
    b->pace.data = b;
    b->t0 = uv_hrtime();
    for (unsigned i = 0; i < b->nworkers; i++) {
        worker *w = &b->workers[i];
        w->b = b;
        w->index = i;
        w->nmine = (b->nservers - i + b->nworkers - 1) / b->nworkers;
        w->tcp.data = w;
        worker_next(w);
    }
    if (b->pacing) {
        on_pace(&b->pace);
        uv_timer_start(&b->pace, on_pace, 1, 1);
    }
    uv_run(b->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&b->deadline, NULL);
    uv_close((uv_handle_t *)&b->pace, NULL);
    uv_run(b->loop, UV_RUN_DEFAULT);
}

/* ---- figures ----------------------------------------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    uint32_t p50, p90, p99, max;
    double mean;
} percentiles;

static percentiles percentiles_of(uint32_t *v, size_t n)
{
    percentiles p = {0};
    if (!n)
        return p;
    qsort(v, n, sizeof *v, cmp_u32);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    p.mean = sum / (double)n;
    p.p50 = v[(size_t)(0.50 * (double)(n - 1))];
    p.p90 = v[(size_t)(0.90 * (double)(n - 1))];
    p.p99 = v[(size_t)(0.99 * (double)(n - 1))];
    p.max = v[n - 1];
    return p;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* SQL condition "server_id IN ('a', 'b', ...)" for the simulated servers. */
static char *server_condition(const bench *b)
{
    ch_buf q = {0};
    ch_buf_append(&q, "server_id IN (", 14);
    for (unsigned i = 0; i < b->nservers; i++) {
        if (i)
            ch_buf_append(&q, ", ", 2);
        ch_buf_append_quoted(&q, b->servers[i].id, strlen(b->servers[i].id));
    }
    ch_buf_append(&q, ")", 1);
    return q.data;
}

/* Rows of the simulated servers in raw_events, or -1 with the reason printed. */
static int64_t visible_rows(const char *ch_url, const char *cond)
{
    ch_buf sql = {0};
    ch_buf_appendf(&sql, "SELECT count() FROM raw_events WHERE %s", cond);
    char *out = NULL;
    int rc = ch_query_sync(ch_url, sql.data, &out);
    ch_buf_free(&sql);
    int64_t n = -1;
    if (rc == 0 && out)
        n = strtoll(out, NULL, 10);
    else
        fprintf(stderr, "ingest_bench: counting rows in ClickHouse failed: %s\n", out ? out : "no answer");
    free(out);
    return n;
}

static double seconds_between(uint64_t a, uint64_t b)
{
    return (double)(b - a) / 1e9;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Label field for the JSON lines (plain text expected; quotes and backslashes dropped). */
static void print_label(const char *label)
{
    if (!label)
        return;
    printf("\"label\":\"");
    for (const char *p = label; *p; p++)
        if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
            putchar(*p);
    printf("\",");
}

typedef struct {
    bool ran, complete;
    double events_per_s;
} e2e_result;

/* --latency-log: the requests in the order they ended. */
static void write_latency_log(const char *path, const load_stats *st)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "ingest_bench: cannot write %s: %s\n", path, strerror(errno));
        return;
    }
    fprintf(f, "# start_us latency_us status\n");
    for (size_t i = 0; i < st->nlog; i++)
        fprintf(f, "%" PRIu64 " %u %u\n", st->log[i].start_us, st->log[i].latency_us, st->log[i].status);
    fclose(f);
}

/* The load phase: send everything, then wait for it in ClickHouse; prints the "ingest" line. */
static e2e_result ingest_phase(bench *b)
{
    const options *o = b->o;
    e2e_result res = {0};
    char *cond = server_condition(b);
    int64_t baseline = o->clickhouse ? visible_rows(o->clickhouse, cond) : 0;
    double cpu0 = cpu_seconds();
    run_load(b);
    double cpu_load = cpu_seconds() - cpu0;
    load_stats *st = &b->st;
    if (o->latency_log)
        write_latency_log(o->latency_log, st);

    /* End to end: from the first request sent until every accepted event is in raw_events. Polled, so the
     * figure is late by at most one poll interval. */
    const unsigned poll_ms = 100;
    int64_t visible = -1;
    uint64_t t_visible = 0;
    if (o->clickhouse && baseline >= 0 && st->t_first) {
        res.ran = true;
        uint64_t give_up = uv_hrtime() + (uint64_t)(o->e2e_timeout_s * 1e9);
        for (;;) {
            int64_t n = visible_rows(o->clickhouse, cond);
            uint64_t now = uv_hrtime();
            if (n >= 0)
                visible = n - baseline;
            if (visible >= (int64_t)st->events_ok) {
                t_visible = now;
                res.complete = true;
                break;
            }
            if (now > give_up)
                break;
            sleep_ms(poll_ms);
        }
    }
    free(cond);

    double dur = st->t_last > st->t_first ? seconds_between(st->t_first, st->t_last) : 0;
    percentiles lat = percentiles_of(st->lat_us.v, st->lat_us.n);
    percentiles lag = percentiles_of(st->lag_us.v, st->lag_us.n);
    double rps = dur > 0 ? (double)st->requests / dur : 0, eps = dur > 0 ? (double)st->events_ok / dur : 0;
    if (res.complete)
        res.events_per_s = (double)st->events_ok / seconds_between(st->t_first, t_visible);

    printf("{\"phase\":\"ingest\",");
    print_label(o->label);
    printf("\"mode\":\"%s\",\"url\":\"%s\",\"servers\":%u,\"connections\":%u,\"rate_target\":%.0f,"
           "\"events\":%" PRIu64 ",\"batches\":%zu,\"avg_batch_events\":%.2f,\"avg_body_bytes\":%.0f,",
           o->close_mode ? "close" : "keepalive", o->url, b->nservers, b->nworkers, o->rate, o->events, b->nbatches,
           (double)o->events / (double)b->nbatches,
           st->requests ? (double)st->body_bytes_sent / (double)st->requests : 0);
    printf("\"requests\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"non2xx\":%" PRIu64 ",\"transport_errors\":%" PRIu64
           ",\"processed_mismatch\":%" PRIu64 ",\"statuses\":{",
           st->requests, st->ok, st->non2xx, st->transport_errors, st->processed_mismatch);
    bool first = true;
    for (unsigned s = 0; s < 600; s++)
        if (st->status_count[s]) {
            printf("%s\"%u\":%u", first ? "" : ",", s, st->status_count[s]);
            first = false;
        }
    printf("},\"duration_s\":%.3f,\"requests_per_s\":%.1f,\"events_per_s\":%.1f,\"events_accepted\":%" PRIu64 ",", dur,
           rps, eps, st->events_ok);
    printf("\"latency_us\":{\"p50\":%u,\"p90\":%u,\"p99\":%u,\"max\":%u,\"mean\":%.0f},", lat.p50, lat.p90, lat.p99,
           lat.max, lat.mean);
    if (b->pacing)
        printf("\"schedule_lag_us\":{\"p50\":%u,\"p99\":%u,\"max\":%u},", lag.p50, lag.p99, lag.max);
    printf("\"client_cpu_s\":%.2f,", cpu_load);
    if (res.ran)
        printf("\"e2e\":{\"complete\":%s,\"visible\":%" PRId64 ",\"expected\":%" PRIu64
               ",\"seconds\":%.3f,\"events_per_s\":%.1f,\"drain_s\":%.3f,\"poll_ms\":%u}}\n",
               res.complete ? "true" : "false", visible, st->events_ok,
               res.complete ? seconds_between(st->t_first, t_visible) : 0, res.events_per_s,
               res.complete ? seconds_between(st->t_last, t_visible) : 0, poll_ms);
    else
        printf("\"e2e\":null}\n");
    fflush(stdout);

    fprintf(stderr,
            "ingest %s: %" PRIu64 " events in %zu batches over %u connections, %.1f s: %.0f req/s, %.0f events/s "
            "accepted; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms; %" PRIu64 " non-2xx, %" PRIu64
            " failed; client cpu %.1f s\n",
            o->close_mode ? "close" : "keepalive", st->events_ok, b->nbatches, b->nworkers, dur, rps, eps,
            lat.p50 / 1000.0, lat.p99 / 1000.0, lat.max / 1000.0, st->non2xx, st->transport_errors, cpu_load);
    if (b->pacing)
        fprintf(stderr, "  offered %.0f events/s; schedule lag p99 %.2f ms, max %.2f ms\n", o->rate, lag.p99 / 1000.0,
                lag.max / 1000.0);
    if (res.ran)
        fprintf(stderr, "  end to end: %s, %" PRId64 "/%" PRIu64 " visible, %.0f events/s\n",
                res.complete ? "complete" : "INCOMPLETE", visible, st->events_ok, res.events_per_s);
    return res;
}

/* ---- raw ClickHouse bulk insert ---------------------------------------------------------------------------- */

/* A copy of raw_events without the materialized views that hang off the real one: the insert cost of the
 * table alone, next to the cost of inserting into raw_events with its views (what the writer pays). */
#define BARE_TABLE "bench_raw_events_bare"

typedef struct {
    const ch_buf *rows;
    const size_t *chunk_end; /* byte offset in rows where each INSERT's data ends */
    size_t nchunks, next;
    char sql[2048];
    uint64_t t_start, t_end;
    int err;
} raw_run;

static void on_raw_insert(ch_client *c, int err, long status, const char *body, size_t len, void *arg);

/* Start the next INSERT, or end the run. */
static void raw_insert_next(ch_client *c, raw_run *r)
{
    if (r->next == r->nchunks || r->err) {
        r->t_end = uv_hrtime();
        ch_client_free(c);
        return;
    }
    size_t from = r->next ? r->chunk_end[r->next - 1] : 0, to = r->chunk_end[r->next];
    r->next++;
    int rc = ch_insert(c, r->sql, r->rows->data + from, to - from, on_raw_insert, r);
    if (rc) {
        r->err = rc;
        r->t_end = uv_hrtime();
        ch_client_free(c);
    }
}

static void on_raw_insert(ch_client *c, int err, long status, const char *body, size_t len, void *arg)
{
    raw_run *r = arg;
    if (err) {
        fprintf(stderr, "ingest_bench: raw INSERT failed (HTTP %ld): %.*s\n", status, (int)(len > 300 ? 300 : len),
                body);
        r->err = err;
    }
    raw_insert_next(c, r);
}

/* Run one statement, exiting with ClickHouse's message if it fails. */
static void ch_exec(const char *url, const char *sql)
{
    char *out = NULL;
    if (ch_query_sync(url, sql, &out)) {
        fprintf(stderr, "ingest_bench: ClickHouse refused \"%s\": %s\n", sql, out ? out : "no answer");
        exit(1);
    }
    free(out);
}

/* Sequential INSERTs of the prepared chunks into table; returns rows/s, 0 on failure. */
static double raw_insert_all(const options *o, const char *table, const ch_buf *rows, const size_t *chunk_end,
                             size_t nchunks, uint64_t nrows, double *seconds)
{
    raw_run r = {.rows = rows, .chunk_end = chunk_end, .nchunks = nchunks};
    snprintf(r.sql, sizeof r.sql, "INSERT INTO %s (%s) FORMAT TabSeparated", table, raw_row_columns);
    uv_loop_t *loop = uv_default_loop();
    ch_client *c = ch_client_new(loop, o->clickhouse, 300000);
    if (!c)
        abort();
    r.t_start = uv_hrtime();
    raw_insert_next(c, &r);
    uv_run(loop, UV_RUN_DEFAULT);
    *seconds = seconds_between(r.t_start, r.t_end);
    return r.err || *seconds <= 0 ? 0 : (double)nrows / *seconds;
}

/* Render the rows ingestd renders for every generated batch (with its own code), then time sequential bulk
 * INSERTs of them: into a bare copy of raw_events, then into raw_events itself with its views (the rows are
 * then in raw_events twice: use a throwaway stack). Prints the "raw" line. */
static void raw_phase(bench *b, e2e_result e2e)
{
    const options *o = b->o;
    ch_buf rows = {0};
    size_t *chunk_end = calloc(o->events / o->raw_rows + 2, sizeof *chunk_end), nchunks = 0;
    if (!chunk_end)
        abort();
    uint64_t nrows = 0, in_chunk = 0;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t received_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    for (size_t k = 0; k < b->nbatches; k++) {
        const bench_batch *bb = &b->batches[k];
        batch parsed;
        if (batch_parse(bb->req + bb->body_off, bb->req_len - bb->body_off, &parsed)) {
            fprintf(stderr, "ingest_bench: a generated batch does not parse: %s\n", parsed.error);
            exit(1);
        }
        event_context ctx = {.server_id = b->servers[bb->server].id, .received_ms = received_ms};
        uuid_v4(ctx.batch_id);
        for (size_t i = 0; i < parsed.nevents; i++) {
            event_summary sum;
            if (event_row_render(&parsed, &parsed.events[i], &ctx, &rows, &sum))
                abort();
            nrows++;
            if (++in_chunk == o->raw_rows) {
                chunk_end[nchunks++] = rows.len;
                in_chunk = 0;
            }
        }
        batch_free(&parsed);
    }
    if (in_chunk)
        chunk_end[nchunks++] = rows.len;

    ch_exec(o->clickhouse, "DROP TABLE IF EXISTS " BARE_TABLE);
    ch_exec(o->clickhouse, "CREATE TABLE " BARE_TABLE " AS raw_events");
    double bare_s = 0, views_s = 0;
    double bare_rps = raw_insert_all(o, BARE_TABLE, &rows, chunk_end, nchunks, nrows, &bare_s);
    ch_exec(o->clickhouse, "DROP TABLE IF EXISTS " BARE_TABLE);
    double rps = o->raw_copy_only ? 0 : raw_insert_all(o, "raw_events", &rows, chunk_end, nchunks, nrows, &views_s);

    printf("{\"phase\":\"raw\",");
    print_label(o->label);
    printf("\"rows\":%" PRIu64 ",\"inserts\":%zu,\"rows_per_insert\":%u,\"tsv_bytes\":%zu,", nrows, nchunks,
           o->raw_rows, rows.len);
    if (!o->raw_copy_only)
        printf("\"duration_s\":%.3f,\"rows_per_s\":%.1f,\"mb_per_s\":%.1f,", views_s, rps,
               views_s > 0 ? (double)rows.len / views_s / 1e6 : 0);
    printf("\"bare_table\":{\"duration_s\":%.3f,\"rows_per_s\":%.1f}", bare_s, bare_rps);
    double ref = o->raw_copy_only ? bare_rps : rps;
    if (e2e.complete && ref > 0)
        printf(",\"e2e_events_per_s\":%.1f,\"e2e_ratio\":%.3f", e2e.events_per_s, e2e.events_per_s / ref);
    printf("}\n");
    fflush(stdout);
    fprintf(stderr, "raw: %" PRIu64 " rows (%.0f MB of TSV) in %zu INSERTs: ", nrows, (double)rows.len / 1e6, nchunks);
    if (!o->raw_copy_only)
        fprintf(stderr, "%.0f rows/s into raw_events (with its views), ", rps);
    fprintf(stderr, "%.0f rows/s into a bare copy", bare_rps);
    if (e2e.complete && ref > 0)
        fprintf(stderr, "; end to end / raw = %.3f", e2e.events_per_s / ref);
    fprintf(stderr, "\n");
    ch_buf_free(&rows);
    free(chunk_end);
}

/* --dump: every generated body on its own line (bodies hold no newline: the engine escapes them). */
static void dump_batches(const char *path, const bench *b)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "ingest_bench: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    for (size_t k = 0; k < b->nbatches; k++) {
        const bench_batch *bb = &b->batches[k];
        fprintf(f, "%u\t", bb->server);
        fwrite(bb->req + bb->body_off, 1, bb->req_len - bb->body_off, f);
        fputc('\n', f);
    }
    if (fclose(f)) {
        fprintf(stderr, "ingest_bench: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    options o;
    parse_options(argc, argv, &o);
    bench b = {.o = &o};
    b.nservers = read_servers(o.servers_file, &b.servers);
    if (o.url)
        parse_target(o.url, &b.tgt);
    else
        snprintf(b.tgt.path, sizeof b.tgt.path, INGEST_PATH);
    b.batches = generate(b.servers, b.nservers, &o, &b.tgt, &b.nbatches);

    if (o.dump)
        dump_batches(o.dump, &b);
    e2e_result e2e = {0};
    if (o.url)
        e2e = ingest_phase(&b);
    if (o.raw)
        raw_phase(&b, e2e);

    for (size_t k = 0; k < b.nbatches; k++)
        free(b.batches[k].req);
    free(b.batches);
    for (unsigned i = 0; i < b.nservers; i++) {
        free(b.servers[i].id);
        free(b.servers[i].token);
        free(b.servers[i].batches);
    }
    free(b.servers);
    free(b.workers);
    free(b.idle);
    free(b.st.lat_us.v);
    free(b.st.lag_us.v);
    free(b.st.log);
    return b.st.non2xx || b.st.transport_errors || (e2e.ran && !e2e.complete) ? 1 : 0;
}
