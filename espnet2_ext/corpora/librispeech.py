"""LibriSpeech and Libri-light limited as Kaldi data dirs, read in place from the corpora as downloaded.

Both corpora (see ``egs2/librispeech_100/asr1/README.md`` and ``egs2/librilight_limited/asr1/README.md``)
hold their utterances in LibriSpeech's layout, one directory per reader and chapter::

    <source>/<speaker>/<chapter>/<speaker>-<chapter>-<NNNN>.flac
    <source>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt     lines "<speaker>-<chapter>-<NNNN> <TEXT>"

where a source is a LibriSpeech split (``<corpus_dir>/LibriSpeech/train-clean-100``, ``dev-clean``...,
the tarballs of openslr.org/resources/12 extracted) or a subset of Libri-light's limited supervision
set (``<librilight_dir>/librispeech_finetuning/{1h/{0..5}/{clean,other}, 9h/{clean,other}}``, the
extracted ``librispeech_finetuning.tgz``). A data dir gathers one or more sources:

* ``data/<split>`` per LibriSpeech split, ``-`` written ``_`` (``train_clean_100``, ``dev_clean``...);
* ``data/dev`` = dev-clean + dev-other, written whenever both are prepared, as ESPnet's
  ``librispeech_100`` and ``librilight_limited`` recipes combine them (``utils/combine_data.sh``);
* ``data/train_10h`` = 1h/{0..5}/{clean,other} + 9h/{clean,other}, ``data/train_1h`` = 1h/{0..5}/{clean,other},
  ``data/train_10min`` = 1h/0/{clean,other} (Libri-light's 10 h / 1 h / 10 min sets; ESPnet's
  ``librilight_limited`` recipe builds ``train_10h``, torchaudio's ``LibriLightLimited`` the three).

Per data dir (the files of ESPnet's LibriSpeech data preparation, Kaldi's ``local/data_prep.sh``):

* ``wav.scp``: ``<id> <source>/<speaker>/<chapter>/<id>.flac``, read in place (ESPnet writes
  ``flac -c -d -s <path> |``; libsndfile reads FLAC, and stage 3 formats it);
* ``text``: the transcript as ``trans.txt`` writes it, upper case (ESPnet keeps it so, and scores
  upper-case references), whitespace squeezed;
* ``utt2spk``/``spk2utt``: speaker ``<speaker>-<chapter>``: Kaldi's and ESPnet's LibriSpeech
  preparation treats each reader's chapter as a speaker ("per-chapter speaker ids", so that CMVN is
  per chapter). ESPnet's ``librilight_limited`` recipe writes ``<speaker>`` for its training sets
  instead; one convention is used here for both recipes and all sets;
* ``utt2rec``: ``<id> <speaker>-<chapter> <NNNN>``, the neighbours of context-aware fine-tuning:
  a chapter's utterances are consecutive segments of one LibriVox recording, so the neighbours of
  ``NNNN`` are ``NNNN - 1`` and ``NNNN + 1`` of the same chapter, where the data dir has them
  (Libri-light's subsets hold only some utterances of a chapter; the log says how many have one,
  and ``neighbours/`` below adds the others);
* ``text.phn`` (``--phonemes true``): eSpeak NG's IPA phonemes of the transcript (voice ``en-us``,
  stress marks removed, no word boundaries; :func:`espnet2_ext.corpora.espeak.phonemize`), the
  target of phoneme recognition, whose WER is the PER. SUPERB's phoneme recognition reads ARPAbet
  phones with lexical stress from the LibriSpeech lexicon instead; the recipe's README says how they
  differ.

A corpus that is not in this layout stops before anything is written, with one line
``ERROR: <file>:<line>: <what>``: a missing source or ``trans.txt``, a transcript line whose id
is not ``<speaker>-<chapter>-<NNNN>`` of its directory, a repeated id, an empty transcript, a
transcript line without its flac file, or a flac file without a transcript line.

``neighbours/`` (:data:`NEIGHBOUR_DIR`; Libri-light's data dirs, with ``--neighbour_splits``): the
neighbours that a Libri-light subset left out, as a data dir of its own (``wav.scp``, ``text``,
``utt2spk``, ``spk2utt``, ``utt2rec``; no ``text.phn``: neighbours are context inputs, not targets),
so that context-aware training finds neighbour audio that ``wav.scp`` lacks. Libri-light's utterances
are LibriSpeech training utterances under their LibriSpeech ids, so a chapter's other utterances are
in ``<corpus_dir>/LibriSpeech/<split>/<speaker>/<chapter>/``, in the first of ``--neighbour_splits`` that
has that directory. ``neighbours/`` holds those at most ``--neighbour_span`` positions from one of the
data dir's utterances and not in it, written as the data dir's (same speakers, recordings and index
space). Only the data dirs' chapters are read (not the 960 h), each checked as above. A chapter that
no given split holds keeps its neighbours missing, which is no error: the log counts such chapters
(a split not downloaded), and warns of utterances that their LibriSpeech chapter lacks (ids that
would not be LibriSpeech's). LibriSpeech's own data dirs hold whole chapters and get no
``neighbours/``; without ``--neighbour_splits`` no data dir does, and an earlier run's is removed.

Not built: ``spk2gender`` (ESPnet reads it from LibriSpeech's ``SPEAKERS.TXT``; nothing here uses
it).

CLI::

    python -m espnet2_ext.corpora.librispeech --corpus_dir downloads --outdir data \\
        --splits train-clean-100 dev-clean dev-other test-clean test-other --phonemes true
    python -m espnet2_ext.corpora.librispeech --corpus_dir downloads --outdir data \\
        --librilight_dir downloads [--librilight_subsets 10h 1h 10min] \\
        [--neighbour_splits train-clean-100 train-clean-360 train-other-500 [--neighbour_span 2]]
"""

