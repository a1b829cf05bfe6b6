/* Normalisation and enrichment of one event into a raw_events TabSeparated row. */
#include "event_row.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clickhouse.h"
#include "geoip.h"
#include "random.h"
#include "raw_row.h"
#include "text.h"

/* The fields of one event, resolved: the winning wire field for each column and block slot. */
typedef struct {
    const batch_field *col[FIELD__COUNT];
    int prio[FIELD__COUNT];
    const batch_field *blk[BLOCK__COUNT][BF__COUNT];
    bool has_block[BLOCK__COUNT];
    bool has_secret;  /* a credential to cut from raw */
    bool has_address; /* a player's address to cut from raw (its country is kept) */
    const event_type_def *type;
    event_field_map map[BATCH_MAX_FIELDS_PER_EVENT]; /* each field's vocabulary entry, looked up once */
    bool unknown[BATCH_MAX_FIELDS_PER_EVENT];        /* neither in the vocabulary nor a player-block field */
} resolved;

/* A field value as text: strings as decoded, numbers/bools as written, null/nan as empty. */
static slice field_text(const batch_field *f)
{
    if (!f || f->kind == VAL_NULL || f->kind == VAL_NONFINITE)
        return (slice){"", 0};
    return (slice){f->val, f->val_len};
}

static bool slice_eq(slice s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

/* Whether a door state value means "opened". */
static bool door_is_open(const batch_field *f)
{
    slice s = field_text(f);
    return slice_eq(s, "open") || slice_eq(s, "opened") || slice_eq(s, "opening") || slice_eq(s, "1") ||
           slice_eq(s, "true");
}

/* Resolve every wire field of e to its column or block slot; duplicates: the last one wins. */
static void resolve_fields(const batch *b, const batch_event *e, resolved *r)
{
    memset(r, 0, offsetof(resolved, map));
    const batch_field *type_f = NULL, *door_f = NULL;
    for (size_t i = 0; i < e->nfields; i++) {
        const batch_field *f = &b->fields[e->first_field + i];
        event_field_map m = r->map[i] = event_field_lookup(f->key, f->key_len);
        r->unknown[i] = false;
        if (m.field == FIELD_TYPE && (!type_f || m.priority <= 0))
            type_f = f;
        if (m.field == FIELD_DOOR_STATE)
            door_f = f;
    }
    slice ts = field_text(type_f);
    r->type = event_type_resolve(ts.p, ts.n, door_is_open(door_f));
    bool is_distance = event_type_has(r->type, EVF_RUNNING_DISTANCE);

    for (size_t i = 0; i < e->nfields; i++) {
        const batch_field *f = &b->fields[e->first_field + i];
        event_field_map m = r->map[i];
        /* On `distance` events the tracker's "distance" key is the running total; the step
         * travelled is "walked" (docs/tracker-wire.md §2.3). */
        if (is_distance && m.field == FIELD_DISTANCE && f->key_len == 8 && memcmp(f->key, "distance", 8) == 0)
            m = (event_field_map){FIELD_TOTAL_DISTANCE, 1};
        if (m.field == FIELD_SECRET) {
            r->has_secret = true;
            continue;
        }
        if (m.field == FIELD_ADDRESS)
            r->has_address = true;
        if (m.field > FIELD_IGNORED) {
            if (!r->col[m.field] || m.priority <= r->prio[m.field]) {
                r->col[m.field] = f;
                r->prio[m.field] = m.priority;
            }
            continue;
        }
        if (m.field != FIELD_UNKNOWN)
            continue;
        event_block blk;
        event_block_field bf;
        if (event_block_key(f->key, f->key_len, &blk, &bf)) {
            r->blk[blk][bf] = f;
            if (f->kind != VAL_NULL)
                r->has_block[blk] = true;
        } else {
            r->unknown[i] = true;
        }
    }
}

/* The first present block in order, or BLOCK_NONE. */
static event_block pick_block(const resolved *r, const event_block *order, event_block exclude)
{
    for (const event_block *o = order; *o != BLOCK_NONE; o++)
        if (r->has_block[*o] && *o != exclude)
            return *o;
    return BLOCK_NONE;
}

/* Append a raw byte string as a TSV field. */
static int put_bytes(bytebuf *out, const char *s, size_t n)
{
    return ch_append_tsv(out, s, n);
}

/* Append text as a TSV field in UTF-8 (CP1252 fallback), optionally without colour codes. */
static int put_text(bytebuf *out, slice s, bool strip_colors)
{
    if (utf8_valid(s.p, s.n) && (!strip_colors || !memchr(s.p, '^', s.n)))
        return put_bytes(out, s.p, s.n);
    char stackbuf[768];
    char *tmp = s.n * 3 <= sizeof stackbuf ? stackbuf : malloc(s.n * 3 + 1);
    if (!tmp)
        return -ENOMEM;
    size_t n = text_to_utf8(s.p, s.n, tmp);
    if (strip_colors)
        n = text_strip_colors(tmp, n);
    int rc = put_bytes(out, tmp, n);
    if (tmp != stackbuf)
        free(tmp);
    return rc;
}

static int put_sep(bytebuf *out, char c)
{
    return bytebuf_append(out, &c, 1);
}

/* Parse a field as a finite number that fits max_abs; false when absent, empty, nan/inf, not a
 * number, or out of range (huge values are stored as no value rather than as infinities). */
static bool field_number(const batch_field *f, double max_abs, double *v)
{
    if (!f || (f->kind != VAL_NUMBER && f->kind != VAL_STRING) || f->val_len == 0 || f->val_len > 64)
        return false;
    char buf[65];
    memcpy(buf, f->val, f->val_len);
    buf[f->val_len] = '\0';
    char *end;
    double d = strtod(buf, &end);
    while (*end == ' ')
        end++;
    if (end == buf || *end || !isfinite(d) || fabs(d) > max_abs)
        return false;
    *v = d;
    return true;
}

/* Whether text is a plain decimal number ClickHouse reads the same way we do. */
static bool plain_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    size_t digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    if (digits && i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t ed = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, ed++;
        if (!ed)
            return false;
    }
    return digits && i == n;
}

