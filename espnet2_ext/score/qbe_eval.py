"""Score every transformer layer of an upstream on a QbE-STD dir, as SUPERB's ``quesst14_dtw`` does.

SCORE (Meghanani & Hain 2024) claims its fine-tuning improves an upstream's content
representations, and measures that by query-by-example spoken term detection. SUPERB sweeps the
layers and reports the best one, so this tool extracts every transformer layer's output for each
query and each document once, then scores each layer with :func:`espnet2_ext.score.qbe.evaluate`
(subsequence DTW, per-query z-norm, file-level MAP / MTWV / ATWV).

The QbE dir is what :mod:`espnet2_ext.corpora.mini_slue_qbe` writes (``queries/wav.scp``,
``truth``, ``docs/{text,wav.scp[,segments]}``); a hand-made one works too. Audio must be 16 kHz
(what the upstreams were pretrained on); it is not resampled, so a wrong rate fails loudly.

CLI::

    python -m espnet2_ext.score.qbe_eval --upstream ../ssl1/pretrained/upstream.pth \\
        --qbe_dir qbe/test --out exp/qbe/upstream.json [--beta 999.9] [--method cosine_exp] \\
        [--stdlist_dir exp/qbe/stdlist]

The JSON: ``{"upstream", "qbe_dir", "beta", "method", "feature_normalization", "layers": {"1":
{"map", "mtwv", "atwv"}, ...}, "best_layer_by_map", "num_queries", "num_docs", "seconds":
{"features", "scoring", "total"}}``. Layer numbers start at 1 (the first transformer layer's
output), as in SUPERB's ``-l``. With ``--stdlist_dir``, each layer's scores are also written as
``<stdlist_dir>/layer<k>/benchmark.stdlist.xml``, the input of QUESST's own scorer
(:func:`espnet2_ext.score.qbe.write_stdlist`).
"""

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import soundfile

from espnet2_ext.audio import SAMPLE_RATE
from espnet2_ext.corpora.mini_slue_qbe import (
    read_lines,
    resolve_audio_path,
    search_bases,
)
from espnet2_ext.errors import DataError, at, cli_entry
from espnet2_ext.kaldi_files import iter_lines, replaced_atomically
from espnet2_ext.score.qbe import DEFAULT_BETA, METHODS, Pair, evaluate, write_stdlist
from espnet2_ext.upstream.features import layer_features, load_frontend
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend

_LOG = logging.getLogger(__name__)

# Per layer: utterance id -> (frames, dim) float32 features.
LayerFeatures = list[dict[str, np.ndarray]]


# --- audio ---------------------------------------------------------------------------------------


def read_audio(path: Path) -> np.ndarray:
    """Mono float32 samples of a 16 kHz file (channels averaged)."""
    try:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except RuntimeError as err:  # soundfile.LibsndfileError is one
        raise at(path, None, f"cannot read audio: {err}") from None
    if rate != SAMPLE_RATE:
        raise at(path, None, f"sample rate {rate} Hz; the upstream needs {SAMPLE_RATE} Hz")
    return samples.mean(axis=1)


def _scp_paths(scp: Path, keys: Sequence[str], asked_by: Path) -> dict[str, Path]:
    """Absolute audio paths of ``keys`` in ``scp`` (relative paths resolved as the corpus tool does)."""
    lines = read_lines(scp)
    bases = search_bases(scp.parent)
    missing = [key for key in keys if key not in lines]
    if missing:
        raise at(asked_by, None, f"'{missing[0]}' has no audio in {scp} ({len(missing)} missing)")
    return {key: resolve_audio_path(scp, lines[key][0], lines[key][1], bases) for key in keys}


