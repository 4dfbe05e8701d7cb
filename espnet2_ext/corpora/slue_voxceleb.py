"""SLUE-VoxCeleb (ASR + sentiment) as Kaldi data dirs, read in place from the corpus as downloaded.

The corpus (``slue-voxceleb_v0.2_blind.zip``, extracted; see ``egs2/slue_voxceleb/asr1/README.md``)
is one directory holding::

    slue-voxceleb_fine-tune.tsv   fine-tune_raw/<id>.flac  -> data/train
    slue-voxceleb_dev.tsv         dev_raw/<id>.flac        -> data/devel
    slue-voxceleb_test_blind.tsv  test_raw/<id>.flac       -> data/test

Each FLAC file is a whole (untrimmed) VoxCeleb1 utterance; the TSV says which part of it SLUE
labelled. The TSVs are tab-separated with a header, and columns are found by their name, not their
position: ``id``, ``normalized_text``, ``speaker_id``, ``sentiment``, ``start_second`` and
``end_second`` are read (the header also has ``split``). The blind test TSV has no ``sentiment``
and, it seems, no ``normalized_text`` either (ESPnet's ``local/data_prep_slue.py`` reads the
speaker from its second column; not seen on the corpus itself): its rows need ``id``,
``speaker_id``, ``start_second`` and ``end_second``, and a transcript is read only if its header
has ``normalized_text``. The test
labels can be put beside it as ``slue-voxceleb_test.tsv`` (slue-toolkit's name for the labelled
test TSV, with the dev TSV's columns); it is then used instead, with its labels.

Per split the data dir holds (the ids, transcripts and labels of ESPnet's
``egs2/slue-voxceleb/slu1/local/data_prep_slue.py``, which writes the label and the transcript as
one text, so that references match ESPnet's):

* ``wav.scp``: ``<id> <corpus>/<split>_raw/<id>.flac``, read in place (stage 3 formats it).
  By default the whole file, as ESPnet does. With ``--trim true``, each utterance is cut to
  ``[start_second, end_second]`` as slue-toolkit's ``create_manifest`` does (``segment_files``),
  by a Kaldi ``segments`` file ``<id> <id> <start> <end>`` that stage 3 applies: the audio is
  still read in place, nothing is copied;
* ``text``: ``normalized_text`` without its non-ASCII characters (ESPnet's
  ``encode("ascii", "ignore")``), whitespace squeezed;
* ``text.sentiment``: the label, ``Negative``, ``Neutral`` or ``Positive`` (as the TSV writes
  them: the labels ``espnet2_ext.corpora.slue_metrics`` scores as the first token of each line);
* ``utt2spk``/``spk2utt``: utterance id ``<id>`` (ESPnet's), speaker ``speaker_id`` (``datadir
  validate`` warns if an id does not start with its speaker, e.g. if the two columns disagree);
* ``utt2rec``: ``uttid <speaker>_<video> rank``, the neighbours of context-aware fine-tuning. An
  id ``<speaker>_<video>_<index>`` (e.g. ``id10059_229vKIGbxrI_00001``) is VoxCeleb1's
  ``<speaker>/<YouTube id>/<index>.wav`` flattened; the utterances of one speaker in one video are
  ranked by their index. SLUE holds only some utterances of a video, and VoxCeleb1's utterances
  are interview excerpts that need not be contiguous: the log says how many have a neighbour in
  the split, and how many of them the previous or next index. With VoxCeleb1 (below) the ranks
  are positions among all the video's utterances instead.

Rows labelled ``<mixed>`` are left out of every data dir (ESPnet's slu1 script skips them; so does
slue-toolkit's manifest, which keeps Negative, Neutral and Positive only): they are counted in the
log.

Neighbours from VoxCeleb1 (optional, ``--voxceleb1_dir DIR [DIR ...]``), which holds the
utterances of each video that SLUE left out. Each DIR holds the ``wav/`` that ``vox1_dev_wav.zip``
or ``vox1_test_wav.zip`` extracts to, ``wav/<speaker>/<YouTube id>/<NNNNN>.wav`` (give both, or one
DIR where the two were merged). Only the ``wav/<speaker>/<YouTube id>/`` directories of the videos
SLUE's utterances come from are listed (VoxCeleb1 has 150k files); no audio is opened. With it:

* ``utt2rec`` ranks each utterance among ALL the known utterances of its speaker's video (the
  three SLUE splits' rows, ``<mixed>`` ones included, and the release's files, sorted by index),
  so that ranks r-1 and r+1 are the previous and next utterances of the video in VoxCeleb1 (its
  utterances are excerpts of the interview, still in the order of the video). A split's ranks
  then have gaps where the utterances in between are not its own. All splits share this one index
  space per video. A video in none of the DIRs keeps the ranks among SLUE's utterances (counted
  in the log);
* ``data/<split>/neighbours/`` (``common.NEIGHBOUR_DIR``: a Kaldi data dir in the same index
  space) holds the release's utterances within +-``--neighbour_span`` ranks of one of the split's
  utterances that are in NO SLUE split: another split's audio (and a ``<mixed>`` row's) is never
  context, and the split's own utterances are in the data dir already. Ids are VoxCeleb1's path
  flattened as SLUE's (``<speaker>_<YouTube id>_<index>``), the speaker the path's, ``wav.scp``
  the whole file (``--trim`` does not apply: there are no labelled parts). There is no ``text``:
  VoxCeleb1 has no transcripts, so these are audio-only neighbours (generative context counts
  them as missing).

A file in such a directory whose name is not ``<5 digits>.wav``, or an utterance found in two
DIRs, stops with its path before anything is written. The log then says, per split, how many
utterances have their previous or next utterance in the split, and how many once VoxCeleb1's are
added. Without ``--voxceleb1_dir`` the data dirs are what they were without the option, and a
``neighbours/`` of an earlier run is removed.

CLI::

    python -m espnet2_ext.corpora.slue_voxceleb --corpus_dir downloads/slue-voxceleb --outdir data [--trim true]
    # with VoxCeleb1: ... --voxceleb1_dir downloads/vox1_dev downloads/vox1_test [--neighbour_span N]   (N in 1..4)
"""