/* Whether text is a plain decimal number (as plain_number) whose magnitude is below 10^max_exp10, told from
 * its digits alone. Such a number is what put_float would have stored as sent after strtod found it finite
 * and in range, so it can be stored as sent without the strtod. */
static bool plain_number_below(const char *s, size_t n, int max_exp10)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    size_t digits = 0;
    long mag = 0; /* the value is below 10^mag: digits before the point, less zeros after it */
    bool nonzero = false;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
        if (nonzero || s[i] != '0') {
            nonzero = true;
            mag++;
        }
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
            if (!nonzero) {
                if (s[i] == '0')
                    mag--;
                else
                    nonzero = true;
            }
    if (digits && i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool negative = i < n && s[i] == '-';
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t ed = 0;
        long exp10 = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, ed++)
            if (exp10 < 100000) /* far beyond any double: only the side it falls on matters */
                exp10 = exp10 * 10 + (s[i] - '0');
        if (!ed)
            return false;
        mag += negative ? -exp10 : exp10;
    }
    return digits && i == n && (!nonzero || mag <= max_exp10);
}

/* A float column: the largest value it stores, and a power of ten below that. strtod rounds a number below
 * 10^38 (10^308) to a double that is still below FLT_MAX (DBL_MAX), so plain_number_below can vouch for it. */
typedef struct {
    double max_abs;
    int max_exp10;
} float_range;

static const float_range float32_range = {FLT_MAX, 38};
static const float_range float64_range = {DBL_MAX, 308};

/* Append a Nullable(Float) value: the number as sent when it is plain, else reformatted, else \N. */
static int put_float(bytebuf *out, const batch_field *f, float_range range)
{
    /* The common case, decimal text well inside the range, needs no parsing: the result is the same. */
    if (f && (f->kind == VAL_NUMBER || f->kind == VAL_STRING) && f->val_len <= 64 &&
        plain_number_below(f->val, f->val_len, range.max_exp10))
        return bytebuf_append(out, f->val, f->val_len);
    double v;
    if (!field_number(f, range.max_abs, &v))
        return bytebuf_append(out, "\\N", 2);
    if (plain_number(f->val, f->val_len))
        return bytebuf_append(out, f->val, f->val_len);
    return bytebuf_appendf(out, "%.17g", v);
}