import argparse
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from espnet2.utils.types import str2bool

from espnet2_ext.corpora.common import (NEIGHBOUR_DIR, Utterance, add_neighbour_span, check_span, write_data_dir,
                                       write_neighbour_dir)
from espnet2_ext.corpora.espeak import phonemize
from espnet2_ext.errors import DataError, at, cli_entry
from espnet2_ext.kaldi_files import iter_lines

SPLITS = ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "dev-other", "test-clean", "test-other")
EVAL_SPLITS = ("dev-clean", "dev-other", "test-clean", "test-other")
TRAIN_SPLITS = ("train-clean-100", "train-clean-360", "train-other-500")  # Libri-light's utterances come from these
COMBINED_DEV = ("dev", ("dev-clean", "dev-other"))  # ESPnet's data/dev
LIBRISPEECH_ARCHIVE = "LibriSpeech/<split>/ of openslr.org/resources/12"
LIBRILIGHT_ARCHIVE = "librispeech_finetuning/ of librispeech_finetuning.tgz"
_ONE_HOUR = tuple(f"1h/{n}/{kind}" for n in range(6) for kind in ("clean", "other"))
LIBRILIGHT_SUBSETS: Dict[str, Tuple[str, ...]] = {  # subset -> its directories under librispeech_finetuning/
    "10h": _ONE_HOUR + ("9h/clean", "9h/other"),
    "1h": _ONE_HOUR,
    "10min": _ONE_HOUR[:2],
}
PHONEME_FILE = "text.phn"
PHONEME_VOICE = "en-us"  # LibriVox's readers are mostly American


@dataclass(frozen=True)
class Transcribed:
    """One transcript line and its audio."""

    uttid: str
    chapter: str  # <speaker>-<chapter>: the speaker of utt2spk and the recording of utt2rec
    index: int    # NNNN, the utterance's position in its chapter
    text: str
    audio: Path
    line: str     # <trans.txt>:<line>, for errors that involve two lines


