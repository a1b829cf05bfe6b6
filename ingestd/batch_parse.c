/* Event batch parser: JSON array, newline-delimited JSON objects, or legacy key=value lines. */
#include "batch_parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    batch *b;
    const char *s; /* the (NUL-stripped, trimmed) body */
    size_t len;
    size_t pos;
    size_t event_no;   /* 1-based number of the event being parsed, for messages */
    size_t max_events; /* 0: no limit */
    const char *mode;  /* "Invalid JSON array" / "Invalid JSON object" / ... */
} parser;

/* Record a positioned error message; always returns -EINVAL. */
static int parse_error(parser *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int parse_error(parser *p, size_t at, const char *fmt, ...)
{
    /* Counted with memchr: a body's error may sit at its last byte, and a byte-by-byte scan of a 1 MiB body cost
     * as much as parsing it (tests/bench/ingest_flood_bench.sh, malformed phase). */
    size_t end = at < p->len ? at : p->len, line = 1, line_start = 0;
    for (const char *nl = p->s; (nl = memchr(nl, '\n', end - (size_t)(nl - p->s))) != NULL; nl++) {
        line++;
        line_start = (size_t)(nl - p->s) + 1;
    }
    size_t col = end - line_start + 1;
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(p->b->error, sizeof p->b->error, "%s: %s at byte %zu (line %zu, column %zu) in event %zu", p->mode, what,
             at, line, col, p->event_no);
    return -EINVAL;
}

/* One event more than the caller allows: stop here, before parsing (and paying for) the rest. */
static int too_many(parser *p)
{
    snprintf(p->b->error, sizeof p->b->error,
             "Batch too large: more than %zu events (INGEST_MAX_EVENTS); send at most %zu per request", p->max_events,
             p->max_events);
    return -E2BIG;
}

/* Describe the byte at pos for an error message. */
static const char *describe(parser *p, size_t pos, char *buf, size_t buflen)
{
    if (pos >= p->len)
        return "end of input";
    unsigned char c = (unsigned char)p->s[pos];
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, buflen, "'%c'", c);
    else
        snprintf(buf, buflen, "byte 0x%02x", c);
    return buf;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Skip JSON whitespace. */
static void skip_ws(parser *p)
{
    while (p->pos < p->len && is_ws(p->s[p->pos]))
        p->pos++;
}

/* Append n bytes to the arena (capacity is reserved up front, so this never moves it). */
static char *arena_put(batch *b, const char *src, size_t n)
{
    char *dst = b->arena + b->arena_len;
    memcpy(dst, src, n);
    b->arena_len += n;
    return dst;
}

/* Encode code point cp as UTF-8 into the arena. */
static void arena_put_utf8(batch *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    arena_put(b, u, n);
}

/* Value of one hex digit, or -1. */
static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Read 4 hex digits at pos; -1 if malformed. */
static long read_hex4(parser *p, size_t pos)
{
    if (pos + 4 > p->len)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[pos + (size_t)i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Parse a JSON string at p->pos (on the opening quote) and decode it into the arena. Raw bytes,
 * including bytes >= 0x80 that are not UTF-8, are kept exactly as sent; \u0000 is dropped. The
 * decoded text is never longer than the source, which is how the arena was sized. */
static int parse_string(parser *p, const char **out, size_t *outlen)
{
    size_t start = p->pos++;
    char *dst = p->b->arena + p->b->arena_len;
    for (;;) {
        /* Copy the run of plain bytes in one go: strings are mostly plain. */
        size_t run = p->pos;
        while (run < p->len && p->s[run] != '"' && p->s[run] != '\\')
            run++;
        arena_put(p->b, p->s + p->pos, run - p->pos);
        p->pos = run;
        if (p->pos >= p->len)
            return parse_error(p, start, "unterminated string");
        if (p->s[p->pos] == '"') {
            p->pos++;
            *out = dst;
            *outlen = (size_t)(p->b->arena + p->b->arena_len - dst);
            return 0;
        }
        size_t esc = p->pos;
        if (esc + 1 >= p->len)
            return parse_error(p, start, "unterminated string");
        char c = p->s[esc + 1];
        p->pos += 2;
        switch (c) {
        case '"': arena_put(p->b, "\"", 1); break;
        case '\\': arena_put(p->b, "\\", 1); break;
        case '/': arena_put(p->b, "/", 1); break;
        case 'b': arena_put(p->b, "\b", 1); break;
        case 'f': arena_put(p->b, "\f", 1); break;
        case 'n': arena_put(p->b, "\n", 1); break;
        case 'r': arena_put(p->b, "\r", 1); break;
        case 't': arena_put(p->b, "\t", 1); break;
        case 'u': {
            long cp = read_hex4(p, p->pos);
            if (cp < 0)
                return parse_error(p, esc, "invalid \\u escape");
            p->pos += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                long lo = (p->pos + 1 < p->len && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u')
                              ? read_hex4(p, p->pos + 2)
                              : -1;
                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    p->pos += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else {
                    cp = 0xfffd; /* lone surrogate */
                }
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                cp = 0xfffd;
            }
            if (cp != 0) /* a NUL would end C strings downstream; the engine never sends one */
                arena_put_utf8(p->b, (unsigned)cp);
            break;
        }
        default: {
            char d[24];
            return parse_error(p, esc, "invalid escape \\%s", describe(p, esc + 1, d, sizeof d));
        }
        }
    }
}

/* Match a literal word at pos (case-insensitive when ci). */
static bool match_word(parser *p, size_t pos, const char *w, bool ci)
{
    size_t n = strlen(w);
    if (pos + n > p->len)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p->s[pos + i];
        if (ci && c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != w[i])
            return false;
    }
    /* The word must end here: "nanx" is not nan. */
    size_t e = pos + n;
    return e >= p->len || !((p->s[e] >= 'a' && p->s[e] <= 'z') || (p->s[e] >= 'A' && p->s[e] <= 'Z') ||
                            (p->s[e] >= '0' && p->s[e] <= '9') || p->s[e] == '_');
}

/* nan, inf, infinity with an optional sign, as printf("%g") writes them: length matched or 0. */
static size_t match_nonfinite(parser *p, size_t pos)
{
    size_t sign = (pos < p->len && (p->s[pos] == '-' || p->s[pos] == '+')) ? 1 : 0;
    static const char *const words[] = {"infinity", "inf", "nan"};
    for (int i = 0; i < 3; i++)
        if (match_word(p, pos + sign, words[i], true))
            return sign + strlen(words[i]);
    return 0;
}

/* Scan a JSON number at pos; returns its length or 0 if malformed. */
static size_t scan_number(parser *p, size_t pos)
{
    size_t i = pos;
    if (i < p->len && p->s[i] == '-')
        i++;
    if (i >= p->len || p->s[i] < '0' || p->s[i] > '9')
        return 0;
    while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
        i++;
    if (i < p->len && p->s[i] == '.') {
        i++;
        if (i >= p->len || p->s[i] < '0' || p->s[i] > '9')
            return 0;
        while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
            i++;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-'))
            i++;
        if (i >= p->len || p->s[i] < '0' || p->s[i] > '9')
            return 0;
        while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
            i++;
    }
    return i - pos;
}

static int skip_value(parser *p, int depth);

/* Skip a nested array or object, validating it. */
static int skip_compound(parser *p, int depth)
{
    char open = p->s[p->pos], close = open == '{' ? '}' : ']';
    if (depth >= BATCH_MAX_DEPTH)
        return parse_error(p, p->pos, "nesting deeper than %d levels", BATCH_MAX_DEPTH);
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return 0;
    }
    for (;;) {
        skip_ws(p);
        if (open == '{') {
            const char *k;
            size_t kl;
            char d[24];
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return parse_error(p, p->pos, "expected a key string, found %s", describe(p, p->pos, d, sizeof d));
            size_t mark = p->b->arena_len;
            int rc = parse_string(p, &k, &kl);
            p->b->arena_len = mark; /* nested keys are not kept */
            if (rc)
                return rc;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return parse_error(p, p->pos, "expected ':', found %s", describe(p, p->pos, d, sizeof d));
            p->pos++;
            skip_ws(p);
        }
        int rc = skip_value(p, depth + 1);
        if (rc)
            return rc;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            return 0;
        }
        char d[24];
        return parse_error(p, p->pos, "expected ',' or '%c', found %s", close, describe(p, p->pos, d, sizeof d));
    }
}

