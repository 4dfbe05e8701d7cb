"""Query-by-example spoken term detection (QbE-STD) scoring as SUPERB's ``quesst14_dtw`` does it.

s3prl (``downstream/quesst14_dtw/dtw_utils.py``) matches every query against every doc by
subsequence DTW on a frame-distance matrix and scores the pair by minus the normalised alignment
cost. Each query's scores are then z-normalised over the docs, and a pair counts as detected when
z > 2. The steps:

- optional per-dimension z-norm of the features, pooled over all queries and docs;
- distance ``exp(1 - cos) - 1`` ("cosine_exp") or ``1 - cos`` ("cosine");
- each query row of the distance matrix min-max normalised;
- dtw-python's "asymmetric" step pattern with ``open_begin=open_end=True``;
- queries shorter than 5 frames score 0 against every doc.

QUESST 2014 is scored at file level with NIST-style term-weighted value (TWV): MTWV is the best
TWV over all decision thresholds, and ATWV is the TWV at the system's own YES decisions.

Everything here is written by hand in numpy. s3prl calls dtw-python (GPL-3.0-or-later), and the
official TWV scorer is a script shipped inside the QUESST14 tarball. No maintained PyPI package
does subsequence DTW plus file-level MTWV without a GPL licence.
"""

from collections import defaultdict
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Optional
from xml.sax.saxutils import quoteattr

import numpy as np

from espnet2_ext.errors import DataError
from espnet2_ext.kaldi_files import replaced_atomically

# NIST STD 2006's beta: (C/V) * (1/P_target - 1) with C/V = 0.1 and P_target = 1e-4. It is a
# choice, not QUESST's own setting: QUESST's scoring script is not available offline.
DEFAULT_BETA = 999.9
MIN_QUERY_FRAMES = 5  # s3prl gives shorter queries score 0 against every doc
DECISION_Z = 2.0  # s3prl: YES when the per-query z-normalised score is > 2
_EPS = 1e-9  # s3prl's clamp for min-max ranges and standard deviations

METHODS = ("cosine", "cosine_exp")

Pair = tuple[Hashable, Hashable]


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown distance method {method!r}; use one of {METHODS}")


def minmax_norm(dist: np.ndarray) -> np.ndarray:
    """Min-max normalise each row of ``dist`` over the doc axis; a constant row becomes zeros."""
    low = dist.min(axis=1, keepdims=True)
    high = dist.max(axis=1, keepdims=True)
    # The clamp makes a constant row 0 / eps = 0, as s3prl does, instead of 0 / 0.
    return (dist - low) / np.maximum(high - low, _EPS)


def distance_matrix(
    query: np.ndarray, doc: np.ndarray, method: str = "cosine_exp", minmax: bool = True
) -> np.ndarray:
    """(Tq, Td) frame distances between ``query`` (Tq, D) and ``doc`` (Td, D).

    ``method`` is "cosine" (1 - cos) or "cosine_exp" (exp(1 - cos) - 1). ``minmax`` applies
    :func:`minmax_norm`, as s3prl's default config does. An all-zero frame has cosine 0 with every
    frame (distance 1) instead of scipy's NaN.
    """
    _check_method(method)
    q = query / np.maximum(np.linalg.norm(query, axis=1, keepdims=True), _EPS)
    d = doc / np.maximum(np.linalg.norm(doc, axis=1, keepdims=True), _EPS)
    # Clip rounding error, as scipy's cdist does, so that the distance stays in [0, 2].
    dist = np.clip(1.0 - q @ d.T, 0.0, 2.0)
    if method == "cosine_exp":
        dist = np.expm1(dist)
    return minmax_norm(dist) if minmax else dist