/* Whether text is an integer that "%d" prints back unchanged: no sign but '-', no leading zero, no "-0",
 * at most 9 digits (so within Int32). */
static bool canonical_int32(const char *s, size_t n)
{
    size_t i = s[0] == '-' ? 1 : 0;
    if (n <= i || n - i > 9 || (s[i] == '0' && (n - i > 1 || i)))
        return false;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Append a Nullable(Int32) value (fractions truncated, as the old API did). */
static int put_int32(bytebuf *out, const batch_field *f)
{
    if (f && (f->kind == VAL_NUMBER || f->kind == VAL_STRING) && f->val_len && canonical_int32(f->val, f->val_len))
        return bytebuf_append(out, f->val, f->val_len);
    double v;
    if (!field_number(f, 2147483647.0, &v))
        return bytebuf_append(out, "\\N", 2);
    return bytebuf_appendf(out, "%d", (int)v);
}

/* Append a UInt64 forum member id: digits only, else 0. */
static int put_member_id(bytebuf *out, const batch_field *f)
{
    slice s = field_text(f);
    if (s.n == 0 || s.n > 19)
        return bytebuf_append(out, "0", 1);
    for (size_t i = 0; i < s.n; i++)
        if (s.p[i] < '0' || s.p[i] > '9')
            return bytebuf_append(out, "0", 1);
    return bytebuf_append(out, s.p, s.n);
}

/* Append one player block's ten columns (empty values for BLOCK_NONE). */
static int put_block(bytebuf *out, const resolved *r, event_block blk)
{
    const batch_field *const *f = blk == BLOCK_NONE ? NULL : r->blk[blk];
    static const batch_field *const none[BF__COUNT];
    if (!f)
        f = none;
    int rc = 0;
    rc |= put_text(out, field_text(f[BF_GUID]), false);
    rc |= put_sep(out, '\t');
    rc |= put_text(out, field_text(f[BF_NAME]), true);
    rc |= put_sep(out, '\t');
    rc |= put_text(out, field_text(f[BF_TEAM]), false);
    rc |= put_sep(out, '\t');
    rc |= put_member_id(out, f[BF_SMF_ID]);
    static const event_block_field coords[] = {BF_X, BF_Y, BF_Z, BF_PITCH, BF_YAW};
    for (size_t i = 0; i < 5; i++) {
        rc |= put_sep(out, '\t');
        rc |= put_float(out, f[coords[i]], float32_range);
    }
    rc |= put_sep(out, '\t');
    rc |= put_text(out, field_text(f[BF_STANCE]), false);
    return rc ? -ENOMEM : 0;
}

/* The raw object as stored: byte for byte, except that credentials a client put into the body
 * (server_token, auth_token...) are cut out so that no secret is kept in the warehouse, and so are players'
 * addresses: their country is all we keep (actor_country), so no address outlives the request that carried it. */
static int put_raw(bytebuf *out, const batch *b, const batch_event *e, const resolved *r)
{
    if (!r->has_secret && !r->has_address)
        return put_bytes(out, e->raw, e->raw_len);
    bytebuf tmp = {0};
    int rc = 0;
    bool first = true;
    if (e->format == EVENT_JSON)
        rc |= bytebuf_append(&tmp, "{", 1);
    for (size_t i = 0; i < e->nfields; i++) {
        const batch_field *f = &b->fields[e->first_field + i];
        if (r->map[i].field == FIELD_SECRET || r->map[i].field == FIELD_ADDRESS)
            continue;
        if (!first)
            rc |= e->format == EVENT_JSON ? bytebuf_append(&tmp, ", ", 2) : bytebuf_append(&tmp, "&", 1);
        rc |= bytebuf_append(&tmp, e->raw + f->member_off, f->member_len);
        first = false;
    }
    if (e->format == EVENT_JSON)
        rc |= bytebuf_append(&tmp, "}", 1);
    if (!rc)
        rc = put_bytes(out, tmp.data ? tmp.data : "", tmp.len);
    bytebuf_free(&tmp);
    return rc ? -ENOMEM : 0;
}

void event_match_key(const char *server_id, const char *match_id, size_t match_len, const char *session,
                     size_t session_len, char out[24])
{
    const char *id = match_id;
    size_t n = match_len;
    char kind = 'm';
    if (n == 0 || (n == 8 && memcmp(id, "no_match", 8) == 0)) {
        id = session;
        n = session_len;
        kind = 's';
    }
    /* FNV-1a 64 over "server \0 kind \0 id": stable across processes and restarts. */
    uint64_t h = 1469598103934665603ULL;
    const char *parts[3] = {server_id, &kind, id};
    size_t lens[3] = {strlen(server_id), 1, n};
    for (int p = 0; p < 3; p++) {
        for (size_t i = 0; i < lens[p]; i++) {
            h ^= (unsigned char)parts[p][i];
            h *= 1099511628211ULL;
        }
        h *= 1099511628211ULL; /* separator: ("ab","c") and ("a","bc") differ */
    }
    out[0] = 'm';
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++)
        out[1 + i] = digits[(h >> (60 - 4 * i)) & 15];
    out[17] = '\0';
}

