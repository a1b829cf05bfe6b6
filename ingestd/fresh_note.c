/* Noting which players and matches an insert touched, and telling queryd (common/fresh_stream.h).
 *
 * Why here: the writer is the one place that knows when events became visible in ClickHouse; queryd learns it
 * from one small Redis entry per insert instead of polling ClickHouse. Scanning the rows for three columns
 * costs a few memchr passes over bytes the writer already holds. */
#include "fresh_note.h"

#include <stdlib.h>
#include <string.h>

#include "fresh_stream.h"
#include "hashmap.h"
#include "raw_row.h"
#include "redis_client.h"

struct fresh_note {
    hashmap *guids, *matches; /* key -> (void *)1 */
};

fresh_note *fresh_note_new(void)
{
    fresh_note *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->guids = hashmap_new();
    n->matches = hashmap_new();
    if (!n->guids || !n->matches) {
        fresh_note_free(n);
        return NULL;
    }
    return n;
}

void fresh_note_free(fresh_note *n)
{
    if (!n)
        return;
    if (n->guids)
        hashmap_free(n->guids, NULL);
    if (n->matches)
        hashmap_free(n->matches, NULL);
    free(n);
}

/* Remember a non-empty field. */
static void note(hashmap *m, const char *s, size_t len)
{
    if (len > 0 && !hashmap_get(m, s, len))
        hashmap_put(m, s, len, (void *)1, NULL);
}

void fresh_note_rows(fresh_note *n, const char *rows, size_t len)
{
    if (!n || !n->guids || !n->matches)
        return;
    const char *p = rows, *end = rows + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        int col = 0;
        for (const char *f = p; f <= eol && col <= RC_TARGET_GUID; col++) {
            const char *tab = memchr(f, '\t', (size_t)(eol - f));
            const char *fe = tab ? tab : eol;
            if (col == RC_MATCH_KEY)
                note(n->matches, f, (size_t)(fe - f));
            else if (col == RC_ACTOR_GUID || col == RC_TARGET_GUID)
                note(n->guids, f, (size_t)(fe - f));
            if (!tab)
                break;
            f = tab + 1;
        }
        p = eol + 1;
    }
}

/* The keys of m joined with '\n', malloc'd ("" when none). */
static char *joined(hashmap *m, size_t *out_len)
{
    size_t pos = 0, klen, total = 0;
    const char *k;
    void *v;
    while (hashmap_next(m, &pos, &k, &klen, &v))
        total += klen + 1;
    char *s = malloc(total + 1), *w = s;
    if (!s)
        return NULL;
    pos = 0;
    while (hashmap_next(m, &pos, &k, &klen, &v)) {
        if (w != s)
            *w++ = '\n';
        memcpy(w, k, klen);
        w += klen;
    }
    *w = '\0';
    *out_len = (size_t)(w - s);
    return s;
}

void fresh_note_send(fresh_note *n, redis_client *rd)
{
    if (!n || !n->guids || !n->matches || (hashmap_size(n->guids) == 0 && hashmap_size(n->matches) == 0))
        return;
    size_t glen = 0, mlen = 0;
    char *g = joined(n->guids, &glen), *m = joined(n->matches, &mlen);
    if (g && m) {
        const char *argv[] = {"XADD", FRESH_STREAM_KEY, "MAXLEN", "~",           FRESH_STREAM_MAXLEN,
                              "*",    FRESH_GUIDS,      g,        FRESH_MATCHES, m};
        size_t lens[] = {4,    strlen(FRESH_STREAM_KEY), 6,   1, strlen(FRESH_STREAM_MAXLEN), 1, strlen(FRESH_GUIDS),
                         glen, strlen(FRESH_MATCHES),    mlen};
        redis_command_argv(rd, NULL, NULL, 10, argv, lens);
    }
    free(g);
    free(m);
    hashmap_free(n->guids, NULL);
    hashmap_free(n->matches, NULL);
    n->guids = hashmap_new();
    n->matches = hashmap_new();
}
