/* Unit tests that only look at what a daemon registers (test_endpoints, test_openapi): an HTTP server of
 * common/http_server.c on a loop of its own that never listens, so that registering routes starts nothing. */
#ifndef MOHSTATS_TEST_IDLE_SERVER_H
#define MOHSTATS_TEST_IDLE_SERVER_H

#include <uv.h>

#include "http_server.h"

typedef struct {
    uv_loop_t loop;
    http_server *s;
} idle_server;

/* Make the server (failing the running test if it cannot) and return it, to register routes on. */
http_server *idle_server_open(idle_server *x);
/* Free the server and close its loop. */
void idle_server_close(idle_server *x);

#endif