import logging
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

import soundfile
from espnet2.utils.types import str2bool

from espnet2_ext.corpora.common import Utterance, add_neighbour_span, check_span, write_neighbour_dir
from espnet2_ext.corpora.slue_tsv import (NeighbourCounts, NeighbourDir, SessionIndex, SplitSource,
                                         audio_file, corpus_parser, parse_corpus_args, rank_in_units,
                                         read_rows, release_neighbours, split_sources, write_split_dir)
from espnet2_ext.errors import at, cli_entry
from espnet2_ext.recipe.datadir import SEGMENT_END_TOLERANCE

CORPUS = "slue-voxceleb"
ARCHIVE = "slue-voxceleb_v0.2_blind.zip"
LABELLED_TEST_TSV = f"{CORPUS}_test.tsv"
SENTIMENTS = ("Negative", "Neutral", "Positive")
MIXED = "<mixed>"  # left out of training and scoring, as ESPnet and slue-toolkit do
UTTERANCE_ID = re.compile(r"^(?P<speaker>id\d{5})_(?P<video>[A-Za-z0-9_-]{11})_(?P<index>\d{5})$")
# Columns every row needs, and those of a labelled split.
COLUMNS = ("id", "speaker_id", "start_second", "end_second")
LABEL_COLUMNS = ("normalized_text", "sentiment")
# VoxCeleb1 as downloaded: wav/<speaker>/<YouTube id>/<index>.wav in each extracted archive.
RELEASE_WAV = "wav"
RELEASE_FILE = re.compile(r"^\d{5}\.wav$")
RELEASE_ARCHIVES = "vox1_dev_wav.zip or vox1_test_wav.zip"


@dataclass(frozen=True)
class Clip:
    """One TSV row, parsed."""

    uttid: str
    speaker: str
    video: str                # <speaker>_<YouTube id> of the id: the neighbours' unit
    index: int                # VoxCeleb1's utterance index in the video
    text: Optional[str]       # None where the TSV has no transcripts
    sentiment: Optional[str]  # None where the split has no labels
    audio: Path
    start: float              # seconds: the labelled part of the audio
    end: float


@dataclass(frozen=True)
class ReleaseClip:
    """One file of VoxCeleb1, ``wav/<speaker>/<YouTube id>/<index>.wav``."""

    speaker: str
    video: str   # <speaker>_<YouTube id>, as a Clip's
    index: int
    path: Path   # as found under the --voxceleb1_dir that holds it

    @property
    def uttid(self) -> str:
        return f"{self.video}_{self.index:05d}"


