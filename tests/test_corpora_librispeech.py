"""Tests for the LibriSpeech and Libri-light limited data preparation (``espnet2_ext.corpora.librispeech``)
and the ``librispeech_100`` and ``librilight_limited`` recipes, on a miniature corpus in the layouts
of the real ones (``LibriSpeech/<split>/<speaker>/<chapter>/`` with FLAC files and an upper-case
``<speaker>-<chapter>.trans.txt``; ``librispeech_finetuning/{1h/{0..5}/{clean,other}, 9h/{clean,other}}``
in the same layout, their chapters partly in LibriSpeech's training splits, which give them
``neighbours/``), and for the recipes' configs, and the override commands their READMEs give,
on tiny transformers checkpoints."""

import filecmp
import os
import re
import shlex
import shutil
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import yaml
from espnet2.utils.yaml_no_alias_safe_dump import yaml_no_alias_safe_dump
from helpers import (check_bad_corpus, corpus_fixtures, replace_once, run, run_corpus_recipe, tiny_hf_checkpoints,
                     train_step_on_tiny_checkpoint, write_lines, write_sine)

from espnet2_ext.bin.effective_config import effective_config
from espnet2_ext.corpora import librispeech
from espnet2_ext.corpora.common import NEIGHBOUR_DIR
from espnet2_ext.kaldi_files import read_map
from espnet2_ext.recipe.datadir import validate

EGS = Path(__file__).resolve().parents[1] / "egs2"
RECIPES = {"librispeech_100": EGS / "librispeech_100/asr1", "librilight_limited": EGS / "librilight_limited/asr1"}
SAMPLES = 4000  # 0.25 s of 16 kHz audio per FLAC file

Chapters = Dict[str, Dict[int, str]]  # "<speaker>-<chapter>" -> {NNNN: transcript}
LIBRISPEECH: Dict[str, Chapters] = {
    "train-clean-100": {"19-198": {0: "NORTHANGER ABBEY", 1: "A CAT SAT", 2: "THE DOG RAN HOME"},
                        "26-495": {0: "IT WAS QUIET", 3: "GOOD MORNING"}},  # 0000 and 0003: no neighbour
    "dev-clean": {"1272-128104": {0: "MISTER QUILTER'S MANNER", 1: "NOR IS IT"}},
    "dev-other": {"116-288045": {0: "AS I APPROACHED THE CITY"}},
    "test-clean": {"1089-134686": {0: "HE HOPED THERE WOULD BE STEW", 1: "STUFF IT INTO YOU"}},
    "test-other": {"1688-142285": {0: "THERE'S IRON THEY SAY"}},
}
# Libri-light: an utterance in each 10-minute set, chapter 100-2000 spread over 1h/0/clean and
# 9h/clean (its 0005 and 0006), and in 9h a chapter of two consecutive utterances.
ONE_HOUR = [f"1h/{n}/{kind}" for n in range(6) for kind in ("clean", "other")]
WORDS = ["ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE", "TEN", "ELEVEN"]
LIBRILIGHT: Dict[str, Chapters] = {
    **{part: {f"{100 + i}-{2000 + i}": {5: f"PART {WORDS[i]}"}} for i, part in enumerate(ONE_HOUR)},
    "9h/clean": {"100-2000": {6: "THE NEXT ONE"}, "300-4000": {0: "FIRST", 1: "SECOND"}},
    "9h/other": {"301-4001": {7: "SEVENTH"}},
}


# The chapters of the Libri-light utterances in LibriSpeech's other training splits, which are not
# prepared as data dirs (only read for neighbours/): 100-2000 (0005 in 1h/0/clean, 0006 in 9h/clean)
# and 300-4000 in train-clean-360, 101-2001 (0005 in 1h/0/other) in train-other-500; the other
# chapters of Libri-light's in none (as if their splits were not downloaded).
LIBRISPEECH_TRAIN: Dict[str, Chapters] = {
    "train-clean-360": {"100-2000": {n: f"LINE {WORDS[n]}" for n in range(2, 10)},
                        "300-4000": {0: "FIRST", 1: "SECOND", 2: "THIRD"}},
    "train-other-500": {"101-2001": {n: f"LINE {WORDS[n]}" for n in range(3, 7)}},
}
TRAIN_SPLITS = ["train-clean-100", "train-clean-360", "train-other-500"]
LIBRILIGHT_SETS = ["train_10h", "train_1h", "train_10min"]


