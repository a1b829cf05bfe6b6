/* Unit tests with a private redis-server: the Redis client (commands, pipelining, reconnect after the
 * server restarts, close with commands pending) and the daemon scaffolding (a request in flight when
 * SIGTERM arrives is still answered, then daemon_run returns 0). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "redis_client.h"
#include "redis_server.h"

static int redis_port;
static pid_t redis_pid;
static char redis_dir[] = "/tmp/mohstats-test-redis-XXXXXX";

static int setup(void **state)
{
    if (!mkdtemp(redis_dir))
        return -1;
    redis_port = test_free_port();
    redis_pid = test_redis_start(redis_port, redis_dir);
    return 0;
}

static int teardown(void **state)
{
    test_redis_stop(redis_pid);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", redis_dir);
    return system(cmd) == 0 ? 0 : -1;
}

typedef struct {
    uv_loop_t *loop;
    redis_client *c;
    int replies, errors, connects, closed;
    char last[64];
} rstate;

static void on_reply(redis_client *c, struct redisReply *r, const char *err, void *arg)
{
    rstate *s = arg;
    if (!r) {
        s->errors++;
        return;
    }
    s->replies++;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
        snprintf(s->last, sizeof s->last, "%s", r->str);
}

static void on_connect(redis_client *c, void *arg)
{
    ((rstate *)arg)->connects++;
}

static void on_closed(void *arg)
{
    ((rstate *)arg)->closed = 1;
}

/* Run the loop until cond holds or ms pass. */
#define RUN_UNTIL(loop, cond, ms)                                                                                    \
    do {                                                                                                             \
        for (int _i = 0; _i < (ms) && !(cond); _i++) {                                                               \
            uv_run(loop, UV_RUN_NOWAIT);                                                                             \
            usleep(1000);                                                                                            \
        }                                                                                                            \
    } while (0)

static void test_redis_client(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/1", redis_port);
    rstate s = {.loop = &loop};
    s.c = redis_client_new(&loop, url);
    assert_non_null(s.c);
    redis_client_on_connect(s.c, on_connect, &s);
    RUN_UNTIL(&loop, redis_client_connected(s.c), 3000);
    assert_true(redis_client_connected(s.c));
    assert_int_equal(s.connects, 1);

    /* A pipeline of many commands, answered in order. */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(redis_command(s.c, on_reply, &s, "INCR counter"), 0);
    const char *argv[3] = {"SET", "bin", "a\0b"};
    size_t lens[3] = {3, 3, 3};
    assert_int_equal(redis_command_argv(s.c, on_reply, &s, 3, argv, lens), 0);
    redis_command(s.c, on_reply, &s, "GET counter");
    RUN_UNTIL(&loop, s.replies == 1002, 3000);
    assert_int_equal(s.replies, 1002);
    assert_string_equal(s.last, "1000");

    /* The server restarts: commands fail meanwhile, then the client is back by itself. */
    test_redis_stop(redis_pid);
    RUN_UNTIL(&loop, !redis_client_connected(s.c), 3000);
    assert_false(redis_client_connected(s.c));
    assert_int_not_equal(redis_command(s.c, on_reply, &s, "PING"), 0);
    redis_pid = test_redis_start(redis_port, redis_dir);
    RUN_UNTIL(&loop, redis_client_connected(s.c), 5000);
    assert_true(redis_client_connected(s.c));
    assert_int_equal(s.connects, 2);
    redis_command(s.c, on_reply, &s, "PING");
    RUN_UNTIL(&loop, s.replies == 1003, 3000);
    assert_string_equal(s.last, "PONG");

    /* Close with commands pending: their callbacks get no reply, then everything is released. */
    redis_command(s.c, on_reply, &s, "BLPOP nothing 5");
    redis_client_close(s.c, on_closed, &s);
    RUN_UNTIL(&loop, s.closed, 3000);
    assert_true(s.closed);
    assert_int_equal(s.errors, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- daemon scaffolding ---- */

static int daemon_port;

/* A handler that answers 300 ms later, so that SIGTERM arrives while it is in flight. */
typedef struct {
    uv_timer_t t;
    http_request *req;
} slow;

static void slow_closed(uv_handle_t *h)
{
    free(h->data);
}

static void slow_fire(uv_timer_t *t)
{
    slow *s = t->data;
    http_respond(s->req, 200, "text/plain", "finished", 8);
    t->data = s;
    uv_close((uv_handle_t *)t, slow_closed);
}

static void slow_handler(http_request *req, void *arg)
{
    slow *s = calloc(1, sizeof *s);
    s->req = req;
    uv_timer_init(arg, &s->t);
    s->t.data = s;
    uv_timer_start(&s->t, slow_fire, 300, 0);
    kill(getpid(), SIGTERM); /* the shutdown starts now, with this request in flight */
}

static char client_reply[256];

/* Client thread: send one request and read the whole answer. */
static void *client(void *arg)
{
    usleep(200000);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)daemon_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        const char *req = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";
        write(fd, req, strlen(req));
        size_t n = 0;
        ssize_t got;
        while (n < sizeof client_reply - 1 && (got = read(fd, client_reply + n, sizeof client_reply - 1 - n)) > 0)
            n += (size_t)got;
        client_reply[n] = '\0';
    }
    close(fd);
    return NULL;
}

static void test_daemon_shutdown(void **state)
{
    daemon_port = test_free_port();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", daemon_port);
    setenv("TESTD_URL", url, 1);
    setenv("LOG_LEVEL", "error", 1);
    static const daemon_info info = {.name = "testd", .summary = "test", .listen_var = "TESTD_URL"};
    char *argv[] = {"testd", NULL};
    int code;
    daemon_ctx *d = daemon_new(&info, 1, argv, &code);
    assert_non_null(d);
    http_server_route(daemon_http(d), "GET", "/slow", slow_handler, daemon_loop(d));
    pthread_t th;
    pthread_create(&th, NULL, client, NULL);
    code = daemon_run(d);
    pthread_join(th, NULL);
    daemon_free(d);
    assert_int_equal(code, 0);
    assert_non_null(strstr(client_reply, "HTTP/1.1 200"));
    assert_non_null(strstr(client_reply, "finished"));
}

static void test_daemon_help(void **state)
{
    static const daemon_info info = {.name = "testd", .summary = "test", .listen_var = "TESTD_URL"};
    char *help[] = {"testd", "--help", NULL}, *bad[] = {"testd", "--nope", NULL};
    int code = -1;
    freopen("/dev/null", "w", stdout);
    assert_null(daemon_new(&info, 2, help, &code));
    assert_int_equal(code, 0);
    assert_null(daemon_new(&info, 2, bad, &code));
    assert_int_equal(code, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_redis_client, setup, teardown),
        cmocka_unit_test(test_daemon_shutdown),
        cmocka_unit_test(test_daemon_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
