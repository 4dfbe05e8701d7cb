"""SLUE-VoxPopuli (ASR + NER) as Kaldi data dirs, read in place from the corpus as downloaded.

The corpus (``slue-voxpopuli_v0.2_blind.zip``, extracted; see
``egs2/slue_voxpopuli/asr1/README.md``) is one directory holding::

    slue-voxpopuli_fine-tune.tsv   fine-tune/<id>.ogg   -> data/train
    slue-voxpopuli_dev.tsv         dev/<id>.ogg         -> data/devel
    slue-voxpopuli_test_blind.tsv  test/<id>.ogg        -> data/test

The TSVs are tab-separated with a header ``id raw_text normalized_text speaker_id split raw_ner
normalized_ner``; only ``id``, ``normalized_text``, ``speaker_id`` and (where labelled)
``normalized_ner`` are read. The blind test TSV has no NER labels, so ``data/test`` gets no
``text.ner``. The test labels, released later, can be put beside it as
``slue-voxpopuli_test.tsv`` (slue-toolkit's name for the labelled test TSV, same columns); it is
then used instead, with its labels.

Per split the data dir holds (the names and encodings of ESPnet's
``egs2/slue-voxpopuli/asr1/local/data_prep_original_slue_format.py``, so that ids and references
match ESPnet's models and results):

* ``wav.scp``: the ogg files read in place (libsndfile reads Ogg Vorbis; stage 3 formats them);
* ``text``: ``normalized_text`` lower-cased, ``<unk>`` written ``unknown``, ``[.;?!]`` deleted,
  whitespace squeezed;
* ``text.ner``: the same words with each entity written ``TAG FILL words SEP`` in SLUE's 7
  combined tags (the encoding ``espnet2_ext.corpora.slue_metrics`` scores). Entities of the
  types SLUE does not evaluate are left as plain words;
* ``utt2spk``/``spk2utt``: utterance id ``<speaker_id>_<id>`` (``speaker_id`` may be ``None``);
* ``utt2rec``: ``uttid session rank``, the neighbours of context-aware fine-tuning. A segment id
  ``<session>_<paragraph start>_<segment>`` (e.g. ``20131007-0900-PLENARY-19-en_20131007-21:26:04_7``)
  names its plenary session, the start time of its speech paragraph and its index in that
  paragraph; the rank is the segment's position within its session in this split, sorted by
  (paragraph start, index). SLUE holds only some segments of a session, so a rank neighbour is
  often not the adjacent segment of the speech: the log says how often it is.

NER annotations are Python literals ``[[TAG, start, length], ...]`` of character offsets into
``normalized_text``, read with ``ast.literal_eval``. The entities are substituted from the last
to the first. ESPnet's script substitutes them in the annotation's order, which nothing
guarantees: once an entity is rewritten, the offsets of every entity after it are shifted by the
markup inserted before them.

Not built: neighbours from the full VoxPopuli English ASR release. SLUE's ids are VoxPopuli's,
so its ``asr_{train,dev,test}.tsv`` and per-segment ogg files would give every segment its true
previous and next segment (audio only, no labels needed) instead of the nearest one SLUE kept;
that needs a ``--voxpopuli_dir`` option and neighbour audio outside ``wav.scp``.

CLI::

    python -m espnet2_ext.corpora.slue_voxpopuli --corpus_dir downloads/slue-voxpopuli --outdir data
"""

import ast
import logging
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from espnet2_ext.corpora.common import Utterance
from espnet2_ext.corpora.slue_metrics import FILL, NER_TAGS, SEP
from espnet2_ext.corpora.slue_tsv import (SplitSource, audio_file, corpus_parser, parse_corpus_args, rank_in_units,
                                         read_rows, split_sources, write_split_dir)
from espnet2_ext.errors import cli_entry

# OntoNotes tag -> SLUE's combined tag (slue-toolkit's ``raw_to_combined_tag_map``; ESPnet's
# recipe uses the same map). The other OntoNotes types are not evaluated by SLUE.
COMBINED_TAG = {
    "GPE": "PLACE", "LOC": "PLACE",
    "CARDINAL": "QUANT", "MONEY": "QUANT", "ORDINAL": "QUANT", "PERCENT": "QUANT", "QUANTITY": "QUANT",
    "DATE": "WHEN", "TIME": "WHEN",
    "ORG": "ORG", "NORP": "NORP", "PERSON": "PERSON", "LAW": "LAW",
}
DISCARDED_TAGS = frozenset({"FAC", "EVENT", "WORK_OF_ART", "PRODUCT", "LANGUAGE"})
CORPUS = "slue-voxpopuli"
ARCHIVE = "slue-voxpopuli_v0.2_blind.zip"
LABELLED_TEST_TSV = f"{CORPUS}_test.tsv"
SEGMENT_ID = re.compile(
    r"^(?P<session>\d{8}-\d{4}-[A-Z]+(?:-\d+)?-[a-z]{2})_(?P<paragraph>\d{8}-\d{2}:\d{2}:\d{2})_(?P<segment>\d+)$"
)
_DELETED_PUNCTUATION = re.compile(r"[.;?!]")
_NO_ENTITIES = ("", "None")  # a row without entities (ESPnet's script skips both: "None", and NaN for "")


