"""Tests for the QUESST 2014 data preparation and recipe, on a miniature corpus in the layout of the
real one (``Audio/``, ``{dev,eval}_queries/`` of 8 kHz wav files, ``scoring/`` with the language
key lists and the RTTM ground truth), a tiny random upstream, and a stand-in for QUESST's scorer."""

import json
import os
import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import numpy as np
import pytest
import soundfile
from helpers import SMALL_UPSTREAM, check_bad_corpus, copy_recipes, corpus_fixtures, replace_once, run, write_lines

from espnet2_ext.corpora import quesst14
from espnet2_ext.kaldi_files import read_map
from espnet2_ext.score.qbe import write_stdlist
from espnet2_ext.upstream.architectures import build_architecture
from espnet2_ext.upstream.checkpoints import export_upstream, upstream_config

RECIPE = Path(__file__).resolve().parents[1] / "egs2" / "quesst14" / "qbe1"
FS = 8000  # QUESST's rate
EN, CS = "nnenglish", "czech"
# folder -> (file id, language); the documents are shared by both splits
FILES: Dict[str, List[Tuple[str, str]]] = {
    "Audio": [("quesst14_00001", EN), ("quesst14_00002", EN), ("quesst14_00003", EN), ("quesst14_00004", EN),
              ("quesst14_00005", CS), ("quesst14_00006", CS)],
    "dev_queries": [("quesst14_dev_0001", EN), ("quesst14_dev_0002", EN), ("quesst14_dev_0003", CS)],
    "eval_queries": [("quesst14_eval_0001", EN), ("quesst14_eval_0002", CS)],
}
LISTS = {"Audio": "language_key_utterances.lst", "dev_queries": "language_key_dev.lst",
         "eval_queries": "language_key_eval.lst"}
# RTTM lines: LEXEME <doc> <channel> <start> <duration> <query> <stype> <name> <conf>
RTTM = {
    "dev": ["LEXEME quesst14_00001 1 0.10 0.25 quesst14_dev_0001 <NA> <NA> <NA>",
            "LEXEME quesst14_00003 1 0.20 0.25 quesst14_dev_0001 <NA> <NA> <NA>",
            "LEXEME quesst14_00002 1 0.05 0.25 quesst14_dev_0002 <NA> <NA> <NA>",
            "LEXEME quesst14_00005 1 0.15 0.25 quesst14_dev_0003 <NA> <NA> <NA>",
            "LEXEME quesst14_00004 1 0.00 0.50 NO_KEYWORD <NA> <NA> <NA>"],
    "eval": ["LEXEME quesst14_00004 1 0.10 0.25 quesst14_eval_0001 <NA> <NA> <NA>",
             "LEXEME quesst14_00001 1 0.20 0.25 quesst14_eval_0001 <NA> <NA> <NA>",
             "LEXEME quesst14_00006 1 0.15 0.25 quesst14_eval_0002 <NA> <NA> <NA>"],
}
# A stand-in for scoring/score-TWV-Cnxe.sh: run from scoring/ with <stdlist dir> <ground truth dir>
# -10, it prints the jar's result line with maxTWV 0.<terms in the stdlist><layer>.
FAKE_SCORER = """#!/bin/bash
[ -f "$1/benchmark.stdlist.xml" ] && [ -d "$2" ] && [ "$3" = -10 ] || { echo "bad arguments: $*"; exit 1; }
layer=$(basename "$1")
echo "actTWV: 0.01  maxTWV: 0.$(grep -c '<term ' "$1/benchmark.stdlist.xml")${layer#layer}  Threshold: 2.0"
"""


def write_corpus(root: Path) -> Path:
    """The miniature quesst14Database: tones of 0.5 s (documents) and 0.25 s (queries) at 8 kHz."""
    for folder, files in FILES.items():
        (root / folder).mkdir(parents=True)
        for index, (uttid, _) in enumerate(files):
            n = FS // 2 if folder == "Audio" else FS // 4
            tone = 0.3 * np.sin(np.arange(n) * 2 * np.pi * (300 + 50 * index) / FS)
            soundfile.write(root / folder / f"{uttid}.wav", tone, FS, subtype="PCM_16")
    (root / "scoring").mkdir()
    for folder, name in LISTS.items():
        write_lines(root / "scoring" / name, [f"quesst14Database/{folder}/{u}.wav {lang}" for u, lang in FILES[folder]])
    for split, lines in RTTM.items():
        (root / "scoring" / f"groundtruth_quesst14_{split}").mkdir()
        write_lines(root / "scoring" / f"groundtruth_quesst14_{split}" / f"quesst14_{split}.rttm", lines)
    return root


