/* The harness of the HTTP server's unit tests (test_http_server.c, test_http_connections.c, test_http_abort.c): a
 * real server of
 * common/http_server.c on 127.0.0.1 with the routes every scenario shares, its loop on the test thread, and a
 * raw-socket client on a thread of its own that runs the scenario. */
#ifndef MOHSTATS_TEST_HTTP_HARNESS_H
#define MOHSTATS_TEST_HTTP_HARNESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "http_server.h"

typedef struct harness harness;

typedef void (*client_fn)(harness *h);

struct harness {
    uv_loop_t loop;
    http_server *srv;
    int port;
    uv_async_t async;
    bool async_closed, shutdown_started;
    pthread_t thread;
    client_fn client;
    uint64_t grace_ms;
    atomic_int shutdown_req; /* the client asks for a shutdown in the middle of its scenario */
    atomic_int finished;     /* the client is done: shut down and stop */
    atomic_int done_called;
    atomic_int handler_started; /* /slow handlers entered */
    atomic_int async_answered;  /* /slow answers given */
    atomic_int saw_aborted;     /* a /slow answer found its request aborted */
    atomic_int abort_calls;     /* /abortable: its http_request_on_abort callback ran */
    atomic_int abort_flag_set;  /* ... and found http_request_aborted true */
    bool free_in_done;          /* call http_server_free from the shutdown's done callback */
    atomic_uint inflight_seen;  /* http_server_inflight() inside the last /slow handler */
    char failure[1024];         /* first failed CHECK on the client thread */
};

/* cmocka's asserts longjmp: only the test thread may use them. The client records failures. */
#define CHECK(h, cond)                                                                                                 \
    do {                                                                                                               \
        if (!(cond) && !(h)->failure[0])                                                                               \
            snprintf((h)->failure, sizeof(h)->failure, "%s:%d: CHECK(%s)", __FILE__, __LINE__, #cond);                 \
    } while (0)

#define CHECK_STR(h, got, want)                                                                                        \
    do {                                                                                                               \
        const char *g_ = (got), *w_ = (want);                                                                          \
        if ((!g_ || strcmp(g_, w_) != 0) && !(h)->failure[0])                                                          \
            snprintf((h)->failure, sizeof(h)->failure, "%s:%d: got \"%s\", want \"%s\"", __FILE__, __LINE__,           \
                     g_ ? g_ : "(null)", w_);                                                                          \
    } while (0)

typedef struct {
    uv_timer_t timer;
    http_request *req;
    harness *h;
    unsigned ms;
} slow_answer;

typedef struct {
    int fd;
    char *buf;
    size_t len, cap;
} cli;

typedef struct {
    int status;
    char headers[4096];
    char *body; /* NUL-terminated */
    size_t body_len;
} resp;

/* Milliseconds on the monotonic clock. */
uint64_t now_ms(void);
/* Sleep for ms milliseconds. */
void sleep_ms(unsigned ms);
/* Wait until *flag reaches want, at most 2 s; true if it did. */
bool wait_flag(atomic_int *flag, int want);
/* "<tag> name=value ..." for every path parameter the test routes use. */
void h_tagged(http_request *req, void *arg);
/* Run a scenario against a fresh server with cfg; asserts everything was closed and freed. */
void harness_run(const http_server_config *cfg, client_fn client, uint64_t grace_ms, bool free_in_done, harness *h);
/* Connect to the harness's server; 3 s receive timeout so a bug fails instead of hanging. */
cli *cli_open(harness *h);
/* Close the socket and free the client. */
void cli_close(cli *c);
/* Send all of data. */
void cli_send(cli *c, const char *data, size_t len);
/* Send a C string. */
void cli_sends(cli *c, const char *s);
/* Free a response's body. */
void resp_free(resp *r);
/* Value of header name in r, copied into out; NULL if absent. */
const char *resp_header(const resp *r, const char *name, char *out, size_t outlen);
/* Read one response; no body for HEAD. 0, or -1 when the connection ended or timed out first. */
int cli_response(cli *c, resp *r, bool head);
/* True if the server closed the connection (EOF or reset) with nothing more to read. */
bool cli_eof(cli *c);
/* Send request, read the answer and check status and body (body NULL: not checked). */
void expect(harness *h, cli *c, const char *request, int status, const char *body);
/* GET path on c (keep-alive) and check the answer. */
void expect_get(harness *h, cli *c, const char *path, int status, const char *body);

#endif
