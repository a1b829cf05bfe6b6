/* What achievd can measure: the metrics (one per thing counted, each with its shape) and the forum's
 * requirement_type strings that read them. Tables in criteria.c; docs/achievements.md says what each means. */
#ifndef MOHSTATS_ACHIEVD_CRITERIA_H
#define MOHSTATS_ACHIEVD_CRITERIA_H

#include <stdbool.h>
#include <stdint.h>

/* Facts about one player in one event, derived once per event (evaluate_metrics.c) from docs/definitions.md. */
typedef enum {
    /* as the killer of a player_kill */
    FACT_KILL,              /* a kill by the definitions: another player, not a team mate */
    FACT_HEADSHOT,          /* a kill at head, helmet or neck */
    FACT_TEAM_KILL,         /* a kill of a team mate (not a kill) */
    FACT_GRENADE_KILL,      /* a kill with means of death grenade, or an explosive weapon's grenade */
    FACT_PISTOL_KILL,       /* a kill with a pistol-class weapon */
    FACT_MELEE_KILL,        /* a kill by bash/impale or with a melee-class weapon */
    FACT_PELVIS_KILL,       /* a kill at the pelvis */
    FACT_TORSO_KILL,        /* a kill at torso_upper/mid/lower (the catalogue's hitboxes 2-5 less the neck) */
    FACT_LEG_KILL,          /* a kill at a leg or foot */
    FACT_PRONE_KILL,        /* a kill while the killer's stance is prone */
    FACT_ROADKILL,          /* a kill by a vehicle */
    FACT_TELEFRAG_KILL,     /* a kill by telefrag */
    FACT_SPAWN_KILL,        /* a kill of a victim within SPAWN_WINDOW_S of the victim's spawn */
    FACT_BEHIND_KILL,       /* the killer stood behind the victim (> 135 degrees from the victim's facing) */
    FACT_BACKSTAB_KILL,     /* a melee kill from behind */
    FACT_FLANK_KILL,        /* the killer stood at the victim's side (45 to 135 degrees) */
    FACT_SIDE_KILL,         /* the killer stood square to the victim's side (80 to 100 degrees) */
    FACT_DUEL_KILL,         /* both faced each other (each within 20 degrees of the other) */
    FACT_JUMP_KILL,         /* a kill within AIR_WINDOW_S after the killer's own jump */
    FACT_MIDAIR_KILL,       /* killer and victim both jumped within AIR_WINDOW_S before the kill */
    FACT_FALLING_KILL,      /* the victim jumped within AIR_WINDOW_S before the kill */
    FACT_QUICKSWITCH_KILL,  /* a kill within QUICKSWITCH_WINDOW_S after the killer's weapon_change */
    FACT_SHOTGUN_HEADSHOT,  /* a headshot with a shotgun-class weapon */
    FACT_REVENGE_KILL,      /* a kill of the player who last killed the killer (in this match) */
    FACT_FAST_REVENGE,      /* a revenge kill within REVENGE_FAST_S of the killer's spawn */
    FACT_FIRST_BLOOD,       /* the first kill of the match */
    FACT_NON_HEADSHOT_KILL, /* a kill elsewhere than the head */
    FACT_NON_LEG_KILL,      /* a kill elsewhere than a leg or foot */
    FACT_DOUBLE_KILL,       /* a kill that makes a chain of exactly 2 (definitions.md: a double kill) */
    /* as the victim of a player_kill */
    FACT_DEATH,           /* every death, whatever killed the player */
    FACT_SUICIDE,         /* a death with no other player as the killer */
    FACT_FALL_DEATH,      /* a death by falling */
    FACT_DROWN_DEATH,     /* a death in the world's liquids (drown, water, slime, lava) */
    FACT_CRUSH_DEATH,     /* a death by crushing */
    FACT_SPAWN_DEATH,     /* killed by another player within SPAWN_WINDOW_S of the spawn */
    FACT_INSTANT_DEATH,   /* any death within SPAWN_WINDOW_S of the spawn */
    FACT_HAND_DEATH,      /* killed by a hit in the hand */
    FACT_GRENADE_SUICIDE, /* a suicide by the player's own grenade */
    /* as the actor of other events */
    FACT_MATCH_PLAYED, /* the player's first event in a match */
    FACT_SHOT,         /* weapon_fire */
    FACT_HIT,          /* weapon_hit */
    FACT_SPAWN,        /* player_spawn */
    FACT_JUMP,         /* jump */
    FACT_LADDER,       /* ladder_mount */
    FACT_DOOR,         /* door_open */
    FACT_CHAT,         /* chat */
    FACT_GG,           /* a chat message "gg" (first in the match) */
    FACT_RAGE_QUIT,    /* disconnect while the match has not ended */
    FACT_TEABAG,       /* crouch within TEABAG_WINDOW_S of a kill, within TEABAG_RANGE units of the body */
    FACT__COUNT
} fact;

/* How a metric turns facts and quantities into a value. */
typedef enum {
    SHAPE_COUNT,        /* career count of the fact (optionally on a date) */
    SHAPE_SUM,          /* career sum of a quantity */
    SHAPE_BEST_MATCH,   /* most occurrences of the fact in one match (or of a quantity's sum) */
    SHAPE_BEST_LIFE,    /* most occurrences in one life (from the match start or a death to the next death) */
    SHAPE_STREAK,       /* most occurrences in a row, reset by the breaker fact */
    SHAPE_CHAIN,        /* longest chain of the fact, each within window_s (game time) of the previous */
    SHAPE_WINDOW,       /* most occurrences within any window_s seconds (game time) */
    SHAPE_MAX,          /* largest single quantity */
    SHAPE_RATIO,        /* 100 * fact / fact2 once fact2 reaches min_sample, else 0 */
    SHAPE_DISTINCT,     /* distinct keys (maps played, weapons killed with, ...) */
    SHAPE_MATCH_END,    /* matches that ended (match_end seen) with a condition met */
    SHAPE_MATCH_BEST,   /* the best of a number an ended match yields (kills of a pistol-only win) */
    SHAPE_MATCH_STREAK, /* most ended matches in a row with a condition met */
    SHAPE_DAY,          /* calendar: days in a row with a match, months of the year, most playtime in a day */
    SHAPE_META,         /* from the player's own unlocks */
    SHAPE_MANUAL,       /* granted by an operator only */
} metric_shape;

