/* The forum half of authd: a member's login code, their login history, trusted addresses and the logins
 * waiting for their approval. The forum's two API clients use different paths for most of these; both are
 * served, and the old Go API's query-string forms too.
 *
 * - POST   /api/v1/auth/device                               {forum_user_id, regenerate | force}
 * - POST   /api/v1/auth/claim/init                           {forum_user_id}
 * - GET    /api/v1/auth/login-history/{member}, /auth/history/{member}, /auth/history?forum_user_id=
 * - GET    /api/v1/auth/trusted-ips/{member}, /auth/trusted-ips?forum_user_id=
 * - POST   /api/v1/auth/trusted-ips/{member}/delete          {ip_id}
 * - DELETE /api/v1/auth/trusted-ip/{id}?forum_user_id=, /auth/trusted-ips/{id}?forum_user_id=
 * - GET    /api/v1/auth/pending-approvals/{member}, /auth/pending-ips/{member}, /auth/pending-ips?forum_user_id=
 * - POST   /api/v1/auth/pending-approvals/{member}/resolve   {approval_id, action, label}
 * - POST   /api/v1/auth/pending-ip/resolve                   {forum_user_id, approval_id, action, label}
 * - POST   /api/v1/auth/pending-ips/{id}                     {forum_user_id, action, label}
 * - POST   /api/v1/auth/pending-ips/mark-notified            {forum_user_id, ids}
 *
 * Every call needs the forum's secret in X-Server-Token: it acts for whichever member the forum names, so only
 * the forum may make it. Every statement is scoped by that member. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "client_ip.h"
#include "db_json.h"
#include "log.h"
#include "login_code.h"
#include "random.h"
#include "sha256.h"

#define ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

typedef struct {
    authd *a;
    char *member_sql; /* with the forum's table prefix */
} forum_ctx;

typedef struct fcall fcall;
/* Turns PostgreSQL's rows into the answer. */
typedef void (*reply_fn)(fcall *c, PGresult *res);

/* One forum call waiting for a database. */
struct fcall {
    forum_ctx *f;
    http_request *req;
    long member;
    char member_s[24];
    reply_fn reply;
    const char *key;         /* lists: the array's name; changes: the status word */
    const char *numeric;     /* lists: numeric columns */
    const char *boolean;     /* lists: boolean columns */
    const char *not_found;   /* changes: the 404 message when nothing matched */
    bool claim, regenerate, retried; /* login code calls */
};

bool authd_forum_allowed(authd *a, http_request *req)
{
    const char *ip = client_ip(req);
    char key[CLIENT_LIMIT_KEY_LEN];
    client_limit_key(ip, key);
    uint64_t now = uv_hrtime() / 1000000;
    if (!a->forum_hash[0]) {
        http_respond_error(req, 503, "Forum access is not configured (FORUM_API_TOKEN_SHA256)");
        return false;
    }
    /* The secret is checked before the failure limit: the forum's own calls always pass, so that someone
     * sharing its address (or every caller, behind a misconfigured proxy) cannot lock it out with bad tokens.
     * The secret is 256 bits from authd keygen; the limit is there to stop floods of guesses, not to make
     * guessing hard. */
    const char *token = http_request_header(req, "X-Server-Token");
    bool given = token && *token;
    char hash[65];
    if (given) {
        sha256_hex(token, strlen(token), hash);
        if (secret_equal(hash, a->forum_hash, 64))
            return true;
    }
    metric_inc(a->forum_refused);
    if (!rate_limit_allows(a->forum_failures, key, now)) {
        http_respond_error(req, 429, "Too many invalid forum tokens from this address; wait a minute");
        return false;
    }
    if (!given) {
        http_respond_error(req, 401, "Forum token required");
        return false;
    }
    rate_limit_take(a->forum_failures, key, now);
    log_warn("forum call %s refused from %s: invalid forum token", http_request_path(req), ip);
    http_respond_error(req, 401, "Invalid forum token");
    return false;
}

static fcall *fcall_new(forum_ctx *f, http_request *req, long member)
{
    fcall *c = calloc(1, sizeof *c);
    if (!c) {
        http_respond_error(req, 503, "Out of memory");
        return NULL;
    }
    c->f = f;
    c->req = req;
    c->member = member;
    snprintf(c->member_s, sizeof c->member_s, "%ld", member);
    return c;
}

