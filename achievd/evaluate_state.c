/* The players' metric states (held only when not all zero), and saving and loading the evaluator's players and
 * matches: a compact binary form, little-endian, versioned. Metrics are saved by name, so a table that gains or
 * reorders metrics still reads old states. */
#include "evaluate_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

#define PLAYER_MAGIC 'P'
#define MATCH_MAGIC 'M'
/* Version 2: a player's last killer is the hash of the GUID (version 1 saved the GUID, still read). */
#define PLAYER_VERSION 2
#define MATCH_VERSION 1

/* Elements a player's held states grow by: players gain metrics a few at a time, and 8 spare elements (at most 136
 * bytes) per player are the most this wastes, where doubling would waste up to half of 60. */
#define METRIC_GROWTH 8

/* ---- metric states ---- */

uint32_t held_pos(const held_states *h, size_t size, int i, bool *found)
{
    const uint8_t *id = held_ids(h, size);
    uint32_t lo = 0, hi = h->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (id[mid] == i) {
            *found = true;
            return mid;
        }
        if (id[mid] < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Move h into a new allocation of cap elements (at least h->n), leaving a gap at k when gap is true. */
static int held_realloc(held_states *h, size_t size, uint32_t cap, uint32_t k, bool gap)
{
    if (cap == 0) {
        free(h->a);
        *h = (held_states){0};
        return 0;
    }
    unsigned char *a = malloc(cap * (size + 1));
    if (!a)
        return -ENOMEM;
    const uint8_t *old_id = held_ids(h, size);
    uint8_t *id = a + (size_t)cap * size;
    uint32_t g = gap ? 1 : 0;
    if (h->n) {
        memcpy(a, h->a, k * size);
        memcpy(a + (k + g) * size, (const unsigned char *)h->a + k * size, (h->n - k) * size);
        memcpy(id, old_id, k);
        memcpy(id + k + g, old_id + k, h->n - k);
    }
    free(h->a);
    h->a = a;
    h->cap = (uint16_t)cap;
    return 0;
}

int held_insert(held_states *h, size_t size, uint32_t k, int i, const void *elem)
{
    unsigned char *a;
    uint8_t *id;
    if (h->n < h->cap) {
        a = h->a;
        id = a + (size_t)h->cap * size;
        /* the indexes first: they sit after the elements, and moving an element does not touch them */
        memmove(id + k + 1, id + k, h->n - k);
        memmove(a + (k + 1) * size, a + k * size, (h->n - k) * size);
    } else {
        if (held_realloc(h, size, (uint32_t)h->cap + METRIC_GROWTH, k, /* gap= */ true))
            return -ENOMEM;
        a = h->a;
        id = a + (size_t)h->cap * size;
    }
    memcpy(a + k * size, elem, size);
    id[k] = (uint8_t)i;
    h->n++;
    return 0;
}

mstate player_metric(const player *p, int i)
{
    mstate s = {0};
    bool found;
    if (metric_value_only(i)) {
        uint32_t k = held_pos(&p->values, sizeof(uint32_t), i, &found);
        if (found)
            s.value = ((const uint32_t *)p->values.a)[k];
    } else {
        uint32_t k = held_pos(&p->full, sizeof(mstate), i, &found);
        if (found)
            s = ((const mstate *)p->full.a)[k];
    }
    return s;
}

int player_metric_set(player *p, int i, const mstate *s)
{
    bool found;
    if (metric_value_only(i)) {
        uint32_t k = held_pos(&p->values, sizeof(uint32_t), i, &found);
        if (found)
            ((uint32_t *)p->values.a)[k] = s->value;
        else if (s->value)
            return held_insert(&p->values, sizeof(uint32_t), k, i, &s->value);
        return 0;
    }
    uint32_t k = held_pos(&p->full, sizeof(mstate), i, &found);
    if (found)
        ((mstate *)p->full.a)[k] = *s;
    else if (!mstate_is_zero(s))
        return held_insert(&p->full, sizeof(mstate), k, i, s);
    return 0;
}

/* ---- the binary form ---- */

typedef struct {
    unsigned char *p;
    size_t len, cap;
    bool oom;
} wbuf;

typedef struct {
    const unsigned char *p;
    size_t len, pos;
    bool bad;
} rbuf;

static void put(wbuf *b, const void *src, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_u64(wbuf *b, uint64_t v)
{
    unsigned char x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    put(b, x, 8);
}

static void put_u32(wbuf *b, uint32_t v)
{
    unsigned char x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    put(b, x, 4);
}

static void put_f64(wbuf *b, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    put_u64(b, v);
}

static void put_str(wbuf *b, const char *s)
{
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    put(b, s, n);
}

static void get(rbuf *b, void *dst, size_t n)
{
    if (b->bad || b->len - b->pos < n) {
        b->bad = true;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, b->p + b->pos, n);
    b->pos += n;
}

static uint64_t get_u64(rbuf *b)
{
    unsigned char x[8];
    get(b, x, 8);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | x[i];
    return v;
}

static uint32_t get_u32(rbuf *b)
{
    unsigned char x[4];
    get(b, x, 4);
    return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
}

static double get_f64(rbuf *b)
{
    uint64_t v = get_u64(b);
    double d;
    memcpy(&d, &v, 8);
    return d;
}

/* A string into dst (cap bytes with its NUL); too long is malformed. */
static void get_str(rbuf *b, char *dst, size_t cap)
{
    uint32_t n = get_u32(b);
    if (b->bad || n >= cap) {
        b->bad = true;
        dst[0] = '\0';
        return;
    }
    get(b, dst, n);
    dst[n] = '\0';
}

/* A count of array elements of size each, checked against what the blob can still hold. */
static uint32_t get_count(rbuf *b, size_t each)
{
    uint32_t n = get_u32(b);
    if (!b->bad && (size_t)n * each > b->len - b->pos)
        b->bad = true;
    return b->bad ? 0 : n;
}

void *player_encode(const player *p, size_t *len)
{
    wbuf b = {0};
    unsigned char head[2] = {PLAYER_MAGIC, PLAYER_VERSION};
    put(&b, head, 2);
    put_u32(&b, p->member);
    put_str(&b, p->guid);
    put_str(&b, p->match_key);
    put_f64(&b, p->match_first_gt);
    put_f64(&b, p->match_last_gt);
    put_u32(&b, p->mk);
    put_u32(&b, p->md);
    put_u32(&b, p->m_pistol);
    put_u32(&b, p->m_melee);
    put_u32(&b, (uint32_t)p->side);
    put_u32(&b, p->conds_done);
    put_u32(&b, p->hit_mask);
    put_u32(&b, p->said_gg);
    for (int i = 0; i < MAX_KILLERS; i++) {
        put_u64(&b, p->killer_hash[i]);
        put_u32(&b, p->killer_n[i]);
    }
    put_u32(&b, p->has_spawn);
    put_f64(&b, p->spawn_gt);
    put_u32(&b, p->elev_mask);
    put_u64(&b, p->last_killer);
    put_u32(&b, p->has_chain);
    put_f64(&b, p->chain_t);
    put_u32(&b, p->chain_len);
    put_u32(&b, p->teabag_armed);
    put_f64(&b, p->kill_gt);
    for (int i = 0; i < 3; i++)
        put_f64(&b, p->corpse[i]);
    put_u32(&b, p->ring_n);
    for (int i = 0; i < RING; i++)
        put_f64(&b, p->ring[i]);
    put_u64(&b, p->session_start_ms);
    put_u64(&b, p->session_last_ms);
    put_u32(&b, p->session_counted);
    put_u32(&b, p->class_mask);
    put_u32(&b, p->points);
    /* Both kinds of held states, in metric order; a held state can be all zero again (a life's or match's running
     * part reset): saved as absent. */
    const mstate *fs = p->full.a;
    const uint32_t *vs = p->values.a;
    const uint8_t *fid = held_ids(&p->full, sizeof *fs), *vid = held_ids(&p->values, sizeof *vs);
    uint32_t nm = 0;
    for (uint32_t k = 0; k < p->full.n; k++)
        nm += !mstate_is_zero(&fs[k]);
    for (uint32_t k = 0; k < p->values.n; k++)
        nm += vs[k] != 0;
    put_u32(&b, nm);
    for (uint32_t f = 0, v = 0; f < p->full.n || v < p->values.n;) {
        mstate s = {0};
        int i;
        if (v == p->values.n || (f < p->full.n && fid[f] < vid[v])) {
            i = fid[f];
            s = fs[f++];
        } else {
            i = vid[v];
            s.value = vs[v++];
        }
        if (mstate_is_zero(&s))
            continue;
        put_str(&b, metrics[i].name);
        put_u32(&b, s.value);
        put_u32(&b, s.cur);
        put_f64(&b, s.t);
    }
    put_u32(&b, p->nmaps);
    for (uint32_t i = 0; i < p->nmaps; i++)
        put_u64(&b, p->maps[i]);
    put_u32(&b, p->nweapons);
    for (uint32_t i = 0; i < p->nweapons; i++) {
        put_u64(&b, p->weapons[i].hash);
        put_u32(&b, p->weapons[i].n);
    }
    put_u32(&b, p->nunlocked);
    for (uint32_t i = 0; i < p->nunlocked; i++)
        put_u64(&b, p->unlocked[i]);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

int player_decode(player *p, const void *blob, size_t len)
{
    rbuf b = {.p = blob, .len = len};
    unsigned char head[2];
    get(&b, head, 2);
    if (b.bad || head[0] != PLAYER_MAGIC || (head[1] != 1 && head[1] != PLAYER_VERSION))
        return -EINVAL;
    p->member = get_u32(&b);
    get_str(&b, p->guid, sizeof p->guid);
    get_str(&b, p->match_key, sizeof p->match_key);
    p->match_first_gt = get_f64(&b);
    p->match_last_gt = get_f64(&b);
    p->mk = get_u32(&b);
    p->md = get_u32(&b);
    p->m_pistol = get_u32(&b);
    p->m_melee = get_u32(&b);
    uint32_t side = get_u32(&b);
    p->side = side <= SIDE_AXIS ? (team_side)side : SIDE_NONE;
    p->conds_done = get_u32(&b);
    p->hit_mask = get_u32(&b);
    p->said_gg = get_u32(&b) != 0;
    for (int i = 0; i < MAX_KILLERS; i++) {
        p->killer_hash[i] = get_u64(&b);
        p->killer_n[i] = get_u32(&b);
    }
    p->has_spawn = get_u32(&b) != 0;
    p->spawn_gt = get_f64(&b);
    p->elev_mask = get_u32(&b);
    if (head[1] == 1) {
        char guid[65];
        get_str(&b, guid, sizeof guid);
        p->last_killer = guid[0] ? hash_fnv1a(guid, strlen(guid)) : 0;
    } else {
        p->last_killer = get_u64(&b);
    }
    p->has_chain = get_u32(&b) != 0;
    p->chain_t = get_f64(&b);
    p->chain_len = get_u32(&b);
    p->teabag_armed = get_u32(&b) != 0;
    p->kill_gt = get_f64(&b);
    for (int i = 0; i < 3; i++)
        p->corpse[i] = get_f64(&b);
    p->ring_n = get_u32(&b);
    if (p->ring_n > RING)
        p->ring_n = RING;
    for (int i = 0; i < RING; i++)
        p->ring[i] = get_f64(&b);
    p->session_start_ms = get_u64(&b);
    p->session_last_ms = get_u64(&b);
    p->session_counted = get_u32(&b) != 0;
    p->class_mask = get_u32(&b);
    p->points = get_u32(&b);
    uint32_t nm = get_count(&b, 20);
    for (uint32_t i = 0; i < nm && !b.bad; i++) {
        char name[64];
        get_str(&b, name, sizeof name);
        /* one read per statement: the order of evaluation inside an initializer list is unspecified */
        mstate s;
        s.value = get_u32(&b);
        s.cur = get_u32(&b);
        s.t = get_f64(&b);
        int mi = metric_index(name);
        /* a metric this version no longer has is dropped; a name twice (not a blob of ours): the last one counts */
        if (mi >= 0 && player_metric_set(p, mi, &s))
            return -ENOMEM;
    }
    /* loaded players gain few metrics: no spare room for them */
    if ((p->full.n < p->full.cap && held_realloc(&p->full, sizeof(mstate), p->full.n, p->full.n, false)) ||
        (p->values.n < p->values.cap && held_realloc(&p->values, sizeof(uint32_t), p->values.n, p->values.n, false)))
        return -ENOMEM;
    uint32_t n = get_count(&b, 8);
    if (n && !b.bad) {
        p->maps = malloc((size_t)n * sizeof *p->maps);
        if (!p->maps)
            return -ENOMEM;
        p->cmaps = p->nmaps = n;
        for (uint32_t i = 0; i < n; i++)
            p->maps[i] = get_u64(&b);
    }
    n = get_count(&b, 12);
    if (n && !b.bad) {
        p->weapons = malloc((size_t)n * sizeof *p->weapons);
        if (!p->weapons)
            return -ENOMEM;
        p->cweapons = p->nweapons = n;
        for (uint32_t i = 0; i < n; i++) {
            p->weapons[i].hash = get_u64(&b);
            p->weapons[i].n = get_u32(&b);
        }
    }
    n = get_count(&b, 8);
    if (n && !b.bad) {
        p->unlocked = malloc((size_t)n * sizeof *p->unlocked);
        if (!p->unlocked)
            return -ENOMEM;
        p->cunlocked = p->nunlocked = n;
        for (uint32_t i = 0; i < n; i++)
            p->unlocked[i] = get_u64(&b);
    }
    return b.bad || b.pos != b.len ? -EINVAL : 0;
}

void *match_encode(const match *m, size_t *len)
{
    wbuf b = {0};
    unsigned char head[2] = {MATCH_MAGIC, MATCH_VERSION};
    put(&b, head, 2);
    put_str(&b, m->key);
    put_u64(&b, m->last_ms);
    put_u32(&b, (uint32_t)m->ended | (uint32_t)m->first_blood << 1 | (uint32_t)m->has_start << 2);
    put_f64(&b, m->start_gt);
    put_u32(&b, (uint32_t)m->winner);
    for (int i = 0; i < 3; i++)
        put_u32(&b, (uint32_t)m->deficit[i]);
    put_u32(&b, m->nguids);
    for (uint32_t i = 0; i < m->nguids; i++) {
        const guid_times *g = &m->guids[i];
        put_u64(&b, g->hash);
        put_u32(&b, (uint32_t)g->has_spawn | (uint32_t)g->has_jump << 1 | (uint32_t)g->has_switch << 2);
        put_f64(&b, g->spawn_gt);
        put_f64(&b, g->jump_gt);
        put_f64(&b, g->switch_gt);
    }
    put_u32(&b, m->nmembers);
    for (uint32_t i = 0; i < m->nmembers; i++)
        put_u32(&b, m->members[i]);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

int match_decode(match *m, const void *blob, size_t len)
{
    rbuf b = {.p = blob, .len = len};
    unsigned char head[2];
    get(&b, head, 2);
    if (b.bad || head[0] != MATCH_MAGIC || head[1] != MATCH_VERSION)
        return -EINVAL;
    get_str(&b, m->key, sizeof m->key);
    m->last_ms = get_u64(&b);
    uint32_t flags = get_u32(&b);
    m->ended = flags & 1;
    m->first_blood = (flags >> 1) & 1;
    m->has_start = (flags >> 2) & 1;
    m->start_gt = get_f64(&b);
    uint32_t w = get_u32(&b);
    m->winner = w <= SIDE_AXIS ? (team_side)w : SIDE_NONE;
    for (int i = 0; i < 3; i++)
        m->deficit[i] = (int)get_u32(&b);
    uint32_t n = get_count(&b, 36);
    if (n && !b.bad) {
        m->guids = calloc(n, sizeof *m->guids);
        if (!m->guids)
            return -ENOMEM;
        m->cguids = m->nguids = n;
        for (uint32_t i = 0; i < n; i++) {
            guid_times *g = &m->guids[i];
            g->hash = get_u64(&b);
            uint32_t f = get_u32(&b);
            g->has_spawn = f & 1;
            g->has_jump = (f >> 1) & 1;
            g->has_switch = (f >> 2) & 1;
            g->spawn_gt = get_f64(&b);
            g->jump_gt = get_f64(&b);
            g->switch_gt = get_f64(&b);
        }
    }
    n = get_count(&b, 4);
    if (n && !b.bad) {
        m->members = malloc((size_t)n * sizeof *m->members);
        if (!m->members)
            return -ENOMEM;
        m->cmembers = m->nmembers = n;
        for (uint32_t i = 0; i < n; i++)
            m->members[i] = get_u32(&b);
    }
    return b.bad || b.pos != b.len ? -EINVAL : 0;
}
