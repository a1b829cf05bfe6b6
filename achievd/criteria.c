/* The metrics achievd measures and the forum requirement_types that read them, as tables. A new criterion is
 * a row here (and a line in docs/achievements.md), not code, unless it needs a new fact or shape. */
#include "criteria.h"

#include <stddef.h>
#include <string.h>

#include "game_vocab.h"

#define NO FACT__COUNT

/* Shorthands for the rows below: every field not named is zero (or NO / -1 where it matters). */
#define COUNT(n, f)                                                                                                    \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_COUNT, .fact = f, .fact2 = NO, .family = -1                                          \
    }
#define COUNT_ON(n, f, d)                                                                                              \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_COUNT, .fact = f, .fact2 = NO, .date = d, .family = -1                               \
    }
#define WEAPON(n, fam)                                                                                                 \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_COUNT, .fact = FACT_KILL, .fact2 = NO, .family = fam                                 \
    }
#define SUM(n, q_, sc)                                                                                                 \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_SUM, .fact = NO, .fact2 = NO, .q = q_, .family = -1, .scale = sc                     \
    }
#define BEST_MATCH(n, f)                                                                                               \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_BEST_MATCH, .fact = f, .fact2 = NO, .family = -1                                     \
    }
#define BEST_MATCH_Q(n, q_)                                                                                            \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_BEST_MATCH, .fact = NO, .fact2 = NO, .q = q_, .family = -1                           \
    }
#define BEST_LIFE(n, f)                                                                                                \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_BEST_LIFE, .fact = f, .fact2 = NO, .family = -1                                      \
    }
#define STREAK(n, f, brk, life)                                                                                        \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_STREAK, .fact = f, .fact2 = brk, .family = -1, .per_life = life                      \
    }
#define CHAIN(n, f, w, d)                                                                                              \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_CHAIN, .fact = f, .fact2 = NO, .date = d, .family = -1, .window_s = w                \
    }
#define WINDOW(n, f, w)                                                                                                \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_WINDOW, .fact = f, .fact2 = NO, .family = -1, .window_s = w                          \
    }
#define MAX(n, q_)                                                                                                     \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_MAX, .fact = NO, .fact2 = NO, .q = q_, .family = -1                                  \
    }
#define RATIO(n, f, f2, min, sc)                                                                                       \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_RATIO, .fact = f, .fact2 = f2, .family = -1, .min_sample = min, .scale = sc          \
    }
#define DISTINCT(n, k)                                                                                                 \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_DISTINCT, .fact = NO, .fact2 = NO, .key = k, .family = -1                            \
    }
#define MATCH_END(n, c)                                                                                                \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_MATCH_END, .fact = NO, .fact2 = NO, .cond = c, .family = -1                          \
    }
#define MATCH_ON(n, c, d)                                                                                              \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_MATCH_END, .fact = NO, .fact2 = NO, .cond = c, .date = d, .family = -1               \
    }
#define MATCH_BEST(n, c)                                                                                               \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_MATCH_BEST, .fact = NO, .fact2 = NO, .cond = c, .family = -1                         \
    }
#define MATCH_STREAK(n, c)                                                                                             \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_MATCH_STREAK, .fact = NO, .fact2 = NO, .cond = c, .family = -1                       \
    }
#define DAY(n, k)                                                                                                      \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_DAY, .fact = NO, .fact2 = NO, .family = -1, .kind = k                                \
    }
#define META(n, k)                                                                                                     \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_META, .fact = NO, .fact2 = NO, .family = -1, .kind = k                               \
    }
#define MANUAL(n)                                                                                                      \
    {                                                                                                                  \
        .name = n, .shape = SHAPE_MANUAL, .fact = NO, .fact2 = NO, .family = -1                                        \
    }