@dataclass
class DataDirSummary:
    """What the log reports about one data dir."""

    utterances: int
    speakers: int        # readers
    chapters: int        # utt2spk's speakers and utt2rec's recordings
    with_neighbour: int  # the previous or next utterance of the chapter is in the data dir
    neighbours: int = 0            # utterances of neighbours/
    with_neighbour_added: int = 0  # the previous or next utterance is in the data dir or neighbours/
    chapters_missing: int = 0      # chapters that no --neighbour_splits split holds
    not_in_release: int = 0        # utterances whose id their chapter in the LibriSpeech split lacks


@dataclass
class Neighbours:
    """A data dir's ``neighbours/``, and what the log says about how they were found."""

    utterances: List[Transcribed]
    chapters_missing: int = 0
    not_in_release: int = 0


def numbered_dirs(parent: Path, what: str) -> List[Path]:
    """The subdirectories of ``parent``, which LibriSpeech names by number; files are passed over."""
    found = sorted(p for p in parent.iterdir() if p.is_dir())
    for path in found:
        if not path.name.isdigit():
            raise at(path, None, f"not a {what} directory (LibriSpeech's layout is <speaker>/<chapter>/, "
                                 "numbers both)")
    return found


def read_chapter(chapter_dir: Path) -> List[Transcribed]:
    """The utterances of one ``<speaker>/<chapter>/`` directory: each transcript line with its flac
    file, and no flac file without a line."""
    chapter = f"{chapter_dir.parent.name}-{chapter_dir.name}"
    trans = chapter_dir / f"{chapter}.trans.txt"
    flacs = {path.stem: path for path in chapter_dir.glob("*.flac")}
    own_id = re.compile(rf"^{re.escape(chapter)}-(\d{{4}})$")
    utterances: List[Transcribed] = []
    first_line: Dict[str, int] = {}
    if not trans.is_file():
        raise at(trans, None, "missing (each <speaker>/<chapter>/ directory has its <speaker>-<chapter>.trans.txt)")
    for lineno, uttid, text in iter_lines(trans):  # Kaldi's "<id> <text>" lines, UTF-8 checked
        if not own_id.match(uttid):
            raise at(trans, lineno, f"id '{uttid}' is not {chapter}-<NNNN> (its file {trans.name} names the "
                                    "speaker and chapter; NNNN is 4 digits)")
        if uttid in first_line:
            raise at(trans, lineno, f"duplicate id '{uttid}' (first at line {first_line[uttid]})")
        first_line[uttid] = lineno
        text = " ".join(text.split())  # whitespace squeezed
        if not text:
            raise at(trans, lineno, f"empty transcript for '{uttid}'")
        if uttid not in flacs:
            raise at(trans, lineno, f"audio of '{uttid}' is missing: {chapter_dir / uttid}.flac")
        utterances.append(Transcribed(uttid, chapter, int(uttid[-4:]), text, flacs.pop(uttid).resolve(),
                                      f"{trans}:{lineno}"))
    if flacs:
        raise at(flacs[min(flacs)], None, f"no transcript line in {trans}")
    return utterances


def read_source(source: Path, archive: str) -> List[Transcribed]:
    """Every utterance of one LibriSpeech-layout directory; a bad layout stops with its file and line."""
    if not source.is_dir():
        raise at(source, None, f"missing (expected {archive}, extracted)")
    utterances = [u for speaker_dir in numbered_dirs(source, "speaker")
                  for chapter_dir in numbered_dirs(speaker_dir, "chapter") for u in read_chapter(chapter_dir)]
    if not utterances:
        raise at(source, None, "no utterances (expected <speaker>/<chapter>/ directories of flac files)")
    return utterances