@dataclass(frozen=True)
class Entity:
    """One NER annotation: a tag and a character span of ``normalized_text``."""

    tag: str
    start: int
    length: int

    @property
    def end(self) -> int:
        return self.start + self.length

    def __str__(self) -> str:
        return f"['{self.tag}', {self.start}, {self.length}]"


@dataclass(frozen=True)
class Segment:
    """One TSV row, parsed."""

    uttid: str
    speaker: str
    session: str
    order: Tuple[str, int]  # (paragraph start, index in paragraph): the order within the session
    text: str
    ner_text: Optional[str]  # None where the split has no labels
    audio: Path


@dataclass
class SplitSummary:
    """What the log reports about one split."""

    utterances: int = 0
    with_neighbour: int = 0              # an adjacent rank in the same session
    with_adjacent_segment: int = 0       # ... that is the previous or next segment of its paragraph
    kept: Counter = field(default_factory=Counter)       # combined tag -> entities written
    discarded: Counter = field(default_factory=Counter)  # OntoNotes tag -> entities left as words


def parse_entities(literal: str) -> List[Entity]:
    """``[[TAG, start, length], ...]`` (or ``None``/empty: no entities); ValueError if malformed."""
    if literal.strip() in _NO_ENTITIES:
        return []
    try:
        value = ast.literal_eval(literal)  # a literal only: never code
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise ValueError("not a Python literal") from None
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ValueError("not a list")
    entities = []
    for item in value:
        if not (isinstance(item, (list, tuple)) and len(item) == 3 and isinstance(item[0], str)
                and all(isinstance(n, int) and not isinstance(n, bool) for n in item[1:])):
            raise ValueError(f"{item!r} is not [TAG, start, length]")
        entities.append(Entity(*item))
    return entities


def check_entities(entities: Sequence[Entity], text: str) -> None:
    """Each tag is an OntoNotes one and each span lies in ``text``; kept spans do not overlap,
    since each is rewritten in place. ValueError otherwise."""
    for entity in entities:
        if entity.tag not in COMBINED_TAG and entity.tag not in DISCARDED_TAGS:
            raise ValueError(f"unknown NER tag '{entity.tag}' in {entity}")
        if entity.start < 0 or entity.length <= 0 or entity.end > len(text):
            raise ValueError(f"entity {entity} spans characters {entity.start}-{entity.end}, "
                             f"outside normalized_text ({len(text)} characters)")
    kept = sorted((e for e in entities if e.tag in COMBINED_TAG), key=lambda e: e.start)
    for first, second in zip(kept, kept[1:]):
        if second.start < first.end:
            raise ValueError(f"entities {first} and {second} overlap")


def normalize_words(text: str) -> str:
    """ESPnet's SLUE-VoxPopuli transcript normalisation, applied after the NER markup."""
    text = text.replace("<unk>", "unknown")
    return " ".join(_DELETED_PUNCTUATION.sub("", text).split())


def mark_entities(text: str, entities: Sequence[Entity], summary: SplitSummary) -> str:
    """``text`` (lower-cased) with each kept entity rewritten as ``TAG FILL words SEP``.

    From the last entity to the first, so that each rewrite leaves the offsets of the entities
    still to rewrite unchanged.
    """
    for entity in sorted(entities, key=lambda e: e.start, reverse=True):
        tag = COMBINED_TAG.get(entity.tag)
        if tag is None:
            summary.discarded[entity.tag] += 1
            continue
        summary.kept[tag] += 1
        text = f"{text[:entity.start]} {tag} {FILL} {text[entity.start:entity.end]} {SEP} {text[entity.end:]}"
    return text


def read_split(corpus_dir: Path, source: SplitSource, summary: SplitSummary) -> List[Segment]:
    """Parse one TSV; a bad row stops with its file and line."""
    columns = ["id", "normalized_text", "speaker_id"] + (["normalized_ner"] if source.labelled else [])
    return read_rows(corpus_dir / source.tsv, columns, ARCHIVE,
                     lambda row: parse_row(corpus_dir, source, row, summary))