static void on_pg(PGresult *res, const char *err, void *arg)
{
    fcall *c = arg;
    if (!res || err) {
        log_error("forum call %s failed: %s", http_request_path(c->req), err ? err : "no answer");
        http_respond_error(c->req, 503, "The login database is unreachable; try again shortly");
    } else {
        c->reply(c, res);
    }
    free(c);
}

/* Run sql for c; its answer goes to c->reply. */
static void run(fcall *c, const char *sql, int nparams, const char *const *params)
{
    if (pg_query(c->f->a->pg, sql, nparams, params, on_pg, c) != 0)
        on_pg(NULL, "out of memory", c);
}

static void bad_request(http_request *req, const char *message)
{
    http_respond_error(req, 400, message);
}

/* ---- the member's login code ---- */

static void code_query(fcall *c);

static void reply_code(fcall *c, PGresult *res)
{
    uint8_t id[16];
    if (PQntuples(res) != 1 || uuid_parse(PQgetvalue(res, 0, 0), id) != 0) {
        http_respond_error(c->req, 503, "The login database gave no code; try again shortly");
        return;
    }
    char code[LOGIN_CODE_LEN + 1], hash[65], legacy[65];
    login_code_derive(c->f->a->code_key, id, code);
    login_code_mac(c->f->a->code_key, code, hash);
    login_code_legacy_hash(code, legacy);
    /* A row stored before schema 0004 under this key holds the bare hash until code_upgrade.c rewrites it (a
     * moment after start): its code is still the member's, so show it rather than replace it. */
    const char *stored = PQgetvalue(res, 0, 1);
    if (strcmp(hash, stored) != 0 && strcmp(legacy, stored) != 0) {
        /* Made under another AUTHD_TOKEN_KEY: it still works in game, but cannot be shown. Replace it. */
        if (c->retried) {
            http_respond_error(c->req, 503, "The login code could not be derived; check AUTHD_TOKEN_KEY");
            return;
        }
        fcall *again = fcall_new(c->f, c->req, c->member);
        if (again) {
            log_warn("member %ld: login code made under another AUTHD_TOKEN_KEY, replacing it", c->member);
            again->claim = c->claim;
            again->regenerate = again->retried = true;
            code_query(again);
        }
        return;
    }
    bool is_new = PQgetvalue(res, 0, 4)[0] == 't';
    if (is_new)
        metric_inc(c->f->a->codes_issued);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, c->claim ? "code" : "user_code", code);
    cJSON_AddNumberToObject(o, "expires_in", strtod(PQgetvalue(res, 0, 2), NULL));
    cJSON_AddStringToObject(o, "expires_at", PQgetvalue(res, 0, 3));
    if (c->claim) {
        char msg[96];
        snprintf(msg, sizeof msg, "In game, open the console and type: login %s", code);
        cJSON_AddStringToObject(o, "message", msg);
    } else {
        cJSON_AddBoolToObject(o, "is_new", is_new);
    }
    memset(code, 0, sizeof code);
    http_respond_json(c->req, 200, o);
}

static void code_query(fcall *c)
{
    uint8_t id[16];
    char id_s[37], code[LOGIN_CODE_LEN + 1], hash[65], ttl[16];
    uuid_v4(id);
    uuid_format(id, id_s);
    login_code_derive(c->f->a->code_key, id, code);
    login_code_mac(c->f->a->code_key, code, hash);
    memset(code, 0, sizeof code);
    snprintf(ttl, sizeof ttl, "%d", c->f->a->code_ttl_days);
    const char *params[5] = {c->member_s, id_s, hash, ttl, c->regenerate ? "t" : "f"};
    c->reply = reply_code;
    run(c,
        "SELECT id::text, token_hash, expires_in, expires_at, is_new\n"
        "  FROM authd_member_code($1::int, $2::uuid, $3, $4::int, $5::boolean)",
        5, params);
}

/* MariaDB said whether the member exists. */
static void on_member(mdb_result *res, const char *err, void *arg)
{
    fcall *c = arg;
    if (!res) {
        log_error("login code for member %ld: the forum database failed: %s", c->member, err ? err : "?");
        http_respond_error(c->req, 503, "The forum database is unreachable; try again shortly");
        free(c);
    } else if (res->nrows == 0) {
        http_respond_error(c->req, 404, "Unknown forum member");
        free(c);
    } else {
        code_query(c);
    }
}