def ids(chapters: Chapters) -> List[str]:
    return [f"{chapter}-{n:04d}" for chapter, lines in chapters.items() for n in lines]


def write_chapters(source: Path, chapters: Chapters) -> None:
    for chapter, lines in chapters.items():
        folder = source.joinpath(*chapter.split("-"))
        folder.mkdir(parents=True, exist_ok=True)
        write_lines(folder / f"{chapter}.trans.txt", [f"{chapter}-{n:04d} {text}" for n, text in lines.items()])
        for n in lines:
            write_sine(folder / f"{chapter}-{n:04d}.flac", SAMPLES)


def write_corpus(root: Path) -> Path:
    """Both corpora in one directory, as db.sh's defaults put them (LIBRISPEECH = LIBRILIGHT_LIMITED)."""
    for split, chapters in {**LIBRISPEECH, **LIBRISPEECH_TRAIN}.items():
        write_chapters(root / "LibriSpeech" / split, chapters)
    for part, chapters in LIBRILIGHT.items():
        write_chapters(root / "librispeech_finetuning" / part, chapters)
    return root


def prepare_all(corpus: Path, data: Path, neighbour_splits: Tuple[str, ...] = tuple(TRAIN_SPLITS)
                ) -> Dict[str, librispeech.DataDirSummary]:
    return librispeech.prepare(corpus, data, list(LIBRISPEECH), librilight_dir=corpus, phonemes=True,
                               neighbour_splits=neighbour_splits)


corpus, prepared = corpus_fixtures(write_corpus, prepare_all)


def lines(path: Path) -> List[str]:
    return path.read_text(encoding="utf-8").splitlines()


# ------------------------------------------------------------------------------ data dirs


def test_librispeech_data_dir_lines(prepared, corpus: Path) -> None:
    """ESPnet's (Kaldi's) LibriSpeech files: upper-case text, per-chapter speakers; utt2rec is
    the chapter and NNNN; text.phn eSpeak NG's phonemes."""
    data, _ = prepared
    audio = corpus.resolve() / "LibriSpeech/train-clean-100"
    expected = {
        "wav.scp": [f"19-198-000{n} {audio}/19/198/19-198-000{n}.flac" for n in (0, 1, 2)]
                   + [f"26-495-000{n} {audio}/26/495/26-495-000{n}.flac" for n in (0, 3)],
        "text": ["19-198-0000 NORTHANGER ABBEY", "19-198-0001 A CAT SAT", "19-198-0002 THE DOG RAN HOME",
                 "26-495-0000 IT WAS QUIET", "26-495-0003 GOOD MORNING"],
        "text.phn": ["19-198-0000 n ɔːɹ θ æ ŋ ɚ ɹ æ b i", "19-198-0001 ɐ k æ t s æ t",
                     "19-198-0002 ð ə d ɑː ɡ ɹ æ n h oʊ m", "26-495-0000 ɪ t w ʌ z k w aɪə t",
                     "26-495-0003 ɡ ʊ d m ɔːɹ n ɪ ŋ"],
        "utt2spk": ["19-198-0000 19-198", "19-198-0001 19-198", "19-198-0002 19-198",
                    "26-495-0000 26-495", "26-495-0003 26-495"],
        "spk2utt": ["19-198 19-198-0000 19-198-0001 19-198-0002", "26-495 26-495-0000 26-495-0003"],
        "utt2rec": ["19-198-0000 19-198 0", "19-198-0001 19-198 1", "19-198-0002 19-198 2",
                    "26-495-0000 26-495 0", "26-495-0003 26-495 3"],
    }
    assert sorted(p.name for p in (data / "train_clean_100").iterdir()) == sorted(expected)
    assert {name: lines(data / "train_clean_100" / name) for name in expected} == expected


def test_dev_is_dev_clean_and_dev_other(prepared) -> None:
    """As ESPnet's recipes combine them; the test sets stay apart."""
    data, _ = prepared
    assert sorted(p.name for p in data.iterdir()) == sorted(
        ["train_clean_100", "dev_clean", "dev_other", "dev", "test_clean", "test_other",
         "train_10h", "train_1h", "train_10min"])
    for name in ("wav.scp", "text", "text.phn", "utt2spk", "utt2rec"):
        assert lines(data / "dev" / name) == lines(data / "dev_other" / name) + lines(data / "dev_clean" / name)
    assert lines(data / "dev" / "text")[0] == "116-288045-0000 AS I APPROACHED THE CITY"