def subsequence_dtw(dist: np.ndarray) -> float:
    """Normalised cost of the best alignment of the whole query to any stretch of the doc.

    This is dtw-python's ``dtw(dist, step_pattern="asymmetric", open_begin=True, open_end=True)
    .normalizedDistance``. Every step moves one query frame (row) ahead and 0, 1 or 2 doc frames
    (columns) ahead, each with weight 1:
    g[i, j] = dist[i, j] + min(g[i-1, j], g[i-1, j-1], g[i-1, j-2]). With an open begin,
    g[0, j] = dist[0, j]. With an open end, the result is min_j g[Tq-1, j]. The "N"
    normalisation divides by the query length Tq.
    """
    dist = np.asarray(dist, dtype=np.float64)
    if dist.ndim != 2 or 0 in dist.shape:
        raise DataError(f"subsequence DTW needs a non-empty (Tq, Td) matrix, got {dist.shape}")
    cost = dist[0]
    for row in dist[1:]:
        best = cost.copy()
        best[1:] = np.minimum(best[1:], cost[:-1])
        best[2:] = np.minimum(best[2:], cost[:-2])
        cost = row + best
    return float(cost.min() / dist.shape[0])


def _checked(
    kind: str, key: Hashable, feats: np.ndarray, dim: Optional[int] = None, ref: str = ""
) -> np.ndarray:
    """``feats`` as float64 (T, D) with D == ``dim`` (if given), or a DataError naming ``key``."""
    arr = np.asarray(feats, dtype=np.float64)
    if arr.ndim != 2:
        raise DataError(f"{kind} {key!r}: features must be (T, D), got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise DataError(f"{kind} {key!r}: feature dimension {arr.shape[1]}, but {ref} has {dim}")
    if not np.isfinite(arr).all():
        raise DataError(f"{kind} {key!r}: non-finite features")
    if kind == "doc" and len(arr) == 0:
        raise DataError(f"doc {key!r}: no frames")
    return arr


def _validated(
    queries: Mapping[Hashable, np.ndarray], docs: Mapping[Hashable, np.ndarray]
) -> tuple[dict[Hashable, np.ndarray], dict[Hashable, np.ndarray]]:
    """Both sets as float64 arrays of one feature dimension (taken from the first query)."""
    if not queries:
        raise DataError("no queries to score")
    if not docs:
        raise DataError("no docs to search")
    first = next(iter(queries))
    dim = _checked("query", first, queries[first]).shape[1]
    ref = f"query {first!r}"
    return (
        {k: _checked("query", k, v, dim, ref) for k, v in queries.items()},
        {k: _checked("doc", k, v, dim, ref) for k, v in docs.items()},
    )


def _pooled_znorm(
    queries: dict[Hashable, np.ndarray], docs: dict[Hashable, np.ndarray]
) -> tuple[dict[Hashable, np.ndarray], dict[Hashable, np.ndarray]]:
    """Per-dimension z-norm with the mean and std of all query and doc frames pooled together.

    s3prl uses torch's unbiased std. Here it is the population std: the two differ by one factor
    common to every dimension, and cosine distance ignores that.
    """
    frames = np.concatenate([*queries.values(), *docs.values()])
    mean, std = frames.mean(axis=0), np.maximum(frames.std(axis=0), _EPS)
    return (
        {k: (v - mean) / std for k, v in queries.items()},
        {k: (v - mean) / std for k, v in docs.items()},
    )


def score_queries(
    queries: Mapping[Hashable, np.ndarray],
    docs: Mapping[Hashable, np.ndarray],
    method: str = "cosine_exp",
    feature_normalization: bool = True,
) -> dict[Pair, float]:
    """Raw score (minus the normalised subsequence-DTW cost) of every (query id, doc id) pair.

    Features are (T, D) arrays. Queries shorter than 5 frames score 0 against every doc. Use
    :func:`znorm_per_query` to get the scores that s3prl writes out and thresholds.
    """
    _check_method(method)  # before the loop: a set of short queries never reaches it
    queries, docs = _validated(queries, docs)
    if feature_normalization:
        queries, docs = _pooled_znorm(queries, docs)
    scores = {}
    for qid, query in queries.items():
        if len(query) < MIN_QUERY_FRAMES:
            scores.update({(qid, did): 0.0 for did in docs})
            continue
        for did, doc in docs.items():
            scores[qid, did] = -subsequence_dtw(distance_matrix(query, doc, method))
    return scores


def _by_query(scores: Mapping[Pair, float]) -> dict[Hashable, tuple[list[Hashable], np.ndarray]]:
    """qid -> (doc ids, their scores), in the order of ``scores``."""
    grouped: dict[Hashable, list[tuple[Hashable, float]]] = defaultdict(list)
    for (qid, did), score in scores.items():
        grouped[qid].append((did, score))
    return {
        qid: ([did for did, _ in pairs], np.array([s for _, s in pairs], dtype=np.float64))
        for qid, pairs in grouped.items()
    }


def znorm_per_query(scores: Mapping[Pair, float]) -> dict[Pair, float]:
    """Each query's scores z-normalised over its docs (population std; constant scores give 0)."""
    out = {}
    for qid, (dids, values) in _by_query(scores).items():
        z = (values - values.mean()) / max(values.std(), _EPS)
        out.update({(qid, did): float(v) for did, v in zip(dids, z, strict=True)})
    return out


def _labelled(
    scores: Mapping[Pair, float], truth: set[Pair]
) -> dict[Hashable, tuple[np.ndarray, np.ndarray]]:
    """Query id -> (scores, is-true flags), for each query that has at least one true doc."""
    unscored = sorted(map(repr, truth - scores.keys()))
    if unscored:
        raise DataError(f"ground truth pairs (query, doc) with no score: {', '.join(unscored[:5])}")
    labelled = {}
    for qid, (dids, values) in _by_query(scores).items():
        hits = np.array([(qid, did) in truth for did in dids])
        if hits.any():  # TWV and AP are undefined for a query with no true doc
            labelled[qid] = (values, hits)
    if not labelled:
        raise DataError("no query has a true doc in the ground truth")
    return labelled


def _average_precision(values: np.ndarray, hits: np.ndarray) -> float:
    """AP over the distinct score thresholds, so tied docs count as one rank (as sklearn does)."""
    order = np.argsort(-values, kind="stable")
    values, hits = values[order], hits[order]
    # The last index of each run of equal scores: the cut-offs a threshold can make.
    ends = np.flatnonzero(np.r_[values[1:] != values[:-1], True])
    found = np.cumsum(hits)[ends]
    precision = found / (ends + 1)
    recall_gain = np.diff(np.r_[0, found]) / hits.sum()
    return float((precision * recall_gain).sum())


def average_precisions(scores: Mapping[Pair, float], truth: set[Pair]) -> dict[Hashable, float]:
    """Query id -> AP of its doc ranking, for the queries with a true doc (what a paired
    comparison of two systems resamples)."""
    return {qid: _average_precision(v, h) for qid, (v, h) in _labelled(scores, truth).items()}


def mean_average_precision(scores: Mapping[Pair, float], truth: set[Pair]) -> float:
    """Mean over queries (those with a true doc) of the AP of their doc ranking."""
    return float(np.mean(list(average_precisions(scores, truth).values())))


def _twv_terms(
    scores: Mapping[Pair, float], truth: set[Pair], beta: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled scores and what each pair adds to TWV when it is detected.

    TWV = 1 - mean_q[1 - hit_q / T_q + beta * fa_q / (N_q - T_q)]
        = sum over detected pairs of 1 / (Q T_q) if true, else -beta / (Q (N_q - T_q)).
    Nothing detected gives TWV 0.
    """
    labelled = _labelled(scores, truth)
    n_queries = len(labelled)
    values, gains = [], []
    for vals, hits in labelled.values():
        n_true, n_false = hits.sum(), len(hits) - hits.sum()
        # A query whose docs are all true has no false pairs, so its P_FA term is never used.
        fa_cost = beta / (n_queries * n_false) if n_false else 0.0
        values.append(vals)
        gains.append(np.where(hits, 1.0 / (n_queries * n_true), -fa_cost))
    return np.concatenate(values), np.concatenate(gains)


def twv_curve(
    scores: Mapping[Pair, float], truth: set[Pair], beta: float = DEFAULT_BETA
) -> tuple[np.ndarray, np.ndarray]:
    """(thresholds, TWV) with YES when score >= threshold, thresholds descending.

    The first threshold is +inf (nothing detected, TWV 0); the others are the distinct scores.
    Queries with no true doc are left out. ``beta`` defaults to NIST STD 2006's 999.9, which is
    a choice (see :data:`DEFAULT_BETA`).
    """
    values, gains = _twv_terms(scores, truth, beta)
    order = np.argsort(-values, kind="stable")
    values, gains = values[order], gains[order]
    ends = np.flatnonzero(np.r_[values[1:] != values[:-1], True])
    # A threshold detects all the pairs tied at it, so only group ends are reachable.
    twv = np.cumsum(gains)[ends]
    return np.r_[np.inf, values[ends]], np.r_[0.0, twv]


def mtwv(scores: Mapping[Pair, float], truth: set[Pair], beta: float = DEFAULT_BETA) -> float:
    """Maximum TWV over all decision thresholds (never below 0: nothing detected is one)."""
    return float(twv_curve(scores, truth, beta)[1].max())


def atwv(
    scores: Mapping[Pair, float],
    truth: set[Pair],
    beta: float = DEFAULT_BETA,
    threshold: float = DECISION_Z,
) -> float:
    """TWV of the decisions YES when score > ``threshold`` (s3prl: z-normalised score > 2)."""
    values, gains = _twv_terms(scores, truth, beta)
    return float(gains[values > threshold].sum())


def write_stdlist(path: Path, scores: Mapping[Pair, float], threshold: float = DECISION_Z) -> None:
    """The file-level detections as a NIST STD 2006 ``stdlist`` XML, what QUESST's own scorer
    (``score-TWV-Cnxe.sh``) reads, in the form s3prl's quesst14_dtw writes it.

    One ``detected_termlist`` per query (``termid``: its id) and one ``term`` per doc (``file``:
    its id) with no time span (``tbeg`` 0.000, ``dur`` 0.00), the score to 4 decimals and the
    decision YES when score > ``threshold``. The header attributes are s3prl's constants. Written
    line by line: a QUESST layer has about 336,000 terms (English) to 7 million (all languages).
    """
    with replaced_atomically(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
        out.write("<?xml version='1.0' encoding='UTF-8'?>\n")
        out.write('<stdlist termlist_filename="benchmark.stdlist.xml" indexing_time="1.00" '
                  'language="english" index_size="1" system_id="benchmark">\n')
        for qid, (dids, values) in _by_query(scores).items():
            out.write(f'  <detected_termlist termid={quoteattr(str(qid))} term_search_time="1.0" '
                      'oov_term_count="1">\n')
            for did, score in zip(dids, values, strict=True):
                decision = "YES" if score > threshold else "NO"
                out.write(f'    <term file={quoteattr(str(did))} channel="1" tbeg="0.000" dur="0.00" '
                          f'score="{score:.4f}" decision="{decision}"/>\n')
            out.write("  </detected_termlist>\n")
        out.write("</stdlist>\n")


def evaluate(
    queries: Mapping[Hashable, np.ndarray],
    docs: Mapping[Hashable, np.ndarray],
    truth: set[Pair],
    beta: float = DEFAULT_BETA,
    method: str = "cosine_exp",
    feature_normalization: bool = True,
) -> dict[str, float]:
    """Score every (query, doc) pair as s3prl does and report file-level MAP, MTWV and ATWV,
    each query's AP (``ap``: query id -> AP) and the scores themselves (``scores``: (query id,
    doc id) -> z-normalised score, what :func:`write_stdlist` writes).

    The metrics use the per-query z-normalised scores. ``truth`` holds the (query id, doc id)
    pairs where the query occurs in the doc. ``beta`` is also returned, since TWV depends on it.
    """
    z = znorm_per_query(score_queries(queries, docs, method, feature_normalization))
    ap = average_precisions(z, truth)
    return {
        "map": float(np.mean(list(ap.values()))),
        "mtwv": mtwv(z, truth, beta),
        "atwv": atwv(z, truth, beta),
        "num_queries": len(queries),
        "num_docs": len(docs),
        "beta": beta,
        "ap": ap,
        "scores": z,
    }
