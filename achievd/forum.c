/* The forum's side of achievd: its achievement catalogue, its identity links, and the unlock and progress rows
 * it reads, in whichever schema variant its installer created (docs/forum.md §1.3, docs/achievements.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "achievd.h"
#include "log.h"
#include "mariadb.h"

struct forum {
    const achievd_settings *s;
    mdb_conn *db;
    /* columns present (detected at start) */
    bool unlock_guid, unlock_match, unlock_progress;
    const char *progress_ts; /* "last_updated", "updated_at" or NULL */
    hashmap *ids;            /* code -> id_achievement (as a decimal string) */
    hashmap *links;          /* GUID -> member (uintptr_t) */
    hashmap *logged_types;   /* unknown requirement_types already logged */
};

static void free_str(void *p)
{
    free(p);
}

forum *forum_new(const achievd_settings *s)
{
    forum *f = calloc(1, sizeof *f);
    char err[256];
    if (!f)
        return NULL;
    f->s = s;
    f->db = mdb_conn_open(s->mariadb_url, err, sizeof err);
    f->ids = hashmap_new();
    f->links = hashmap_new();
    f->logged_types = hashmap_new();
    if (!f->db || !f->ids || !f->links || !f->logged_types) {
        log_error("achievd: cannot use MARIADB_URL: %s", f->db ? "out of memory" : err);
        forum_free(f);
        return NULL;
    }
    return f;
}

void forum_free(forum *f)
{
    if (!f)
        return;
    mdb_conn_close(f->db);
    if (f->ids)
        hashmap_free(f->ids, free_str);
    if (f->links)
        hashmap_free(f->links, NULL);
    if (f->logged_types)
        hashmap_free(f->logged_types, NULL);
    free(f);
}

/* Run a statement whose table names are written {p} (the forum's prefix). */
static mdb_result *query(forum *f, const char *tmpl, int n, const char *const *params, char *err, size_t errlen)
{
    return mdb_conn_query_prefixed(f->db, f->s->prefix, tmpl, n, params, err, errlen);
}

/* Whether the result of SHOW COLUMNS lists a column. */
static bool has_column(const mdb_result *r, const char *name)
{
    int c = mdb_col(r, "Field");
    for (unsigned long long i = 0; c >= 0 && i < r->nrows; i++)
        if (mdb_cell(r, i, (unsigned)c) && strcmp(mdb_cell(r, i, (unsigned)c), name) == 0)
            return true;
    return false;
}

int forum_detect_schema(forum *f)
{
    char err[512];
    mdb_result *u = query(f, "SHOW COLUMNS FROM {p}mohaa_player_achievements", 0, NULL, err, sizeof err);
    if (!u) {
        log_warn("achievd: cannot read the columns of the forum's unlock table: %s", err);
        return -EIO;
    }
    f->unlock_guid = has_column(u, "player_guid");
    f->unlock_match = has_column(u, "match_id");
    f->unlock_progress = has_column(u, "progress");
    mdb_result_free(u);
    mdb_result *p = query(f, "SHOW COLUMNS FROM {p}mohaa_achievement_progress", 0, NULL, err, sizeof err);
    if (!p) {
        log_warn("achievd: cannot read the columns of the forum's progress table: %s", err);
        return -EIO;
    }
    f->progress_ts = has_column(p, "last_updated") ? "last_updated" : has_column(p, "updated_at") ? "updated_at" : NULL;
    mdb_result_free(p);
    log_info("achievd: forum schema: unlocks with%s player_guid, with%s match_id, with%s progress; progress with %s",
             f->unlock_guid ? "" : "out", f->unlock_match ? "" : "out", f->unlock_progress ? "" : "out",
             f->progress_ts ? f->progress_ts : "no timestamp");
    return 0;
}

/* Append ", type" to a bounded list for the log ("..." once it is full). */
static void unknown_list_add(char *list, size_t cap, const char *type)
{
    size_t len = strlen(list);
    if (len + strlen(type) + 6 >= cap) {
        if (len + 4 < cap && (len < 3 || strcmp(list + len - 3, "...") != 0))
            strcat(list, "...");
        return;
    }
    snprintf(list + len, cap - len, "%s%s", len ? ", " : "", type);
}

