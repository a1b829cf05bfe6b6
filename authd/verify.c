/* The game server half of authd: a player types `login <code>` in the console and the tracker script asks
 * whether the code is good.
 *
 * - POST /api/v1/auth/verify       the tracker since 2026-02 (JSON under a form Content-Type)
 * - POST /api/v1/auth/smf-verify   the tracker before that (a form; answers {success, member_id, ...})
 * - POST /api/v1/auth/smf-logout   the `logout` command; answered, changes nothing
 *
 * These calls carry no credentials (the script sends no headers), so: logins only from the address of a
 * registered game server that has sent events (registering alone is open to anyone), failed ones limited per
 * server and per player on it (login_limit.h), and the address that counts for trust is the sender's, never one
 * named in the body (anyone can register a server and name any address there).
 * A login is decided in PostgreSQL (authd_login, schemas/postgres/0002_authd.sql), then a good one is linked
 * in the forum's smf_mohaa_identities. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "client_ip.h"
#include "log.h"
#include "login_code.h"
#include "text.h"

/* What a login ended as: the metric label, and authd_login's outcome names. */
enum {
    OUT_FIRST,
    OUT_TRUSTED,
    OUT_PENDING,
    OUT_REVOKED,
    OUT_EXPIRED,
    OUT_UNKNOWN,
    OUT_UNREGISTERED,
    OUT_UNAVAILABLE,
    OUT_NO_MEMBER, /* ours, not authd_login's: the code was right, but the member is gone from the forum */
    OUT_COUNT
};
static const char *const outcome_names[OUT_COUNT] = {
    "first_login",   "trusted_ip",    "new_ip_pending_approval", "token_revoked",
    "token_expired", "token_unknown", "unregistered_server",     "unavailable",
    "member_deleted",
};
_Static_assert(sizeof((authd *)0)->logins / sizeof(metric *) >= OUT_COUNT, "authd.logins needs a slot per outcome");

typedef struct {
    authd *a;
    char *link_sql, *name_sql; /* with the forum's table prefix */
} verify_ctx;

/* One login in progress. */
typedef struct {
    verify_ctx *v;
    http_request *req;
    bool legacy;      /* /auth/smf-verify: {success, member_id, member_name, guid} */
    cJSON *guid_sent; /* player_guid as sent, echoed back unchanged (the script finds the player by it) */
    char sender[64], guid[80], link_guid[80], player_name[256], server_id[128], server_name[256], server_address[320],
        member_s[24];
    char limit_key[CLIENT_LIMIT_KEY_LEN];  /* what the failed-login limits count the sender under */
    char player_key[LOGIN_PLAYER_KEY_LEN]; /* ... and the player on it */
    char code_hash[65]; /* the MAC of the code given: which login to record as failed if the member is gone */
    long member;
    int outcome;
    bool charged; /* took one of the server's and of the player's failed-login allowances when it began */
    bool failed;  /* ended in a failure that keeps that charge */
} login;

/* The end of every login: an attempt that did not fail gives back what it took of the allowance. */
static void login_free(login *l)
{
    if (l->charged && !l->failed)
        login_limits_give(&l->v->a->verify_limits, l->limit_key, l->player_key, uv_hrtime() / 1000000);
    cJSON_Delete(l->guid_sent);
    free(l);
}

/* A refused login: {"valid":false,"error":...} (or the legacy {"success":false,"message":...}). */
static void refuse(login *l, int status, int outcome, const char *error)
{
    if (outcome >= 0)
        metric_inc(l->v->a->logins[outcome]);
    l->failed =
        outcome == OUT_UNKNOWN || outcome == OUT_REVOKED || outcome == OUT_EXPIRED || outcome == OUT_UNREGISTERED;
    if (outcome >= 0)
        log_warn("login refused from %s (server %s, player %s): %s", l->sender, l->server_id, l->guid,
                 outcome_names[outcome]);
    cJSON *o = cJSON_CreateObject();
    if (l->legacy) {
        cJSON_AddFalseToObject(o, "success");
        cJSON_AddStringToObject(o, "message", error);
    } else {
        cJSON_AddFalseToObject(o, "valid");
        if (outcome == OUT_PENDING) {
            cJSON_AddStringToObject(o, "error", "new_ip_detected");
            cJSON_AddStringToObject(o, "message", error);
            cJSON_AddTrueToObject(o, "pending_approval");
        } else {
            cJSON_AddStringToObject(o, "error", error);
        }
    }
    http_respond_json(l->req, status, o);
    login_free(l);
}