def data_dir_sources(corpus_dir: Path, splits: Sequence[str], librilight_dir: Optional[Path],
                     librilight_subsets: Sequence[str]) -> Dict[str, List[Tuple[Path, str]]]:
    """data dir name -> its sources (directory, what archive it belongs to)."""
    split_dir = {split: (corpus_dir / "LibriSpeech" / split, LIBRISPEECH_ARCHIVE) for split in splits}
    plan = {split.replace("-", "_"): [split_dir[split]] for split in splits}
    name, parts = COMBINED_DEV
    if all(part in split_dir for part in parts):
        plan[name] = [split_dir[part] for part in parts]
    if librilight_dir is not None:
        root = librilight_dir / "librispeech_finetuning"
        for subset in librilight_subsets:
            plan[librilight_data_dir(subset)] = [(root / part, LIBRILIGHT_ARCHIVE)
                                                 for part in LIBRILIGHT_SUBSETS[subset]]
    return plan


def librilight_data_dir(subset: str) -> str:
    """The data dir of a Libri-light subset; named in one place, as it also says which get neighbours/."""
    return f"train_{subset}"


def gather(sources: Sequence[Tuple[Path, str]], cache: Dict[Path, List[Transcribed]]) -> List[Transcribed]:
    """The utterances of several sources (each read once over all data dirs); an id in two stops."""
    seen: Dict[str, Transcribed] = {}
    for source, archive in sources:
        if source not in cache:
            cache[source] = read_source(source, archive)
        for utterance in cache[source]:
            first = seen.get(utterance.uttid)
            if first is not None:
                raise DataError(f"{utterance.line}: duplicate id '{utterance.uttid}' (also at {first.line})")
            seen[utterance.uttid] = utterance
    return list(seen.values())


def count_with_neighbour(utterances: Sequence[Transcribed], others: Sequence[Transcribed] = ()) -> int:
    """How many of ``utterances`` have the previous or next utterance of their chapter among them or ``others``."""
    positions = {(u.chapter, u.index) for u in (*utterances, *others)}
    return sum(1 for u in utterances if (u.chapter, u.index - 1) in positions or (u.chapter, u.index + 1) in positions)


def summarize(utterances: Sequence[Transcribed], neighbours: Optional[Neighbours] = None) -> DataDirSummary:
    """The log's counts, so that a user sees how many utterances have context with and without neighbours/."""
    neighbours = neighbours or Neighbours([])
    return DataDirSummary(utterances=len(utterances), speakers=len({u.chapter.split("-")[0] for u in utterances}),
                          chapters=len({u.chapter for u in utterances}),
                          with_neighbour=count_with_neighbour(utterances), neighbours=len(neighbours.utterances),
                          with_neighbour_added=count_with_neighbour(utterances, neighbours.utterances),
                          chapters_missing=neighbours.chapters_missing, not_in_release=neighbours.not_in_release)


def release_splits(corpus_dir: Path, splits: Sequence[str]) -> List[Path]:
    """The directories of ``--neighbour_splits``; one that is not there stops before anything is written."""
    directories = [corpus_dir / "LibriSpeech" / split for split in splits]
    for directory in directories:
        if not directory.is_dir():
            raise at(directory, None, f"missing (expected {LIBRISPEECH_ARCHIVE}, extracted; --neighbour_splits)")
    return directories


def release_chapter(chapter: str, splits: Sequence[Path],
                    cache: Dict[str, Optional[List[Transcribed]]]) -> Optional[List[Transcribed]]:
    """All utterances of ``<speaker>-<chapter>`` in the first split that holds its directory, or None
    when none does; read once over all data dirs, and only the chapters asked for (not the 960 h)."""
    if chapter not in cache:
        found = [split.joinpath(*chapter.split("-")) for split in splits]
        found = [directory for directory in found if directory.is_dir()]
        cache[chapter] = read_chapter(found[0]) if found else None
    return cache[chapter]


