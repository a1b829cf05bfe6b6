/* ingest_load: posts numbered events to the ingest API under load and records which were acknowledged, so a
 * test can check end to end that every acknowledged event reached ClickHouse exactly once.
 *
 * Usage: ingest_load --url BASE --token TOKEN [--seconds S | --batches N] [--batch EVENTS] [--concurrency C]
 *                    [--start SEQ] [--acked FILE] [--unknown FILE] [--rate BATCHES_PER_S]
 *
 * Every event carries "seq": a number unique within the run (from --start). A batch answered 2xx is
 * acknowledged: its seqs go to --acked, one per line. A batch whose request may have reached ingestd but got no
 * answer (any transport error: timeout, connection lost or refused, since curl may have sent it once before) has
 * an unknown outcome: its seqs go to --unknown. Batches answered 4xx/5xx are refused: neither. So ClickHouse must hold
 * every acked seq, no seq twice, and nothing outside acked + unknown. SIGINT/SIGTERM stop it cleanly (files complete).
 * The last line is "sent N batches (E events): acked A events, unknown U, refused R; X events/s". */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#define MAX_CONCURRENCY 256

/* One request slot: a batch of events in flight. */
typedef struct {
    CURL *easy;
    char *body;
    size_t body_len;
    uint64_t first_seq;
    unsigned nevents;
    bool busy;
} slot;

typedef struct {
    const char *url, *token, *acked_path, *unknown_path;
    double seconds;
    long batches;
    unsigned batch, concurrency;
    uint64_t start;
    double rate;
} options;

static volatile sig_atomic_t stop_requested;

/* SIGINT/SIGTERM: finish what is in flight, write the files, exit. */
static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Seconds on a monotonic clock. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Discard response bodies. */
static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* Render a batch of n events starting at seq into s->body: a JSON array as the tracker sends it. */
static int render_batch(slot *s, uint64_t seq, unsigned n)
{
    size_t cap = 64 + (size_t)n * 400;
    char *b = realloc(s->body, cap);
    if (!b)
        return -ENOMEM;
    s->body = b;
    size_t len = 0;
    b[len++] = '[';
    for (unsigned i = 0; i < n; i++) {
        uint64_t q = seq + i;
        int w = snprintf(b + len, cap - len,
                         "%s{\"type\": \"player_kill\", \"seq\":%" PRIu64 ", \"session_id\": \"sess_load_%" PRIu64
                         "\", \"match_id\": \"no_match\", \"timestamp\": \"%" PRIu64 ".%03u\", "
                         "\"attacker_guid\": \"%" PRIu64 "\", \"attacker_name\": \"Load %" PRIu64 "\", "
                         "\"victim_guid\": \"%" PRIu64 "\", \"victim_name\": \"Target\", \"weapon\": \"Kar98\", "
                         "\"hitloc\": \"head\", \"damage\": \"100.000\", \"mod\": \"bullet\"}",
                         i ? ", " : "", q, q / 1000, q % 100000, (unsigned)(q % 1000), q % 64, q % 64, (q + 7) % 64);
        if (w < 0 || (size_t)w >= cap - len)
            return -ENOMEM;
        len += (size_t)w;
    }
    b[len++] = ']';
    s->body_len = len;
    s->first_seq = seq;
    s->nevents = n;
    return 0;
}

/* Write seqs [first, first + n) to f, one per line. */
static void write_seqs(FILE *f, uint64_t first, unsigned n)
{
    if (!f)
        return;
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "%" PRIu64 "\n", first + i);
}