/* PostgreSQL recorded that the member is gone (or failed to: the next login with one of the member's codes ends
 * here again and tries again). */
static void on_member_gone(PGresult *res, const char *err, void *arg)
{
    login *l = arg;
    if (!res || err)
        log_error("member %ld is gone from the forum, but revoking their codes failed: %s", l->member,
                  err ? err : "no answer");
    refuse(l, 403, OUT_NO_MEMBER, "This forum account no longer exists");
}

/* MariaDB told us the member's name and who owns the GUID now: answer. */
static void on_linked(mdb_result *res, const char *err, void *arg)
{
    login *l = arg;
    if (!res) {
        /* The login itself is recorded; a retry from the same address takes the trusted path and links again. */
        log_error("login of member %ld: the forum database failed: %s", l->member, err ? err : "?");
        refuse(l, 503, OUT_UNAVAILABLE, "The forum database is unreachable; try again shortly");
        return;
    }
    const char *name = res->nrows ? mdb_cell(res, 0, 0) : NULL;
    const char *owner = res->nrows ? mdb_cell(res, 0, 1) : NULL;
    if (!name) {
        /* Removed from the forum after the code was issued (or after the address was trusted): no login, and
         * the link query linked nothing. authd_login already recorded a success: put it right, and revoke what
         * would let the member get this far again. */
        const char *params[2] = {l->member_s, l->code_hash};
        if (pg_query(l->v->a->pg, "SELECT authd_member_gone($1::int, $2)", 2, params, on_member_gone, l) != 0)
            on_member_gone(NULL, "out of memory", l);
        return;
    }
    if (!*name)
        name = l->player_name;
    bool linked = owner && strcmp(owner, l->member_s) == 0;
    if (!linked)
        log_warn("member %ld logged in but %s was not linked: %s", l->member, l->link_guid,
                 owner ? "it belongs to another member" : "the member has AUTH_MAX_IDENTITIES GUIDs linked");
    metric_inc(l->v->a->logins[l->outcome]);
    log_info("member %ld logged in from %s (server %s, %s)", l->member, l->sender, l->server_id,
             outcome_names[l->outcome]);
    cJSON *o = cJSON_CreateObject();
    if (l->legacy) {
        cJSON_AddTrueToObject(o, "success");
        cJSON_AddNumberToObject(o, "member_id", (double)l->member);
        cJSON_AddStringToObject(o, "member_name", name);
        cJSON_AddItemToObject(o, "guid", l->guid_sent ? cJSON_Duplicate(l->guid_sent, true) : cJSON_CreateString(""));
    } else {
        cJSON_AddTrueToObject(o, "valid");
        cJSON_AddNumberToObject(o, "forum_user_id", (double)l->member);
        cJSON_AddStringToObject(o, "member_name", name);
        cJSON_AddStringToObject(
            o, "message", l->outcome == OUT_FIRST ? "Identity verified successfully" : "Reconnected from trusted IP");
        cJSON_AddTrueToObject(o, "ip_trusted");
        if (l->outcome == OUT_TRUSTED)
            cJSON_AddTrueToObject(o, "trusted_ip");
        cJSON_AddItemToObject(o, "player_guid",
                              l->guid_sent ? cJSON_Duplicate(l->guid_sent, true) : cJSON_CreateString(""));
        cJSON_AddBoolToObject(o, "linked", linked);
    }
    http_respond_json(l->req, 200, o);
    login_free(l);
}

/* The link is written (or refused by its rules): read the member's name and the GUID's owner. */
static void on_link_written(mdb_result *res, const char *err, void *arg)
{
    login *l = arg;
    if (!res) {
        on_linked(NULL, err, l);
        return;
    }
    const char *params[2] = {l->member_s, l->link_guid};
    if (mdb_query(l->v->a->mdb, l->v->name_sql, 2, params, on_linked, l) != 0)
        on_linked(NULL, "out of memory", l);
}

