/* The ingest endpoint: token -> server, body -> rows, rows -> stream (or spool) -> 202. */
#include "ingest_api.h"

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch_parse.h"
#include "client_ip.h"
#include "event_row.h"
#include "hashmap.h"
#include "log.h"
#include "metrics.h"
#include "parse_worker.h"
#include "random.h"
#include "rate_limit.h"
#include "registration.h"
#include "stream.h"
#include "unverified_bodies.h"

/* Bodies from this size on are parsed on libuv's threadpool. A tracker batch (20 events at most) is a few KB and
 * parses in tens of microseconds, less than the hop to a thread and back; a 1 MiB body takes 2-8 ms, which every
 * other connection would wait for on the loop (tests/bench/ingest_flood_bench.sh). */
#define PARSE_OFF_LOOP_BYTES (64 * 1024)
/* Parses on threads at once: two cores' worth, leaving libuv's other two threads to token lookups and the spool. */
#define PARSE_THREADS 2
/* Batches whose rendered rows reach this size are appended on the bulk lane, the rest on the normal one. A
 * tracker batch (20 events at most, 750 bytes each once rendered: event_row_bench on ingest_bench's batches) stays
 * under 16 KB; the flood bench's maximal bodies (500 events, 1 MiB) render to 1.6-2.1 MB, and at most 8 MB. */
#define BULK_LANE_ROWS_BYTES (32 * 1024)

typedef struct ingest_request ingest_request;

/* Why requests are refused: counted in /metrics, and logged at most once a second each, with how many more there
 * were, so that a flood of refused requests cannot fill the disk with log lines. */
typedef struct {
    metric *count;
    const char *name; /* the metric's reason label, also given to other transports (ingest_done_fn) */
    log_throttle log;
} reject_reason;

struct ingest_api {
    parse_pool *parses;
    server_auth *auth;
    server_activity *activity;
    /* The two lanes to the stream: two Redis connections (see append_lane_for). */
    redis_client *redis, *bulk_redis;
    hashmap *lane_holds; /* server_id -> lane_hold, for the servers with XADDs in flight */
    spool *spool;
    live_state *live;
    char *stream_key;
    ingest_limits limits;
    uint64_t append_failures, append_failure_logged_ms;
    rate_limit *bad_tokens;        /* per address: guessing tokens is slowed down before it reaches PostgreSQL */
    rate_limit *budgets;           /* per server: bytes of bodies (NULL: no limit); see budget_refusal */
    rate_limit *large;             /* the large bodies of all servers, under one key (NULL: no limit) */
    unverified_bodies *unverified; /* bodies whose token is not known yet: see ingest_admit */
    geoip *geo;                    /* players' countries, from the addresses connect events carry (NULL: none) */
    metric *events_accepted, *batches_accepted, *batches_spooled, *batches_already_stored, *latency;
    metric *parsed_on_loop, *parsed_on_thread; /* where bodies were parsed: large ones must never be on the loop */
    reject_reason rej_missing_token, rej_invalid_token, rej_registry, rej_bad_body, rej_storage, rej_guessing;
    reject_reason rej_too_large, rej_over_budget, rej_unverified_full;
    /* Batches being parsed off the loop, each with its server's later batches waiting behind it: a server's
     * batches are rendered and appended in the order they arrived, whichever of them went to a thread. As many
     * as there are connections busy with a large body, so a list. */
    ingest_request *off_loop;
};

/* The lane a server's XADDs in flight were sent on, and how many there are: its next batch must follow them. */
typedef struct {
    redis_client *lane;
    unsigned in_flight;
} lane_hold;

/* One request between its arrival and its answer. */
struct ingest_request {
    ingest_api *api;
    http_request *req;
    char server_id[64];
    char limit_key[CLIENT_LIMIT_KEY_LEN]; /* what invalid tokens are counted under: the sender's address or /64 */
    batch parsed;
    event_summary *summaries;
    bytebuf rows;
    stream_batch sb;
    redis_client *lane; /* the connection its XADD went on, while it is in flight */
    uint64_t received_ms;
    uint64_t unverified; /* its body's charge in api->unverified until its token is resolved, or 0 */
    parse_work parse;
    ingest_request *next_off_loop; /* in api->off_loop */
    ingest_request *behind;        /* the next batch of the same server, waiting for this one to be parsed */
    /* The body and when it arrived: the HTTP request's, or a copy owned here (another transport: req is NULL). */
    const char *body;
    size_t body_len;
    char *owned_body;
    uint64_t start_ns;
    /* Another transport's batch (req NULL): who sent it, for the log, and whom to tell how it ended. */
    char origin[80];
    uint8_t given_batch_id[16]; /* its transport's batch id, if has_batch_id */
    bool has_batch_id;
    ingest_done_fn done;
    void *done_arg;
};

