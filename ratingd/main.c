/* ratingd: rates players after each finished match (docs/ratings.md) and answers /health, /ready, /metrics.
 * `ratingd recompute [--replace]` rebuilds the rating history from raw_events; `ratingd evaluate` measures how
 * well it predicts. */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "evaluate.h"
#include "log.h"
#include "rating_settings.h"
#include "ratingd.h"
#include "recompute.h"
#include "worker.h"

/* Stop hook: the thread finishes its step and gives the lease up. */
static void stop_worker(void *arg, void *token, void (*done)(void *token))
{
    worker_stop(arg);
    done(token);
}

int main(int argc, char **argv)
{
    static const daemon_info info = {
        .name = "ratingd",
        .summary = "Rates players (Weng-Lin Plackett-Luce) after each finished match into ClickHouse's "
                   "rating_changes.\nOperator commands: ratingd recompute [--replace], ratingd evaluate.",
        .listen_var = "RATINGD_URL",
    };
    config_register(ratingd_config_vars);
    config_register(rating_model_config_vars);
    static ratingd_settings s;
    if (argc > 1 && (strcmp(argv[1], "recompute") == 0 || strcmp(argv[1], "evaluate") == 0)) {
        log_init("ratingd", -1);
        if (ratingd_settings_load(&s) != 0)
            return 2;
        return argv[1][0] == 'r' ? recompute_main(&s, argc, argv) : evaluate_main(&s, argc, argv);
    }
    int code;
    daemon_ctx *d = daemon_new(&info, argc, argv, &code);
    if (!d)
        return code;
    if (ratingd_settings_load(&s) != 0) {
        daemon_free(d);
        return 2;
    }
    daemon_clickhouse(d, NULL); /* for /ready; the thread has connections of its own */
    daemon_redis(d);            /* likewise */
    rating_worker *w = worker_new(&s);
    if (!w || worker_start(w) != 0) {
        log_error("ratingd: cannot start the rating thread (out of memory?)");
        worker_free(w);
        daemon_free(d);
        return 1;
    }
    daemon_add_stop_hook(d, stop_worker, w);
    code = daemon_run(d);
    daemon_free(d);
    worker_free(w);
    return code;
}
