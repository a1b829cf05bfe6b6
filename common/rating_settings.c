/* The rating model's settings (rating_settings.h). */
#include "rating_settings.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "log.h"

const config_var rating_model_config_vars[] = {
    /* 25/6 to the last bit (%.17g of it parses back to it) */
    {"RATING_BETA", "4.1666666666666670",
     "how far one match's performance scatters around a player's skill: OpenSkill's default 25/6 (it predicted best "
     "on the learning parts of both simulated worlds), for ratingd's updates and stored win probabilities and "
     "queryd's served chances alike; `ratingd evaluate` scores a value on past matches before it is used"},
    {"RATING_INACTIVITY_SIGMA_PER_DAY", "0.4",
     "how fast uncertainty grows without rated matches: sigma^2 grows by this squared per day, up to a new "
     "player's; ratingd widens a returning player's prior by it, queryd the sigma it serves, ranks and predicts with"},
    {"RATING_START_WEIGHT", "1",
     "how much of a two-team chance predicted from the roster at the start survives the rosters changing during the "
     "match: a chance p is served as 0.5 + (p - 0.5) * this, by ratingd (stored win probabilities) and queryd "
     "(served chances) alike. 1: the learning parts of both simulated worlds fitted best with 0.98 and 1.07; "
     "`ratingd evaluate` prints the value that fits the learning part of a history"},
    {NULL, NULL, NULL},
};

int rating_model_load(rating_model *m)
{
    rating_model_default(m);
    const char *s = config_get("RATING_BETA");
    char *end = NULL;
    double v = s ? strtod(s, &end) : NAN;
    if (!s || end == s || *end || !(v >= 0.01 && v <= 1000)) {
        log_error("RATING_BETA must be a number between 0.01 and 1000");
        return -EINVAL;
    }
    m->beta = v;
    s = config_get("RATING_START_WEIGHT");
    end = NULL;
    v = s ? strtod(s, &end) : NAN;
    if (!s || end == s || *end || !(v >= 0 && v <= 1)) {
        log_error("RATING_START_WEIGHT must be a number between 0 and 1");
        return -EINVAL;
    }
    m->start_weight = v;
    return 0;
}

int rating_inactivity_load(double *per_day)
{
    const char *s = config_get("RATING_INACTIVITY_SIGMA_PER_DAY");
    char *end = NULL;
    double v = s ? strtod(s, &end) : NAN;
    if (!s || end == s || *end || !(v >= 0 && v <= 100)) {
        log_error("RATING_INACTIVITY_SIGMA_PER_DAY must be a number between 0 and 100");
        return -EINVAL;
    }
    *per_day = v;
    return 0;
}
