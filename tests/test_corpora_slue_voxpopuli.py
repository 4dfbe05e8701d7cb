"""Tests for the SLUE-VoxPopuli data preparation and recipe, on a miniature corpus in the layout of
the real one (the three TSVs with their header, ``fine-tune/``, ``dev/``, ``test/`` of Ogg Vorbis
files) and a miniature of VoxPopuli's English ASR release (``transcribed_data/en/asr_*.tsv``,
``<year>/<id>.ogg``), and for the recipe's configs on tiny transformers checkpoints."""

import os
import shutil
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import pytest
import yaml
from helpers import (HF_CHECKPOINTS, check_bad_corpus, copy_recipes, corpus_fixtures, replace_once, run,
                     run_corpus_recipe, tiny_hf_checkpoints, train_step_on_tiny_checkpoint, write_sine,
                     write_slue_corpus, write_slue_tsv)

from espnet2_ext.context.data import read_segments
from espnet2_ext.corpora import slue_voxpopuli
from espnet2_ext.corpora.common import NEIGHBOUR_DIR
from espnet2_ext.corpora.slue_metrics import FILL, NER_TAGS, SEP, ner_words, parse_entities
from espnet2_ext.kaldi_files import read_map
from espnet2_ext.recipe.datadir import validate

RECIPE = Path(__file__).resolve().parents[1] / "egs2" / "slue_voxpopuli" / "asr1"
HEADER = ["id", "raw_text", "normalized_text", "speaker_id", "split", "raw_ner", "normalized_ner"]
BLIND_HEADER = HEADER[:5]  # the blind test TSV has no NER columns

S1, S2 = "20131007-0900-PLENARY-19-en", "20180313-0900-PLENARY-15-en"
S3, S4 = "20121022-0900-PLENARY-17-en", "20170405-0900-PLENARY-8-en"
A_TEXT = "this could be done by looking into the suggested fallback clause in article twenty one"
# The entities in ascending order, as a TSV may list them: rewriting "european commission" first
# would shift the offsets of the three after it.
B_TEXT = "the european commission met in brussels on the fourth of may. mr barroso agreed!"
D_TEXT = "the <unk> at the euro summit pleased the greek delegation?"


def ner(text: str, *entities: Tuple[str, str]) -> str:
    """The normalized_ner literal of ``(tag, phrase)`` entities of ``text``, in the given order."""
    return repr([[tag, text.index(phrase), len(phrase)] for tag, phrase in entities])


Row = Tuple[str, str, str, str]  # id, normalized_text, speaker_id, normalized_ner
TRAIN: List[Row] = [
    (f"{S1}_20131007-21:26:04_9", A_TEXT, "None", ner(A_TEXT, ("LAW", "article twenty one"))),
    (f"{S1}_20131007-21:26:04_10", B_TEXT, "1187",
     ner(B_TEXT, ("ORG", "european commission"), ("GPE", "brussels"), ("DATE", "the fourth of may"),
         ("PERSON", "barroso"))),
    (f"{S1}_20131007-21:20:00_12", "Thank you mister president; i will be brief.", "1187", "None"),
    (f"{S2}_20180313-11:26:05_3", D_TEXT, "4512", ner(D_TEXT, ("EVENT", "the euro summit"), ("NORP", "greek"))),
]
DEV: List[Row] = [
    (f"{S3}_20121022-19:02:11_0", "we voted for two amendments", "2231",
     ner("we voted for two amendments", ("CARDINAL", "two"))),
    (f"{S3}_20121022-19:02:11_1", "the vote will take place tomorrow", "2231", "[]"),
    # of train's session S1: with VoxPopuli's release, between train's segments and release-only ones
    (f"{S1}_20131007-21:26:04_11", "the next speaker is mister barroso", "1187", "None"),
]
TEST: List[Row] = [
    (f"{S4}_20170405-15:12:40_2", "the debate on the lisbon treaty is closed.", "990", ""),
    (f"{S4}_20170405-15:12:40_3", "the sitting is suspended", "None", ""),
]
SPLITS = {"train": ("fine-tune", "slue-voxpopuli_fine-tune.tsv", TRAIN),
          "devel": ("dev", "slue-voxpopuli_dev.tsv", DEV),
          "test": ("test", "slue-voxpopuli_test_blind.tsv", TEST)}


