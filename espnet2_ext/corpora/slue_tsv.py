"""What the SLUE corpus readers (``slue_voxpopuli``, ``slue_voxceleb``) share.

Both corpora are one directory per archive (``<corpus>_v0.2_blind.zip``, extracted) holding a TSV
and an audio folder per split::

    <corpus>_fine-tune.tsv    <train audio>/<id>.<ext>   -> data/train
    <corpus>_dev.tsv          <dev audio>/<id>.<ext>     -> data/devel
    <corpus>_test_blind.tsv   <test audio>/<id>.<ext>    -> data/test

The blind test TSV has no task labels. ``<corpus>_test.tsv`` (slue-toolkit's name for the labelled
test TSV, with the dev TSV's columns), put beside it, is used instead, with its labels.

Here: the command line of a corpus (:func:`corpus_parser`, :func:`parse_corpus_args`), the
splits (:func:`split_sources`), the TSV reader that checks the header by column name
(:func:`read_tsv`), the row loop that stops at a bad row with its file and line (:func:`read_rows`),
the audio file of a row (:func:`audio_file`), the ranks of ``utt2rec`` (:func:`rank_in_units`) and
the data-dir writer that removes the files an earlier run wrote and this one does not
(:func:`write_split_dir`).

Neighbours from a corpus's full release (VoxPopuli's English ASR release, VoxCeleb1), which holds
the segments of each recording that SLUE left out: the ranks of every known segment of a
recording (:class:`SessionIndex`), the release's segments next to a split's that are in no SLUE
split (:func:`release_neighbours`) and the log's counts (:class:`NeighbourCounts`).
"""

import argparse
import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import (Any, Callable, Container, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple,
                    TypeVar)

from espnet2_ext.corpora.common import NEIGHBOUR_DIR, Utterance, write_data_dir
from espnet2_ext.errors import DataError, at

Parsed = TypeVar("Parsed")
NeighbourDir = Tuple[List[Utterance], Dict[str, str]]  # a split's neighbours/: its utterances and wav.scp


@dataclass(frozen=True)
class SplitSource:
    """Where one data dir comes from."""

    name: str       # data dir
    audio_dir: str  # folder of <id>.<ext> under the corpus dir
    tsv: str
    labelled: bool  # whether the TSV has the task labels


def corpus_parser(corpus: str, archive: str, description: str) -> argparse.ArgumentParser:
    """The command line of a corpus's data preparation: ``--corpus_dir`` and ``--outdir``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--corpus_dir", required=True, type=Path,
                        help=f"the extracted {archive} (with {corpus}_fine-tune.tsv ...)")
    parser.add_argument("--outdir", required=True, type=Path, help="root of the data dirs")
    return parser


def parse_corpus_args(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]], archive: str) -> argparse.Namespace:
    """The options, with logging set up; DataError if ``--corpus_dir`` is not a directory."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not args.corpus_dir.is_dir():
        raise DataError(f"{args.corpus_dir}: not a directory (expected the extracted {archive})")
    return args


def split_sources(corpus_dir: Path, corpus: str, audio_suffix: str = "") -> List[SplitSource]:
    """The three splits of ``corpus`` (e.g. ``slue-voxpopuli``), their audio in ``fine-tune``,
    ``dev``, ``test`` + ``audio_suffix``; the test split is labelled when ``<corpus>_test.tsv`` is
    present."""
    if (corpus_dir / f"{corpus}_test.tsv").is_file():
        test = SplitSource("test", f"test{audio_suffix}", f"{corpus}_test.tsv", labelled=True)
    else:
        test = SplitSource("test", f"test{audio_suffix}", f"{corpus}_test_blind.tsv", labelled=False)
    return [
        SplitSource("train", f"fine-tune{audio_suffix}", f"{corpus}_fine-tune.tsv", labelled=True),
        SplitSource("devel", f"dev{audio_suffix}", f"{corpus}_dev.tsv", labelled=True),
        test,
    ]