const metric_def metrics[] = {
    /* career counters of kills and deaths (docs/definitions.md, Combat) */
    COUNT("kills", FACT_KILL),
    COUNT("headshots", FACT_HEADSHOT),
    COUNT("deaths", FACT_DEATH),
    COUNT("suicides", FACT_SUICIDE),
    COUNT("team_kills", FACT_TEAM_KILL),
    COUNT("grenade_kills", FACT_GRENADE_KILL),
    COUNT("pistol_kills", FACT_PISTOL_KILL),
    COUNT("melee_kills", FACT_MELEE_KILL),
    COUNT("pelvis_kills", FACT_PELVIS_KILL),
    COUNT("torso_kills", FACT_TORSO_KILL),
    COUNT("prone_kills", FACT_PRONE_KILL),
    COUNT("roadkills", FACT_ROADKILL),
    COUNT("telefrag_kills", FACT_TELEFRAG_KILL),
    COUNT("spawn_kills", FACT_SPAWN_KILL),
    COUNT("behind_kills", FACT_BEHIND_KILL),
    COUNT("backstab_kills", FACT_BACKSTAB_KILL),
    COUNT("flank_kills", FACT_FLANK_KILL),
    COUNT("side_kills", FACT_SIDE_KILL),
    COUNT("duel_kills", FACT_DUEL_KILL),
    COUNT("jump_kills", FACT_JUMP_KILL),
    COUNT("midair_kills", FACT_MIDAIR_KILL),
    COUNT("falling_target_kills", FACT_FALLING_KILL),
    COUNT("quickswitch_kills", FACT_QUICKSWITCH_KILL),
    COUNT("shotgun_headshots", FACT_SHOTGUN_HEADSHOT),
    COUNT("revenge_kills", FACT_REVENGE_KILL),
    COUNT("fast_revenge_kills", FACT_FAST_REVENGE),
    COUNT("first_bloods", FACT_FIRST_BLOOD),
    COUNT("fall_deaths", FACT_FALL_DEATH),
    COUNT("drown_deaths", FACT_DROWN_DEATH),
    COUNT("crush_deaths", FACT_CRUSH_DEATH),
    COUNT("spawn_deaths", FACT_SPAWN_DEATH),
    COUNT("instant_deaths", FACT_INSTANT_DEATH),
    COUNT("hand_deaths", FACT_HAND_DEATH),
    COUNT("matches", FACT_MATCH_PLAYED),
    COUNT("shots_fired", FACT_SHOT),
    COUNT("ladder_climbs", FACT_LADDER),
    COUNT("doors_opened", FACT_DOOR),
    COUNT("chat_messages", FACT_CHAT),
    COUNT("gg_matches", FACT_GG),
    COUNT("rage_quits", FACT_RAGE_QUIT),
    COUNT("teabags", FACT_TEABAG),
    WEAPON("kills_thompson", WFAM_THOMPSON),
    WEAPON("kills_kar98k", WFAM_KAR98K),
    WEAPON("kills_garand", WFAM_GARAND),
    WEAPON("kills_mp40", WFAM_MP40),
    WEAPON("kills_bar", WFAM_BAR),
    WEAPON("kills_stg44", WFAM_STG44),
    WEAPON("kills_springfield", WFAM_SPRINGFIELD),
    /* calendar (UTC: trackers send no time zone) */
    COUNT_ON("christmas_kills", FACT_KILL, DATE_CHRISTMAS),
    COUNT_ON("halloween_kills", FACT_KILL, DATE_HALLOWEEN),
    COUNT_ON("friday13_kills", FACT_KILL, DATE_FRIDAY13),
    COUNT_ON("fullmoon_kills", FACT_KILL, DATE_FULLMOON),
    COUNT_ON("april_fools_suicides", FACT_GRENADE_SUICIDE, DATE_APRIL1),
    COUNT_ON("newyear_matches", FACT_MATCH_PLAYED, DATE_NEWYEAR),
    COUNT_ON("veterans_day_matches", FACT_MATCH_PLAYED, DATE_VETERANS),
    COUNT_ON("night_matches", FACT_MATCH_PLAYED, DATE_NIGHT),
    COUNT_ON("weekend_matches", FACT_MATCH_PLAYED, DATE_WEEKEND),
    CHAIN("july4_grenade_chain", FACT_GRENADE_KILL, MULTIKILL_WINDOW_S, DATE_JULY4),
    DAY("daily_streak", DAY_STREAK),
    DAY("months_in_year", DAY_MONTHS),
    DAY("best_day_playtime_s", DAY_MOST_PLAYTIME),
    DAY("all_night_sessions", DAY_ALL_NIGHT),
    /* sums */
    SUM("playtime_s", Q_PLAYTIME_S, 1),
    SUM("playtime_h", Q_PLAYTIME_S, 3600),
    SUM("distance_m", Q_DISTANCE_M, 1),
    /* best in one match or one life */
    BEST_MATCH("prone_kills_match", FACT_PRONE_KILL),
    BEST_MATCH("melee_kills_match", FACT_MELEE_KILL),
    BEST_MATCH("jumps_match", FACT_JUMP),
    BEST_MATCH("spawns_match", FACT_SPAWN),
    BEST_MATCH_Q("distance_units_match", Q_DISTANCE_UNITS),
    BEST_LIFE("grenade_kills_life", FACT_GRENADE_KILL),
    BEST_LIFE("double_kills_life", FACT_DOUBLE_KILL),
    DISTINCT("elevations_life", KEY_ELEVATION_LIFE),
    DISTINCT("hitlocs_match", KEY_HITLOC_MATCH),
    /* streaks, chains, windows */
    STREAK("killstreak", FACT_KILL, FACT_DEATH, true),
    STREAK("leg_kills_life", FACT_LEG_KILL, FACT_NON_LEG_KILL, true),
    STREAK("headshots_in_a_row", FACT_HEADSHOT, FACT_NON_HEADSHOT_KILL, false),
    STREAK("kills_without_chat", FACT_KILL, FACT_CHAT, false),
    STREAK("deaths_without_kill", FACT_DEATH, FACT_KILL, false),
    CHAIN("multikill", FACT_KILL, MULTIKILL_WINDOW_S, DATE_ANY),
    WINDOW("kills_in_60s", FACT_KILL, 60.0),
    /* single best values */
    MAX("kill_distance_m", Q_KILL_DISTANCE_M),
    MAX("grenade_kill_units", Q_GRENADE_KILL_UNITS),
    MAX("rocket_kill_units", Q_ROCKET_KILL_UNITS),
    /* ratios with a minimum sample (the catalogue's descriptions name them; 10 deaths for K/D otherwise) */
    RATIO("headshot_pct_100", FACT_HEADSHOT, FACT_KILL, 100, 100),
    RATIO("headshot_pct_50", FACT_HEADSHOT, FACT_KILL, 50, 100),
    RATIO("headshot_pct_20", FACT_HEADSHOT, FACT_KILL, 20, 100),
    RATIO("kd_ratio", FACT_KILL, FACT_DEATH, 10, 1),
    RATIO("accuracy_pct", FACT_HIT, FACT_SHOT, 1000, 100),
    /* distinct sets */
    DISTINCT("maps_played", KEY_MAP),
    DISTINCT("weapons_100_kills", KEY_WEAPON_100),
    DISTINCT("weapon_classes", KEY_WEAPON_CLASS),
    DISTINCT("best_weapon_kills", KEY_BEST_WEAPON),
    /* match outcomes: only matches whose server sent match_end (and team_win/round_end where named) */
    MATCH_END("deathless_matches", COND_DEATHLESS),
    MATCH_END("no_kill_matches", COND_NO_KILLS),
    MATCH_END("perfect_matches", COND_PERFECT),
    MATCH_END("zero_kill_deaths_matches", COND_ZERO_KILL_DEATHS),
    MATCH_END("fast_matches", COND_FAST),
    MATCH_END("long_matches", COND_LONG),
    MATCH_END("high_activity_matches", COND_HIGH_ACTIVITY),
    MATCH_END("dominated_matches", COND_DOMINATED),
    MATCH_END("comeback_5_wins", COND_COMEBACK_5),
    MATCH_END("comeback_10_wins", COND_COMEBACK_10),
    MATCH_END("melee_only_wins", COND_MELEE_ONLY_WIN),
    MATCH_END("wins", COND_WIN),
    MATCH_BEST("pistol_only_win_kills", COND_PISTOL_ONLY_WIN),
    MATCH_STREAK("win_streak", COND_WIN),
    MATCH_STREAK("deathless_win_streak", COND_DEATHLESS_WIN),
    /* from the player's unlocks */
    META("achievements", META_COUNT),
    META("achievement_points", META_POINTS),
    /* granted by an operator (achievd grant MEMBER CODE) */
    MANUAL("manual"),
};
const int metrics_count = (int)(sizeof metrics / sizeof metrics[0]);

