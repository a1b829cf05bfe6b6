/* achievd benchmark load generator (tests/bench/achievd_bench.sh): simulated game servers whose players are
 * logged-in forum members post tracker batches to /api/v1/ingest/events, as fast as the answers come or at a
 * given rate; reports the accepted and end-to-end (visible in ClickHouse) event rates like ingest_bench, and,
 * with --probes, the time from ingestd's 202 to achievd's unlock row in MariaDB.
 *
 * The players. --members M distinct members (ids --member-base .. + M - 1) are split between the servers (member
 * i plays on server i mod S only, as a player stays on his server); each server has --roster slots, and players
 * leave and the next members of its share join at a rate chosen so that every member of the share plays during
 * the run; a member who joins spawns (that event is his player_spawn, whatever the mix), so each of them is in at
 * least one event. Every event names the member as the tracker does for a logged-in player: P_guid = P_smf_id = the
 * member id (docs/tracker-wire.md §2.2). --guests F makes that share of the slots guests ("unauth_<slot>").
 *
 * The events (docs/tracker-wire.md §2.3), --mix weights (default kill=40,distance=30,spawn=10,jump=10,
 * weapon_change=10): kills between players of both teams with the attacker's weapon, hit locations and means of
 * death, a few self and world kills; a batch is flushed at a kill or at 20 events, as tracker.scr does. Every
 * request is built before the clock starts, so the timed part of the client only writes prepared bytes.
 *
 * Probes (--probes K --probe-server FILE --mariadb URL): while the load runs (it needs --rate), K batches are
 * sent at even intervals from a server of their own on a connection of their own, each the first kill of a
 * member nobody saw before (--probe-member-base + k), which unlocks first_blood. The time of each 202 is
 * recorded; a thread polls MariaDB every --poll-ms for the first_blood rows of the probe members and records
 * when each appeared (the start of the first query that returned it). Latency = appearance - 202.
 *
 * Prints one JSON line per phase on stdout ("ingest", then "probe"), and a line of prose per phase on stderr. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <llhttp.h>
#include <mysql.h>
#include <uv.h>

#include "bytebuf.h"
#include "lib/tracker_load.h"
#include "mariadb.h"

const char bench_prog[] = "achievd_bench";

static void usage(void)
{
    fprintf(stderr,
            "usage: achievd_bench [options]\n"
            "  --url BASE              ingest endpoint base (front door or ingestd) (required)\n"
            "  --servers FILE          one simulated game server per line: SERVER_ID TOKEN (required)\n"
            "  --events N              events to send (default 200000)\n"
            "  --members M             distinct logged-in members (default 5000)\n"
            "  --member-base B         the first member id (default 1)\n"
            "  --roster R              player slots per server (default 24, at most 64)\n"
            "  --guests F              share of the slots that are guests, 0 to 1 (default 0)\n"
            "  --mix LIST              event weights, NAME=WEIGHT,... of kill, distance, spawn, jump, weapon_change,\n"
            "                          crouch (default kill=40,distance=30,spawn=10,jump=10,weapon_change=10)\n"
            "  --rate EV_PER_S         offered load in events/s; 0 = as fast as answers come (default 0)\n"
            "  --clickhouse URL        wait until the events are visible in raw_events, report the end-to-end rate\n"
            "  --e2e-timeout S         give up waiting for ClickHouse after S seconds (default 120)\n"
            "  --max-seconds S         stop sending after S seconds (default 300)\n"
            "  --seed N                generator seed (default 1)\n"
            "  --label TEXT            copied into the JSON lines\n"
            "  --probes K              probe batches during the load (needs --rate, --probe-server, --mariadb)\n"
            "  --probe-server FILE     SERVER_ID TOKEN of the server that sends the probes\n"
            "  --probe-member-base B   member id of the first probe (default 900000000)\n"
            "  --mariadb URL           the forum's database (mysql://user:password@host:port/db)\n"
            "  --smf-prefix P          the forum's table prefix (default smf_)\n"
            "  --poll-ms MS            MariaDB poll period (default 20)\n"
            "  --probe-timeout S       after the load, wait this long for the last unlocks (default 60)\n");
    exit(2);
}

/* ---- options ---------------------------------------------------------------------------------------------- */

