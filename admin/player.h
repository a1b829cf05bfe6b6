/* The player an export or an erase is about: one GUID, or a forum member and every GUID linked to them. */
#ifndef MOHSTATS_ADMIN_PLAYER_H
#define MOHSTATS_ADMIN_PLAYER_H

#include <libpq-fe.h>
#include <stddef.h>

#include "admin.h"
#include "mariadb.h"

/* What stands in for an erased player in the events they shared with others (erase.c): not a GUID a game
 * sends (those are hex digits), the same for every erased player, so it names nobody. */
#define ERASED_GUID "~erased"

typedef struct {
    unsigned long member; /* forum member id; 0 when the target is a GUID alone */
    char **guids;         /* the GUID given, or the member's: linked in the forum or PostgreSQL, or in events */
    size_t nguids;
    char *ch_list;  /* the GUIDs as ClickHouse literals, "'a', 'b'" ("''" when there is none) */
    char label[96]; /* for the action log and messages: "member 42" or "GUID sha256:1a2b...", never the GUID */
} player_target;

/* Parse "--guid G" or "--member N" at argv[*i] (advancing *i) into t, finding a member's GUIDs. 0, 1 when argv[*i]
 * is not one of them, or a negative error (logged). */
int player_target_arg(const admin_ctx *a, int argc, char **argv, int *i, player_target *t);
void player_target_free(player_target *t);

/* Where a player's rows are outside ClickHouse: a table and the condition on its rows, read by export and
 * deleted by erase (the one list, so that an erase removes exactly what an export shows). PostgreSQL's
 * conditions take $1, the member id (0: none), and $2, the GUIDs (a text[]); the forum's, "?" for the member id
 * first and "{g}" for the GUIDs, and "{p}" for SMF_DB_PREFIX. */
typedef struct {
    const char *table;
    const char *columns; /* what export shows (no secrets: token hashes stay out) */
    const char *where;
} player_rows;
extern const player_rows player_pg_rows[];    /* ends with a NULL table */
extern const player_rows player_forum_rows[]; /* ends with a NULL table */

/* Run sql (with $1 and $2 as above) on PostgreSQL; the result, or NULL with the error logged. */
PGresult *player_pg(const admin_ctx *a, const player_target *t, const char *sql);
/* Run tmpl (with ?, {g} and {p} as above) on the forum's MariaDB; the result, or NULL with the error logged. */
mdb_result *player_forum(const admin_ctx *a, const player_target *t, const char *tmpl);

#endif
