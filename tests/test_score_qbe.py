"""QbE-STD scoring: distances, subsequence DTW against brute force, metrics on hand-worked cases."""

import itertools
import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.metrics import average_precision_score

from espnet2_ext.errors import DataError
from espnet2_ext.score.qbe import (
    DEFAULT_BETA,
    atwv,
    distance_matrix,
    evaluate,
    mean_average_precision,
    minmax_norm,
    mtwv,
    score_queries,
    subsequence_dtw,
    twv_curve,
    znorm_per_query,
)

# --- distances ---------------------------------------------------------------------------------

QUERY = np.array([[1.0, 0.0], [0.0, 3.0]])
DOC = np.array([[2.0, 0.0], [1.0, 1.0], [0.0, 5.0]])
# cos(query frame, doc frame): row 0 = (1, 1/sqrt2, 0), row 1 = (0, 1/sqrt2, 1).
COSINE = np.array([[0.0, 1 - 1 / math.sqrt(2), 1.0], [1.0, 1 - 1 / math.sqrt(2), 0.0]])


def test_cosine_distances_by_hand():
    np.testing.assert_allclose(distance_matrix(QUERY, DOC, "cosine", minmax=False), COSINE)
    np.testing.assert_allclose(
        distance_matrix(QUERY, DOC, "cosine_exp", minmax=False), np.exp(COSINE) - 1
    )


def test_minmax_rows():
    # Row 0 of cosine_exp is (0, e^0.2929 - 1, e - 1): min 0, max e - 1.
    mid = (math.exp(1 - 1 / math.sqrt(2)) - 1) / (math.e - 1)
    np.testing.assert_allclose(distance_matrix(QUERY, DOC), [[0, mid, 1], [1, mid, 0]])
    # A constant row becomes zeros, not 0/0.
    np.testing.assert_array_equal(minmax_norm(np.array([[2.0, 2.0, 2.0], [1.0, 3.0, 2.0]])),
                                  [[0, 0, 0], [0, 1, 0.5]])


def test_zero_frame_is_at_distance_one():
    dist = distance_matrix(np.zeros((1, 2)), DOC, "cosine", minmax=False)
    np.testing.assert_array_equal(dist, [[1.0, 1.0, 1.0]])


def test_cosine_matches_scipy():
    rng = np.random.default_rng(0)
    query, doc = rng.standard_normal((7, 5)), rng.standard_normal((11, 5))
    expected = np.exp(cdist(query, doc, "cosine")) - 1
    np.testing.assert_allclose(distance_matrix(query, doc, minmax=False), expected, atol=1e-12)


def test_unknown_method():
    with pytest.raises(ValueError, match="euclidean"):
        distance_matrix(QUERY, DOC, "euclidean")
    with pytest.raises(ValueError, match="euclidean"):
        score_queries({"short": np.ones((2, 3))}, {"d": np.ones((4, 3))}, "euclidean")


# --- subsequence DTW ---------------------------------------------------------------------------


def brute_force(dist: np.ndarray) -> float:
    """Min over every start column and every run of column steps in {0, 1, 2}, divided by Tq."""
    tq, td = dist.shape
    best = math.inf
    for start in range(td):
        for steps in itertools.product((0, 1, 2), repeat=tq - 1):
            cols = start + np.cumsum((0, *steps))
            if cols[-1] < td:
                best = min(best, dist[np.arange(tq), cols].sum())
    return best / tq