corpus, prepared = corpus_fixtures(write_corpus, quesst14.prepare)


def test_english_qbe_dirs(prepared, corpus: Path) -> None:
    data, counts = prepared
    audio = corpus.resolve() / "Audio"
    assert (data / "docs" / "wav.scp").read_text() == "".join(
        f"quesst14_0000{i} {audio}/quesst14_0000{i}.wav\n" for i in range(1, 5))
    assert (data / "docs" / "text").read_text() == "".join(f"quesst14_0000{i} nnenglish\n" for i in range(1, 5))
    assert (data / "dev" / "queries" / "wav.scp").read_text() == (
        f"quesst14_dev_0001 {corpus.resolve()}/dev_queries/quesst14_dev_0001.wav\n"
        f"quesst14_dev_0002 {corpus.resolve()}/dev_queries/quesst14_dev_0002.wav\n")
    assert (data / "eval" / "queries" / "text").read_text() == "quesst14_eval_0001 nnenglish\n"
    assert (data / "dev" / "truth").read_text() == ("quesst14_dev_0001 quesst14_00001\n"
                                                    "quesst14_dev_0001 quesst14_00003\n"
                                                    "quesst14_dev_0002 quesst14_00002\n")
    assert (data / "eval" / "truth").read_text() == ("quesst14_eval_0001 quesst14_00001\n"
                                                     "quesst14_eval_0001 quesst14_00004\n")
    for split in quesst14.SPLITS:  # each split is a whole QbE dir: its docs are the shared ones
        assert os.readlink(data / split / "docs") == "../docs"
        assert read_map(data / split / "docs" / "text") == read_map(data / "docs" / "text")
    assert counts == {"dev": {"queries": 2, "with_truth": 2, "docs": 4, "pairs": 3},
                      "eval": {"queries": 1, "with_truth": 1, "docs": 4, "pairs": 2}}


def test_all_languages(corpus: Path, tmp_path: Path) -> None:
    counts = quesst14.prepare(corpus, tmp_path, quesst14.ALL_LANGUAGES)
    assert len(read_map(tmp_path / "docs" / "wav.scp")) == 6
    assert read_map(tmp_path / "dev" / "queries" / "text")["quesst14_dev_0003"] == "czech"
    assert "quesst14_dev_0003 quesst14_00005\n" in (tmp_path / "dev" / "truth").read_text()
    assert counts["eval"] == {"queries": 2, "with_truth": 2, "docs": 6, "pairs": 3}


def test_a_language_without_documents_stops(corpus: Path, tmp_path: Path, capsys) -> None:
    assert quesst14.main(["--corpus_dir", str(corpus), "--outdir", str(tmp_path / "data"), "--language", "basque"]) == 1
    assert capsys.readouterr().err == (f"ERROR: {corpus}/scoring/language_key_utterances.lst: no document of "
                                       "language 'basque' (languages: czech, nnenglish, or all)\n")


def test_stdlist_is_s3prls_xml(tmp_path: Path) -> None:
    scores = {("q1", "d1"): 2.5, ("q1", "d2"): -0.25, ("q2", "d1"): 0.0, ("q2", "d2"): 2.0}
    write_stdlist(tmp_path / "benchmark.stdlist.xml", scores)
    assert (tmp_path / "benchmark.stdlist.xml").read_text() == """\
<?xml version='1.0' encoding='UTF-8'?>
<stdlist termlist_filename="benchmark.stdlist.xml" indexing_time="1.00" language="english" index_size="1" \
system_id="benchmark">
  <detected_termlist termid="q1" term_search_time="1.0" oov_term_count="1">
    <term file="d1" channel="1" tbeg="0.000" dur="0.00" score="2.5000" decision="YES"/>
    <term file="d2" channel="1" tbeg="0.000" dur="0.00" score="-0.2500" decision="NO"/>
  </detected_termlist>
  <detected_termlist termid="q2" term_search_time="1.0" oov_term_count="1">
    <term file="d1" channel="1" tbeg="0.000" dur="0.00" score="0.0000" decision="NO"/>
    <term file="d2" channel="1" tbeg="0.000" dur="0.00" score="2.0000" decision="NO"/>
  </detected_termlist>
</stdlist>
"""


