/* A server that never listens, to register routes on (idle_server.h). */
#include "idle_server.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

http_server *idle_server_open(idle_server *x)
{
    assert_int_equal(uv_loop_init(&x->loop), 0);
    http_server_config cfg;
    http_server_config_init(&cfg);
    x->s = http_server_new(&x->loop, &cfg);
    assert_non_null(x->s);
    return x->s;
}

void idle_server_close(idle_server *x)
{
    http_server_free(x->s);
    x->s = NULL;
    assert_int_equal(uv_loop_close(&x->loop), 0);
}
