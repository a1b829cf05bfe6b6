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
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "batch_parse.h"
#include "clickhouse.h"
#include "event_row.h"
#include "lib/tracker_load.h"
#include "random.h"

#define MAX_PLAYERS 32

const char bench_prog[] = "ingest_bench";

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
            "  --source ADDR         connection i comes from IPv4 address ADDR + i (default: the kernel's choice)\n"
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
    const char *url, *servers_file, *clickhouse, *label, *latency_log, *dump, *source;
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
        {"source", required_argument, NULL, 'a'},
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
        case 'a':
            o->source = optarg;
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

/* ---- event generator --------------------------------------------------------------------------------------- */

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

enum {
    EV_DISTANCE = SIM_DISTANCE,
    EV_WEAPON_CHANGE = SIM_WEAPON_CHANGE,
    EV_JUMP = SIM_JUMP,
    EV_CROUCH = SIM_CROUCH,
    EV_SPAWN = SIM_SPAWN,
    EV_KILL = SIM_KILL,
    EV__COUNT
};

/* The event mix of a running server (docs/tracker-wire.md §2.3): movement dominates, kills flush alone. */
static const unsigned event_weights[EV__COUNT] = {70, 8, 6, 5, 5, 6};

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
static bool server_queue_event(sim_server *s, unsigned index, void *arg)
{
    unsigned roll = rng_below(&s->rng, 100), type = 0;
    while (roll >= event_weights[type])
        roll -= event_weights[type++];
    s->level_time += 0.05 * (1 + rng_below(&s->rng, 4)); /* frame-quantised at 20 fps */
    if (s->level_time > 1800)
        server_new_map(s);

    bytebuf_append(&s->queue, s->queued ? ",{" : "[{", 2);
    json_obj ob = {&s->queue, true}, *o = &ob;
    sim_player *p = &s->players[rng_below(&s->rng, s->nplayers)];
    if (type != EV_KILL) {
        sim_move(o, s, p, type);
    } else {
        /* Mostly a kill between players; a few self-kills, and world kills without an attacker block. */
        sim_player *victim = &s->players[rng_below(&s->rng, s->nplayers)];
        double r = rng_unit(&s->rng);
        put_kill(o, s, victim, r < 0.02 ? NULL : r < 0.05 ? victim : p);
        victim->crouched = false;
    }
    bytebuf_append(&s->queue, "}", 1);
    s->queued++;
    return type == EV_KILL || s->queued >= MAX_BATCH_EVENTS;
}

/* ---- prepared requests ------------------------------------------------------------------------------------- */

/* Generate the whole load (generate_batches): every server starts from the seed. */
static bench_batch *generate(sim_server *servers, unsigned nservers, const options *o, const target *t,
                             size_t *nbatches)
{
    for (unsigned i = 0; i < nservers; i++)
        server_init(&servers[i], i, o->seed);
    return generate_batches(servers, nservers, o->events, t, o->close_mode, server_queue_event, NULL, nbatches);
}

/* ---- figures ----------------------------------------------------------------------------------------------- */

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
static e2e_result ingest_phase(const options *o, bench *b)
{
    char *cond = server_condition(b);
    int64_t baseline = o->clickhouse ? visible_rows(o->clickhouse, cond) : 0;
    double cpu0 = cpu_seconds();
    run_load(b);
    double cpu_load = cpu_seconds() - cpu0;
    load_stats *st = &b->st;
    if (o->latency_log)
        write_latency_log(o->latency_log, st);
    e2e_result res = wait_visible(o->clickhouse, cond, baseline, st, o->e2e_timeout_s);
    free(cond);

    double dur = st->t_last > st->t_first ? seconds_between(st->t_first, st->t_last) : 0;
    percentiles lat = percentiles_of(st->lat_us.v, st->lat_us.n);
    percentiles lag = percentiles_of(st->lag_us.v, st->lag_us.n);
    double rps = dur > 0 ? (double)st->requests / dur : 0, eps = dur > 0 ? (double)st->events_ok / dur : 0;

    printf("{\"phase\":\"ingest\",");
    print_label(o->label);
    printf("\"mode\":\"%s\",\"url\":\"%s\",\"servers\":%u,\"connections\":%u,\"rate_target\":%.0f,"
           "\"events\":%" PRIu64 ",\"batches\":%zu,\"avg_batch_events\":%.2f,\"avg_body_bytes\":%.0f,",
           o->close_mode ? "close" : "keepalive", o->url, b->nservers, b->nworkers, o->rate, o->events, b->nbatches,
           (double)o->events / (double)b->nbatches,
           st->requests ? (double)st->body_bytes_sent / (double)st->requests : 0);
    printf("\"requests\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"non2xx\":%" PRIu64 ",\"transport_errors\":%" PRIu64
           ",\"processed_mismatch\":%" PRIu64 ",",
           st->requests, st->ok, st->non2xx, st->transport_errors, st->processed_mismatch);
    print_statuses(st);
    printf(",\"duration_s\":%.3f,\"requests_per_s\":%.1f,\"events_per_s\":%.1f,\"events_accepted\":%" PRIu64 ",", dur,
           rps, eps, st->events_ok);
    print_load_tail(b, &lat, &lag, cpu_load, &res);

    fprintf(stderr,
            "ingest %s: %" PRIu64 " events in %zu batches over %u connections, %.1f s: %.0f req/s, %.0f events/s "
            "accepted; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms; %" PRIu64 " non-2xx, %" PRIu64
            " failed; client cpu %.1f s\n",
            o->close_mode ? "close" : "keepalive", st->events_ok, b->nbatches, b->nworkers, dur, rps, eps,
            lat.p50 / 1000.0, lat.p99 / 1000.0, lat.max / 1000.0, st->non2xx, st->transport_errors, cpu_load);
    if (b->pacing)
        fprintf(stderr, "  offered %.0f events/s; schedule lag p99 %.2f ms, max %.2f ms\n", o->rate, lag.p99 / 1000.0,
                lag.max / 1000.0);
    print_e2e_summary(&res, st);
    return res;
}
/* ---- raw ClickHouse bulk insert ---------------------------------------------------------------------------- */

/* A copy of raw_events without the materialized views that hang off the real one: the insert cost of the
 * table alone, next to the cost of inserting into raw_events with its views (what the writer pays). */
#define BARE_TABLE "bench_raw_events_bare"

typedef struct {
    const bytebuf *rows;
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
static double raw_insert_all(const options *o, const char *table, const bytebuf *rows, const size_t *chunk_end,
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
static void raw_phase(const options *o, bench *b, e2e_result e2e)
{
    bytebuf rows = {0};
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
    bytebuf_free(&rows);
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
    bench b = {.rate = o.rate,
               .max_seconds = o.max_seconds,
               .connections = o.connections,
               .close_mode = o.close_mode,
               .log_requests = o.latency_log != NULL};
    b.nservers = read_servers(o.servers_file, &b.servers);
    if (o.url)
        parse_target(o.url, &b.tgt);
    if (o.source)
        b.source = parse_source(o.source);
    else
        snprintf(b.tgt.path, sizeof b.tgt.path, INGEST_PATH);
    b.batches = generate(b.servers, b.nservers, &o, &b.tgt, &b.nbatches);

    if (o.dump)
        dump_batches(o.dump, &b);
    e2e_result e2e = {0};
    if (o.url)
        e2e = ingest_phase(&o, &b);
    if (o.raw)
        raw_phase(&o, &b, e2e);

    int rc = b.st.non2xx || b.st.transport_errors || (e2e.ran && !e2e.complete) ? 1 : 0;
    bench_free(&b);
    return rc;
}
