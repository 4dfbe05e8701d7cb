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
  often not the adjacent segment of the speech: the log says how often it is. With VoxPopuli's
  release (below) the ranks are true positions in the session instead.

NER annotations are Python literals ``[[TAG, start, length], ...]`` of character offsets into
``normalized_text``, read with ``ast.literal_eval``. The entities are substituted from the last
to the first. ESPnet's script substitutes them in the annotation's order, which nothing
guarantees: once an entity is rewritten, the offsets of every entity after it are shifted by the
markup inserted before them.

Neighbours from VoxPopuli's English ASR release (optional, ``--voxpopuli_dir DIR``). SLUE's ids
are VoxPopuli's (slue-toolkit copied SLUE's audio from the release), and SLUE kept only some
segments of each session. The release (VoxPopuli's ``python -m voxpopuli.get_asr_data --root DIR
--lang en``) holds ``DIR/transcribed_data/en/asr_{train,dev,test}.tsv`` (``id``, ``normalized_text``
and ``speaker_id`` read, found by name) and the audio ``DIR/transcribed_data/en/<year>/<id>.ogg``.
With it:

* ``utt2rec`` ranks each segment among ALL the segments known of its session (the three SLUE
  splits' rows and the release's, sorted by (paragraph start, index)), so that ranks r-1 and r+1
  are the true previous and next segments of the speech. A split's ranks then have gaps where the
  segments in between are not its own. All splits share this one index space per session;
