/* Simulated tracker load shared by the ingest benchmarks (see tracker_load.h); built once as bench_support, which
 * they link, since tests/CMakeLists.txt makes a program of every .c in tests/bench itself. */
#include "tracker_load.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <time.h>

/* ---- event generator (the events themselves: demo/tracker_events.c) ---------------------------------------- */

/* Read SERVER_ID TOKEN lines; returns the count or exits with a message. */
unsigned read_servers(const char *path, sim_server **out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: cannot open %s: %s\n", bench_prog, path, strerror(errno));
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
        fprintf(stderr, "%s: %s holds no 'SERVER_ID TOKEN' line\n", bench_prog, path);
        exit(1);
    }
    *out = v;
    return n;
}

/* A new map: new session id, level time from zero, everybody respawns standing. */
void server_new_map(sim_server *s)
{
    snprintf(s->session, sizeof s->session, "sess_%016" PRIx64, rng_next(&s->rng));
    s->level_time = rng_range(&s->rng, 1, 30);
    for (unsigned i = 0; i < s->nplayers; i++) {
        s->players[i].crouched = false;
        s->players[i].total_distance = 0;
    }
}

/* p walks on about 100 units and turns a little; the engine reports the distance so far. */
static void sim_distance(json_obj *o, sim_server *s, sim_player *p)
{
    double walked = rng_range(&s->rng, 100, 112);
    p->total_distance += walked;
    p->x += walked * cos(p->yaw * M_PI / 180);
    p->y += walked * sin(p->yaw * M_PI / 180);
    p->yaw = fmod(p->yaw + rng_range(&s->rng, -30, 30) + 360, 360);
    put_num(o, "distance", p->total_distance);
    put_envelope(o, s->session, s->level_time, "distance");
    put_num(o, "walked", walked);
    put_player(o, "player", p);
    put_num(o, "total_distance", p->total_distance);
    put_num(o, "delta_distance", walked);
}

/* p takes another weapon. */
static void sim_weapon_change(json_obj *o, sim_server *s, sim_player *p)
{
    unsigned old = p->weapon;
    p->weapon = rng_below(&s->rng, NWEAPONS);
    put_str(o, NULL, "old_weapon", weapons[old].name);
    put_envelope(o, s->session, s->level_time, "weapon_change");
    put_player(o, "player", p);
    put_str(o, NULL, "new_weapon", weapons[p->weapon].name);
}

/* p jumps. */
static void sim_jump(json_obj *o, sim_server *s, sim_player *p)
{
    put_player(o, "player", p);
    put_envelope(o, s->session, s->level_time, "jump");
    put_num(o, "jump_height", 56);
}

/* p crouches (and stands again at the next spawn or new map). */
static void sim_crouch(json_obj *o, sim_server *s, sim_player *p)
{
    p->crouched = true;
    put_envelope(o, s->session, s->level_time, "crouch");
    put_player(o, "player", p);
}

/* p spawns standing somewhere on the map. */
static void sim_spawn(json_obj *o, sim_server *s, sim_player *p)
{
    p->crouched = false;
    p->x = rng_range(&s->rng, -3000, 3000);
    p->y = rng_range(&s->rng, -3000, 3000);
    put_player(o, "player", p);
    put_envelope(o, s->session, s->level_time, "player_spawn");
}

/* p's move of kind (not SIM_KILL: each benchmark writes its kills its own way) and its JSON object. */
void sim_move(json_obj *o, sim_server *s, sim_player *p, sim_event kind)
{
    switch (kind) {
    case SIM_DISTANCE:
        sim_distance(o, s, p);
        break;
    case SIM_WEAPON_CHANGE:
        sim_weapon_change(o, s, p);
        break;
    case SIM_JUMP:
        sim_jump(o, s, p);
        break;
    case SIM_CROUCH:
        sim_crouch(o, s, p);
        break;
    case SIM_SPAWN:
        sim_spawn(o, s, p);
        break;
    case SIM_KILL:
        abort();
    }
}

/* A kill of victim by attacker, or by the world (a fall: no attacker block) when attacker is NULL. */
void put_kill(json_obj *o, sim_server *s, const sim_player *victim, const sim_player *attacker)
{
    put_str(o, NULL, "hitloc", hitlocs[rng_below(&s->rng, NHITLOCS)]);
    put_player(o, "victim", victim);
    put_envelope(o, s->session, s->level_time, "player_kill");
    if (!attacker) {
        put_str(o, NULL, "weapon", "world");
        put_str(o, NULL, "mod", "falling");
    } else {
        put_player(o, "attacker", attacker);
        put_str(o, NULL, "weapon", weapons[attacker->weapon].name);
        put_str(o, NULL, "mod", weapons[attacker->weapon].mod);
    }
    put_fixed3(o, NULL, "damage", rng_range(&s->rng, 20, 200));
}

