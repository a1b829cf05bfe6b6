/* queryd's endpoints as data: each is one struct (its path, its parameters, its cache key, its TTL, the queries its
 * answer needs and the builder of that answer), and one handler, endpoint_serve, serves them all: it parses and
 * checks the parameters into the endpoint's args, builds the cache key from them, and asks the cache
 * (qcache_serve) for the answer, which, when it has to be computed, a job computes from the declaration.
 *
 * The invariant this keeps: an answer depends on its endpoint and its parameters only, and every parameter is a
 * part of the key, in the order declared ("<key>:<param>:<param>..."). A parameter that did not reach the key
 * could serve one request's answer to another. */
#ifndef MOHSTATS_QUERYD_ENDPOINT_H
#define MOHSTATS_QUERYD_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "http_server.h"
#include "job.h"
#include "queryd.h"
#include "sqlt.h"

typedef struct endpoint endpoint;

/* How long an endpoint's answer stays fresh. */
typedef enum {
    TTL_CACHE, /* QUERY_CACHE_TTL_S */
    TTL_LIVE,  /* QUERY_LIVE_TTL_S: live state */
} endpoint_ttl;

/* What a parameter is, where it is read, how it is checked and how it is written into the key. */
typedef enum {
    PARAM_END,         /* ends the list */
    PARAM_IDENT,       /* {name} of the path: 1..IDENT_MAX printable bytes, into char[IDENT_MAX + 1]; key escaped */
    PARAM_IDENT_PLUS,  /* the same, '+' read as a space (PHP's urlencode writes spaces so: map and weapon names) */
    PARAM_QUERY_IDENT, /* ?name= as PARAM_IDENT, optional: "" when absent or empty */
    PARAM_NAME,        /* {name} of the path, a player name (name_normalize) into char[PLAYER_NAME_MAX]; key as is */
    PARAM_ID,          /* {name} of the path, a positive number, into a long */
    PARAM_QUERY_ID,    /* ?name= as PARAM_ID, optional: 0 when absent or empty */
    PARAM_LIMIT,       /* ?name=, into a long: def when absent, clamped to 1..QUERY_MAX_LIMIT */
    PARAM_NUMBER,      /* ?name=, into a long: def when absent, clamped to min..max */
    PARAM_OFFSET,      /* ?name=, into a long: def when absent, clamped to 0..QUERY_MAX_OFFSET */
    PARAM_PAGING,      /* ?limit, ?offset, ?page into a paging, def the limit; key "<limit>:<offset>" */
    PARAM_FLAG,        /* ?name= 1, true, yes or on, into a bool; key 0 or 1 */
    PARAM_GIVEN,       /* whether ?name= is there at all, into a bool; key 0 or 1 */
    PARAM_CHOICE,      /* ?name= one of choices (absent or empty: the first), into a const param_choice *; key its
                          value */
    PARAM_CHOICE_ANY,  /* ?name= as PARAM_CHOICE, but a value of no choice is the first too, not a 400 (a parameter
                          that clients send freely and that never was checked) */
    PARAM_PERIOD,      /* ?name= all, day, week, month or year (absent or empty: all), into a period; key its name */
    PARAM_STAT,        /* ?name= a stat of the leaderboards (stats.c; absent or empty: kills), into a const lb_stat *;
                          key its name */
    PARAM_PATH_STAT,   /* the same, from {name} of the path */
    PARAM_SETTING,     /* not of the request: the setting name (def when unset, at least min) the answer depends on,
                          into a long; key the number, so that a queryd started with another value never serves an
                          answer of the old one's from the shared cache */
    PARAM_PATH_CHOICE, /* {name} of the path, one of choices in any case, into a const param_choice *: 400 when it is
                          not 1..max printable bytes, 404 (unknown) when it names no choice, so that no query runs
                          for a thing that cannot exist; key its value */
} param_kind;

/* The longest player name a PARAM_NAME holds (NAME_MAX_BYTES, converted to UTF-8, and its NUL). */
#define PLAYER_NAME_MAX (NAME_MAX_BYTES * 3 + 1)

/* One accepted value of a PARAM_CHOICE: what the URL says, what it means (the key and the builder read it; NULL:
 * the same as name) and what the endpoint makes of it (a SQL expression, say). */
typedef struct {
    const char *name, *value, *data;
} param_choice;

