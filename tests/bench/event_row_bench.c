/* Row rendering alone, in CPU time per event: the batches of an `ingest_bench --dump` file parsed once, then
 * every event rendered into raw_events TSV rows, round after round. For measuring changes to event_row.c and
 * the bytebuf escaping on one core, without the HTTP server, Redis or ClickHouse.
 *
 * usage: event_row_bench DUMP_FILE [ROUNDS]   (make one with: ingest_bench --servers F --events N --dump FILE)
 * prints {"events":N,"rounds":R,"parse_ns_per_event":P,"render_ns_per_event":Q,"row_bytes_per_event":B} */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch_parse.h"
#include "bytebuf.h"
#include "event_row.h"

/* CPU time of this process, in nanoseconds. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Read the whole file into a NUL-terminated buffer; NULL on failure. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    bytebuf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (bytebuf_append(&b, chunk, n)) {
            fclose(f);
            bytebuf_free(&b);
            return NULL;
        }
    fclose(f);
    *len = b.len;
    return b.data;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: event_row_bench DUMP_FILE [ROUNDS]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    size_t len = 0;
    char *dump = read_file(argv[1], &len);
    if (!dump || !len) {
        fprintf(stderr, "event_row_bench: cannot read %s (or it is empty)\n", argv[1]);
        return 1;
    }

    /* One batch per line: SERVER_INDEX TAB BODY. */
    size_t nbatches = 0, cap = 0, nevents = 0;
    batch *batches = NULL;
    uint64_t t0 = cpu_ns();
    for (char *line = dump; line < dump + len;) {
        char *nl = memchr(line, '\n', (size_t)(dump + len - line));
        char *end = nl ? nl : dump + len;
        char *tab = memchr(line, '\t', (size_t)(end - line));
        if (tab) {
            if (nbatches == cap) {
                cap = cap ? cap * 2 : 1024;
                batches = realloc(batches, cap * sizeof *batches);
                if (!batches)
                    return 1;
            }
            if (batch_parse(tab + 1, (size_t)(end - tab - 1), &batches[nbatches])) {
                fprintf(stderr, "event_row_bench: %s\n", batches[nbatches].error);
                return 1;
            }
            nevents += batches[nbatches++].nevents;
        }
        line = end + 1;
    }
    uint64_t parse_ns = cpu_ns() - t0;
    if (!nevents) {
        fprintf(stderr, "event_row_bench: no events in %s\n", argv[1]);
        return 1;
    }

    /* Rows go into one buffer per batch, reused: the writer's buffers are long-lived too. */
    bytebuf rows = {0};
    size_t bytes = 0;
    event_context ctx = {.server_id = "bench-1", .received_ms = 1764000000123ULL};
    t0 = cpu_ns();
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < nbatches; i++) {
            rows.len = 0;
            for (size_t e = 0; e < batches[i].nevents; e++) {
                event_summary sum;
                if (event_row_render(&batches[i], &batches[i].events[e], &ctx, &rows, &sum))
                    return 1;
            }
            bytes += rows.len;
        }
    uint64_t render_ns = cpu_ns() - t0;

    printf("{\"events\":%zu,\"rounds\":%d,\"parse_ns_per_event\":%.1f,\"render_ns_per_event\":%.1f,"
           "\"row_bytes_per_event\":%.1f}\n",
           nevents, rounds, (double)parse_ns / (double)nevents, (double)render_ns / ((double)nevents * rounds),
           (double)bytes / ((double)nevents * rounds));
    for (size_t i = 0; i < nbatches; i++)
        batch_free(&batches[i]);
    free(batches);
    bytebuf_free(&rows);
    free(dump);
    return 0;
}
