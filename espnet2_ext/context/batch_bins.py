"""The ``batch_bins`` that gives ``--batch_type recording`` as many updates per epoch as ``numel``.

Context-aware fine-tuning in sampler mode (b) keeps consecutive segments of a recording together,
so its batches are not length-sorted inside and pad more than ESPnet's ``numel`` batches at the
same ``batch_bins``: an epoch then has more, smaller updates than the standard fine-tuning it is
compared with. This prints the smallest ``batch_bins`` (a multiple of ``--step``) at which the
recording batches of the training set (mean over ``--epochs`` epochs) are no more than ``numel``'s
at the baseline's ``--batch_bins``; use it in the context-aware config. It also prints the share
of padding in the speech of both kinds of batches: an upstream with a GroupNorm CNN (HuBERT/wav2vec
2.0 Base layout) normalises over the padded time axis too, so its features depend on the padding.

Example (fsdd_digits, after stage 10 of a context-aware config):
    python -m espnet2_ext.context.batch_bins --utt2pos dump/raw/train/context/utt2pos \\
        --shape_file exp/asr_stats_asr_char/train/speech_shape \\
        --shape_file exp/asr_stats_asr_char/train/text_shape.char --batch_bins 640000
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from espnet2.fileio.read_text import load_num_sequence_text
from espnet2.samplers.num_elements_batch_sampler import NumElementsBatchSampler

from espnet2_ext.context.sampler import DEFAULT_CHUNK_SIZE, RecordingBatchSampler
from espnet2_ext.errors import DataError, cli_entry


def epoch_batches(sampler: RecordingBatchSampler, epochs: int) -> List[List[Tuple[str, ...]]]:
    """The batches of epochs 1..epochs (the sampler's seed is ESPnet's seed + epoch)."""
    return [sampler.generate(epoch) for epoch in range(1, epochs + 1)]


def mean_batches(sampler: RecordingBatchSampler, epochs: int) -> float:
    """Mean number of batches of epochs 1..epochs."""
    return float(np.mean([len(batches) for batches in epoch_batches(sampler, epochs)]))


def padded_share(batches: Sequence[Sequence[str]], lengths: Mapping[str, Sequence[int]]) -> float:
    """Share of padding in the batches' padded speech tensors (sum over batches of
    items x longest item), from the first shape file's lengths."""
    padded = sum(len(batch) * max(lengths[k][0] for k in batch) for batch in batches)
    return 1.0 - sum(lengths[k][0] for batch in batches for k in batch) / padded


def matching_batch_bins(
    positions: Mapping[str, Sequence[int]],
    shape_files: Sequence[str],
    batch_bins: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    epochs: int = 10,
    step: int = 10_000,
) -> Dict[str, float]:
    """numel's batches at ``batch_bins``, and the smallest multiple of ``step`` at which recording
    batches are no more (bisection: fewer batches as batch_bins grows)."""
    numel = list(NumElementsBatchSampler(batch_bins, list(shape_files)))
    target = len(numel)
    shapes = [load_num_sequence_text(path, loader_type="csv_int") for path in shape_files]

    def batches(bins: int) -> float:
        return mean_batches(RecordingBatchSampler(positions, shapes, bins, chunk_size), epochs)

    low, high = 0, -(-batch_bins // step)  # in steps; high * step >= batch_bins
    while batches(high * step) > target:
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if batches(mid * step) > target else (low, mid)
    found = epoch_batches(RecordingBatchSampler(positions, shapes, high * step, chunk_size), epochs)
    return {"numel_batch_bins": batch_bins, "numel_batches": target,
            "recording_batch_bins": high * step,
            "recording_batches": float(np.mean([len(batches) for batches in found])),
            "recording_batches_at_numel_bins": batches(batch_bins), "chunk_size": chunk_size,
            "numel_padded_share": padded_share(numel, shapes[0]),
            "recording_padded_share": float(np.mean([padded_share(batches, shapes[0]) for batches in found]))}


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utt2pos", required=True, help="the training set's utt2pos (stage 10 writes it)")
    parser.add_argument("--shape_file", required=True, action="append",
                        help="the training shape files, as given to the trainer (repeat)")
    parser.add_argument("--batch_bins", required=True, type=int, help="the standard config's (numel) batch_bins")
    parser.add_argument("--chunk_size", type=int, default=DEFAULT_CHUNK_SIZE, help="--recording_chunk_size")
    parser.add_argument("--epochs", type=int, default=10, help="epochs averaged over (max_epoch)")
    parser.add_argument("--step", type=int, default=10_000, help="round batch_bins up to a multiple of this")
    args = parser.parse_args(argv)
    for path in [args.utt2pos, *args.shape_file]:
        if not Path(path).is_file():
            raise DataError(f"{path}: no such file (stage 10 of a context-aware (b) config writes it)")
    positions = load_num_sequence_text(args.utt2pos, loader_type="text_int")
    result = matching_batch_bins(positions, args.shape_file, args.batch_bins, args.chunk_size,
                                 args.epochs, args.step)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