/* Wall-clock time in milliseconds: the receive time stored with every event. */
static uint64_t wall_ms(void)
{
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static void ingest_request_free(ingest_request *ir)
{
    unverified_bodies_release(ir->api->unverified, ir->unverified);
    batch_free(&ir->parsed);
    free(ir->summaries);
    bytebuf_free(&ir->rows);
    free(ir->owned_body);
    free(ir);
}

/* Count a refusal by reason and say why in the log (never the token): at most a line a second per reason, with
 * how many were not logged since the last line. */
static void reason_note(reject_reason *reason, const char *ip, const char *server_id, int status, const char *message)
{
    metric_inc(reason->count);
    uint64_t skipped;
    if (!log_throttle_pass(&reason->log, uv_hrtime() / 1000000, &skipped))
        return;
    char more[64] = "";
    if (skipped)
        snprintf(more, sizeof more, " (and %llu more like it since the last line)", (unsigned long long)skipped);
    log_warn("rejected batch from %s%s%s: %d %s%s", ip, server_id[0] ? " server " : "", server_id, status, message,
             more);
}

/* Answer a rejected request, count it by reason, and say why in the log. */
static void reject(ingest_request *ir, reject_reason *reason, int status, const char *message)
{
    if (ir->req) {
        reason_note(reason, client_ip(ir->req), ir->server_id, status, message);
        http_respond_error(ir->req, status, message);
    } else {
        reason_note(reason, ir->origin, ir->server_id, status, message);
        ir->done(status, reason->name, message, ir->done_arg);
    }
    ingest_request_free(ir);
}

/* Answer 202 for a batch of nevents events that is stored (or was empty). */
static void answer_stored(ingest_request *ir, uint32_t nevents)
{
    if (!ir->req) {
        ir->done(202, NULL, "accepted", ir->done_arg);
        return;
    }
    char body[64];
    int n = snprintf(body, sizeof body, "{\"status\":\"accepted\",\"processed\":%u}", nevents);
    http_respond(ir->req, 202, "application/json", body, (size_t)n);
}

/* The batch is durable: account it in the live state and answer 202. */
static void accepted(ingest_request *ir, bool spooled)
{
    ingest_api *api = ir->api;
    live_server *s = live_state_server(api->live, ir->server_id);
    if (s)
        for (size_t i = 0; i < ir->sb.nevents; i++)
            live_server_observe(s, &ir->summaries[i], ir->received_ms);
    server_activity_batch_accepted(api->activity, ir->server_id);
    metric_add(api->events_accepted, ir->sb.nevents);
    metric_inc(spooled ? api->batches_spooled : api->batches_accepted);
    metric_observe(api->latency, (double)(uv_hrtime() - ir->start_ns) / 1e9);
    answer_stored(ir, ir->sb.nevents);
    ingest_request_free(ir);
}

/* The spool fsync'd the batch (or failed). */
static void on_spooled(int err, void *arg)
{
    ingest_request *ir = arg;
    if (err == -ENOSPC) {
        /* The spool logs this once; a line per batch would flood the log for as long as Redis is away. */
        reject(ir, &ir->api->rej_storage, 503,
               "Could not store the batch: the stream is unreachable and the spool is full; "
               "try again");
        return;
    }
    if (err) {
        log_error("batch %s could not be stored in Redis nor in the spool: %s", ir->sb.batch_id, uv_strerror(err));
        reject(ir, &ir->api->rej_storage, 503, "Could not store the batch; try again");
        return;
    }
    accepted(ir, true);
}

/* Redis is unreachable or failed: keep the batch in the local spool instead. */
static void spool_batch(ingest_request *ir)
{
    int rc = spool_append(ir->api->spool, &ir->sb, on_spooled, ir);
    if (rc != 0)
        on_spooled(rc, ir);
}

/* Which connection ir's batch is appended on. Redis runs the commands of one connection in the order they were
 * sent, and interleaves connections: with one connection, a tracker's batch of a few KB waited behind every
 * maximal body pipelined before it, each XADD fsynced in turn (appendfsync always, and the 202 only after it):
 * 0.5 s under a flood of 20 clients (tests/bench/ingest_flood_bench.sh). Large batches go on a connection of their
 * own, so that a small one waits at most for the one large XADD Redis is running and the fsync it shares.
 *
 * A server's batches must reach the stream in the order they were rendered (the writer and achievd read them in
 * stream order; ingest_batch keeps the render order). Across two connections Redis gives no order, so while a
 * server has XADDs in flight on one lane, its next batch goes on that lane too, whatever its size; a lane that is
 * not connected means the spool, as with one connection. Returns NULL for the spool. */
static redis_client *append_lane_for(ingest_request *ir)
{
    ingest_api *api = ir->api;
    const lane_hold *h = hashmap_get(api->lane_holds, ir->server_id, strlen(ir->server_id));
    redis_client *lane = h                                         ? h->lane
                         : ir->sb.rows_len < BULK_LANE_ROWS_BYTES  ? api->redis
                         : redis_client_connected(api->bulk_redis) ? api->bulk_redis
                                                                   : api->redis;
    return redis_client_connected(lane) ? lane : NULL;
}

/* ir's XADD was queued on lane: the server's next batches follow it there until it is answered. */
static int lane_hold_take(ingest_request *ir, redis_client *lane)
{
    ingest_api *api = ir->api;
    size_t len = strlen(ir->server_id);
    lane_hold *h = hashmap_get(api->lane_holds, ir->server_id, len);
    if (!h) {
        if (!(h = calloc(1, sizeof *h)) || hashmap_put(api->lane_holds, ir->server_id, len, h, NULL) != 0) {
            free(h);
            return -ENOMEM;
        }
        h->lane = lane;
    }
    h->in_flight++;
    ir->lane = lane;
    return 0;
}

/* ir's XADD was answered (or lost): the server's hold on its lane ends with its last XADD in flight. */
static void lane_release(ingest_request *ir)
{
    if (!ir->lane)
        return;
    ir->lane = NULL;
    size_t len = strlen(ir->server_id);
    lane_hold *h = hashmap_get(ir->api->lane_holds, ir->server_id, len);
    if (h && --h->in_flight == 0)
        free(hashmap_remove(ir->api->lane_holds, ir->server_id, len));
}

static void on_xadd(redis_client *c, struct redisReply *reply, const char *err, void *arg);

/* Queue the XADD of ir's batch on its lane, or spool it. */
static void append_batch(ingest_request *ir)
{
    redis_client *lane = append_lane_for(ir);
    if (!lane || lane_hold_take(ir, lane) != 0) {
        spool_batch(ir);
        return;
    }
    if (stream_append(lane, ir->api->stream_key, &ir->sb, on_xadd, ir) != 0) {
        lane_release(ir);
        spool_batch(ir);
    }
}

/* Redis answered the XADD. Only a stream entry id means the batch is stored (AOF, fsync always). */
static void on_xadd(redis_client *c, struct redisReply *reply, const char *err, void *arg)
{
    ingest_request *ir = arg;
    (void)c;
    lane_release(ir);
    stream_append_outcome outcome = stream_append_result(reply);
    if (outcome != STREAM_NOT_APPENDED) {
        if (outcome == STREAM_WAS_STORED)
            metric_inc(ir->api->batches_already_stored);
        accepted(ir, false);
        return;
    }
    /* With no reply the outcome is unknown (the entry may have landed): the batch is spooled flagged as a
     * possible duplicate, and the writer checks ClickHouse for it. An error reply means Redis did not run the
     * XADD, and a batch never sent is not in the stream either: those are spooled unflagged (unless their
     * transport flagged them: an MQTT redelivery). During an outage every batch lands here: one log line per
     * second at most, with the count. */
    ingest_api *api = ir->api;
    ir->sb.maybe_duplicate |= !reply || reply->type != REDIS_REPLY_ERROR;
    api->append_failures++;
    uint64_t now = uv_hrtime() / 1000000;
    if (now - api->append_failure_logged_ms >= 1000) {
        log_warn("stream append failed (%s); spooling: %llu batches so far",
                 reply && reply->type == REDIS_REPLY_ERROR ? reply->str : (err ? err : "no reply"),
                 (unsigned long long)api->append_failures);
        api->append_failure_logged_ms = now;
    }
    spool_batch(ir);
}

/* Where a login's guest_countries looks: the events of its batch rendered before it (a connect and the login may
 * share a batch), then the server's live state. */
typedef struct {
    const ingest_request *ir;
    size_t rendered;
    live_server *s;
} guest_lookup;

static bool guest_country(void *arg, const char *name, size_t name_len, char out[3])
{
    const guest_lookup *g = arg;
    static const char guest[] = "unauth_";
    for (size_t i = g->rendered; i-- > 0;) {
        const event_summary *e = &g->ir->summaries[i];
        if (e->actor_country[0] && e->actor_name.n == name_len && memcmp(e->actor_name.p, name, name_len) == 0 &&
            e->actor_guid.n >= sizeof guest - 1 && memcmp(e->actor_guid.p, guest, sizeof guest - 1) == 0) {
            memcpy(out, e->actor_country, 3);
            return true;
        }
    }
    return g->s && live_server_guest_country(g->s, name, name_len, out);
}

/* Enrich and render the batch of an authenticated server, parsed with result rc, then store it. On the loop's
 * thread: the sessions' maps that rendering reads and updates belong to the live state. */
static void ingest_parsed(ingest_request *ir, int rc)
{
    ingest_api *api = ir->api;
    if (rc == -E2BIG) {
        reject(ir, &api->rej_too_large, 413, ir->parsed.error);
        return;
    }
    if (rc) {
        reject(ir, &api->rej_bad_body, rc == -ENOMEM ? 503 : 400, ir->parsed.error);
        return;
    }
    if (ir->parsed.nevents == 0) {
        answer_stored(ir, 0);
        ingest_request_free(ir);
        return;
    }
    live_server *s = live_state_server(api->live, ir->server_id);
    guest_lookup guests = {.ir = ir, .s = s};
    event_context ctx = {.server_id = ir->server_id,
                         .received_ms = ir->received_ms,
                         .geo = api->geo,
                         .guests = {guest_country, &guests}};
    if (s)
        ctx.maps = live_server_session_maps(s);
    if (ir->has_batch_id)
        memcpy(ctx.batch_id, ir->given_batch_id, sizeof ctx.batch_id);
    else
        uuid_v4(ctx.batch_id);
    uuid_format(ctx.batch_id, ir->sb.batch_id);
    ir->summaries = calloc(ir->parsed.nevents, sizeof *ir->summaries);
    if (!ir->summaries) {
        reject(ir, &api->rej_storage, 503, "Out of memory; try again");
        return;
    }
    for (size_t i = 0; i < ir->parsed.nevents; i++) {
        size_t before = ir->rows.len;
        guests.rendered = i;
        if (event_row_render(&ir->parsed, &ir->parsed.events[i], &ctx, &ir->rows, &ir->summaries[i])) {
            reject(ir, &api->rej_storage, 503, "Out of memory; try again");
            return;
        }
        /* A row is stored in Redis (fsynced), then ClickHouse: what an event may cost there is bounded too. */
        if (ir->rows.len - before > api->limits.max_event_bytes) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "Event %zu too large: %zu bytes once stored, at most %zu (INGEST_MAX_EVENT_BYTES)", i + 1,
                     ir->rows.len - before, api->limits.max_event_bytes);
            reject(ir, &api->rej_too_large, 413, msg);
            return;
        }
    }
    ir->sb.server_id = ir->server_id;
    ir->sb.nevents = (uint32_t)ir->parsed.nevents;
    ir->sb.rows = ir->rows.data;
    ir->sb.rows_len = ir->rows.len;
    append_batch(ir);
}