/* PostgreSQL decided the login. */
static void on_decided(PGresult *res, const char *err, void *arg)
{
    login *l = arg;
    if (!res || err || PQntuples(res) != 1) {
        log_error("login from %s: PostgreSQL failed: %s", l->sender, err ? err : "no answer");
        refuse(l, 503, OUT_UNAVAILABLE, "The login service is unavailable; try again shortly");
        return;
    }
    const char *outcome = PQgetvalue(res, 0, 0);
    l->outcome = OUT_UNAVAILABLE;
    for (int i = 0; i < OUT_COUNT; i++)
        if (strcmp(outcome, outcome_names[i]) == 0)
            l->outcome = i;
    l->member = PQgetisnull(res, 0, 1) ? 0 : strtol(PQgetvalue(res, 0, 1), NULL, 10);
    switch (l->outcome) {
    case OUT_UNREGISTERED:
        refuse(l, 403, OUT_UNREGISTERED, "Logins are accepted only from registered game servers");
        return;
    case OUT_UNKNOWN:
        refuse(l, 401, OUT_UNKNOWN, "Invalid token");
        return;
    case OUT_REVOKED:
        refuse(l, 401, OUT_REVOKED, "Token has been revoked");
        return;
    case OUT_EXPIRED:
        refuse(l, 401, OUT_EXPIRED, "Token has expired");
        return;
    case OUT_PENDING:
        refuse(l, 403, OUT_PENDING,
               "New address: the member must approve it on the forum (profile, game identity) first");
        return;
    case OUT_FIRST:
    case OUT_TRUSTED:
        break;
    default:
        refuse(l, 503, OUT_UNAVAILABLE, "The login service is unavailable; try again shortly");
        return;
    }
    snprintf(l->member_s, sizeof l->member_s, "%ld", l->member);
    /* The tracker reports a logged-in player under their member id and sends its slot number as the GUID
     * here: link that member id. A real GUID, if a tracker ever sends one, is linked as it is. A short
     * all-digit "GUID" is a member id (stats are recorded under it), and only the member's own may be linked:
     * else whoever runs a registered server and has a code of their own could link another member's id, and
     * with it that member's stats, to their account (first come, first linked). */
    const char *g = l->guid;
    size_t glen = strlen(g);
    bool digits = glen > 0 && strspn(g, "0123456789") == glen;
    bool slot = !*g || strncmp(g, "unauth_", 7) == 0 || (glen <= 2 && digits && atoi(g) < 64);
    bool other_member = digits && glen <= 10 && strcmp(g, l->member_s) != 0;
    snprintf(l->link_guid, sizeof l->link_guid, "%s", slot || other_member || glen > 64 ? l->member_s : g);
    char max[16];
    snprintf(max, sizeof max, "%d", l->v->a->max_identities);
    const char *params[7] = {l->member_s, l->link_guid, l->player_name, l->member_s, l->member_s, l->link_guid, max};
    if (mdb_query(l->v->a->mdb, l->v->link_sql, 7, params, on_link_written, l) != 0)
        on_linked(NULL, "out of memory", l);
}

/* Decide the login in PostgreSQL (authd_login). */
static void decide(login *l)
{
    authd *a = l->v->a;
    char hours[16];
    snprintf(hours, sizeof hours, "%d", a->pending_hours);
#define OR_NULL(s) ((s)[0] ? (s) : NULL)
    const char *params[10] = {l->code_hash,
                              l->sender,
                              l->sender,
                              OR_NULL(l->guid),
                              OR_NULL(l->player_name),
                              OR_NULL(l->server_id),
                              OR_NULL(l->server_name),
                              OR_NULL(l->server_address),
                              a->verify_from_any ? "f" : "t",
                              hours};
#undef OR_NULL
    if (pg_query(a->pg,
                 "SELECT outcome, forum_user_id FROM authd_login($1, $2::inet, $3::inet, $4, $5, $6, $7, $8, "
                 "$9::boolean, $10::int)",
                 10, params, on_decided, l) != 0)
        on_decided(NULL, "out of memory", l);
}