* ``data/<split>/neighbours/`` (``common.NEIGHBOUR_DIR``: a Kaldi data dir in the same index
  space, ids ``<speaker_id>_<id>``, ``text`` normalised as the split's) holds the release's
  segments within +-``--neighbour_span`` ranks of one of the split's utterances that are in NO
  SLUE split: another split's audio is never context (no test audio as training context), and the
  split's own segments are in the data dir already. A release row with an empty
  ``normalized_text`` is ranked but left out (a missing neighbour): a Kaldi ``text`` line needs
  words, and generative context needs the neighbour's transcript. Only the audio of the segments
  written is checked, since the release is much larger than what the neighbours need.

The log then says, per split, how many utterances have their previous or next segment in the
split, and how many once the release's segments are added. Without ``--voxpopuli_dir`` the data
dirs are what they were without the option, and a ``neighbours/`` of an earlier run is removed.

CLI::

    python -m espnet2_ext.corpora.slue_voxpopuli --corpus_dir downloads/slue-voxpopuli --outdir data
    # with the release: ... --voxpopuli_dir downloads/voxpopuli [--neighbour_span N]   (N in 1..4, default 1)
"""

import ast
import logging
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from espnet2_ext.corpora.common import Utterance, add_neighbour_span, check_span, write_neighbour_dir
from espnet2_ext.corpora.slue_metrics import FILL, NER_TAGS, SEP
from espnet2_ext.corpora.slue_tsv import (NeighbourCounts, NeighbourDir, SessionIndex, SplitSource,
                                         audio_file, corpus_parser, parse_corpus_args, rank_in_units,
                                         read_rows, read_tsv, release_neighbours, split_sources, write_split_dir)
from espnet2_ext.errors import at, cli_entry

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
# VoxPopuli's English ASR release, as its get_asr_data writes it under --root.
RELEASE_DIR = Path("transcribed_data") / "en"
RELEASE_TSVS = ("asr_train.tsv", "asr_dev.tsv", "asr_test.tsv")
RELEASE_COLUMNS = ("id", "normalized_text", "speaker_id")
RELEASE = "VoxPopuli's English ASR release (python -m voxpopuli.get_asr_data --root <voxpopuli_dir> --lang en)"


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
    segment_id: str  # VoxPopuli's id: the key shared with the release


@dataclass(frozen=True)
class ReleaseSegment:
    """One row of the release's TSVs, parsed; its file and line name it in errors."""

    segment_id: str
    speaker: str
    session: str
    order: Tuple[str, int]
    text: str  # normalised as the split's text; empty where the release has no transcript
    tsv: Path
    lineno: int

    @property
    def uttid(self) -> str:
        return f"{self.speaker}_{self.segment_id}"


@dataclass
class SplitSummary(NeighbourCounts):
    """What the log reports about one split (with the release, also :class:`NeighbourCounts`)."""

    utterances: int = 0
    with_neighbour: int = 0              # an adjacent rank in the same session
    with_adjacent_segment: int = 0       # ... that is the previous or next segment of its paragraph
    untranscribed: int = 0       # with the release: its segments in the span left out for an empty normalized_text
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


def parse_segment_id(segment_id: str) -> Tuple[str, Tuple[str, int]]:
    """``(session, (paragraph start, index))`` of a VoxPopuli segment id; ValueError if it is not one."""
    match = SEGMENT_ID.match(segment_id)
    if not match:
        raise ValueError(f"id '{segment_id}' is not <session>_<paragraph start>_<segment> "
                         f"(e.g. 20131007-0900-PLENARY-19-en_20131007-21:26:04_7)")
    return match["session"], (match["paragraph"], int(match["segment"]))


def parse_speaker(row: Dict[str, str]) -> str:
    """``speaker_id``, ``None`` where empty (the uttid prefix); ValueError if it holds whitespace."""
    speaker = row["speaker_id"].strip() or "None"
    if len(speaker.split()) != 1:
        raise ValueError(f"speaker_id '{speaker}' of '{row['id']}' contains whitespace")
    return speaker


def parse_row(corpus_dir: Path, source: SplitSource, row: Dict[str, str], summary: SplitSummary) -> Segment:
    """One TSV row as a segment, its audio checked; ValueError says what is wrong with it."""
    segment_id = row["id"]
    session, order = parse_segment_id(segment_id)
    audio = audio_file(corpus_dir, source, segment_id, ".ogg")
    text = row["normalized_text"].lower()
    if not normalize_words(text):
        raise ValueError(f"empty normalized_text for '{segment_id}'")
    speaker = parse_speaker(row)
    ner_text = None
    if source.labelled:
        try:
            entities = parse_entities(row["normalized_ner"])
            check_entities(entities, text)
        except ValueError as err:
            raise ValueError(f"normalized_ner of '{segment_id}': {err}") from None
        ner_text = normalize_words(mark_entities(text, entities, summary))
    return Segment(
        uttid=f"{speaker}_{segment_id}", speaker=speaker, session=session, order=order,
        text=normalize_words(text), ner_text=ner_text, audio=audio, segment_id=segment_id,
    )


def session_ranks(segments: Sequence[Segment], summary: SplitSummary) -> Dict[str, int]:
    """uttid -> rank of the segment within its session; counts the segments with neighbours."""
    ranks, summary.with_neighbour, summary.with_adjacent_segment = rank_in_units(
        segments, unit=lambda s: s.session, order=lambda s: s.order,
        adjacent=lambda before, after: before.order[0] == after.order[0] and after.order[1] == before.order[1] + 1)
    return ranks


# ----------------------------------------------------------- VoxPopuli's release: true neighbours

def read_release(voxpopuli_dir: Path) -> Dict[str, ReleaseSegment]:
    """segment id -> row of the release's three TSVs. Every row is parsed (a bad one stops with its
    file and line) before anything is written; no audio is opened here: only the neighbours' is
    needed, and :func:`release_audio` checks it."""
    if not (voxpopuli_dir / RELEASE_DIR).is_dir():
        raise at(voxpopuli_dir, None, f"no {RELEASE_DIR}/ in it (--voxpopuli_dir is the --root of {RELEASE})")
    segments: Dict[str, ReleaseSegment] = {}
    for name in RELEASE_TSVS:
        for segment in read_release_tsv(voxpopuli_dir / RELEASE_DIR / name):
            first = segments.setdefault(segment.segment_id, segment)
            if first is not segment:  # the three files share one id space
                raise at(segment.tsv, segment.lineno,
                         f"duplicate id '{segment.segment_id}' (first at {first.tsv.name}:{first.lineno})")
    return segments


def read_release_tsv(tsv: Path) -> List[ReleaseSegment]:
    """The rows of one of the release's TSVs, parsed; DataError with the file and line of a bad one."""
    if not tsv.is_file():
        raise at(tsv, None, f"missing (expected from {RELEASE})")
    segments = []
    for lineno, row in read_tsv(tsv, RELEASE_COLUMNS, RELEASE):
        try:
            session, order = parse_segment_id(row["id"])
            speaker = parse_speaker(row)
        except ValueError as err:
            raise at(tsv, lineno, str(err)) from None
        text = normalize_words(row["normalized_text"].lower())  # may be empty: ranked, never written
        segments.append(ReleaseSegment(row["id"], speaker, session, order, text, tsv, lineno))
    return segments


def split_neighbours(
    segments: Sequence[Segment],
    index: SessionIndex,
    release: Mapping[str, ReleaseSegment],
    in_slue: Set[str],
    span: int,
    summary: SplitSummary,
) -> List[ReleaseSegment]:
    """The release's segments within +-``span`` ranks of one of ``segments`` that are in no SLUE
    split (another split's audio must never be context) and have a transcript; counts for the log."""
    own = [s.segment_id for s in segments]
    near = [release[i] for i in release_neighbours(index, own, release, in_slue, span)]
    chosen = [r for r in near if r.text]
    summary.count(index, own, (r.segment_id for r in chosen))
    summary.untranscribed = len(near) - len(chosen)
    return sorted(chosen, key=lambda r: (r.session, r.order))


def release_audio(voxpopuli_dir: Path, segments: Iterable[ReleaseSegment]) -> Dict[str, str]:
    """segment id -> its ogg file (``<year>/<id>.ogg``), resolved; DataError with the TSV line of the
    first one missing, in the order of the release's files."""
    audio = {}
    for segment in sorted(segments, key=lambda r: (RELEASE_TSVS.index(r.tsv.name), r.lineno)):
        path = voxpopuli_dir / RELEASE_DIR / segment.segment_id[:4] / f"{segment.segment_id}.ogg"
        if not path.is_file():
            raise at(segment.tsv, segment.lineno, f"audio of '{segment.segment_id}' is missing: {path}")
        audio[segment.segment_id] = str(path.resolve())
    return audio


def with_release(
    voxpopuli_dir: Path,
    splits: Mapping[str, Sequence[Segment]],
    span: int,
    summaries: Mapping[str, SplitSummary],
) -> Tuple[Dict[str, Dict[str, int]], Dict[str, NeighbourDir]]:
    """Per split, the ranks of its utterances among every known segment of their sessions (one
    index space for all splits and their neighbours/) and its neighbours/, from the release."""
    release = read_release(voxpopuli_dir)
    slue = [s for segments in splits.values() for s in segments]
    known = {r.segment_id: (r.session, r.order) for r in release.values()}
    known.update((s.segment_id, (s.session, s.order)) for s in slue)  # SLUE's rows, in the release or not
    index = SessionIndex.build(known, {s.session for s in slue})
    in_slue = {s.segment_id for s in slue}
    chosen = {name: split_neighbours(segments, index, release, in_slue, span, summaries[name])
              for name, segments in splits.items()}
    audio = release_audio(voxpopuli_dir, (r for neighbours in chosen.values() for r in neighbours))
    log_release(voxpopuli_dir, release, in_slue)
    ranks = {name: {s.uttid: index.rank[s.segment_id] for s in segments} for name, segments in splits.items()}
    neighbour_dirs = {
        name: ([Utterance(r.uttid, r.speaker, r.session, index.rank[r.segment_id], r.text) for r in neighbours],
               {r.uttid: audio[r.segment_id] for r in neighbours})
        for name, neighbours in chosen.items()
    }
    return ranks, neighbour_dirs


def log_release(voxpopuli_dir: Path, release: Mapping[str, ReleaseSegment], in_slue: Set[str]) -> None:
    """What the release holds: its untranscribed rows, and how much of SLUE it has (all of it,
    unless the release is not the one SLUE was cut from)."""
    untranscribed = sum(1 for r in release.values() if not r.text)
    logging.info("%s: %d segments, %d with an empty normalized_text (ranked, never a neighbour); "
                 "%d of SLUE-VoxPopuli's %d segments are in it", voxpopuli_dir / RELEASE_DIR, len(release),
                 untranscribed, len(in_slue & release.keys()), len(in_slue))


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


def log_neighbours(source: SplitSource, summary: SplitSummary, span: int) -> None:
    """The counts of segments with neighbours once the release is added (ranks are true positions)."""
    summary.log(source.name, summary.utterances, "VoxPopuli's release", span,
                left_out=f" ({summary.untranscribed} more left out: empty normalized_text)")


def prepare(corpus_dir: Path, outdir: Path, voxpopuli_dir: Optional[Path] = None,
            neighbour_span: int = 1) -> Dict[str, SplitSummary]:
    """Write ``outdir/{train,devel,test}`` and, with VoxPopuli's release at ``voxpopuli_dir``, their
    ``neighbours/`` (without it, an earlier run's ``neighbours/`` goes). Every TSV, and the audio of
    every neighbour, is checked before any data dir is written."""
    check_span(neighbour_span)
    sources = split_sources(corpus_dir, CORPUS)
    summaries = {source.name: SplitSummary() for source in sources}
    splits = {source.name: read_split(corpus_dir, source, summaries[source.name]) for source in sources}
    ranks = {name: session_ranks(segments, summaries[name]) for name, segments in splits.items()}
    neighbour_dirs: Dict[str, NeighbourDir] = {name: ([], {}) for name in splits}
    if voxpopuli_dir is not None:
        ranks, neighbour_dirs = with_release(voxpopuli_dir, splits, neighbour_span, summaries)
    for source in sources:
        summaries[source.name].utterances = len(splits[source.name])
        write_split(outdir / source.name, splits[source.name], ranks[source.name])
        write_neighbour_dir(outdir / source.name, *neighbour_dirs[source.name])
        log_summary(source, summaries[source.name])
        if voxpopuli_dir is not None:
            log_neighbours(source, summaries[source.name], neighbour_span)
    return summaries


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = corpus_parser(CORPUS, ARCHIVE, "Kaldi data dirs <outdir>/{train,devel,test} (text, text.ner, "
                           "utt2rec...) from SLUE-VoxPopuli as downloaded, its ogg files read in place.")
    parser.add_argument("--voxpopuli_dir", type=Path, default=None,
                        help="optional: the directory holding transcribed_data/en/ of VoxPopuli's English ASR "
                             "release (get_asr_data --root); then utt2rec ranks the true order of each session "
                             "and <outdir>/<split>/neighbours/ holds the release's segments next to the split's")
    add_neighbour_span(parser, "--voxpopuli_dir")
    args = parse_corpus_args(parser, argv, ARCHIVE)
    prepare(args.corpus_dir, args.outdir, args.voxpopuli_dir, args.neighbour_span)
    return 0


if __name__ == "__main__":
    sys.exit(main())
