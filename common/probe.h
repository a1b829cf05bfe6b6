/* Readiness probes: each asks one dependency whether it answers, for GET /ready. */
#ifndef MOHSTATS_PROBE_H
#define MOHSTATS_PROBE_H

#include <stdbool.h>

/* Called exactly once per probe; detail is a short reason when !ok ("connection refused"). */
typedef void (*probe_done_fn)(void *token, bool ok, const char *detail);
/* arg is the client the probe belongs to (ch_client*, redis_client*, pg_pool*, mdb_pool*). */
typedef void (*probe_fn)(void *arg, void *token, probe_done_fn done);

/* The probes of the common clients: SELECT 1 / PING with a short timeout. */
void ch_probe(void *ch_client, void *token, probe_done_fn done);
void redis_probe(void *redis_client, void *token, probe_done_fn done);
void pg_probe(void *pg_pool, void *token, probe_done_fn done);
void mdb_probe(void *mdb_pool, void *token, probe_done_fn done);

#endif