@dataclass
class SplitSummary(NeighbourCounts):
    """What the log reports about one split (with VoxCeleb1, also :class:`NeighbourCounts`)."""

    utterances: int = 0
    with_neighbour: int = 0        # another utterance of the same video in the split
    with_adjacent_index: int = 0   # ... whose index is one apart
    labels: Counter = field(default_factory=Counter)
    transcribed: bool = True       # whether the TSV has transcripts
    mixed_rows: Dict[str, Tuple[str, int]] = field(default_factory=dict)  # <mixed> rows: uttid -> (video, index)

    @property
    def mixed(self) -> int:
        """<mixed> rows left out."""
        return len(self.mixed_rows)


def normalize_text(text: str) -> str:
    """ESPnet's SLUE-VoxCeleb transcript: non-ASCII characters dropped; whitespace squeezed."""
    return " ".join(text.encode("ascii", "ignore").decode().split())


def audio_duration(audio: Path, uttid: str) -> float:
    try:
        info = soundfile.info(str(audio))
    except RuntimeError as err:  # libsndfile's errors
        raise ValueError(f"cannot read the audio of '{uttid}': {err}") from None
    return info.frames / info.samplerate


def labelled_part(row: Dict[str, str], uttid: str, audio: Path) -> Tuple[float, float]:
    """``(start_second, end_second)``: numbers with 0 <= start < end, inside the audio (up to
    datadir's tolerance for rounded end times); ValueError otherwise."""
    start_text, end_text = row["start_second"].strip(), row["end_second"].strip()
    try:
        start, end = float(start_text), float(end_text)
    except ValueError:
        start = end = math.nan
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ValueError(f"start_second '{start_text}' and end_second '{end_text}' of '{uttid}' "
                         "must be numbers (seconds)")
    if not 0 <= start < end:
        raise ValueError(f"bad times for '{uttid}': start_second {start_text} must be >= 0 and < "
                         f"end_second {end_text}")
    duration = audio_duration(audio, uttid)
    if start >= duration or end > duration + SEGMENT_END_TOLERANCE:
        raise ValueError(f"segment {start_text}-{end_text} s of '{uttid}' is outside its audio "
                         f"({duration:.3f} s long): {audio}")
    return start, end


def parse_row(corpus_dir: Path, source: SplitSource, row: Dict[str, str], summary: SplitSummary) -> Optional[Clip]:
    """One TSV row as a clip, its audio checked; None for a ``<mixed>`` row (counted in
    ``summary``). ValueError says what is wrong with the row."""
    uttid = row["id"]
    match = UTTERANCE_ID.match(uttid)
    if not match:
        raise ValueError(f"id '{uttid}' is not <speaker>_<video>_<index>, VoxCeleb1's "
                         "id<5 digits>/<11-character YouTube id>/<5 digits> flattened "
                         "(e.g. id10059_229vKIGbxrI_00001)")
    video, index = f"{match['speaker']}_{match['video']}", int(match["index"])
    sentiment = row["sentiment"].strip() if source.labelled else None
    if sentiment == MIXED:
        summary.mixed_rows[uttid] = (video, index)
        return None
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise ValueError(f"unknown sentiment '{sentiment}' of '{uttid}' "
                         f"(expected {', '.join(SENTIMENTS)} or {MIXED})")
    audio = audio_file(corpus_dir, source, uttid, ".flac")
    start, end = labelled_part(row, uttid, audio)
    text = None
    if "normalized_text" in row:
        text = normalize_text(row["normalized_text"])
        if not text:
            raise ValueError(f"empty normalized_text for '{uttid}'")
    speaker = row["speaker_id"].strip()
    if len(speaker.split()) != 1:
        raise ValueError(f"speaker_id '{speaker}' of '{uttid}' is empty or contains whitespace")
    return Clip(uttid=uttid, speaker=speaker, video=video, index=index, text=text, sentiment=sentiment,
                audio=audio, start=start, end=end)


def read_split(corpus_dir: Path, source: SplitSource, summary: SplitSummary) -> List[Clip]:
    """Parse one TSV; a bad row stops with its file and line."""
    columns = COLUMNS + (LABEL_COLUMNS if source.labelled else ())
    clips = read_rows(corpus_dir / source.tsv, columns, ARCHIVE,
                      lambda row: parse_row(corpus_dir, source, row, summary))
    summary.utterances = len(clips)
    summary.transcribed = all(c.text is not None for c in clips)
    summary.labels.update(c.sentiment for c in clips if c.sentiment is not None)
    return clips