def parse_row(corpus_dir: Path, source: SplitSource, row: Dict[str, str], summary: SplitSummary) -> Segment:
    """One TSV row as a segment, its audio checked; ValueError says what is wrong with it."""
    segment_id = row["id"]
    match = SEGMENT_ID.match(segment_id)
    if not match:
        raise ValueError(f"id '{segment_id}' is not <session>_<paragraph start>_<segment> "
                         f"(e.g. 20131007-0900-PLENARY-19-en_20131007-21:26:04_7)")
    audio = audio_file(corpus_dir, source, segment_id, ".ogg")
    text = row["normalized_text"].lower()
    if not normalize_words(text):
        raise ValueError(f"empty normalized_text for '{segment_id}'")
    speaker = row["speaker_id"].strip() or "None"
    if len(speaker.split()) != 1:
        raise ValueError(f"speaker_id '{speaker}' of '{segment_id}' contains whitespace")
    ner_text = None
    if source.labelled:
        try:
            entities = parse_entities(row["normalized_ner"])
            check_entities(entities, text)
        except ValueError as err:
            raise ValueError(f"normalized_ner of '{segment_id}': {err}") from None
        ner_text = normalize_words(mark_entities(text, entities, summary))
    return Segment(
        uttid=f"{speaker}_{segment_id}", speaker=speaker, session=match["session"],
        order=(match["paragraph"], int(match["segment"])), text=normalize_words(text),
        ner_text=ner_text, audio=audio,
    )


def session_ranks(segments: Sequence[Segment], summary: SplitSummary) -> Dict[str, int]:
    """uttid -> rank of the segment within its session; counts the segments with neighbours."""
    ranks, summary.with_neighbour, summary.with_adjacent_segment = rank_in_units(
        segments, unit=lambda s: s.session, order=lambda s: s.order,
        adjacent=lambda before, after: before.order[0] == after.order[0] and after.order[1] == before.order[1] + 1)
    return ranks


def write_split(data_dir: Path, segments: Sequence[Segment], ranks: Dict[str, int]) -> None:
    """The Kaldi data dir of one split; a ``text.ner`` left by an earlier labelled run goes."""
    utterances = [
        Utterance(s.uttid, s.speaker, s.session, ranks[s.uttid], s.text,
                  {} if s.ner_text is None else {"text.ner": s.ner_text})
        for s in segments
    ]
    labelled = any(s.ner_text is not None for s in segments)
    write_split_dir(data_dir, utterances, {s.uttid: str(s.audio) for s in segments},
                    absent=[] if labelled else ["text.ner"])


def log_summary(source: SplitSource, summary: SplitSummary) -> None:
    logging.info("%s: %d utterances from %s; %d have a neighbour in their session, %d of them the "
                 "previous or next segment of their paragraph", source.name, summary.utterances,
                 source.tsv, summary.with_neighbour, summary.with_adjacent_segment)
    if not source.labelled:
        logging.info("%s: no NER labels in %s: no text.ner (NER cannot be scored on %s)",
                     source.name, source.tsv, source.name)
        return
    kept = ", ".join(f"{tag} {summary.kept[tag]}" for tag in NER_TAGS if summary.kept[tag]) or "none"
    discarded = ", ".join(f"{tag} {n}" for tag, n in sorted(summary.discarded.items())) or "none"
    logging.info("%s: entities kept: %s; discarded (types SLUE does not score): %s", source.name, kept, discarded)


def prepare(corpus_dir: Path, outdir: Path) -> Dict[str, SplitSummary]:
    """Write ``outdir/{train,devel,test}``; every TSV is checked before any data dir is written."""
    parsed = []
    for source in split_sources(corpus_dir, CORPUS):
        summary = SplitSummary()
        segments = read_split(corpus_dir, source, summary)
        summary.utterances = len(segments)
        parsed.append((source, segments, session_ranks(segments, summary), summary))
    for source, segments, ranks, summary in parsed:
        write_split(outdir / source.name, segments, ranks)
        log_summary(source, summary)
    return {source.name: summary for source, _, _, summary in parsed}


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = corpus_parser(CORPUS, ARCHIVE, "Kaldi data dirs <outdir>/{train,devel,test} (text, text.ner, "
                           "utt2rec...) from SLUE-VoxPopuli as downloaded, its ogg files read in place.")
    args = parse_corpus_args(parser, argv, ARCHIVE)
    prepare(args.corpus_dir, args.outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
