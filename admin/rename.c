/* `mohstats-admin rename GUID NAME`: the name queryd serves for GUID everywhere it names players (profile,
 * leaderboards, a match's players, ...) is NAME, whatever their events say; `rename GUID --clear` gives them their
 * events' latest name back. A row per change in ClickHouse's player_name_pins, the latest per GUID counting
 * (schemas/clickhouse/0011_player_name_pins.sql); queryd reads it in one expression (SERVED_NAME_SQL). Nothing else
 * changes: the events keep the names they were sent with, and so do the other tables (a name search finds the
 * GUID by those names, as before). queryd's answer cache is emptied and its boards re-read the GUID (as hide does),
 * so the name shows within a second. Asked first, logged with the GUID and both names (an erase of the GUID drops
 * the names and the GUID from the log: erase.c). */
#include "rename.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bytebuf.h"
#include "clickhouse.h"
#include "log.h"
#include "redis_admin.h"
#include "text.h"

#define NAME_MAX_BYTES 64 /* longer than any name the game lets a player type (MAX_NAME_LENGTH is 32) */

/* The first line of the answer to sql, malloc'd ("" when empty); NULL on error (logged). */
static char *first_line(const admin_ctx *a, const char *sql)
{
    char *out = NULL;
    if (admin_ch(a, sql, &out)) {
        free(out);
        return NULL;
    }
    char *nl = out ? strchr(out, '\n') : NULL;
    if (nl)
        *nl = '\0';
    return out ? out : strdup("");
}

/* The name served for the GUID now (its pin, else its latest event's), malloc'd ("" when unknown); the GUID's rows
 * in player_names in *known. NULL on error. */
static char *current_name(const admin_ctx *a, const char *quoted, long long *known)
{
    char *sql = NULL, *events = NULL, *pin = NULL;
    if (admin_ch_count(a, known, "SELECT count() FROM player_names WHERE guid = %s", quoted) ||
        asprintf(&sql, "SELECT argMax(name, last_ms) FROM player_names WHERE guid = %s FORMAT TSVRaw", quoted) < 0)
        return NULL;
    events = first_line(a, sql);
    free(sql);
    /* argMax over no row gives 0 and '': not pinned. */
    if (!events || asprintf(&sql,
                            "SELECT argMax(pinned, at_ms), argMax(name, at_ms) FROM player_name_pins\n"
                            "WHERE guid = %s FORMAT TSVRaw",
                            quoted) < 0) {
        free(events);
        return NULL;
    }
    pin = first_line(a, sql);
    free(sql);
    if (pin && pin[0] == '1' && pin[1] == '\t') {
        free(events);
        memmove(pin, pin + 2, strlen(pin + 2) + 1);
        return pin;
    }
    free(pin);
    return events;
}

/* Refuse what would show as garbage or break a page: empty, too long, not UTF-8, control characters. */
static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (!n || n > NAME_MAX_BYTES || !utf8_valid(name, n)) {
        log_error("a name is 1 to %d bytes of UTF-8", NAME_MAX_BYTES);
        return false;
    }
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        if (*c < 0x20 || *c == 0x7f) {
            log_error("a name has no control characters (the game's colour codes are not served either)");
            return false;
        }
    return true;
}

int rename_command(const admin_ctx *a, int argc, char **argv)
{
    bool clear = argc == 3 && !strcmp(argv[2], "--clear");
    if (argc != 3) {
        fprintf(stderr, "usage: mohstats-admin rename GUID NAME | rename GUID --clear\n");
        return 2;
    }
    player_target t = {0};
    char *pair[2] = {"--guid", argv[1]};
    int at = 0;
    if (player_target_arg(a, 2, pair, &at, &t) || (!clear && !name_ok(argv[2]))) {
        player_target_free(&t);
        return 2;
    }
    long long known = 0;
    char *was = current_name(a, t.ch_list, &known);
    int rc = was ? 0 : -EIO;
    if (!rc && !known) {
        log_error("%s has played no event with a name here: nothing to rename (check the GUID)", t.label);
        rc = -ENOENT;
    }
    char question[256];
    snprintf(question, sizeof question, "%s %s, shown as \"%s\" now, %s%s%s?", clear ? "Give" : "Show", t.label,
             was ? was : "", clear ? "its events' latest name back" : "as \"", clear ? "" : argv[2],
             clear ? "" : "\" everywhere");
    if (!rc && !admin_confirm(a, question)) {
        log_info("nothing done");
        rc = -ECANCELED;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    unsigned long long at_ms = (unsigned long long)now.tv_sec * 1000 + (unsigned long long)now.tv_nsec / 1000000;
    bytebuf sql = {0};
    if (!rc &&
        (bytebuf_appendf(&sql, "INSERT INTO player_name_pins (guid, name, pinned, at_ms) SELECT %s, ", t.ch_list) ||
         ch_append_quoted(&sql, clear ? "" : argv[2], clear ? 0 : strlen(argv[2])) ||
         bytebuf_appendf(&sql, ", %d, %llu", clear ? 0 : 1, at_ms)))
        rc = -ENOMEM;
    rc = rc ? rc : admin_ch(a, sql.data, NULL);
    bytebuf_free(&sql);
    long long dropped = 0;
    rc = rc ? rc : admin_cache_flush(a, &dropped);
    rc = rc ? rc : admin_fresh_touch(a, t.guids, t.nguids);
    if (!rc) {
        /* The GUID itself, as hide logs it: the operator looks a rename up by it. erase.c drops the names. */
        bytebuf d = {0};
        rc = bytebuf_appendf(&d, "GUID %s: \"%s\" -> %s%s%s", t.guids[0], was, clear ? "the name of its events" : "\"",
                             clear ? "" : argv[2], clear ? "" : "\"")
                 ? -ENOMEM
                 : admin_record(a, "rename", d.data);
        bytebuf_free(&d);
    }
    free(was);
    player_target_free(&t);
    return rc ? 1 : 0;
}
