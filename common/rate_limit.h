/* Per-key rate limiting (token buckets), for endpoints where guessing or flooding is possible. */
#ifndef MOHSTATS_RATE_LIMIT_H
#define MOHSTATS_RATE_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct rate_limit rate_limit;

/* Each key may do `burst` actions at once, refilled at `per_minute` a minute. */
rate_limit *rate_limit_new(double per_minute, double burst);
void rate_limit_free(rate_limit *r);

/* Take one action for key at time now_ms; false if the key is over its limit. */
bool rate_limit_take(rate_limit *r, const char *key, uint64_t now_ms);
/* Whether key could take an action now, without taking it (for limits counted on failures only). */
bool rate_limit_allows(rate_limit *r, const char *key, uint64_t now_ms);
/* Give back an action taken for key that turned out not to count, up to the burst. For limits on failures
 * whose outcome is known only later: taking up front and giving back on success keeps the limit strict when
 * many attempts are in flight at once, where checking with rate_limit_allows would let them all through. */
void rate_limit_give(rate_limit *r, const char *key, uint64_t now_ms);
/* Budgets of a quantity (bytes): a key owes while its bucket is in debt, and *retry_ms is then the time until the
 * debt is paid back. A key that does not owe may be charged any amount, going into debt if its bucket holds less:
 * one request of any size gets through a full bucket, so a budget never refuses a sender forever; what it bounds
 * is the sustained rate. */
bool rate_limit_owes(rate_limit *r, const char *key, uint64_t now_ms, uint64_t *retry_ms);
void rate_limit_charge(rate_limit *r, const char *key, uint64_t now_ms, double amount);

#endif