/* ---- prepared requests -------------------------------------------------------------------------------------- */

/* Parse http://host[:port][/prefix] and resolve host once. */
void parse_target(const char *url, target *t)
{
    memset(t, 0, sizeof *t);
    if (strncmp(url, "http://", 7) != 0) {
        fprintf(stderr, "%s: --url must start with http:// (got %s)\n", bench_prog, url);
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
        fprintf(stderr, "%s: cannot resolve %s: %s\n", bench_prog, t->host, gai_strerror(rc));
        exit(1);
    }
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    t->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
}

uint32_t parse_source(const char *addr)
{
    struct in_addr a;
    if (inet_pton(AF_INET, addr, &a) != 1) {
        fprintf(stderr, "%s: --source must be an IPv4 address (got %s)\n", bench_prog, addr);
        exit(2);
    }
    return ntohl(a.s_addr);
}

/* Wrap a body into the request the tracker sends, with Connection: close in close mode (the engine). */
void make_request(bench_batch *bb, const target *t, const char *token, const char *body, size_t len, bool close_mode)
{
    char head[1024];
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\nContent-Type: application/json\r\n"
                      "X-Server-Token: %s\r\nContent-Length: %zu\r\n%s\r\n",
                      t->path, t->hostport, token, len, close_mode ? "Connection: close\r\n" : "");
    bb->req_len = (size_t)hl + len;
    bb->body_off = (size_t)hl;
    bb->req = malloc(bb->req_len);
    if (!bb->req)
        abort();
    memcpy(bb->req, head, (size_t)hl);
    memcpy(bb->req + hl, body, len);
}

/* Close s's queued batch into a prepared request, as the tracker's flush_queue does. */
static void flush_batch(sim_server *s, unsigned index, const target *t, bool close_mode, bench_batch **v, size_t *n,
                        size_t *cap)
{
    if (!s->queued)
        return;
    bytebuf_append(&s->queue, "]", 1);
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4096;
        *v = realloc(*v, *cap * sizeof **v);
        if (!*v)
            abort();
    }
    bench_batch *bb = &(*v)[(*n)++];
    bb->server = index;
    bb->nevents = s->queued;
    make_request(bb, t, s->token, s->queue.data, s->queue.len, close_mode);
    s->queue.len = 0;
    s->queued = 0;
}

/* Generate the whole load from initialised servers: events round-robin over them, each server batching like
 * the tracker; leftovers flushed at the end like its 2 s timer would. */
bench_batch *generate_batches(sim_server *servers, unsigned nservers, uint64_t events, const target *t, bool close_mode,
                              queue_event_fn queue_event, void *arg, size_t *nbatches)
{
    bench_batch *v = NULL;
    size_t n = 0, cap = 0;
    for (uint64_t e = 0; e < events; e++) {
        unsigned i = (unsigned)(e % nservers);
        if (queue_event(&servers[i], i, arg))
            flush_batch(&servers[i], i, t, close_mode, &v, &n, &cap);
    }
    for (unsigned i = 0; i < nservers; i++)
        flush_batch(&servers[i], i, t, close_mode, &v, &n, &cap);
    /* Each server's batches in order, so that a worker sends them one after the other. */
    for (size_t k = 0; k < n; k++)
        servers[v[k].server].nbatches++;
    for (unsigned i = 0; i < nservers; i++) {
        servers[i].batches = malloc((servers[i].nbatches + 1) * sizeof(unsigned));
        if (!servers[i].batches)
            abort();
        servers[i].nbatches = 0;
        bytebuf_free(&servers[i].queue);
    }
    for (size_t k = 0; k < n; k++) {
        sim_server *s = &servers[v[k].server];
        s->batches[s->nbatches++] = (unsigned)k;
    }
    *nbatches = n;
    return v;
}

/* ---- the HTTP load ------------------------------------------------------------------------------------------ */

static void worker_next(worker *w);

/* Append x to v, saturated to 32 bits. */
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

/* Keep the start of the answer's body (enough for ingestd's {"processed":N} and error messages). */
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

/* The answer is complete. */
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

