/* mohstats-admin: the operator's toolbox (docs/operations.md). Talks to the servers the daemons use, with the
 * same settings (the environment, e.g. a sourced stack.env); every action is recorded with who did it. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "log.h"
#include "rebuild.h"
#include "retention.h"

static const config_var admin_vars[] = {
    {"RAW_RETENTION_MONTHS", "0",
     "retention: raw_events months kept before the current one (0: retention needs --keep-months)"},
    {"ADMIN_TIMEOUT_MS", "3600000", "bound on each ClickHouse statement of mohstats-admin"},
    {NULL, NULL, NULL},
};

static int usage(void)
{
    fprintf(stderr, "usage: mohstats-admin [--by NAME] [--yes] COMMAND ...\n"
                    "  rebuild [VIEW] [--month YYYYMM]  recompute aggregate tables from raw_events, ingest running\n"
                    "                                   (no VIEW: every view; no --month: all time)\n"
                    "  retention [--keep-months N]      drop raw_events months older than N before the current one\n"
                    "                                   (default RAW_RETENTION_MONTHS); the aggregates stay\n"
                    "  log [N]                          the last N actions recorded (default 20)\n"
                    "--by NAME: who acts, recorded with each action (default: the OS user). --yes: do not ask.\n"
                    "Settings: CLICKHOUSE_URL (as the daemons), RAW_RETENTION_MONTHS, ADMIN_TIMEOUT_MS.\n");
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

int main(int argc, char **argv)
{
    config_register(admin_vars);
    log_init("mohstats-admin", -1);
    admin_ctx a = {.clickhouse_url = config_get("CLICKHOUSE_URL"),
                   .timeout_ms = (long)config_get_int("ADMIN_TIMEOUT_MS", 3600000)};
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
    if (!strcmp(argv[i], "log"))
        return cmd_log(&a, argc - i, argv + i);
    return usage();
}