def read_tsv(path: Path, columns: Sequence[str], archive: str) -> Iterator[Tuple[int, Dict[str, str]]]:
    """Yield ``(line number, {column: value})`` for each row; the header must name ``columns``
    (in any order: columns are found by name). ``archive`` names what a missing TSV belongs to.

    Read with the csv module's quoting rules, which are those of the pandas reader that
    slue-toolkit and ESPnet use on these files.
    """
    if not path.is_file():
        raise at(path, None, f"missing (expected in the extracted {archive})")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        try:
            header = next(reader, None)
            if header is None:
                raise at(path, 1, "empty file (expected a header line)")
            missing = [name for name in columns if name not in header]
            if missing:
                raise at(path, 1, f"missing column '{missing[0]}' in the header '{' '.join(header)}'")
            for fields in reader:
                if len(fields) != len(header):
                    raise at(path, reader.line_num,
                             f"{len(fields)} tab-separated fields where the header has {len(header)}")
                yield reader.line_num, dict(zip(header, fields))
        except UnicodeDecodeError:
            raise at(path, reader.line_num + 1, "not UTF-8 text") from None


def read_rows(
    tsv: Path,
    columns: Sequence[str],
    archive: str,
    parse: Callable[[Dict[str, str]], Optional[Parsed]],
) -> List[Parsed]:
    """``parse`` of each row of ``tsv`` (a row it returns None for is left out); a repeated ``id``,
    or a row that ``parse`` raises ValueError for, stops with the file, the line and the error."""
    parsed: List[Parsed] = []
    first_line: Dict[str, int] = {}
    for lineno, row in read_tsv(tsv, columns, archive):
        if row["id"] in first_line:
            raise at(tsv, lineno, f"duplicate id '{row['id']}' (first at line {first_line[row['id']]})")
        first_line[row["id"]] = lineno
        try:
            item = parse(row)
        except ValueError as err:
            raise at(tsv, lineno, str(err)) from None
        if item is not None:
            parsed.append(item)
    return parsed


def audio_file(corpus_dir: Path, source: SplitSource, segment_id: str, extension: str) -> Path:
    """``<corpus_dir>/<audio_dir>/<id><extension>``, resolved; ValueError if it is missing."""
    audio = corpus_dir / source.audio_dir / f"{segment_id}{extension}"
    if not audio.is_file():
        raise ValueError(f"audio of '{segment_id}' is missing: {audio}")
    return audio.resolve()


def rank_in_units(
    items: Sequence[Parsed],
    unit: Callable[[Parsed], str],
    order: Callable[[Parsed], Any],
    adjacent: Callable[[Parsed, Parsed], bool],
) -> Tuple[Dict[str, int], int, int]:
    """The neighbours of ``utt2rec``: each item's (its ``uttid``'s) rank among the items of its
    ``unit`` (a session, a video), sorted by ``order``. Also, for the log, how many items share
    their unit with another, and how many of them are next to an item that ``adjacent(before,
    after)`` of two consecutive items accepts (e.g. the next segment of the same speech).
    Returns ``(ranks, with_neighbour, with_adjacent)``."""
    units: Dict[str, List[Parsed]] = {}
    for item in items:
        units.setdefault(unit(item), []).append(item)
    ranks: Dict[str, int] = {}
    with_neighbour = 0
    next_to_adjacent = set()
    for members in units.values():
        members.sort(key=order)
        ranks.update((item.uttid, rank) for rank, item in enumerate(members))
        if len(members) > 1:
            with_neighbour += len(members)
        for before, after in zip(members, members[1:]):
            if adjacent(before, after):
                next_to_adjacent.update((before.uttid, after.uttid))
    return ranks, with_neighbour, len(next_to_adjacent)


def write_split_dir(
    data_dir: Path,
    utterances: Sequence[Utterance],
    wav_scp: Mapping[str, str],
    segments: Optional[Mapping[str, str]] = None,
    absent: Iterable[str] = (),
) -> None:
    """The Kaldi data dir of one split (``write_data_dir``), then without the files ``absent``
    names (e.g. the labels of a blind split), which an earlier run may have left there; without
    ``segments`` too, unless it is given."""
    write_data_dir(data_dir, utterances, wav_scp, segments)
    for name in [*absent, *([] if segments is not None else ["segments"])]:
        (data_dir / name).unlink(missing_ok=True)


