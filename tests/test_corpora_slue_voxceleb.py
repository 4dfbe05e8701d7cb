"""Tests for the SLUE-VoxCeleb data preparation and recipe, on a miniature corpus in the layout of
the real one (the three TSVs with their headers, a ``<mixed>`` row, a blind test TSV without
transcripts or labels, ``fine-tune_raw/``, ``dev_raw/``, ``test_raw/`` of FLAC files) and a
miniature VoxCeleb1 (``wav/<speaker>/<YouTube id>/<NNNNN>.wav`` of its dev and test archives), and
for the recipe's configs on tiny transformers checkpoints."""

import os
import shutil
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import pytest
import yaml
from helpers import (HF_CHECKPOINTS, ROOT, check_bad_corpus, corpus_fixtures, replace_once, run, run_corpus_recipe,
                     tiny_hf_checkpoints, train_step_on_tiny_checkpoint, write_sine, write_slue_corpus,
                     write_slue_tsv)

from espnet2_ext.corpora import slue_voxceleb
from espnet2_ext.corpora.common import NEIGHBOUR_DIR
from espnet2_ext.corpora.sentences import POLARITIES
from espnet2_ext.corpora.slue_metrics import score_sentiment
from espnet2_ext.kaldi_files import read_map
from espnet2_ext.recipe.datadir import validate

RECIPE = Path(__file__).resolve().parents[1] / "egs2" / "slue_voxceleb" / "asr1"
HEADER = ["id", "normalized_text", "speaker_id", "split", "sentiment", "start_second", "end_second"]
BLIND_HEADER = ["id", "speaker_id", "split", "start_second", "end_second"]  # no transcript, no label
SECONDS = 1.0  # each FLAC file

Row = Tuple[str, str, str, str, str, str]  # id, normalized_text, speaker_id, sentiment, start, end
V1, V2 = "id10059_229vKIGbxrI", "id10270_x_Ab-3kPq9Z"  # a YouTube id may hold "_" and "-"
TRAIN: List[Row] = [
    (f"{V1}_00002", "and i think that it was great", "id10059", "Positive", "0.25", "0.75"),
    (f"{V1}_00001", "well the  naïve answer is no", "id10059", "Neutral", "0", "1.0"),
    (f"{V1}_00010", "i was furious about it", "id10059", "Negative", "0.1", "0.9"),
    (f"{V2}_00003", "we shot it in two weeks", "id10270", "Neutral", "0.3", "1.04"),  # rounded end
    (f"{V2}_00004", "it was good and bad", "id10270", "<mixed>", "0.0", "0.5"),
]
DEV: List[Row] = [
    ("id10309_0cYFdtyWVds_00004", "it is a wonderful film", "id10309", "Positive", "0.2", "0.8"),
    ("id10309_0cYFdtyWVds_00005", "i do not know", "id10309", "Neutral", "0.1", "0.6"),
    # of train's video V1: with VoxCeleb1, between train's utterances and VoxCeleb1-only ones
    (f"{V1}_00011", "see you soon", "id10059", "Negative", "0.0", "1.0"),
]
TEST: List[Row] = [
    ("id10412_zZ9-a_1B2c3_00001", "", "id10412", "", "0.0", "1.0"),
    ("id10412_zZ9-a_1B2c3_00002", "", "id10412", "", "0.5", "1.0"),
]
SPLITS = {"train": ("fine-tune_raw", "slue-voxceleb_fine-tune.tsv", TRAIN),
          "devel": ("dev_raw", "slue-voxceleb_dev.tsv", DEV),
          "test": ("test_raw", "slue-voxceleb_test_blind.tsv", TEST)}
TRAIN_TSV, DEV_TSV, TEST_TSV = (source[1] for source in SPLITS.values())


def tsv_rows(rows: Sequence[Row], split: str) -> List[Dict[str, str]]:
    names = ["id", "normalized_text", "speaker_id", "sentiment", "start_second", "end_second"]
    return [{**dict(zip(names, row)), "split": split} for row in rows]


