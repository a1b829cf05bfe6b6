/* queryd benchmark client: request latencies, the forum's 38-request leaderboard page, and ClickHouse's own
 * time for the queries queryd ran (replayed from system.query_log, where every queryd query carries a
 * "queryd <cache key> #<step>" comment).
 *
 *   queryd_bench lat BASE COUNT PATH      COUNT sequential GETs of BASE + PATH on one keep-alive connection;
 *                                         "%d" in PATH becomes 0..COUNT-1 (distinct answers: cold cache)
 *   queryd_bench page BASE ROUNDS PERIOD cold|warm
 *                                         ROUNDS times the 38 leaderboard widgets in parallel (limit=5);
 *                                         cold: each round asks a different limit (nothing cached)
 *   queryd_bench chtime CH_URL TAG_PREFIX replay the queries of every answer whose cache key starts with
 *                                         TAG_PREFIX, step by step, each step's queries in parallel as
 *                                         queryd runs them; per answer: the sum of the steps' times
 *
 * Each mode prints one line: count p50_ms p99_ms max_ms errors. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const stats[] = {
    "kills",        "deaths",        "kd_ratio",    "headshots",  "accuracy", "shots_fired",   "damage",
    "bash_kills",   "grenade_kills", "roadkills",   "telefrags",  "crushed",  "teamkills",     "suicides",
    "reloads",      "weapon_swaps",  "no_ammo",     "looter",     "distance", "sprinted",      "swam",
    "driven",       "jumps",         "crouch_time", "prone_time", "ladders",  "health_picked", "ammo_picked",
    "armor_picked", "items_picked",  "wins",        "team_wins",  "ffa_wins", "losses",        "objectives",
    "rounds",       "playtime",      "games"};
#define NSTATS (sizeof stats / sizeof stats[0])

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Collects a response body. */
typedef struct {
    char *data;
    size_t len;
} body;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    body *b = arg;
    char *d = realloc(b->data, b->len + size * n + 1);
    if (!d)
        return 0;
    memcpy(d + b->len, p, size * n);
    b->len += size * n;
    d[b->len] = '\0';
    b->data = d;
    return size * n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Print count, p50, p99, max of the samples, and errors. */
static void report(double *v, size_t n, int errors)
{
    if (n == 0) {
        printf("0 0 0 0 %d\n", errors);
        return;
    }
    qsort(v, n, sizeof *v, cmp_double);
    size_t i99 = (size_t)(0.99 * (double)(n - 1) + 0.5);
    printf("%zu %.2f %.2f %.2f %d\n", n, v[(n - 1) / 2], v[i99], v[n - 1], errors);
}

/* GET url with a reusable handle; the HTTP status, or 0 on a transport error. */
static long get(CURL *h, const char *url, body *b)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    if (curl_easy_perform(h) != CURLE_OK)
        return 0;
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static int mode_lat(const char *base, int count, const char *path)
{
    CURL *h = curl_easy_init();
    double *v = calloc((size_t)count, sizeof *v);
    int errors = 0;
    size_t n = 0;
    for (int i = 0; i < count; i++) {
        char p[1024], url[2048];
        snprintf(p, sizeof p, path, i);
        snprintf(url, sizeof url, "%s%s", base, p);
        body b = {0};
        double t0 = now_ms();
        long st = get(h, url, &b);
        double dt = now_ms() - t0;
        free(b.data);
        if (st != 200)
            errors++;
        else
            v[n++] = dt;
    }
    report(v, n, errors);
    free(v);
    curl_easy_cleanup(h);
    return 0;
}

static int mode_page(const char *base, int rounds, const char *period, int cold)
{
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)NSTATS);
    CURL *h[NSTATS];
    body b[NSTATS];
    for (size_t i = 0; i < NSTATS; i++)
        h[i] = curl_easy_init();
    double *v = calloc((size_t)rounds, sizeof *v);
    int errors = 0;
    size_t n = 0;
    for (int r = 0; r < rounds + (cold ? 0 : 1); r++) {
        /* warm: the first round fills the cache and is not counted */
        int limit = cold ? 5 + r % 95 : 5;
        for (size_t i = 0; i < NSTATS; i++) {
            char url[1024];
            snprintf(url, sizeof url, "%s/api/v1/stats/leaderboard/global?stat=%s&limit=%d&period=%s", base, stats[i],
                     limit, period);
            memset(&b[i], 0, sizeof b[i]);
            curl_easy_setopt(h[i], CURLOPT_URL, url);
            curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, on_body);
            curl_easy_setopt(h[i], CURLOPT_WRITEDATA, &b[i]);
            curl_easy_setopt(h[i], CURLOPT_TIMEOUT, 30L);
            curl_multi_add_handle(m, h[i]);
        }
        double t0 = now_ms();
        int running = 1;
        while (running) {
            curl_multi_perform(m, &running);
            if (running)
                curl_multi_poll(m, NULL, 0, 100, NULL);
        }
        double dt = now_ms() - t0;
        int bad = 0;
        for (size_t i = 0; i < NSTATS; i++) {
            long st = 0;
            curl_easy_getinfo(h[i], CURLINFO_RESPONSE_CODE, &st);
            bad += st != 200;
            curl_multi_remove_handle(m, h[i]);
            free(b[i].data);
        }
        errors += bad;
        if (cold || r > 0)
            v[n++] = dt;
    }
    report(v, n, errors);
    for (size_t i = 0; i < NSTATS; i++)
        curl_easy_cleanup(h[i]);
    curl_multi_cleanup(m);
    free(v);
    return 0;
}

