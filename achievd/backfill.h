/* Crediting the past: when a GUID is linked to a member, the GUID's events from before the link (evaluated then
 * as nobody's) are read back from ClickHouse and replayed into an evaluator of their own; the pipeline merges
 * that into the member's state (evaluator_merge). */
#ifndef MOHSTATS_ACHIEVD_BACKFILL_H
#define MOHSTATS_ACHIEVD_BACKFILL_H

#include <stddef.h>
#include <stdint.h>

#include "achievd.h"
#include "bytebuf.h"
#include "evaluate.h"

/* An evaluator's write, with copies of its strings (an ach_write's point into the evaluator). */
typedef struct {
    uint32_t member;
    uint32_t progress;
    bool unlocked;
    uint64_t at_ms;
    char code[65];
    char match_key[25];
    char guid[65];
} backfill_write;

typedef struct {
    evaluator *ev;          /* the member's past, measured */
    backfill_write *writes; /* what the past unlocked and reached, at the original events' times */
    size_t nwrites, cap;
    uint64_t events; /* events replayed */
} backfill;

/* Replay the events of guid with no forum member of their own (no *_smf_id), received at or before until_ms, and
 * the match results of the matches they were in, for member. keepalive(arg) runs between pages (a long past
 * must not outlive the lease): false stops the replay with -ECANCELED. 0, or a negative error (ClickHouse
 * unreachable: try again later). b is filled either way; free it with backfill_free. */
int backfill_run(const achievd_settings *s, const ach_def *defs, size_t ndefs, const char *guid, uint32_t member,
                 uint64_t until_ms, bool (*keepalive)(void *arg), void *arg, backfill *b);
void backfill_free(backfill *b);

/* The SELECT list of a replay: raw_row_columns as the stream has them (received_at in epoch seconds, as ingestd
 * renders it; ClickHouse would print a date), with the columns a replay does not read as ''. 0 or -ENOMEM. */
int backfill_select_list(bytebuf *q);

#endif
