"""Data files for context-aware fine-tuning and the context-injection baseline (espnet2_ext.context).

    python -m espnet2_ext.recipe.context_data --config conf/train.yaml --data_dir dump/raw/train \\
        --option train_data_path_and_name_and_type [--training] [--write]

Reads which system the training config describes and prints the ESPnet data options that feed
it from ``--data_dir`` (a dump dir with ``wav.scp`` and ``utt2rec``), one per line, as
``--<option>=path,name,type``; ``--write`` (re)writes the files first, under
``<data_dir>/context/``. ``--stats_suffix`` prints the suffix of the config's stage-10 statistics
dir instead (see ``stats_suffix``). The systems:

* standard (any other config): ``wav.scp,speech,sound``;
* ``model: ctx_aware``, ``context_source: neighbours`` (mode a), with ``--training``: also one
  ``sound`` scp per neighbour offset (``speech_prev``, ``speech_next``, ...: the neighbour's audio,
  or the segment's own where the neighbour is missing), and ``ctx_mask`` (``text_int``, one 0/1
  per offset in the config's order: whether the neighbour exists). ESPnet's dataset needs every
  key in every file, hence the stand-in; the mask keeps it out of the loss;
* ``model: ctx_aware``, ``context_source: batch`` (mode b), with ``--training``: also ``utt2pos``
  (``text_int``: recording number in sorted recording-id order, segment index);
* ``frontend: ssl_upstream_inject``: ``speech`` is two-channel audio, the contiguous neighbours
  of ``context_offsets`` (stopping at the first missing one) around the segment in channel 0,
  the segment's mask in channel 1, for training and decoding alike. The left context loses its
  first (length mod 320) samples, so that the segment starts on the CNN's 20 ms frame grid.

Validation and decoding of a context-aware model read ``speech`` only (no ``--training``).
Neighbours come from ``utt2rec`` and must be in the same data dir (filtered ones count as missing).
"""

import argparse
import functools
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import soundfile
import yaml

from espnet2_ext.context import (
    CTX_MASK, DEFAULT_OFFSETS, DEFAULT_SOURCE, INJECT_FRONTEND, MODEL_NAME, POSITIONS, neighbour_key,
)
from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.recipe.kaldi_files import PathLike, read_map, replaced_atomically, write_map
from espnet2_ext.recipe.neighbours import NeighbourMap

Input = Tuple[str, str, str]  # ESPnet's path,name,type
FRAME_STRIDE = 320  # samples per frame of the HuBERT/wav2vec 2.0 CNN at 16 kHz


@dataclass(frozen=True)
class ContextSpec:
    """The data a config's system reads: ``kind`` standard, neighbours, batch or inject."""

    kind: str
    offsets: Tuple[int, ...] = ()


def spec_from_config(config: Mapping) -> ContextSpec:
    if str(config.get("frontend")).lower() == INJECT_FRONTEND:
        offsets = tuple((config.get("frontend_conf") or {}).get("context_offsets", DEFAULT_OFFSETS))
        return ContextSpec("inject", _contiguous(offsets))
    if str(config.get("model")).lower() == MODEL_NAME:
        conf = config.get("model_conf") or {}
        source = conf.get("context_source", DEFAULT_SOURCE)
        if source in ("neighbours", "batch"):
            offsets = tuple(conf.get("context_offsets", DEFAULT_OFFSETS))
            for offset in offsets:
                neighbour_key(offset)  # validates
            return ContextSpec(source, offsets)
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


def _neighbour_map(data_dir: Path) -> Tuple[Dict[str, str], NeighbourMap]:
    wav = read_map(data_dir / "wav.scp")
    nmap = NeighbourMap.from_file(data_dir / "utt2rec", valid=set(wav))
    missing = sorted(u for u in wav if u not in nmap)
    if missing:
        raise DataError(f"{data_dir / 'utt2rec'}: no entry for '{missing[0]}' ({len(missing)} utterances)")
    return wav, nmap


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
    if training and spec.kind == "batch":
        inputs.append((str(out / POSITIONS), POSITIONS, "text_int"))
    return inputs


