"""Data files for context-aware fine-tuning and the context-injection baseline (the plugin's
``data_inputs``: ``espnet2_ext.recipe.data_inputs`` asks it for the stage script).

For the effective training config of a system and a dump dir with ``wav.scp`` and ``utt2rec``,
``data_inputs`` gives the ESPnet data options of the speech side, writing the files under
``<data_dir>/context/`` first when asked to; ``stats_suffix`` gives the suffix of the system's
stage-10 statistics dir. The systems:

* ``model: ctx_aware``, ``context_source: neighbours`` (mode a), with ``training``: besides
  ``wav.scp,speech,sound``, one ``sound`` scp per neighbour offset (``speech_prev``,
  ``speech_next``, ...: the neighbour's audio, or the segment's own where the neighbour is
  missing), and ``ctx_mask`` (``text_int``, one 0/1 per offset in the config's order: whether the
  neighbour exists). ESPnet's dataset needs every key in every file, hence the stand-in; the mask
  keeps it out of the loss. Also ``utt2pos`` (below): InfoNCE leaves out of its negatives a batch
  item's audio that is also another item's neighbour;
* ``model: ctx_aware``, ``context_source: batch`` (mode b), with ``training``: also ``utt2pos``
  (``text_int``: recording number in sorted recording-id order, segment index);
* ``model: ctx_aware``, ``context_source: text`` (generative context), with ``training``: also
  ``ctx_text`` (``text_float``: the sentence embedding of the neighbours' transcripts, from the data
  dir's ``text``, by ``model_conf.context_text_encoder``; ``text_targets.py``) and ``utt2pos``;
* ``frontend: ssl_upstream_inject``: ``speech`` is two-channel audio, the contiguous neighbours
  of ``context_offsets`` (stopping at the first missing one) around the segment in channel 0,
  the segment's mask in channel 1, for training and decoding alike. The left context loses its
  first (length mod S) samples, S the frame stride of the config's upstream CNN (320 for
  HuBERT/wav2vec 2.0 at 16 kHz), so that the segment starts on the CNN's frame grid.

Any other config is not this method's (``None``). Validation and decoding of a context-aware
model read ``speech`` only (no ``training``). Neighbours come from ``utt2rec`` and are the data
dir's own utterances (filtered ones count as missing) or, where the corpus reader wrote one, the
segments of its ``neighbours/`` sub-directory: segments of the same recordings that the corpus's
split left out (e.g. from the full VoxPopuli or LibriSpeech release), a Kaldi data dir in the index
space of ``utt2rec`` that stages 3-4 format beside the utterances; they are context (audio, and
text for generative context), never training items.
"""

import functools
import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import soundfile

from espnet2_ext.context import (
    CTX_MASK, CTX_TEXT, DEFAULT_OFFSETS, DEFAULT_SOURCE, INJECT_FRONTEND, MODEL_NAME, POSITIONS, neighbour_key,
)
from espnet2_ext.context.neighbours import NeighbourMap
from espnet2_ext.context.text_targets import DEFAULT_ENCODER, WORDS_PREFIX, write_text_targets
from espnet2_ext.errors import DataError
from espnet2_ext.kaldi_files import NEIGHBOUR_DIR, PathLike, read_map, replaced_atomically, write_map

_LOG = logging.getLogger(__name__)
Input = Tuple[str, str, str]  # ESPnet's path,name,type


@dataclass(frozen=True)
class ContextSpec:
    """The data a config's system reads: ``kind`` standard, neighbours, batch or inject; for
    inject, the upstream's options (``frontend_conf``), whose CNN sets the frame stride."""

    kind: str
    offsets: Tuple[int, ...] = ()
    frontend_conf: Tuple[Tuple[str, Any], ...] = ()
    text_encoder: str = ""


def spec_from_config(config: Mapping) -> ContextSpec:
    if str(config.get("frontend")).lower() == INJECT_FRONTEND:
        frontend_conf = dict(config.get("frontend_conf") or {})
        offsets = tuple(frontend_conf.pop("context_offsets", DEFAULT_OFFSETS))
        return ContextSpec("inject", _contiguous(offsets), tuple(sorted(frontend_conf.items())))
    if str(config.get("model")).lower() == MODEL_NAME:
        conf = config.get("model_conf") or {}
        source = conf.get("context_source", DEFAULT_SOURCE)
        if source in ("neighbours", "batch", "text"):
            offsets = tuple(conf.get("context_offsets", DEFAULT_OFFSETS))
            for offset in offsets:
                neighbour_key(offset)  # validates
            encoder = conf.get("context_text_encoder", DEFAULT_ENCODER) if source == "text" else ""
            return ContextSpec(source, offsets, text_encoder=encoder)
    return ContextSpec("standard")


def _contiguous(offsets: Tuple[int, ...]) -> Tuple[int, ...]:
    before = sorted(-o for o in offsets if o < 0)
    after = sorted(o for o in offsets if o > 0)
    if 0 in offsets or before != list(range(1, len(before) + 1)) or after != list(range(1, len(after) + 1)):
        raise DataError(f"context injection needs a contiguous window of offsets around 0: {list(offsets)}")
    for offset in offsets:
        neighbour_key(offset)  # validates the range
    return tuple(sorted(offsets))


