/* Ingest flood: simulated hostile servers post the largest bodies ingestd takes, each on its own keep-alive
 * connection, a new one as soon as the last is answered; counts the answers by status. The probe that measures
 * what the flood does to normal batches is a separate ingest_bench --rate run (tests/bench/ingest_flood_bench.sh).
 * Prints one {"phase":"flood"} JSON line on stdout. */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytebuf.h"
#include "lib/tracker_load.h"

const char bench_prog[] = "ingest_flood";

static void usage(void)
{
    fprintf(stderr,
            "usage: ingest_flood --url BASE --servers FILE --body KIND [options]\n"
            "  --url BASE          ingest endpoint base (front door or ingestd); posts to BASE" INGEST_PATH "\n"
            "  --servers FILE      the flooding servers, one per line: SERVER_ID TOKEN; one connection each\n"
            "  --body KIND         chat: --max-events chat events with long messages filling --max-body (accepted)\n"
            "                      fields: --max-events events with as many small extra fields as fit (accepted)\n"
            "                      form: --max-body bytes of a=1 lines (refused 413 after --max-events events)\n"
            "                      malformed: the chat body with its closing ']' replaced, so the error is found\n"
            "                      only after every event was parsed (refused 400)\n"
            "  --max-body BYTES    body size (default 1048576: ingestd's HTTP_MAX_BODY)\n"
            "  --max-events N      events of the chat and fields bodies (default 500: INGEST_MAX_EVENTS)\n"
            "  --path PATH         post to this path instead (e.g. /ops/nginx/health: nginx drops each body and\n"
            "                      answers itself, the floor of what the front door pays for a flood)\n"
            "  --seconds S         how long to send (default 20)\n"
            "  --source ADDR       connection i comes from IPv4 address ADDR + i (e.g. 127.0.0.2: one client address\n"
            "                      per server, each counted by the front door's per-address limits)\n"
            "  --per-address K     with --source: K connections (servers) from each address (default 1)\n"
            "  --label TEXT        copied into the JSON line\n"
            "  --dump FILE         only write the body as event_row_bench reads it (0 TAB BODY; not for form,\n"
            "                      whose lines would be read as bodies), then exit\n");
    exit(2);
}

typedef struct {
    const char *url, *servers_file, *body, *label, *dump, *path, *source;
    size_t max_body, max_events;
    unsigned per_address;
    double seconds;
} options;

static void parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"servers", required_argument, NULL, 's'},
        {"body", required_argument, NULL, 'b'},
        {"max-body", required_argument, NULL, 'B'},
        {"max-events", required_argument, NULL, 'n'},
        {"seconds", required_argument, NULL, 'x'},
        {"path", required_argument, NULL, 'p'},
        {"source", required_argument, NULL, 'S'},
        {"per-address", required_argument, NULL, 'K'},
        {"label", required_argument, NULL, 'l'},
        {"dump", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (options){.max_body = 1048576, .max_events = 500, .seconds = 20};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            o->url = optarg;
            break;
        case 's':
            o->servers_file = optarg;
            break;
        case 'b':
            o->body = optarg;
            break;
        case 'B':
            o->max_body = strtoull(optarg, NULL, 10);
            break;
        case 'n':
            o->max_events = strtoull(optarg, NULL, 10);
            break;
        case 'x':
            o->seconds = strtod(optarg, NULL);
            break;
        case 'p':
            o->path = optarg;
            break;
        case 'S':
            o->source = optarg;
            break;
        case 'K':
            o->per_address = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'l':
            o->label = optarg;
            break;
        case 'D':
            o->dump = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind != argc || (!o->dump && (!o->url || !o->servers_file)) || !o->body || o->max_events == 0 ||
        o->seconds <= 0 || o->max_body / o->max_events < 512)
        usage();
}

/* A chat message's text, as a game server escapes it: mostly plain words, with escapes the parser must decode
 * (quotes, a backslash, \u sequences) and raw CP1252 bytes, so that every string costs what a hostile one can. */