/* Undo TabSeparated escaping in place. */
static void tsv_unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            *o++ = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p == '0' ? '\0' : *p;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

typedef struct {
    char tag[128];
    int step;
    char *sql;
} logged;

static int cmp_logged(const void *a, const void *b)
{
    const logged *x = a, *y = b;
    int c = strcmp(x->tag, y->tag);
    return c ? c : x->step - y->step;
}

static int mode_chtime(const char *ch, const char *prefix)
{
    CURL *h = curl_easy_init();
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT DISTINCT query FROM system.query_log WHERE type = 2 AND event_date >= yesterday() "
             "AND startsWith(query, '/* queryd %s') FORMAT TabSeparated",
             prefix);
    body b = {0};
    curl_easy_setopt(h, CURLOPT_URL, ch);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, sql);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    if (curl_easy_perform(h) != CURLE_OK || !b.data) {
        fprintf(stderr, "cannot read system.query_log\n");
        return 1;
    }
    size_t cap = 1024, n = 0;
    logged *q = malloc(cap * sizeof *q);
    for (char *line = strtok(b.data, "\n"); line; line = strtok(NULL, "\n")) {
        tsv_unescape(line);
        if (n == cap)
            q = realloc(q, (cap *= 2) * sizeof *q);
        if (sscanf(line, "/* queryd %127s #%d */", q[n].tag, &q[n].step) != 2)
            continue;
        q[n].sql = line;
        n++;
    }
    qsort(q, n, sizeof *q, cmp_logged);
    double *v = calloc(n + 1, sizeof *v);
    size_t nv = 0;
    int errors = 0;
    CURLM *m = curl_multi_init();
    for (size_t i = 0; i < n;) {
        double total = 0;
        size_t j = i;
        while (j < n && strcmp(q[j].tag, q[i].tag) == 0) {
            /* One step: its queries in parallel, as queryd runs them. */
            int step = q[j].step;
            size_t first = j;
            for (; j < n && strcmp(q[j].tag, q[i].tag) == 0 && q[j].step == step; j++)
                ;
            size_t k = j - first;
            CURL **hs = calloc(k, sizeof *hs);
            body *rs = calloc(k, sizeof *rs);
            for (size_t x = 0; x < k; x++) {
                hs[x] = curl_easy_init();
                curl_easy_setopt(hs[x], CURLOPT_URL, ch);
                curl_easy_setopt(hs[x], CURLOPT_POSTFIELDS, q[first + x].sql);
                curl_easy_setopt(hs[x], CURLOPT_WRITEFUNCTION, on_body);
                curl_easy_setopt(hs[x], CURLOPT_WRITEDATA, &rs[x]);
                curl_multi_add_handle(m, hs[x]);
            }
            double t0 = now_ms();
            int running = 1;
            while (running) {
                curl_multi_perform(m, &running);
                if (running)
                    curl_multi_poll(m, NULL, 0, 100, NULL);
            }
            total += now_ms() - t0;
            for (size_t x = 0; x < k; x++) {
                long st = 0;
                curl_easy_getinfo(hs[x], CURLINFO_RESPONSE_CODE, &st);
                errors += st != 200;
                curl_multi_remove_handle(m, hs[x]);
                curl_easy_cleanup(hs[x]);
                free(rs[x].data);
            }
            free(hs);
            free(rs);
        }
        v[nv++] = total;
        i = j;
    }
    curl_multi_cleanup(m);
    report(v, nv, errors);
    free(v);
    free(q);
    free(b.data);
    curl_easy_cleanup(h);
    return 0;
}

int main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (argc == 5 && strcmp(argv[1], "lat") == 0)
        return mode_lat(argv[2], atoi(argv[3]), argv[4]);
    if (argc == 6 && strcmp(argv[1], "page") == 0)
        return mode_page(argv[2], atoi(argv[3]), argv[4], strcmp(argv[5], "cold") == 0);
    if (argc == 4 && strcmp(argv[1], "chtime") == 0)
        return mode_chtime(argv[2], argv[3]);
    fprintf(stderr, "usage: queryd_bench lat BASE COUNT PATH | page BASE ROUNDS PERIOD cold|warm | "
                    "chtime CH_URL TAG_PREFIX\n");
    return 2;
}
