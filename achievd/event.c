/* Reading a raw_events row into the event achievd evaluates, and the calendar of its receive time. */
#include "event.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event_model.h"

/* ---- rows ---- */

/* achievd's meaning of the canonical types it reacts to (event_model.h names them); every other type is EV_OTHER. */
static const struct {
    const char *name;
    ach_event_type type;
} event_kinds[] = {
    {EVT_PLAYER_KILL, EV_KILL},
    {EVT_DAMAGE, EV_DAMAGE},
    {EVT_PLAYER_SPAWN, EV_SPAWN},
    {EVT_JUMP, EV_JUMP},
    {EVT_WEAPON_CHANGE, EV_WEAPON_CHANGE},
    {EVT_CROUCH, EV_CROUCH},
    {EVT_DISTANCE, EV_DISTANCE},
    {EVT_LADDER_MOUNT, EV_LADDER},
    {EVT_DOOR_OPEN, EV_DOOR},
    {EVT_CHAT, EV_CHAT},
    {EVT_DISCONNECT, EV_DISCONNECT},
    {EVT_WEAPON_FIRE, EV_FIRE},
    {EVT_WEAPON_HIT, EV_HIT},
    {EVT_ROUND_END, EV_ROUND_END},
    {EVT_TEAM_WIN, EV_TEAM_WIN},
    {EVT_MATCH_END, EV_MATCH_END},
};

/* event_kinds indexed like event_model's event_types, built once: a row's type is one hash lookup
 * (event_type_resolve) and one index, not a comparison with each name. EV_OTHER is 0, so unset entries are it. */
static ach_event_type kind_by_type[EVENT_TYPES_MAX];
static pthread_once_t kinds_once = PTHREAD_ONCE_INIT;

static void kinds_init(void)
{
    for (size_t i = 0; i < sizeof event_kinds / sizeof event_kinds[0]; i++) {
        const event_type_def *t = event_type_resolve(event_kinds[i].name, strlen(event_kinds[i].name), false);
        /* every EVT_* name is a canonical type (tests/unit/test_event_model.c) */
        if (t)
            kind_by_type[event_type_index(t)] = event_kinds[i].type;
    }
}

ach_event_type ach_event_kind(const char *type)
{
    pthread_once(&kinds_once, kinds_init);
    const event_type_def *t = type ? event_type_resolve(type, strlen(type), false) : NULL;
    return t ? kind_by_type[event_type_index(t)] : EV_OTHER;
}

static double num(const char *s, bool *ok)
{
    char *end;
    double v = s && *s ? strtod(s, &end) : NAN;
    *ok = s && *s && *end == '\0' && isfinite(v);
    return *ok ? v : 0;
}

bool ach_event_from_row(char *f[RC__COUNT], const unsigned char null[RC__COUNT], ach_event *e)
{
    memset(e, 0, sizeof *e);
    e->type = ach_event_kind(f[RC_EVENT_TYPE]);
    bool ok, ok2;
    double at = num(f[RC_RECEIVED_AT], &ok), ms = num(f[RC_RECEIVED_MS], &ok2);
    /* epoch seconds and the milliseconds within them; out of range they are no time (and converting them to an
     * unsigned integer would be undefined) */
    if (!ok || !ok2 || at < 0 || at > 1e11 || ms < 0 || ms >= 1000)
        return false;
    e->received_ms = (uint64_t)at * 1000 + (uint64_t)ms;
    e->game_time = null[RC_GAME_TIME] ? NAN : num(f[RC_GAME_TIME], &ok);
    if (null[RC_GAME_TIME] || !ok)
        e->game_time = (double)e->received_ms / 1000.0;
    e->batch_id = f[RC_BATCH_ID];
    e->server_id = f[RC_SERVER_ID];
    e->match_key = f[RC_MATCH_KEY];
    e->map = f[RC_MAP_NAME];
    e->actor_guid = f[RC_ACTOR_GUID];
    e->actor_team = f[RC_ACTOR_TEAM];
    e->actor_stance = f[RC_ACTOR_STANCE];
    e->actor_smf_id = strtoull(f[RC_ACTOR_SMF_ID], NULL, 10);
    e->target_guid = f[RC_TARGET_GUID];
    e->target_team = f[RC_TARGET_TEAM];
    e->target_smf_id = strtoull(f[RC_TARGET_SMF_ID], NULL, 10);
    bool px, py, pz;
    e->actor_pos[0] = num(f[RC_ACTOR_X], &px);
    e->actor_pos[1] = num(f[RC_ACTOR_Y], &py);
    e->actor_pos[2] = num(f[RC_ACTOR_Z], &pz);
    e->actor_has_pos = px && py && pz;
    e->actor_yaw = num(f[RC_ACTOR_YAW], &e->actor_has_yaw);
    e->target_pos[0] = num(f[RC_TARGET_X], &px);
    e->target_pos[1] = num(f[RC_TARGET_Y], &py);
    e->target_pos[2] = num(f[RC_TARGET_Z], &pz);
    e->target_has_pos = px && py && pz;
    e->target_yaw = num(f[RC_TARGET_YAW], &e->target_has_yaw);
    e->weapon = f[RC_WEAPON];
    e->mod = f[RC_MEANS_OF_DEATH];
    e->hitloc = f[RC_HITLOC];
    e->message = f[RC_MESSAGE];
    e->team = f[RC_TEAM];
    e->distance = num(f[RC_DISTANCE], &ok);
    if (!ok || e->distance < 0)
        e->distance = 0;
    bool oa, ox;
    e->allies_score = (int)num(f[RC_ALLIES_SCORE], &oa);
    e->axis_score = (int)num(f[RC_AXIS_SCORE], &ox);
    e->has_round_scores = oa && ox;
    return true;
}

/* ---- dates (UTC) ---- */

bool ach_event_on_date(date_filter d, uint64_t ms)
{
    if (d == DATE_ANY)
        return true;
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    switch (d) {
    case DATE_CHRISTMAS:
        return tm.tm_mon == 11 && tm.tm_mday == 25;
    case DATE_HALLOWEEN:
        return tm.tm_mon == 9 && tm.tm_mday == 31;
    case DATE_FRIDAY13:
        return tm.tm_wday == 5 && tm.tm_mday == 13;
    case DATE_NEWYEAR:
        return tm.tm_mon == 0 && tm.tm_mday == 1;
    case DATE_JULY4:
        return tm.tm_mon == 6 && tm.tm_mday == 4;
    case DATE_APRIL1:
        return tm.tm_mon == 3 && tm.tm_mday == 1;
    case DATE_VETERANS:
        return tm.tm_mon == 10 && tm.tm_mday == 11;
    case DATE_NIGHT:
        return tm.tm_hour < 6;
    case DATE_WEEKEND:
        return tm.tm_wday == 0 || tm.tm_wday == 6;
    case DATE_FULLMOON: {
        /* The moon's age from a known new moon (2000-01-06 18:14 UTC) and the mean synodic month: full within
         * a day of 14.77 days. The mean month errs by up to ~0.6 day: good enough for a badge. */
        double days = ((double)ms / 1000.0 - 947182440.0) / 86400.0;
        double age = fmod(days, 29.530588853);
        if (age < 0)
            age += 29.530588853;
        return fabs(age - 14.765) <= 1.0;
    }
    default:
        return false;
    }
}