static void code_common(http_request *req, forum_ctx *f, bool claim)
{
    if (!authd_forum_allowed(f->a, req))
        return;
    cJSON *o = authd_body(req);
    long member = authd_member_id(cJSON_GetObjectItemCaseSensitive(o, "forum_user_id"));
    bool regenerate = authd_truthy(cJSON_GetObjectItemCaseSensitive(o, "regenerate")) ||
                      authd_truthy(cJSON_GetObjectItemCaseSensitive(o, "force"));
    cJSON_Delete(o);
    if (!member) {
        bad_request(req, "forum_user_id is required (a member id > 0)");
        return;
    }
    fcall *c = fcall_new(f, req, member);
    if (!c)
        return;
    c->claim = claim;
    c->regenerate = regenerate && !claim;
    const char *params[1] = {c->member_s};
    if (mdb_query(f->a->mdb, f->member_sql, 1, params, on_member, c) != 0)
        on_member(NULL, "out of memory", c);
}

static void device_handler(http_request *req, void *arg)
{
    code_common(req, arg, false);
}

static void claim_handler(http_request *req, void *arg)
{
    code_common(req, arg, true);
}

/* ---- lists ---- */

static void reply_list(fcall *c, PGresult *res)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "forum_user_id", (double)c->member);
    cJSON_AddItemToObject(o, c->key, pg_result_json(res, c->numeric, c->boolean));
    cJSON_AddNumberToObject(o, "count", PQntuples(res));
    http_respond_json(c->req, 200, o);
}

/* The member a GET names: {member} in the path, else ?forum_user_id=. 0 (answered 400) if neither. */
static long list_member(http_request *req)
{
    const char *p = http_request_param(req, "member");
    long m = authd_member_str(p ? p : http_request_query(req, "forum_user_id"));
    if (!m)
        bad_request(req, "forum_user_id is required (a member id > 0)");
    return m;
}

static void history_handler(http_request *req, void *arg)
{
    forum_ctx *f = arg;
    if (!authd_forum_allowed(f->a, req))
        return;
    long m = list_member(req);
    if (!m)
        return;
    const char *limit_s = http_request_query(req, "limit");
    long limit = limit_s ? authd_member_str(limit_s) : 20;
    if (!limit) {
        bad_request(req, "limit must be a number from 1 to 100");
        return;
    }
    fcall *c = fcall_new(f, req, m);
    if (!c)
        return;
    char lim[24];
    snprintf(lim, sizeof lim, "%ld", limit > 100 ? 100 : limit);
    c->reply = reply_list;
    c->key = "history";
    c->boolean = "success";
    const char *params[2] = {c->member_s, lim};
    run(c,
        "SELECT " ISO("attempt_at") " AS attempt_at, server_name, server_address, player_ip, player_guid,\n"
        "       player_name, success, failure_reason\n"
        "  FROM login_token_history WHERE forum_user_id = $1::int\n"
        " ORDER BY attempt_at DESC, id DESC LIMIT $2::int",
        2, params);
}

static void trusted_handler(http_request *req, void *arg)
{
    forum_ctx *f = arg;
    if (!authd_forum_allowed(f->a, req))
        return;
    long m = list_member(req);
    fcall *c = m ? fcall_new(f, req, m) : NULL;
    if (!c)
        return;
    c->reply = reply_list;
    c->key = "trusted_ips";
    c->numeric = "id";
    const char *params[1] = {c->member_s};
    run(c,
        "SELECT num AS id, host(ip_address) AS ip_address, source, label, " ISO("created_at") " AS created_at,\n"
        "       " ISO("last_used_at") " AS last_used_at\n"
        "  FROM trusted_ips WHERE forum_user_id = $1::int AND is_active\n"
        " ORDER BY created_at DESC, num DESC",
        1, params);
}

