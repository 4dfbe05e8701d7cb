"""``--batch_type recording``: batches of consecutive segments of a recording (context mode b).

Each epoch, every recording's segments (in ``utt2pos`` order) are cut into chunks of
``--recording_chunk_size`` consecutive segments, starting at a random offset so that chunk
boundaries move between epochs; the chunks are shuffled, sorted by their longest segment (as
ESPnet's ``numel`` sorts utterances by length, to limit padding; the shuffle decides among equal
lengths) and packed into batches of at most ``--batch_bins`` padded elements, counted as ESPnet's
``numel`` does (batch size x longest length x feature size, summed over the shape files). A chunk
is split only if it alone exceeds ``batch_bins``. Every utterance of the shape files is in exactly
one batch per epoch; ESPnet's iterator then shuffles the batches. Everything follows the seed
(``--seed`` + epoch), so a resumed run sees the same batches.

The task subclasses (``espnet2_ext.tasks``) use it when ``--batch_type recording``; validation
keeps its own ``--valid_batch_type`` (e.g. ``numel``: the context inputs are not read there).
"""

import argparse
import logging
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np
from espnet2.fileio.read_text import load_num_sequence_text
from espnet2.iterators.sequence_iter_factory import SequenceIterFactory
from espnet2.samplers.abs_sampler import AbsSampler

from espnet2_ext.context import POSITIONS

BATCH_TYPE = "recording"
DEFAULT_CHUNK_SIZE = 4
Chunk = List[str]


class RecordingBatchSampler(AbsSampler):
    """RecordingBatchSampler puts consecutive segments of a recording (chunks of
    --recording_chunk_size, cut anew each epoch) in the same mini-batch, for context-aware
    fine-tuning; needs a 'utt2pos' data file ('uttid recording-number index') and batch_bins
    like 'numel'."""

    def __init__(
        self,
        positions: Mapping[str, Sequence[int]],
        shapes: Sequence[Mapping[str, Sequence[int]]],
        batch_bins: int,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_bins <= 0 or chunk_size <= 0:
            raise ValueError(f"batch_bins and chunk_size must be positive: {batch_bins}, {chunk_size}")
        keys = set(shapes[0])
        missing = sorted(keys - set(positions))
        if missing:
            raise ValueError(f"{len(missing)} utterances have no {POSITIONS} entry, e.g. '{missing[0]}'")
        recordings: Dict[int, List[Tuple[int, str]]] = {}
        for key in keys:
            recording, index = positions[key][:2]
            recordings.setdefault(int(recording), []).append((int(index), key))
        self.recordings = [[key for _, key in sorted(segs)] for _, segs in sorted(recordings.items())]
        # Per utterance: numel's bins are batch size x sum over shape files of longest length x dim.
        self.lengths = {k: [int(s[k][0]) for s in shapes] for k in keys}
        first = next(iter(keys))
        self.dims = [int(np.prod(s[first][1:])) for s in shapes]
        self.batch_bins = batch_bins
        self.chunk_size = chunk_size
        self.rank, self.world_size = rank, world_size
        self._len = len(self.generate(0))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(N-batch={len(self)}, batch_bins={self.batch_bins}, "
                f"chunk_size={self.chunk_size}, recordings={len(self.recordings)})")

    def __len__(self) -> int:
        return self._len

    def __iter__(self):
        return iter(self.generate(0))

    def bins(self, keys: Sequence[str]) -> int:
        """Padded elements of a batch of ``keys``, as ESPnet's numel counts them."""
        longest = [max(self.lengths[k][i] for k in keys) for i in range(len(self.dims))]
        return len(keys) * sum(n * d for n, d in zip(longest, self.dims))

    def generate(self, seed: int) -> List[Tuple[str, ...]]:
        """This epoch's batches (``seed`` = ESPnet's seed + epoch)."""
        rng = np.random.RandomState(seed)
        chunks = [c for keys in self.recordings for c in self._cut(keys, rng.randint(self.chunk_size))]
        rng.shuffle(chunks)
        chunks = [part for chunk in chunks for part in self._split_to_fit(chunk)]
        chunks.sort(key=lambda chunk: max(self.lengths[k][0] for k in chunk))  # stable: shuffled ties
        return [self._shard(batch) for batch in self._pack(chunks)]

    def _cut(self, keys: List[str], first: int) -> List[Chunk]:
        bounds = [0, *range(first or self.chunk_size, len(keys), self.chunk_size), len(keys)]
        return [keys[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]

    def _split_to_fit(self, chunk: Chunk) -> List[Chunk]:
        parts: List[Chunk] = [[]]
        for key in chunk:
            if parts[-1] and self.bins(parts[-1] + [key]) > self.batch_bins:
                parts.append([])
            parts[-1].append(key)
        return parts

    def _pack(self, chunks: List[Chunk]) -> List[List[Chunk]]:
        batches: List[List[Chunk]] = [[]]
        for chunk in chunks:
            keys = [k for c in batches[-1] for k in c]
            if keys and self.bins(keys + chunk) > self.batch_bins:
                batches.append([])
            batches[-1].append(chunk)
        return batches

    def _shard(self, batch: List[Chunk]) -> Tuple[str, ...]:
        """This rank's keys of a batch: whole chunks, so that neighbours stay together."""
        if len(batch) < self.world_size:
            raise RuntimeError(f"a batch of {len(batch)} chunks cannot be shared by {self.world_size} "
                               "workers: raise batch_bins or lower --recording_chunk_size")
        return tuple(k for chunk in batch[self.rank :: self.world_size] for k in chunk)


def build_recording_iter_factory(task: type, args: argparse.Namespace, iter_options) -> SequenceIterFactory:
    """ESPnet's sequence iterator factory over a ``RecordingBatchSampler`` (regenerated per epoch)."""
    paths = [path for path, name, _ in iter_options.data_path_and_name_and_type if name == POSITIONS]
    if not paths:
        raise ValueError(f"--batch_type {BATCH_TYPE} needs a '{POSITIONS}' data file "
                         "(python -m espnet2_ext.context.data writes it)")
    rank, world_size = 0, 1
    if iter_options.distributed:
        import torch.distributed as dist

        rank, world_size = dist.get_rank(), dist.get_world_size()
    sampler = RecordingBatchSampler(
        load_num_sequence_text(paths[0], loader_type="text_int"),
        [load_num_sequence_text(s, loader_type="csv_int") for s in iter_options.shape_files],
        iter_options.batch_bins, args.recording_chunk_size, rank, world_size,
    )
    sizes = [len(batch) for batch in sampler.generate(0)]
    logging.info("[train] Batch sampler: %s", sampler)  # as ESPnet logs its own samplers
    logging.info("[train] mini-batch sizes summary: N-batch=%d, mean=%.1f, min=%d, max=%d",
                 len(sizes), np.mean(sizes), min(sizes), max(sizes))
    return SequenceIterFactory(
        dataset=task.build_dataset(args, iter_options, set(sampler.lengths)),  # shards vary per epoch
        batches=sampler,
        seed=args.seed,
        num_iters_per_epoch=iter_options.num_iters_per_epoch,
        shuffle=iter_options.train,
        shuffle_within_batch=False,  # would separate the neighbours
        num_workers=args.num_workers,
        collate_fn=iter_options.collate_fn,
        pin_memory=args.ngpu > 0,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--recording_chunk_size", type=int, default=DEFAULT_CHUNK_SIZE,
        help=f"--batch_type {BATCH_TYPE}: consecutive segments of a recording kept together",
    )