def tsv_rows(rows: Sequence[Row], split: str) -> List[Dict[str, str]]:
    """The columns of each row (raw_text: the text capitalised; raw_ner: none)."""
    return [dict(zip(HEADER, (segment_id, text.capitalize(), text, speaker, split, "[]", entities)))
            for segment_id, text, speaker, entities in rows]


def write_corpus(root: Path) -> Path:
    """The miniature corpus: TSVs and half a second of Ogg Vorbis per segment."""
    return write_slue_corpus(root, [(folder, tsv, BLIND_HEADER if name == "test" else HEADER, tsv_rows(rows, folder))
                                    for name, (folder, tsv, rows) in SPLITS.items()], ".ogg", 8000)


corpus, prepared = corpus_fixtures(write_corpus, slue_voxpopuli.prepare)


def uttid(row: Row) -> str:
    return f"{row[2]}_{row[0]}"


def test_transcripts_and_entity_markup(prepared) -> None:
    data, _ = prepared
    text, text_ner = read_map(data / "train" / "text"), read_map(data / "train" / "text.ner")
    a, b, c, d = (uttid(row) for row in TRAIN)
    assert a.startswith("None_") and set(text) == set(text_ner) == {a, b, c, d}
    assert text_ner[a] == ("this could be done by looking into the suggested fallback clause in "
                           "LAW FILL article twenty one SEP")
    assert text_ner[b] == ("the ORG FILL european commission SEP met in PLACE FILL brussels SEP "
                           "on WHEN FILL the fourth of may SEP mr PERSON FILL barroso SEP agreed")
    assert text[b] == "the european commission met in brussels on the fourth of may mr barroso agreed"
    assert text[c] == text_ner[c] == "thank you mister president i will be brief"
    # EVENT is not a SLUE type: its words stay, unmarked; <unk> is written unknown
    assert text_ner[d] == "the unknown at the euro summit pleased the NORP FILL greek SEP delegation"
    markup = {*NER_TAGS, FILL, SEP}
    for split in ("train", "devel"):  # text is text.ner without the markup
        text, text_ner = read_map(data / split / "text"), read_map(data / split / "text.ner")
        assert {u: " ".join(w for w in t.split() if w not in markup) for u, t in text_ner.items()} == text
    assert read_map(data / "devel" / "text.ner")[uttid(DEV[0])] == "we voted for QUANT FILL two SEP amendments"


def test_the_scorer_reads_the_entities_back(prepared) -> None:
    data, _ = prepared
    line = read_map(data / "train" / "text.ner")[uttid(TRAIN[1])]
    entities, problems = parse_entities(ner_words(line))
    assert entities == [("ORG", "european commission"), ("PLACE", "brussels"), ("WHEN", "the fourth of may"),
                        ("PERSON", "barroso")]
    assert not problems


def test_entity_order_in_the_annotation_does_not_matter() -> None:
    entities = slue_voxpopuli.parse_entities(TRAIN[1][3])
    marked = [slue_voxpopuli.mark_entities(B_TEXT, order, slue_voxpopuli.SplitSummary())
              for order in (entities, entities[::-1])]
    assert marked[0] == marked[1]


def test_blind_test_split_has_transcripts_but_no_ner(prepared) -> None:
    data, summaries = prepared
    assert read_map(data / "test" / "text") == {uttid(TEST[0]): "the debate on the lisbon treaty is closed",
                                                uttid(TEST[1]): "the sitting is suspended"}
    assert not (data / "test" / "text.ner").exists()
    assert not summaries["test"].kept and not summaries["test"].discarded


def test_utt2rec_ranks_segments_within_their_session(prepared) -> None:
    data, _ = prepared
    a, b, c, d = (uttid(row) for row in TRAIN)
    # (paragraph start, segment index) order, the index compared as a number (9 before 10)
    assert read_map(data / "train" / "utt2rec") == {c: f"{S1} 0", a: f"{S1} 1", b: f"{S1} 2", d: f"{S2} 0"}
    assert read_map(data / "devel" / "utt2rec") == {uttid(DEV[0]): f"{S3} 0", uttid(DEV[1]): f"{S3} 1",
                                                    uttid(DEV[2]): f"{S1} 0"}