def write_inputs(spec: ContextSpec, data_dir: PathLike, training: bool) -> List[Input]:
    """Write the files of ``inputs_for`` and return the inputs."""
    data_dir = Path(data_dir)
    inputs = inputs_for(spec, data_dir, training)
    if spec.kind == "inject":
        write_injected(data_dir, Path(inputs[0][0]).parent, spec.offsets)
    elif training and spec.kind == "neighbours":
        write_neighbour_inputs(data_dir, Path(inputs[1][0]).parent, spec.offsets)
    elif training and spec.kind == "batch":
        write_positions(data_dir, inputs[1][0])
    return inputs


def write_neighbour_inputs(data_dir: Path, out_dir: Path, offsets: Sequence[int]) -> None:
    """``<neighbour key>.scp`` per offset (the segment itself if missing) and ``ctx_mask``."""
    wav, nmap = _neighbour_map(data_dir)
    found = {u: nmap.neighbours(u, offsets) for u in wav}
    for offset in offsets:
        write_map(out_dir / f"{neighbour_key(offset)}.scp", {u: wav[n[offset] or u] for u, n in found.items()})
    write_map(out_dir / CTX_MASK, {u: " ".join(str(int(n[o] is not None)) for o in offsets) for u, n in found.items()})


def write_positions(data_dir: Path, out: PathLike) -> None:
    """``utt2pos``: uttid, recording number (sorted recording ids), index in the recording."""
    wav, nmap = _neighbour_map(data_dir)
    positions = {u: nmap.position(u) for u in wav}
    numbers = {rec: n for n, rec in enumerate(sorted({rec for rec, _ in positions.values()}))}
    write_map(out, {u: f"{numbers[rec]} {index}" for u, (rec, index) in positions.items()})


def write_injected(data_dir: Path, out_dir: Path, offsets: Sequence[int], stride: int = FRAME_STRIDE) -> None:
    """Two-channel flac per utterance (context audio, segment mask) and their ``wav.scp``."""
    wav, nmap = _neighbour_map(data_dir)
    read = functools.lru_cache(maxsize=16)(_read_mono)  # a segment is read again as a neighbour
    scp: Dict[str, str] = {}
    for utts in nmap.recordings().values():
        for utt in utts:
            before = _chain(nmap, utt, sorted((o for o in offsets if o < 0), reverse=True))
            after = _chain(nmap, utt, sorted(o for o in offsets if o > 0))
            rate, segment = read(wav[utt])
            audio = injected_audio([read(wav[u])[1] for u in reversed(before)], segment,
                                   [read(wav[u])[1] for u in after], stride)
            path = out_dir / "data" / f"{utt}.flac"
            with replaced_atomically(path) as tmp:  # another target's run may be reading it
                soundfile.write(tmp, audio, rate, subtype="PCM_16")
            scp[utt] = str(path)
    write_map(out_dir / "wav.scp", scp)


def injected_audio(
    before: Sequence[np.ndarray], segment: np.ndarray, after: Sequence[np.ndarray], stride: int = FRAME_STRIDE
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


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, type=Path, help="training config (ESPnet YAML)")
    parser.add_argument("--data_dir", type=Path, help="dump dir with wav.scp and utt2rec")
    parser.add_argument("--option", help="ESPnet option to print, e.g. train_data_path_and_name_and_type")
    parser.add_argument("--stats_suffix", action="store_true",
                        help="only print the suffix of the config's statistics dir (stage 10)")
    parser.add_argument("--training", action="store_true", help="include the training-only context inputs")
    parser.add_argument("--write", action="store_true", help="write the files (else they must exist)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not args.config.is_file():
        raise DataError(f"{args.config}: no such config")
    spec = spec_from_config(yaml.safe_load(args.config.read_text(encoding="utf-8")) or {})
    if args.stats_suffix:
        print(stats_suffix(spec))
        return 0
    if args.data_dir is None or args.option is None:
        parser.error("--data_dir and --option are required (unless --stats_suffix)")
    if args.write:
        inputs = write_inputs(spec, args.data_dir, args.training)
        logging.info("%s: %s inputs for %s", args.data_dir, spec.kind, ", ".join(name for _, name, _ in inputs))
    else:
        inputs = inputs_for(spec, args.data_dir, args.training)
        for path, _, _ in inputs:
            if not Path(path).is_file():
                raise DataError(f"{path}: missing (written by stage 10, or stage 12 for test sets)")
    for triple in inputs:
        print(f"--{args.option}={','.join(triple)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