def test_data_dirs_validate_with_their_audio(prepared) -> None:
    data, summaries = prepared
    for name, summary in summaries.items():
        assert validate(data / name)["utterances"] == summary.utterances


def test_librilight_subsets(prepared, corpus: Path) -> None:
    """10 min = 1h/0, 1 h = 1h/0..5, 10 h = those and 9h, clean and other; a chapter spread over
    two subsets is one recording of utt2rec, whose NNNN give the neighbours."""
    data, summaries = prepared
    ten_minutes = ids(LIBRILIGHT["1h/0/clean"]) + ids(LIBRILIGHT["1h/0/other"])
    one_hour = [uttid for part in ONE_HOUR for uttid in ids(LIBRILIGHT[part])]
    nine_hours = ids(LIBRILIGHT["9h/clean"]) + ids(LIBRILIGHT["9h/other"])
    assert list(read_map(data / "train_10min/text")) == sorted(ten_minutes)
    assert list(read_map(data / "train_1h/text")) == sorted(one_hour)
    assert list(read_map(data / "train_10h/text")) == sorted(one_hour + nine_hours)
    assert [line for line in lines(data / "train_10h/utt2rec") if line.startswith(("100-", "300-"))] == [
        "100-2000-0005 100-2000 5", "100-2000-0006 100-2000 6", "300-4000-0000 300-4000 0", "300-4000-0001 300-4000 1"]
    wav = read_map(data / "train_10h/wav.scp")
    root = corpus.resolve() / "librispeech_finetuning"
    assert (wav["100-2000-0005"], wav["100-2000-0006"]) == (f"{root}/1h/0/clean/100/2000/100-2000-0005.flac",
                                                            f"{root}/9h/clean/100/2000/100-2000-0006.flac")
    assert lines(data / "train_10h/text")[0] == "100-2000-0005 PART ZERO"
    assert [(summaries[f"train_{s}"].utterances, summaries[f"train_{s}"].with_neighbour)
            for s in ("10min", "1h", "10h")] == [(2, 0), (12, 0), (16, 4)]


def test_log_counts_utterances_and_neighbours(corpus: Path, tmp_path: Path, caplog) -> None:
    caplog.set_level("INFO")
    summaries = librispeech.prepare(corpus, tmp_path, ["train-clean-100"])
    assert (summaries["train_clean_100"].speakers, summaries["train_clean_100"].chapters) == (2, 2)
    assert ("train_clean_100: 5 utterances, 2 speakers, 2 chapters; 3 have the previous or next utterance of "
            "their chapter") in caplog.text
    assert list(summaries) == ["train_clean_100"] and "text.phn" not in caplog.text


def test_phonemes_off_removes_an_earlier_text_phn(corpus: Path, tmp_path: Path) -> None:
    librispeech.prepare(corpus, tmp_path, ["dev-other"], phonemes=True)
    assert lines(tmp_path / "dev_other/text.phn")
    librispeech.prepare(corpus, tmp_path, ["dev-other"])
    assert not (tmp_path / "dev_other/text.phn").exists()


# ------------------------------------------------------------------------------ neighbours/


def neighbour_lines(data: Path, name: str, file: str = "utt2rec") -> List[str]:
    return lines(data / name / NEIGHBOUR_DIR / file)


def test_librilight_neighbours_come_from_the_librispeech_chapter(prepared, corpus: Path) -> None:
    """±1 of each utterance in its LibriSpeech chapter (whichever split holds it), in the chapter's
    index space, written as the data dir writes its own; never an utterance of the data dir."""
    data, summaries = prepared
    assert neighbour_lines(data, "train_10min") == [
        "100-2000-0004 100-2000 4", "100-2000-0006 100-2000 6", "101-2001-0004 101-2001 4", "101-2001-0006 101-2001 6"]
    assert neighbour_lines(data, "train_10h") == [  # 100-2000-0006 is train_10h's own (9h/clean)
        "100-2000-0004 100-2000 4", "100-2000-0007 100-2000 7", "101-2001-0004 101-2001 4", "101-2001-0006 101-2001 6",
        "300-4000-0002 300-4000 2"]
    audio = corpus.resolve() / "LibriSpeech"
    assert neighbour_lines(data, "train_10min", "wav.scp")[::3] == [
        f"100-2000-0004 {audio}/train-clean-360/100/2000/100-2000-0004.flac",
        f"101-2001-0006 {audio}/train-other-500/101/2001/101-2001-0006.flac"]
    assert neighbour_lines(data, "train_10h", "text")[-1] == "300-4000-0002 THIRD"
    assert neighbour_lines(data, "train_10h", "spk2utt")[0] == "100-2000 100-2000-0004 100-2000-0007"
    assert sorted(p.name for p in (data / "train_10h" / NEIGHBOUR_DIR).iterdir()) == [
        "spk2utt", "text", "utt2rec", "utt2spk", "wav.scp"]  # no text.phn: not a target
    for name in LIBRILIGHT_SETS:
        own, added = read_map(data / name / "utt2rec"), read_map(data / name / NEIGHBOUR_DIR / "utt2rec")
        assert not set(own) & set(added) and not set(own.values()) & set(added.values())
        assert summaries[name].neighbours == len(added)
    assert [(summaries[name].with_neighbour, summaries[name].with_neighbour_added) for name in LIBRILIGHT_SETS] == [
        (4, 5), (0, 2), (0, 2)]