int forum_load_catalogue(forum *f, ach_def **defs, size_t *n)
{
    char err[512];
    mdb_result *r = query(f,
                          "SELECT id_achievement, code, requirement_type, requirement_value, points\n"
                          "  FROM {p}mohaa_achievement_defs\n"
                          " ORDER BY id_achievement",
                          0, NULL, err, sizeof err);
    if (!r) {
        log_warn("achievd: cannot read the achievement catalogue: %s", err);
        return -EIO;
    }
    ach_def *d = calloc(r->nrows ? r->nrows : 1, sizeof *d);
    hashmap *ids = hashmap_new();
    if (!d || !ids) {
        free(d);
        if (ids)
            hashmap_free(ids, NULL);
        mdb_result_free(r);
        return -ENOMEM;
    }
    size_t k = 0, nunknown = 0;
    char unknown[2048] = "";
    for (unsigned long long i = 0; i < r->nrows; i++) {
        const char *id = mdb_cell(r, i, 0), *code = mdb_cell(r, i, 1), *type = mdb_cell(r, i, 2);
        const char *value = mdb_cell(r, i, 3), *points = mdb_cell(r, i, 4);
        if (!id || !code || !*code || strlen(code) >= sizeof d[k].code)
            continue;
        ach_def *x = &d[k++];
        snprintf(x->code, sizeof x->code, "%s", code);
        long long req = value ? strtoll(value, NULL, 10) : 1, pts = points ? strtoll(points, NULL, 10) : 0;
        x->requirement = req < 1 ? 1 : req > UINT32_MAX ? UINT32_MAX : (uint32_t)req;
        x->points = pts < 0 ? 0 : pts > UINT32_MAX ? UINT32_MAX : (uint32_t)pts;
        x->metric = criteria_lookup(code, type, &x->threshold);
        if (x->metric < 0 && type && !hashmap_get(f->logged_types, type, strlen(type))) {
            hashmap_put(f->logged_types, type, strlen(type), (void *)1, NULL);
            unknown_list_add(unknown, sizeof unknown, type);
            nunknown++;
        }
        char *idcopy = strdup(id);
        void *old = NULL;
        if (idcopy && hashmap_put(ids, code, strlen(code), idcopy, &old) == 0)
            free(old);
        else
            free(idcopy);
    }
    mdb_result_free(r);
    if (nunknown)
        log_info("achievd: %zu requirement_types of the catalogue are not ones achievd evaluates; their "
                 "definitions are skipped (docs/achievements.md): %s",
                 nunknown, unknown);
    hashmap_free(f->ids, free_str);
    f->ids = ids;
    *defs = d;
    *n = k;
    return 0;
}

int forum_load_identities(forum *f)
{
    char err[512];
    mdb_result *r = query(f, "SELECT player_guid, id_member FROM {p}mohaa_identities WHERE id_member > 0", 0, NULL, err,
                          sizeof err);
    if (!r) {
        log_warn("achievd: cannot read the identity links: %s", err);
        return -EIO;
    }
    hashmap *links = hashmap_new();
    if (!links) {
        mdb_result_free(r);
        return -ENOMEM;
    }
    for (unsigned long long i = 0; i < r->nrows; i++) {
        const char *guid = mdb_cell(r, i, 0), *member = mdb_cell(r, i, 1);
        unsigned long m = member ? strtoul(member, NULL, 10) : 0;
        if (guid && *guid && m > 0 && m <= UINT32_MAX)
            hashmap_put(links, guid, strlen(guid), (void *)(uintptr_t)m, NULL);
    }
    mdb_result_free(r);
    hashmap_free(f->links, NULL);
    f->links = links;
    return 0;
}

void forum_each_link(forum *f, void (*each)(void *arg, const char *guid, uint32_t member), void *arg)
{
    size_t pos = 0, klen;
    const char *k;
    void *v;
    char guid[80];
    while (hashmap_next(f->links, &pos, &k, &klen, &v)) {
        if (klen >= sizeof guid)
            continue;
        memcpy(guid, k, klen);
        guid[klen] = '\0';
        each(arg, guid, (uint32_t)(uintptr_t)v);
    }
}

/* A growing SQL text and its parameters. */
typedef struct {
    char *sql;
    size_t len, cap;
    const char **params;
    int nparams, cparams;
    char (*nums)[24]; /* storage of the numeric parameters */
    int nnums, cnums;
} stmt;

static int stmt_add(stmt *q, const char *text)
{
    size_t n = strlen(text);
    if (q->len + n + 1 > q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 4096;
        while (cap < q->len + n + 1)
            cap *= 2;
        char *s = realloc(q->sql, cap);
        if (!s)
            return -ENOMEM;
        q->sql = s;
        q->cap = cap;
    }
    memcpy(q->sql + q->len, text, n + 1);
    q->len += n;
    return 0;
}

