"""Tests for the SLUE-VoxPopuli data preparation and recipe, on a miniature corpus in the layout of
the real one (the three TSVs with their header, ``fine-tune/``, ``dev/``, ``test/`` of Ogg Vorbis
files), and for the recipe's configs on tiny transformers checkpoints."""

import os
import shutil
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import pytest
import yaml
from helpers import (HF_CHECKPOINTS, check_bad_corpus, corpus_fixtures, replace_once, run, run_corpus_recipe,
                     tiny_hf_checkpoints, train_step_on_tiny_checkpoint, write_slue_corpus, write_slue_tsv)

from espnet2_ext.corpora import slue_voxpopuli
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
    assert read_map(data / "devel" / "utt2rec") == {uttid(DEV[0]): f"{S3} 0", uttid(DEV[1]): f"{S3} 1"}


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