def find_neighbours(utterances: Sequence[Transcribed], splits: Sequence[Path], span: int,
                    cache: Dict[str, Optional[List[Transcribed]]]) -> Neighbours:
    """The utterances of the data dir's chapters in LibriSpeech at most ``span`` positions from one
    of the data dir's and not in it: the neighbours that the Libri-light subset left out."""
    by_chapter: Dict[str, List[Transcribed]] = {}
    for utterance in utterances:
        by_chapter.setdefault(utterance.chapter, []).append(utterance)
    found = Neighbours([])
    for chapter, own in by_chapter.items():
        release = release_chapter(chapter, splits, cache)
        if release is None:
            found.chapters_missing += 1
            continue
        own_ids = {u.uttid for u in own}
        found.not_in_release += len(own_ids - {u.uttid for u in release})
        found.utterances += [u for u in release if u.uttid not in own_ids
                             and any(abs(u.index - o.index) <= span for o in own)]
    return found


def as_utterances(utterances: Sequence[Transcribed], phonemes: Optional[Dict[str, str]]) -> List[Utterance]:
    """The data dir's lines: speaker and recording the chapter, index its NNNN."""
    return [Utterance(u.uttid, u.chapter, u.chapter, u.index, u.text,
                      {} if phonemes is None else {PHONEME_FILE: phonemes[u.uttid]}) for u in utterances]


def write_utterances(data_dir: Path, utterances: Sequence[Transcribed], phonemes: Optional[Dict[str, str]],
                     neighbours: Sequence[Transcribed] = ()) -> None:
    """The Kaldi data dir and its ``neighbours/`` (none: an earlier run's is removed); a ``text.phn``
    that an earlier run left goes when phonemes are off. Neighbours have no ``text.phn``: they are
    context inputs, not targets."""
    write_data_dir(data_dir, as_utterances(utterances, phonemes), {u.uttid: str(u.audio) for u in utterances})
    if phonemes is None:
        (data_dir / PHONEME_FILE).unlink(missing_ok=True)
    write_neighbour_dir(data_dir, as_utterances(neighbours, None), {u.uttid: str(u.audio) for u in neighbours})


def phoneme_targets(utterances: Sequence[Transcribed]) -> Dict[str, str]:
    """uttid -> eSpeak NG's phonemes of its transcript (read as words: lower-cased)."""
    return {u.uttid: " ".join(phonemize(u.text.lower(), PHONEME_VOICE)) for u in utterances}


def plan_neighbours(planned: Dict[str, List[Transcribed]], corpus_dir: Path, librilight_subsets: Sequence[str],
                    neighbour_splits: Sequence[str], span: int) -> Dict[str, Neighbours]:
    """Libri-light data dir -> its neighbours/ (none without ``neighbour_splits``); LibriSpeech's data
    dirs hold whole chapters, so only Libri-light's have neighbours outside them."""
    check_span(span)
    if not neighbour_splits:
        return {}
    splits = release_splits(corpus_dir, neighbour_splits)
    cache: Dict[str, Optional[List[Transcribed]]] = {}
    names = [librilight_data_dir(subset) for subset in librilight_subsets]
    return {name: find_neighbours(planned[name], splits, span, cache) for name in names if name in planned}


def log_summary(name: str, summary: DataDirSummary, neighbour_splits: Optional[Sequence[str]]) -> None:
    """One line per data dir; with neighbours/, what the LibriSpeech splits added to the count."""
    line = (f"{name}: {summary.utterances} utterances, {summary.speakers} speakers, {summary.chapters} chapters; "
            f"{summary.with_neighbour} have the previous or next utterance of their chapter")
    if neighbour_splits:
        line += (f", {summary.with_neighbour_added} with {NEIGHBOUR_DIR}/ ({summary.neighbours} utterances of "
                 f"{' '.join(neighbour_splits)}; {summary.chapters_missing} chapters in none of these splits)")
    logging.info(line)
    if summary.not_in_release:
        logging.warning("%s: %d utterances are not in their chapter in %s (are the ids LibriSpeech's?)",
                        name, summary.not_in_release, " ".join(neighbour_splits or ()))


