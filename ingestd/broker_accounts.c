/* Exports the active game servers' ids and token hashes, for the MQTT broker's logins. */
#include "broker_accounts.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytebuf.h"
#include "hashmap.h"
#include "log.h"
#include "metrics.h"

/* The value of every entry of the active set: a tag, nothing to free. */
static char active_tag;

struct broker_accounts {
    uv_timer_t timer;
    pg_pool *pg;
    char *path;
    hashmap *active;   /* server id -> &active_tag; NULL until the registry answered once */
    bytebuf written;   /* the file's content as last written, so an unchanged list is not written again */
    bool file_written; /* once, even empty: the broker then knows the list is no server, not missing */
    bool querying, closing;
    uint64_t failures;
    metric *accounts_gauge;
};

/* Write the list to a temporary file beside path, then rename it over path: the broker never reads half a list.
 * mkstemp's own name, not the pid: ingestd replicas in containers are all pid 1 and may share the volume. */
static int write_file(const char *path, const char *data, size_t len)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    int fd = mkstemp(tmp); /* mode 0600: token hashes, for the broker (the same user) only */
    if (fd < 0)
        return -errno;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int err = -errno;
        close(fd);
        unlink(tmp);
        return err;
    }
    bool ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int err = errno ? -errno : -EIO;
        unlink(tmp);
        return err;
    }
    return 0;
}

static void accounts_destroy(broker_accounts *a)
{
    hashmap_free(a->active, NULL);
    bytebuf_free(&a->written);
    free(a->path);
    free(a);
}

/* The registry's answer: the new active set, and the file if it changed. */
static void on_accounts(PGresult *res, const char *err, void *arg)
{
    broker_accounts *a = arg;
    a->querying = false;
    if (a->closing) {
        accounts_destroy(a);
        return;
    }
    if (!res) {
        /* Keep the last list: the broker goes on with it, and so does the check of messages. */
        if (a->failures++ % 60 == 0)
            log_warn("cannot read the game servers for the MQTT broker (keeping the last list): %s",
                     err ? err : "database unavailable");
        return;
    }
    a->failures = 0;
    hashmap *fresh = hashmap_new();
    bytebuf text = {0};
    int rows = PQntuples(res);
    bool ok = fresh != NULL;
    for (int i = 0; ok && i < rows; i++) {
        const char *id = PQgetvalue(res, i, 0), *hash = PQgetvalue(res, i, 1);
        ok = hashmap_put(fresh, id, strlen(id), &active_tag, NULL) == 0 && bytebuf_append(&text, id, strlen(id)) == 0 &&
             bytebuf_append(&text, " ", 1) == 0 && bytebuf_append(&text, hash, strlen(hash)) == 0 &&
             bytebuf_append(&text, "\n", 1) == 0;
    }
    if (!ok) {
        hashmap_free(fresh, NULL);
        bytebuf_free(&text);
        return; /* out of memory: the next refresh tries again */
    }
    hashmap_free(a->active, NULL);
    a->active = fresh;
    metric_set(a->accounts_gauge, (double)rows);
    if (a->path && (!a->file_written || text.len != a->written.len ||
                    (text.len && memcmp(text.data, a->written.data, text.len) != 0))) {
        int werr = write_file(a->path, text.data ? text.data : "", text.len);
        if (werr) {
            log_error("cannot write the MQTT broker's accounts to %s: %s", a->path, strerror(-werr));
            bytebuf_free(&text);
            return;
        }
        log_info("MQTT broker accounts: %d active game servers written to %s", rows, a->path);
        a->file_written = true;
        bytebuf_free(&a->written);
        a->written = text;
        return;
    }
    bytebuf_free(&text);
}

static void on_timer(uv_timer_t *t)
{
    broker_accounts *a = t->data;
    if (a->querying)
        return;
    a->querying = true;
    if (pg_query(a->pg, "SELECT id, token_hash FROM servers WHERE is_active ORDER BY id", 0, NULL, on_accounts, a))
        a->querying = false;
}

broker_accounts *broker_accounts_new(uv_loop_t *loop, pg_pool *pg, const char *path, uint64_t refresh_ms)
{
    broker_accounts *a = calloc(1, sizeof *a);
    if (!a || (path && !(a->path = strdup(path)))) {
        free(a);
        return NULL;
    }
    a->pg = pg;
    a->accounts_gauge =
        metrics_gauge("mohstats_mqtt_accounts", "Active game servers that may log in to the MQTT broker", NULL);
    uv_timer_init(loop, &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, on_timer, 0, refresh_ms);
    return a;
}

static void on_timer_closed(uv_handle_t *h)
{
    broker_accounts *a = h->data;
    if (a->querying)
        a->closing = true; /* on_accounts frees */
    else
        accounts_destroy(a);
}

void broker_accounts_free(broker_accounts *a)
{
    if (a)
        uv_close((uv_handle_t *)&a->timer, on_timer_closed);
}

int broker_accounts_active(const broker_accounts *a, const char *server_id)
{
    if (!a->active)
        return -1;
    return hashmap_get(a->active, server_id, strlen(server_id)) != NULL;
}