static void ingest_parse(ingest_request *ir);

/* The server's place in api->off_loop, if it has one: the batch its new batches must wait behind. */
static ingest_request *off_loop_find(ingest_api *api, const char *server_id)
{
    for (ingest_request *o = api->off_loop; o; o = o->next_off_loop)
        if (strcmp(o->server_id, server_id) == 0)
            return o;
    return NULL;
}

static void off_loop_add(ingest_request *ir)
{
    ir->next_off_loop = ir->api->off_loop;
    ir->api->off_loop = ir;
}

/* Take ir out of api->off_loop. */
static void off_loop_remove(ingest_request *ir)
{
    for (ingest_request **o = &ir->api->off_loop; *o; o = &(*o)->next_off_loop)
        if (*o == ir) {
            *o = ir->next_off_loop;
            break;
        }
    ir->next_off_loop = NULL;
}

/* Go on with ir, parsed with result rc, then with the batches that waited behind it. While ir is rendered and
 * answered, the next of them holds the server's place in api->off_loop: a batch arriving meanwhile (a pipelined
 * one, dispatched from within ir's answer) must queue behind it, not overtake it. */
static void ingest_handoff(ingest_request *ir, int rc)
{
    ingest_request *next = ir->behind;
    ir->behind = NULL;
    if (next)
        off_loop_add(next);
    ingest_parsed(ir, rc); /* may free ir */
    if (next) {
        off_loop_remove(next);
        ingest_parse(next);
    }
}