def iter_audio(wav_scp: Path, ids: Sequence[str], segments: Path | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """``(id, samples)`` for each of ``ids``: whole files from ``wav_scp``, or, with ``segments``
    (``uttid recid start end`` in seconds), the spans cut from the recordings ``wav_scp`` lists.
    Each recording is read once when its segments are adjacent in ``ids`` (Kaldi's sorted order)."""
    if segments is None:
        for uttid, path in _scp_paths(wav_scp, ids, wav_scp).items():
            yield uttid, read_audio(path)
        return
    segment_lines = read_lines(segments)
    spans = {}
    for uttid in ids:
        if uttid not in segment_lines:
            raise at(segments, None, f"no segment for '{uttid}'")
        lineno, value = segment_lines[uttid]
        fields = value.split()
        try:
            recid, start, end = fields[0], float(fields[1]), float(fields[2])
        except (IndexError, ValueError):
            raise at(segments, lineno, f"expected 'uttid recid start end', got '{uttid} {value}'") from None
        spans[uttid] = (lineno, recid, start, end)
    paths = _scp_paths(wav_scp, sorted({span[1] for span in spans.values()}), segments)
    loaded: tuple[str | None, np.ndarray] = (None, np.zeros(0, dtype=np.float32))
    for uttid in ids:
        lineno, recid, start, end = spans[uttid]
        if loaded[0] != recid:
            loaded = (recid, read_audio(paths[recid]))
        audio = loaded[1]
        first, last = round(start * SAMPLE_RATE), round(end * SAMPLE_RATE)
        if not 0 <= first < last <= len(audio):
            raise at(segments, lineno, f"segment {start}-{end} s is outside '{recid}' "
                                       f"({len(audio) / SAMPLE_RATE:.3f} s long) or empty")
        yield uttid, audio[first:last]


# --- features ------------------------------------------------------------------------------------


def extract(frontend: SSLUpstreamFrontend, utterances: Iterator[tuple[str, np.ndarray]], kind: str,
            device: str = "cpu") -> LayerFeatures:
    """Per layer, ``id -> features`` of each utterance; an utterance too short for the CNN to
    give one frame is a DataError naming it."""
    per_layer: LayerFeatures = []
    for uttid, audio in utterances:
        outputs = layer_features(frontend, audio, device) if len(audio) else []
        if not outputs or len(outputs[0]) == 0:
            raise DataError(f"{kind} '{uttid}': {len(audio)} samples give no upstream frame")
        if not per_layer:
            per_layer = [{} for _ in outputs]
        for layer, feats in zip(per_layer, outputs, strict=True):
            layer[uttid] = feats
    return per_layer


# --- the QbE dir ---------------------------------------------------------------------------------


def read_truth(path: Path, queries: Sequence[str], docs: Sequence[str]) -> set[Pair]:
    """``(query id, doc id)`` pairs of a ``truth`` file; unknown ids are DataErrors naming the line."""
    if not path.is_file():
        raise at(path, None, "missing (lines 'query_id doc_uttid')")
    known_queries, known_docs = set(queries), set(docs)
    truth = set()
    for lineno, qid, did in iter_lines(path):
        if qid not in known_queries:
            raise at(path, lineno, f"unknown query '{qid}' (not in queries/wav.scp)")
        if did not in known_docs:
            raise at(path, lineno, f"unknown document '{did}' (not in docs/text)")
        truth.add((qid, did))
    return truth


def layer_metrics(queries: LayerFeatures, docs: LayerFeatures, truth: set[Pair], beta: float, method: str,
                  feature_normalization: bool, stdlist_dir: Path | None = None) -> dict[str, dict[str, float]]:
    """``{"1": {"map", "mtwv", "atwv", "ap"}, ...}``: :func:`evaluate` on each layer (``ap``: each
    query's AP, for paired comparisons); with ``stdlist_dir``, each layer's scores as a stdlist too."""
    if len(queries) != len(docs):
        raise DataError(f"queries have {len(queries)} layers but documents {len(docs)}")
    out = {}
    for index, (query_feats, doc_feats) in enumerate(zip(queries, docs, strict=True), start=1):
        started = time.time()
        result = evaluate(query_feats, doc_feats, truth, beta, method, feature_normalization)
        out[str(index)] = {key: result[key] for key in ("map", "mtwv", "atwv", "ap")}
        if stdlist_dir is not None:
            write_stdlist(stdlist_dir / f"layer{index}" / "benchmark.stdlist.xml", result["scores"])
        _LOG.info("layer %d scored in %.1f s: MAP %.4f, MTWV %.4f", index, time.time() - started,
                  result["map"], result["mtwv"])
    return out


def run(qbe_dir: Path, upstream: str, beta: float = DEFAULT_BETA, method: str = "cosine_exp",
        feature_normalization: bool = True, normalize_waveform: bool = False, device: str = "cpu",
        stdlist_dir: Path | None = None) -> dict:
    """Extract all layers of ``upstream`` for the QbE dir's queries and documents and score each
    (and write each layer's stdlist under ``stdlist_dir``, if given)."""
    if method not in METHODS:
        raise DataError(f"unknown distance method '{method}'; use one of {METHODS}")
    started = time.time()
    query_scp = qbe_dir / "queries" / "wav.scp"
    query_ids = list(read_lines(query_scp))
    doc_ids = list(read_lines(qbe_dir / "docs" / "text"))
    truth = read_truth(qbe_dir / "truth", query_ids, doc_ids)
    segments = qbe_dir / "docs" / "segments"
    frontend = load_frontend(upstream, normalize_waveform, device)
    query_feats = extract(frontend, iter_audio(query_scp, query_ids), "query", device)
    doc_feats = extract(frontend, iter_audio(qbe_dir / "docs" / "wav.scp", doc_ids,
                                             segments if segments.is_file() else None), "document", device)
    features_s = time.time() - started
    _LOG.info("features of %d queries and %d documents, %d layers: %.1f s",
              len(query_ids), len(doc_ids), len(doc_feats), features_s)
    layers = layer_metrics(query_feats, doc_feats, truth, beta, method, feature_normalization, stdlist_dir)
    total_s = time.time() - started
    return {
        "upstream": upstream,
        "qbe_dir": str(qbe_dir),
        "beta": beta,
        "method": method,
        "feature_normalization": feature_normalization,
        "layers": layers,
        # Ties go to the lower layer (cheaper to run).
        "best_layer_by_map": max(layers, key=lambda k: (layers[k]["map"], -int(k))),
        "num_queries": len(query_ids),
        "num_docs": len(doc_ids),
        "seconds": {"features": round(features_s, 2), "scoring": round(total_s - features_s, 2),
                    "total": round(total_s, 2)},
    }


def table(layers: Mapping[str, Mapping[str, float]]) -> str:
    """A plain-text table of the per-layer metrics."""
    lines = [f"{'layer':>5} {'MAP':>7} {'MTWV':>7} {'ATWV':>7}"]
    lines += [f"{k:>5} {v['map']:7.4f} {v['mtwv']:7.4f} {v['atwv']:7.4f}" for k, v in layers.items()]
    return "\n".join(lines)


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="QbE-STD (SUPERB quesst14_dtw style) of every transformer layer of an upstream: "
                    "file-level MAP, MTWV and ATWV per layer, as JSON.",
    )
    parser.add_argument("--upstream", required=True,
                        help="frontend_conf.weights value: an exported .pth, an ESPnet hubert_train checkpoint, "
                             "or a transformers directory")
    parser.add_argument("--qbe_dir", required=True, type=Path,
                        help="output of espnet2_ext.corpora.mini_slue_qbe (queries/, docs/, truth)")
    parser.add_argument("--out", required=True, type=Path, help="the JSON to write")
    parser.add_argument("--beta", type=float, default=DEFAULT_BETA,
                        help=f"TWV's false-alarm weight (default NIST STD 2006's {DEFAULT_BETA})")
    parser.add_argument("--method", choices=METHODS, default="cosine_exp",
                        help="frame distance (default cosine_exp, s3prl's)")
    parser.add_argument("--feature_normalization", action=argparse.BooleanOptionalAction, default=True,
                        help="z-norm each feature dimension over all queries and docs first (s3prl: yes)")
    parser.add_argument("--normalize_waveform", action="store_true",
                        help="zero-mean, unit-variance waveforms, as the upstream's frontend_conf may say")
    parser.add_argument("--device", default="cpu", help="torch device of the upstream (default cpu)")
    parser.add_argument("--stdlist_dir", type=Path,
                        help="also write each layer's scores as <dir>/layer<k>/benchmark.stdlist.xml "
                             "(NIST STD stdlist, the input of QUESST14's score-TWV-Cnxe.sh)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    result = run(args.qbe_dir, args.upstream, args.beta, args.method, args.feature_normalization,
                 args.normalize_waveform, args.device, args.stdlist_dir)
    with replaced_atomically(args.out) as tmp:
        tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(table(result["layers"]))
    print(f"best layer by MAP: {result['best_layer_by_map']}; {result['num_queries']} queries, "
          f"{result['num_docs']} documents, beta {result['beta']}, {result['seconds']['total']:.1f} s")
    _LOG.info("wrote %s in %.1f s", args.out, result["seconds"]["total"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
