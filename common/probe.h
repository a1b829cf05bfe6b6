/* Readiness probes: each asks one dependency whether it answers, for GET /ready. */
#ifndef MOHSTATS_PROBE_H
#define MOHSTATS_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* Called exactly once per probe; detail is a short reason when !ok ("connection refused"). */
typedef void (*probe_done_fn)(void *token, bool ok, const char *detail);
/* arg is the client the probe belongs to (ch_client*, redis_client*, pg_pool*, mdb_pool*). */
typedef void (*probe_fn)(void *arg, void *token, probe_done_fn done);

/* The probes of the common clients: SELECT 1 / PING with a short timeout. */
void ch_probe(void *ch_client, void *token, probe_done_fn done);
void redis_probe(void *redis_client, void *token, probe_done_fn done);
void pg_probe(void *pg_pool, void *token, probe_done_fn done);
void mdb_probe(void *mdb_pool, void *token, probe_done_fn done);

/* One probe in flight, for the probes above: it reports to done exactly once, whichever comes first of the answer
 * and the deadline, and frees itself once both the answer and its timer are done with it.
 *
 *   probe_req *p = probe_req_new(loop, token, done);       NULL: done already ran ("out of memory")
 *   if (send the request with p as its argument fails)
 *       probe_req_fail(p, "not connected");                reports; no answer will come
 *   else
 *       probe_req_start(p, timeout_ms);                     the deadline ("timeout")
 *   in the request's callback, always: probe_req_answer(p, ok, detail); */
typedef struct probe_req probe_req;
probe_req *probe_req_new(uv_loop_t *loop, void *token, probe_done_fn done);
void probe_req_start(probe_req *p, uint64_t timeout_ms);
void probe_req_answer(probe_req *p, bool ok, const char *detail);
void probe_req_fail(probe_req *p, const char *detail);

#endif