def _tag(offsets: Sequence[int]) -> str:
    return "_".join(f"{'m' if o < 0 else 'p'}{abs(o)}" for o in offsets)


def _encoder_tag(encoder: str) -> str:
    """'' for the default text encoder, else its name's letters and digits and a hash of the whole
    string: the targets of two encoders never share a file."""
    if encoder == DEFAULT_ENCODER:
        return ""
    name = re.sub(r"[^A-Za-z0-9]+", "_", Path(encoder.removeprefix(WORDS_PREFIX)).name).strip("_")
    return f"_{name}_{hashlib.sha1(encoder.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class Segments:
    """A data dir's utterances and every segment that may be one of their neighbours: the data
    dir's own, and those of its ``neighbours/`` sub-directory (``NEIGHBOUR_DIR``: the segments of
    the same recordings that the corpus's split left out, from its full release), which are
    context only, never training items."""

    wav: Dict[str, str]    # the data dir's utterances -> audio
    audio: Dict[str, str]  # every segment, neighbour-only ones included -> audio
    nmap: NeighbourMap
    text_files: Tuple[Path, ...]  # the transcripts of both (a neighbour without one has no text)


def read_segments(data_dir: Path) -> Segments:
    """The utterances of ``data_dir`` and their possible neighbours; an utterance without an
    ``utt2rec`` entry, or a segment that is both an utterance and a neighbour-only one, is an error."""
    wav = read_map(data_dir / "wav.scp")
    audio = dict(wav)
    utt2recs, text_files = [data_dir / "utt2rec"], [data_dir / "text"]
    extra = data_dir / NEIGHBOUR_DIR
    if (extra / "wav.scp").is_file():
        extra_wav = read_map(extra / "wav.scp")
        shared = sorted(set(extra_wav) & set(wav))
        if shared:
            raise DataError(f"{extra / 'wav.scp'}: '{shared[0]}' is also an utterance of {data_dir} "
                            f"({len(shared)} such segments)")
        audio.update(extra_wav)
        utt2recs.append(extra / "utt2rec")
        text_files += [extra / "text"] if (extra / "text").is_file() else []
    nmap = NeighbourMap.from_files(utt2recs, valid=set(audio))
    missing = sorted(u for u in wav if u not in nmap)
    if missing:
        raise DataError(f"{data_dir / 'utt2rec'}: no entry for '{missing[0]}' ({len(missing)} utterances)")
    return Segments(wav, audio, nmap, tuple(text_files))


def stats_suffix(spec: ContextSpec) -> str:
    """Suffix of the stage-10 statistics dir: context injection's ``speech`` is other audio, so its
    shapes (which batch the data) must not replace the ones every other system reads."""
    return f"_inject_{_tag(spec.offsets)}" if spec.kind == "inject" else ""


def inputs_for(spec: ContextSpec, data_dir: PathLike, training: bool) -> List[Input]:
    """The ESPnet data inputs of ``spec`` for ``data_dir`` (files not written here)."""
    data_dir = Path(data_dir)
    out = data_dir / "context"
    if spec.kind == "inject":
        return [(str(out / f"inject_{_tag(spec.offsets)}" / "wav.scp"), "speech", "sound")]
    inputs = [(str(data_dir / "wav.scp"), "speech", "sound")]
    if training and spec.kind == "neighbours":
        folder = out / f"neighbours_{_tag(spec.offsets)}"
        inputs += [(str(folder / f"{neighbour_key(o)}.scp"), neighbour_key(o), "sound") for o in spec.offsets]
        inputs.append((str(folder / CTX_MASK), CTX_MASK, "text_int"))
    if training and spec.kind == "text":
        inputs.append((str(out / f"text_{_tag(spec.offsets)}{_encoder_tag(spec.text_encoder)}" / CTX_TEXT),
                       CTX_TEXT, "text_float"))
    if training and spec.kind in ("neighbours", "batch", "text"):  # which segment each item (and neighbour) is
        inputs.append((str(out / POSITIONS), POSITIONS, "text_int"))
    return inputs


def write_inputs(spec: ContextSpec, data_dir: PathLike, training: bool) -> List[Input]:
    """Write the files of ``inputs_for`` and return the inputs."""
    data_dir = Path(data_dir)
    inputs = inputs_for(spec, data_dir, training)
    if spec.kind == "inject":
        write_injected(read_segments(data_dir), Path(inputs[0][0]).parent, spec.offsets,
                       frame_stride(dict(spec.frontend_conf)))
    elif training and spec.kind in ("neighbours", "batch", "text"):
        segments = read_segments(data_dir)  # read once for both files of mode a
        if spec.kind == "neighbours":
            write_neighbour_inputs(segments, Path(inputs[1][0]).parent, spec.offsets)
        if spec.kind == "text":
            write_text_targets(segments.wav, segments.nmap, segments.text_files, inputs[1][0], spec.offsets,
                               spec.text_encoder)
        write_positions(segments.wav, segments.nmap, inputs[-1][0])
    return inputs