int event_row_render(const batch *b, const batch_event *e, const event_context *ctx, bytebuf *out, event_summary *sum)
{
    resolved r;
    resolve_fields(b, e, &r);
    memset(sum, 0, sizeof *sum);
    sum->type = r.type;
    sum->type_sent = field_text(r.col[FIELD_TYPE]);
    sum->session = field_text(r.col[FIELD_SESSION_ID]);
    slice match_id = field_text(r.col[FIELD_MATCH_ID]);
    event_match_key(ctx->server_id, match_id.p, match_id.n, sum->session.p, sum->session.n, sum->match_key);

    /* Map: the event's own, else its session's latest. Only the event's own goes into the summary: the
     * session's is owned by the live state, which may drop or replace it before the batch is stored and the
     * summary read. */
    sum->map = field_text(r.col[FIELD_MAP]);
    slice map = sum->map;
    if (map.n) {
        if (ctx->maps.set)
            ctx->maps.set(ctx->maps.arg, sum->session.p, sum->session.n, map.p, map.n);
    } else if (ctx->maps.get) {
        size_t n = 0;
        const char *m = ctx->maps.get(ctx->maps.arg, sum->session.p, sum->session.n, &n);
        if (m)
            map = (slice){m, n};
    }

    event_block actor = pick_block(&r, event_actor_blocks, BLOCK_NONE);
    event_block target = pick_block(&r, event_target_blocks, actor);
    if (actor != BLOCK_NONE) {
        sum->actor_guid = field_text(r.blk[actor][BF_GUID]);
        sum->actor_name = field_text(r.blk[actor][BF_NAME]);
        sum->actor_team = field_text(r.blk[actor][BF_TEAM]);
    }
    if (target != BLOCK_NONE) {
        sum->target_guid = field_text(r.blk[target][BF_GUID]);
        sum->target_name = field_text(r.blk[target][BF_NAME]);
        sum->target_team = field_text(r.blk[target][BF_TEAM]);
    }

    uint8_t event_id[16];
    uuid_v4(event_id);
    char ev[37], bid[37];
    uuid_format(event_id, ev);
    uuid_format(ctx->batch_id, bid);
    int rc = 0;
    ev[36] = bid[36] = '\t'; /* uuid_format's NUL becomes the column separator */
    rc |= bytebuf_append(out, ev, 37);
    rc |= bytebuf_append(out, bid, 37);
    rc |= put_bytes(out, ctx->server_id, strlen(ctx->server_id));
    rc |= put_sep(out, '\t');
    rc |= bytebuf_append_u64(out, ctx->received_ms / 1000);
    rc |= put_sep(out, '\t');
    rc |= bytebuf_append_u64(out, ctx->received_ms % 1000);
    rc |= put_sep(out, '\t');
    rc |= put_float(out, r.col[FIELD_GAME_TIME], float64_range);
    rc |= put_sep(out, '\t');
    rc |= put_text(out, sum->session, false);
    rc |= put_sep(out, '\t');
    rc |= bytebuf_append(out, sum->match_key, strlen(sum->match_key));
    rc |= put_sep(out, '\t');
    rc |= put_text(out, map, false);
    rc |= put_sep(out, '\t');
    if (r.type)
        rc |= put_bytes(out, r.type->name, strlen(r.type->name));
    else
        rc |= put_text(out, sum->type_sent, false);
    rc |= put_sep(out, '\t');
    rc |= put_text(out, sum->type_sent, false);
    rc |= r.type ? bytebuf_append(out, "\t1\t", 3) : bytebuf_append(out, "\t0\t", 3);
    rc |= put_block(out, &r, actor);
    rc |= put_sep(out, '\t');
    rc |= put_block(out, &r, target);

    static const struct {
        event_field field;
        char kind; /* t text, n name-like text, f float32, d float64, i int32 */
    } cols[] = {
        {FIELD_WEAPON, 't'},         {FIELD_OLD_WEAPON, 't'}, {FIELD_MEANS_OF_DEATH, 't'}, {FIELD_HITLOC, 't'},
        {FIELD_DAMAGE, 'f'},         {FIELD_DISTANCE, 'd'},   {FIELD_TOTAL_DISTANCE, 'd'}, {FIELD_AMOUNT, 'd'},
        {FIELD_MESSAGE, 't'},        {FIELD_ITEM, 't'},       {FIELD_TEAM, 't'},           {FIELD_GAMETYPE, 't'},
        {FIELD_ROUND, 'i'},          {FIELD_ALLIES_SCORE, 'i'}, {FIELD_AXIS_SCORE, 'i'},   {FIELD_PLAYER_COUNT, 'i'},
    };
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        const batch_field *f = r.col[cols[i].field];
        rc |= put_sep(out, '\t');
        switch (cols[i].kind) {
        case 't': rc |= put_text(out, field_text(f), false); break;
        case 'f': rc |= put_float(out, f, float32_range); break;
        case 'd': rc |= put_float(out, f, float64_range); break;
        default: rc |= put_int32(out, f); break;
        }
    }
    /* unknown_fields: the keys outside the vocabulary, comma-separated (kept in raw, flagged here). */
    rc |= put_sep(out, '\t');
    bool first = true;
    for (size_t i = 0; i < e->nfields; i++) {
        const batch_field *f = &b->fields[e->first_field + i];
        if (!r.unknown[i])
            continue;
        if (!first)
            rc |= bytebuf_append(out, ",", 1);
        rc |= put_text(out, (slice){f->key, f->key_len}, false);
        first = false;
    }
    rc |= put_sep(out, '\t');
    rc |= put_raw(out, b, e, &r);
    rc |= put_sep(out, '\t');
    /* actor_country: the country of the address the event carried (a connect's "ip"), looked up here because the
     * address itself is never stored. */
    slice address = field_text(r.col[FIELD_ADDRESS]);
    bool known = geoip_country(ctx->geo, address.p, address.n, sum->actor_country);
    /* The stock tracker reports a player as a guest (unauth_<slot>, an id that means nothing across matches) until
     * they log in, and the login (player_auth) names the member but carries no address: the one that came with the
     * guest's connect. The login's row gets that country, so that the member has one. */
    if (!known && event_type_has(r.type, EVF_LOGIN) && ctx->guests.get && sum->actor_name.n)
        known = ctx->guests.get(ctx->guests.arg, sum->actor_name.p, sum->actor_name.n, sum->actor_country);
    if (known)
        rc |= bytebuf_append(out, sum->actor_country, 2);
    rc |= put_sep(out, '\n');
    return rc ? -ENOMEM : 0;
}
