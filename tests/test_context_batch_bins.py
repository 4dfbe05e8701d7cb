"""The batch_bins that gives recording batches as many updates per epoch as numel's."""

import json
from pathlib import Path

from helpers import write_lines
from espnet2.samplers.num_elements_batch_sampler import NumElementsBatchSampler
from test_context_sampler import corpus

from espnet2_ext.context.sampler import RecordingBatchSampler
from espnet2_ext.context.batch_bins import main, matching_batch_bins, mean_batches, padded_share


def shape_files(tmp_path: Path):
    positions, speech, text = corpus()
    paths = [write_lines(tmp_path / "speech_shape", [f"{u} {s[0]}" for u, s in speech.items()]),
             write_lines(tmp_path / "text_shape.char", [f"{u} {t[0]},{t[1]}" for u, t in text.items()])]
    return positions, [speech, text], [str(p) for p in paths]


def test_the_smallest_step_multiple_with_no_more_batches_than_numel(tmp_path):
    positions, shapes, paths = shape_files(tmp_path)
    found = matching_batch_bins(positions, paths, 40_000, chunk_size=3, epochs=4, step=1_000)
    numel = len(NumElementsBatchSampler(40_000, paths))
    batches = lambda bins: mean_batches(RecordingBatchSampler(positions, shapes, bins, 3), 4)  # noqa: E731
    bins = found["recording_batch_bins"]
    assert found["numel_batches"] == numel and bins % 1_000 == 0
    assert batches(bins) == found["recording_batches"] <= numel < batches(bins - 1_000)
    # Recording batches pad more: at numel's batch_bins an epoch has more of them.
    assert found["recording_batches_at_numel_bins"] > numel and bins > 40_000
    # ... because they are not length-sorted inside.
    assert 0 <= found["numel_padded_share"] < found["recording_padded_share"] < 1


def test_padded_share():
    lengths = {"a": [10], "b": [6], "c": [4], "d": [4]}
    assert padded_share([("a", "b"), ("c", "d")], lengths) == 1 - 24 / 28  # 2x10 + 2x4


def test_cli_prints_json(tmp_path, capsys):
    positions, _, paths = shape_files(tmp_path)
    write_lines(tmp_path / "utt2pos", [f"{u} {r} {i}" for u, (r, i) in positions.items()])
    argv = ["--utt2pos", str(tmp_path / "utt2pos"), "--shape_file", paths[0], "--shape_file", paths[1],
            "--batch_bins", "40000", "--chunk_size", "3", "--epochs", "4", "--step", "1000"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["numel_batch_bins"] == 40_000 and out["recording_batches"] <= out["numel_batches"]
    argv[3] = str(tmp_path / "label_shape.word")
    assert main(argv) == 1
    assert "label_shape.word: no such file" in capsys.readouterr().err
