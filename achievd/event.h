/* The events achievd evaluates: what it reads of a raw_events row (raw_row.h), and their dates. */
#ifndef MOHSTATS_ACHIEVD_EVENT_H
#define MOHSTATS_ACHIEVD_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "criteria.h"
#include "raw_row.h"

/* The event vocabulary achievd reacts to (canonical types, common/event_model.c). */
typedef enum {
    EV_OTHER,
    EV_KILL,
    EV_DAMAGE,
    EV_SPAWN,
    EV_JUMP,
    EV_WEAPON_CHANGE,
    EV_CROUCH,
    EV_DISTANCE,
    EV_LADDER,
    EV_DOOR,
    EV_CHAT,
    EV_DISCONNECT,
    EV_FIRE,
    EV_HIT,
    EV_ROUND_END,
    EV_TEAM_WIN,
    EV_MATCH_END,
} ach_event_type;

/* achievd's kind of a type as raw_events stores it (a canonical name of common/event_model.c); EV_OTHER for the
 * types it does not react to and for unknown names. */
ach_event_type ach_event_kind(const char *type);

/* One raw_events row, as much of it as achievd reads. Strings point into the row. */
typedef struct {
    ach_event_type type;
    uint64_t received_ms;
    double game_time; /* seconds since the map started; the receive time in seconds when the tracker sent none */
    const char *batch_id, *server_id, *match_key, *map;
    const char *actor_guid, *actor_team, *actor_stance;
    uint64_t actor_smf_id;
    double actor_pos[3], actor_yaw;
    bool actor_has_pos, actor_has_yaw;
    const char *target_guid, *target_team;
    uint64_t target_smf_id;
    double target_pos[3], target_yaw;
    bool target_has_pos, target_has_yaw;
    const char *weapon, *mod, *hitloc, *message, *team;
    double distance; /* the step of a distance event, game units; 0 when absent */
    bool has_round_scores;
    int allies_score, axis_score;
} ach_event;

/* Read a split row (raw_row_split) into e. Returns false when the row is not usable (no type or time). */
bool ach_event_from_row(char *f[RC__COUNT], const unsigned char null[RC__COUNT], ach_event *e);

/* Whether a receive time (Unix ms) falls in the filter's days or hours, in UTC. */
bool ach_event_on_date(date_filter d, uint64_t ms);

#endif
