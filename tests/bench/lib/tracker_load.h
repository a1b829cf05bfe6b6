/* Simulated tracker load shared by the ingest benchmarks: game servers and their players, the tracker's JSON
 * events and batches, and the libuv/llhttp client that posts the prepared batches and counts the answers. */
#ifndef MOHSTATS_BENCH_TRACKER_LOAD_H
#define MOHSTATS_BENCH_TRACKER_LOAD_H

#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <llhttp.h>
#include <uv.h>

#include "clickhouse.h"
#include "tracker_events.h"

#define INGEST_PATH "/api/v1/ingest/events"
#define MAX_BATCH_EVENTS 20 /* game.max_batch_size of the tracker */
#define SIM_MAX_ROSTER 64   /* client slots of a server */

/* The program's name, defined by each benchmark: the prefix of its messages. */
extern const char bench_prog[];

/* ---- simulated servers (their events: demo/tracker_events.h) ------------------------------------------------ */

typedef struct {
    char *id, *token;
    rng rng;
    char session[24];
    double level_time;
    sim_player players[SIM_MAX_ROSTER];
    unsigned nplayers;
    uint32_t share, cursor; /* achievd_bench: members of this server: share of them; the next to join */
    double leave_p;         /* achievd_bench: per event, the chance that a member leaves and the next one joins */
    bytebuf queue;          /* the tracker's pending batch: "[" then objects joined by "," */
    unsigned queued;        /* events in queue */
    unsigned *batches, nbatches, next_batch;
} sim_server;

unsigned read_servers(const char *path, sim_server **out);
void server_new_map(sim_server *s);

/* The events of docs/tracker-wire.md §2.3 that the benchmarks send. */
typedef enum { SIM_DISTANCE, SIM_WEAPON_CHANGE, SIM_JUMP, SIM_CROUCH, SIM_SPAWN, SIM_KILL } sim_event;

void sim_move(json_obj *o, sim_server *s, sim_player *p, sim_event kind);
void put_kill(json_obj *o, sim_server *s, const sim_player *victim, const sim_player *attacker);

/* ---- prepared requests -------------------------------------------------------------------------------------- */

typedef struct {
    unsigned server, nevents;
    char *req; /* the whole HTTP request: head then body */
    size_t req_len, body_off;
} bench_batch;

typedef struct {
    char host[256], port[16], hostport[280], path[512];
    struct sockaddr_storage addr;
    socklen_t addrlen;
} target;

void parse_target(const char *url, target *t);
/* An IPv4 address (dotted quad) in host order for bench.source; exits with a message if it is not one. */
uint32_t parse_source(const char *addr);
void make_request(bench_batch *bb, const target *t, const char *token, const char *body, size_t len, bool close_mode);

/* Queue one event on servers[index]; true when the batch must be flushed now. */
typedef bool (*queue_event_fn)(sim_server *s, unsigned index, void *arg);

bench_batch *generate_batches(sim_server *servers, unsigned nservers, uint64_t events, const target *t, bool close_mode,
                              queue_event_fn queue_event, void *arg, size_t *nbatches);

/* ---- the HTTP load ------------------------------------------------------------------------------------------ */

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
    /* set before run_load */
    double rate;          /* events/s offered; 0: as fast as answers come */
    double max_seconds;   /* stop sending after this long */
    unsigned connections; /* 0: one per server */
    bool close_mode;      /* Connection: close on every request (the engine) */
    bool log_requests;    /* keep st.log */
    uint32_t source;      /* IPv4 source of connection 0 in host order, connection i binding source + i /
                             per_source (so each address is a client of its own to the front door's per-address
                             limits); 0: the kernel's */
    unsigned per_source;  /* connections per source address (0 or 1: one each) */
    target tgt;
    sim_server *servers;
    unsigned nservers;
    bench_batch *batches;
    size_t nbatches;
    /* the run */
    uv_loop_t *loop;
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

void run_load(bench *b);
void bench_free(bench *b);

/* ---- figures ------------------------------------------------------------------------------------------------ */

typedef struct {
    uint32_t p50, p90, p99, max;
    double mean;
} percentiles;

percentiles percentiles_of(uint32_t *v, size_t n);
double cpu_seconds(void);
double seconds_between(uint64_t a, uint64_t b);
char *server_condition(const bench *b);
int64_t visible_rows(const char *ch_url, const char *cond);
void print_label(const char *label);

typedef struct {
    bool ran, complete;
    int64_t visible;    /* rows of the run in raw_events when the wait ended (-1: never counted) */
    uint64_t t_visible; /* when they were all there */
    double events_per_s;
    unsigned poll_ms;
} e2e_result;

e2e_result wait_visible(const char *ch_url, const char *cond, int64_t baseline, const load_stats *st, double timeout_s);
void print_statuses(const load_stats *st);
void print_load_tail(const bench *b, const percentiles *lat, const percentiles *lag, double cpu_s,
                     const e2e_result *e2e);
void print_e2e_summary(const e2e_result *e2e, const load_stats *st);

#endif