/* ir's large body was parsed on a thread. */
static void on_parsed_off_loop(int rc, void *arg)
{
    ingest_request *ir = arg;
    metric_inc(ir->api->parsed_on_thread);
    off_loop_remove(ir);
    ingest_handoff(ir, rc);
}

/* Parse ir's batch and go on with it, then with the batches of its server waiting behind it (ir->behind...), in
 * order. A large body goes to a thread, and the server's later batches wait until it is back. */
static void ingest_parse(ingest_request *ir)
{
    ingest_api *api = ir->api;
    const char *body = ir->body;
    size_t len = ir->body_len;
    if (len >= PARSE_OFF_LOOP_BYTES) {
        off_loop_add(ir);
        parse_work_start(api->parses, &ir->parse, body, len, api->limits.max_events, &ir->parsed, on_parsed_off_loop,
                         ir);
        return;
    }
    metric_inc(api->parsed_on_loop);
    ingest_handoff(ir, batch_parse_max(body, len, api->limits.max_events, &ir->parsed));
}

/* A batch of an authenticated server: parsed now, or after the batches of the same server ahead of it. */
static void ingest_batch(ingest_request *ir)
{
    ingest_request *last = off_loop_find(ir->api, ir->server_id);
    if (!last) {
        ingest_parse(ir);
        return;
    }
    while (last->behind)
        last = last->behind;
    last->behind = ir;
}

