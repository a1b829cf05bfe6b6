/* achievd: evaluates achievements from the event stream and writes unlocks into the forum's tables; writes the
 * results of linked tournament matches there too (tournament.c). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "achievd.h"
#include "daemon.h"
#include "log.h"
#include "report.h"
#include "tournament.h"

/* `achievd grant|revoke MEMBER CODE`: the manual achievements, and corrections. */
static int grant_cli(int argc, char **argv, const achievd_settings *s)
{
    bool grant = strcmp(argv[1], "grant") == 0;
    char *end = NULL;
    unsigned long member = argc == 4 ? strtoul(argv[2], &end, 10) : 0;
    if (argc != 4 || !end || *end || member == 0 || member > UINT32_MAX) {
        fprintf(stderr, "usage: achievd grant|revoke MEMBER CODE\n"
                        "Grants (or takes back) the achievement CODE of the forum's catalogue to forum member MEMBER,\n"
                        "in the MariaDB database of MARIADB_URL.\n");
        return 2;
    }
    forum *f = forum_new(s);
    if (!f)
        return 1;
    char msg[256];
    int rc = forum_grant(f, (uint32_t)member, argv[3], grant, msg, sizeof msg);
    forum_free(f);
    /* The operator's action goes to the log with what and to whom, like every admin action. */
    log_info("operator (uid %u): %s", (unsigned)getuid(), msg);
    printf("%s\n", msg);
    return rc == 0 ? 0 : 1;
}

typedef struct {
    pipeline *p;
    report *r;
    tournament_thread *t;
} achievd;

static void stop_achievd(void *arg, void *token, void (*done)(void *token))
{
    achievd *a = arg;
    pipeline_stop(a->p); /* the thread finishes its step (a read blocks 0.5 s at most) and gives the lease up */
    tournament_thread_stop(a->t);
    report_free(a->r);   /* its timer would keep the loop running */
    a->r = NULL;
    done(token);
}

int main(int argc, char **argv)
{
    static const daemon_info info = {
        .name = "achievd",
        .summary = "Reads the event stream, evaluates the forum's achievements, writes unlocks and progress to "
                   "MariaDB, and the results of linked tournament matches.\n"
                   "Operator commands: achievd grant|revoke MEMBER CODE.",
        .listen_var = "ACHIEVD_URL",
    };
    config_register(achievd_config_vars);
    static achievd_settings s;
    if (argc > 1 && (strcmp(argv[1], "grant") == 0 || strcmp(argv[1], "revoke") == 0)) {
        log_init("achievd", -1);
        return achievd_settings_load(&s) == 0 ? grant_cli(argc, argv, &s) : 2;
    }
    int code;
    daemon_ctx *d = daemon_new(&info, argc, argv, &code);
    if (!d)
        return code;
    if (achievd_settings_load(&s) != 0) {
        daemon_free(d);
        return 2;
    }
    /* A checkpoint's buffers (up to ~12 MB each, three at once) are mapped and unmapped every step. glibc would
     * raise its mapping threshold to their size after the first free and then carve them out of the heap, which
     * it cannot give back once players' states are allocated above them: a fixed threshold keeps the peak the
     * peak. Two arenas: the pipeline's and the writer's threads. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_ARENA_MAX, 2);
    daemon_redis(d);      /* for /ready; the pipeline has connections of its own */
    daemon_mariadb(d, 1); /* likewise */
    static achievd a;
    a.p = pipeline_new(&s);
    a.r = a.p ? report_new(daemon_loop(d), a.p) : NULL;
    a.t = a.p ? tournament_thread_new(&s, &pipeline_stats_of(a.p)->leader) : NULL;
    if (!a.p || !a.r || !a.t || pipeline_start(a.p) != 0 || tournament_thread_start(a.t) != 0) {
        log_error("achievd: cannot start (out of memory?)");
        return 1;
    }
    daemon_add_stop_hook(d, stop_achievd, &a);
    code = daemon_run(d);
    daemon_free(d);
    pipeline_free(a.p);
    tournament_thread_free(a.t);
    return code;
}
