/* The tracker's events as they appear on the wire (tracker-wire.md): see tracker_events.c. */
#ifndef MOHSTATS_TRACKER_EVENTS_H
#define MOHSTATS_TRACKER_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "clickhouse.h"

/* Deterministic generator state (splitmix64): the same seed gives the same load. */
typedef struct {
    uint64_t s;
} rng;

uint64_t rng_next(rng *r);
double rng_unit(rng *r);
unsigned rng_below(rng *r, unsigned n);
double rng_range(rng *r, double lo, double hi);

typedef struct {
    const char *name, *mod;
} sim_weapon;

#define NWEAPONS 15
#define NHITLOCS 20
extern const sim_weapon weapons[NWEAPONS];
extern const char *const hitlocs[NHITLOCS];

typedef struct {
    uint32_t member; /* achievd_bench: the forum member playing, 0 for a guest */
    char guid[24], smf_id[16];
    char name[40]; /* may hold raw CP1252 bytes, as sent by the engine */
    const char *team;
    double x, y, z, yaw;
    bool crouched;
    unsigned weapon;
    double total_distance;
} sim_player;

/* A JSON object being written: the engine joins members with ", " and writes "key": value. */
typedef struct {
    bytebuf *b;
    bool first;
} json_obj;

void put_str(json_obj *o, const char *prefix, const char *name, const char *val);
void put_fixed3(json_obj *o, const char *prefix, const char *name, double v);
void put_num(json_obj *o, const char *name, double v);
void put_player(json_obj *o, const char *prefix, const sim_player *p);
void put_envelope(json_obj *o, const char *session, double level_time, const char *type);
void put_match_envelope(json_obj *o, const char *session, const char *match_id, double level_time, const char *type);

#endif