def test_neighbour_dirs_validate_and_only_librilight_has_them(prepared) -> None:
    """LibriSpeech's data dirs hold whole chapters: no neighbours/."""
    data, _ = prepared
    for name in LIBRILIGHT_SETS:
        neighbours = data / name / NEIGHBOUR_DIR
        assert validate(neighbours)["utterances"] == len(read_map(neighbours / "text"))
    assert sorted(p.parent.name for p in data.glob(f"*/{NEIGHBOUR_DIR}")) == sorted(LIBRILIGHT_SETS)


def test_neighbour_span_two(corpus: Path, tmp_path: Path) -> None:
    """--neighbour_span 2: ±2, where the chapter has them (101-2001 ends at 0006)."""
    assert librispeech.main(["--corpus_dir", str(corpus), "--outdir", str(tmp_path), "--splits", "dev-clean",
                             "--librilight_dir", str(corpus), "--librilight_subsets", "10min",
                             "--neighbour_splits", *TRAIN_SPLITS, "--neighbour_span", "2"]) == 0
    assert list(read_map(tmp_path / "train_10min" / NEIGHBOUR_DIR / "utt2rec")) == [
        "100-2000-0003", "100-2000-0004", "100-2000-0006", "100-2000-0007",
        "101-2001-0003", "101-2001-0004", "101-2001-0006"]


def test_chapter_in_no_split_is_counted(corpus: Path, tmp_path: Path, caplog) -> None:
    """Its neighbours stay missing; the log says how many chapters and what neighbours/ added."""
    caplog.set_level("INFO")
    summaries = librispeech.prepare(corpus, tmp_path, [], librilight_dir=corpus, librilight_subsets=["1h"],
                                    neighbour_splits=["train-clean-360"])
    assert (summaries["train_1h"].chapters_missing, summaries["train_1h"].not_in_release) == (11, 0)
    assert ("train_1h: 12 utterances, 12 speakers, 12 chapters; 0 have the previous or next utterance of their "
            "chapter, 1 with neighbours/ (2 utterances of train-clean-360; 11 chapters in none of these splits)"
            ) in caplog.text
    assert neighbour_lines(tmp_path, "train_1h") == ["100-2000-0004 100-2000 4", "100-2000-0006 100-2000 6"]


def test_utterance_missing_from_its_chapter_is_warned_of(tmp_path: Path, caplog) -> None:
    """A Libri-light id that its LibriSpeech chapter lacks (ids not LibriSpeech's) is no error."""
    root = tmp_path / "corpus"
    write_chapters(root / "librispeech_finetuning/1h/0/clean", {"100-2000": {1: "ONE"}})
    write_chapters(root / "librispeech_finetuning/1h/0/other", {"101-2001": {5: "FIVE"}})
    write_chapters(root / "LibriSpeech/train-clean-360", {"100-2000": {0: "ZERO", 2: "TWO"}})
    summaries = librispeech.prepare(root, tmp_path / "data", [], librilight_dir=root, librilight_subsets=["10min"],
                                    neighbour_splits=["train-clean-360"])
    assert (summaries["train_10min"].not_in_release, summaries["train_10min"].chapters_missing) == (1, 1)
    assert "train_10min: 1 utterances are not in their chapter in train-clean-360" in caplog.text
    assert neighbour_lines(tmp_path / "data", "train_10min") == ["100-2000-0000 100-2000 0", "100-2000-0002 100-2000 2"]