# ------------------------------------------------------------------------------ bad layouts

UTTS, DEV_LST = "scoring/language_key_utterances.lst", "scoring/language_key_dev.lst"
DEV_RTTM = "scoring/groundtruth_quesst14_dev/quesst14_dev.rttm"
SHAPE = "expected 'LEXEME <document> <channel> <start> <duration> <query> ...'"
BAD_LAYOUTS: Dict[str, Tuple[Callable[[Path], None], str]] = {
    "missing Audio dir": (
        lambda r: shutil.rmtree(r / "Audio"),
        f"{UTTS}:1: audio of 'quesst14_00001' is missing: {{root}}/Audio/quesst14_00001.wav"),
    "missing ground truth dir": (
        lambda r: shutil.rmtree(r / "scoring" / "groundtruth_quesst14_eval"),
        "scoring/groundtruth_quesst14_eval/quesst14_eval.rttm: missing (expected in the extracted quesst14Database.tgz)"),
    "missing list": (
        lambda r: (r / DEV_LST).unlink(),
        f"{DEV_LST}: missing (expected in the extracted quesst14Database.tgz)"),
    "query without its file": (
        lambda r: (r / "dev_queries" / "quesst14_dev_0002.wav").unlink(),
        f"{DEV_LST}:2: audio of 'quesst14_dev_0002' is missing: {{root}}/dev_queries/quesst14_dev_0002.wav"),
    "list line without a language": (
        lambda r: replace_once(r, UTTS, "quesst14_00003.wav nnenglish", "quesst14_00003.wav"),
        f"{UTTS}:3: expected '<audio path> <language>', got 'quesst14Database/Audio/quesst14_00003.wav'"),
    "duplicate list line": (
        lambda r: replace_once(r, DEV_LST, "quesst14_dev_0002.wav", "quesst14_dev_0001.wav"),
        f"{DEV_LST}:2: duplicate id 'quesst14_dev_0001'"),
    "rttm line too short": (
        lambda r: replace_once(r, DEV_RTTM, "0.05 0.25 quesst14_dev_0002 <NA> <NA> <NA>", "0.05 0.25"),
        f"{DEV_RTTM}:3: {SHAPE}, got 'LEXEME quesst14_00002 1 0.05 0.25'"),
    "rttm time not a number": (
        lambda r: replace_once(r, DEV_RTTM, "1 0.20 0.25", "1 0.20 .25s"),
        f"{DEV_RTTM}:2: {SHAPE}, got 'LEXEME quesst14_00003 1 0.20 .25s quesst14_dev_0001 <NA> <NA> <NA>'"),
    "rttm unknown document": (
        lambda r: replace_once(r, DEV_RTTM, "LEXEME quesst14_00002", "LEXEME quesst14_00009"),
        f"{DEV_RTTM}:3: document 'quesst14_00009' is not in language_key_utterances.lst"),
    "rttm query of the other split": (
        lambda r: replace_once(r, DEV_RTTM, "quesst14_dev_0002", "quesst14_eval_0001"),
        f"{DEV_RTTM}:3: query 'quesst14_eval_0001' is not in language_key_dev.lst"),
}


@pytest.mark.parametrize("case", BAD_LAYOUTS)
def test_bad_layout_stops_with_file_and_line(case: str, corpus: Path, tmp_path: Path, capsys) -> None:
    check_bad_corpus(quesst14.main, corpus, tmp_path, capsys, *BAD_LAYOUTS[case])


# ------------------------------------------------------------------------------ the recipe

UPSTREAM = "downloads/tiny/upstream.pth"  # in the recipe copy
TAG = "downloads_tiny_upstream"