def write_corpus(root: Path) -> Path:
    """The miniature corpus: TSVs and one second of 16 kHz FLAC per utterance."""
    splits = [(folder, tsv, BLIND_HEADER if name == "test" else HEADER, tsv_rows(rows, folder.removesuffix("_raw")))
              for name, (folder, tsv, rows) in SPLITS.items()]
    return write_slue_corpus(root, splits, ".flac", int(16000 * SECONDS))


corpus, prepared = corpus_fixtures(write_corpus, slue_voxceleb.prepare)


def lines(path: Path) -> List[str]:
    return path.read_text(encoding="utf-8").splitlines()


def expected_train_dir(corpus: Path) -> Dict[str, List[str]]:
    """data/train, every line, untrimmed (ESPnet's data preparation): <mixed> is left out."""
    audio = corpus.resolve() / "fine-tune_raw"
    return {
        "wav.scp": [f"{V1}_00001 {audio}/{V1}_00001.flac", f"{V1}_00002 {audio}/{V1}_00002.flac",
                    f"{V1}_00010 {audio}/{V1}_00010.flac", f"{V2}_00003 {audio}/{V2}_00003.flac"],
        "text": [f"{V1}_00001 well the nave answer is no", f"{V1}_00002 and i think that it was great",
                 f"{V1}_00010 i was furious about it", f"{V2}_00003 we shot it in two weeks"],
        "text.sentiment": [f"{V1}_00001 Neutral", f"{V1}_00002 Positive", f"{V1}_00010 Negative",
                           f"{V2}_00003 Neutral"],
        "utt2spk": [f"{V1}_00001 id10059", f"{V1}_00002 id10059", f"{V1}_00010 id10059", f"{V2}_00003 id10270"],
        "spk2utt": [f"id10059 {V1}_00001 {V1}_00002 {V1}_00010", f"id10270 {V2}_00003"],
        # ranked by the trailing index within <speaker>_<video>, as a number
        "utt2rec": [f"{V1}_00001 {V1} 0", f"{V1}_00002 {V1} 1", f"{V1}_00010 {V1} 2", f"{V2}_00003 {V2} 0"],
    }


def test_data_dir_lines_untrimmed(prepared, corpus: Path) -> None:
    data, _ = prepared
    expected = expected_train_dir(corpus)
    assert sorted(p.name for p in (data / "train").iterdir()) == sorted(expected)
    assert {name: lines(data / "train" / name) for name in expected} == expected


def test_data_dir_lines_trimmed(corpus: Path, tmp_path: Path) -> None:
    """slue-toolkit's audio: a segments file cuts each utterance, wav.scp still names the corpus's
    file; back to untrimmed in the same place, the segments file goes."""
    slue_voxceleb.prepare(corpus, tmp_path, trim=True)
    expected = expected_train_dir(corpus)
    assert {name: lines(tmp_path / "train" / name) for name in expected} == expected
    assert lines(tmp_path / "train" / "segments") == [
        f"{V1}_00001 {V1}_00001 0.0 1.0", f"{V1}_00002 {V1}_00002 0.25 0.75",
        f"{V1}_00010 {V1}_00010 0.1 0.9", f"{V2}_00003 {V2}_00003 0.3 1.04"]
    assert lines(tmp_path / "test" / "segments") == [f"{TEST[0][0]} {TEST[0][0]} 0.0 1.0",
                                                     f"{TEST[1][0]} {TEST[1][0]} 0.5 1.0"]
    for split in SPLITS:
        assert validate(tmp_path / split)["utterances"] == len(read_map(tmp_path / split / "utt2spk"))
    slue_voxceleb.prepare(corpus, tmp_path)
    assert not list(tmp_path.glob("*/segments"))


