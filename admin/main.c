/* mohstats-admin: the operator's toolbox (docs/operations.md). Talks to the servers the daemons use, with the
 * same settings (the environment, e.g. a sourced stack.env); every action is recorded with who did it. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "backup.h"
#include "config.h"
#include "dead_letter.h"
#include "erase.h"
#include "export.h"
#include "game_server.h"
#include "hide.h"
#include "log.h"
#include "mariadb.h"
#include "merge.h"
#include "rebuild.h"
#include "rename.h"
#include "retention.h"
#include "stream_entry.h"

static const config_var admin_vars[] = {
    {"RAW_RETENTION_MONTHS", "0",
     "retention: raw_events months kept before the current one (0: retention needs --keep-months)"},
    {"ADMIN_TIMEOUT_MS", "3600000", "bound on each ClickHouse statement of mohstats-admin"},
    {"CACHE_REDIS_URL", "", "queryd's answer cache, emptied by erase (empty: REDIS_URL, as queryd)"},
    {"ACHIEVD_GROUP", STREAM_GROUP_ACHIEVD, "achievd's consumer group: its state in Redis is named after it"},
    {NULL, NULL, NULL},
};

static int usage(void)
{
    fprintf(stderr, "usage: mohstats-admin [--by NAME] [--yes] COMMAND ...\n"
                    "  rebuild [VIEW] [--month YYYYMM]  recompute aggregate tables from raw_events, ingest running\n"
                    "                                   (no VIEW: every view; no --month: all time)\n"
                    "  retention [--keep-months N]      drop raw_events months older than N before the current one\n"
                    "                                   (default RAW_RETENTION_MONTHS); the aggregates stay\n"
                    "  export --guid G | --member N [--out FILE]\n"
                    "                                   a player's rows as JSON lines (default: to stdout)\n"
                    "  erase --guid G | --member N      delete a player's rows everywhere; the events they shared\n"
                    "                                   with others stay, without their identity\n"
                    "  merge --from A --into B [--force]\n"
                    "                                   GUID A becomes GUID B everywhere (--force: even when they are\n"
                    "                                   linked to two forum members)\n"
                    "  rename GUID NAME | GUID --clear  the name served for GUID everywhere, or its events' again\n"
                    "  hide --guid G | --member N       leave a player out of leaderboards and public lists\n"
                    "  unhide --guid G | --member N     list them again\n"
                    "  hidden                           the hidden GUIDs\n"
                    "  hide|unhide --server ID          leave a game server out of the lists of servers, or not\n"
                    "  ban --server ID                  revoke a game server's token: its events are refused\n"
                    "  dead [list [N]] | show ID | replay ID...|--all | trim --days D\n"
                    "                                   the dead-letter stream (<INGEST_STREAM>:dead)\n"
                    "  backup DIR | restore DIR         the four stores, consistent while ingest runs; restore onto\n"
                    "                                   a fresh stack (scripts/stack.sh up NEWDIR --db-only)\n"
                    "  log [N]                          the last N actions recorded (default 20)\n"
                    "--by NAME: who acts, recorded with each action (default: the OS user). --yes: do not ask.\n"
                    "Settings: CLICKHOUSE_URL, POSTGRES_URL, MARIADB_URL, REDIS_URL, CACHE_REDIS_URL (as the\n"
                    "daemons), RAW_RETENTION_MONTHS, ADMIN_TIMEOUT_MS.\n");
    return 2;
}

/* Parse a positive integer argument, or -1. */
static long parse_positive(const char *s)
{
    char *end = NULL;
    long v = s ? strtol(s, &end, 10) : -1;
    return (s && *s && end && !*end && v > 0) ? v : -1;
}

/* `log [N]`: print the last N recorded actions. */
static int cmd_log(const admin_ctx *a, int argc, char **argv)
{
    long n = argc > 1 ? parse_positive(argv[1]) : 20;
    if (n < 0)
        return usage();
    char sql[256], *out = NULL;
    snprintf(sql, sizeof sql, "SELECT at, who, action, detail FROM admin_actions ORDER BY at DESC LIMIT %ld FORMAT TSV",
             n);
    int rc = admin_ch(a, sql, &out);
    if (!rc && out)
        fputs(out, stdout);
    free(out);
    return rc ? 1 : 0;
}

/* `rebuild [VIEW] [--month YYYYMM]`. */
static int cmd_rebuild(const admin_ctx *a, int argc, char **argv)
{
    const char *view = NULL;
    long month = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--month") && i + 1 < argc) {
            month = parse_positive(argv[++i]);
            if (month < 197001 || month > 299912 || month % 100 < 1 || month % 100 > 12) {
                fprintf(stderr, "mohstats-admin: --month takes YYYYMM, e.g. 202612\n");
                return 2;
            }
        } else if (argv[i][0] != '-' && !view) {
            view = argv[i];
        } else {
            return usage();
        }
    }
    return rebuild_run(a, view, (int)month) ? 1 : 0;
}

/* `retention [--keep-months N]`. */
static int cmd_retention(const admin_ctx *a, int argc, char **argv)
{
    long keep = config_get_int("RAW_RETENTION_MONTHS", 0);
    if (argc == 3 && !strcmp(argv[1], "--keep-months"))
        keep = parse_positive(argv[2]);
    else if (argc != 1)
        return usage();
    if (keep <= 0 || keep > 1200) {
        fprintf(stderr, "mohstats-admin: retention needs RAW_RETENTION_MONTHS or --keep-months N (1 to 1200)\n");
        return 2;
    }
    return retention_run(a, (int)keep) ? 1 : 0;
}

