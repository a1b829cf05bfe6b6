/* The tracker's events as they appear on the wire (tracker-wire.md): the engine's JSON formatting, the stock
 * weapons and hit locations, the player block and the envelope, and a deterministic random generator. Shared by
 * the demo world (demo/demo.c) and the ingest benchmarks (tests/bench/lib/tracker_load.c). */
#include "tracker_events.h"

#include <stdio.h>
#include <string.h>

/* splitmix64. */
uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
double rng_unit(rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in 0 .. n - 1. */
unsigned rng_below(rng *r, unsigned n)
{
    return (unsigned)(rng_unit(r) * n);
}

/* Uniform in [lo, hi). */
double rng_range(rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rng_unit(r);
}

const sim_weapon weapons[] = {
    {"Kar98", "bullet"},
    {"M1 Garand", "bullet"},
    {"Thompson", "fast_bullet"},
    {"MP40", "fast_bullet"},
    {"Springfield '03 Sniper", "bullet"},
    {"Colt .45", "bullet"},
    {"Walther P38", "bullet"},
    {"BAR", "fast_bullet"},
    {"StG 44", "fast_bullet"},
    {"Shotgun", "shotgun"},
    {"Bazooka", "rocket"},
    {"Panzerschreck", "rocket"},
    {"Frag Grenade", "grenade"},
    {"Stielhandgranate", "grenade"},
    {"KAR98 - Sniper", "bullet"},
};

const char *const hitlocs[] = {
    "head",        "helmet",      "neck",        "torso_upper", "torso_mid",   "torso_lower", "pelvis",
    "r_arm_upper", "l_arm_upper", "r_leg_upper", "l_leg_upper", "r_arm_lower", "l_arm_lower", "r_leg_lower",
    "l_leg_lower", "r_hand",      "l_hand",      "r_foot",      "l_foot",      "general",
};

/* Append a JSON string value as the engine escapes it: \" \\ and control bytes; bytes >= 0x80 raw. */
static void put_json_string(bytebuf *b, const char *s)
{
    bytebuf_append(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            bytebuf_append(b, esc, 2);
        } else if (c < 0x20) {
            bytebuf_appendf(b, "\\u%04x", c);
        } else {
            bytebuf_append(b, p, 1);
        }
    }
    bytebuf_append(b, "\"", 1);
}

/* Start the member prefix_name (or name when prefix is NULL). */
static void put_key(json_obj *o, const char *prefix, const char *name)
{
    if (!o->first)
        bytebuf_append(o->b, ", ", 2);
    o->first = false;
    if (prefix)
        bytebuf_appendf(o->b, "\"%s_%s\": ", prefix, name);
    else
        bytebuf_appendf(o->b, "\"%s\": ", name);
}

/* A string member. */
void put_str(json_obj *o, const char *prefix, const char *name, const char *val)
{
    put_key(o, prefix, name);
    put_json_string(o->b, val);
}

/* A float cast to a Morpheus string: "%.3f" in quotes. */
void put_fixed3(json_obj *o, const char *prefix, const char *name, double v)
{
    put_key(o, prefix, name);
    bytebuf_appendf(o->b, "\"%.3f\"", v);
}

/* A number added without a cast: %g, bare. */
void put_num(json_obj *o, const char *name, double v)
{
    put_key(o, NULL, name);
    bytebuf_appendf(o->b, "%g", v);
}

/* The player block (tracker-wire.md §2.2) for prefix, keys in a scrambled order as the engine's hash map. */
void put_player(json_obj *o, const char *prefix, const sim_player *p)
{
    put_fixed3(o, prefix, "yaw", p->yaw);
    put_fixed3(o, prefix, "x", p->x);
    put_str(o, prefix, "guid", p->guid);
    put_str(o, prefix, "stance", p->crouched ? "crouch" : "stand");
    put_str(o, prefix, "name", p->name);
    put_str(o, prefix, "team", p->team);
    if (p->smf_id[0])
        put_str(o, prefix, "smf_id", p->smf_id);
    put_fixed3(o, prefix, "pitch", 0.0);
    put_fixed3(o, prefix, "z", p->z);
    put_fixed3(o, prefix, "y", p->y);
}

/* The envelope of every event (tracker-wire.md §2.1). */
void put_envelope(json_obj *o, const char *session, double level_time, const char *type)
{
    put_match_envelope(o, session, "no_match", level_time, type);
}

/* The envelope with the gameflow module on: match_id set at map_start. */
void put_match_envelope(json_obj *o, const char *session, const char *match_id, double level_time, const char *type)
{
    put_str(o, NULL, "type", type);
    put_fixed3(o, NULL, "timestamp", level_time);
    put_str(o, NULL, "match_id", match_id);
    put_str(o, NULL, "session_id", session);
}
