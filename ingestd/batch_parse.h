/* Parsing of event batches as game servers send them: a JSON array of flat objects, newline-
 * delimited JSON objects, or legacy key=value&... lines, chosen by content. Tolerates what real
 * trackers emit (numbers as strings, nan/inf, raw non-UTF-8 bytes, duplicate keys) and reports
 * malformed input with its position. */
#ifndef MOHSTATS_BATCH_PARSE_H
#define MOHSTATS_BATCH_PARSE_H

#include <stddef.h>

typedef enum {
    VAL_STRING,    /* val = decoded bytes (escapes resolved; raw high bytes kept as sent) */
    VAL_NUMBER,    /* val = the number's text as sent */
    VAL_BOOL,      /* val = "true" / "false" */
    VAL_NULL,      /* val = "" */
    VAL_NONFINITE, /* nan, inf, -nan... (not JSON, printed by the engine's %g): no value */
    VAL_COMPOUND,  /* nested array or object: val = its raw text */
} batch_value_kind;

typedef struct {
    const char *key;
    size_t key_len;
    const char *val;
    size_t val_len;
    batch_value_kind kind;
    size_t member_off, member_len; /* the whole "key": value member within the event's raw text */
} batch_field;

typedef enum { EVENT_JSON, EVENT_FORM } batch_event_format;

typedef struct {
    const char *raw; /* the event exactly as sent: a JSON object, or one form line */
    size_t raw_len;
    size_t first_field, nfields; /* range in batch.fields; later duplicates of a key come later */
    batch_event_format format;
} batch_event;

typedef struct {
    batch_event *events;
    size_t nevents, events_cap;
    batch_field *fields;
    size_t nfields, fields_cap;
    char *arena; /* decoded strings and the NUL-stripped copy of the body */
    size_t arena_len, arena_cap;
    const char *body; /* the body the events point into (arena copy when NUL bytes were stripped) */
    size_t body_len;
    char error[256];
} batch;

/* Limits that keep a hostile body from costing more than a normal one. */
#define BATCH_MAX_DEPTH 16
#define BATCH_MAX_FIELDS_PER_EVENT 512

/* Parse body. Returns 0, or -EINVAL with a one-sentence message in out->error saying what and
 * where ("Invalid JSON array: expected ',' or ']' at byte 812 (line 1, column 812)"), or -ENOMEM.
 * The body must stay valid until batch_free (events and fields point into it). */
int batch_parse(const char *body, size_t len, batch *out);
/* The same, refusing a body of more than max_events events (0: no limit) with -E2BIG and a message, as soon as
 * the event after the last allowed one begins: a hostile body costs no more than an allowed one. */
int batch_parse_max(const char *body, size_t len, size_t max_events, batch *out);
void batch_free(batch *b);

#endif