def test_summary_counts_entities_and_neighbours(prepared) -> None:
    _, summaries = prepared
    train = summaries["train"]
    assert (train.utterances, train.with_neighbour, train.with_adjacent_segment) == (4, 3, 2)
    assert train.kept == {"LAW": 1, "ORG": 1, "PLACE": 1, "WHEN": 1, "PERSON": 1, "NORP": 1}
    assert train.discarded == {"EVENT": 1}
    assert (summaries["devel"].with_neighbour, summaries["test"].with_adjacent_segment) == (2, 2)


def test_data_dirs_validate_with_their_audio(prepared, corpus: Path) -> None:
    data, _ = prepared
    for split, (folder, _, rows) in SPLITS.items():
        assert validate(data / split)["utterances"] == len(rows)
        wav_scp = read_map(data / split / "wav.scp")
        assert wav_scp[uttid(rows[0])] == str(corpus.resolve() / folder / f"{rows[0][0]}.ogg")


def test_log_reports_the_counts_and_the_blind_test(corpus: Path, tmp_path: Path, caplog) -> None:
    caplog.set_level("INFO")
    slue_voxpopuli.prepare(corpus, tmp_path)
    assert "test: no NER labels in slue-voxpopuli_test_blind.tsv: no text.ner" in caplog.text
    assert ("train: entities kept: PLACE 1, ORG 1, WHEN 1, NORP 1, PERSON 1, LAW 1; "
            "discarded (types SLUE does not score): EVENT 1") in caplog.text
    assert "train: 4 utterances from slue-voxpopuli_fine-tune.tsv; 3 have a neighbour" in caplog.text