/* Skip any value (used inside nested values). */
static int skip_value(parser *p, int depth)
{
    char d[24];
    if (p->pos >= p->len)
        return parse_error(p, p->pos, "expected a value, found end of input");
    char c = p->s[p->pos];
    if (c == '"') {
        const char *s;
        size_t n;
        size_t mark = p->b->arena_len;
        int rc = parse_string(p, &s, &n);
        p->b->arena_len = mark;
        return rc;
    }
    if (c == '{' || c == '[')
        return skip_compound(p, depth);
    size_t n;
    if ((n = match_nonfinite(p, p->pos)) || (match_word(p, p->pos, "true", false) && (n = 4)) ||
        (match_word(p, p->pos, "false", false) && (n = 5)) || (match_word(p, p->pos, "null", false) && (n = 4)) ||
        (n = scan_number(p, p->pos))) {
        p->pos += n;
        return 0;
    }
    return parse_error(p, p->pos, "expected a value, found %s", describe(p, p->pos, d, sizeof d));
}

/* Grow an array of elem-sized items to hold one more. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    void *q = realloc(*arr, ncap * elem);
    if (!q)
        return -ENOMEM;
    *arr = q;
    *cap = ncap;
    return 0;
}

/* Start a new event whose raw text begins at start. */
static batch_event *event_begin(batch *b, size_t start, batch_event_format format)
{
    if (grow((void **)&b->events, &b->events_cap, b->nevents, sizeof *b->events))
        return NULL;
    batch_event *e = &b->events[b->nevents];
    *e = (batch_event){.raw = b->body + start, .first_field = b->nfields, .format = format};
    return e;
}

