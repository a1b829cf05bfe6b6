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
#include <stdint.h>

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
    /* How much of a two-team chance survives the rosters changing during the match: a chance p is served as
     * 0.5 + (p - 0.5) * start_weight (rating_win_probabilities). 1 (the default here): the chance is the model's. */
    double start_weight;
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
 * (rating.c says why). Two teams: logistic((m_a - m_b) / c), pulled toward even by m->start_weight (rating.c
 * says why). Ranks are not read. */
void rating_win_probabilities(const rating_model *m, const rating_team *teams, size_t nteams, double *out);

/* sigma after days without a rated match: the variance grows by per_day^2 a day (Glicko's rating periods), up to a
 * new player's sigma. */
double rating_after_inactivity(const rating_model *m, double sigma, double days, double per_day);

/* A stored sigma as of now_ms, its player's last rated match in the family having ended at last_ms (0: never
 * rated, unchanged): rating_after_inactivity for the days between, at RATING_INACTIVITY_SIGMA_PER_DAY. The one rule
 * of both ratingd (the prior a match starts from) and queryd (the sigma it serves, and ranks and predicts with), so
 * that an absent player's uncertainty is served as it will count when they play again. */
double rating_sigma_at(const rating_model *m, double sigma, uint64_t last_ms, uint64_t now_ms, double per_day);

/* The conservative estimate leaderboards sort by: mu - 3 sigma (99.7% sure the skill is at least this). */
double rating_ordinal(rating r);

/* ---- a forum team's rating: one computation for what queryd serves (/stats/team/{id}/rating) and what achievd
 * writes into the forum's smf_mohaa_teams.rating (docs/ratings.md, docs/tournaments.md) ---- */

/* The family a forum team is rated in when none is asked for: the team game modes'. */
#define RATING_TEAM_FAMILY "team"
/* The members a team's rating counts at most (in member id order). */
#define RATING_TEAM_MAX_MEMBERS 64

/* A team member's rating: of the GUIDs the member linked, the one with the most rated matches in the family (a
 * member may have played under several); matches 0: none of theirs is rated. Start from {0}. */
typedef struct {
    rating r;
    double matches;
} rating_member;

/* Offer one of the member's GUIDs, rated r after matches rated matches: true when it is now the member's rating
 * (more matches than the one before; on a tie the first offered stays). */
bool rating_member_offer(rating_member *m, rating r, double matches);

/* A team's rating from its members': the mean mu of its rated members, with the uncertainty of that mean (sqrt of
 * the summed variances over n), so that teams of different sizes compare; members without a rated GUID are left
 * out, as ratingd leaves guests out of a side's strength. false (out untouched) when none is rated. */
bool rating_team_mean(const rating_member *members, size_t n, rating *out);

/* A team's rating on the forum's scale (smf_mohaa_teams.rating: an INT, 1000 for a new team, ranked highest
 * first): 1000 + 40 (mu - a new player's mu), rounded. A team of new players is at the forum's 1000; one skill
 * point (a sixth of a match's performance spread, beta) is 40 of the forum's. */
int rating_forum_points(const rating_model *m, rating team);

#endif