def prepare(corpus_dir: Path, outdir: Path, splits: Sequence[str] = EVAL_SPLITS,
            librilight_dir: Optional[Path] = None, librilight_subsets: Sequence[str] = tuple(LIBRILIGHT_SUBSETS),
            phonemes: bool = False, neighbour_splits: Sequence[str] = (),
            neighbour_span: int = 1) -> Dict[str, DataDirSummary]:
    """Write ``outdir/<data dir>`` for the splits and subsets, and the Libri-light ones' ``neighbours/``
    from ``neighbour_splits`` (module docstring); every source and neighbour chapter is read and
    checked before any data dir is written."""
    cache: Dict[Path, List[Transcribed]] = {}
    planned = {name: gather(sources, cache)
               for name, sources in data_dir_sources(corpus_dir, splits, librilight_dir, librilight_subsets).items()}
    neighbours = plan_neighbours(planned, corpus_dir, librilight_subsets, neighbour_splits, neighbour_span)
    targets = None
    if phonemes:
        targets = phoneme_targets({u.uttid: u for us in planned.values() for u in us}.values())
        logging.info("%s: eSpeak NG (%s) phonemes of %d utterances", PHONEME_FILE, PHONEME_VOICE, len(targets))
    summaries = {}
    for name, utterances in planned.items():
        found = neighbours.get(name)
        write_utterances(outdir / name, utterances, targets, found.utterances if found else ())
        summaries[name] = summarize(utterances, found)
        log_summary(name, summaries[name], neighbour_splits if found else None)
    return summaries


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Kaldi data dirs (text, utt2rec, text.phn...) from LibriSpeech and Libri-light limited as "
                    "downloaded, their flac files read in place: <outdir>/<split> per LibriSpeech split, "
                    "<outdir>/dev = dev-clean + dev-other, <outdir>/train_<subset> per Libri-light subset.")
    parser.add_argument("--corpus_dir", required=True, type=Path,
                        help="the directory holding LibriSpeech/<split>/ (ESPnet's ${LIBRISPEECH})")
    parser.add_argument("--outdir", required=True, type=Path, help="root of the data dirs")
    parser.add_argument("--splits", nargs="+", choices=SPLITS, default=list(EVAL_SPLITS),
                        help="LibriSpeech splits (default: dev and test)")
    parser.add_argument("--librilight_dir", type=Path, default=None,
                        help="the directory holding librispeech_finetuning/ (ESPnet's ${LIBRILIGHT_LIMITED}); "
                             "with it, train_<subset> for each of --librilight_subsets")
    parser.add_argument("--librilight_subsets", nargs="+", choices=tuple(LIBRILIGHT_SUBSETS),
                        default=list(LIBRILIGHT_SUBSETS), help="Libri-light's limited supervision sets")
    parser.add_argument("--phonemes", type=str2bool, default=False,
                        help=f"write {PHONEME_FILE}: eSpeak NG's phonemes of each transcript (phoneme recognition)")
    parser.add_argument("--neighbour_splits", nargs="+", choices=TRAIN_SPLITS, default=[],
                        help=f"LibriSpeech training splits under --corpus_dir/LibriSpeech/ whose chapters give each "
                             f"train_<subset> its {NEIGHBOUR_DIR}/: the utterances of its chapters that the subset "
                             f"left out (default: none, and an earlier run's {NEIGHBOUR_DIR}/ is removed)")
    add_neighbour_span(parser, "--neighbour_splits", unit="utterance")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for option, path in (("--corpus_dir", args.corpus_dir), ("--librilight_dir", args.librilight_dir)):
        if path is not None and not path.is_dir():
            raise DataError(f"{path}: not a directory ({option})")
    prepare(args.corpus_dir, args.outdir, args.splits, args.librilight_dir, args.librilight_subsets, args.phonemes,
            args.neighbour_splits, args.neighbour_span)
    return 0


if __name__ == "__main__":
    sys.exit(main())