def test_without_neighbour_splits_nothing_else_changes(prepared, corpus: Path, tmp_path: Path) -> None:
    """Re-running without --neighbour_splits removes neighbours/ and leaves every other file as it was."""
    data, _ = prepared
    shutil.copytree(data, tmp_path / "data")
    prepare_all(corpus, tmp_path / "data", neighbour_splits=())
    assert not list((tmp_path / "data").glob(f"*/{NEIGHBOUR_DIR}"))
    for name in (p.name for p in data.iterdir()):
        files = sorted(p.name for p in (data / name).iterdir() if p.is_file())
        assert sorted(p.name for p in (tmp_path / "data" / name).iterdir()) == files
        assert filecmp.cmpfiles(data / name, tmp_path / "data" / name, files, shallow=False)[0] == files


# ------------------------------------------------------------------------------ bad layouts

TRANS = "LibriSpeech/train-clean-100/19/198/19-198.trans.txt"
CHAPTER = "LibriSpeech/train-clean-100/19/198"
NINE_HOURS = "librispeech_finetuning/9h/clean/300/4000/300-4000.trans.txt"
NEIGHBOUR_TRANS = "LibriSpeech/train-clean-360/100/2000/100-2000.trans.txt"
# case: (damage to the corpus, the error after "ERROR: <corpus>/"; {root}: the corpus)
BAD_LAYOUTS = {
    "id of another chapter": (lambda r: replace_once(r, TRANS, "19-198-0001 ", "19-199-0001 "),
                              f"{TRANS}:2: id '19-199-0001' is not 19-198-<NNNN> (its file 19-198.trans.txt names "
                              "the speaker and chapter; NNNN is 4 digits)"),
    "id of three digits": (lambda r: replace_once(r, NINE_HOURS, "300-4000-0001 ", "300-4000-001 "),
                           f"{NINE_HOURS}:2: id '300-4000-001' is not 300-4000-<NNNN> (its file 300-4000.trans.txt "
                           "names the speaker and chapter; NNNN is 4 digits)"),
    "audio missing": (lambda r: (r / CHAPTER / "19-198-0002.flac").unlink(),
                      f"{TRANS}:3: audio of '19-198-0002' is missing: {{root}}/{CHAPTER}/19-198-0002.flac"),
    "flac without a transcript line": (lambda r: replace_once(r, TRANS, "19-198-0001 A CAT SAT\n", ""),
                                       f"{CHAPTER}/19-198-0001.flac: no transcript line in {{root}}/{TRANS}"),
    "empty transcript": (lambda r: replace_once(r, TRANS, "19-198-0001 A CAT SAT", "19-198-0001 "),
                         f"{TRANS}:2: empty transcript for '19-198-0001'"),
    "duplicate id": (lambda r: replace_once(r, TRANS, "19-198-0002 THE", "19-198-0001 THE"),
                     f"{TRANS}:3: duplicate id '19-198-0001' (first at line 2)"),
    "not UTF-8": (lambda r: (r / TRANS).write_bytes((r / TRANS).read_bytes().replace(b"A CAT", b"A C\xffT")),
                  f"{TRANS}:2: not UTF-8 text (byte 0xff at column 16)"),
    "missing trans.txt": (lambda r: (r / "LibriSpeech/dev-clean/1272/128104/1272-128104.trans.txt").unlink(),
                          "LibriSpeech/dev-clean/1272/128104/1272-128104.trans.txt: missing (each "
                          "<speaker>/<chapter>/ directory has its <speaker>-<chapter>.trans.txt)"),
    "missing split": (lambda r: (r / "LibriSpeech/test-other").rename(r / "test-other"),
                      "LibriSpeech/test-other: missing (expected LibriSpeech/<split>/ of openslr.org/resources/12, "
                      "extracted)"),
    "split without utterances": (lambda r: (r / "LibriSpeech/test-other/1688/142285").rename(r / "142285"),
                                 "LibriSpeech/test-other: no utterances (expected <speaker>/<chapter>/ directories "
                                 "of flac files)"),
    "not a speaker directory": (lambda r: (r / "LibriSpeech/dev-clean/speakers").mkdir(),
                                "LibriSpeech/dev-clean/speakers: not a speaker directory (LibriSpeech's layout is "
                                "<speaker>/<chapter>/, numbers both)"),
    "missing Libri-light subset": (
        lambda r: (r / "librispeech_finetuning/1h/4/other").rename(r / "other"),
        "librispeech_finetuning/1h/4/other: missing (expected librispeech_finetuning/ of librispeech_finetuning.tgz, "
        "extracted)"),
    "an utterance in two subsets": (
        lambda r: write_chapters(r / "librispeech_finetuning/9h/other", {"100-2000": {5: "PART ZERO"}}),
        "librispeech_finetuning/9h/other/100/2000/100-2000.trans.txt:1: duplicate id '100-2000-0005' (also at "
        "{root}/librispeech_finetuning/1h/0/clean/100/2000/100-2000.trans.txt:1)"),
    "bad chapter of the neighbours": (
        lambda r: replace_once(r, NEIGHBOUR_TRANS, "100-2000-0004 ", "100-2000-004 "),
        f"{NEIGHBOUR_TRANS}:3: id '100-2000-004' is not 100-2000-<NNNN> (its file 100-2000.trans.txt names the "
        "speaker and chapter; NNNN is 4 digits)"),
    "missing neighbour split": (
        lambda r: (r / "LibriSpeech/train-other-500").rename(r / "train-other-500"),
        "LibriSpeech/train-other-500: missing (expected LibriSpeech/<split>/ of openslr.org/resources/12, "
        "extracted; --neighbour_splits)"),
}