/* The forum's requirement_types: every type of the plugin's catalogue (docs/forum.md §3, docs/achievements.md)
 * that achievd evaluates, and the types of the other installers' seeds where they mean something it measures. */
const criterion_def criteria[] = {
    {"kills", "kills", 0, "player_kill"},
    {"headshots", "headshots", 0, "player_kill"},
    {"deaths", "deaths", 0, "player_kill"},
    {"suicides", "suicides", 0, "player_kill"},
    {"team_kills", "team_kills", 0, "player_kill"},
    {"grenade_kills", "grenade_kills", 0, "player_kill"},
    {"pistol_kills", "pistol_kills", 0, "player_kill"},
    {"melee_kills", "melee_kills", 0, "player_kill"},
    {"pelvis_kills", "pelvis_kills", 0, "player_kill"},
    {"groin_hits", "pelvis_kills", 0, "player_kill"},
    {"upper_body_kills", "torso_kills", 0, "player_kill"},
    {"prone_kills", "prone_kills", 0, "player_kill (stance prone)"},
    {"roadkills", "roadkills", 0, "player_kill"},
    {"spawn_kills", "spawn_kills", 0, "player_kill, player_spawn"},
    {"telefrag_kills", "telefrag_kills", 0, "player_kill"},
    {"behind_kills", "behind_kills", 0, "player_kill (positions, victim yaw)"},
    {"backstab_kills", "backstab_kills", 0, "player_kill (positions, victim yaw)"},
    {"flank_kills", "flank_kills", 0, "player_kill (positions, victim yaw)"},
    {"perpendicular_kills", "side_kills", 0, "player_kill (positions, victim yaw)"},
    {"duel_kills", "duel_kills", 0, "player_kill (positions, both yaws)"},
    {"jump_kills", "jump_kills", 0, "player_kill, jump"},
    {"airborne_kills", "jump_kills", 1, "player_kill, jump"},
    {"midair_kill", "midair_kills", 1, "player_kill, jump"},
    {"falling_target_kills", "falling_target_kills", 0, "player_kill, jump"},
    {"quickswitch_kills", "quickswitch_kills", 0, "player_kill, weapon_change"},
    {"shotgun_headshots", "shotgun_headshots", 0, "player_kill"},
    {"revenge_kill", "revenge_kills", 0, "player_kill"},
    {"revenge_kills_fast", "fast_revenge_kills", 0, "player_kill, player_spawn"},
    {"first_bloods", "first_bloods", 0, "player_kill"},
    {"fall_deaths", "fall_deaths", 0, "player_kill"},
    {"drown_deaths", "drown_deaths", 0, "player_kill"},
    {"crush_deaths", "crush_deaths", 0, "player_kill"},
    {"spawn_deaths", "spawn_deaths", 0, "player_kill, player_spawn"},
    {"instant_deaths", "instant_deaths", 0, "player_kill, player_spawn"},
    {"hand_deaths", "hand_deaths", 0, "player_kill"},
    {"matches", "matches", 0, "any"},
    {"shots_fired", "shots_fired", 0, "weapon_fire"},
    {"ladder_climbs", "ladder_climbs", 0, "ladder_mount"},
    {"doors_opened", "doors_opened", 0, "door_open (world module)"},
    {"chat_messages", "chat_messages", 0, "chat (interaction module)"},
    {"gg_messages", "gg_matches", 0, "chat (interaction module)"},
    {"rage_quits", "rage_quits", 0, "disconnect (client module), match_end"},
    {"teabags", "teabags", 0, "player_kill, crouch"},
    {"weapon_kills_thompson", "kills_thompson", 0, "player_kill"},
    {"weapon_kills_kar98k", "kills_kar98k", 0, "player_kill"},
    {"weapon_kills_garand", "kills_garand", 0, "player_kill"},
    {"weapon_kills_mp40", "kills_mp40", 0, "player_kill"},
    {"weapon_kills_bar", "kills_bar", 0, "player_kill"},
    {"weapon_kills_stg44", "kills_stg44", 0, "player_kill"},
    {"weapon_kills_springfield", "kills_springfield", 0, "player_kill"},
    {"christmas_kills", "christmas_kills", 0, "player_kill"},
    {"halloween_kills", "halloween_kills", 0, "player_kill"},
    {"friday13_kills", "friday13_kills", 0, "player_kill"},
    {"fullmoon_kills", "fullmoon_kills", 0, "player_kill"},
    {"april_fools_suicide", "april_fools_suicides", 0, "player_kill"},
    {"newyear_match", "newyear_matches", 0, "any"},
    {"veterans_day_matches", "veterans_day_matches", 0, "any"},
    {"night_matches", "night_matches", 0, "any"},
    {"weekend_matches", "weekend_matches", 0, "any"},
    {"july4_grenade_multi", "july4_grenade_chain", 2, "player_kill"},
    {"daily_streak", "daily_streak", 0, "any"},
    {"monthly_activity", "months_in_year", 0, "any"},
    {"daily_playtime", "best_day_playtime_s", 0, "any"},
    {"all_night_session", "all_night_sessions", 0, "any"},
    {"playtime", "playtime_s", 0, "any"},
    {"playtime_hours", "playtime_h", 0, "any"},
    {"distance", "distance_m", 0, "distance"},
    {"distance_100km", "distance_m", 100000, "distance"},
    {"prone_kills_match", "prone_kills_match", 0, "player_kill (stance prone)"},
    {"bash_kills_match", "melee_kills_match", 0, "player_kill"},
    {"jumps_match", "jumps_match", 0, "jump"},
    {"respawns_match", "spawns_match", 0, "player_spawn"},
    {"distance_match", "distance_units_match", 0, "distance"},
    {"grenade_kills_life", "grenade_kills_life", 0, "player_kill"},
    {"double_kills_life", "double_kills_life", 0, "player_kill"},
    {"elevation_kills_life", "elevations_life", 0, "player_kill (positions)"},
    {"unique_hitboxes_match", "hitlocs_match", 0, "player_kill, damage"},
    {"killstreak", "killstreak", 0, "player_kill"},
    {"kill_streak", "killstreak", 0, "player_kill"},
    {"killstreak_10", "killstreak", 10, "player_kill"},
    {"killstreak_15", "killstreak", 15, "player_kill"},
    {"killstreak_25", "killstreak", 25, "player_kill"},
    {"leg_only_kills_streak", "leg_kills_life", 0, "player_kill"},
    {"consecutive_headshots", "headshots_in_a_row", 0, "player_kill"},
    {"silent_kills", "kills_without_chat", 0, "player_kill, chat"},
    {"decoy_deaths", "deaths_without_kill", 0, "player_kill"},
    {"multikill_2", "multikill", 2, "player_kill"},
    {"multikill_3", "multikill", 3, "player_kill"},
    {"multikill_4", "multikill", 4, "player_kill"},
    {"multikill_5", "multikill", 5, "player_kill"},
    {"kills_per_minute", "kills_in_60s", 0, "player_kill"},
    {"kill_distance_150", "kill_distance_m", 150, "player_kill (positions)"},
    {"grenade_distance_kill", "grenade_kill_units", 0, "player_kill (positions)"},
    {"direct_rocket_distance", "rocket_kill_units", 0, "player_kill (positions)"},
    {"headshot_ratio_50", "headshot_pct_100", 50, "player_kill"},
    {"headshot_ratio_sustained", "headshot_pct_50", 0, "player_kill"},
    {"suspicious_accuracy", "headshot_pct_20", 90, "player_kill"},
    {"kd_ratio", "kd_ratio", 0, "player_kill"},
    {"accuracy", "accuracy_pct", 0, "weapon_fire, weapon_hit"},
    {"unique_maps", "maps_played", 0, "any (map)"},
    {"unique_maps_played", "maps_played", 0, "any (map)"},
    {"weapon_variety", "weapons_100_kills", 0, "player_kill"},
    {"all_weapons_used", "weapon_classes", WCLASS__COUNT - 1, "player_kill"},
    {"single_weapon_kills", "best_weapon_kills", 0, "player_kill"},
    {"deathless_matches", "deathless_matches", 0, "match_end"},
    {"no_death_matches", "deathless_matches", 0, "match_end"},
    {"match_no_kills", "no_kill_matches", 0, "match_end"},
    {"perfect_match", "perfect_matches", 0, "match_end"},
    {"zero_kill_deaths", "zero_kill_deaths_matches", 1, "match_end"},
    {"fast_match", "fast_matches", 0, "match_end"},
    {"long_match", "long_matches", 0, "any"},
    {"high_activity_match", "high_activity_matches", 0, "player_kill"},
    {"dominated_by_same", "dominated_matches", 0, "player_kill"},
    {"comeback_win", "comeback_5_wins", 0, "match_end or team_win, round_end (scores)"},
    {"comeback_5_rounds", "comeback_5_wins", 0, "match_end or team_win, round_end (scores)"},
    {"massive_comeback", "comeback_10_wins", 0, "match_end or team_win, round_end (scores)"},
    {"knife_only_match", "melee_only_wins", 0, "match_end or team_win"},
    {"pistol_only_match", "pistol_only_win_kills", 0, "match_end or team_win"},
    {"win_streak", "win_streak", 0, "match_end or team_win"},
    {"win_streak_20", "win_streak", 20, "match_end or team_win"},
    {"deathless_win_streak", "deathless_win_streak", 0, "match_end or team_win"},
    {"achievement_count", "achievements", 0, "achievd's unlocks"},
    {"total_score", "achievement_points", 0, "achievd's unlocks"},
    /* manual: nothing in a game says these; an operator grants them */
    {"alpha_tester", "manual", 0, "operator"},
    {"founder", "manual", 0, "operator"},
    {"pioneer", "manual", 0, "operator"},
    {"early_adopter", "manual", 0, "operator"},
    {"bugs_reported", "manual", 0, "operator"},
    {"community_contribution", "manual", 0, "operator"},
    {"stream_time", "manual", 0, "operator"},
    {"content_views", "manual", 0, "operator"},
    {"mvp_votes", "manual", 0, "operator"},
    {"trash_reports", "manual", 0, "operator"},
    {"compliments", "manual", 0, "operator"},
};
const int criteria_count = (int)(sizeof criteria / sizeof criteria[0]);

/* The catalogue gives spawn_kills to both spawn_camper (kills of players just spawned) and telefrag (spawning
 * inside another player): telefrag reads the telefrag kills. */
const code_override code_overrides[] = {
    {"telefrag", "telefrag_kills"},
    {NULL, NULL},
};

int metric_index(const char *name)
{
    for (int i = 0; i < metrics_count; i++)
        if (strcmp(metrics[i].name, name) == 0)
            return i;
    return -1;
}

int criteria_lookup(const char *code, const char *type, uint32_t *threshold)
{
    for (int i = 0; code && code_overrides[i].code; i++)
        if (strcmp(code_overrides[i].code, code) == 0)
            type = code_overrides[i].type;
    for (int i = 0; type && i < criteria_count; i++)
        if (strcmp(criteria[i].type, type) == 0) {
            if (threshold)
                *threshold = criteria[i].threshold;
            return metric_index(criteria[i].metric);
        }
    return -1;
}