enum { EV_KILL, EV_DISTANCE, EV_SPAWN, EV_JUMP, EV_WEAPON_CHANGE, EV_CROUCH, EV__COUNT };
static const char *const ev_names[EV__COUNT] = {"kill", "distance", "spawn", "jump", "weapon_change", "crouch"};
static const sim_event ev_kinds[EV__COUNT] = {SIM_KILL, SIM_DISTANCE,      SIM_SPAWN,
                                              SIM_JUMP, SIM_WEAPON_CHANGE, SIM_CROUCH};

typedef struct {
    const char *url, *servers_file, *clickhouse, *label, *probe_server, *mariadb, *smf_prefix, *mix;
    uint64_t events;
    uint32_t members, member_base, probe_member_base;
    unsigned roster, probes, poll_ms;
    double guests, rate, e2e_timeout_s, max_seconds, probe_timeout_s;
    uint64_t seed;
    unsigned weights[EV__COUNT];
} options;

/* --mix: NAME=WEIGHT,... into w; exits on an unknown name or when nothing weighs. */
static void parse_mix(const char *s, unsigned w[EV__COUNT])
{
    memset(w, 0, EV__COUNT * sizeof *w);
    char *copy = strdup(s), *save = NULL;
    if (!copy)
        abort();
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        unsigned t = EV__COUNT;
        if (eq) {
            *eq = '\0';
            for (t = 0; t < EV__COUNT && strcmp(ev_names[t], tok) != 0; t++)
                ;
        }
        if (t == EV__COUNT) {
            fprintf(stderr, "achievd_bench: --mix wants NAME=WEIGHT pairs of %s", ev_names[0]);
            for (unsigned k = 1; k < EV__COUNT; k++)
                fprintf(stderr, ", %s", ev_names[k]);
            fprintf(stderr, "\n");
            exit(2);
        }
        w[t] = (unsigned)strtoul(eq + 1, NULL, 10);
    }
    free(copy);
    unsigned sum = 0;
    for (unsigned t = 0; t < EV__COUNT; t++)
        sum += w[t];
    if (sum == 0) {
        fprintf(stderr, "achievd_bench: --mix weighs nothing\n");
        exit(2);
    }
}

/* The command line into o; exits with the usage on a bad one. */
static void parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"servers", required_argument, NULL, 's'},
        {"events", required_argument, NULL, 'n'},
        {"members", required_argument, NULL, 'M'},
        {"member-base", required_argument, NULL, 'B'},
        {"roster", required_argument, NULL, 'R'},
        {"guests", required_argument, NULL, 'G'},
        {"mix", required_argument, NULL, 'X'},
        {"rate", required_argument, NULL, 'r'},
        {"clickhouse", required_argument, NULL, 'C'},
        {"e2e-timeout", required_argument, NULL, 'e'},
        {"max-seconds", required_argument, NULL, 'x'},
        {"seed", required_argument, NULL, 'S'},
        {"label", required_argument, NULL, 'l'},
        {"probes", required_argument, NULL, 'P'},
        {"probe-server", required_argument, NULL, 'p'},
        {"probe-member-base", required_argument, NULL, 'b'},
        {"mariadb", required_argument, NULL, 'm'},
        {"smf-prefix", required_argument, NULL, 'f'},
        {"poll-ms", required_argument, NULL, 'o'},
        {"probe-timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (options){.events = 200000,
                   .members = 5000,
                   .member_base = 1,
                   .roster = 24,
                   .e2e_timeout_s = 120,
                   .max_seconds = 300,
                   .seed = 1,
                   .probe_member_base = 900000000,
                   .smf_prefix = "smf_",
                   .poll_ms = 20,
                   .probe_timeout_s = 60,
                   .mix = "kill=40,distance=30,spawn=10,jump=10,weapon_change=10"};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            o->url = optarg;
            break;
        case 's':
            o->servers_file = optarg;
            break;
        case 'n':
            o->events = strtoull(optarg, NULL, 10);
            break;
        case 'M':
            o->members = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'B':
            o->member_base = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'R':
            o->roster = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'G':
            o->guests = strtod(optarg, NULL);
            break;
        case 'X':
            o->mix = optarg;
            break;
        case 'r':
            o->rate = strtod(optarg, NULL);
            break;
        case 'C':
            o->clickhouse = optarg;
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
        case 'P':
            o->probes = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'p':
            o->probe_server = optarg;
            break;
        case 'b':
            o->probe_member_base = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'm':
            o->mariadb = optarg;
            break;
        case 'f':
            o->smf_prefix = optarg;
            break;
        case 'o':
            o->poll_ms = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 't':
            o->probe_timeout_s = strtod(optarg, NULL);
            break;
        default:
            usage();
        }
    }
    if (optind != argc || !o->url || !o->servers_file || o->events == 0 || o->members == 0 || o->roster == 0 ||
        o->roster > SIM_MAX_ROSTER || o->rate < 0 || o->guests < 0 || o->guests > 1 || o->member_base == 0)
        usage();
    parse_mix(o->mix, o->weights);
    if (o->probes && (!o->probe_server || !o->mariadb || o->rate <= 0 || o->poll_ms == 0)) {
        fprintf(stderr, "achievd_bench: --probes needs --probe-server, --mariadb, --rate and --poll-ms > 0\n");
        exit(2);
    }
    for (const char *c = o->smf_prefix; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_')) {
            fprintf(stderr, "achievd_bench: --smf-prefix must be lowercase letters, digits and _\n");
            exit(2);
        }
}

