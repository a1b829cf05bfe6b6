/* mohstats-admin: the operator's toolbox (docs/operations.md, "The admin command"). What every action shares:
 * the ClickHouse connection, who acts, confirmation, and the action log. */
#ifndef MOHSTATS_ADMIN_H
#define MOHSTATS_ADMIN_H

#include <stdbool.h>

typedef struct {
    const char *clickhouse_url; /* CLICKHOUSE_URL, as the daemons read it */
    char who[128];              /* --by, else the OS user: written with every action */
    bool yes;                   /* --yes: destructive actions do not ask */
    long timeout_ms;            /* bound on each ClickHouse statement (ADMIN_TIMEOUT_MS) */
    /* The other stores, for the actions on a player (player.c): the daemons' settings of the same names. */
    const char *postgres_url;    /* POSTGRES_URL: links, login codes, trusted addresses */
    const char *mariadb_url;     /* MARIADB_URL: the forum's identities and achievement tables */
    const char *smf_prefix;      /* SMF_DB_PREFIX, checked */
    const char *redis_url;       /* REDIS_URL: achievd's state */
    const char *cache_redis_url; /* CACHE_REDIS_URL (empty: REDIS_URL): queryd's answers */
    const char *stream;          /* INGEST_STREAM: achievd's state keys are named after it */
    const char *achievd_group;   /* ACHIEVD_GROUP */
} admin_ctx;

/* Run one statement; 0 and the malloc'd answer in *out (may be NULL), or a negative error with ClickHouse's
 * message logged (and in *out). */
int admin_ch(const admin_ctx *a, const char *sql, char **out);
/* admin_ch with a printf-style statement; the answer is dropped. Values put into the statement must already be
 * validated names or numbers: nothing typed by the operator is quoted here. */
int admin_chf(const admin_ctx *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* admin_chf returning the answer's first line as an integer in *value. */
int admin_ch_count(const admin_ctx *a, long long *value, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Wait until ClickHouse has applied the mutations of this database created since `since` (ClickHouse's now() when
 * the action began, as text): the action's, and any other's that began meanwhile. Gives up after a day. 0 or a
 * negative error (logged). */
int admin_wait_mutations(const admin_ctx *a, const char *since);

/* Record an action (who, what, detail) in ClickHouse's admin_actions and in the log. Returns 0 or the error. */
int admin_record(const admin_ctx *a, const char *action, const char *detail);
/* Ask "question [y/N]" on the terminal unless --yes; true if the operator agreed. */
bool admin_confirm(const admin_ctx *a, const char *question);

#endif
