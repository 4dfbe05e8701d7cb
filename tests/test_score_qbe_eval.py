"""End-to-end tests of the per-layer QbE evaluation with a tiny random upstream.

The documents are four eSpeak NG sentences in two recordings (a data dir with segments); the QbE
dirs are built by the corpus tool (keyword queries) or by hand (queries cut out of documents).
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet2_ext.corpora import mini_slue_qbe
from espnet2_ext.corpora.espeak import EspeakSynthesizer
from espnet2_ext.kaldi_files import read_map, write_map
from espnet2_ext.score import qbe_eval
from espnet2_ext.upstream.architectures import build_architecture
from espnet2_ext.upstream.checkpoints import export_upstream, upstream_config

FS = 16000
NUM_LAYERS = 2
SMALL = {"encoder_num_layers": NUM_LAYERS, "encoder_embed_dim": 64, "encoder_num_heads": 2,
         "encoder_ff_interm_features": 128, "encoder_pos_conv_groups": 4, "encoder_pos_conv_kernel": 16}
# recid -> (voice, sentences); "committee" is in two documents, so the tool finds one keyword.
RECORDINGS = {
    "test_r0000": ("en-us+m4", ["the committee approved the budget today",
                                "farmers planted wheat near the river"]),
    "test_r0001": ("en+benjamin", ["the committee will meet again tomorrow",
                                   "children played football near the school"]),
}
PAUSE = np.zeros(FS // 4, dtype=np.float32)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random upstream saved as a file, since ``weights`` must name one."""
    path = tmp_path_factory.mktemp("upstream") / "upstream.pth"
    model = build_architecture("tiny", **SMALL)
    export_upstream(model, upstream_config("random", "tiny", SMALL), path, {"source": "test"})
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mini_slue-like data dir: two recordings of two sentences each, with segments."""
    root = tmp_path_factory.mktemp("data")
    synthesizer = EspeakSynthesizer()
    text, segments, wav_scp, utt2spk, voices = {}, {}, {}, {}, {}
    for recid, (voice, sentences) in RECORDINGS.items():
        chunks, position = [PAUSE], len(PAUSE)
        for index, sentence in enumerate(sentences):
            audio = synthesizer.synthesize(sentence, voice, 130, 50, 50)
            uttid = f"{recid}_{index:03d}"
            text[uttid], utt2spk[uttid] = sentence, recid
            segments[uttid] = f"{recid} {position / FS:.4f} {(position + len(audio)) / FS:.4f}"
            chunks += [audio, PAUSE]
            position += len(audio) + len(PAUSE)
        wav_scp[recid] = str(root / f"{recid}.wav")
        soundfile.write(wav_scp[recid], np.concatenate(chunks), FS, subtype="PCM_16")
        voices[recid] = f"{voice} 130 50 50"
    for name, mapping in [("text", text), ("segments", segments), ("wav.scp", wav_scp),
                          ("utt2spk", utt2spk), ("spk2voice", voices)]:
        write_map(root / name, mapping)
    return root


def _evaluate(upstream: Path, qbe_dir: Path, out: Path) -> dict:
    assert qbe_eval.main(["--upstream", str(upstream), "--qbe_dir", str(qbe_dir), "--out", str(out)]) == 0
    return json.loads(out.read_text())


def _check_structure(result: dict, num_queries: int, num_docs: int) -> None:
    assert set(result) >= {"upstream", "beta", "layers", "best_layer_by_map", "num_queries", "num_docs"}
    assert list(result["layers"]) == [str(i) for i in range(1, NUM_LAYERS + 1)]
    for metrics in result["layers"].values():
        assert set(metrics) == {"map", "mtwv", "atwv", "ap"}
        assert metrics["map"] == pytest.approx(sum(metrics["ap"].values()) / len(metrics["ap"]))
        assert 0.0 < metrics["map"] <= 1.0 and 0.0 <= metrics["mtwv"] <= 1.0
        assert metrics["atwv"] <= metrics["mtwv"] + 1e-12  # MTWV is the best threshold's TWV
    best = result["best_layer_by_map"]
    assert result["layers"][best]["map"] == max(m["map"] for m in result["layers"].values())
    assert (result["num_queries"], result["num_docs"]) == (num_queries, num_docs)
    assert result["beta"] == pytest.approx(999.9)


def test_the_corpus_tools_dir_end_to_end(upstream: Path, data_dir: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    qbe_dir = tmp_path / "qbe"
    assert mini_slue_qbe.build(data_dir, qbe_dir, num_queries=5) == {"q000_committee": "committee"}
    result = _evaluate(upstream, qbe_dir, tmp_path / "out.json")
    _check_structure(result, 1, 4)
    assert result["upstream"] == str(upstream)
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["layer", "MAP", "MTWV", "ATWV"]
    assert "best layer by MAP" in table


def _cut_queries(data_dir: Path, qbe_dir: Path) -> None:
    """One query per document: its segment, cut out of the recording here and saved as a file."""
    (qbe_dir / "queries").mkdir(parents=True)
    shutil.copytree(data_dir, qbe_dir / "docs", ignore=shutil.ignore_patterns("utt2spk", "spk2voice"))
    wav_scp, truth = {}, []
    recordings = {rec: soundfile.read(path, dtype="float32")[0] for rec, path in read_map(data_dir / "wav.scp").items()}
    for uttid, value in read_map(data_dir / "segments").items():
        rec, start, end = value.split()
        wav_scp[f"cut_{uttid}"] = str(qbe_dir / "queries" / f"cut_{uttid}.wav")
        audio = recordings[rec][round(float(start) * FS): round(float(end) * FS)]
        soundfile.write(wav_scp[f"cut_{uttid}"], audio, FS, subtype="FLOAT")
        truth.append(f"cut_{uttid} {uttid}\n")
    write_map(qbe_dir / "queries" / "wav.scp", wav_scp)
    (qbe_dir / "truth").write_text("".join(truth))


def test_documents_are_cut_by_segments(data_dir: Path, tmp_path: Path) -> None:
    _cut_queries(data_dir, tmp_path / "qbe")
    queries = dict(qbe_eval.iter_audio(tmp_path / "qbe" / "queries" / "wav.scp", ["cut_test_r0001_001"]))
    doc_ids = list(read_map(data_dir / "text"))
    docs = dict(qbe_eval.iter_audio(data_dir / "wav.scp", doc_ids, data_dir / "segments"))
    assert list(docs) == doc_ids
    np.testing.assert_array_equal(docs["test_r0001_001"], queries["cut_test_r0001_001"])


def test_a_query_cut_from_a_document_finds_it_first(upstream: Path, data_dir: Path, tmp_path: Path) -> None:
    """A document's own audio, read from a file of its own, scores DTW cost 0 against the document
    (the same samples give the same features), so it ranks first at every layer: queries and
    documents are read, cut by ``segments`` and paired by id consistently.

    A random upstream cannot do more: a stretch cut out of a sentence gets other features than
    inside it (GroupNorm over the whole utterance, attention over all frames), and random features
    do not tell words apart, so a partial cut finds its document only by chance.
    """
    _cut_queries(data_dir, tmp_path / "qbe")
    result = _evaluate(upstream, tmp_path / "qbe", tmp_path / "out.json")
    _check_structure(result, 4, 4)
    for layer, metrics in result["layers"].items():
        # MAP 1 with one true doc per query: every query ranks its own document first.
        assert metrics["map"] == pytest.approx(1.0), layer


def test_clear_errors(upstream: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    qbe_dir = tmp_path / "qbe"
    _cut_queries(data_dir, qbe_dir)
    (qbe_dir / "truth").write_text("cut_test_r0000_000 test_r0000_000\ncut_test_r0000_000 nowhere\n")
    assert qbe_eval.main(["--upstream", str(upstream), "--qbe_dir", str(qbe_dir), "--out", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err.strip() == (
        f"ERROR: {qbe_dir / 'truth'}:2: unknown document 'nowhere' (not in docs/text)")

    (qbe_dir / "truth").write_text("cut_test_r0000_000 test_r0000_000\n")
    query = read_map(qbe_dir / "queries" / "wav.scp")["cut_test_r0000_001"]
    soundfile.write(query, np.zeros(4000, dtype=np.float32), 8000)
    assert qbe_eval.main(["--upstream", str(upstream), "--qbe_dir", str(qbe_dir), "--out", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err.strip() == f"ERROR: {query}: sample rate 8000 Hz; the upstream needs 16000 Hz"
    assert not (tmp_path / "o").exists()