# ------------------------------------------------------------ neighbours from a corpus's full release


@dataclass(frozen=True)
class SessionIndex:
    """Every known segment of the recordings SLUE holds (a VoxPopuli plenary session, a VoxCeleb1
    speaker's video: a *session* here), SLUE's and the release's, in the order of the recording: a
    segment's rank is its position in ``sessions[session]``, so ranks r-1 and r+1 are the true
    previous and next. One index space for all splits and their ``neighbours/``."""

    sessions: Dict[str, List[str]]  # session -> segment ids, in the order of the recording
    rank: Dict[str, int]            # segment id -> its position in its session
    session: Dict[str, str]         # segment id -> its session

    @classmethod
    def build(cls, known: Mapping[str, Tuple[str, Any]], slue_sessions: Set[str]) -> "SessionIndex":
        """From ``segment id -> (session, order)``, keeping the sessions SLUE holds (no other
        session gives a neighbour, and a release has many)."""
        sessions: Dict[str, List[str]] = {}
        for segment_id, (session, _) in known.items():
            if session in slue_sessions:
                sessions.setdefault(session, []).append(segment_id)
        for ids in sessions.values():
            ids.sort(key=lambda segment_id: known[segment_id][1])
        return cls(sessions, {i: rank for ids in sessions.values() for rank, i in enumerate(ids)},
                   {i: session for session, ids in sessions.items() for i in ids})

    def at(self, session: str, rank: int) -> Optional[str]:
        """The segment id at ``rank`` of ``session``, or None past either end."""
        ids = self.sessions[session]
        return ids[rank] if 0 <= rank < len(ids) else None

    def near(self, segment_id: str, offset: int) -> Optional[str]:
        """The segment ``offset`` ranks from ``segment_id`` in its session, or None past either end."""
        return self.at(self.session[segment_id], self.rank[segment_id] + offset)

    def within(self, segment_ids: Iterable[str], span: int) -> Set[str]:
        """The segments 1..``span`` ranks before or after one of ``segment_ids``."""
        return {near for segment_id in segment_ids for offset in range(-span, span + 1) if offset
                for near in [self.near(segment_id, offset)] if near is not None}

    def count_next_to(self, segment_ids: Iterable[str], present: Container[str]) -> int:
        """How many of ``segment_ids`` have their previous or next segment in ``present``."""
        return sum(1 for i in segment_ids if self.near(i, -1) in present or self.near(i, 1) in present)


def release_neighbours(index: SessionIndex, own: Iterable[str], release: Container[str], in_slue: Container[str],
                       span: int) -> List[str]:
    """The release's segments within +-``span`` ranks of one of a split's (``own``) that are in no
    SLUE split (``in_slue``): another split's audio is never context (no test audio as training
    context), and the split's own segments are in its data dir already. Sorted."""
    return sorted(i for i in index.within(own, span) if i in release and i not in in_slue)


@dataclass
class NeighbourCounts:
    """What the log says of a split's neighbours once a release is added (ranks are then positions
    among every known segment of the recording)."""

    next_to_own: int = 0  # utterances whose previous or next segment is an utterance of the split
    next_to_any: int = 0  # ... or a segment of neighbours/
    neighbours: int = 0   # segments in neighbours/

    def count(self, index: SessionIndex, own: Sequence[str], neighbours: Iterable[str]) -> None:
        """The counts of a split's segments ``own`` and its ``neighbours/``."""
        neighbours = set(neighbours)
        self.next_to_own = index.count_next_to(own, set(own))
        self.next_to_any = index.count_next_to(own, set(own) | neighbours)
        self.neighbours = len(neighbours)

    def log(self, split: str, utterances: int, release: str, span: int, unit: str = "segment",
            left_out: str = "") -> None:
        """One line: ``release`` names what was added, ``unit`` a segment, ``left_out`` a note at the end."""
        logging.info("%s: %d of %d utterances have their previous or next %s in %s, %d once %s is added; "
                     "%s/ holds %d %ss within +-%d ranks%s", split, self.next_to_own, utterances, unit, split,
                     self.next_to_any, release, NEIGHBOUR_DIR, self.neighbours, unit, span, left_out)