/* Add a field to the current event. */
static int field_add(parser *p, batch_event *e, batch_field f)
{
    if (e->nfields >= BATCH_MAX_FIELDS_PER_EVENT)
        return parse_error(p, p->pos, "more than %d fields in one event", BATCH_MAX_FIELDS_PER_EVENT);
    if (grow((void **)&p->b->fields, &p->b->fields_cap, p->b->nfields, sizeof *p->b->fields))
        return -ENOMEM;
    p->b->fields[p->b->nfields++] = f;
    e->nfields++;
    return 0;
}

/* Parse one event object at p->pos into a new event (empty objects are skipped, as the tracker
 * itself skips them). */
static int parse_event_object(parser *p)
{
    char d[24];
    size_t start = p->pos;
    batch_event *e = event_begin(p->b, start, EVENT_JSON);
    if (!e)
        return -ENOMEM;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return 0;
    }
    for (;;) {
        skip_ws(p);
        size_t member = p->pos;
        batch_field f = {0};
        if (p->pos >= p->len || p->s[p->pos] != '"')
            return parse_error(p, p->pos, "expected a key string, found %s", describe(p, p->pos, d, sizeof d));
        int rc = parse_string(p, &f.key, &f.key_len);
        if (rc)
            return rc;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':')
            return parse_error(p, p->pos, "expected ':' after a key, found %s", describe(p, p->pos, d, sizeof d));
        p->pos++;
        skip_ws(p);
        if (p->pos >= p->len)
            return parse_error(p, p->pos, "expected a value, found end of input");
        char c = p->s[p->pos];
        size_t n;
        if (c == '"') {
            f.kind = VAL_STRING;
            if ((rc = parse_string(p, &f.val, &f.val_len)))
                return rc;
        } else if (c == '{' || c == '[') {
            size_t vs = p->pos;
            if ((rc = skip_compound(p, 1)))
                return rc;
            f.kind = VAL_COMPOUND;
            f.val = p->s + vs;
            f.val_len = p->pos - vs;
        } else if ((n = match_nonfinite(p, p->pos))) {
            f.kind = VAL_NONFINITE;
            f.val = p->s + p->pos;
            f.val_len = n;
            p->pos += n;
        } else if (match_word(p, p->pos, "true", false) || match_word(p, p->pos, "false", false)) {
            f.kind = VAL_BOOL;
            f.val = p->s + p->pos;
            f.val_len = c == 't' ? 4 : 5;
            p->pos += f.val_len;
        } else if (match_word(p, p->pos, "null", false)) {
            f.kind = VAL_NULL;
            f.val = "";
            p->pos += 4;
        } else if ((n = scan_number(p, p->pos))) {
            f.kind = VAL_NUMBER;
            f.val = p->s + p->pos;
            f.val_len = n;
            p->pos += n;
        } else {
            return parse_error(p, p->pos, "expected a value, found %s", describe(p, p->pos, d, sizeof d));
        }
        f.member_off = member - start;
        f.member_len = p->pos - member;
        if ((rc = field_add(p, e, f)))
            return rc;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == '}') {
            p->pos++;
            break;
        }
        return parse_error(p, p->pos, "expected ',' or '}', found %s", describe(p, p->pos, d, sizeof d));
    }
    e->raw_len = p->pos - start;
    p->b->nevents++;
    return 0;
}