static void pending_handler(http_request *req, void *arg)
{
    forum_ctx *f = arg;
    if (!authd_forum_allowed(f->a, req))
        return;
    long m = list_member(req);
    fcall *c = m ? fcall_new(f, req, m) : NULL;
    if (!c)
        return;
    c->reply = reply_list;
    c->key = "pending_ips";
    c->numeric = "id";
    const char *params[1] = {c->member_s};
    run(c,
        "SELECT num AS id, host(ip_address) AS ip_address, player_guid, player_name, server_name, server_address,\n"
        "       " ISO("created_at") " AS requested_at, " ISO("expires_at") " AS expires_at\n"
        "  FROM pending_ip_approvals\n"
        " WHERE forum_user_id = $1::int AND status = 'pending' AND expires_at > now()\n"
        " ORDER BY created_at DESC, num DESC",
        1, params);
}

/* ---- changes ---- */

static void reply_changed(fcall *c, PGresult *res)
{
    if (PQntuples(res) == 0) {
        http_respond_error(c->req, 404, c->not_found);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddTrueToObject(o, "success");
    cJSON_AddStringToObject(o, "status", c->key);
    http_respond_json(c->req, 200, o);
}

/* The member and the id a change names: {member} or {id} in the path, the rest from the body or the query. */
typedef struct {
    long member, id;
    char action[16], label[128];
} change_args;

static bool change_args_read(http_request *req, const char *id_field, change_args *out)
{
    cJSON *o = authd_body(req);
    const char *m = http_request_param(req, "member");
    const char *id = http_request_param(req, "id");
    out->member = m ? authd_member_str(m) : authd_member_id(cJSON_GetObjectItemCaseSensitive(o, "forum_user_id"));
    if (!out->member && !m)
        out->member = authd_member_str(http_request_query(req, "forum_user_id"));
    out->id = id ? authd_member_str(id) : authd_member_id(cJSON_GetObjectItemCaseSensitive(o, id_field));
    char buf[32];
    snprintf(out->action, sizeof out->action, "%s", o ? authd_text(o, "action", buf, sizeof buf) : "");
    snprintf(out->label, sizeof out->label, "%s", o ? authd_text(o, "label", buf, sizeof buf) : "");
    cJSON_Delete(o);
    if (!out->member || !out->id) {
        char msg[96];
        snprintf(msg, sizeof msg, "forum_user_id and %s are required (numbers > 0)", id ? "the id" : id_field);
        bad_request(req, msg);
        return false;
    }
    return true;
}

static void trusted_delete_handler(http_request *req, void *arg)
{
    forum_ctx *f = arg;
    change_args ch;
    if (!authd_forum_allowed(f->a, req) || !change_args_read(req, "ip_id", &ch))
        return;
    fcall *c = fcall_new(f, req, ch.member);
    if (!c)
        return;
    char id[24];
    snprintf(id, sizeof id, "%ld", ch.id);
    c->reply = reply_changed;
    c->key = "deleted";
    c->not_found = "Trusted IP not found";
    const char *params[2] = {id, c->member_s};
    run(c,
        "UPDATE trusted_ips SET is_active = false, revoked_at = now()\n"
        " WHERE num = $1::bigint AND forum_user_id = $2::int AND is_active RETURNING num",
        2, params);
}

static void resolve_handler(http_request *req, void *arg)
{
    forum_ctx *f = arg;
    change_args ch;
    if (!authd_forum_allowed(f->a, req) || !change_args_read(req, "approval_id", &ch))
        return;
    bool approve = strcmp(ch.action, "approve") == 0;
    if (!approve && strcmp(ch.action, "deny") != 0) {
        bad_request(req, "action must be approve or deny");
        return;
    }
    fcall *c = fcall_new(f, req, ch.member);
    if (!c)
        return;
    char id[24];
    snprintf(id, sizeof id, "%ld", ch.id);
    c->reply = reply_changed;
    c->key = approve ? "approved" : "denied";
    c->not_found = "Pending request not found";
    const char *params[4] = {id, c->member_s, approve ? "approved" : "denied",
                             ch.label[0] ? ch.label : "Approved on the forum"};
    /* Decide the request and, when approved, trust its address: one statement, so one transaction. */
    run(c,
        "WITH decided AS (\n"
        "  UPDATE pending_ip_approvals SET status = $3, decided_at = now()\n"
        "   WHERE num = $1::bigint AND forum_user_id = $2::int AND status = 'pending' AND expires_at > now()\n"
        "  RETURNING forum_user_id, ip_address),\n"
        "trusted AS (\n"
        "  INSERT INTO trusted_ips (forum_user_id, ip_address, source, label)\n"
        "  SELECT forum_user_id, ip_address, 'manual_approval', $4 FROM decided WHERE $3 = 'approved'\n"
        "  ON CONFLICT (forum_user_id, ip_address) DO UPDATE\n"
        "     SET is_active = true, revoked_at = NULL, source = 'manual_approval', label = EXCLUDED.label\n"
        "  RETURNING 1)\n"
        "SELECT 1 FROM decided",
        4, params);
}

static void reply_count(fcall *c, PGresult *res)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "updated", PQntuples(res) ? strtod(PQgetvalue(res, 0, 0), NULL) : 0);
    http_respond_json(c->req, 200, o);
}

