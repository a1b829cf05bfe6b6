/* Catching up from ClickHouse. A consumer group more than STREAM_MAX_BACKLOG entries behind is released by the
 * ClickHouse writers: they trim the stream past it and record where (stream_entry.h). Everything they trimmed
 * was inserted into raw_events first (a trim never passes the writers' own group), so achievd replays those
 * events from there, by receive time, in pages, before it reads the stream again (pipeline_catchup.c says how
 * the bounds are chosen so that each event counts once). This file is the ClickHouse side: which rows, in what
 * order, a page at a time. */
#ifndef MOHSTATS_ACHIEVD_CATCHUP_H
#define MOHSTATS_ACHIEVD_CATCHUP_H

#include <stddef.h>
#include <stdint.h>

#include "achievd.h"

/* The end of the next page after from_ms, at most to_ms: whole seconds holding about CATCHUP_PAGE_ROWS rows (a
 * single second holding more is a page of its own), and at most an hour, so that a page's counting scan stays
 * small however long the gap. 0 or a negative error. */
int catchup_page_end(const achievd_settings *s, uint64_t from_ms, uint64_t to_ms, uint64_t *end_ms);

/* The rows received in (from_ms, to_ms], as raw_row TSV lines in the order the stream had them (receive time,
 * batch, game time), into *body (malloc'd). 0 or a negative error. */
int catchup_page(const achievd_settings *s, uint64_t from_ms, uint64_t to_ms, char **body);

/* The distinct batch ids received in (from_ms, to_ms]: a malloc'd array of n malloc'd strings. 0 or an error. */
int catchup_batches(const achievd_settings *s, uint64_t from_ms, uint64_t to_ms, char ***ids, size_t *n);

#endif
