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
"""

import argparse
import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, TypeVar

from espnet2_ext.corpora.common import Utterance, write_data_dir
from espnet2_ext.errors import DataError, at

Parsed = TypeVar("Parsed")


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