/* ---- event generator --------------------------------------------------------------------------------------- */

/* Player names; \xNN are single CP1252 bytes (invalid UTF-8), as Latin-1 clients send them. */
static const char *const names[] = {
    "Pvt. Ryan",     "Hans",        "[FR]J\xE9r\xF4me&Co",
    "Sgt.Slaughter", "M\xFCller",   "Fran\xE7ois",
    "=US=Doc",       "Kowalski",    "Tiger",
    "Bj\xF6rn",      "Sniper_Wolf", "Padawan",
    "xXx_K1LL",      "Grandpa",     "Dutch",
    "S\xF8ren",      "Fritz",       "Lt.Dan",
    "Ghost",         "Mad Max",     "Ivan",
};
#define NNAMES (sizeof names / sizeof names[0])

/* Members that appeared in an event (bit per member index). */
typedef struct {
    uint8_t *bits;
    uint32_t n, seen;
} member_set;

/* Note that member appeared in an event. */
static void member_mark(member_set *s, const options *o, uint32_t member)
{
    if (!member || member < o->member_base)
        return;
    uint32_t i = member - o->member_base;
    if (i >= s->n || (s->bits[i / 8] & (1u << (i % 8))))
        return;
    s->bits[i / 8] |= (uint8_t)(1u << (i % 8));
    s->seen++;
}

/* Put the next member of the server's share (or a guest) into slot i, fresh as a player who just connected. */
static void player_join(sim_server *s, unsigned i, unsigned server_index, unsigned nservers, const options *o)
{
    sim_player *p = &s->players[i];
    memset(p, 0, sizeof *p);
    if (s->share && rng_unit(&s->rng) >= o->guests) {
        p->member = o->member_base + server_index + s->cursor * nservers;
        s->cursor = (s->cursor + 1) % s->share;
        snprintf(p->guid, sizeof p->guid, "%" PRIu32, p->member);
        snprintf(p->smf_id, sizeof p->smf_id, "%" PRIu32, p->member);
    } else {
        snprintf(p->guid, sizeof p->guid, "unauth_%u", i);
    }
    snprintf(p->name, sizeof p->name, "%s", names[rng_below(&s->rng, NNAMES)]);
    p->team = i % 2 ? "german" : "american";
    p->x = rng_range(&s->rng, -3000, 3000);
    p->y = rng_range(&s->rng, -3000, 3000);
    p->z = rng_range(&s->rng, -64, 512);
    p->yaw = rng_range(&s->rng, 0, 360);
    p->weapon = rng_below(&s->rng, NWEAPONS);
}

