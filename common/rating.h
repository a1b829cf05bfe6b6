/* Skill ratings: the Weng-Lin Bayesian approximation with the Plackett-Luce model (Weng and Lin, "A Bayesian
 * Approximation Method for Online Ranking", JMLR 12, 2011, Algorithm 4; the model of the OpenSkill libraries).
 *
 * A player's skill is a Gaussian belief: mu (the estimate) and sigma (its uncertainty). A match is teams in a finishing
 * order (free-for-all: teams of one); the update moves each player's mu by how surprising the order was given every
 * team's strength, and shrinks sigma by how much the match told about the player. Pure arithmetic, no I/O, and
 * deterministic: the same matches in the same order give bit-identical ratings, which is what makes a recomputation
 * from raw events reproducible. */
#ifndef MOHSTATS_RATING_H
#define MOHSTATS_RATING_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    double mu, sigma;
} rating;

/* The model's constants; rating_model_default gives OpenSkill's defaults. */
typedef struct {
    double mu;    /* a new player's mu: 25 */
    double sigma; /* a new player's sigma: 25/3 */
    double beta;  /* the spread of one match's performance around skill: sigma / 2 */
    double kappa; /* the floor of the factor that shrinks sigma: 0.0001 */
    double tau;   /* added to every sigma before each update, so that ratings keep moving: 25/300 */
} rating_model;

void rating_model_default(rating_model *m);

/* A new player's rating. */
rating rating_new(const rating_model *m);

/* One player in a match: the rating before the match, replaced by the rating after it. weight is the fraction of
 * the match the player took part in, in (0, 1]: a team's strength is the weighted sum of its players' (TrueSkill's
 * partial play), so a player who played half of the match moves about half as far. */
typedef struct {
    rating r;
    double weight;
} rating_player;

/* A team and its place: rank 1 is the winner; teams of equal rank drew. */
typedef struct {
    rating_player *players;
    size_t nplayers;
    int rank;
} rating_team;

/* Update the ratings of every player of a match of nteams teams (at least 2, each with at least one player of
 * positive weight). Returns 0, or -1 if the match cannot be rated (and changes nothing). */
int rating_update(const rating_model *m, rating_team *teams, size_t nteams);

/* The same update with each team's strength counted above a new player's mu, as rating_win_probabilities counts
 * it: what ratingd rates with. Between teams of equal size and weights it is rating_update (the shift cancels in
 * every difference the model reads). Between unequal ones, rating_update's raw sums expect a side of five average
 * players to beat a side of four (by a whole player's 25, several times the spread of skills), so a win of the
 * larger side taught almost nothing and a loss cost its players dearly, while its predictions (above a new
 * player's) said even: on the demo world (five against four) the update and the prediction disagreed, and the
 * ratings' held-out predictions were over-confident (docs/ratings.md). Likewise a free-for-all player who played
 * 60% of a match was expected to finish behind everyone who played all of it. */
int rating_update_relative(const rating_model *m, rating_team *teams, size_t nteams);

/* The probability that each team wins a match between them, before it is played (out[i] for teams[i], summing to
 * 1): Plackett-Luce's chance of finishing first, exp(m_i / c) / sum_j exp(m_j / c), with m a team's weighted sum of
 * its players' mu above a new player's and c^2 the sum over teams of their variance plus beta^2: what the update
 * itself expects (rating_update_relative), so that the ratings predict under the model they are learned by
 * (rating.c says why). Two teams: logistic((m_a - m_b) / c). Ranks are not read. */
void rating_win_probabilities(const rating_model *m, const rating_team *teams, size_t nteams, double *out);

/* sigma after days without a rated match: the variance grows by per_day^2 a day (Glicko's rating periods), up to a
 * new player's sigma. */
double rating_after_inactivity(const rating_model *m, double sigma, double days, double per_day);

/* The conservative estimate leaderboards sort by: mu - 3 sigma (99.7% sure the skill is at least this). */
double rating_ordinal(rating r);

#endif