/* Whether a body of len bytes falls under the budget of large bodies (there is one, and it is that large). */
static bool large_body(const ingest_api *api, size_t len)
{
    return api->large && len >= api->limits.large_body_bytes;
}

/* Whether a body of len bytes from server_id must wait because the server, or the large bodies of all servers, are
 * over their budget of bytes: 0, or 429 with a message (of size bytes) and the seconds to wait in retry (in
 * milliseconds in *retry_ms_out).
 *
 * Why budgets: one maximal body is bounded (INGEST_MAX_EVENTS, INGEST_MAX_EVENT_BYTES), but senders of such bodies
 * back to back are not. Twenty of them put 30-40 MB/s of rows into the stream (fsynced), ClickHouse and achievd on a
 * 2-core machine, and every other server's batches waited a second or more for their 202
 * (tests/bench/ingest_flood_bench.sh). The stock tracker sends at most 20 events per request, one request at a
 * time, each request a few KB: a full 64-player server sends about 100 KB/s at most (`distance`, ~430 bytes, comes
 * ~2-3 times a second from each moving player). So each server has a budget well above that
 * (INGEST_SERVER_BYTES_PER_S), and bodies larger than the stock tracker ever sends share one more budget among all
 * servers (INGEST_LARGE_BYTES_PER_S): with twenty servers, twenty per-server budgets would still be more than the
 * pipeline can carry beside everyone else's batches. */
static int budget_refusal(ingest_api *api, const char *server_id, size_t len, uint64_t now, char *message, size_t size,
                          char retry[24], uint64_t *retry_ms_out)
{
    const ingest_limits *l = &api->limits;
    uint64_t retry_ms = 0;
    char what[200];
    if (api->budgets && rate_limit_owes(api->budgets, server_id, now, &retry_ms)) {
        snprintf(what, sizeof what, "Server over its budget of %zu bytes a second (INGEST_SERVER_BYTES_PER_S)",
                 l->server_bytes_per_s);
    } else if (large_body(api, len) && rate_limit_owes(api->large, "", now, &retry_ms)) {
        snprintf(what, sizeof what,
                 "Large bodies (%zu bytes or more) of all servers over their budget of %zu bytes a second "
                 "(INGEST_LARGE_BYTES_PER_S)",
                 l->large_body_bytes, l->large_bytes_per_s);
    } else {
        return 0;
    }
    snprintf(retry, 24, "%llu", (unsigned long long)(retry_ms + 999) / 1000);
    snprintf(message, size, "%s; retry after %s s", what, retry);
    *retry_ms_out = retry_ms ? retry_ms : 1;
    return 429;
}

uint64_t ingest_api_budget_wait_ms(ingest_api *api, const char *server_id, size_t len)
{
    char message[256], retry[24];
    uint64_t retry_ms = 0;
    if (len > api->limits.max_body_bytes) /* refused for good (413), whatever the budgets say */
        return 0;
    budget_refusal(api, server_id, len, uv_hrtime() / 1000000, message, sizeof message, retry, &retry_ms);
    return retry_ms;
}