/* The value a choice stands for. */
static inline const char *param_choice_value(const param_choice *c)
{
    return c->value ? c->value : c->name;
}

typedef struct {
    param_kind kind;
    const char *name;            /* in the path pattern or the query string */
    size_t at;                   /* offsetof the field in the endpoint's args */
    long def;                    /* PARAM_LIMIT, _NUMBER, _PAGING, _SETTING: the value when none is given */
    const char *why;             /* the 400's text when the value is not usable ("must be ...") */
    const param_choice *choices; /* PARAM_CHOICE, _ANY, PARAM_PATH_CHOICE: the accepted values, ended by {NULL} */
    long min, max;               /* PARAM_NUMBER: its bounds; PARAM_SETTING: min; PARAM_PATH_CHOICE: max, a length */
    const char *shown;           /* the name the 400 gives, when not name (NULL: name) */
    const char *unknown;         /* PARAM_PATH_CHOICE: the 404's text, "%s" the value in lower case */
} endpoint_param;

/* Queue one query of a step: the endpoint's templates take their values from its args. n is the query's own
 * number (a limit, say) from the declaration. */
typedef void (*endpoint_queue_fn)(qjob *j, int slot, const char *sql, long n);

/* One query of the first step: its rows land in rows[slot]. queue NULL: sql is a ClickHouse template over the
 * endpoint's values (endpoint.vals). */
typedef struct {
    int slot;
    const char *sql;
    endpoint_queue_fn queue;
    long n;
} endpoint_query;

#define ENDPOINT_PARAMS 5
#define ENDPOINT_QUERIES 8
#define ENDPOINT_VALS 4

struct endpoint {
    const char *path; /* under /api/v1 */
    const char *key;  /* the cache key's first part */
    endpoint_ttl ttl;
    size_t args_size; /* the endpoint's args: a struct whose first member is "const endpoint *ep" */
    endpoint_param params[ENDPOINT_PARAMS];
    const char *part; /* a constant the builder reads (which part of a page, say), or NULL */
    /* The values every query of the endpoint reads ({guid}, {id}, ...) from its args; returns how many. */
    size_t (*vals)(qjob *j, sqlv out[ENDPOINT_VALS]);
    endpoint_query queries[ENDPOINT_QUERIES]; /* the first step's queries, ended by an empty one */
    /* Queues what the table cannot say (queries whose values are computed, optional slots); may be NULL. With
     * build NULL it is the whole job: it queues its steps itself. */
    qjob_fn start;
    qjob_fn build; /* builds the answer once the first step's queries answered */
    /* An answer from a leaderboard board (board.h): served at the generation of the board of its PARAM_PERIOD (all
     * time without one), which a rebuilt board moves on (qcache_serve_at). */
    bool board;
    /* The endpoint that answers instead when the parameter named (the path's, else the query's) is value: a
     * leaderboard of stat=rating is ratings_leaderboard.c's, with parameters and a key of its own. */
    struct {
        const char *param, *value;
        const endpoint *ep;
    } instead;
    /* A rule between parameters that no parameter's kind states (the opponent is another team than the path's,
     * say), checked once each parameter is read: when ok(args) is false, the 400 names param and says why. ok NULL:
     * none. */
    struct {
        bool (*ok)(const void *args);
        const char *param, *why;
    } rule;
};

/* Every endpoint's args begin so. */
typedef struct {
    const endpoint *ep;
} endpoint_args;

/* The endpoint a job computes an answer of. */
static inline const endpoint *job_endpoint(const qjob *j)
{
    return ((const endpoint_args *)j->args)->ep;
}

/* Register every endpoint of a table (n of them) as a GET route of s under /api/v1, served by endpoint_serve. */
void endpoints_add(queryd *q, http_server *s, const endpoint *table, size_t n);

/* The job's start that its endpoint describes: endpoint_run(j, job_endpoint(j)). */
void endpoint_start(qjob *j);
/* Queue e's queries, call its start, then its build once they answered: the job of e, begun from a step of another
 * endpoint's (the forum member's profile is the player's profile). */
void endpoint_run(qjob *j, const endpoint *e);

/* The key of one request (exposed for tests): 0, or -1 after answering 400 (or 500). args is e->args_size bytes,
 * zeroed; key holds size bytes. */
int endpoint_parse(const endpoint *e, const queryd *q, http_request *req, void *args, char *key, size_t size);

#endif