/* `export`, `erase`, `hide` and `unhide`: the player of --guid or --member; export's --out. */
static int cmd_player(const admin_ctx *a, int argc, char **argv)
{
    bool erase = !strcmp(argv[0], "erase");
    player_target t = {0};
    const char *out_path = NULL;
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        if (!erase && !strcmp(argv[i], "--out") && i + 1 < argc)
            out_path = argv[++i];
        else if ((rc = player_target_arg(a, argc, argv, &i, &t)) == 1)
            rc = -EINVAL, usage();
    }
    if (!rc && !t.member && !t.nguids) {
        player_target_free(&t);
        return usage();
    }
    if (!rc && erase) {
        rc = erase_run(a, &t);
    } else if (!rc && strcmp(argv[0], "export")) {
        rc = hide_run(a, &t, /* hidden= */ !strcmp(argv[0], "hide"));
    } else if (!rc) {
        FILE *out = out_path ? fopen(out_path, "w") : stdout;
        if (!out) {
            log_error("cannot write %s: %s", out_path, strerror(errno));
            rc = -errno;
        } else {
            rc = export_run(a, &t, out);
            if (out != stdout && fclose(out) && !rc)
                rc = -EIO;
        }
    }
    player_target_free(&t);
    return rc ? 1 : 0;
}

/* `merge --from A --into B [--force]`. */
static int cmd_merge(const admin_ctx *a, int argc, char **argv)
{
    player_target from = {0}, into = {0};
    bool force = false;
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        player_target *t = !strcmp(argv[i], "--from") ? &from : !strcmp(argv[i], "--into") ? &into : NULL;
        if (t && i + 1 < argc && !t->nguids) {
            char *pair[2] = {"--guid", argv[++i]};
            int at = 0;
            rc = player_target_arg(a, 2, pair, &at, t);
        } else if (!strcmp(argv[i], "--force")) {
            force = true;
        } else {
            rc = -EINVAL;
        }
    }
    int status;
    if (rc == -EINVAL || (!rc && (!from.nguids || !into.nguids)))
        status = usage();
    else
        status = rc || merge_run(a, &from, &into, force) ? 1 : 0;
    player_target_free(&from);
    player_target_free(&into);
    return status;
}

int main(int argc, char **argv)
{
    config_register(admin_vars);
    log_init("mohstats-admin", -1);
    char smf_prefix[64] = "";
    admin_ctx a = {.clickhouse_url = config_get("CLICKHOUSE_URL"),
                   .timeout_ms = (long)config_get_int("ADMIN_TIMEOUT_MS", 3600000),
                   .postgres_url = config_get("POSTGRES_URL"),
                   .mariadb_url = config_get("MARIADB_URL"),
                   .smf_prefix = smf_prefix,
                   .redis_url = config_get("REDIS_URL"),
                   .cache_redis_url = config_get("CACHE_REDIS_URL"),
                   .stream = config_get("INGEST_STREAM"),
                   .achievd_group = config_get("ACHIEVD_GROUP")};
    const struct passwd *pw = getpwuid(getuid());
    snprintf(a.who, sizeof a.who, "%s", pw ? pw->pw_name : "unknown");
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--yes"))
            a.yes = true;
        else if (!strcmp(argv[i], "--by") && i + 1 < argc)
            snprintf(a.who, sizeof a.who, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            config_print_help("mohstats-admin", "the operator's toolbox");
            return 0;
        } else
            return usage();
    }
    if (i >= argc)
        return usage();
    if (!a.clickhouse_url || !*a.clickhouse_url) {
        fprintf(stderr, "mohstats-admin: set CLICKHOUSE_URL (e.g. source the stack's stack.env)\n");
        return 2;
    }
    if (!strcmp(argv[i], "rebuild"))
        return cmd_rebuild(&a, argc - i, argv + i);
    if (!strcmp(argv[i], "retention"))
        return cmd_retention(&a, argc - i, argv + i);
    bool server = argc - i == 3 && !strcmp(argv[i + 1], "--server");
    if (server && (!strcmp(argv[i], "hide") || !strcmp(argv[i], "unhide")))
        return game_server_hide(&a, argv[i + 2], /* hidden= */ !strcmp(argv[i], "hide")) ? 1 : 0;
    if (server && !strcmp(argv[i], "ban"))
        return game_server_ban(&a, argv[i + 2]) ? 1 : 0;
    if (!strcmp(argv[i], "export") || !strcmp(argv[i], "erase") || !strcmp(argv[i], "hide") ||
        !strcmp(argv[i], "unhide")) {
        if (mdb_smf_prefix(smf_prefix, sizeof smf_prefix))
            return 2;
        return cmd_player(&a, argc - i, argv + i);
    }
    if (!strcmp(argv[i], "merge")) {
        if (mdb_smf_prefix(smf_prefix, sizeof smf_prefix))
            return 2;
        return cmd_merge(&a, argc - i, argv + i);
    }
    if (!strcmp(argv[i], "rename"))
        return rename_command(&a, argc - i, argv + i);
    if (!strcmp(argv[i], "dead"))
        return dead_letter_run(&a, argc - i, argv + i);
    if (!strcmp(argv[i], "hidden") && argc - i == 1)
        return hide_list(&a) ? 1 : 0;
    if (!strcmp(argv[i], "backup") || !strcmp(argv[i], "restore"))
        return backup_command(&a, argc - i, argv + i);
    if (!strcmp(argv[i], "log"))
        return cmd_log(&a, argc - i, argv + i);
    return usage();
}