/* PostgreSQL said whether a server that has sent events is at the sender's address. */
static void on_sender_checked(PGresult *res, const char *err, void *arg)
{
    login *l = arg;
    if (!res || err || PQntuples(res) != 1) {
        log_error("login from %s: PostgreSQL failed: %s", l->sender, err ? err : "no answer");
        refuse(l, 503, OUT_UNAVAILABLE, "The login service is unavailable; try again shortly");
        return;
    }
    if (PQgetvalue(res, 0, 0)[0] != 't') {
        refuse(l, 403, OUT_UNREGISTERED, "Logins are accepted only from registered game servers");
        return;
    }
    decide(l);
}

/* A body field as valid UTF-8, cut at a character boundary to fit out. Names typed on Windows clients come as
 * CP1252 bytes (text_to_utf8 reads them as such, as ingestd does): PostgreSQL refuses text that is not UTF-8,
 * and that refusal would otherwise look like an outage (503) to a tracker that retries it forever. */
static void copy_field(const cJSON *o, const char *name, char *out, size_t len)
{
    char num[64];
    const char *v = authd_text(o, name, num, sizeof num);
    size_t n = strlen(v);
    char *u = malloc(3 * n + 1);
    if (!u) {
        out[0] = '\0';
        return;
    }
    size_t m = text_to_utf8(v, n, u);
    if (m > len - 1) {
        m = len - 1;
        while (m > 0 && ((unsigned char)u[m] & 0xC0) == 0x80) /* not inside a character */
            m--;
    }
    memcpy(out, u, m);
    out[m] = '\0';
    free(u);
}

static void verify_common(http_request *req, verify_ctx *v, bool legacy)
{
    authd *a = v->a;
    login *l = calloc(1, sizeof *l);
    if (!l) {
        http_respond_error(req, 503, "Out of memory");
        return;
    }
    l->v = v;
    l->req = req;
    l->legacy = legacy;
    snprintf(l->sender, sizeof l->sender, "%s", client_ip(req));
    client_limit_key(l->sender, l->limit_key);
    cJSON *o = authd_body(req);
    if (!o) {
        refuse(l, 400, -1, "Expected a JSON object or a form with token, player_guid, player_name, server_id");
        return;
    }
    const char *guid_key = cJSON_GetObjectItemCaseSensitive(o, "player_guid") ? "player_guid" : "guid";
    l->guid_sent = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(o, guid_key), true);
    copy_field(o, guid_key, l->guid, sizeof l->guid);
    /* Every attempt takes one failure from the server's and the player's allowances before its code is looked
     * up, and gives them back unless it fails (login_free): so parallel guesses cannot all pass the check before
     * any failure is counted. */
    login_limit_player_key(l->limit_key, l->guid, l->player_key);
    switch (login_limits_take(&a->verify_limits, l->limit_key, l->player_key, uv_hrtime() / 1000000)) {
    case LOGIN_LIMIT_SERVER:
        cJSON_Delete(o);
        refuse(l, 429, -1, "Too many failed logins from this game server; wait a minute");
        return;
    case LOGIN_LIMIT_PLAYER:
        cJSON_Delete(o);
        refuse(l, 429, -1, "Too many failed logins for this player; wait a minute");
        return;
    case LOGIN_LIMIT_OK:
        break;
    }
    l->charged = true;
    copy_field(o, "player_name", l->player_name, sizeof l->player_name);
    copy_field(o, "server_id", l->server_id, sizeof l->server_id);
    copy_field(o, "server_name", l->server_name, sizeof l->server_name);
    copy_field(o, "server_address", l->server_address, sizeof l->server_address);
    if (!l->server_address[0]) {
        char ip[64], port[16];
        copy_field(o, "server_ip", ip, sizeof ip);
        copy_field(o, "server_port", port, sizeof port);
        if (*ip)
            snprintf(l->server_address, sizeof l->server_address, "%s%s%s", ip, *port ? ":" : "", port);
    }
    char tok[64], code[LOGIN_CODE_LEN + 1];
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "token");
    bool missing = !cJSON_IsString(t) || !t->valuestring[0];
    bool malformed =
        !missing && (strlen(t->valuestring) >= sizeof tok || login_code_normalize(t->valuestring, code) != 0);
    cJSON_Delete(o);
    if (missing) {
        refuse(l, 400, -1, legacy ? "Token is required" : "token is required");
        return;
    }
    if (malformed) {
        refuse(l, 401, OUT_UNKNOWN, "Invalid token");
        return;
    }
    login_code_mac(a->code_key, code, l->code_hash);
    memset(code, 0, sizeof code);
    if (a->verify_from_any) {
        decide(l);
        return;
    }
    /* A server counts only once it has sent events (first_batch_at, set by ingestd when it accepts the server's
     * first batch): in open mode anyone can register a server from any address they send from, and registering
     * alone must not make that address one whose logins are believed. */
    const char *params[1] = {l->sender};
    if (pg_query(a->pg,
                 "SELECT EXISTS (SELECT 1 FROM servers\n"
                 "                WHERE ip_address = $1::inet AND is_active AND first_batch_at IS NOT NULL)",
                 1, params, on_sender_checked, l) != 0)
        on_sender_checked(NULL, "out of memory", l);
}