/* Body = one JSON array of objects. */
static int parse_array(parser *p)
{
    char d[24];
    p->mode = "Invalid JSON array";
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
    } else {
        for (;;) {
            skip_ws(p);
            if (++p->event_no > p->max_events && p->max_events)
                return too_many(p);
            if (p->pos >= p->len || p->s[p->pos] != '{')
                return parse_error(p, p->pos, "expected an event object, found %s", describe(p, p->pos, d, sizeof d));
            int rc = parse_event_object(p);
            if (rc)
                return rc;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->pos < p->len && p->s[p->pos] == ']') {
                p->pos++;
                break;
            }
            return parse_error(p, p->pos, "expected ',' or ']' after an event, found %s",
                               describe(p, p->pos, d, sizeof d));
        }
    }
    skip_ws(p);
    if (p->pos < p->len)
        return parse_error(p, p->pos, "unexpected %s after the array", describe(p, p->pos, d, sizeof d));
    return 0;
}

/* Whether s[0..n) starts a plausible form key followed by '=' (used to tell a separating '&' from
 * an '&' inside an unencoded value such as "Tom&Jerry"). */
static bool starts_form_param(const char *s, size_t n)
{
    size_t i = 0;
    if (i >= n || !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_'))
        return false;
    while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
                     s[i] == '_'))
        i++;
    return i < n && s[i] == '=';
}

/* Decode a legacy form value into the arena. The old scripts did not percent-encode, so a value is
 * decoded only when it is plainly encoded: every '%' starts a valid %XX escape, at least one does,
 * and it holds no raw space. Otherwise it is kept as sent ("100% sure" stays as is). */
static void form_decode(batch *b, const char *v, size_t n, const char **out, size_t *outlen)
{
    bool any = false, valid = true;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == ' ')
            valid = false;
        if (v[i] == '%') {
            if (i + 2 < n && hexval(v[i + 1]) >= 0 && hexval(v[i + 2]) >= 0)
                any = true;
            else
                valid = false;
        }
    }
    char *dst = b->arena + b->arena_len;
    if (!any || !valid) {
        arena_put(b, v, n);
    } else {
        for (size_t i = 0; i < n; i++) {
            char c = v[i];
            if (c == '%') {
                c = (char)(hexval(v[i + 1]) * 16 + hexval(v[i + 2]));
                i += 2;
            } else if (c == '+') {
                c = ' ';
            }
            if (c != '\0')
                arena_put(b, &c, 1);
        }
    }
    *out = dst;
    *outlen = (size_t)(b->arena + b->arena_len - dst);
}

