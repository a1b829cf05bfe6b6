/* Hash map with separate chaining and FNV-1a hashing; grows at load factor 1. */
#include "hashmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    size_t len;
    void *value;
    char key[];
} entry;

struct hashmap {
    entry **buckets;
    size_t nbuckets, size;
};

uint64_t hash_fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

hashmap *hashmap_new(void)
{
    hashmap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->nbuckets = 64;
    m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
    if (!m->buckets) {
        free(m);
        return NULL;
    }
    return m;
}

void hashmap_free(hashmap *m, void (*free_value)(void *))
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        entry *e = m->buckets[i];
        while (e) {
            entry *next = e->next;
            if (free_value)
                free_value(e->value);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    free(m);
}

/* The slot pointing at key's entry (or at the NULL ending its chain). */
static entry **find_slot(const hashmap *m, const char *key, size_t len, uint64_t h)
{
    entry **slot = &m->buckets[h & (m->nbuckets - 1)];
    while (*slot && !((*slot)->hash == h && (*slot)->len == len && memcmp((*slot)->key, key, len) == 0))
        slot = &(*slot)->next;
    return slot;
}

void *hashmap_get(const hashmap *m, const char *key, size_t len)
{
    entry *e = *find_slot(m, key, len, hash_fnv1a(key, len));
    return e ? e->value : NULL;
}

/* Double the bucket array when the map is as full as it has buckets. */
static void maybe_grow(hashmap *m)
{
    if (m->size < m->nbuckets)
        return;
    size_t n = m->nbuckets * 2;
    entry **b = calloc(n, sizeof *b);
    if (!b)
        return; /* keep working with longer chains */
    for (size_t i = 0; i < m->nbuckets; i++) {
        entry *e = m->buckets[i];
        while (e) {
            entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

int hashmap_put(hashmap *m, const char *key, size_t len, void *value, void **old)
{
    uint64_t h = hash_fnv1a(key, len);
    entry **slot = find_slot(m, key, len, h);
    if (*slot) {
        if (old)
            *old = (*slot)->value;
        (*slot)->value = value;
        return 0;
    }
    if (old)
        *old = NULL;
    entry *e = malloc(sizeof *e + len + 1);
    if (!e)
        return -ENOMEM;
    e->next = NULL;
    e->hash = h;
    e->len = len;
    e->value = value;
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    *slot = e;
    m->size++;
    maybe_grow(m);
    return 0;
}

void *hashmap_remove(hashmap *m, const char *key, size_t len)
{
    entry **slot = find_slot(m, key, len, hash_fnv1a(key, len));
    entry *e = *slot;
    if (!e)
        return NULL;
    *slot = e->next;
    void *v = e->value;
    free(e);
    m->size--;
    return v;
}

size_t hashmap_size(const hashmap *m)
{
    return m->size;
}

bool hashmap_next(const hashmap *m, size_t *pos, const char **key, size_t *len, void **value)
{
    /* pos encodes (bucket, index in the bucket's chain). */
    size_t bucket = *pos >> 20, idx = *pos & 0xfffff;
    while (bucket < m->nbuckets) {
        entry *e = m->buckets[bucket];
        for (size_t i = 0; e && i < idx; i++)
            e = e->next;
        if (e) {
            *key = e->key;
            *len = e->len;
            *value = e->value;
            *pos = (bucket << 20) | (idx + 1);
            return true;
        }
        bucket++;
        idx = 0;
    }
    *pos = bucket << 20;
    return false;
}