/* The server's share of the members, a full roster, the turnover that lets the whole share play; a new map. */
static void server_init(sim_server *s, unsigned index, unsigned nservers, const options *o)
{
    s->rng.s = (index + 1) * 0x9e3779b97f4a7c15ULL ^ o->seed * 0x100000001b3ULL;
    s->share = o->members > index ? (o->members - index + nservers - 1) / nservers : 0;
    s->cursor = 0;
    s->nplayers = o->roster;
    for (unsigned i = 0; i < s->nplayers; i++)
        player_join(s, i, index, nservers, o);
    /* Every member of the share plays: the roster turns over (share - roster) times 1.25 during the run. */
    double per_server = (double)o->events / nservers;
    s->leave_p = s->share > s->nplayers && per_server > 0 ? 1.25 * (s->share - s->nplayers) / per_server : 0;
    if (s->leave_p > 1)
        s->leave_p = 1;
    server_new_map(s);
}

typedef struct {
    uint64_t by_type[EV__COUNT], member_events, guest_events;
    member_set members;
} gen_stats;

/* What server_queue_event needs besides the server (the argument of generate_batches' callback). */
typedef struct {
    const options *o;
    unsigned nservers;
    gen_stats *gs;
} gen_ctx;

/* Queue one event on s the way tracker.scr does; returns true when the batch must be flushed now (a kill, or
 * 20 events queued). */
static bool server_queue_event(sim_server *s, unsigned index, void *arg)
{
    const gen_ctx *ctx = arg;
    const options *o = ctx->o;
    unsigned nservers = ctx->nservers;
    gen_stats *gs = ctx->gs;
    /* A player leaves and the next member joins: the event is his spawn. */
    int joined = -1;
    if (s->leave_p > 0 && rng_unit(&s->rng) < s->leave_p) {
        joined = (int)rng_below(&s->rng, s->nplayers);
        player_join(s, (unsigned)joined, index, nservers, o);
    }
    unsigned total = 0;
    for (unsigned t = 0; t < EV__COUNT; t++)
        total += o->weights[t];
    unsigned roll = rng_below(&s->rng, total), type = 0;
    while (roll >= o->weights[type])
        roll -= o->weights[type++];
    if (joined >= 0)
        type = EV_SPAWN;
    gs->by_type[type]++;
    s->level_time += 0.05 * (1 + rng_below(&s->rng, 4)); /* frame-quantised at 20 fps */
    if (s->level_time > 1800)
        server_new_map(s);

    bytebuf_append(&s->queue, s->queued ? ",{" : "[{", 2);
    json_obj ob = {&s->queue, true}, *o2 = &ob;
    sim_player *p = &s->players[joined >= 0 ? (unsigned)joined : rng_below(&s->rng, s->nplayers)];
    member_mark(&gs->members, o, p->member);
    if (p->member)
        gs->member_events++;
    else
        gs->guest_events++;
    if (type != EV_KILL) {
        sim_move(o2, s, p, ev_kinds[type]);
    } else {
        /* p kills a player of the other team; a few self-kills, and world kills without an attacker block. */
        unsigned vi = rng_below(&s->rng, s->nplayers);
        if (s->nplayers > 1 && s->players[vi].team == p->team)
            vi = (vi + 1) % s->nplayers;
        sim_player *victim = &s->players[vi];
        member_mark(&gs->members, o, victim->member);
        double r = rng_unit(&s->rng);
        put_kill(o2, s, victim, r < 0.02 ? NULL : r < 0.04 ? victim : p);
        victim->crouched = false;
        victim->x = rng_range(&s->rng, -3000, 3000); /* respawns elsewhere */
        victim->y = rng_range(&s->rng, -3000, 3000);
    }
    bytebuf_append(&s->queue, "}", 1);
    s->queued++;
    return type == EV_KILL || s->queued >= MAX_BATCH_EVENTS;
}

/* ---- prepared requests ------------------------------------------------------------------------------------- */

/* Generate the whole load (generate_batches), counting the members who appear in it. */
static bench_batch *generate(sim_server *servers, unsigned nservers, const options *o, const target *t,
                             size_t *nbatches, gen_stats *gs)
{
    gs->members.n = o->members;
    gs->members.bits = calloc(o->members / 8 + 1, 1);
    if (!gs->members.bits)
        abort();
    for (unsigned i = 0; i < nservers; i++)
        server_init(&servers[i], i, nservers, o);
    gen_ctx ctx = {o, nservers, gs};
    return generate_batches(servers, nservers, o->events, t, false, server_queue_event, &ctx, nbatches);
}