static void verify_handler(http_request *req, void *arg)
{
    verify_common(req, arg, false);
}

static void smf_verify_handler(http_request *req, void *arg)
{
    verify_common(req, arg, true);
}

/* The game forgets a login by itself; the link between member and GUID stays. Nothing to change here, and
 * nothing an unauthenticated caller should be able to change. */
static void logout_handler(http_request *req, void *arg)
{
    (void)arg;
    cJSON *o = authd_body(req);
    char buf[32];
    log_info("logout of member %s reported by %s", o ? authd_text(o, "forum_user_id", buf, sizeof buf) : "?",
             client_ip(req));
    cJSON_Delete(o);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddTrueToObject(r, "success");
    cJSON_AddStringToObject(r, "message", "Logged out");
    http_respond_json(req, 200, r);
}

void verify_routes(authd *a, http_server *s)
{
    static verify_ctx v;
    v.a = a;
    /* Insert the link unless the member has as many other GUIDs as the forum allows (its setting
     * mohaa_stats_max_identities, or the master installer's mohaa_max_identities, else AUTH_MAX_IDENTITIES); a
     * GUID already linked to another member keeps its owner (the ON DUPLICATE branch changes only the member's
     * own row). linked_at moves to this login, so the GUID used last is "the" GUID of the member, as the forum
     * reads it. */
    v.link_sql = mdb_prefixed_sql(
        a->smf_prefix,
        "INSERT INTO {p}mohaa_identities (id_member, player_guid, player_name, linked_at, verified)\n"
        "SELECT ?, ?, ?, UNIX_TIMESTAMP(), 1 FROM DUAL\n"
        " WHERE EXISTS (SELECT 1 FROM {p}members m WHERE m.id_member = ?)\n"
        "   AND (SELECT COUNT(*) FROM {p}mohaa_identities i WHERE i.id_member = ? AND i.player_guid <> ?)\n"
        "     < COALESCE((SELECT CAST(value AS UNSIGNED) FROM {p}settings\n"
        "                  WHERE variable IN ('mohaa_stats_max_identities', 'mohaa_max_identities')\n"
        "                    AND value REGEXP '^[0-9]+$'\n"
        "                  ORDER BY variable = 'mohaa_stats_max_identities' DESC LIMIT 1), ?)\n"
        "ON DUPLICATE KEY UPDATE\n"
        "  player_name = IF(id_member = VALUES(id_member), VALUES(player_name), player_name),\n"
        "  verified = IF(id_member = VALUES(id_member), 1, verified),\n"
        "  linked_at = IF(id_member = VALUES(id_member), VALUES(linked_at), linked_at)");
    v.name_sql = mdb_prefixed_sql(
        a->smf_prefix,
        "SELECT (SELECT COALESCE(NULLIF(real_name, ''), member_name) FROM {p}members WHERE id_member = ?),\n"
        "       (SELECT id_member FROM {p}mohaa_identities WHERE player_guid = ?)");
    if (!v.link_sql || !v.name_sql) {
        log_error("out of memory at start-up");
        abort();
    }
    for (int i = 0; i < OUT_COUNT; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "outcome=\"%s\"", outcome_names[i]);
        a->logins[i] = metrics_counter("authd_logins_total", "Game logins by outcome", labels);
    }
    http_server_route(s, "POST", "/api/v1/auth/verify", verify_handler, &v);
    http_server_route(s, "POST", "/api/v1/auth/smf-verify", smf_verify_handler, &v);
    http_server_route(s, "POST", "/api/v1/auth/smf-logout", logout_handler, &v);
}