def prepare_both(argv: List[str]) -> int:
    """The CLI on the miniature corpus: every LibriSpeech split, and Libri-light in the same dir with
    the neighbours from the training splits."""
    return librispeech.main([*argv, "--splits", *LIBRISPEECH, "--librilight_dir", argv[1],
                             "--neighbour_splits", *TRAIN_SPLITS])


@pytest.mark.parametrize("case", BAD_LAYOUTS)
def test_bad_layout_stops_with_file_and_line(case: str, corpus: Path, tmp_path: Path, capsys) -> None:
    check_bad_corpus(prepare_both, corpus, tmp_path, capsys, *BAD_LAYOUTS[case])


def test_corpus_dir_must_exist(tmp_path: Path, capsys) -> None:
    assert librispeech.main(["--corpus_dir", str(tmp_path / "none"), "--outdir", str(tmp_path / "data")]) == 1
    assert capsys.readouterr().err == f"ERROR: {tmp_path}/none: not a directory (--corpus_dir)\n"


# ------------------------------------------------------------------------------ the recipes


def test_librispeech_100_stages_1_to_5(corpus: Path, tmp_path: Path) -> None:
    """Both targets through ./run.sh: one dump, a character and a phoneme token list."""
    path = run_corpus_recipe(tmp_path, "librispeech_100", {"LIBRISPEECH": str(corpus)},
                             ["--stage", "1", "--stop_stage", "5", "--nj", "1", "--ngpu", "0"])
    for name, splits in {"train_clean_100": ["train-clean-100"], "dev": ["dev-clean", "dev-other"],
                         "test_clean": ["test-clean"], "test_other": ["test-other"]}.items():
        dumped = read_map(path / "dump/raw" / name / "text.phn")
        assert sorted(dumped) == sorted(uttid for split in splits for uttid in ids(LIBRISPEECH[split]))
    assert read_map(path / "dump/raw/train_clean_100/text.phn")["19-198-0001"] == "ɐ k æ t s æ t"
    assert {"A", "Y", "<space>"} <= set(lines(path / "data/token_list/asr_char/tokens.txt"))
    phones = lines(path / "data/token_list/phn_word/tokens.txt")
    assert {"æ", "ɚ", "ŋ", "aɪə"} <= set(phones) and not {"A", "<space>"} & set(phones)


def test_librilight_limited_stages_1_to_5(corpus: Path, tmp_path: Path) -> None:
    """train_10h is trained on; train_1h and train_10min are prepared for --train_set."""
    path = run_corpus_recipe(tmp_path, "librilight_limited",
                             {"LIBRISPEECH": str(corpus), "LIBRILIGHT_LIMITED": str(corpus)},
                             ["--stage", "1", "--stop_stage", "5", "--nj", "1", "--ngpu", "0"])
    assert len(read_map(path / "dump/raw/train_10h/wav.scp")) == 16
    assert [len(read_map(path / "data" / name / "utt2spk")) for name in ("train_1h", "train_10min")] == [12, 2]
    # data.sh passes the training splits that LIBRISPEECH holds as --neighbour_splits
    assert sorted(p.parent.name for p in (path / "data").glob(f"*/{NEIGHBOUR_DIR}")) == sorted(LIBRILIGHT_SETS)
    assert len(read_map(path / "data/train_10h" / NEIGHBOUR_DIR / "wav.scp")) == 5
    assert sorted(p.name for p in (path / "dump/raw").iterdir()) == ["dev", "org", "test_clean", "test_other",
                                                                      "train_10h"]
    assert {"A", "X", "<space>"} <= set(lines(path / "data/token_list/asr_char/tokens.txt"))


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_help_prints_once(recipe: str) -> None:
    proc = run(["./run.sh", "--help"], RECIPES[recipe], dict(os.environ))
    assert proc.stdout.startswith(f"{recipe}: ")
    assert proc.stdout.count("Options (default):") == 1 and "--local_data_opts" in proc.stdout


