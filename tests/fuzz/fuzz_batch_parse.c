/* Fuzz target: any body either parses or is rejected with a message; every parsed event renders to
 * exactly one TabSeparated line of exactly RC__COUNT columns (raw_row.h), so no input can break the writer's rows. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch_parse.h"
#include "event_row.h"
#include "raw_row.h"

static const char *no_map(void *arg, const char *s, size_t n, size_t *len)
{
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    batch b;
    int rc = batch_parse((const char *)data, size, &b);
    if (rc != 0) {
        if (rc != -EINVAL || b.error[0] == '\0')
            abort();
        batch_free(&b);
        return 0;
    }
    event_context ctx = {.server_id = "fuzz", .received_ms = 1, .maps = {no_map, NULL, NULL}};
    bytebuf out = {0};
    for (size_t i = 0; i < b.nevents; i++) {
        const batch_event *e = &b.events[i];
        if (e->raw < b.body || e->raw + e->raw_len > b.body + b.body_len)
            abort();
        event_summary sum;
        size_t start = out.len;
        if (event_row_render(&b, e, &ctx, &out, &sum) != 0)
            abort();
        size_t tabs = 0, newlines = 0;
        for (size_t k = start; k < out.len; k++) {
            tabs += out.data[k] == '\t';
            newlines += out.data[k] == '\n';
        }
        if (tabs != RC__COUNT - 1 || newlines != 1 || out.data[out.len - 1] != '\n')
            abort();
    }
    bytebuf_free(&out);
    batch_free(&b);
    return 0;
}