/* Parse the command line; exits with a usage message on errors. */
static void parse_args(int argc, char **argv, options *o)
{
    *o = (options){.batch = 20, .concurrency = 8, .seconds = 10, .batches = -1, .start = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "ingest_load: %s needs a value\n", a);
            exit(2);
        }
        i++;
        if (!strcmp(a, "--url"))
            o->url = v;
        else if (!strcmp(a, "--token"))
            o->token = v;
        else if (!strcmp(a, "--seconds"))
            o->seconds = atof(v);
        else if (!strcmp(a, "--batches"))
            o->batches = atol(v);
        else if (!strcmp(a, "--batch"))
            o->batch = (unsigned)atoi(v);
        else if (!strcmp(a, "--concurrency"))
            o->concurrency = (unsigned)atoi(v);
        else if (!strcmp(a, "--start"))
            o->start = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--acked"))
            o->acked_path = v;
        else if (!strcmp(a, "--unknown"))
            o->unknown_path = v;
        else if (!strcmp(a, "--rate"))
            o->rate = atof(v);
        else {
            fprintf(stderr, "ingest_load: unknown option %s\n", a);
            exit(2);
        }
    }
    if (!o->url || !o->token || o->batch < 1 || o->batch > 5000 || o->concurrency < 1 ||
        o->concurrency > MAX_CONCURRENCY) {
        fprintf(stderr,
                "usage: ingest_load --url BASE --token TOKEN [--seconds S | --batches N] [--batch 1..5000] "
                "[--concurrency 1..256] [--start SEQ] [--acked FILE] [--unknown FILE] [--rate BATCHES_PER_S]\n");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    options o;
    parse_args(argc, argv, &o);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    FILE *acked = o.acked_path ? fopen(o.acked_path, "w") : NULL;
    FILE *unknown = o.unknown_path ? fopen(o.unknown_path, "w") : NULL;
    if ((o.acked_path && !acked) || (o.unknown_path && !unknown)) {
        fprintf(stderr, "ingest_load: cannot write %s: %s\n", o.acked_path, strerror(errno));
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char url[2048], auth[1024];
    snprintf(url, sizeof url, "%s/api/v1/ingest/events", o.url);
    snprintf(auth, sizeof auth, "X-Server-Token: %s", o.token);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, auth);
    headers = curl_slist_append(headers, "Expect:");
    CURLM *multi = curl_multi_init();
    slot slots[MAX_CONCURRENCY] = {0};
    uint64_t next_seq = o.start, sent = 0, sent_events = 0, acked_events = 0, unknown_events = 0, refused_events = 0;
    unsigned inflight = 0;
    long status_counts[6] = {0};
    double t0 = now_s(), deadline = t0 + o.seconds;
    char last_error[256] = "";

    for (;;) {
        bool more = !stop_requested && (o.batches >= 0 ? (long)sent < o.batches : now_s() < deadline);
        if (more && o.rate > 0 && (double)sent >= (now_s() - t0) * o.rate)
            more = false; /* ahead of the rate: wait for the clock */
        for (unsigned i = 0; more && i < o.concurrency && inflight < o.concurrency; i++) {
            slot *s = &slots[i];
            if (s->busy)
                continue;
            if (render_batch(s, next_seq, o.batch) != 0) {
                fprintf(stderr, "ingest_load: out of memory\n");
                return 1;
            }
            if (!s->easy)
                s->easy = curl_easy_init();
            curl_easy_reset(s->easy);
            curl_easy_setopt(s->easy, CURLOPT_URL, url);
            curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, headers);
            curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
            curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)s->body_len);
            curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_body);
            curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, 15000L);
            curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
            curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(s->easy, CURLOPT_PRIVATE, (char *)s);
            curl_multi_add_handle(multi, s->easy);
            s->busy = true;
            inflight++;
            next_seq += o.batch;
            sent++;
            sent_events += o.batch;
            if (o.rate > 0 && (double)sent >= (now_s() - t0) * o.rate)
                break;
        }
        if (!inflight && !more && (stop_requested || (o.batches >= 0 ? (long)sent >= o.batches : now_s() >= deadline)))
            break;
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            slot *s;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            CURLcode code = m->data.result;
            long status = 0;
            curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle(multi, s->easy);
            if (code == CURLE_OK && status >= 200 && status < 300) {
                write_seqs(acked, s->first_seq, s->nevents);
                acked_events += s->nevents;
            } else if (code == CURLE_OK) {
                /* Answered with an error status: ingestd did not take it. */
                refused_events += s->nevents;
            } else {
                /* Any transport error may hide a delivered request: curl transparently resends a request whose
                 * reused connection died, and reports the resend's failure ("couldn't connect") even though the
                 * first copy may have been stored. */
                write_seqs(unknown, s->first_seq, s->nevents);
                unknown_events += s->nevents;
                snprintf(last_error, sizeof last_error, "%s", curl_easy_strerror(code));
            }
            status_counts[status >= 100 && status < 600 ? status / 100 : 0]++;
            s->busy = false;
            inflight--;
        }
        curl_multi_poll(multi, NULL, 0, 20, NULL);
    }
    double secs = now_s() - t0;
    for (unsigned i = 0; i < o.concurrency; i++) {
        if (slots[i].easy)
            curl_easy_cleanup(slots[i].easy);
        free(slots[i].body);
    }
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    if (acked)
        fclose(acked);
    if (unknown)
        fclose(unknown);
    if (last_error[0])
        printf("last transport error: %s\n", last_error);
    printf("statuses: none %ld, 2xx %ld, 4xx %ld, 5xx %ld\n", status_counts[0], status_counts[2], status_counts[4],
           status_counts[5]);
    printf("sent %" PRIu64 " batches (%" PRIu64 " events): acked %" PRIu64 " events, unknown %" PRIu64
           ", refused %" PRIu64 "; %.0f events/s\n",
           sent, sent_events, acked_events, unknown_events, refused_events, secs > 0 ? acked_events / secs : 0.0);
    return 0;
}