def video_ranks(clips: Sequence[Clip], summary: SplitSummary) -> Dict[str, int]:
    """uttid -> rank of the clip among its video's, by index; counts the clips with neighbours."""
    ranks, summary.with_neighbour, summary.with_adjacent_index = rank_in_units(
        clips, unit=lambda c: c.video, order=lambda c: c.index,
        adjacent=lambda before, after: after.index == before.index + 1)
    return ranks


def write_clips(data_dir: Path, clips: Sequence[Clip], ranks: Dict[str, int], trim: bool) -> None:
    """The Kaldi data dir of one split; files of labels (or of trimming) that this run does not
    write, left by an earlier one, go."""
    utterances = [
        Utterance(c.uttid, c.speaker, c.video, ranks[c.uttid], c.text or "",
                  {} if c.sentiment is None else {"text.sentiment": c.sentiment})
        for c in clips
    ]
    segments = {c.uttid: f"{c.uttid} {c.start!r} {c.end!r}" for c in clips} if trim else None
    absent = [name for name, values in (("text", [c.text for c in clips]),
                                        ("text.sentiment", [c.sentiment for c in clips]))
              if None in values or not values]
    write_split_dir(data_dir, utterances, {c.uttid: str(c.audio) for c in clips}, segments, absent)


# ------------------------------------------------------------------ VoxCeleb1: the videos' other utterances

Split = Tuple[SplitSource, SplitSummary, List[Clip], Dict[str, int]]  # a split read, and its utt2rec ranks


def read_release(voxceleb1_dirs: Sequence[Path], videos: Set[str]) -> Tuple[Dict[str, ReleaseClip], int]:
    """uttid -> file of VoxCeleb1 in the ``wav/<speaker>/<YouTube id>/`` directories of ``videos``
    (``<speaker>_<YouTube id>``) in ``voxceleb1_dirs``, and how many of ``videos`` none of them has.
    Only those directories are listed. DataError naming the path of a file that is not
    ``<5 digits>.wav``, or of an utterance that two of the dirs hold."""
    for root in voxceleb1_dirs:
        if not (root / RELEASE_WAV).is_dir():
            raise at(root, None, f"no {RELEASE_WAV}/ in it (--voxceleb1_dir: where {RELEASE_ARCHIVES} was extracted)")
    clips: Dict[str, ReleaseClip] = {}
    absent = 0
    for video in sorted(videos):
        speaker, youtube_id = video.split("_", 1)  # a speaker is id<5 digits>: the first "_" ends it
        folders = [f for f in (root / RELEASE_WAV / speaker / youtube_id for root in voxceleb1_dirs) if f.is_dir()]
        absent += not folders
        for path in sorted(p for folder in folders for p in folder.iterdir()):
            if not RELEASE_FILE.match(path.name):
                raise at(path, None,
                         f"not a VoxCeleb1 utterance ({RELEASE_WAV}/<speaker>/<YouTube id>/<5 digits>.wav)")
            clip = ReleaseClip(speaker, video, int(path.stem), path)
            first = clips.setdefault(clip.uttid, clip)
            if first is not clip:
                raise at(path, None, f"also in {first.path}: the --voxceleb1_dir dirs overlap (give the dev and "
                                     "the test extraction, or one dir where both were merged)")
    return clips, absent


def with_release(voxceleb1_dirs: Sequence[Path], splits: Sequence[Split], span: int) -> Dict[str, NeighbourDir]:
    """Each split's neighbours/, from VoxCeleb1; the ranks of ``splits`` become those among every
    known utterance of their videos (one index space for all splits and their neighbours/)."""
    slue = {c.uttid: (c.video, c.index) for _, _, clips, _ in splits for c in clips}
    for _, summary, _, _ in splits:
        slue.update(summary.mixed_rows)  # SLUE's audio too: ranked, never a neighbour
    videos = {c.video for _, _, clips, _ in splits for c in clips}
    release, absent = read_release(voxceleb1_dirs, videos)
    known = {uttid: (clip.video, clip.index) for uttid, clip in release.items()}
    known.update(slue)
    index = SessionIndex.build(known, videos)
    neighbour_dirs = {}
    for source, summary, clips, ranks in splits:
        own = [c.uttid for c in clips]
        near = release_neighbours(index, own, release, slue, span)
        summary.count(index, own, near)
        ranks.update((uttid, index.rank[uttid]) for uttid in own)
        neighbour_dirs[source.name] = (
            [Utterance(u, release[u].speaker, release[u].video, index.rank[u], "") for u in near],
            {u: str(release[u].path.resolve()) for u in near})
    logging.info("VoxCeleb1 (%s): %d files in the %d videos of SLUE-VoxCeleb's utterances; %d of these videos "
                 "in no --voxceleb1_dir (their utterances ranked among SLUE's only); %d of SLUE-VoxCeleb's %d rows "
                 "are in it", ", ".join(map(str, voxceleb1_dirs)), len(release), len(videos), absent,
                 len(slue.keys() & release.keys()), len(slue))
    return neighbour_dirs