@pytest.fixture(scope="module")
def recipe(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, object]:
    """One run of stages 1-5 with the official scorer's stand-in (and perl/java stubs), then stage 5
    again with the project's MTWV once the scorer's logs are gone: the recipe dir and both RESULTS."""
    tmp = tmp_path_factory.mktemp("recipe")
    egs2, env = copy_recipes(tmp)
    path = egs2 / "quesst14" / "qbe1"
    model = build_architecture("tiny", **SMALL_UPSTREAM)
    export_upstream(model, upstream_config("random", "tiny", SMALL_UPSTREAM), path / UPSTREAM, {"source": "test"})
    root = tmp / "quesst14Database"
    shutil.copytree(corpus, root)
    (root / "scoring" / "score-TWV-Cnxe.sh").write_text(FAKE_SCORER)
    stubs = tmp / "bin"
    stubs.mkdir()
    for tool in ("perl", "java"):  # the real scorer needs both; the stand-in neither
        (stubs / tool).write_text("#!/bin/sh\nexit 0\n")
        (stubs / tool).chmod(0o755)
    env = {**env, "QUESST14": str(root), "PATH": f"{stubs}{os.pathsep}{env['PATH']}"}
    with open(path / "conf/qbe_dtw.conf", "a") as conf:  # stage 3 reads its options from the conf
        conf.write("--beta=500\n")
    run(["./run.sh", "--upstreams", UPSTREAM], path, env)
    official = (path / "RESULTS.md").read_text()
    for log in (path / "exp/qbe" / TAG).glob("*/layer*/scorer.log"):
        log.unlink()
    run(["./run.sh", "--stage", "5", "--scorer", "python"], path, env)
    return {"path": path, "official": official, "python": (path / "RESULTS.md").read_text()}


def test_recipe_formats_audio_to_16k(recipe) -> None:
    path = recipe["path"]
    wav_scp = read_map(path / "dump/dev/queries/wav.scp")
    assert list(wav_scp) == ["quesst14_dev_0001", "quesst14_dev_0002"]
    assert soundfile.info(path / wav_scp["quesst14_dev_0001"]).samplerate == 16000
    assert len(read_map(path / "dump/eval/docs/wav.scp")) == 4
    assert (path / "dump/eval/truth").read_text() == (path / "data/eval/truth").read_text()


def test_stage_3_takes_its_dtw_settings_from_the_conf(recipe) -> None:
    result = json.loads((recipe["path"] / "exp/qbe" / TAG / "dev.json").read_text())
    assert (result["method"], result["feature_normalization"], result["beta"]) == ("cosine_exp", True, 500)


def test_recipe_writes_a_stdlist_per_layer(recipe) -> None:
    split_dir = recipe["path"] / "exp/qbe" / TAG / "dev"
    layers = sorted(p.name for p in split_dir.glob("layer*"))
    assert layers == [f"layer{k}" for k in range(1, SMALL_UPSTREAM["encoder_num_layers"] + 1)]
    root = ElementTree.parse(split_dir / "layer1" / "benchmark.stdlist.xml").getroot()
    terms = {(t.get("termid"), term.get("file")) for t in root for term in t}
    assert terms == {(f"quesst14_dev_000{q}", f"quesst14_0000{d}") for q in (1, 2) for d in range(1, 5)}


def _table(results: str) -> List[List[str]]:
    rows = [line.strip("|").split("|") for line in results.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows]


def test_results_with_the_official_scorer(recipe) -> None:
    results = recipe["official"]
    header, *rows = _table(results)
    assert header == ["layer", "dev MAP", "dev MTWV", "dev ATWV", "dev official MTWV",
                      "eval MAP", "eval MTWV", "eval ATWV", "eval official MTWV"]
    # the stand-in's maxTWV: 0.<terms><layer>; dev has 2 queries x 4 docs, eval 1 x 4
    assert [(r[0], r[4], r[8]) for r in rows] == [("1", "0.8100", "0.4100"), ("2", "0.8200", "0.4200"),
                                                  ("3", "0.8300", "0.4300")]
    assert f"- upstream: `{UPSTREAM}`" in results
    assert "- 2 dev and 1 eval queries, 4 documents" in results
    assert "best layer on dev by MTWV, its eval MTWV): layer 3, eval MTWV 0.4300" in results


def test_results_with_the_projects_mtwv(recipe) -> None:
    results = recipe["python"]
    header, *rows = _table(results)
    assert header == ["layer", "dev MAP", "dev MTWV", "dev ATWV", "eval MAP", "eval MTWV", "eval ATWV"]
    assert [row[0] for row in rows] == ["1", "2", "3"]
    assert "the project's Python MTWV over the subset, beta 500" in results
    best = max(rows, key=lambda r: (float(r[2]), -int(r[0])))
    assert f"layer {best[0]}, eval MTWV {best[5]}" in results


def test_recipe_help_prints_once() -> None:
    proc = run(["./run.sh", "--help"], RECIPE, dict(os.environ))
    assert proc.stdout.startswith("quesst14: SUPERB's query-by-example task")
    assert proc.stdout.count("Options (default):") == 1 and "--upstreams" in proc.stdout
