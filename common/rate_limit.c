/* Token buckets per key in a hash map; full buckets are forgotten to bound memory. */
#include "rate_limit.h"

#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

typedef struct {
    double tokens;
    uint64_t last_ms;
} bucket;

struct rate_limit {
    hashmap *buckets;
    double per_ms, burst;
    uint64_t last_sweep_ms;
};

rate_limit *rate_limit_new(double per_minute, double burst)
{
    rate_limit *r = calloc(1, sizeof *r);
    if (!r || !(r->buckets = hashmap_new())) {
        free(r);
        return NULL;
    }
    r->per_ms = per_minute / 60000.0;
    r->burst = burst;
    return r;
}

void rate_limit_free(rate_limit *r)
{
    if (!r)
        return;
    hashmap_free(r->buckets, free);
    free(r);
}

/* Refill a bucket up to now. */
static void refill(const rate_limit *r, bucket *b, uint64_t now_ms)
{
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * r->per_ms;
        if (b->tokens > r->burst)
            b->tokens = r->burst;
        b->last_ms = now_ms;
    }
}

/* Forget buckets that refilled completely: they carry no information. */
static void sweep(rate_limit *r, uint64_t now_ms)
{
    char *full[256];
    int n = 0;
    size_t pos = 0, len;
    const char *key;
    void *v;
    while (n < 256 && hashmap_next(r->buckets, &pos, &key, &len, &v)) {
        bucket *b = v;
        refill(r, b, now_ms);
        if (b->tokens >= r->burst && (full[n] = strdup(key)))
            n++;
    }
    for (int i = 0; i < n; i++) {
        free(hashmap_remove(r->buckets, full[i], strlen(full[i])));
        free(full[i]);
    }
}

/* key's bucket, refilled up to now (created full), after an occasional sweep; NULL when out of memory. */
static bucket *bucket_at(rate_limit *r, const char *key, uint64_t now_ms)
{
    if (now_ms - r->last_sweep_ms > 60000 || hashmap_size(r->buckets) > 100000) {
        sweep(r, now_ms);
        r->last_sweep_ms = now_ms;
    }
    bucket *b = hashmap_get(r->buckets, key, strlen(key));
    if (!b) {
        b = malloc(sizeof *b);
        if (!b)
            return NULL;
        b->tokens = r->burst;
        b->last_ms = now_ms;
        if (hashmap_put(r->buckets, key, strlen(key), b, NULL)) {
            free(b);
            return NULL;
        }
    }
    refill(r, b, now_ms);
    return b;
}

bool rate_limit_take(rate_limit *r, const char *key, uint64_t now_ms)
{
    bucket *b = bucket_at(r, key, now_ms);
    if (!b || b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

bool rate_limit_owes(rate_limit *r, const char *key, uint64_t now_ms, uint64_t *retry_ms)
{
    bucket *b = hashmap_get(r->buckets, key, strlen(key));
    if (!b)
        return false;
    refill(r, b, now_ms);
    if (b->tokens >= 0)
        return false;
    double wait = -b->tokens / r->per_ms;
    *retry_ms = (uint64_t)wait + 1;
    return true;
}

void rate_limit_charge(rate_limit *r, const char *key, uint64_t now_ms, double amount)
{
    bucket *b = bucket_at(r, key, now_ms);
    if (b)
        b->tokens -= amount;
}

bool rate_limit_allows(rate_limit *r, const char *key, uint64_t now_ms)
{
    bucket *b = hashmap_get(r->buckets, key, strlen(key));
    if (!b)
        return true;
    refill(r, b, now_ms);
    return b->tokens >= 1.0;
}

void rate_limit_give(rate_limit *r, const char *key, uint64_t now_ms)
{
    bucket *b = hashmap_get(r->buckets, key, strlen(key));
    if (!b)
        return; /* forgotten because full: nothing to give back */
    refill(r, b, now_ms);
    b->tokens += 1.0;
    if (b->tokens > r->burst)
        b->tokens = r->burst;
}