static const char *const chat_words[] = {
    "gg ",      "wp ",        "nice shot ", "\\\"camper\\\" ", "\\u00e9t\\u00e9 ", "M\xFCller ",
    "^1red^7 ", "C:\\\\moh ", "rush B ",    "\\u263a ",        "lag!! ",           "1234567890 ",
};
#define NCHAT_WORDS (sizeof chat_words / sizeof chat_words[0])

/* One chat event of exactly `size` bytes (JSON text), the message padding it out. */
static void put_chat_event(bytebuf *b, size_t k, size_t size)
{
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "{\"type\": \"player_say\", \"timestamp\": \"%zu.050\", \"match_id\": \"no_match\", "
                      "\"session_id\": \"sess_flood\", \"player_guid\": \"unauth_%zu\", \"player_name\": "
                      "\"Flooder\", \"player_team\": \"allies\", \"message\": \"",
                      100 + k, k % 64);
    size_t start = b->len;
    bytebuf_append(b, head, (size_t)hl);
    size_t end = start + size - 2; /* room for "} */
    for (size_t w = k;; w++) {
        const char *word = chat_words[w % NCHAT_WORDS];
        size_t n = strlen(word);
        if (b->len + n > end)
            break;
        bytebuf_append(b, word, n);
    }
    while (b->len < end)
        bytebuf_append(b, "x", 1);
    bytebuf_append(b, "\"}", 2);
}

/* One event of exactly `size` bytes made of the envelope and as many small unknown fields as fit: the most
 * fields, hence the most parsing and vocabulary look-ups, an event of that size can hold. */
static void put_fields_event(bytebuf *b, size_t k, size_t size)
{
    size_t start = b->len;
    bytebuf_appendf(b, "{\"type\": \"jump\", \"timestamp\": \"%zu.050\", \"session_id\": \"sess_flood\"", 100 + k);
    char f[32];
    for (unsigned i = 0;; i++) {
        int n = snprintf(f, sizeof f, ", \"x%u\": %u", i, i % 10);
        if (b->len - start + (size_t)n + 1 > size || i >= 480) /* BATCH_MAX_FIELDS_PER_EVENT is 512 */
            break;
        bytebuf_append(b, f, (size_t)n);
    }
    /* Pad the last value to the exact size with a string field. */
    size_t left = size - (b->len - start) - 1;
    if (left >= 11) {
        bytebuf_append(b, ", \"pad\": \"", 10);
        for (size_t i = 11; i < left; i++)
            bytebuf_append(b, "p", 1);
        bytebuf_append(b, "\"", 1);
    }
    bytebuf_append(b, "}", 1);
}

/* The flood's body of the given kind; exits on an unknown kind. */
static bytebuf make_body(const options *o, size_t *nevents)
{
    bytebuf b = {0};
    bool chat = strcmp(o->body, "chat") == 0 || strcmp(o->body, "malformed") == 0;
    if (chat || strcmp(o->body, "fields") == 0) {
        /* "[" + events joined by "," + "]" within max_body */
        size_t per = (o->max_body - 2 - (o->max_events - 1)) / o->max_events;
        bytebuf_append(&b, "[", 1);
        for (size_t k = 0; k < o->max_events; k++) {
            if (k)
                bytebuf_append(&b, ",", 1);
            if (chat)
                put_chat_event(&b, k, per);
            else
                put_fields_event(&b, k, per);
        }
        bytebuf_append(&b, strcmp(o->body, "malformed") == 0 ? "}" : "]", 1);
        *nevents = o->max_events;
    } else if (strcmp(o->body, "form") == 0) {
        while (b.len + 4 <= o->max_body)
            bytebuf_append(&b, "a=1\n", 4);
        *nevents = b.len / 4;
    } else {
        usage();
    }
    return b;
}