static int stmt_param(stmt *q, const char *value)
{
    if (q->nparams == q->cparams) {
        int cap = q->cparams ? q->cparams * 2 : 64;
        const char **p = realloc(q->params, (size_t)cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        q->params = p;
        q->cparams = cap;
    }
    q->params[q->nparams++] = value;
    return 0;
}

/* A numeric parameter: its text lives in q until the statement is freed (nums never moves once sized). */
static int stmt_num(stmt *q, uint64_t v)
{
    if (q->nnums == q->cnums)
        return -ENOMEM;
    snprintf(q->nums[q->nnums], sizeof q->nums[0], "%" PRIu64, v);
    return stmt_param(q, q->nums[q->nnums++]);
}

static void stmt_free(stmt *q)
{
    free(q->sql);
    free(q->params);
    free(q->nums);
    memset(q, 0, sizeof *q);
}

static int stmt_run(forum *f, stmt *q, const char *what)
{
    char err[512];
    mdb_result *r = query(f, q->sql, q->nparams, q->params, err, sizeof err);
    if (!r) {
        log_warn("achievd: writing %s to the forum failed: %s (kept, retried)", what, err);
        return -EIO;
    }
    mdb_result_free(r);
    return 0;
}

/* Unlocks: insert-if-absent on (member, achievement) whatever the table's unique key (the master installer's
 * is (player_guid, id_achievement)), with the columns this forum has. */
static int write_unlocks(forum *f, const pending_write *w, const char *const *ids, size_t n)
{
    stmt q = {0};
    q.cnums = (int)n * 4;
    q.nums = calloc((size_t)q.cnums, sizeof *q.nums);
    int rc = q.nums ? 0 : -ENOMEM;
    rc |= stmt_add(&q, "INSERT IGNORE INTO {p}mohaa_player_achievements (id_member, id_achievement, unlocked_date");
    if (f->unlock_guid)
        rc |= stmt_add(&q, ", player_guid");
    if (f->unlock_match)
        rc |= stmt_add(&q, ", match_id");
    if (f->unlock_progress)
        rc |= stmt_add(&q, ", progress");
    rc |= stmt_add(&q, ")\nSELECT v.* FROM (\n");
    size_t rows = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!w[i].unlocked || !ids[i])
            continue;
        rc |= stmt_add(&q, rows ? "  UNION ALL SELECT ?, ?, ?" : "  SELECT ? AS m, ? AS a, ? AS d");
        rc |= stmt_num(&q, w[i].member);
        rc |= stmt_param(&q, ids[i]);
        rc |= stmt_num(&q, w[i].at_ms / 1000);
        if (f->unlock_guid) {
            rc |= stmt_add(&q, ", ?");
            rc |= stmt_param(&q, w[i].note ? w[i].note->guid : "");
        }
        if (f->unlock_match) {
            rc |= stmt_add(&q, ", ?");
            rc |= stmt_param(&q, w[i].note ? w[i].note->match_key : "");
        }
        if (f->unlock_progress) {
            rc |= stmt_add(&q, ", ?");
            rc |= stmt_num(&q, w[i].progress);
        }
        rc |= stmt_add(&q, "\n");
        rows++;
    }
    rc |= stmt_add(&q, ") v\nWHERE NOT EXISTS (SELECT 1 FROM {p}mohaa_player_achievements x\n"
                       "                  WHERE x.id_member = v.m AND x.id_achievement = v.a)");
    if (rc == 0 && rows > 0)
        rc = stmt_run(f, &q, "unlocks");
    stmt_free(&q);
    return rc;
}