def test_db_sh_names_both_corpora() -> None:
    db = (EGS / "TEMPLATE/asr1/db.sh").read_text()
    assert "LIBRISPEECH=${LIBRISPEECH:-downloads}" in db and "LIBRILIGHT_LIMITED=${LIBRILIGHT_LIMITED:-downloads}" in db


# ------------------------------------------------------------------------------ the configs

CONFIGS = sorted(p for path in RECIPES.values() for p in (path / "conf/tuning").glob("train_*.yaml"))


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    return tiny_hf_checkpoints(tmp_path_factory.mktemp("checkpoints"))


def flat(conf, prefix: str = "") -> Dict[str, object]:
    if not isinstance(conf, dict):
        return {prefix[:-1]: conf}
    return {k: v for key, value in conf.items() for k, v in flat(value, f"{prefix}{key}.").items()}


def changed(config: Path, reference: Path) -> set:
    a, b = (flat(yaml.safe_load(p.read_text())) for p in (config, reference))
    return {k for k in set(a) | set(b) if a.get(k, object()) != b.get(k, object())}


def test_configs_per_recipe_and_their_defaults() -> None:
    checkpoints = ["hubert_base", "wav2vec2_base", "wavlm_large"]
    assert [p.name for p in CONFIGS if p.parts[-5] == "librilight_limited"] == [
        f"train_asr_hf_{name}_ctc.yaml" for name in checkpoints]
    early_exit = "train_asr_hf_wavlm_large_fastinf_early_exit_ctc.yaml"
    assert [p.name for p in CONFIGS if p.parts[-5] == "librispeech_100"] == sorted(
        [f"train_asr_hf_{name}_ctc.yaml" for name in checkpoints] + [early_exit])
    assert (RECIPES["librispeech_100"] / "conf/train_asr.yaml").resolve().name == "train_asr_hf_wavlm_large_ctc.yaml"
    assert (RECIPES["librilight_limited"] / "conf/train_asr.yaml").resolve().name == "train_asr_hf_hubert_base_ctc.yaml"


def test_configs_differ_from_their_default_only_in_what_their_name_says() -> None:
    """A Base config is the recipe's schedule with another checkpoint; early exit changes the head."""
    tuning = RECIPES["librispeech_100"] / "conf/tuning"
    default = tuning / "train_asr_hf_wavlm_large_ctc.yaml"
    for name in ("hubert_base", "wav2vec2_base"):
        assert changed(tuning / f"train_asr_hf_{name}_ctc.yaml", default) == {
            "frontend_conf.weights", "frontend_conf.normalize_waveform"}
    assert changed(tuning / "train_asr_hf_wavlm_large_fastinf_early_exit_ctc.yaml", default) == {
        "model", "model_conf.exit_criterion", "model_conf.exit_threshold", "encoder_conf.input_layer",
        "batch_size", "max_epoch"}
    tuning = RECIPES["librilight_limited"] / "conf/tuning"
    assert changed(tuning / "train_asr_hf_wav2vec2_base_ctc.yaml", tuning / "train_asr_hf_hubert_base_ctc.yaml") == {
        "frontend_conf.weights"}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: f"{p.parts[-5]}/{p.stem}")