uint64_t ingest_api_budget_drain_ms(const ingest_api *api, size_t bytes)
{
    size_t rate = api->budgets ? api->limits.server_bytes_per_s : 0;
    return rate ? (uint64_t)((double)bytes * 1000.0 / (double)rate) : 0;
}

/* Whether ir must wait (budget_refusal); if so ir is answered 429 with Retry-After, otherwise its body is charged to
 * the budgets. The charge is the body as received, before it is parsed, so that a refused body costs no parse, no
 * Redis and no ClickHouse. */
static bool over_budget(ingest_request *ir)
{
    ingest_api *api = ir->api;
    size_t len = ir->body_len;
    uint64_t now = uv_hrtime() / 1000000;
    char message[256], retry[24];
    uint64_t retry_ms;
    int status = budget_refusal(api, ir->server_id, len, now, message, sizeof message, retry, &retry_ms);
    if (status) {
        if (ir->req)
            http_response_header(ir->req, "Retry-After", retry);
        reject(ir, &api->rej_over_budget, status, message);
        return true;
    }
    if (api->budgets)
        rate_limit_charge(api->budgets, ir->server_id, now, (double)len);
    if (large_body(api, len))
        rate_limit_charge(api->large, "", now, (double)len);
    return false;
}

/* The token of a request from its headers, else from its query (as server_auth_token finds it), into buf (size
 * bytes) if it comes from the query: NULL if it has none; a token too long for buf is returned as "" (no token is
 * that long). */
static const char *admission_token(http_request *req, char *buf, size_t size)
{
    const char *t = server_auth_header_token(req);
    if (t)
        return t;
    long n = http_request_admission_query(req, "server_token", buf, size);
    if (n != -1 && !server_auth_query_token_plain(http_request_admission_query_string(req)))
        return NULL; /* as server_auth_token sees it: no token, 401 before the body */
    return n > 0 ? buf : n == -2 ? "" : NULL;
}

/* What a body announced with its headers will take: its Content-Length, or for a chunked one the most it may be. */
static size_t announced_length(http_request *req, const ingest_api *api)
{
    const char *length = http_request_header(req, "Content-Length");
    return length ? (size_t)strtoull(length, NULL, 10) : api->limits.max_body_bytes;
}

/* Refuse, before its body is read, a request whose answer is known from its headers: a missing or malformed token
 * (401, as after the lookup; a malformed one counts as a guess), an address guessing tokens (429), a known server
 * over a budget (429, see budget_refusal). Reading those bodies (1 MiB each at most, a buffer reserved from the
 * Content-Length) would cost their bytes for an answer already decided; nginx streams bodies to us, so a refusal
 * here also spares nginx passing them on.
 *
 * A well-formed token the registry never confirmed may still be a server's (it is asked once the body is in, as the
 * lookup is asynchronous): such bodies share INGEST_UNVERIFIED_BODY_BYTES, held from now until their token is
 * resolved (on_auth), a quarter of it at most from one address; beyond either, 503 with Retry-After. A server whose
 * token was confirmed once since ingestd started never waits for it, even when the confirmation is older than
 * SERVER_TOKEN_CACHE_MS (the lookup after the body still catches a revoked token): senders holding that bound full
 * (from four addresses at least) delay only servers new since the start. */
static int ingest_admit(http_request *req, void *arg, char *message, size_t size)
{
    ingest_api *api = arg;
    uint64_t now = uv_hrtime() / 1000000;
    char query_token[128];
    const char *token = admission_token(req, query_token, sizeof query_token);
    char limit_key[CLIENT_LIMIT_KEY_LEN];
    client_limit_key(client_ip(req), limit_key);
    int status = 0;
    reject_reason *reason = NULL;
    if (!rate_limit_allows(api->bad_tokens, limit_key, now)) {
        status = 429, reason = &api->rej_guessing;
        snprintf(message, size, "Too many invalid server tokens from this address; wait a minute");
    } else if (!token) {
        status = 401, reason = &api->rej_missing_token;
        snprintf(message, size, "Missing server token");
    } else if (!registration_token_well_formed(token)) {
        rate_limit_take(api->bad_tokens, limit_key, now);
        status = 401, reason = &api->rej_invalid_token;
        snprintf(message, size, "Invalid server token");
    }
    if (status) {
        reason_note(reason, client_ip(req), "", status, message);
        return status;
    }
    const char *server_id = server_auth_known(api->auth, token);
    size_t len = announced_length(req, api);
    if (!server_id) {
        uint64_t id = unverified_bodies_take(api->unverified, limit_key, len, now);
        if (!id) {
            snprintf(message, size,
                     "Too many bodies from servers whose token is not checked yet, from this address or in all "
                     "(INGEST_UNVERIFIED_BODY_BYTES); retry in a second");
            http_response_header(req, "Retry-After", "1");
            reason_note(&api->rej_unverified_full, client_ip(req), "", 503, message);
            return 503;
        }
        http_request_set_data(req, (void *)(uintptr_t)id);
        return 0;
    }
    char retry[24];
    uint64_t retry_ms;
    status = budget_refusal(api, server_id, len, now, message, size, retry, &retry_ms);
    if (status) {
        http_response_header(req, "Retry-After", retry);
        reason_note(&api->rej_over_budget, client_ip(req), server_id, status, message);
    }
    return status;
}

