"""``--batch_type recording``: consecutive segments together, batch bins, one pass per epoch."""

import math
from collections import Counter
from typing import Dict, List, Tuple

import pytest

from espnet2_ext.context.sampler import RecordingBatchSampler

SIZES = (7, 5, 1, 9)  # segments per recording


def corpus() -> Tuple[Dict[str, List[int]], Dict[str, List[int]], Dict[str, List[int]]]:
    """positions, speech shapes (samples), text shapes (tokens, vocabulary) of SIZES."""
    positions, speech, text = {}, {}, {}
    for rec, size in enumerate(SIZES):
        for index in range(size):
            utt = f"r{rec}_{index:02d}"
            positions[utt] = [rec, index]
            speech[utt] = [8000 + 1000 * ((index * 7 + rec) % 5)]
            text[utt] = [5 + index % 3, 10]
    return positions, speech, text


def sampler(batch_bins: int = 200_000, chunk_size: int = 3, **kwargs) -> RecordingBatchSampler:
    positions, speech, text = corpus()
    return RecordingBatchSampler(positions, [speech, text], batch_bins, chunk_size, **kwargs)


def adjacent_pairs_together(batches: List[Tuple[str, ...]]) -> int:
    where = {utt: b for b, batch in enumerate(batches) for utt in batch}
    return sum(where[u] == where.get(f"{u[:3]}{int(u[3:]) + 1:02d}") for u in where)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_every_utterance_once_per_epoch_and_chunks_stay_together(seed):
    s = sampler()
    batches = s.generate(seed)
    counts = Counter(u for batch in batches for u in batch)
    assert set(counts) == set(corpus()[0]) and set(counts.values()) == {1}
    # A chunk of k consecutive segments keeps k - 1 neighbour pairs; a recording of n segments
    # has at most ceil(n / k) + 1 chunks (the first one is cut at a random offset).
    at_least = sum(n - min(n, math.ceil(n / 3) + 1) for n in SIZES)
    assert adjacent_pairs_together(batches) >= at_least


def test_batches_respect_batch_bins_as_numel_counts_them():
    s = sampler(batch_bins=60_000)
    for batch in s.generate(3):
        # numel: batch size x (longest speech x 1 + longest text x vocabulary)
        longest = max(corpus()[1][u][0] for u in batch) + 10 * max(corpus()[2][u][0] for u in batch)
        assert s.bins(batch) == len(batch) * longest
        assert s.bins(batch) <= 60_000
    assert len(s.generate(3)) > len(sampler(batch_bins=200_000).generate(3))


def test_a_chunk_larger_than_a_batch_is_split_into_consecutive_parts():
    s = sampler(batch_bins=25_000, chunk_size=9)  # at most 2 segments fit
    batches = s.generate(0)
    assert all(len(batch) <= 2 for batch in batches)
    assert sum(len(b) for b in batches) == sum(SIZES)
    assert adjacent_pairs_together(batches) > 0


def test_deterministic_for_a_seed_and_reshuffled_per_epoch():
    assert sampler().generate(5) == sampler().generate(5)
    assert sampler().generate(5) != sampler().generate(6)
    assert list(sampler()) == sampler().generate(0) and len(sampler()) == len(sampler().generate(0))


def test_distributed_ranks_share_whole_chunks():
    shards = [sampler(chunk_size=2, rank=r, world_size=2).generate(4) for r in (0, 1)]
    whole = sampler(chunk_size=2).generate(4)
    for batch, part0, part1 in zip(whole, *shards):
        assert sorted(part0 + part1) == sorted(batch) and not set(part0) & set(part1)
    assert adjacent_pairs_together([p for shard in shards for p in shard]) > 0


def test_utterances_need_a_position():
    positions, speech, text = corpus()
    del positions["r1_02"]
    with pytest.raises(ValueError, match="no utt2pos entry, e.g. 'r1_02'"):
        RecordingBatchSampler(positions, [speech, text], 100_000)
