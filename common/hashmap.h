/* A hash map from byte-string keys (copied) to pointers, for caches and per-server state. */
#ifndef MOHSTATS_HASHMAP_H
#define MOHSTATS_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hashmap hashmap;

/* FNV-1a 64 of n bytes: the map's hash, fast on short keys (tokens, server ids, GUIDs, wire field names). */
uint64_t hash_fnv1a(const char *s, size_t n);

hashmap *hashmap_new(void);
/* Free the map; free_value (may be NULL) is called on every value. */
void hashmap_free(hashmap *m, void (*free_value)(void *));

void *hashmap_get(const hashmap *m, const char *key, size_t len);
/* Insert or replace (the old value is returned in *old if old is not NULL). Returns 0 or -ENOMEM. */
int hashmap_put(hashmap *m, const char *key, size_t len, void *value, void **old);
/* Remove and return the value, or NULL. */
void *hashmap_remove(hashmap *m, const char *key, size_t len);
size_t hashmap_size(const hashmap *m);

/* Iterate: start with *pos = 0; returns false at the end. The map must not change during the
 * iteration: collect the keys to remove, then remove them. */
bool hashmap_next(const hashmap *m, size_t *pos, const char **key, size_t *len, void **value);

#endif