def log_summary(source: SplitSource, summary: SplitSummary) -> None:
    logging.info("%s: %d utterances from %s (%d %s left out); %d have a neighbour in their video, %d of "
                 "them the previous or next index", source.name, summary.utterances, source.tsv,
                 summary.mixed, MIXED, summary.with_neighbour, summary.with_adjacent_index)
    if source.labelled:
        logging.info("%s: sentiment %s", source.name,
                     ", ".join(f"{label} {summary.labels[label]}" for label in SENTIMENTS))
    else:
        logging.info("%s: no sentiment labels in %s: no text.sentiment (sentiment cannot be scored on %s)",
                     source.name, source.tsv, source.name)
    if not summary.transcribed:
        logging.info("%s: no transcripts in %s: no text (ASR cannot be scored on %s)",
                     source.name, source.tsv, source.name)


def prepare(corpus_dir: Path, outdir: Path, trim: bool = False, voxceleb1_dirs: Sequence[Path] = (),
            neighbour_span: int = 1) -> Dict[str, SplitSummary]:
    """Write ``outdir/{train,devel,test}`` and, with VoxCeleb1 in ``voxceleb1_dirs``, their
    ``neighbours/`` (without it, an earlier run's ``neighbours/`` goes). Every TSV, and the
    directories of VoxCeleb1 read, are checked before any data dir is written."""
    check_span(neighbour_span)
    splits: List[Split] = []
    for source in split_sources(corpus_dir, CORPUS, "_raw"):
        summary = SplitSummary()
        clips = read_split(corpus_dir, source, summary)
        splits.append((source, summary, clips, video_ranks(clips, summary)))
    neighbour_dirs = with_release(voxceleb1_dirs, splits, neighbour_span) if voxceleb1_dirs else {}
    for source, summary, clips, ranks in splits:
        write_clips(outdir / source.name, clips, ranks, trim)
        write_neighbour_dir(outdir / source.name, *neighbour_dirs.get(source.name, ([], {})),
                            transcribed=False)  # VoxCeleb1 has no transcripts
        log_summary(source, summary)
        if voxceleb1_dirs:
            summary.log(source.name, summary.utterances, "VoxCeleb1", neighbour_span, unit="utterance")
    logging.info("audio: %s", "each utterance cut to [start_second, end_second] (segments; slue-toolkit's)"
                 if trim else "each utterance whole, untrimmed (ESPnet's; --trim true cuts it as slue-toolkit)")
    return {source.name: summary for source, summary, _, _ in splits}


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = corpus_parser(CORPUS, ARCHIVE, "Kaldi data dirs <outdir>/{train,devel,test} (text, text.sentiment, "
                           "utt2rec...) from SLUE-VoxCeleb as downloaded, its flac files read in place.")
    parser.add_argument("--trim", type=str2bool, default=False,
                        help="cut each utterance to [start_second, end_second] (a segments file), as "
                             "slue-toolkit does; default: the whole file, as ESPnet does")
    parser.add_argument("--voxceleb1_dir", dest="voxceleb1_dirs", nargs="+", type=Path, default=[], metavar="DIR",
                        help="optional: directories holding wav/ of VoxCeleb1 (vox1_dev_wav.zip and "
                             "vox1_test_wav.zip extracted, or one where both were merged); then utt2rec ranks "
                             "all the utterances of each video and <outdir>/<split>/neighbours/ holds "
                             "VoxCeleb1's utterances next to the split's (audio only)")
    add_neighbour_span(parser, "--voxceleb1_dir", unit="utterance")
    args = parse_corpus_args(parser, argv, ARCHIVE)
    prepare(args.corpus_dir, args.outdir, args.trim, args.voxceleb1_dirs, args.neighbour_span)
    return 0


if __name__ == "__main__":
    sys.exit(main())