/* ---- probes: 202 -> unlock row in MariaDB ------------------------------------------------------------------ */

typedef struct {
    const options *o;
    const target *tgt;
    bench_batch *req; /* one prepared request per probe */
    uint64_t t0, interval_ns;
    uint64_t *t_ack;          /* monotonic ns of the 202 (0: no 202) */
    uint32_t *ack_us;         /* request time of the probe */
    _Atomic uint64_t *t_seen; /* monotonic ns of the first poll that saw the row (0: not yet) */
    atomic_uint acked, found, polls, poll_errors;
    atomic_ullong poll_us_total;
    atomic_bool stop;
    mdb_conn *db;        /* the poller's connection (opened on the main thread: library initialisation) */
    unsigned late_sends; /* probes sent more than one interval after their time (the probe connection was busy) */
    char poll_error[512];
} probes;

/* CLOCK_MONOTONIC in ns (the probe threads' clock). */
static uint64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/* Sleep until mono_ns() reaches t. */
static void sleep_until(uint64_t t)
{
    struct timespec ts = {(time_t)(t / 1000000000ULL), (long)(t % 1000000000ULL)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* One prepared request per probe: the first kill of a new member, sent by the probe server. */
static void prepare_probes(probes *pr, const options *o, const target *t)
{
    sim_server *ps = NULL;
    read_servers(o->probe_server, &ps);
    pr->req = calloc(o->probes, sizeof *pr->req);
    pr->t_ack = calloc(o->probes, sizeof *pr->t_ack);
    pr->ack_us = calloc(o->probes, sizeof *pr->ack_us);
    pr->t_seen = calloc(o->probes, sizeof *pr->t_seen);
    if (!pr->req || !pr->t_ack || !pr->ack_us || !pr->t_seen)
        abort();
    char session[24];
    snprintf(session, sizeof session, "sess_%016" PRIx64, (uint64_t)o->probe_member_base * 2654435761u + o->seed);
    for (unsigned k = 0; k < o->probes; k++) {
        sim_player a = {.team = "american", .x = 0, .y = 0, .z = 0, .yaw = 0, .weapon = 0};
        sim_player v = {.team = "german", .x = 100, .y = 0, .z = 0, .yaw = 180};
        uint32_t m = o->probe_member_base + k;
        snprintf(a.guid, sizeof a.guid, "%" PRIu32, m);
        snprintf(a.smf_id, sizeof a.smf_id, "%" PRIu32, m);
        snprintf(a.name, sizeof a.name, "Probe %u", k);
        snprintf(v.guid, sizeof v.guid, "unauth_63");
        snprintf(v.name, sizeof v.name, "Target");
        bytebuf body = {0};
        bytebuf_append(&body, "[{", 2);
        json_obj ob = {&body, true};
        put_str(&ob, NULL, "hitloc", "torso_upper");
        put_player(&ob, "victim", &v);
        put_envelope(&ob, session, 10.0 + k, "player_kill");
        put_player(&ob, "attacker", &a);
        put_str(&ob, NULL, "weapon", "Kar98");
        put_str(&ob, NULL, "mod", "bullet");
        put_fixed3(&ob, NULL, "damage", 100);
        bytebuf_append(&body, "}]", 2);
        make_request(&pr->req[k], t, ps[0].token, body.data, body.len, false);
        pr->req[k].nevents = 1;
        bytebuf_free(&body);
    }
    free(ps[0].id);
    free(ps[0].token);
    free(ps);
}

typedef struct {
    bool done;
} probe_http;

/* The probe's answer is complete. */
static int probe_on_complete(llhttp_t *p)
{
    ((probe_http *)p->data)->done = true;
    return HPE_PAUSED;
}

/* A blocking connection to the target (10 s timeouts), or -1. */
static int probe_connect(const target *t)
{
    int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Send probe k on *fd (connecting if needed); returns the HTTP status, 0 on a transport failure. */
static unsigned probe_send(probes *pr, int *fd, unsigned k)
{
    if (*fd < 0 && (*fd = probe_connect(pr->tgt)) < 0)
        return 0;
    const bench_batch *bb = &pr->req[k];
    for (size_t off = 0; off < bb->req_len;) {
        ssize_t n = write(*fd, bb->req + off, bb->req_len - off);
        if (n <= 0) {
            close(*fd);
            *fd = -1;
            return 0;
        }
        off += (size_t)n;
    }
    llhttp_settings_t set;
    llhttp_settings_init(&set);
    set.on_message_complete = probe_on_complete;
    llhttp_t parser;
    llhttp_init(&parser, HTTP_RESPONSE, &set);
    probe_http st = {false};
    parser.data = &st;
    char buf[4096];
    while (!st.done) {
        ssize_t n = read(*fd, buf, sizeof buf);
        if (n <= 0) {
            close(*fd);
            *fd = -1;
            return 0;
        }
        llhttp_errno_t err = llhttp_execute(&parser, buf, (size_t)n);
        if (!st.done && err != HPE_OK) {
            close(*fd);
            *fd = -1;
            return 0;
        }
    }
    unsigned status = parser.status_code;
    if (!llhttp_should_keep_alive(&parser)) {
        close(*fd);
        *fd = -1;
    }
    return status;
}

/* Thread: send the probes at even intervals from pr->t0 and record their 202s. */
static void *probe_sender(void *arg)
{
    probes *pr = arg;
    int fd = -1;
    for (unsigned k = 0; k < pr->o->probes && !atomic_load(&pr->stop); k++) {
        uint64_t when = pr->t0 + (k + 1) * pr->interval_ns;
        uint64_t now = mono_ns();
        if (now < when)
            sleep_until(when);
        else if (now > when + pr->interval_ns)
            pr->late_sends++;
        uint64_t t_send = mono_ns();
        unsigned status = probe_send(pr, &fd, k);
        uint64_t t_ack = mono_ns();
        pr->ack_us[k] = (uint32_t)((t_ack - t_send) / 1000);
        if (status == 202) {
            pr->t_ack[k] = t_ack;
            atomic_fetch_add(&pr->acked, 1);
        } else {
            fprintf(stderr, "achievd_bench: probe %u answered %u\n", k, status);
        }
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* Thread: poll MariaDB for the probes' first_blood rows and record when each appeared. */
static void *probe_poller(void *arg)
{
    probes *pr = arg;
    const options *o = pr->o;
    mysql_thread_init();
    char err[512];
    mdb_conn *c = pr->db;
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT p.id_member FROM %smohaa_player_achievements p JOIN %smohaa_achievement_defs d "
             "ON d.id_achievement = p.id_achievement WHERE d.code = 'first_blood' AND p.id_member BETWEEN %" PRIu32
             " AND %" PRIu32,
             o->smf_prefix, o->smf_prefix, o->probe_member_base, o->probe_member_base + o->probes - 1);
    uint64_t next = mono_ns();
    while (!atomic_load(&pr->stop) && atomic_load(&pr->found) < o->probes) {
        uint64_t tq = mono_ns();
        mdb_result *r = mdb_conn_query(c, sql, 0, NULL, err, sizeof err);
        uint64_t tq_end = mono_ns();
        atomic_fetch_add(&pr->polls, 1);
        atomic_fetch_add(&pr->poll_us_total, (tq_end - tq) / 1000);
        if (!r) {
            if (atomic_fetch_add(&pr->poll_errors, 1) == 0)
                snprintf(pr->poll_error, sizeof pr->poll_error, "%s", err);
        } else {
            for (unsigned long long i = 0; i < r->nrows; i++) {
                const char *cell = mdb_cell(r, i, 0);
                uint32_t k = cell ? (uint32_t)strtoul(cell, NULL, 10) - o->probe_member_base : UINT32_MAX;
                uint64_t zero = 0;
                if (k < o->probes && atomic_compare_exchange_strong(&pr->t_seen[k], &zero, tq))
                    atomic_fetch_add(&pr->found, 1);
            }
            mdb_result_free(r);
        }
        next += (uint64_t)o->poll_ms * 1000000ULL;
        uint64_t now = mono_ns();
        if (next < now)
            next = now;
        sleep_until(next);
    }
    mysql_thread_end();
    return NULL;
}

/* The probe line: 202 -> unlock row. */
static void report_probes(const options *o, probes *pr)
{
    uint32_t *lat = calloc(o->probes + 1, sizeof *lat), *ack = calloc(o->probes + 1, sizeof *ack);
    if (!lat || !ack)
        abort();
    size_t n = 0, na = 0;
    unsigned before_ack = 0;
    for (unsigned k = 0; k < o->probes; k++) {
        if (pr->t_ack[k])
            ack[na++] = pr->ack_us[k];
        uint64_t seen = atomic_load(&pr->t_seen[k]);
        if (!pr->t_ack[k] || !seen)
            continue;
        if (seen < pr->t_ack[k])
            before_ack++;
        lat[n++] = seen > pr->t_ack[k] ? (uint32_t)((seen - pr->t_ack[k]) / 1000) : 0;
    }
    percentiles l = percentiles_of(lat, n), a = percentiles_of(ack, na);
    unsigned polls = atomic_load(&pr->polls);
    printf("{\"phase\":\"probe\",");
    print_label(o->label);
    printf("\"probes\":%u,\"acked\":%u,\"found\":%zu,\"interval_ms\":%.1f,\"late_sends\":%u,"
           "\"poll_ms\":%u,\"polls\":%u,\"poll_errors\":%u,\"poll_query_ms_mean\":%.2f,\"seen_before_202\":%u,",
           o->probes, atomic_load(&pr->acked), n, (double)pr->interval_ns / 1e6, pr->late_sends, o->poll_ms, polls,
           atomic_load(&pr->poll_errors), polls ? (double)atomic_load(&pr->poll_us_total) / polls / 1000 : 0,
           before_ack);
    printf("\"unlock_latency_ms\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f,\"mean\":%.1f},", l.p50 / 1e3,
           l.p90 / 1e3, l.p99 / 1e3, l.max / 1e3, l.mean / 1e3);
    printf("\"probe_request_ms\":{\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f}}\n", a.p50 / 1e3, a.p99 / 1e3, a.max / 1e3);
    fflush(stdout);
    fprintf(stderr,
            "probes: %u sent, %u acknowledged, %zu unlocks found; 202 -> unlock row p50 %.0f ms, p99 %.0f ms, max "
            "%.0f ms (polled every %u ms)\n",
            o->probes, atomic_load(&pr->acked), n, l.p50 / 1e3, l.p99 / 1e3, l.max / 1e3, o->poll_ms);
    if (pr->poll_error[0])
        fprintf(stderr, "achievd_bench: MariaDB poll failed: %s\n", pr->poll_error);
    free(lat);
    free(ack);
}

/* ---- main ------------------------------------------------------------------------------------------------- */

/* The "ingest" line and its summary on stderr. */
static void report_ingest(const options *o, bench *b, const gen_stats *gs, double cpu_load, const e2e_result *e2e)
{
    load_stats *st = &b->st;
    double dur = st->t_last > st->t_first ? seconds_between(st->t_first, st->t_last) : 0;
    percentiles lat = percentiles_of(st->lat_us.v, st->lat_us.n);
    percentiles lag = percentiles_of(st->lag_us.v, st->lag_us.n);
    double eps = dur > 0 ? (double)st->events_ok / dur : 0;
    uint64_t total = 0;
    for (unsigned t = 0; t < EV__COUNT; t++)
        total += gs->by_type[t];

    printf("{\"phase\":\"ingest\",");
    print_label(o->label);
    printf("\"servers\":%u,\"rate_target\":%.0f,\"events\":%" PRIu64 ",\"batches\":%zu,\"avg_batch_events\":%.2f,",
           b->nservers, o->rate, o->events, b->nbatches, (double)o->events / (double)b->nbatches);
    printf("\"members\":%" PRIu32 ",\"member_base\":%" PRIu32 ",\"distinct_members\":%" PRIu32
           ",\"roster\":%u,\"member_event_share\":%.3f,\"mix\":{",
           o->members, o->member_base, gs->members.seen, o->roster,
           total ? (double)gs->member_events / (double)total : 0);
    for (unsigned t = 0; t < EV__COUNT; t++)
        printf("%s\"%s\":%.3f", t ? "," : "", ev_names[t], total ? (double)gs->by_type[t] / (double)total : 0);
    printf("},\"requests\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"non2xx\":%" PRIu64 ",\"transport_errors\":%" PRIu64 ",",
           st->requests, st->ok, st->non2xx, st->transport_errors);
    print_statuses(st);
    printf(",\"duration_s\":%.3f,\"events_per_s\":%.1f,\"events_accepted\":%" PRIu64 ",", dur, eps, st->events_ok);
    print_load_tail(b, &lat, &lag, cpu_load, e2e);
    fprintf(stderr,
            "ingest: %" PRIu64 " events (%" PRIu32 " distinct members) in %zu batches, %.1f s: %.0f events/s "
            "accepted; latency p50 %.2f ms, p99 %.2f ms; %" PRIu64 " non-2xx, %" PRIu64 " failed; client cpu %.1f s\n",
            st->events_ok, gs->members.seen, b->nbatches, dur, eps, lat.p50 / 1000.0, lat.p99 / 1000.0, st->non2xx,
            st->transport_errors, cpu_load);
    print_e2e_summary(e2e, st);
}

int main(int argc, char **argv)
{
    options o;
    parse_options(argc, argv, &o);
    /* One keep-alive connection per server, one request in flight each, like the engine. */
    bench b = {.rate = o.rate, .max_seconds = o.max_seconds};
    b.nservers = read_servers(o.servers_file, &b.servers);
    parse_target(o.url, &b.tgt);
    gen_stats gs = {0};
    b.batches = generate(b.servers, b.nservers, &o, &b.tgt, &b.nbatches, &gs);

    probes pr = {.o = &o, .tgt = &b.tgt};
    pthread_t sender, poller;
    if (o.probes) {
        prepare_probes(&pr, &o, &b.tgt);
        char err[512];
        if (!(pr.db = mdb_conn_open(o.mariadb, err, sizeof err))) {
            fprintf(stderr, "achievd_bench: --mariadb: %s\n", err);
            return 1;
        }
        pr.interval_ns = (uint64_t)((double)o.events / o.rate / (o.probes + 1) * 1e9);
    }

    char *cond = server_condition(&b);
    int64_t baseline = o.clickhouse ? visible_rows(o.clickhouse, cond) : 0;
    double cpu0 = cpu_seconds();
    if (o.probes) {
        pr.t0 = mono_ns();
        if (pthread_create(&poller, NULL, probe_poller, &pr) || pthread_create(&sender, NULL, probe_sender, &pr)) {
            fprintf(stderr, "achievd_bench: cannot start the probe threads\n");
            return 1;
        }
    }
    run_load(&b);
    double cpu_load = cpu_seconds() - cpu0;
    e2e_result e2e = wait_visible(o.clickhouse, cond, baseline, &b.st, o.e2e_timeout_s);
    free(cond);
    report_ingest(&o, &b, &gs, cpu_load, &e2e);

    bool probes_ok = true;
    if (o.probes) {
        pthread_join(sender, NULL);
        uint64_t give_up = mono_ns() + (uint64_t)(o.probe_timeout_s * 1e9);
        while (atomic_load(&pr.found) < atomic_load(&pr.acked) && mono_ns() < give_up && !pr.poll_error[0])
            usleep(20000);
        atomic_store(&pr.stop, true);
        pthread_join(poller, NULL);
        mdb_conn_close(pr.db);
        report_probes(&o, &pr);
        probes_ok = atomic_load(&pr.acked) == o.probes && atomic_load(&pr.found) == o.probes;
        for (unsigned k = 0; k < o.probes; k++)
            free(pr.req[k].req);
        free(pr.req);
        free(pr.t_ack);
        free(pr.ack_us);
        free((void *)pr.t_seen);
    }

    int rc = b.st.non2xx || b.st.transport_errors || (e2e.ran && !e2e.complete) || !probes_ok ? 1 : 0;
    bench_free(&b);
    free(gs.members.bits);
    return rc;
}
