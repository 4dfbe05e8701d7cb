"""Tests for espnet2_ext.recipe.rtf (decoding real-time factor)."""

import json

import pytest

from espnet2_ext.errors import DataError
from espnet2_ext.recipe.rtf import aggregate, main


def write_shard(decode_dir, n, timing):
    shard = decode_dir / "logdir" / f"output.{n}"
    shard.mkdir(parents=True)
    (shard / "timing.json").write_text(json.dumps(timing), encoding="utf-8")


def test_aggregate_sums_shards(tmp_path):
    write_shard(tmp_path, 1, {"num_utts": 3, "audio_seconds": 10.0, "decode_seconds": 1.5})
    write_shard(tmp_path, 2, {"num_utts": 1, "audio_seconds": 2.0, "decode_seconds": 0.5})
    # decode 2.0 s for 12.0 s of audio and 4 utterances
    assert aggregate(tmp_path) == {"num_shards": 2, "num_utts": 4, "audio_seconds": 12.0,
                                   "decode_seconds": 2.0, "rtf": pytest.approx(1 / 6),
                                   "latency_ms_per_utt": 500.0}


def test_cli_writes_rtf_json_and_prints_line(tmp_path, capsys):
    write_shard(tmp_path, 1, {"num_utts": 2, "audio_seconds": 8.0, "decode_seconds": 2.0})
    assert main([str(tmp_path)]) == 0
    assert json.loads((tmp_path / "rtf.json").read_text())["rtf"] == 0.25
    assert capsys.readouterr().out == (
        "Total audio duration: 8.000 [sec], Total decoding time: 2.000 [sec], RTF: 0.25000, "
        "Latency: 1000.000 [ms/sentence]\n")


def test_no_shards_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no logdir/output"):
        aggregate(tmp_path)


def test_bad_shard_names_the_file(tmp_path, capsys):
    write_shard(tmp_path, 1, {"num_utts": 2, "audio_seconds": 8.0})
    assert main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "output.1/timing.json" in err and "'decode_seconds'" in err