def write_neighbour_inputs(segments: Segments, out_dir: Path, offsets: Sequence[int]) -> None:
    """``<neighbour key>.scp`` per offset (the segment itself if missing) and ``ctx_mask``."""
    found = {u: segments.nmap.neighbours(u, offsets) for u in segments.wav}
    for offset in offsets:
        write_map(out_dir / f"{neighbour_key(offset)}.scp",
                  {u: segments.audio[n[offset] or u] for u, n in found.items()})
    write_map(out_dir / CTX_MASK, {u: " ".join(str(int(n[o] is not None)) for o in offsets) for u, n in found.items()})


def write_positions(wav: Mapping[str, str], nmap: NeighbourMap, out: PathLike) -> None:
    """``utt2pos``: uttid, recording number (sorted recording ids), index in the recording."""
    positions = {u: nmap.position(u) for u in wav}
    numbers = {rec: n for n, rec in enumerate(sorted({rec for rec, _ in positions.values()}))}
    write_map(out, {u: f"{numbers[rec]} {index}" for u, (rec, index) in positions.items()})


def frame_stride(frontend_conf: Mapping[str, Any]) -> int:
    """Samples per frame of the CNN of the upstream that ``frontend_conf`` loads."""
    from espnet2_ext.context.inject import cnn_layers, receptive_field  # torch, only for injection
    from espnet2_ext.upstream.checkpoints import load_upstream

    upstream = load_upstream(frontend_conf.get("weights", "random"), frontend_conf.get("arch"),
                             frontend_conf.get("arch_conf"))
    return receptive_field(cnn_layers(upstream))[1]


def write_injected(segments: Segments, out_dir: Path, offsets: Sequence[int], stride: int) -> None:
    """Two-channel flac per utterance (context audio, segment mask) and their ``wav.scp``."""
    read = functools.lru_cache(maxsize=16)(_read_mono)  # a segment is read again as a neighbour
    scp: Dict[str, str] = {}
    for utts in segments.nmap.recordings().values():
        for utt in (u for u in utts if u in segments.wav):  # neighbour-only segments are context
            before = _chain(segments.nmap, utt, sorted((o for o in offsets if o < 0), reverse=True))
            after = _chain(segments.nmap, utt, sorted(o for o in offsets if o > 0))
            rate, segment = read(segments.wav[utt])
            audio = injected_audio([read(segments.audio[u])[1] for u in reversed(before)], segment,
                                   [read(segments.audio[u])[1] for u in after], stride)
            path = out_dir / "data" / f"{utt}.flac"
            with replaced_atomically(path) as tmp:  # another target's run may be reading it
                soundfile.write(tmp, audio, rate, subtype="PCM_16")
            scp[utt] = str(path)
    write_map(out_dir / "wav.scp", scp)


def injected_audio(
    before: Sequence[np.ndarray], segment: np.ndarray, after: Sequence[np.ndarray], stride: int
) -> np.ndarray:
    """(L, 2): [before; segment; after] and the segment's mask; the left context loses its first
    (length mod ``stride``) samples, so that the segment starts on the frame grid."""
    left = np.concatenate([*before, np.zeros(0, segment.dtype)])
    left = left[len(left) % stride:]
    audio = np.concatenate([left, segment, *after])
    mask = np.zeros_like(audio)
    mask[len(left): len(left) + len(segment)] = 1.0
    return np.stack([audio, mask], axis=1)


def _chain(nmap: NeighbourMap, utt: str, offsets: Sequence[int]) -> List[str]:
    """Neighbours at ``offsets`` (outwards) up to the first missing one."""
    found = nmap.neighbours(utt, offsets)
    chain: List[str] = []
    for offset in offsets:
        if found[offset] is None:
            break
        chain.append(found[offset])
    return chain


def _read_mono(path: str) -> Tuple[int, np.ndarray]:
    try:
        audio, rate = soundfile.read(path, dtype="float32")
    except (OSError, RuntimeError) as err:
        raise DataError(f"cannot read audio '{path}': {err}") from err
    if audio.ndim != 1:
        raise DataError(f"'{path}': expected mono audio, got {audio.shape[1]} channels")
    return rate, audio


def data_inputs(config: Mapping[str, Any], data_dir: Path, training: bool, write: bool) -> Optional[List[Input]]:
    """The plugin hook: this method's inputs for ``config`` (written first if ``write``), or None."""
    spec = spec_from_config(config)
    if spec.kind == "standard":
        return None
    inputs = write_inputs(spec, data_dir, training) if write else inputs_for(spec, data_dir, training)
    if write:
        _LOG.info("%s: %s inputs for %s", data_dir, spec.kind, ", ".join(name for _, name, _ in inputs))
    return inputs


def config_stats_suffix(config: Mapping[str, Any]) -> str:
    """The plugin hook: ``stats_suffix`` of the config's system."""
    return stats_suffix(spec_from_config(config))