typedef enum {
    Q_NONE,
    Q_PLAYTIME_S,
    Q_DISTANCE_M,
    Q_DISTANCE_UNITS,
    Q_KILL_DISTANCE_M,
    Q_GRENADE_KILL_UNITS,
    Q_ROCKET_KILL_UNITS
} quantity;

/* Calendar filters, in the server's time (UTC: trackers send no time zone). */
typedef enum {
    DATE_ANY,
    DATE_CHRISTMAS,
    DATE_HALLOWEEN,
    DATE_FRIDAY13,
    DATE_NEWYEAR,
    DATE_JULY4,
    DATE_APRIL1,
    DATE_VETERANS,
    DATE_FULLMOON,
    DATE_NIGHT,
    DATE_WEEKEND
} date_filter;

/* Match-end conditions (SHAPE_MATCH_END / SHAPE_MATCH_STREAK) and other special metrics. */
typedef enum {
    COND_NONE,
    COND_DEATHLESS,        /* 0 deaths */
    COND_NO_KILLS,         /* 0 kills */
    COND_PERFECT,          /* 10+ kills and 0 deaths */
    COND_ZERO_KILL_DEATHS, /* 0 kills and 10+ deaths */
    COND_WIN,              /* the player's side won */
    COND_DEATHLESS_WIN,    /* won without dying */
    COND_COMEBACK_5,       /* won after trailing by 5+ rounds */
    COND_COMEBACK_10,      /* won after trailing by 10+ rounds */
    COND_PISTOL_ONLY_WIN,  /* won, every kill with a pistol, at least 15 kills */
    COND_MELEE_ONLY_WIN,   /* won, every kill melee, at least 1 kill */
    COND_FAST,             /* the match lasted under 5 minutes */
    COND_LONG,             /* the player's time in the match reached an hour (no match_end needed) */
    COND_MATCH_PLAYED,     /* any match played (a match on a date: SHAPE_COUNT of matches) */
    COND_HIGH_ACTIVITY,    /* 20+ kills and 20+ deaths in the match (no match_end needed) */
    COND_DOMINATED,        /* killed 10+ times by the same player in the match */
} match_cond;

typedef enum {
    KEY_NONE,
    KEY_MAP,
    KEY_WEAPON,
    KEY_WEAPON_100,
    KEY_WEAPON_CLASS,
    KEY_HITLOC_MATCH,
    KEY_ELEVATION_LIFE,
    KEY_BEST_WEAPON
} distinct_key;

typedef enum { DAY_STREAK, DAY_MONTHS, DAY_MOST_PLAYTIME, DAY_ALL_NIGHT } day_kind;

typedef enum { META_COUNT, META_POINTS } meta_kind;

typedef struct {
    const char *name; /* stable: the key of the metric's value in achievd's saved state */
    metric_shape shape;
    fact fact;  /* the fact counted (or FACT__COUNT when a quantity or condition is measured) */
    fact fact2; /* SHAPE_STREAK: the breaker; SHAPE_RATIO: the denominator; else FACT__COUNT */
    quantity q;
    date_filter date;
    match_cond cond;
    distinct_key key;
    int family;          /* weapon family (game_vocab.h) a kill must be of, or -1 */
    int kind;            /* day_kind / meta_kind */
    double window_s;     /* SHAPE_CHAIN, SHAPE_WINDOW */
    uint32_t min_sample; /* SHAPE_RATIO */
    uint32_t scale;      /* SHAPE_SUM: quantity units per value unit (3600: hours from seconds); SHAPE_RATIO: 100
                            for a percentage, 1 for a plain ratio */
    bool per_life;       /* SHAPE_STREAK: a death and a new match also reset it */
} metric_def;

extern const metric_def metrics[];
extern const int metrics_count;

/* A forum requirement_type: the metric it reads, and its threshold when the type's name holds one
 * (killstreak_10 with requirement_value 1: progress is 0 or 1). */
typedef struct {
    const char *type;
    const char *metric;
    uint32_t threshold; /* 0: the definition's requirement_value is the threshold */
    const char *events; /* the events it needs, for docs and logs */
} criterion_def;

extern const criterion_def criteria[];
extern const int criteria_count;

/* A code whose meaning differs from its requirement_type's (two codes of the catalogue share a type with
 * different meanings): the code's own criterion. */
typedef struct {
    const char *code;
    const char *type;
} code_override;
extern const code_override code_overrides[];

/* The metric index of a requirement_type (for code, which may override it), or -1; *threshold as above.
 * Manual types answer a SHAPE_MANUAL metric. */
int criteria_lookup(const char *code, const char *type, uint32_t *threshold);
int metric_index(const char *name);

/* Windows of the shapes, in seconds of game time (docs/definitions.md: a multi-kill's window is 3 s). */
#define MULTIKILL_WINDOW_S 3.0
#define SPAWN_WINDOW_S 3.0
#define AIR_WINDOW_S 1.0
#define REVENGE_FAST_S 5.0
#define TEABAG_WINDOW_S 5.0
#define TEABAG_RANGE 128.0
#define QUICKSWITCH_WINDOW_S 0.5

#endif