/* Progress: upserted, never lowered (a replay or a slower writer cannot move a bar back). */
static int write_progress(forum *f, const pending_write *w, const char *const *ids, size_t n)
{
    stmt q = {0};
    q.cnums = (int)n * 3;
    q.nums = calloc((size_t)q.cnums, sizeof *q.nums);
    int rc = q.nums ? 0 : -ENOMEM;
    rc |= stmt_add(&q, "INSERT INTO {p}mohaa_achievement_progress (id_member, id_achievement, current_progress");
    if (f->progress_ts) {
        rc |= stmt_add(&q, ", ");
        rc |= stmt_add(&q, f->progress_ts);
    }
    rc |= stmt_add(&q, ")\nVALUES ");
    size_t rows = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!ids[i])
            continue;
        rc |= stmt_add(&q, rows ? ", (?, ?, ?" : "(?, ?, ?");
        rc |= stmt_num(&q, w[i].member);
        rc |= stmt_param(&q, ids[i]);
        rc |= stmt_num(&q, w[i].progress);
        if (f->progress_ts) {
            rc |= stmt_add(&q, ", ?");
            rc |= stmt_num(&q, w[i].at_ms / 1000);
        }
        rc |= stmt_add(&q, ")");
        rows++;
    }
    rc |= stmt_add(&q, "\nON DUPLICATE KEY UPDATE ");
    if (f->progress_ts) {
        /* assignments run left to right: the timestamp moves only with the progress */
        char ts[160];
        snprintf(ts, sizeof ts, "%s = IF(VALUES(current_progress) > current_progress, VALUES(%s), %s), ",
                 f->progress_ts, f->progress_ts, f->progress_ts);
        rc |= stmt_add(&q, ts);
    }
    rc |= stmt_add(&q, "current_progress = GREATEST(current_progress, VALUES(current_progress))");
    if (rc == 0 && rows > 0)
        rc = stmt_run(f, &q, "progress");
    stmt_free(&q);
    return rc;
}

int forum_write(forum *f, const pending_write *w, size_t n, double *seconds)
{
    const char **ids = calloc(n ? n : 1, sizeof *ids);
    if (!ids)
        return -ENOMEM;
    /* Codes resolve to this forum's ids now: a definition deleted since is dropped, never written to another. */
    for (size_t i = 0; i < n; i++)
        ids[i] = hashmap_get(f->ids, w[i].code, strlen(w[i].code));
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = write_unlocks(f, w, ids, n);
    if (rc == 0)
        rc = write_progress(f, w, ids, n);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (seconds)
        *seconds = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    free(ids);
    return rc;
}

int forum_grant(forum *f, uint32_t member, const char *code, bool grant, char *msg, size_t msglen)
{
    char err[512], m[16];
    snprintf(m, sizeof m, "%u", member);
    const char *params[] = {m, code};
    mdb_result *r =
        query(f, "SELECT id_achievement FROM {p}mohaa_achievement_defs WHERE code = ?", 1, params + 1, err, sizeof err);
    if (!r) {
        snprintf(msg, msglen, "cannot read the catalogue: %s", err);
        return -EIO;
    }
    char id[24] = "";
    if (r->nrows > 0 && mdb_cell(r, 0, 0))
        snprintf(id, sizeof id, "%s", mdb_cell(r, 0, 0));
    mdb_result_free(r);
    if (!*id) {
        snprintf(msg, msglen, "no achievement with code '%s' in the forum's catalogue", code);
        return -ENOENT;
    }
    if (grant) {
        pending_write w = {
            .member = member, .progress = 0, .unlocked = true, .at_ms = (uint64_t)time(NULL) * 1000, .code = code};
        const char *ids[] = {id};
        mdb_result *req = query(f, "SELECT requirement_value FROM {p}mohaa_achievement_defs WHERE code = ?", 1,
                                params + 1, err, sizeof err);
        if (req && req->nrows > 0 && mdb_cell(req, 0, 0))
            w.progress = (uint32_t)strtoul(mdb_cell(req, 0, 0), NULL, 10);
        mdb_result_free(req);
        int rc = write_unlocks(f, &w, ids, 1);
        if (rc == 0)
            rc = write_progress(f, &w, ids, 1);
        snprintf(msg, msglen, rc == 0 ? "granted %s to member %u" : "granting %s to member %u failed", code, member);
        return rc;
    }
    const char *del[] = {m, id};
    mdb_result *d1 = query(f, "DELETE FROM {p}mohaa_player_achievements WHERE id_member = ? AND id_achievement = ?", 2,
                           del, err, sizeof err);
    mdb_result *d2 = d1 ? query(f,
                                "DELETE FROM {p}mohaa_achievement_progress WHERE id_member = ? AND "
                                "id_achievement = ?",
                                2, del, err, sizeof err)
                        : NULL;
    int rc = d1 && d2 ? 0 : -EIO;
    snprintf(msg, msglen, rc == 0 ? "revoked %s from member %u (%llu unlock row)" : "revoking %s from member %u failed",
             code, member, d1 ? d1->affected_rows : 0ULL);
    mdb_result_free(d1);
    mdb_result_free(d2);
    return rc;
}
