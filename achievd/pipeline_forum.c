/* What the pipeline takes from the forum's tables: the catalogue of definitions, and the identity links (which
 * member an event's GUID credits, from when: see "Why a link splits a GUID's events by time" in pipeline.c) with
 * the backfills that credit a new link's past. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "achievd.h"
#include "backfill.h"
#include "log.h"
#include "pipeline_parts.h"
#include "store.h"

/* ---- members and links ---- */

uint32_t pipeline_member_of(void *arg, const char *guid, uint64_t smf_id, uint64_t received_ms)
{
    pipeline *p = arg;
    if (smf_id > 0 && smf_id <= UINT32_MAX)
        return (uint32_t)smf_id;
    if (strncmp(guid, "unauth_", 7) == 0)
        return 0; /* a slot, not a person (docs/definitions.md) */
    const link_state *l = hashmap_get(p->links, guid, strlen(guid));
    return l && received_ms > l->from_ms ? l->member : 0;
}

void pipeline_link_format(const link_state *l, char *out, size_t outlen)
{
    snprintf(out, outlen, "%u:%" PRIu64 ":%d:%s", l->member, l->from_ms, l->done, l->at_id);
}

void pipeline_on_link_loaded(void *arg, const char *guid, const char *value)
{
    pipeline *p = arg;
    link_state *l = calloc(1, sizeof *l);
    char *end;
    if (!l || strlen(guid) >= sizeof l->guid) {
        free(l);
        return;
    }
    snprintf(l->guid, sizeof l->guid, "%s", guid);
    l->member = (uint32_t)strtoul(value, &end, 10);
    l->from_ms = *end == ':' ? strtoull(end + 1, &end, 10) : 0;
    l->done = *end == ':' && strtol(end + 1, &end, 10) == 1;
    snprintf(l->at_id, sizeof l->at_id, "%s", *end == ':' ? end + 1 : "0-0");
    void *old = NULL;
    if (hashmap_put(p->links, l->guid, strlen(l->guid), l, &old) != 0)
        free(l);
    free(old);
}

typedef struct {
    pipeline *p;
    char newest[48];
    bool have_newest;
    size_t added;
} link_scan;

/* A forum link achievd does not credit yet (new, or moved to another member): from now on, and a backfill. */
static void on_forum_link(void *arg, const char *guid, uint32_t member)
{
    link_scan *ls = arg;
    pipeline *p = ls->p;
    link_state *l = hashmap_get(p->links, guid, strlen(guid));
    if (l && l->member == member)
        return;
    if (!ls->have_newest) {
        if (store_newest_id(p->st, ls->newest, sizeof ls->newest) != 0)
            return; /* seen again at the next reload */
        ls->have_newest = true;
    }
    if (!l) {
        l = calloc(1, sizeof *l);
        if (!l || hashmap_put(p->links, guid, strlen(guid), l, NULL) != 0) {
            free(l);
            return;
        }
        snprintf(l->guid, sizeof l->guid, "%s", guid);
    }
    l->member = member;
    l->from_ms = p->seen_ms;
    l->done = p->seen_ms == 0; /* nothing evaluated yet: there is no past of ours to credit */
    snprintf(l->at_id, sizeof l->at_id, "%s", ls->newest);
    l->dirty = true;
    ls->added++;
}

/* ---- the forum's tables ---- */

void pipeline_refresh_forum(pipeline *p, uint64_t now)
{
    if (now >= p->next_catalogue) {
        ach_def *defs = NULL;
        size_t n = 0;
        if (forum_detect_schema(p->fm) == 0 && forum_load_catalogue(p->fm, &defs, &n) == 0) {
            if (evaluator_set_catalogue(p->ev, defs, n) == 0) {
                writer_catalogue_changed(p->wr); /* before any write of a new code is handed over */
                if (!p->catalogue_loaded)
                    log_info("achievd: %zu achievement definitions loaded", n);
                p->catalogue_loaded = true;
                free(p->defs);
                p->defs = defs;
                p->ndefs = n;
                defs = NULL;
            }
            free(defs);
            p->next_catalogue = now + (uint64_t)p->s->catalogue_reload_s * 1000;
        } else {
            p->next_catalogue = now + 1000;
        }
    }
    if (now >= p->next_identities) {
        bool ok = forum_load_identities(p->fm) == 0;
        p->next_identities = now + (ok ? (uint64_t)p->s->identities_reload_s * 1000 : 1000);
        link_scan ls = {.p = p};
        if (ok)
            forum_each_link(p->fm, on_forum_link, &ls);
        if (ls.added)
            log_info("achievd: %zu new identity links; their past is credited from ClickHouse", ls.added);
    }
}

/* Between the pages of a backfill: keep the lease (a member's long past can take longer than it). */
static bool keep_lease(void *arg)
{
    pipeline *p = arg;
    return !atomic_load(&p->stop) && store_lease(p->st) == 1;
}

void pipeline_backfill_next(pipeline *p, uint64_t now)
{
    if (now < p->next_backfill)
        return;
    size_t pos = 0, klen;
    const char *k;
    void *v;
    link_state *l = NULL;
    while (!l && hashmap_next(p->links, &pos, &k, &klen, &v))
        if (!((link_state *)v)->done)
            l = v;
    if (!l)
        return;
    int past = store_writers_past(p->st, l->at_id);
    if (past <= 0) {
        p->next_backfill = now + 1000;
        return;
    }
    backfill b;
    int rc = backfill_run(p->s, p->defs, p->ndefs, l->guid, l->member, l->from_ms, keep_lease, p, &b);
    if (rc == 0) {
        size_t unlocks = 0;
        for (size_t i = 0; i < b.nwrites; i++) {
            ach_write w = {.member = b.writes[i].member,
                           .code = b.writes[i].code,
                           .progress = b.writes[i].progress,
                           .unlocked = b.writes[i].unlocked,
                           .at_ms = b.writes[i].at_ms,
                           .match_key = b.writes[i].match_key,
                           .guid = b.writes[i].guid};
            pipeline_on_write(p, &w);
            unlocks += w.unlocked;
        }
        rc = evaluator_merge(p->ev, b.ev, l->member, l->from_ms);
        if (rc == 0) {
            l->done = true;
            l->dirty = true;
            atomic_fetch_add(&p->stats.backfilled, unlocks);
            log_info("achievd: credited member %u with the past of GUID %s: %" PRIu64 " events, %zu unlocks", l->member,
                     l->guid, b.events, unlocks);
        }
    }
    backfill_free(&b);
    if (rc != 0)
        p->next_backfill = now + 5000; /* ClickHouse away: later (the live events are credited meanwhile) */
}
