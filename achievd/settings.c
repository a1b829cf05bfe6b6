/* achievd's settings: the table --help prints, and reading it once at start. */
#include <errno.h>
#include <string.h>

#include "achievd.h"
#include "log.h"
#include "mariadb.h"
#include "stream_entry.h"

const config_var achievd_config_vars[] = {
    {"ACHIEVD_GROUP", STREAM_GROUP_ACHIEVD,
     "consumer group on INGEST_STREAM, and the name of achievd's state in Redis: a second forum fed from the same "
     "stream runs its achievd with another group"},
    {"ACHIEVD_READ_COUNT", "10000",
     "stream entries read, evaluated and saved to Redis per step (1 to 100000): a player changed by several of them "
     "is saved once"},
    {"ACHIEVD_FLUSH_MS", "500",
     "unlocks go to MariaDB in a few statements at most this often, whatever the event rate"},
    {"ACHIEVD_PROGRESS_MS", "10000",
     "progress rows (the latest value per member and achievement) go to MariaDB this often: one row per member and "
     "achievement per period instead of several per event; an unlock never waits for it"},
    {"ACHIEVD_WRITE_ROWS", "500", "rows per MariaDB statement (1 to 10000)"},
    {"ACHIEVD_LEASE_MS", "10000",
     "one achievd evaluates at a time; a standby takes over this long after the evaluator stopped answering"},
    {"ACHIEVD_CATALOGUE_RELOAD_S", "60", "the forum's achievement definitions are read again this often"},
    {"ACHIEVD_IDENTITIES_RELOAD_S", "10", "GUID links (smf_mohaa_identities) are read again this often"},
    {"ACHIEVD_DEDUP_S", "600",
     "a batch ingestd may have added twice is recognised while its first copy is younger than this"},
    {"ACHIEVD_MATCH_IDLE_S", "21600", "a match without events this long is forgotten (ended or abandoned)"},
    {"ACHIEVD_TOURNAMENT_POLL_MS", "2000",
     "linked tournament matches are looked at this often: a result is written this long at most after both its link "
     "and its match's end are in (docs/tournaments.md)"},
    {"ACHIEVD_TOURNAMENT_WINDOW_S", "10800",
     "a scheduled tournament match is linked automatically to the one match of its two teams ending this close to "
     "its scheduled time; 0: never automatically"},
    {"ACHIEVD_TOURNAMENT_SETTLE_S", "60",
     "an automatic link is decided this long after the window closed, once every game ended in it is in ClickHouse; "
     "a bye is recorded once its row has stayed one this long"},
    {NULL, NULL, NULL},
};

int achievd_settings_load(achievd_settings *s)
{
    s->redis_url = config_get("REDIS_URL");
    s->mariadb_url = config_get("MARIADB_URL");
    s->clickhouse_url = config_get("CLICKHOUSE_URL");
    s->writer_group = config_get("WRITER_GROUP");
    s->stream_key = config_get("INGEST_STREAM");
    s->group = config_get("ACHIEVD_GROUP");
    if (!s->group || !*s->group || strlen(s->group) > 64) {
        log_error("ACHIEVD_GROUP must be a name of 1 to 64 characters");
        return -EINVAL;
    }
    if (!s->stream_key || !*s->stream_key) {
        log_error("INGEST_STREAM is empty");
        return -EINVAL;
    }
    int rc = mdb_smf_prefix(s->prefix, sizeof s->prefix);
    rc |= config_get_int_in("ACHIEVD_READ_COUNT", 1, 100000, &s->read_count);
    rc |= config_get_int_in("ACHIEVD_FLUSH_MS", 10, 600000, &s->flush_ms);
    rc |= config_get_int_in("ACHIEVD_PROGRESS_MS", 10, 3600000, &s->progress_ms);
    rc |= config_get_int_in("ACHIEVD_WRITE_ROWS", 1, 10000, &s->write_rows);
    rc |= config_get_int_in("ACHIEVD_LEASE_MS", 1000, 600000, &s->lease_ms);
    rc |= config_get_int_in("ACHIEVD_CATALOGUE_RELOAD_S", 1, 86400, &s->catalogue_reload_s);
    rc |= config_get_int_in("ACHIEVD_IDENTITIES_RELOAD_S", 1, 86400, &s->identities_reload_s);
    rc |= config_get_int_in("ACHIEVD_DEDUP_S", 1, 604800, &s->dedup_s);
    rc |= config_get_int_in("ACHIEVD_MATCH_IDLE_S", 60, 604800, &s->match_idle_s);
    rc |= config_get_int_in("ACHIEVD_TOURNAMENT_POLL_MS", 100, 3600000, &s->tournament_poll_ms);
    rc |= config_get_int_in("ACHIEVD_TOURNAMENT_WINDOW_S", 0, 604800, &s->tournament_window_s);
    rc |= config_get_int_in("ACHIEVD_TOURNAMENT_SETTLE_S", 0, 86400, &s->tournament_settle_s);
    return rc ? -EINVAL : 0;
}