@pytest.mark.parametrize("shape", [(1, 4), (3, 5), (4, 6), (5, 2), (6, 1), (2, 7)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_subsequence_dtw_matches_brute_force(shape, seed):
    dist = np.random.default_rng(seed).random(shape)
    assert subsequence_dtw(dist) == pytest.approx(brute_force(dist), abs=1e-12)


def test_subsequence_dtw_by_hand():
    # Row 0 takes the 0 at column 1; row 1 can move 2 columns to the 0 at column 3: cost 0.
    assert subsequence_dtw(np.array([[5.0, 0, 5, 5], [5, 5, 5, 0]])) == 0.0
    # The zeros are 4 columns apart and one step moves at most 2, so one 5 must be paid: 5 / 2.
    assert subsequence_dtw(np.array([[0.0, 5, 5, 5, 5], [5, 5, 5, 5, 0]])) == 2.5
    # Step (1, 0): a one-column doc makes every query row use it: (1 + 2 + 3) / 3.
    assert subsequence_dtw(np.array([[1.0], [2.0], [3.0]])) == 2.0


def test_subsequence_dtw_rejects_empty():
    with pytest.raises(DataError, match=r"\(0, 3\)"):
        subsequence_dtw(np.zeros((0, 3)))


# --- scoring -----------------------------------------------------------------------------------


def random_feats(rng: np.random.Generator, frames: int, dim: int = 6) -> np.ndarray:
    return rng.standard_normal((frames, dim))


def test_planted_query_scores_zero_and_warps():
    rng = np.random.default_rng(0)
    query = random_feats(rng, 6)
    docs = {
        "exact": np.concatenate([random_feats(rng, 4), query, random_feats(rng, 3)]),
        # Every frame twice: the (1, 2) step skips the copies.
        "slow": np.concatenate([random_feats(rng, 2), np.repeat(query, 2, axis=0)]),
        # Every other frame: the (1, 0) step repeats a doc frame.
        "fast": np.concatenate([query[::2], random_feats(rng, 5)]),
        "other": random_feats(rng, 12),
    }
    raw = score_queries({"q": query}, docs, feature_normalization=False)
    # The exact and slowed copies give a path of zero distances: score -0.
    assert raw["q", "exact"] == 0.0 and raw["q", "slow"] == 0.0
    # At half speed, each odd query frame meets a neighbouring frame, so the cost is > 0.
    assert raw["q", "other"] < raw["q", "fast"] < 0.0


def test_short_query_scores_zero():
    rng = np.random.default_rng(1)
    docs = {"d1": random_feats(rng, 8), "d2": random_feats(rng, 8)}
    raw = score_queries({"short": random_feats(rng, 4), "long": random_feats(rng, 5)}, docs)
    assert raw["short", "d1"] == 0.0 and raw["short", "d2"] == 0.0
    assert raw["long", "d1"] < 0.0 and raw["long", "d2"] < 0.0


def test_feature_normalization_pools_queries_and_docs():
    rng = np.random.default_rng(2)
    queries = {"q": random_feats(rng, 5) * 3 + 1}
    docs = {"a": random_feats(rng, 9), "b": random_feats(rng, 7) - 2}
    frames = np.concatenate([queries["q"], docs["a"], docs["b"]])
    mean, std = frames.mean(0), frames.std(0)
    by_hand = score_queries(
        {"q": (queries["q"] - mean) / std},
        {k: (v - mean) / std for k, v in docs.items()},
        feature_normalization=False,
    )
    scores = score_queries(queries, docs)
    assert scores == pytest.approx(by_hand, abs=1e-12)
    assert scores != pytest.approx(score_queries(queries, docs, feature_normalization=False))


def test_znorm_per_query():
    z = znorm_per_query({("q", "a"): 1.0, ("q", "b"): 2.0, ("q", "c"): 3.0,
                         ("p", "a"): -4.0, ("p", "b"): -4.0})
    # mean 2, population std sqrt(2/3): z = -+1/sqrt(2/3) = -+1.2247...
    assert z[("q", "a")] == pytest.approx(-math.sqrt(1.5))
    assert z[("q", "b")] == 0.0
    assert z[("q", "c")] == pytest.approx(math.sqrt(1.5))
    # Constant scores (a short query) give z = 0, not NaN.
    assert z[("p", "a")] == 0.0 and z[("p", "b")] == 0.0


# --- metrics -----------------------------------------------------------------------------------

# q1: d1 3.0 (true), d2 2.0, d3 1.0 (true), d4 0.0.  T = 2, false docs = 2.
# q2: d1 2.5 (true), d2 1.5, d3 0.5, d4 -1.0.        T = 1, false docs = 3.
# q3 has no true doc: it is skipped, so its 10.0 is never a false alarm.
SCORES = {
    ("q1", "d1"): 3.0, ("q1", "d2"): 2.0, ("q1", "d3"): 1.0, ("q1", "d4"): 0.0,
    ("q2", "d1"): 2.5, ("q2", "d2"): 1.5, ("q2", "d3"): 0.5, ("q2", "d4"): -1.0,
    ("q3", "d1"): 10.0, ("q3", "d2"): 0.0, ("q3", "d3"): 0.0, ("q3", "d4"): 0.0,
}
TRUTH = {("q1", "d1"), ("q1", "d3"), ("q2", "d1")}


def test_map_by_hand():
    # q1: hits at ranks 1 and 3 -> (1/1 + 2/3) / 2 = 5/6. q2: hit at rank 1 -> 1.
    assert mean_average_precision(SCORES, TRUTH) == pytest.approx((5 / 6 + 1) / 2)
    # q2's true doc at rank 4 instead -> AP 1/4; MAP (5/6 + 1/4) / 2 = 13/24.
    assert mean_average_precision(SCORES, TRUTH - {("q2", "d1")} | {("q2", "d4")}) == (
        pytest.approx(13 / 24)
    )


def test_map_counts_ties_as_one_rank():
    # All four tied, one true: the only cut-off takes all 4 -> precision 1/4.
    tied = {("q", d): 0.0 for d in "abcd"}
    assert mean_average_precision(tied, {("q", "b")}) == pytest.approx(0.25)


def test_map_matches_sklearn_with_ties():
    # Scores rounded to one decimal so that many docs tie.
    rng = np.random.default_rng(4)
    scores, truth, expected = {}, set(), []
    for q in range(5):
        values = np.round(rng.random(20), 1)
        hits = rng.random(20) < 0.3
        hits[q] = True
        scores.update({(q, d): float(v) for d, v in enumerate(values)})
        truth.update((q, d) for d in np.flatnonzero(hits))
        expected.append(average_precision_score(hits, values))
    assert mean_average_precision(scores, truth) == pytest.approx(np.mean(expected), abs=1e-12)


def test_twv_curve_by_hand():
    # Q = 2 queries. A detected pair adds 1/(Q T_q) if true, -beta/(Q (N_q - T_q)) if false.
    # With beta = 1: q1 true +1/4, q1 false -1/4, q2 true +1/2, q2 false -1/6.
    # Pooled in descending order (q3 left out):
    #   3.0 q1 true  +1/4 -> 1/4      2.5 q2 true  +1/2 -> 3/4
    #   2.0 q1 false -1/4 -> 1/2      1.5 q2 false -1/6 -> 1/3
    #   1.0 q1 true  +1/4 -> 7/12     0.5 q2 false -1/6 -> 5/12
    #   0.0 q1 false -1/4 -> 1/6     -1.0 q2 false -1/6 -> 0
    # Check at 2.5: q1 P_miss 1/2, q2 P_miss 0, no false alarms: 1 - (1/2 + 0) / 2 = 3/4.
    # Check at -1.0: every P_miss 0, every P_FA 1: 1 - (0 + 1) = 0.
    thresholds, twv = twv_curve(SCORES, TRUTH, beta=1.0)
    np.testing.assert_array_equal(thresholds, [np.inf, 3.0, 2.5, 2.0, 1.5, 1.0, 0.5, 0.0, -1.0])
    np.testing.assert_allclose(twv, [0, 1 / 4, 3 / 4, 1 / 2, 1 / 3, 7 / 12, 5 / 12, 1 / 6, 0],
                               atol=1e-12)
    assert mtwv(SCORES, TRUTH, beta=1.0) == pytest.approx(3 / 4)


def test_twv_with_nist_beta():
    # beta = 999.9: one false alarm of q1 costs 999.9/4, so the best cut is still 2.5 (3/4).
    # Cutting at 2.0 instead gives 3/4 - 999.9/4 = -249.225.
    assert DEFAULT_BETA == 999.9
    assert mtwv(SCORES, TRUTH) == pytest.approx(3 / 4)
    assert twv_curve(SCORES, TRUTH)[1][3] == pytest.approx(-249.225)
    # Nothing detected gives 0, so MTWV never goes below it.
    assert mtwv({("q", "a"): 1.0, ("q", "b"): 2.0}, {("q", "a")}) == 0.0


def test_twv_tie_detects_both():
    # True and false tied at 1.0, beta = 0.5: the only cut takes both -> 1 - (0 + 0.5 * 1) = 0.5.
    # Splitting the tie would wrongly give 1.0.
    tied = {("q", "a"): 1.0, ("q", "b"): 1.0}
    _, twv = twv_curve(tied, {("q", "a")}, beta=0.5)
    np.testing.assert_allclose(twv, [0.0, 0.5])


def test_atwv_by_hand():
    # YES when score > 2.0 (strict, as s3prl): 3.0 and 2.5 -> 3/4 (beta = 1 as above).
    assert atwv(SCORES, TRUTH, beta=1.0) == pytest.approx(3 / 4)
    # Threshold 1.9 also takes q1's false 2.0 -> 1/2.
    assert atwv(SCORES, TRUTH, beta=1.0, threshold=1.9) == pytest.approx(1 / 2)
    # Threshold 2.5 is strict too: only 3.0 -> 1/4.
    assert atwv(SCORES, TRUTH, beta=1.0, threshold=2.5) == pytest.approx(1 / 4)


def test_all_true_query_has_no_false_alarm_term():
    # q's both docs are true (P_FA undefined, never used); p: true a, false b. Q = 2.
    # Cut at 1.0 detects q's both and p's a: 1 - (0 + 0) / 2 = 1.
    scores = {("q", "a"): 2.0, ("q", "b"): 1.0, ("p", "a"): 3.0, ("p", "b"): 0.0}
    assert mtwv(scores, {("q", "a"), ("q", "b"), ("p", "a")}) == pytest.approx(1.0)


# --- evaluate ----------------------------------------------------------------------------------


def test_evaluate_planted_queries():
    rng = np.random.default_rng(3)
    docs = {f"d{i}": random_feats(rng, 15) for i in range(8)}
    queries = {
        "q0": docs["d2"][3:10] + 0.05 * random_feats(rng, 7),
        "q1": docs["d5"][6:12] + 0.05 * random_feats(rng, 6),
        "short": docs["d7"][:4],
    }
    truth = {("q0", "d2"), ("q1", "d5"), ("short", "d7")}
    result = evaluate(queries, docs, truth)
    # q0 and q1 rank their doc first (AP 1). "short" scores 0 everywhere: all 8 docs tie, AP 1/8.
    assert result["map"] == pytest.approx((1 + 1 + 1 / 8) / 3)
    assert result["ap"] == pytest.approx({"q0": 1.0, "q1": 1.0, "short": 1 / 8})
    # The best cut takes q0's and q1's true docs and no false ones. "short" is all missed
    # (P_miss 1): TWV = 1 - (0 + 0 + 1) / 3 = 2/3.
    assert result["mtwv"] == pytest.approx(2 / 3)
    # The fixed z > 2 rule misses q0's doc: two other docs also score well for q0 and pull its
    # z to 1.97. Only q1's doc is a YES: ATWV = 1 - (1 + 0 + 1) / 3 = 1/3.
    z = znorm_per_query(score_queries(queries, docs))
    assert 1.9 < z["q0", "d2"] < 2.0 < z["q1", "d5"]
    assert result["atwv"] == pytest.approx(1 / 3)
    assert (result["num_queries"], result["num_docs"], result["beta"]) == (3, 8, DEFAULT_BETA)


# --- bad input ---------------------------------------------------------------------------------

DOCS = {"d1": np.ones((6, 3)), "d2": np.ones((6, 3))}


@pytest.mark.parametrize(
    "queries, docs, message",
    [
        ({}, DOCS, "no queries"),
        ({"q": np.ones((6, 3))}, {}, "no docs"),
        ({"q": np.ones((6, 3))}, {"d1": np.ones((6, 3)), "bad": np.ones((6, 4))},
         r"doc 'bad': feature dimension 4, but query 'q' has 3"),
        ({"q": np.ones((6, 3)), "r": np.ones((6, 2))}, DOCS, r"query 'r': feature dimension 2"),
        ({"q": np.full((6, 3), np.nan)}, DOCS, r"query 'q': non-finite"),
        ({"q": np.ones((6, 3))}, {"d1": np.array([[1.0, np.inf, 0.0]])}, r"doc 'd1': non-finite"),
        ({"q": np.ones(6)}, DOCS, r"query 'q': features must be \(T, D\)"),
        ({"q": np.ones((6, 3))}, {"empty": np.ones((0, 3))}, r"doc 'empty': no frames"),
    ],
)
def test_bad_features(queries, docs, message):
    with pytest.raises(DataError, match=message):
        score_queries(queries, docs)


def test_bad_truth():
    with pytest.raises(DataError, match=r"\('q1', 'd9'\)"):
        mean_average_precision(SCORES, TRUTH | {("q1", "d9")})
    with pytest.raises(DataError, match="no query has a true doc"):
        mtwv(SCORES, set())