def test_data_dirs_validate_with_their_audio(prepared, corpus: Path) -> None:
    data, _ = prepared
    for split, (folder, _, rows) in SPLITS.items():
        kept = [row for row in rows if row[3] != "<mixed>"]
        assert validate(data / split)["utterances"] == len(kept)
        assert read_map(data / split / "wav.scp")[kept[0][0]] == str(corpus.resolve() / folder / f"{kept[0][0]}.flac")


def test_blind_test_split_has_neither_transcripts_nor_labels(prepared) -> None:
    data, summaries = prepared
    assert sorted(p.name for p in (data / "test").iterdir()) == ["spk2utt", "utt2rec", "utt2spk", "wav.scp"]
    assert lines(data / "test" / "utt2rec") == [f"{TEST[0][0]} id10412_zZ9-a_1B2c3 0",
                                                f"{TEST[1][0]} id10412_zZ9-a_1B2c3 1"]
    assert not summaries["test"].transcribed and not summaries["test"].labels


def test_mixed_is_left_out_and_counted(prepared, corpus: Path, tmp_path: Path, caplog) -> None:
    data, summaries = prepared
    mixed = TRAIN[4][0]
    assert not [p for p in data.glob("*/*") if mixed in p.read_text()]
    train = summaries["train"]
    assert (train.utterances, train.mixed, train.with_neighbour, train.with_adjacent_index) == (4, 1, 3, 2)
    assert train.labels == {"Negative": 1, "Neutral": 2, "Positive": 1}
    caplog.set_level("INFO")
    slue_voxceleb.prepare(corpus, tmp_path)
    assert ("train: 4 utterances from slue-voxceleb_fine-tune.tsv (1 <mixed> left out); 3 have a "
            "neighbour in their video, 2 of them the previous or next index") in caplog.text
    assert "train: sentiment Negative 1, Neutral 2, Positive 1" in caplog.text
    assert "test: no sentiment labels in slue-voxceleb_test_blind.tsv: no text.sentiment" in caplog.text
    assert "test: no transcripts in slue-voxceleb_test_blind.tsv: no text" in caplog.text
    assert "audio: each utterance whole, untrimmed (ESPnet's" in caplog.text


def test_the_scorer_reads_the_labels_back(prepared) -> None:
    """text.sentiment holds the labels and casing that slue_metrics scores (mini_slue's too)."""
    data, _ = prepared
    assert slue_voxceleb.SENTIMENTS == POLARITIES
    ref = {**read_map(data / "train" / "text.sentiment"), **read_map(data / "devel" / "text.sentiment")}
    result = score_sentiment(ref, ref)
    assert (result["labels"], result["macro_f1"]) == (list(slue_voxceleb.SENTIMENTS), 100.0)


