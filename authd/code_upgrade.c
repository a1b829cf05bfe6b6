/* The rewrite of login codes stored before schema 0004: a bare SHA-256 becomes the code's MAC.
 *
 * PostgreSQL has no key, so the migration only marks those rows (hash_scheme 'sha256') and authd rewrites them
 * when it starts, a page at a time: it derives each row's code from the row id, exactly as the forum is shown
 * it, and stores that code's MAC. So outstanding codes keep working and no member has to fetch a new one. A
 * row made under an earlier AUTHD_TOKEN_KEY holds the hash of a code this key does not derive; it gets the MAC
 * of the code the current key derives, which is what the forum then shows the member (before, the forum
 * replaced such a code when it next asked; either way the old code stops working). Until a row is rewritten,
 * its code answers token_unknown, and /ready says the rewrite is not finished. When PostgreSQL cannot be
 * reached, the rewrite tries again every 10 seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "daemon.h"
#include "log.h"
#include "login_code.h"
#include "random.h"

#define RETRY_MS 10000 /* after a failure, typically PostgreSQL not up yet */

typedef struct {
    authd *a;
    uv_timer_t timer;
    bool done;
    long rewritten, other_key; /* so far, for the log line at the end */
} code_upgrade;

static void next_page(code_upgrade *u);

/* The retry timer fired. */
static void on_timer(uv_timer_t *t)
{
    next_page(t->data);
}

/* Try again later (the timer does not keep the loop alive, so a stopping daemon is not held up). */
static void retry_later(code_upgrade *u, const char *what, const char *err)
{
    log_warn("rewriting stored login codes as MACs: %s failed (%s); trying again in %d s", what,
             err ? err : "no answer", RETRY_MS / 1000);
    uv_timer_start(&u->timer, on_timer, RETRY_MS, 0);
}

/* A page was rewritten: the next one. */
static void on_updated(PGresult *res, const char *err, void *arg)
{
    code_upgrade *u = arg;
    if (!res || err) {
        retry_later(u, "an UPDATE", err);
        return;
    }
    u->rewritten += strtol(PQcmdTuples(res), NULL, 10);
    next_page(u);
}

/* A page of rows still holding a bare SHA-256: compute their MACs and store them in one statement. */
static void on_page(PGresult *res, const char *err, void *arg)
{
    code_upgrade *u = arg;
    if (!res || err) {
        retry_later(u, "reading them", err);
        return;
    }
    int n = PQntuples(res);
    if (n == 0) {
        u->done = true;
        if (u->rewritten)
            log_info("rewrote %ld stored login codes as MACs under AUTHD_TOKEN_KEY", u->rewritten);
        if (u->other_key)
            log_warn("%ld of them had been made under an earlier AUTHD_TOKEN_KEY: those members are shown a new "
                     "code on the forum, and their old one no longer logs in",
                     u->other_key);
        return;
    }
    /* Two array literals: {id,...} and {mac,...}; ids are canonical UUID text, MACs hex, neither needs quoting. */
    char *ids = malloc((size_t)n * 37 + 3), *macs = malloc((size_t)n * 65 + 3);
    if (!ids || !macs) {
        free(ids);
        free(macs);
        retry_later(u, "memory for a page", "out of memory");
        return;
    }
    size_t ni = 0, nm = 0;
    ids[ni++] = '{';
    macs[nm++] = '{';
    for (int i = 0; i < n; i++) {
        uint8_t id[16];
        char code[LOGIN_CODE_LEN + 1], hash[65];
        if (uuid_parse(PQgetvalue(res, i, 0), id) != 0) {
            /* Cannot happen for a uuid column; stopping (not ready) beats reading the same page forever. */
            log_error("rewriting stored login codes: PostgreSQL gave an id that is not a UUID; stopped");
            free(ids);
            free(macs);
            return;
        }
        login_code_derive(u->a->code_key, id, code);
        login_code_legacy_hash(code, hash);
        if (strcmp(hash, PQgetvalue(res, i, 1)) != 0)
            u->other_key++;
        if (ni > 1)
            ids[ni++] = ',', macs[nm++] = ',';
        uuid_format(id, ids + ni);
        ni += 36;
        login_code_mac(u->a->code_key, code, macs + nm);
        nm += 64;
        memset(code, 0, sizeof code);
    }
    memcpy(ids + ni, "}", 2);
    memcpy(macs + nm, "}", 2);
    const char *params[2] = {ids, macs};
    /* hash_scheme is checked again: another authd (during a rolling restart) may have rewritten a row since. */
    int rc = pg_query(u->a->pg,
                      "UPDATE login_tokens l SET token_hash = m.mac, hash_scheme = 'hmac-sha256'\n"
                      "  FROM unnest($1::uuid[], $2::text[]) AS m(id, mac)\n"
                      " WHERE l.id = m.id AND l.hash_scheme = 'sha256'",
                      2, params, on_updated, u);
    free(ids);
    free(macs);
    if (rc != 0)
        retry_later(u, "queueing an UPDATE", "out of memory");
}

/* Ask for the next page of rows that still hold a bare SHA-256 (the first page, after a rewrite, or a retry). */
static void next_page(code_upgrade *u)
{
    if (pg_query(u->a->pg,
                 /* 500 rows a round trip: the UPDATE's two arrays stay under 60 KB */
                 "SELECT id::text, token_hash FROM login_tokens WHERE hash_scheme = 'sha256' ORDER BY id LIMIT 500", 0,
                 NULL, on_page, u) != 0)
        retry_later(u, "queueing a SELECT", "out of memory");
}

/* /ready: not ready while codes stored before 0004 cannot log in yet. */
static void probe(void *arg, void *token, probe_done_fn done)
{
    code_upgrade *u = arg;
    done(token, u->done, u->done ? NULL : "stored login codes are still being rewritten as MACs");
}

/* The daemon stops: close the retry timer so the loop can end. */
static void on_stop(void *arg, void *token, void (*done)(void *token))
{
    code_upgrade *u = arg;
    uv_close((uv_handle_t *)&u->timer, NULL);
    done(token);
}

void code_upgrade_start(authd *a, daemon_ctx *d)
{
    static code_upgrade u;
    u.a = a;
    uv_timer_init(daemon_loop(d), &u.timer);
    u.timer.data = &u;
    uv_unref((uv_handle_t *)&u.timer);
    daemon_add_ready_check(d, "login codes", probe, &u);
    daemon_add_stop_hook(d, on_stop, &u);
    next_page(&u);
}