def test_labelled_test_tsv_replaces_the_blind_one(corpus: Path, tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    shutil.copytree(corpus, root)
    labelled = [(*TEST[0][:3], ner(TEST[0][1], ("LAW", "the lisbon treaty"))), (*TEST[1][:3], "None")]
    write_slue_tsv(root / slue_voxpopuli.LABELLED_TEST_TSV, HEADER, tsv_rows(labelled, "test"))
    slue_voxpopuli.prepare(root, tmp_path / "data")
    assert read_map(tmp_path / "data" / "test" / "text.ner") == {
        uttid(TEST[0]): "the debate on LAW FILL the lisbon treaty SEP is closed",
        uttid(TEST[1]): "the sitting is suspended"}
    (root / slue_voxpopuli.LABELLED_TEST_TSV).unlink()  # back to the blind TSV: its text.ner goes
    slue_voxpopuli.prepare(root, tmp_path / "data")
    assert not (tmp_path / "data" / "test" / "text.ner").exists()


# ------------------------------------------------------------------------------ bad layouts


TRAIN_TSV, DEV_TSV, TEST_TSV = (source[1] for source in SPLITS.values())
A_ID, B_ID = TRAIN[0][0], TRAIN[1][0]
BAD_LAYOUTS: Dict[str, Tuple[Callable[[Path], None], str]] = {
    "missing column": (
        lambda r: replace_once(r, TRAIN_TSV, "\tspeaker_id\t", "\tspeaker\t"),
        f"{TRAIN_TSV}:1: missing column 'speaker_id' in the header "
        "'id raw_text normalized_text speaker split raw_ner normalized_ner'"),
    "id not matching the regex": (
        lambda r: replace_once(r, DEV_TSV, "19:02:11_1", "19:02_1"),
        f"{DEV_TSV}:3: id '{S3}_20121022-19:02_1' is not <session>_<paragraph start>_<segment> "
        "(e.g. 20131007-0900-PLENARY-19-en_20131007-21:26:04_7)"),
    "audio missing": (
        lambda r: (r / "test" / f"{TEST[1][0]}.ogg").unlink(),
        f"{TEST_TSV}:3: audio of '{TEST[1][0]}' is missing: {{root}}/test/{TEST[1][0]}.ogg"),
    "entity outside the text": (
        lambda r: replace_once(r, TRAIN_TSV, "[['LAW', 68, 18]]", "[['LAW', 80, 18]]"),
        f"{TRAIN_TSV}:2: normalized_ner of '{A_ID}': entity ['LAW', 80, 18] spans characters 80-98, "
        "outside normalized_text (86 characters)"),
    "malformed literal": (
        lambda r: replace_once(r, TRAIN_TSV, "[['LAW', 68, 18]]", "[['LAW', 68, 18]"),
        f"{TRAIN_TSV}:2: normalized_ner of '{A_ID}': not a Python literal"),
    "entity without a length": (
        lambda r: replace_once(r, TRAIN_TSV, "[['LAW', 68, 18]]", "[['LAW', 68]]"),
        f"{TRAIN_TSV}:2: normalized_ner of '{A_ID}': ['LAW', 68] is not [TAG, start, length]"),
    "code instead of a literal": (
        lambda r: replace_once(r, TRAIN_TSV, "[['LAW', 68, 18]]", "__import__('os').getcwd()"),
        f"{TRAIN_TSV}:2: normalized_ner of '{A_ID}': not a Python literal"),
    "unknown tag": (
        lambda r: replace_once(r, TRAIN_TSV, "[['LAW', 68, 18]]", "[['CITY', 68, 18]]"),
        f"{TRAIN_TSV}:2: normalized_ner of '{A_ID}': unknown NER tag 'CITY' in ['CITY', 68, 18]"),
    "overlapping entities": (
        lambda r: replace_once(r, TRAIN_TSV, "['GPE', 31, 8]", "['GPE', 20, 8]"),
        f"{TRAIN_TSV}:3: normalized_ner of '{B_ID}': entities ['ORG', 4, 19] and ['GPE', 20, 8] overlap"),
    "a field too few": (
        lambda r: replace_once(r, DEV_TSV, "\t2231\tdev\t[]\t[]", "\t2231\tdev\t[]"),
        f"{DEV_TSV}:3: 6 tab-separated fields where the header has 7"),
    "duplicate id": (
        lambda r: replace_once(r, DEV_TSV, "19:02:11_1", "19:02:11_0"),
        f"{DEV_TSV}:3: duplicate id '{S3}_20121022-19:02:11_0' (first at line 2)"),
    "missing TSV": (
        lambda r: (r / DEV_TSV).unlink(),
        f"{DEV_TSV}: missing (expected in the extracted slue-voxpopuli_v0.2_blind.zip)"),
}


@pytest.mark.parametrize("case", BAD_LAYOUTS)
def test_bad_layout_stops_with_file_and_line(case: str, corpus: Path, tmp_path: Path, capsys) -> None:
    check_bad_corpus(slue_voxpopuli.main, corpus, tmp_path, capsys, *BAD_LAYOUTS[case])


# ------------------------------------------------------------------ VoxPopuli's release: neighbours

VOXPOPULI = "voxpopuli"  # the release's root, inside the corpus dir so that check_bad_corpus's copy has it
RELEASE = f"{VOXPOPULI}/{slue_voxpopuli.RELEASE_DIR}"
RELEASE_HEADER = ["id", "raw_text", "normalized_text", "speaker_id", "split", "gender", "is_gold_transcript", "accent"]
P1, P2 = f"{S1}_20131007-21:20:00", f"{S1}_20131007-21:26:04"  # two speech paragraphs of S1
S5 = "20150114-0900-PLENARY-3-en"  # a session SLUE has none of
ReleaseRow = Tuple[str, str, str]  # id, normalized_text, speaker_id


def slue_row(row: Row) -> ReleaseRow:
    return row[0], row[1], row[2]


RELEASE_ROWS: Dict[str, List[ReleaseRow]] = {
    "asr_train.tsv": [
        (f"{P1}_11", "Madam President.", "1187"),
        slue_row(TRAIN[2]),
        (f"{P1}_13", "", "1187"),  # no transcript: ranked, never a neighbour
        (f"{P2}_7", "ladies and gentlemen", "1187"),
        (f"{P2}_8", "first of all", "1187"),
        slue_row(TRAIN[0]), slue_row(TRAIN[1]), slue_row(TRAIN[3]),
        (f"{S2}_20180313-11:26:05_4", "we agree", ""),  # no speaker_id: None
        (f"{S5}_20150114-10:00:00_0", "another session", "77"),
    ],
    "asr_dev.tsv": [
        slue_row(DEV[2]),
        (f"{P2}_12", "thank you", "1187"),
        (f"{P2}_13", "far away", "1187"),
        slue_row(DEV[0]), slue_row(DEV[1]),
        (f"{S3}_20121022-19:02:11_2", "the vote is closed", "2231"),
    ],
    "asr_test.tsv": [
        (f"{S4}_20170405-15:12:40_1", "we resume the sitting", "990"), slue_row(TEST[0]), slue_row(TEST[1]),
    ],
}
# Session S1 in the order of the speech: its true ranks.
S1_ORDER = [f"{P1}_11", TRAIN[2][0], f"{P1}_13", f"{P2}_7", f"{P2}_8", TRAIN[0][0], TRAIN[1][0], DEV[2][0],
            f"{P2}_12", f"{P2}_13"]


def release_uttid(segment_id: str) -> str:
    (speaker,) = [row[2] or "None" for rows in RELEASE_ROWS.values() for row in rows if row[0] == segment_id]
    return f"{speaker}_{segment_id}"


def write_release(root: Path) -> Path:
    """The miniature release in get_asr_data's layout: the three TSVs and an ogg per row."""
    for tsv, rows in RELEASE_ROWS.items():
        (root / RELEASE).mkdir(parents=True, exist_ok=True)
        split = tsv[len("asr_"):-len(".tsv")]
        write_slue_tsv(root / RELEASE / tsv, RELEASE_HEADER, [
            dict(zip(RELEASE_HEADER, (segment_id, text.capitalize(), text, speaker, split, "male", "True", "None")))
            for segment_id, text, speaker in rows])
        for segment_id, _, _ in rows:
            (root / RELEASE / segment_id[:4]).mkdir(exist_ok=True)
            write_sine(root / RELEASE / segment_id[:4] / f"{segment_id}.ogg", 4000)
    return root


@pytest.fixture(scope="module")
def corpus_and_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The miniature corpus with the release at ``<corpus>/voxpopuli``."""
    return write_release(write_corpus(tmp_path_factory.mktemp("corpus_and_release")))


@pytest.fixture(scope="module")
def with_release(corpus_and_release: Path, tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("data_with_release")
    return data, slue_voxpopuli.prepare(corpus_and_release, data, corpus_and_release / VOXPOPULI)


def neighbour_ranks(data: Path, split: str) -> Dict[str, str]:
    """``<split>/neighbours/utt2rec``: neighbour uttid -> "session rank"."""
    return read_map(data / split / NEIGHBOUR_DIR / "utt2rec")


def test_release_ranks_are_true_positions_in_the_session(with_release) -> None:
    data, _ = with_release
    a, b, c, d = (uttid(row) for row in TRAIN)
    assert read_map(data / "train" / "utt2rec") == {
        c: f"{S1} {S1_ORDER.index(TRAIN[2][0])}", a: f"{S1} {S1_ORDER.index(TRAIN[0][0])}",
        b: f"{S1} {S1_ORDER.index(TRAIN[1][0])}", d: f"{S2} 0"}
    assert read_map(data / "devel" / "utt2rec") == {uttid(DEV[0]): f"{S3} 0", uttid(DEV[1]): f"{S3} 1",
                                                    uttid(DEV[2]): f"{S1} 7"}
    assert read_map(data / "test" / "utt2rec") == {uttid(TEST[0]): f"{S4} 1", uttid(TEST[1]): f"{S4} 2"}
    # one index space: a split and its neighbours never share an uttid or a (session, rank)
    for split in SPLITS:
        own, neighbours = read_map(data / split / "utt2rec"), neighbour_ranks(data, split)
        assert not own.keys() & neighbours.keys() and not set(own.values()) & set(neighbours.values())


def test_neighbours_are_the_adjacent_segments_in_no_slue_split(with_release, corpus_and_release: Path) -> None:
    data, _ = with_release
    # train: P1_11 before c, P2_8 before a, S2's _4 after d; not P1_13 (no transcript) after c,
    # nor DEV[2] after b (SLUE dev audio is never training context)
    assert neighbour_ranks(data, "train") == {
        release_uttid(f"{P1}_11"): f"{S1} 0", release_uttid(f"{P2}_8"): f"{S1} 4",
        f"None_{S2}_20180313-11:26:05_4": f"{S2} 1"}
    assert neighbour_ranks(data, "devel") == {release_uttid(f"{P2}_12"): f"{S1} 8",  # not b, before DEV[2]
                                              release_uttid(f"{S3}_20121022-19:02:11_2"): f"{S3} 2"}
    assert neighbour_ranks(data, "test") == {release_uttid(f"{S4}_20170405-15:12:40_1"): f"{S4} 0"}
    neighbours = data / "train" / NEIGHBOUR_DIR
    assert read_map(neighbours / "text")[release_uttid(f"{P1}_11")] == "madam president"  # normalised as text
    assert read_map(neighbours / "wav.scp")[release_uttid(f"{P2}_8")] == str(
        corpus_and_release.resolve() / RELEASE / "2013" / f"{P2}_8.ogg")
    assert not (neighbours / "text.ner").exists()
    for split in SPLITS:
        assert validate(data / split / NEIGHBOUR_DIR)["utterances"] == len(neighbour_ranks(data, split))
        assert validate(data / split)["utterances"] == len(SPLITS[split][2])


def test_span_2_adds_the_segments_two_ranks_away(corpus_and_release: Path, tmp_path: Path) -> None:
    slue_voxpopuli.prepare(corpus_and_release, tmp_path, corpus_and_release / VOXPOPULI, neighbour_span=2)
    # + P2_7 (a-2, c+2) and P2_12 (b+2); still not P1_13 (no transcript) nor DEV[2]; P2_13 is b+3
    assert neighbour_ranks(tmp_path, "train") == {
        release_uttid(f"{P1}_11"): f"{S1} 0", release_uttid(f"{P2}_7"): f"{S1} 3",
        release_uttid(f"{P2}_8"): f"{S1} 4", release_uttid(f"{P2}_12"): f"{S1} 8",
        f"None_{S2}_20180313-11:26:05_4": f"{S2} 1"}


def test_untranscribed_release_rows_are_ranked_but_not_written(with_release) -> None:
    data, summaries = with_release
    untranscribed = release_uttid(f"{P1}_13")
    assert all(untranscribed not in neighbour_ranks(data, split) for split in SPLITS)
    assert f"{S1} 2" not in {*read_map(data / "train" / "utt2rec").values(), *neighbour_ranks(data, "train").values()}
    assert (summaries["train"].untranscribed, summaries["devel"].untranscribed) == (1, 0)


def test_only_the_audio_of_neighbours_is_checked(corpus_and_release: Path, tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    shutil.copytree(corpus_and_release, root)
    for segment_id in (f"{S5}_20150114-10:00:00_0", f"{P2}_13", TRAIN[0][0]):  # none of them a neighbour
        (root / RELEASE / segment_id[:4] / f"{segment_id}.ogg").unlink()
    slue_voxpopuli.prepare(root, tmp_path / "data", root / VOXPOPULI)
    assert len(neighbour_ranks(tmp_path / "data", "train")) == 3


def test_rerun_without_the_release_removes_neighbours(corpus_and_release: Path, tmp_path: Path) -> None:
    slue_voxpopuli.prepare(corpus_and_release, tmp_path, corpus_and_release / VOXPOPULI)
    assert (tmp_path / "train" / NEIGHBOUR_DIR).is_dir()
    slue_voxpopuli.prepare(corpus_and_release, tmp_path)
    assert not any((tmp_path / split / NEIGHBOUR_DIR).exists() for split in SPLITS)
    assert read_map(tmp_path / "train" / "utt2rec")[uttid(TRAIN[0])] == f"{S1} 1"  # ranks within the split again


def test_log_counts_segments_with_neighbours(corpus_and_release: Path, tmp_path: Path, caplog) -> None:
    caplog.set_level("INFO")
    summaries = slue_voxpopuli.prepare(corpus_and_release, tmp_path, corpus_and_release / VOXPOPULI)
    # train: a and b are next to each other; c and d only to release segments
    assert ("train: 2 of 4 utterances have their previous or next segment in train, 4 once VoxPopuli's "
            "release is added; neighbours/ holds 3 segments within +-1 ranks (1 more left out: empty "
            "normalized_text)") in caplog.text
    assert "devel: 2 of 3 utterances have their previous or next segment in devel, 3 once" in caplog.text
    assert ("19 segments, 1 with an empty normalized_text (ranked, never a neighbour); "
            "9 of SLUE-VoxPopuli's 9 segments are in it") in caplog.text
    train = summaries["train"]
    assert (train.next_to_own, train.next_to_any, train.neighbours) == (2, 4, 3)
    assert (train.with_neighbour, train.with_adjacent_segment) == (3, 2)  # SLUE's own, as without the release


def test_neighbour_span_is_checked(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neighbour_span must be within 1..4: 5"):
        slue_voxpopuli.prepare(corpus, tmp_path, corpus, neighbour_span=5)
    with pytest.raises(SystemExit):
        slue_voxpopuli.main(["--corpus_dir", str(corpus), "--outdir", str(tmp_path), "--neighbour_span", "0"])


def test_recipe_carries_the_release_neighbours_into_the_dump_dirs(corpus_and_release: Path, tmp_path: Path) -> None:
    # Stages 1-4 with speed perturbation: neighbours/ is perturbed with the training set, formatted
    # beside each split and copied unfiltered by stage 4; the context plugin then finds a perturbed
    # utterance's neighbour among the perturbed release segments.
    egs2, env = copy_recipes(tmp_path)
    recipe = egs2 / "slue_voxpopuli" / "asr1"
    env = {**env, "SLUE_VOXPOPULI": str(corpus_and_release), "VOXPOPULI": str(corpus_and_release / VOXPOPULI)}
    run(["./run.sh", "--stage", "1", "--stop_stage", "4", "--nj", "1", "--speed_perturb_factors", "0.9 1.0"],
        recipe, env)
    release = read_map(recipe / "data" / "train" / NEIGHBOUR_DIR / "utt2rec")
    assert len(release) == 3
    dumped = read_map(recipe / "dump/raw/train_sp" / NEIGHBOUR_DIR / "utt2rec")
    assert dumped == {**release, **{f"sp0.9-{u}": f"sp0.9-{rec}" for u, rec in release.items()}}
    assert len(read_map(recipe / "dump/raw/train_sp" / NEIGHBOUR_DIR / "utt2num_samples")) == 6
    assert len(read_map(recipe / "dump/raw/test" / NEIGHBOUR_DIR / "wav.scp")) == len(
        read_map(recipe / "data/test" / NEIGHBOUR_DIR / "wav.scp"))
    segments = read_segments(recipe / "dump/raw/train_sp")
    extra = [n for u in segments.wav for n in segments.nmap.neighbours(u).values() if n in dumped]
    assert extra and all(n.startswith("sp0.9-") == u.startswith("sp0.9-")
                         for u in segments.wav for n in segments.nmap.neighbours(u).values() if n in dumped)
    run(["local/data.sh"], recipe, {**env, "VOXPOPULI": ""})
    assert not (recipe / "data" / "train" / NEIGHBOUR_DIR).exists()


def main_with_release(argv: List[str]) -> int:
    """The CLI given the release that the corpus dir (``--corpus_dir``, argv[1]) holds."""
    return slue_voxpopuli.main([*argv, "--voxpopuli_dir", str(Path(argv[1]) / VOXPOPULI)])


BAD_RELEASES: Dict[str, Tuple[Callable[[Path], None], str]] = {
    "missing column": (
        lambda r: replace_once(r, f"{RELEASE}/asr_train.tsv", "\tspeaker_id\t", "\tspeaker\t"),
        f"{RELEASE}/asr_train.tsv:1: missing column 'speaker_id' in the header "
        "'id raw_text normalized_text speaker split gender is_gold_transcript accent'"),
    "id not matching the regex": (
        lambda r: replace_once(r, f"{RELEASE}/asr_dev.tsv", "19:02:11_2", "19:02_2"),
        f"{RELEASE}/asr_dev.tsv:7: id '{S3}_20121022-19:02_2' is not <session>_<paragraph start>_<segment> "
        "(e.g. 20131007-0900-PLENARY-19-en_20131007-21:26:04_7)"),
    "duplicate id across the files": (
        lambda r: replace_once(r, f"{RELEASE}/asr_test.tsv", f"{S4}_20170405-15:12:40_1", f"{P1}_11"),
        f"{RELEASE}/asr_test.tsv:2: duplicate id '{P1}_11' (first at asr_train.tsv:2)"),
    "neighbour audio missing": (
        lambda r: (r / RELEASE / "2013" / f"{P2}_8.ogg").unlink(),
        f"{RELEASE}/asr_train.tsv:6: audio of '{P2}_8' is missing: {{root}}/{RELEASE}/2013/{P2}_8.ogg"),
    "missing TSV": (
        lambda r: (r / RELEASE / "asr_test.tsv").unlink(),
        f"{RELEASE}/asr_test.tsv: missing (expected from {slue_voxpopuli.RELEASE})"),
    "no transcribed_data": (
        lambda r: shutil.rmtree(r / VOXPOPULI / "transcribed_data"),
        f"{VOXPOPULI}: no transcribed_data/en/ in it (--voxpopuli_dir is the --root of {slue_voxpopuli.RELEASE})"),
}


@pytest.mark.parametrize("case", BAD_RELEASES)
def test_bad_release_stops_with_file_and_line(case: str, corpus_and_release: Path, tmp_path: Path, capsys) -> None:
    check_bad_corpus(main_with_release, corpus_and_release, tmp_path, capsys, *BAD_RELEASES[case])


# ------------------------------------------------------------------------------ the recipe


def test_recipe_stages_1_to_5(corpus: Path, tmp_path: Path) -> None:
    path = run_corpus_recipe(tmp_path, "slue_voxpopuli", {"SLUE_VOXPOPULI": str(corpus)},
                             ["--stage", "1", "--stop_stage", "5", "--nj", "1", "--ngpu", "0"])
    for split, (_, _, rows) in SPLITS.items():
        assert len(read_map(path / "dump/raw" / split / "wav.scp")) == len(rows)
        assert (path / "dump/raw" / split / "text.ner").exists() == (split != "test")
    ner_tokens = (path / "data/token_list/ner_char/tokens.txt").read_text().split()
    assert {"LAW", "ORG", "PLACE", "WHEN", "PERSON", "NORP", FILL, SEP} <= set(ner_tokens)  # train's tags
    assert FILL not in (path / "data/token_list/asr_char/tokens.txt").read_text().split()


def test_recipe_help_prints_once() -> None:
    proc = run(["./run.sh", "--help"], RECIPE, dict(os.environ))
    assert proc.stdout.startswith("slue_voxpopuli: SLUE-VoxPopuli")
    assert proc.stdout.count("Options (default):") == 1 and "--max_wav_duration" in proc.stdout


def test_nlsyms_are_the_scored_markup() -> None:
    assert (RECIPE / "conf/nlsyms.txt").read_text().split() == [*NER_TAGS, FILL, SEP]
    assert set(slue_voxpopuli.COMBINED_TAG.values()) == set(NER_TAGS)


# ------------------------------------------------------------------------------ the configs

CONFIGS = sorted((RECIPE / "conf/tuning").glob("train_*.yaml"))


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    return tiny_hf_checkpoints(tmp_path_factory.mktemp("checkpoints"))


def test_every_checkpoint_has_an_asr_and_a_ner_config() -> None:
    assert [p.name for p in CONFIGS] == sorted(f"train_{target}_hf_{name}_ctc.yaml"
                                               for target in ("asr", "ner") for name in HF_CHECKPOINTS)
    assert (RECIPE / "conf/train_asr.yaml").resolve().name == "train_asr_hf_hubert_base_ctc.yaml"
    assert (RECIPE / "conf/train_ner.yaml").resolve().name == "train_ner_hf_hubert_base_ctc.yaml"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_config_trains_a_step_on_its_checkpoint_type(config: Path, tiny_checkpoints, tmp_path: Path) -> None:
    """The config as shipped, with a tiny checkpoint of its type, trains one step (helpers);
    its layer drop, budget and frozen updates are slue-toolkit's."""
    args, model, scheduler = train_step_on_tiny_checkpoint("asr", config, tiny_checkpoints, tmp_path)
    layer_drop = yaml.safe_load(config.read_text())["frontend_conf"]["arch_conf"]["encoder_layer_drop"]
    assert model.frontend.upstream.encoder.transformer.layer_drop == layer_drop
    assert scheduler.max_steps * args.accum_grad == args.num_iters_per_epoch * args.max_epoch
    assert args.frontend_conf["freeze_steps"] == 10000 * args.accum_grad  # fairseq's 10k frozen updates