int main(int argc, char **argv)
{
    options o;
    parse_options(argc, argv, &o);
    size_t nevents;
    bytebuf body = make_body(&o, &nevents);
    if (o.dump) {
        FILE *f = fopen(o.dump, "w");
        if (!f || fprintf(f, "0\t%s\n", body.data) < 0 || fclose(f) != 0) {
            perror(o.dump);
            return 1;
        }
        bytebuf_free(&body);
        return 0;
    }
    sim_server *servers;
    unsigned nservers = read_servers(o.servers_file, &servers);

    /* Every server sends its one prepared request over and over: enough copies (sharing its bytes) that the
     * time limit, not the list, ends the run, at up to 1000 requests per second per connection. */
    bench b = {.max_seconds = o.seconds, .nservers = nservers, .servers = servers};
    parse_target(o.url, &b.tgt);
    if (o.source)
        b.source = parse_source(o.source);
    b.per_source = o.per_address;
    if (o.path && snprintf(b.tgt.path, sizeof b.tgt.path, "%s", o.path) >= (int)sizeof b.tgt.path)
        usage();
    size_t copies = (size_t)(o.seconds * 1000) + 1;
    b.nbatches = copies * nservers;
    b.batches = calloc(b.nbatches, sizeof *b.batches);
    if (!b.batches)
        abort();
    for (unsigned i = 0; i < nservers; i++) {
        bench_batch *first = &b.batches[i * copies];
        make_request(first, &b.tgt, servers[i].token, body.data, body.len, /* close_mode= */ false);
        first->server = i;
        first->nevents = (unsigned)nevents;
        servers[i].batches = malloc(copies * sizeof(unsigned));
        if (!servers[i].batches)
            abort();
        for (size_t c = 0; c < copies; c++) {
            b.batches[i * copies + c] = *first;
            servers[i].batches[c] = (unsigned)(i * copies + c);
        }
        servers[i].nbatches = (unsigned)copies;
    }

    double cpu0 = cpu_seconds();
    run_load(&b);
    double cpu_s = cpu_seconds() - cpu0;
    load_stats *st = &b.st;
    double dur = st->t_last > st->t_first ? seconds_between(st->t_first, st->t_last) : 0;
    percentiles lat = percentiles_of(st->lat_us.v, st->lat_us.n);

    printf("{\"phase\":\"flood\",");
    print_label(o.label);
    printf("\"body\":\"%s\",\"url\":\"%s\",\"connections\":%u,\"body_bytes\":%zu,\"body_events\":%zu,", o.body, o.url,
           b.nworkers, body.len, nevents);
    printf("\"requests\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"non2xx\":%" PRIu64 ",\"transport_errors\":%" PRIu64 ",",
           st->requests, st->ok, st->non2xx, st->transport_errors);
    print_statuses(st);
    printf(",\"duration_s\":%.3f,\"requests_per_s\":%.1f,\"body_mb_per_s\":%.1f,\"events_accepted\":%" PRIu64 ",", dur,
           dur > 0 ? (double)st->requests / dur : 0, dur > 0 ? (double)st->body_bytes_sent / dur / 1e6 : 0,
           st->events_ok);
    printf("\"latency_us\":{\"p50\":%u,\"p99\":%u,\"max\":%u},\"client_cpu_s\":%.2f}\n", lat.p50, lat.p99, lat.max,
           cpu_s);
    fprintf(stderr,
            "flood %s: %" PRIu64 " requests of %zu bytes over %u connections in %.1f s (%.1f/s); %" PRIu64
            " 2xx, %" PRIu64 " other, %" PRIu64 " failed\n",
            o.body, st->requests, body.len, b.nworkers, dur, dur > 0 ? (double)st->requests / dur : 0, st->ok,
            st->non2xx, st->transport_errors);

    /* The copies share their first's bytes: free those once, then what bench_free frees besides. */
    for (unsigned i = 0; i < nservers; i++)
        free(b.batches[i * copies].req);
    for (size_t k = 0; k < b.nbatches; k++)
        b.batches[k].req = NULL;
    bench_free(&b);
    bytebuf_free(&body);
    return st->transport_errors ? 1 : 0;
}