/* Close w's connection unless it is closed or closing already. */
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
    if (b->log_requests) {
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
                fprintf(stderr, "%s: HTTP %u: %.200s\n", bench_prog, status, w->resp_body);
        }
        keep = !b->close_mode && llhttp_should_keep_alive(&w->parser);
    } else {
        st->transport_errors++;
        if (st->transport_errors <= 3)
            fprintf(stderr, "%s: request failed: %s\n", bench_prog, w->fail_reason ? w->fail_reason : "?");
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

/* The request in flight failed (why: the reason printed for the first few). */
static void request_fail(worker *w, const char *why)
{
    if (!w->cur || w->answered || w->failed)
        return;
    w->failed = true;
    w->fail_reason = why;
    worker_close(w); /* also cancels a pending write */
    request_maybe_done(w);
}

/* Every read of w goes to its own buffer: one request in flight per connection. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    worker *w = h->data;
    *buf = uv_buf_init(w->rbuf, sizeof w->rbuf);
}

/* Feed the answer to the parser; an end of stream completes an answer or fails the request. */
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

/* The request is written (libuv gives write_req back). */
static void on_write(uv_write_t *req, int status)
{
    worker *w = req->data;
    w->writing = false;
    if (status < 0)
        request_fail(w, uv_strerror(status));
    request_maybe_done(w);
}

/* Write w's prepared request on its connection. */
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

/* Connected: send the request that waited for the connection. */
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
    int rc = 0;
    if (b->source) {
        uint32_t addr = b->source + w->index / (b->per_source ? b->per_source : 1);
        struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(addr)};
        rc = uv_tcp_bind(&w->tcp, (const struct sockaddr *)&src, 0);
    }
    if (!rc)
        rc = uv_tcp_connect(&w->connect_req, &w->tcp, (const struct sockaddr *)&b->tgt.addr, on_connect);
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
    double allowed = b->rate * (double)(uv_hrtime() - b->t0) / 1e9;
    while (b->idle_head != b->idle_tail && (double)b->events_started <= allowed) {
        worker *w = b->idle[b->idle_head++ % (b->nworkers + 1)];
        w->queued_idle = false;
        const bench_batch *bb = worker_peek(w);
        if (!bb || b->stopping) {
            worker_finish(w);
            continue;
        }
        uint64_t intended = b->t0 + (uint64_t)((double)b->events_started / b->rate * 1e9);
        b->events_started += bb->nevents;
        worker_send(w, bb, intended);
    }
}