/* The token was resolved. */
static void on_auth(server_auth_result result, const char *server_id, void *arg)
{
    ingest_request *ir = arg;
    unverified_bodies_release(ir->api->unverified, ir->unverified);
    ir->unverified = 0;
    switch (result) {
    case SERVER_AUTH_OK:
        snprintf(ir->server_id, sizeof ir->server_id, "%s", server_id);
        if (!over_budget(ir))
            ingest_batch(ir);
        return;
    case SERVER_AUTH_MISSING:
        reject(ir, &ir->api->rej_missing_token, 401, "Missing server token");
        return;
    case SERVER_AUTH_INVALID:
        rate_limit_take(ir->api->bad_tokens, ir->limit_key, uv_hrtime() / 1000000);
        reject(ir, &ir->api->rej_invalid_token, 401, "Invalid server token");
        return;
    default:
        reject(ir, &ir->api->rej_registry, 503, "Server registry unavailable; try again shortly");
        return;
    }
}

/* POST /api/v1/ingest/events */
static void ingest_handler(http_request *req, void *arg)
{
    ingest_api *api = arg;
    ingest_request *ir = calloc(1, sizeof *ir);
    if (!ir) {
        http_respond_error(req, 503, "Out of memory; try again");
        return;
    }
    ir->api = api;
    ir->req = req;
    ir->body = http_request_body(req, &ir->body_len);
    ir->start_ns = http_request_start_ns(req);
    ir->received_ms = wall_ms();
    ir->unverified = (uint64_t)(uintptr_t)http_request_data(req);
    client_limit_key(client_ip(req), ir->limit_key);
    if (!rate_limit_allows(api->bad_tokens, ir->limit_key, uv_hrtime() / 1000000)) {
        reject(ir, &api->rej_guessing, 429, "Too many invalid server tokens from this address; wait a minute");
        return;
    }
    server_auth_check(api->auth, server_auth_token(req), on_auth, ir);
}

/* Count refusals for reason name under mohstats_ingest_rejected_total{reason=name}. */
static void reason_init(reject_reason *r, const char *name)
{
    char label[96];
    snprintf(label, sizeof label, "reason=\"%s\"", name);
    r->name = name;
    r->count = metrics_counter("mohstats_ingest_rejected_total",
                               "Ingest batches rejected (HTTP requests and MQTT messages), by reason", label);
}

int ingest_api_submit(ingest_api *api, const char *server_id, const ingest_submission *how, const char *body,
                      size_t len, ingest_done_fn done, void *arg)
{
    ingest_request *ir = calloc(1, sizeof *ir);
    if (!ir || !(ir->owned_body = malloc(len + 1))) {
        free(ir);
        return -ENOMEM;
    }
    memcpy(ir->owned_body, body, len);
    ir->owned_body[len] = '\0';
    ir->api = api;
    ir->body = ir->owned_body;
    ir->body_len = len;
    ir->start_ns = uv_hrtime();
    ir->received_ms = wall_ms();
    ir->done = done;
    ir->done_arg = arg;
    snprintf(ir->server_id, sizeof ir->server_id, "%s", server_id);
    snprintf(ir->origin, sizeof ir->origin, "%s", how->origin);
    if (how->batch_id) {
        memcpy(ir->given_batch_id, how->batch_id, sizeof ir->given_batch_id);
        ir->has_batch_id = true;
    }
    ir->sb.maybe_duplicate = how->maybe_duplicate;
    ir->sb.dedupe_ttl_s = how->dedupe_ttl_s;
    /* The bound of an HTTP body (1 MiB): a broker may carry far larger messages. */
    if (len > api->limits.max_body_bytes) {
        char msg[160];
        snprintf(msg, sizeof msg, "Body too large: %zu bytes, at most %zu", len, api->limits.max_body_bytes);
        reject(ir, &api->rej_too_large, 413, msg);
        return 0;
    }
    if (!over_budget(ir))
        ingest_batch(ir);
    return 0;
}