static void mark_notified_handler(http_request *req, void *arg)
{
    forum_ctx *f = arg;
    if (!authd_forum_allowed(f->a, req))
        return;
    cJSON *o = authd_body(req);
    long member = authd_member_id(cJSON_GetObjectItemCaseSensitive(o, "forum_user_id"));
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(o, "ids");
    /* A PostgreSQL array literal of the ids, each checked to be a number. */
    char list[2048] = "{";
    size_t n = 1;
    bool ok = member && cJSON_IsArray(ids);
    const cJSON *id;
    cJSON_ArrayForEach(id, ids)
    {
        long v = ok ? authd_member_id(id) : 0;
        int w = v ? snprintf(list + n, sizeof list - n, "%s%ld", n > 1 ? "," : "", v) : -1;
        if (w < 0 || (size_t)w >= sizeof list - n - 1) {
            ok = false;
            break;
        }
        n += (size_t)w;
    }
    cJSON_Delete(o);
    if (!ok) {
        bad_request(req, "Expected {\"forum_user_id\": n, \"ids\": [numbers]} (at most about 200 ids)");
        return;
    }
    list[n++] = '}';
    list[n] = '\0';
    fcall *c = fcall_new(f, req, member);
    if (!c)
        return;
    c->reply = reply_count;
    const char *params[2] = {c->member_s, list};
    run(c,
        "WITH marked AS (\n"
        "  UPDATE pending_ip_approvals SET notified_at = now()\n"
        "   WHERE forum_user_id = $1::int AND num = ANY($2::bigint[]) AND status = 'pending'\n"
        "     AND notified_at IS NULL AND expires_at > now()\n"
        "  RETURNING 1)\n"
        "SELECT count(*) FROM marked",
        2, params);
}

void forum_routes(authd *a, http_server *s)
{
    static forum_ctx f;
    f.a = a;
    f.member_sql = mdb_prefixed_sql(a->smf_prefix, "SELECT 1 FROM {p}members WHERE id_member = ?");
    a->codes_issued = metrics_counter("authd_login_codes_issued_total", "Login codes made for forum members", NULL);
    a->forum_refused =
        metrics_counter("authd_forum_refused_total", "Forum calls refused for a missing or wrong token", NULL);
    static const struct {
        const char *method, *path;
        http_handler_fn fn;
    } routes[] = {
        {"POST", "/auth/device", device_handler},
        {"POST", "/auth/claim/init", claim_handler},
        {"GET", "/auth/login-history/{member}", history_handler},
        {"GET", "/auth/history/{member}", history_handler},
        {"GET", "/auth/history", history_handler},
        {"GET", "/auth/trusted-ips/{member}", trusted_handler},
        {"GET", "/auth/trusted-ips", trusted_handler},
        {"POST", "/auth/trusted-ips/{member}/delete", trusted_delete_handler},
        {"DELETE", "/auth/trusted-ip/{id}", trusted_delete_handler},
        {"DELETE", "/auth/trusted-ips/{id}", trusted_delete_handler},
        {"GET", "/auth/pending-approvals/{member}", pending_handler},
        {"GET", "/auth/pending-ips/{member}", pending_handler},
        {"GET", "/auth/pending-ips", pending_handler},
        {"POST", "/auth/pending-approvals/{member}/resolve", resolve_handler},
        {"POST", "/auth/pending-ip/resolve", resolve_handler},
        {"POST", "/auth/pending-ips/{id}", resolve_handler},
        {"POST", "/auth/pending-ips/mark-notified", mark_notified_handler},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/api/v1%s", routes[i].path);
        if (http_server_route(s, routes[i].method, path, routes[i].fn, &f) != 0)
            log_error("cannot register route %s", path);
    }
}
