/* `mohstats-admin hide` / `unhide`: a player's GUIDs left out of the public lists (leaderboards, top players, the
 * player search, player counts) and shown again. A row per change in ClickHouse's hidden_players, the latest one
 * per GUID counting (schemas/clickhouse/0008_hidden_players.sql); queryd filters in one place (LISTED_PLAYER_SQL).
 * Nothing is deleted: their pages, matches and the other players' numbers stay. queryd's answer cache is emptied,
 * so lists change within a second (the copy of an answer in queryd's memory); the leaderboard boards in queryd's
 * memory re-read the GUIDs as soon as queryd reads the freshness stream's entry naming them (admin_fresh_touch):
 * the re-read goes through LISTED_PLAYER_SQL, which no longer lists them, and a player a delta was asked for and
 * did not find leaves the boards (board_apply), so no board code knows about hiding. */
#include "hide.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bytebuf.h"
#include "log.h"
#include "redis_admin.h"

int hide_run(const admin_ctx *a, const player_target *t, bool hidden)
{
    if (!t->nguids) {
        log_error("%s has no GUID: nothing to %s", t->label, hidden ? "hide" : "show");
        return -ENOENT;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    unsigned long long version = (unsigned long long)now.tv_sec * 1000 + (unsigned long long)now.tv_nsec / 1000000;
    /* The GUIDs are in t->ch_list already quoted; each gets the same row. */
    int rc = admin_chf(a,
                       "INSERT INTO hidden_players (guid, hidden, version)\n"
                       "SELECT arrayJoin([%s]) AS guid, %d, %llu",
                       t->ch_list, hidden ? 1 : 0, version);
    long long dropped = 0;
    rc = rc ? rc : admin_cache_flush(a, &dropped);
    rc = rc ? rc : admin_fresh_touch(a, t->guids, t->nguids);
    if (rc)
        return rc;
    bytebuf d = {0};
    rc = bytebuf_appendf(&d, "%s:", t->label);
    for (size_t i = 0; i < t->nguids && !rc; i++) /* a hidden GUID is meant to be found again, to show it */
        rc = bytebuf_appendf(&d, " %s", t->guids[i]);
    rc = rc ? -ENOMEM : admin_record(a, hidden ? "hide" : "unhide", d.data);
    bytebuf_free(&d);
    return rc;
}

int hide_list(const admin_ctx *a)
{
    char *out = NULL;
    int rc = admin_ch(a,
                      "SELECT guid FROM hidden_players WHERE guid != '" ERASED_GUID "'\n"
                      "GROUP BY guid HAVING argMax(hidden, version) = 1 ORDER BY guid FORMAT TSV",
                      &out);
    if (!rc && out)
        fputs(out, stdout);
    free(out);
    return rc;
}
