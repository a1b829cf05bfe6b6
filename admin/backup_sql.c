/* PostgreSQL and the forum's MariaDB in a backup, with their own tools: pg_dump and mariadb-dump
 * --single-transaction each read one consistent view, and their output is what an operator already knows how to
 * read and replay by hand. Passwords go to the tools through the environment (PGPASSWORD) or a private option file,
 * never their command lines (ps shows those). */
#include "backup_sql.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "mariadb.h"
#include "pg.h"

extern char **environ;

/* The forum tables mohstats writes, after SMF_DB_PREFIX; and ours, named without it. The forum's own (members,
 * teams, tournaments) are the forum's to back up. */
static const char *const forum_tables[] = {"mohaa_identities", "mohaa_player_achievements",
                                           "mohaa_achievement_progress", "mohaa_achievement_defs", NULL};
static const char *const own_tables[] = {"mohstats_tournament_links", "mohstats_tournament_results",
                                         "mohstats_team_memberships", "mohstats_schema_migrations", NULL};

/* Run argv (PATH searched) with extra environment entries and stdin from in_path (NULL: inherited); wait. 0 if it
 * exited 0, else -EIO with what happened logged. */
static int run_tool(char *const argv[], char *const extra_env[], const char *in_path)
{
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    while (extra_env[k])
        k++;
    char **env = calloc(n + k + 1, sizeof *env);
    if (!env)
        return -ENOMEM;
    memcpy(env, extra_env, k * sizeof *env);
    memcpy(env + k, environ, n * sizeof *env);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (in_path)
        posix_spawn_file_actions_addopen(&fa, 0, in_path, O_RDONLY, 0);
    pid_t pid;
    int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    if (err) {
        log_error("cannot run %s: %s (install it: postgresql-client, mariadb-client)", argv[0], strerror(err));
        return -err;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status)) {
        log_error("%s failed (exit status %d): its message is above", argv[0],
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return -EIO;
    }
    return 0;
}

/* PGHOST... from POSTGRES_URL, into env (5 entries, malloc'd; pg_env_free). */
static int pg_env(const admin_ctx *a, char *env[6], url_parts *u)
{
    if (!a->postgres_url || url_parse(a->postgres_url, 5432, u)) {
        log_error("POSTGRES_URL is not set or not a URL (e.g. source the stack's stack.env)");
        return -EINVAL;
    }
    memset(env, 0, 6 * sizeof *env);
    if (asprintf(&env[0], "PGHOST=%s", u->host) < 0 || asprintf(&env[1], "PGPORT=%d", u->port) < 0 ||
        asprintf(&env[2], "PGUSER=%s", u->user) < 0 || asprintf(&env[3], "PGPASSWORD=%s", u->password) < 0 ||
        asprintf(&env[4], "PGDATABASE=%s", u->path) < 0)
        return -ENOMEM;
    return 0;
}

static void env_free(char *env[])
{
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
}

int bk_pg_dump(const admin_ctx *a, const char *dir)
{
    char *env[6] = {0}, file[4200];
    url_parts u;
    int rc = pg_env(a, env, &u);
    snprintf(file, sizeof file, "--file=%s/postgres.dump", dir);
    char *argv[] = {"pg_dump", "--format=custom", "--no-owner", "--no-privileges", file, NULL};
    rc = rc ? rc : run_tool(argv, env, NULL);
    env_free(env);
    return rc;
}

int bk_pg_restore(const admin_ctx *a, const char *dir)
{
    char *env[6] = {0}, file[4200], db[300];
    url_parts u;
    int rc = pg_env(a, env, &u);
    snprintf(file, sizeof file, "%s/postgres.dump", dir);
    snprintf(db, sizeof db, "--dbname=%s", u.path);
    char *argv[] = {
        "pg_restore",      "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
        "--exit-on-error", db,        file,          NULL};
    rc = rc ? rc : run_tool(argv, env, NULL);
    env_free(env);
    return rc;
}

int bk_pg_restore_check(const admin_ctx *a, const char *dir)
{
    char *env[6] = {0}, file[4200], err[512];
    url_parts u;
    int rc = pg_env(a, env, &u);
    snprintf(file, sizeof file, "%s/postgres.dump", dir);
    /* --list reads the whole archive's table of contents: a file cut short or not pg_dump's fails here. */
    char *argv[] = {"pg_restore", "--list", "--file=/dev/null", file, NULL};
    rc = rc ? rc : run_tool(argv, env, NULL);
    env_free(env);
    PGresult *res = rc ? NULL : pg_exec_sync(a->postgres_url, "SELECT 1", 0, NULL, err, sizeof err);
    if (!rc && !res) {
        log_error("PostgreSQL does not answer: %s", err);
        rc = -EIO;
    }
    PQclear(res);
    return rc;
}