/* --max-seconds: first stop sending; 10 s later, give up on answers still awaited. */
static void on_deadline(uv_timer_t *t)
{
    bench *b = t->data;
    if (!b->stopping) {
        fprintf(stderr, "%s: --max-seconds reached; no new requests\n", bench_prog);
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

/* Send every prepared batch (b->connections at a time, at b->rate) and count the answers in b->st. */
void run_load(bench *b)
{
    b->loop = uv_default_loop();
    llhttp_settings_init(&b->settings);
    b->settings.on_body = on_body;
    b->settings.on_message_complete = on_message_complete;
    b->nworkers = b->connections ? b->connections : b->nservers;
    if (b->nworkers > b->nservers) {
        fprintf(stderr, "%s: %u connections for %u servers: using %u (one request in flight per server)\n", bench_prog,
                b->nworkers, b->nservers, b->nservers);
        b->nworkers = b->nservers;
    }
    b->workers = calloc(b->nworkers, sizeof *b->workers);
    b->idle = calloc(b->nworkers + 1, sizeof *b->idle);
    if (!b->workers || !b->idle)
        abort();
    b->active = b->nworkers;
    b->pacing = b->rate > 0;
    uv_timer_init(b->loop, &b->deadline);
    b->deadline.data = b;
    uv_timer_start(&b->deadline, on_deadline, (uint64_t)(b->max_seconds * 1000), 0);
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

/* Free the servers, the batches and what the run kept. */
void bench_free(bench *b)
{
    for (size_t k = 0; k < b->nbatches; k++)
        free(b->batches[k].req);
    free(b->batches);
    for (unsigned i = 0; i < b->nservers; i++) {
        free(b->servers[i].id);
        free(b->servers[i].token);
        free(b->servers[i].batches);
    }
    free(b->servers);
    free(b->workers);
    free(b->idle);
    free(b->st.lat_us.v);
    free(b->st.lag_us.v);
    free(b->st.log);
}

/* ---- figures ------------------------------------------------------------------------------------------------ */

/* qsort order of uint32_t. */
static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Percentiles of v (sorted in place). */
percentiles percentiles_of(uint32_t *v, size_t n)
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

/* The CPU time of this process so far (user + system), seconds. */
double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* SQL condition "server_id IN ('a', 'b', ...)" for the simulated servers. */
char *server_condition(const bench *b)
{
    bytebuf q = {0};
    bytebuf_append(&q, "server_id IN (", 14);
    for (unsigned i = 0; i < b->nservers; i++) {
        if (i)
            bytebuf_append(&q, ", ", 2);
        ch_append_quoted(&q, b->servers[i].id, strlen(b->servers[i].id));
    }
    bytebuf_append(&q, ")", 1);
    return q.data;
}

/* Rows of the simulated servers in raw_events, or -1 with the reason printed. */
int64_t visible_rows(const char *ch_url, const char *cond)
{
    bytebuf sql = {0};
    bytebuf_appendf(&sql, "SELECT count() FROM raw_events WHERE %s", cond);
    char *out = NULL;
    int rc = ch_query_sync(ch_url, sql.data, &out);
    bytebuf_free(&sql);
    int64_t n = -1;
    if (rc == 0 && out)
        n = strtoll(out, NULL, 10);
    else
        fprintf(stderr, "%s: counting rows in ClickHouse failed: %s\n", bench_prog, out ? out : "no answer");
    free(out);
    return n;
}

/* Seconds from uv_hrtime() a to b. */
double seconds_between(uint64_t a, uint64_t b)
{
    return (double)(b - a) / 1e9;
}

/* Sleep ms milliseconds. */
static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Label field for the JSON lines (plain text expected; quotes and backslashes dropped). */
void print_label(const char *label)
{
    if (!label)
        return;
    printf("\"label\":\"");
    for (const char *p = label; *p; p++)
        if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
            putchar(*p);
    printf("\",");
}

/* End to end: from the first request sent until every accepted event is in raw_events (baseline rows were
 * there before). Polled, so the figure is late by at most one poll interval. Nothing when ch_url is NULL. */
e2e_result wait_visible(const char *ch_url, const char *cond, int64_t baseline, const load_stats *st, double timeout_s)
{
    e2e_result res = {.visible = -1, .poll_ms = 100};
    if (ch_url && baseline >= 0 && st->t_first) {
        res.ran = true;
        uint64_t give_up = uv_hrtime() + (uint64_t)(timeout_s * 1e9);
        for (;;) {
            int64_t n = visible_rows(ch_url, cond);
            uint64_t now = uv_hrtime();
            if (n >= 0)
                res.visible = n - baseline;
            if (res.visible >= (int64_t)st->events_ok) {
                res.t_visible = now;
                res.complete = true;
                break;
            }
            if (now > give_up)
                break;
            sleep_ms(res.poll_ms);
        }
    }
    if (res.complete)
        res.events_per_s = (double)st->events_ok / seconds_between(st->t_first, res.t_visible);
    return res;
}

/* The "statuses":{"202":N,...} member (without a separator after it). */
void print_statuses(const load_stats *st)
{
    printf("\"statuses\":{");
    bool first = true;
    for (unsigned s = 0; s < 600; s++)
        if (st->status_count[s]) {
            printf("%s\"%u\":%u", first ? "" : ",", s, st->status_count[s]);
            first = false;
        }
    printf("}");
}

/* The end of an "ingest" line: latency, schedule lag when pacing, the client's CPU time and the e2e figures. */
void print_load_tail(const bench *b, const percentiles *lat, const percentiles *lag, double cpu_s,
                     const e2e_result *e2e)
{
    const load_stats *st = &b->st;
    printf("\"latency_us\":{\"p50\":%u,\"p90\":%u,\"p99\":%u,\"max\":%u,\"mean\":%.0f},", lat->p50, lat->p90, lat->p99,
           lat->max, lat->mean);
    if (b->pacing)
        printf("\"schedule_lag_us\":{\"p50\":%u,\"p99\":%u,\"max\":%u},", lag->p50, lag->p99, lag->max);
    printf("\"client_cpu_s\":%.2f,", cpu_s);
    if (e2e->ran)
        printf("\"e2e\":{\"complete\":%s,\"visible\":%" PRId64 ",\"expected\":%" PRIu64
               ",\"seconds\":%.3f,\"events_per_s\":%.1f,\"drain_s\":%.3f,\"poll_ms\":%u}}\n",
               e2e->complete ? "true" : "false", e2e->visible, st->events_ok,
               e2e->complete ? seconds_between(st->t_first, e2e->t_visible) : 0, e2e->events_per_s,
               e2e->complete ? seconds_between(st->t_last, e2e->t_visible) : 0, e2e->poll_ms);
    else
        printf("\"e2e\":null}\n");
    fflush(stdout);
}

/* The end-to-end line of the summary on stderr, when there was a wait. */
void print_e2e_summary(const e2e_result *e2e, const load_stats *st)
{
    if (e2e->ran)
        fprintf(stderr, "  end to end: %s, %" PRId64 "/%" PRIu64 " visible, %.0f events/s\n",
                e2e->complete ? "complete" : "INCOMPLETE", e2e->visible, st->events_ok, e2e->events_per_s);
}