ingest_api *ingest_api_new(uv_loop_t *loop, http_server *http, server_auth *auth, server_activity *activity,
                           redis_client *redis, redis_client *bulk_redis, spool *sp, live_state *live,
                           const char *stream_key, const ingest_limits *limits)
{
    ingest_api *api = calloc(1, sizeof *api);
    if (!api || !(api->stream_key = strdup(stream_key))) {
        free(api);
        return NULL;
    }
    if (!(api->parses = parse_pool_new(loop, PARSE_THREADS)) || !(api->lane_holds = hashmap_new())) {
        parse_pool_free(api->parses);
        free(api->stream_key);
        free(api);
        return NULL;
    }
    api->auth = auth;
    api->activity = activity;
    api->redis = redis;
    api->bulk_redis = bulk_redis;
    api->spool = sp;
    api->live = live;
    api->limits = *limits;
    api->geo = geoip_open_configured();
    reason_init(&api->rej_missing_token, "missing_token");
    reason_init(&api->rej_invalid_token, "invalid_token");
    reason_init(&api->rej_registry, "registry_unavailable");
    reason_init(&api->rej_bad_body, "malformed_body");
    reason_init(&api->rej_storage, "storage_unavailable");
    reason_init(&api->rej_guessing, "too_many_invalid_tokens");
    reason_init(&api->rej_too_large, "too_large");
    reason_init(&api->rej_over_budget, "over_budget");
    reason_init(&api->rej_unverified_full, "unverified_bodies_full");
    /* A game server whose token was replaced fails a few times before it re-registers; guessing fails
     * thousands of times. */
    api->bad_tokens = rate_limit_new(30, 30);
    if (limits->server_bytes_per_s)
        api->budgets = rate_limit_new(60.0 * (double)limits->server_bytes_per_s, (double)limits->server_burst_bytes);
    /* At once: one maximal body (1 MiB). */
    if (limits->large_bytes_per_s)
        api->large = rate_limit_new(60.0 * (double)limits->large_bytes_per_s, 1024.0 * 1024);
    /* A quarter per address: one address cannot take it all, and still has room for two maximal bodies. */
    api->unverified = unverified_bodies_new(limits->unverified_body_bytes, limits->unverified_body_bytes / 4,
                                            limits->unverified_hold_ms);
    if (!api->bad_tokens || !api->unverified || (limits->server_bytes_per_s && !api->budgets) ||
        (limits->large_bytes_per_s && !api->large)) {
        rate_limit_free(api->bad_tokens);
        rate_limit_free(api->budgets);
        rate_limit_free(api->large);
        unverified_bodies_free(api->unverified);
        geoip_close(api->geo);
        hashmap_free(api->lane_holds, NULL);
        parse_pool_free(api->parses);
        free(api->stream_key);
        free(api);
        return NULL;
    }
    api->events_accepted = metrics_counter("mohstats_ingest_events_accepted_total", "Events accepted", NULL);
    api->batches_accepted = metrics_counter("mohstats_ingest_batches_accepted_total",
                                            "Batches accepted, by where they were stored", "store=\"stream\"");
    api->batches_spooled = metrics_counter("mohstats_ingest_batches_accepted_total",
                                           "Batches accepted, by where they were stored", "store=\"spool\"");
    api->batches_already_stored =
        metrics_counter(STREAM_ALREADY_STORED_METRIC, STREAM_ALREADY_STORED_HELP, "when=\"append\"");
    const char *parsed = "Batches parsed, by where: on the event loop (small bodies) or on a thread (large ones)";
    api->parsed_on_loop = metrics_counter("mohstats_ingest_parses_total", parsed, "where=\"loop\"");
    api->parsed_on_thread = metrics_counter("mohstats_ingest_parses_total", parsed, "where=\"thread\"");
    api->latency = metrics_histogram("mohstats_ingest_request_seconds", "Time from request to 202", NULL,
                                     metrics_latency_buckets, metrics_latency_nbuckets);
    http_server_route_admit(http, "POST", "/api/v1/ingest/events", ingest_handler, ingest_admit, api);
    return api;
}

void ingest_api_free(ingest_api *api)
{
    if (!api)
        return;
    rate_limit_free(api->bad_tokens);
    rate_limit_free(api->budgets);
    rate_limit_free(api->large);
    unverified_bodies_free(api->unverified);
    geoip_close(api->geo);
    hashmap_free(api->lane_holds, free);
    parse_pool_free(api->parses);
    free(api->stream_key);
    free(api);
}