def test_labelled_test_tsv_replaces_the_blind_one(corpus: Path, tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    shutil.copytree(corpus, root)
    labelled = [(TEST[0][0], "thank you", "id10412", "Positive", "0.0", "1.0"),
                (TEST[1][0], "no comment", "id10412", "<mixed>", "0.5", "1.0")]
    write_slue_tsv(root / slue_voxceleb.LABELLED_TEST_TSV, HEADER, tsv_rows(labelled, "test"))
    slue_voxceleb.prepare(root, tmp_path / "data")
    assert lines(tmp_path / "data/test/text") == [f"{TEST[0][0]} thank you"]
    assert lines(tmp_path / "data/test/text.sentiment") == [f"{TEST[0][0]} Positive"]
    (root / slue_voxceleb.LABELLED_TEST_TSV).unlink()  # back to the blind TSV: its labels go
    slue_voxceleb.prepare(root, tmp_path / "data")
    assert not (tmp_path / "data/test/text").exists() and not (tmp_path / "data/test/text.sentiment").exists()


# ------------------------------------------------------------------------------ bad layouts


D0, D1 = DEV[0][0], DEV[1][0]
# The TSV reader's own errors (a field too few, a repeated id...) are those of slue_tsv, which
# tests/test_corpora_slue_voxpopuli.py checks; here, what this corpus adds.
AUDIO_1 = f"test_raw/{TEST[1][0]}.flac"
# case: (file of the corpus, its text to replace, the replacement or None to delete the file,
#        the error after "ERROR: <corpus>/"; {root}: the corpus, {resolved}: its resolved path)
BAD_LAYOUTS: Dict[str, Tuple[str, str, Optional[str], str]] = {
    "missing column": (DEV_TSV, "\tsentiment\t", "\tlabel\t", f"{DEV_TSV}:1: missing column 'sentiment' in "
                       "the header 'id normalized_text speaker_id split label start_second end_second'"),
    "missing column of the blind test": (TEST_TSV, "\tstart_second\t", "\tstart\t", f"{TEST_TSV}:1: missing column "
                                         "'start_second' in the header 'id speaker_id split start end_second'"),
    "missing TSV": (TEST_TSV, "", None, f"{TEST_TSV}: missing (expected in the extracted slue-voxceleb_v0.2_blind.zip)"),
    "id not matching the regex": (
        DEV_TSV, f"{D1}\t", "id10309_0cYFdtyWVd_00005\t",
        f"{DEV_TSV}:3: id 'id10309_0cYFdtyWVd_00005' is not <speaker>_<video>_<index>, VoxCeleb1's id<5 digits>/"
        "<11-character YouTube id>/<5 digits> flattened (e.g. id10059_229vKIGbxrI_00001)"),
    "audio missing": (AUDIO_1, "", None, f"{TEST_TSV}:3: audio of '{TEST[1][0]}' is missing: {{root}}/{AUDIO_1}"),
    "unknown label": (DEV_TSV, "\tNeutral\t", "\tneutral\t", f"{DEV_TSV}:3: unknown sentiment 'neutral' of "
                      f"'{D1}' (expected Negative, Neutral, Positive or <mixed>)"),
    "end after the audio": (DEV_TSV, "\t0.1\t0.6\n", "\t0.1\t1.5\n", f"{DEV_TSV}:3: segment 0.1-1.5 s of '{D1}' "
                            f"is outside its audio (1.000 s long): {{resolved}}/dev_raw/{D1}.flac"),
    "start after the audio": (DEV_TSV, "\t0.2\t0.8\n", "\t1.01\t1.03\n", f"{DEV_TSV}:2: segment 1.01-1.03 s of "
                              f"'{D0}' is outside its audio (1.000 s long): {{resolved}}/dev_raw/{D0}.flac"),
    "end not after start": (DEV_TSV, "\t0.1\t0.6\n", "\t0.6\t0.6\n", f"{DEV_TSV}:3: bad times for '{D1}': "
                            "start_second 0.6 must be >= 0 and < end_second 0.6"),
    "time not a number": (TEST_TSV, "\t0.5\t1.0\n", "\t0.5\tnan\n", f"{TEST_TSV}:3: start_second '0.5' and "
                          f"end_second 'nan' of '{TEST[1][0]}' must be numbers (seconds)"),
}


@pytest.mark.parametrize("case", BAD_LAYOUTS)
def test_bad_layout_stops_with_file_and_line(case: str, corpus: Path, tmp_path: Path, capsys) -> None:
    name, old, new, message = BAD_LAYOUTS[case]
    damage = (lambda r: (r / name).unlink()) if new is None else (lambda r: replace_once(r, name, old, new))
    check_bad_corpus(slue_voxceleb.main, corpus, tmp_path, capsys, damage, message)


# ------------------------------------------------------------------------------ VoxCeleb1: neighbours

VOX1_DEV, VOX1_TEST = "voxceleb1/vox1_dev", "voxceleb1/vox1_test"  # inside the corpus dir: check_bad_corpus copies it
T3 = "id10412_zZ9-a_1B2c3"  # test's video
# extraction -> <speaker>_<YouTube id> -> its wav/<speaker>/<YouTube id>/<NNNNN>.wav. Dev's video
# id10309_0cYFdtyWVds is in neither; OtherVideo1 is no video of SLUE's (never listed: its
# notes.txt would stop the preparation).
VOXCELEB1 = {
    VOX1_DEV: {V1: (1, 2, 3, 9, 10, 11, 12), V2: (1, 2, 3, 4, 5), "id10059_OtherVideo1": (1,)},
    VOX1_TEST: {T3: (1, 2, 3)},
}


def vox1_folder(video: str) -> Path:
    """``wav/<speaker>/<YouTube id>`` of ``<speaker>_<YouTube id>``."""
    speaker, youtube_id = video.split("_", 1)
    return Path("wav") / speaker / youtube_id


def write_voxceleb1(root: Path) -> Path:
    """The miniature VoxCeleb1, a 0.1 s tone per file, as its two archives extract."""
    for extraction, videos in VOXCELEB1.items():
        for video, indices in videos.items():
            folder = root / extraction / vox1_folder(video)
            folder.mkdir(parents=True)
            for index in indices:
                write_sine(folder / f"{index:05d}.wav", 1600)
    (root / VOX1_DEV / vox1_folder("id10059_OtherVideo1") / "notes.txt").write_text("never read\n")
    return root


@pytest.fixture(scope="module")
def corpus_and_voxceleb1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_voxceleb1(write_corpus(tmp_path_factory.mktemp("corpus_and_voxceleb1")))


def vox1_dirs(root: Path) -> List[Path]:
    return [root / VOX1_DEV, root / VOX1_TEST]


@pytest.fixture(scope="module")
def with_voxceleb1(corpus_and_voxceleb1: Path, tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("data_with_voxceleb1")
    return data, slue_voxceleb.prepare(corpus_and_voxceleb1, data, voxceleb1_dirs=vox1_dirs(corpus_and_voxceleb1))


def neighbour_ranks(data: Path, split: str) -> Dict[str, str]:
    return read_map(data / split / NEIGHBOUR_DIR / "utt2rec")


def test_voxceleb1_ranks_all_utterances_of_a_video(with_voxceleb1) -> None:
    data, _ = with_voxceleb1
    # V1 is 1 2 3 9 10 11 12 in VoxCeleb1, V2 1..5 (00004: the <mixed> row, ranked all the same)
    assert read_map(data / "train" / "utt2rec") == {f"{V1}_00001": f"{V1} 0", f"{V1}_00002": f"{V1} 1",
                                                    f"{V1}_00010": f"{V1} 4", f"{V2}_00003": f"{V2} 2"}
    # dev's id10309 video is in no VoxCeleb1 dir: ranked among SLUE's utterances
    assert read_map(data / "devel" / "utt2rec") == {D0: "id10309_0cYFdtyWVds 0", D1: "id10309_0cYFdtyWVds 1",
                                                    f"{V1}_00011": f"{V1} 5"}
    assert read_map(data / "test" / "utt2rec") == {TEST[0][0]: f"{T3} 0", TEST[1][0]: f"{T3} 1"}
    for split in SPLITS:  # one index space: never the same uttid or (video, rank) twice
        own, neighbours = read_map(data / split / "utt2rec"), neighbour_ranks(data, split)
        assert not own.keys() & neighbours.keys() and not set(own.values()) & set(neighbours.values())


def test_neighbours_are_the_adjacent_utterances_in_no_slue_split(with_voxceleb1, corpus_and_voxceleb1: Path) -> None:
    data, summaries = with_voxceleb1
    # train: V1_00003 after 00002, V1_00009 before 00010, V2_00002 before 00003; not V1_00011
    # after 00010 (devel's), nor V2_00004 after V2_00003 (a <mixed> row of train's TSV)
    assert neighbour_ranks(data, "train") == {f"{V1}_00003": f"{V1} 2", f"{V1}_00009": f"{V1} 3",
                                              f"{V2}_00002": f"{V2} 1"}
    assert neighbour_ranks(data, "devel") == {f"{V1}_00012": f"{V1} 6"}  # not train's 00010 before it
    assert neighbour_ranks(data, "test") == {f"{T3}_00003": f"{T3} 2"}
    neighbours = data / "train" / NEIGHBOUR_DIR
    assert sorted(p.name for p in neighbours.iterdir()) == ["spk2utt", "utt2rec", "utt2spk", "wav.scp"]  # no text
    assert read_map(neighbours / "utt2spk") == {f"{V1}_00003": "id10059", f"{V1}_00009": "id10059",
                                                f"{V2}_00002": "id10270"}
    assert read_map(neighbours / "wav.scp")[f"{V2}_00002"] == str(
        corpus_and_voxceleb1.resolve() / VOX1_DEV / vox1_folder(V2) / "00002.wav")
    for split in SPLITS:
        assert validate(data / split / NEIGHBOUR_DIR)["utterances"] == len(neighbour_ranks(data, split))
    assert [summaries[split].neighbours for split in SPLITS] == [3, 1, 1]


def test_span_2_whole_files_when_trimmed(corpus_and_voxceleb1: Path, tmp_path: Path) -> None:
    slue_voxceleb.prepare(corpus_and_voxceleb1, tmp_path, trim=True, voxceleb1_dirs=vox1_dirs(corpus_and_voxceleb1),
                          neighbour_span=2)
    # + V1_00012 (00010 + 2), V2_00001 and V2_00005 (V2_00003 -+ 2); still not V1_00011 nor V2_00004
    assert neighbour_ranks(tmp_path, "train") == {
        f"{V1}_00003": f"{V1} 2", f"{V1}_00009": f"{V1} 3", f"{V1}_00012": f"{V1} 6",
        f"{V2}_00001": f"{V2} 0", f"{V2}_00002": f"{V2} 1", f"{V2}_00005": f"{V2} 4"}
    assert (tmp_path / "train" / "segments").is_file()
    assert not (tmp_path / "train" / NEIGHBOUR_DIR / "segments").exists()  # whole files


def test_log_counts_neighbours_and_videos_missing_from_voxceleb1(corpus_and_voxceleb1: Path, tmp_path: Path,
                                                                  caplog) -> None:
    caplog.set_level("INFO")
    summaries = slue_voxceleb.prepare(corpus_and_voxceleb1, tmp_path, voxceleb1_dirs=vox1_dirs(corpus_and_voxceleb1))
    # 15 files (not OtherVideo1's), 4 videos, id10309's missing; 8 of the 10 rows (<mixed> too) in VoxCeleb1
    assert (f"VoxCeleb1 ({corpus_and_voxceleb1 / VOX1_DEV}, {corpus_and_voxceleb1 / VOX1_TEST}): 15 files in the 4 "
            "videos of SLUE-VoxCeleb's utterances; 1 of these videos in no --voxceleb1_dir (their utterances ranked "
            "among SLUE's only); 8 of SLUE-VoxCeleb's 10 rows are in it") in caplog.text
    assert ("train: 2 of 4 utterances have their previous or next utterance in train, 4 once VoxCeleb1 is added; "
            "neighbours/ holds 3 utterances within +-1 ranks\n") in caplog.text
    assert "devel: 2 of 3 utterances have their previous or next utterance in devel, 3 once" in caplog.text
    train = summaries["train"]
    assert (train.next_to_own, train.next_to_any, train.neighbours) == (2, 4, 3)
    assert (train.with_neighbour, train.with_adjacent_index, train.mixed) == (3, 2, 1)  # SLUE's own, as without


def test_rerun_without_voxceleb1_removes_neighbours(corpus_and_voxceleb1: Path, tmp_path: Path) -> None:
    slue_voxceleb.prepare(corpus_and_voxceleb1, tmp_path, voxceleb1_dirs=vox1_dirs(corpus_and_voxceleb1))
    assert (tmp_path / "train" / NEIGHBOUR_DIR).is_dir()
    slue_voxceleb.prepare(corpus_and_voxceleb1, tmp_path)
    assert not any((tmp_path / split / NEIGHBOUR_DIR).exists() for split in SPLITS)
    assert read_map(tmp_path / "train" / "utt2rec")[f"{V1}_00010"] == f"{V1} 2"  # ranks within the split again


def main_with_voxceleb1(argv: List[str]) -> int:
    """The CLI given the VoxCeleb1 dirs that the corpus dir (``--corpus_dir``, argv[1]) holds."""
    return slue_voxceleb.main([*argv, "--voxceleb1_dir", *map(str, vox1_dirs(Path(argv[1])))])


V1_FOLDER = f"{VOX1_DEV}/{vox1_folder(V1)}"
BAD_VOXCELEB1: Dict[str, Tuple[Callable[[Path], None], str]] = {
    "file name not <5 digits>.wav": (
        lambda r: (r / V1_FOLDER / "00004.m4a").write_bytes(b""),
        f"{V1_FOLDER}/00004.m4a: not a VoxCeleb1 utterance (wav/<speaker>/<YouTube id>/<5 digits>.wav)"),
    "utterance in two dirs": (
        lambda r: shutil.copytree(r / VOX1_TEST / "wav", r / VOX1_DEV / "wav", dirs_exist_ok=True),
        f"{VOX1_TEST}/{vox1_folder(T3)}/00001.wav: also in {{root}}/{VOX1_DEV}/{vox1_folder(T3)}/00001.wav: the "
        "--voxceleb1_dir dirs overlap (give the dev and the test extraction, or one dir where both were merged)"),
    "no wav/": (
        lambda r: shutil.rmtree(r / VOX1_TEST / "wav"),
        f"{VOX1_TEST}: no wav/ in it (--voxceleb1_dir: where vox1_dev_wav.zip or vox1_test_wav.zip was extracted)"),
}


@pytest.mark.parametrize("case", BAD_VOXCELEB1)
def test_bad_voxceleb1_stops_with_the_path(case: str, corpus_and_voxceleb1: Path, tmp_path: Path, capsys) -> None:
    check_bad_corpus(main_with_voxceleb1, corpus_and_voxceleb1, tmp_path, capsys, *BAD_VOXCELEB1[case])


def test_data_sh_passes_voxceleb1_when_it_has_wav(corpus_and_voxceleb1: Path, tmp_path: Path) -> None:
    """local/data.sh with db.sh's VOXCELEB1 (its python3 a stub that writes its arguments)."""
    (tmp_path / "bin").mkdir()
    stub = tmp_path / "bin" / "python3"
    stub.write_text('#!/bin/sh\necho "$@" > "$ARGS"\n')
    stub.chmod(0o755)
    (tmp_path / "db.sh").symlink_to(ROOT / "egs2" / "TEMPLATE" / "asr1" / "db.sh")
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "ARGS": str(tmp_path / "args"), "SLUE_VOXCELEB": str(corpus_and_voxceleb1)}
    common = f"-m espnet2_ext.corpora.slue_voxceleb --corpus_dir {corpus_and_voxceleb1} --outdir data --trim false"
    for voxceleb1, passed, warning in [
        (str(corpus_and_voxceleb1 / VOX1_DEV), f" --voxceleb1_dir {corpus_and_voxceleb1 / VOX1_DEV}", ""),
        (str(corpus_and_voxceleb1), "", f"warning: no wav/ in VOXCELEB1={corpus_and_voxceleb1}"),
        ("", "", ""),
    ]:
        proc = run([str(RECIPE / "local" / "data.sh")], tmp_path, {**env, "VOXCELEB1": voxceleb1})
        assert (tmp_path / "args").read_text() == f"{common}{passed}\n"
        assert warning in proc.stderr and (warning or not proc.stderr)


# ------------------------------------------------------------------------------ the recipe


def test_recipe_stages_1_to_5_trimmed(corpus: Path, tmp_path: Path) -> None:
    """Both targets through ./run.sh, with slue-toolkit's trimming: stage 3 cuts the segments."""
    path = run_corpus_recipe(tmp_path, "slue_voxceleb", {"SLUE_VOXCELEB": str(corpus)},
                             ["--stage", "1", "--stop_stage", "5", "--nj", "1", "--ngpu", "0",
                              "--local_data_opts", "--trim true"])
    samples = read_map(path / "dump/raw/train/utt2num_samples")
    assert samples == {row[0]: str(round((min(float(row[5]), SECONDS) - float(row[4])) * 16000))
                       for row in TRAIN if row[3] != "<mixed>"}
    assert len(read_map(path / "dump/raw/devel/text.sentiment")) == len(DEV)
    assert not (path / "dump/raw/test").exists()  # the blind test set is not a --test_sets of run.sh
    assert lines(path / "data/token_list/sentiment_label/tokens.txt") == [*slue_voxceleb.SENTIMENTS, "<unk>"]
    assert "<space>" in lines(path / "data/token_list/asr_char/tokens.txt")


def test_recipe_help_prints_once() -> None:
    proc = run(["./run.sh", "--help"], RECIPE, dict(os.environ))
    assert proc.stdout.startswith("slue_voxceleb: SLUE-VoxCeleb")
    assert proc.stdout.count("Options (default):") == 1 and "--local_data_opts" in proc.stdout


# ------------------------------------------------------------------------------ the configs

CONFIGS = sorted((RECIPE / "conf/tuning").glob("train_*.yaml"))
TASK = {"asr": "asr", "sentiment": "cls"}


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    return tiny_hf_checkpoints(tmp_path_factory.mktemp("checkpoints"))


def test_every_checkpoint_has_an_asr_and_a_sentiment_config() -> None:
    assert [p.name for p in CONFIGS] == sorted(
        [f"train_asr_hf_{name}_ctc.yaml" for name in HF_CHECKPOINTS]
        + [f"train_sentiment_hf_{name}_meanpool.yaml" for name in HF_CHECKPOINTS])
    assert (RECIPE / "conf/train_asr.yaml").resolve().name == "train_asr_hf_hubert_base_ctc.yaml"
    assert (RECIPE / "conf/train_sentiment.yaml").resolve().name == "train_sentiment_hf_hubert_base_meanpool.yaml"


@pytest.mark.parametrize("config", [p for p in CONFIGS if p.name.startswith("train_asr_")], ids=lambda p: p.stem)
def test_asr_configs_are_slue_voxpopulis(config: Path) -> None:
    """slue-toolkit trains ASR on both corpora with one script: the options are the same."""
    sister = RECIPE.parents[1] / "slue_voxpopuli/asr1/conf/tuning" / config.name
    assert yaml.safe_load(config.read_text()) == yaml.safe_load(sister.read_text())


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_config_trains_a_step_on_its_checkpoint_type(config: Path, tiny_checkpoints, tmp_path: Path) -> None:
    """The config as shipped, with a tiny checkpoint of its type, trains one step (helpers); its
    budget and frozen updates are slue-toolkit's, and a sentiment model mean-pools the upstream."""
    task = TASK[config.name.split("_")[1]]
    args, model, scheduler = train_step_on_tiny_checkpoint(task, config, tiny_checkpoints, tmp_path)
    assert scheduler.max_steps * args.accum_grad == args.num_iters_per_epoch * args.max_epoch
    if task == "cls":
        assert (scheduler.max_steps, args.frontend_conf["freeze_steps"], args.batch_bins) == (50000, 2000, 1400000)
        assert (model.decoder.pooling, model.decoder.dropout.p, model.decoder.output_size()) == ("mean", 0.2, 3)
        assert args.optim_conf["lr"] == 2e-5 and args.best_model_criterion == [["valid", "acc", "max"]]