/* One legacy line: key=value&key=value..., values possibly not percent-encoded. */
static int parse_form_line(parser *p, size_t start, size_t end)
{
    batch_event *e = event_begin(p->b, start, EVENT_FORM);
    if (!e)
        return -ENOMEM;
    const char *s = p->s;
    size_t i = start;
    while (i < end) {
        size_t pend = i;
        /* The parameter ends at the next '&' that starts another key=... */
        for (;;) {
            const char *amp = memchr(s + pend, '&', end - pend);
            if (!amp) {
                pend = end;
                break;
            }
            pend = (size_t)(amp - s);
            if (starts_form_param(s + pend + 1, end - pend - 1))
                break;
            pend++;
        }
        if (pend > i) {
            batch_field f = {0};
            const char *eq = memchr(s + i, '=', pend - i);
            size_t klen = eq ? (size_t)(eq - (s + i)) : pend - i;
            form_decode(p->b, s + i, klen, &f.key, &f.key_len);
            if (eq)
                form_decode(p->b, eq + 1, (size_t)(s + pend - eq - 1), &f.val, &f.val_len);
            else
                f.val = "";
            f.kind = VAL_STRING;
            f.member_off = i - start;
            f.member_len = pend - i;
            int rc = field_add(p, e, f);
            if (rc)
                return rc;
        }
        i = pend + 1;
    }
    e->raw_len = end - start;
    if (e->nfields)
        p->b->nevents++;
    return 0;
}

/* Body = lines: JSON objects (which may span lines) and legacy form lines, in any mix. */
static int parse_lines(parser *p)
{
    char d[24];
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->len)
            return 0;
        if (++p->event_no > p->max_events && p->max_events)
            return too_many(p);
        if (p->s[p->pos] == '{') {
            p->mode = "Invalid JSON object";
            int rc = parse_event_object(p);
            if (rc)
                return rc;
            while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\r'))
                p->pos++;
            if (p->pos < p->len && p->s[p->pos] != '\n' && p->s[p->pos] != '{')
                return parse_error(p, p->pos, "unexpected %s after an event object (one object per line)",
                                   describe(p, p->pos, d, sizeof d));
        } else if (p->s[p->pos] == '[') {
            p->mode = "Invalid body";
            return parse_error(p, p->pos, "a JSON array must be the whole body");
        } else {
            p->mode = "Invalid form line";
            const char *nl = memchr(p->s + p->pos, '\n', p->len - p->pos);
            size_t end = nl ? (size_t)(nl - p->s) : p->len;
            size_t line_end = end;
            while (line_end > p->pos && (p->s[line_end - 1] == '\r' || p->s[line_end - 1] == ' '))
                line_end--;
            int rc = parse_form_line(p, p->pos, line_end);
            if (rc)
                return rc;
            p->pos = end;
        }
    }
}

int batch_parse(const char *body, size_t len, batch *out)
{
    return batch_parse_max(body, len, 0, out);
}

int batch_parse_max(const char *body, size_t len, size_t max_events, batch *out)
{
    memset(out, 0, sizeof *out);
    /* The arena holds the NUL-stripped copy of the body (if needed) plus every decoded string,
     * and decoding never grows text, so 2 * len bounds it and pointers into it stay valid. */
    out->arena_cap = 2 * len + 16;
    out->arena = malloc(out->arena_cap);
    if (!out->arena)
        return -ENOMEM;
    const char *s = body;
    if (len && memchr(body, '\0', len)) {
        /* NUL bytes are C-string artefacts of some engines: drop them. */
        char *dst = out->arena;
        for (size_t i = 0; i < len; i++)
            if (body[i] != '\0')
                *dst++ = body[i];
        len = (size_t)(dst - out->arena);
        out->arena_len = len;
        s = out->arena;
    }
    while (len && is_ws(*s)) {
        s++;
        len--;
    }
    while (len && is_ws(s[len - 1]))
        len--;
    out->body = s;
    out->body_len = len;
    parser p = {.b = out, .s = s, .len = len, .mode = "Invalid body", .max_events = max_events};
    if (len == 0)
        return 0;
    int rc = s[0] == '[' ? parse_array(&p) : parse_lines(&p);
    if (rc == -ENOMEM)
        snprintf(out->error, sizeof out->error, "out of memory while parsing the batch");
    return rc;
}

void batch_free(batch *b)
{
    free(b->events);
    free(b->fields);
    free(b->arena);
    memset(b, 0, sizeof *b);
}