def test_config_trains_a_step_on_its_checkpoint_type(config: Path, tiny_checkpoints, tmp_path: Path) -> None:
    """The config as shipped, with a tiny checkpoint of its type, trains one step (helpers); its
    schedule is the fast-inference paper's (librispeech_100) or fairseq's 10 h one (librilight_limited)."""
    args, model, scheduler = train_step_on_tiny_checkpoint("asr", config, tiny_checkpoints, tmp_path)
    if config.parts[-5] == "librispeech_100":
        assert (args.optim, args.optim_conf["lr"], args.batch_type, args.seed) == ("adam", 1e-4, "sorted", 1986)
        assert (scheduler.factor, scheduler.patience, scheduler.threshold) == (0.9, 0, 0.0025)  # NewBob
        early_exit = "early_exit" in config.name
        assert (args.batch_size, args.max_epoch) == ((2, 20) if early_exit else (6, 15))
        if early_exit:  # the upper half of the layers: 13-24 of WavLM Large, 2-3 of the tiny one
            assert list(model.exit_layers) == [2, 3]
    else:
        assert args.batch_bins * args.accum_grad == 25_600_000  # fairseq's samples per update
        assert scheduler.max_steps * args.accum_grad == args.num_iters_per_epoch * args.max_epoch
        assert args.frontend_conf["freeze_steps"] == 10000 * args.accum_grad  # 10k frozen updates
        layer_drop = args.frontend_conf["arch_conf"]["encoder_layer_drop"]
        assert model.frontend.upstream.encoder.transformer.layer_drop == layer_drop


def readme_commands(recipe: str) -> List[Tuple[str, Dict[str, str]]]:
    """The README's `./run.sh ... --train_args "..."` commands, as (text, {option: value})."""
    text = (RECIPES[recipe] / "README.md").read_text()
    commands = []
    for command in re.findall(r"`(\./run\.sh [^`]*--train_args [^`]*)`", text):
        words = shlex.split(command)
        assert len(words) % 2 == 1, command
        commands.append((command, dict(zip(words[1::2], words[2::2]))))
    return commands


README_COMMANDS = [(recipe, *command) for recipe in RECIPES for command in readme_commands(recipe)]


def test_the_readme_commands_were_read() -> None:
    tags = {opts.get("--tag") for recipe, _, opts in README_COMMANDS if recipe == "librispeech_100"}
    assert {"asr_train_asr_fastinf_sd2_ctc", "asr_train_asr_fastinf_cl3_ctc", "asr_train_asr_fastinf_av4_ctc",
            "asr_train_asr_fastinf_cl4_ups2_ctc", "asr_train_asr_fastinf_layers18_ctc"} <= tags
    assert len([1 for recipe, _, _ in README_COMMANDS if recipe == "librilight_limited"]) == 4


@pytest.mark.parametrize("recipe, command, opts", README_COMMANDS,
                         ids=[f"{r}:{o.get('--tag') or o['--target']}@{Path(o.get('--train_config', 'x')).stem}"
                              for r, _, o in README_COMMANDS])
def test_readme_command_builds_what_it_names(recipe: str, command: str, opts: Dict[str, str], tiny_checkpoints,
                                             tmp_path: Path, monkeypatch) -> None:
    """Each override resolves as training will (effective_config) to the system its tag or set
    names, and (but layer removal, which needs more layers than a tiny checkpoint) trains a step."""
    monkeypatch.chdir(RECIPES[recipe])
    config = Path(opts.get("--train_config", "conf/train_asr.yaml")).resolve()
    conf = effective_config("asr", ["--config", str(config), *opts["--train_args"].split()])
    tag = re.fullmatch(r"asr_train_asr_fastinf_(?:(sd|cl|av)(\d)(_ups2)?|layers(\d+))_ctc", opts.get("--tag", ""))
    if tag and tag[1]:  # a downsampler, its factor and maybe CTC upsampling x2
        frontend = conf["frontend_conf"]
        assert (frontend["downsample"], frontend["downsample_factor"]) == (tag[1], int(tag[2]))
        upsampling = (conf["postencoder"], conf["postencoder_conf"].get("factor"))
        assert upsampling == (("ctc_upsample", 2) if tag[3] else (None, None))
    elif tag:
        assert conf["frontend_conf"]["keep_layers"] == int(tag[4])
        return
    else:  # a smaller Libri-light set: fairseq's 13k updates
        assert opts["--target"] == f"asr_{opts['--train_set'].removeprefix('train_')}"
        updates = conf["scheduler_conf"]["max_steps"]
        assert updates == 13000 and updates * conf["accum_grad"] == conf["num_iters_per_epoch"] * conf["max_epoch"]
    effective = tmp_path / config.name  # named as the config: the helper picks its checkpoint type
    with open(effective, "w", encoding="utf-8") as f:
        yaml_no_alias_safe_dump(conf, f)
    train_step_on_tiny_checkpoint("asr", effective, tiny_checkpoints, tmp_path)