/* A private option file with MARIADB_URL's credentials, its path into path (the caller unlinks it). */
static int mdb_options(const admin_ctx *a, char *path, size_t pathlen, url_parts *u)
{
    if (!a->mariadb_url || url_parse(a->mariadb_url, 3306, u)) {
        log_error("MARIADB_URL is not set or not a URL (e.g. source the stack's stack.env)");
        return -EINVAL;
    }
    snprintf(path, pathlen, "%s/mohstats-admin-mdb.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(path); /* mode 0600 */
    if (fd < 0) {
        log_error("cannot make a private option file for MariaDB: %s", strerror(errno));
        return -errno;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(path);
        return -ENOMEM;
    }
    fprintf(f, "[client]\nuser=%s\npassword=%s\nhost=%s\nport=%d\nprotocol=TCP\ndefault-character-set=utf8mb4\n",
            u->user, u->password, u->host, u->port);
    if (fclose(f)) {
        unlink(path);
        return -EIO;
    }
    return 0;
}

int bk_mdb_dump(const admin_ctx *a, const char *dir)
{
    char opts[512], defaults[600], result[4200];
    url_parts u;
    int rc = mdb_options(a, opts, sizeof opts, &u);
    if (rc)
        return rc;
    snprintf(defaults, sizeof defaults, "--defaults-file=%s", opts);
    snprintf(result, sizeof result, "--result-file=%s/mariadb.sql", dir);
    char names[8][128];
    char *argv[24] = {"mariadb-dump", defaults, "--single-transaction", "--skip-lock-tables", result, u.path};
    size_t n = 6, k = 0;
    for (size_t i = 0; forum_tables[i]; i++, k++) {
        snprintf(names[k], sizeof names[k], "%s%s", a->smf_prefix, forum_tables[i]);
        argv[n++] = names[k];
    }
    for (size_t i = 0; own_tables[i]; i++)
        argv[n++] = (char *)own_tables[i];
    argv[n] = NULL;
    rc = run_tool(argv, (char *[]){NULL}, NULL);
    unlink(opts);
    return rc;
}

int bk_mdb_restore(const admin_ctx *a, const char *dir)
{
    char opts[512], defaults[600], in[4200];
    url_parts u;
    int rc = mdb_options(a, opts, sizeof opts, &u);
    if (rc)
        return rc;
    snprintf(defaults, sizeof defaults, "--defaults-file=%s", opts);
    snprintf(in, sizeof in, "%s/mariadb.sql", dir);
    char *argv[] = {"mariadb", defaults, "--batch", u.path, NULL};
    if (access(in, R_OK)) {
        log_error("cannot read %s: %s", in, strerror(errno));
        rc = -errno;
    }
    rc = rc ? rc : run_tool(argv, (char *[]){NULL}, in);
    unlink(opts);
    return rc;
}

int bk_mdb_restore_check(const admin_ctx *a, const char *dir)
{
    char in[4200], err[512], head[600] = "", tail[200] = "";
    snprintf(in, sizeof in, "%s/mariadb.sql", dir);
    FILE *f = fopen(in, "r");
    if (!f) {
        log_error("cannot read %s: %s", in, strerror(errno));
        return -errno;
    }
    /* mariadb-dump names itself in its first lines and ends with "-- Dump completed": a file without both is not the
     * backup's, or was cut short. */
    size_t n = fread(head, 1, sizeof head - 1, f);
    head[n] = '\0';
    size_t m = 0;
    if (fseek(f, -(long)(sizeof tail - 1), SEEK_END) == 0 || fseek(f, 0, SEEK_SET) == 0)
        m = fread(tail, 1, sizeof tail - 1, f);
    tail[m] = '\0';
    fclose(f);
    if (!(strstr(head, "-- MariaDB dump") || strstr(head, "-- MySQL dump")) || !strstr(tail, "-- Dump completed")) {
        log_error("%s is not mariadb-dump's whole output: is the backup whole?", in);
        return -EINVAL;
    }
    if (!a->mariadb_url || !*a->mariadb_url) {
        log_error("MARIADB_URL is not set (e.g. source the stack's stack.env)");
        return -EINVAL;
    }
    mdb_result *res = mdb_query_sync(a->mariadb_url, "SELECT 1", 0, NULL, err, sizeof err);
    if (!res) {
        log_error("MariaDB does not answer: %s", err);
        return -EIO;
    }
    mdb_result_free(res);
    return 0;
}
