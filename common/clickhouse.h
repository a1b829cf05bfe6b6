/* ClickHouse client over its HTTP interface, on libcurl's multi interface driven by the libuv loop. */
#ifndef MOHSTATS_CLICKHOUSE_H
#define MOHSTATS_CLICKHOUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "bytebuf.h"

typedef struct ch_client ch_client;

/* err is 0 on HTTP 200; otherwise a negative errno-style code (-EIO transport failure,
 * -ETIMEDOUT, -EPROTO for a ClickHouse error). http_status is 0 when no answer came.
 * body is the response body (the result, or ClickHouse's error text); valid during the call. */
typedef void (*ch_result_fn)(ch_client *c, int err, long http_status, const char *body, size_t len, void *arg);

/* url: http://[user[:password]@]host:port/?database=name (database defaults to "default").
 * timeout_ms bounds each request (0 = 30 s). */
ch_client *ch_client_new(uv_loop_t *loop, const char *url, long timeout_ms);
/* Abort requests in flight (their callbacks get -ECANCELED), then free. Safe inside a ch_result_fn. The
 * memory goes when the uv handles have closed: keep running the loop. Requests made after this (from a
 * cancelled callback) return -ECANCELED. */
void ch_client_free(ch_client *c);
/* ch_client_free, but c stays allocated (every request refused with -ECANCELED) until ch_client_free: for a
 * client that other objects may still call while the process shuts down (daemon_services.c). */
void ch_client_stop(ch_client *c);

/* Run a query (sent as the POST body). Returns 0 or -ENOMEM. */
int ch_query(ch_client *c, const char *sql, ch_result_fn cb, void *arg);

/* A request in flight, as ch_query_tracked hands it out for ch_cancel. */
typedef struct ch_request ch_request;
/* ch_query under a query_id of the caller's ([A-Za-z0-9_-], at most 64 bytes; ClickHouse refuses a second running
 * query of the same user with the same id), which KILL QUERY can then name. *out gets the request, valid until
 * its callback runs or ch_cancel; it is untouched on failure. Returns 0, -EINVAL (a bad id), -ENOMEM or
 * -ECANCELED (the client is being freed). */
int ch_query_tracked(ch_client *c, const char *sql, const char *query_id, ch_result_fn cb, void *arg, ch_request **out);
/* Close a request's transfer and free it; its callback is never called. Closing the connection does not stop the
 * query on ClickHouse 18.16 (its HTTP handler notices only when it writes the answer): the caller sends KILL QUERY
 * for that. Not from inside the request's own callback (it is gone by then). */
void ch_cancel(ch_client *c, ch_request *r);

/* INSERT: insert_sql ("INSERT INTO t FORMAT TabSeparated") goes in the URL, data is streamed as the
 * body without copying; data must stay valid until cb runs. */
int ch_insert(ch_client *c, const char *insert_sql, const char *data, size_t len, ch_result_fn cb, void *arg);

/* Streaming insert: the body is produced by read_fn until it returns 0 (end). read_fn fills up to
 * size bytes of buf and returns how many. */
typedef size_t (*ch_read_fn)(char *buf, size_t size, void *arg);
int ch_insert_stream(ch_client *c, const char *insert_sql, ch_read_fn read_fn, void *read_arg, ch_result_fn cb,
                     void *arg);

unsigned ch_client_inflight(const ch_client *c);

/* Append s to out as a ClickHouse string literal ('...' with \\ and \' escaped, control bytes as
 * \n \t \0 ...). out grows as needed; returns 0 or -ENOMEM. */
int ch_append_quoted(bytebuf *b, const char *s, size_t len);
/* Append s as a TabSeparated field value (\t \n \\ escaped). */
int ch_append_tsv(bytebuf *b, const char *s, size_t len);

/* Blocking helpers for tools and tests (own private loop). Returns 0 and a malloc'd body in *out
 * (may be NULL), or the error as in ch_result_fn with the error text in *out. */
int ch_query_sync(const char *url, const char *sql, char **out);
/* The same for an INSERT whose data (any format, binary included: len bytes) is the request body. */
int ch_insert_sync(const char *url, const char *insert_sql, const char *data, size_t len, char **out);

#endif
